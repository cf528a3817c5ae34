//! The crawl benchmark's nginx-like case: the same pages served gzipped to a client that
//! accepts it, with the headers nginx sends, by a real nginx when one is installed (Debian's
//! `nginx-light` or `nginx`) and by an in-process server that does what nginx does
//! otherwise; and the peer crawler (`peers/spider`, the `spider` crate), built on request and
//! run as a child the way masa is.

#![allow(unsafe_code)]

use crate::site::{Reply, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The files of the site: path (without the leading slash) and bytes.
pub type Files = Vec<(String, Arc<Vec<u8>>)>;

/// A running site and what serves it.
pub struct Site {
    pub base: String,
    pub server: &'static str,
    _running: Running,
}

#[allow(dead_code)] // held for its Drop
enum Running {
    Nginx(Nginx),
    InProcess(Server),
}

impl Site {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Starts nginx on `files` when it is installed (and `MASA_BENCH_NGINX` is not `0`), the
/// in-process gzip server otherwise.
pub fn start(files: &Files, dir: &Path) -> Site {
    let want_nginx = std::env::var("MASA_BENCH_NGINX").map_or(true, |v| v != "0");
    if want_nginx && let Some(bin) = nginx_binary() {
        match Nginx::start(&bin, files, dir) {
            Ok(n) => {
                return Site {
                    base: n.base.clone(),
                    server: "nginx (Debian's package, gzip on as in its default nginx.conf)",
                    _running: Running::Nginx(n),
                };
            }
            Err(e) => eprintln!("nginx did not start ({e}); using the in-process gzip server"),
        }
    }
    let server = in_process(files);
    Site {
        base: server.base.clone(),
        server: "in-process gzip server (nginx is not installed)",
        _running: Running::InProcess(server),
    }
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

struct Nginx {
    child: Child,
    base: String,
}

impl Nginx {
    fn start(bin: &Path, files: &Files, dir: &Path) -> Result<Nginx, String> {
        let prefix = dir.join("nginx");
        let root = prefix.join("site");
        for (path, bytes) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).map_err(|e| e.to_string())?;
            std::fs::write(&p, bytes.as_slice()).map_err(|e| e.to_string())?;
        }
        // A free port: bound, read, released for nginx.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        // SAFETY: geteuid has no preconditions.
        let root_user = if unsafe { libc::geteuid() } == 0 {
            // Workers run as root here only because the site is in a 0700 temp folder.
            "user root;"
        } else {
            ""
        };
        // Debian's nginx.conf as shipped (worker_processes auto, sendfile, tcp_nopush,
        // keep-alive, `gzip on` with its defaults: text/html at level 1), access log off so
        // the disk is not part of the measure.
        let conf = format!(
            "{root_user}
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 768; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    gzip on;
    client_body_temp_path {prefix}/body;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
",
            prefix = prefix.display(),
            root = root.display(),
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                return Err(format!("nginx exited with {status}: {}", err.trim()));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Nginx { child, base });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("nginx did not listen within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: signals the nginx master this bench started (its workers follow it).
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGQUIT);
        }
        let _ = self.child.wait();
    }
}

/// What nginx does for a static file, in process: gzip at level 1 for a client that accepts
/// it, compressed per request; ETag and Last-Modified from the file's time and length; a
/// Server header; Date and keep-alive come from hyper.
fn in_process(files: &Files) -> Server {
    let started = SystemTime::now();
    let secs = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last_modified = httpdate::fmt_http_date(started);
    let files: std::collections::HashMap<String, Arc<Vec<u8>>> = files
        .iter()
        .map(|(p, b)| (format!("/{p}"), b.clone()))
        .collect();
    Server::start(move |path, headers, _| {
        let path = if path.ends_with('/') {
            format!("{path}index.html")
        } else {
            path.to_owned()
        };
        let Some(body) = files.get(&path) else {
            return Reply::status(404).header("server", "masa-bench");
        };
        let ct = match path.rsplit('.').next() {
            Some("html") => "text/html",
            Some("json") => "application/json",
            _ => "text/plain",
        };
        let gzip = ct == "text/html"
            && headers
                .get("accept-encoding")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let etag = format!("\"{secs:x}-{:x}\"", body.len());
        let mut reply = if gzip {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).unwrap();
            Reply::typed(ct, e.finish().unwrap())
                .header("content-encoding", "gzip")
                .header("etag", &format!("W/{etag}"))
        } else {
            Reply::typed(ct, body.as_ref().clone()).header("etag", &etag)
        };
        reply = reply
            .header("last-modified", &last_modified)
            .header("server", "masa-bench");
        reply
    })
}

/// The response head to a gzip-accepting GET of `path`, for the bench's output.
pub fn head(base: &str, path: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let Ok(mut s) = TcpStream::connect(addr) else {
        return "unreachable".into();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return "unreachable".into();
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.split("\r\n\r\n").next().unwrap_or("").to_owned()
}

/// The peer's binary, built (release, its own target dir under the main one) when
/// `MASA_BENCH_SPIDER=1`.
pub fn spider_peer(masa: &Path) -> Option<PathBuf> {
    if std::env::var("MASA_BENCH_SPIDER").map_or(true, |v| v != "1") {
        return None;
    }
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/peers/spider/Cargo.toml"
    );
    // target/release/masa: the target dir is two levels up.
    let target = masa.parent()?.parent()?.join("spider-peer");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path", manifest])
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("run cargo for the spider peer");
    assert!(status.success(), "building the spider peer failed");
    Some(target.join("release/spider-peer"))
}

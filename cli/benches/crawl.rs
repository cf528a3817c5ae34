//! Crawl throughput on a real static site served on loopback: Debian's PostgreSQL manual
//! (~1,170 HTML pages, fetched by `scripts/fetch-debian-docs`), with robots.txt and TDMRep
//! checks on and politeness limits lifted. Measures the crawler alone (`masa crawl
//! --dry-run`) and the whole contribution (`masa crawl`: extraction, dedup, Parquet, index,
//! provenance), each as a child process: pages/s, CPU seconds per 1,000 pages, peak RSS.
//! The site is also served as 4 copies under different prefixes to show that memory stays
//! flat as the page count grows.
//!
//! Run: `cargo bench -p masa-cli --bench crawl` (`MASA_DOCS_DIR` to use another folder of
//! HTML pages; `MASA_BENCH_CRAWL_CONCURRENCY`, default 32).

mod common;

#[path = "../../connectors/tests/common/site.rs"]
mod site;

use site::{Reply, Server};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn docs_dir() -> PathBuf {
    if let Ok(d) = std::env::var("MASA_DOCS_DIR") {
        return PathBuf::from(d);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/fetch-debian-docs");
    let out = std::process::Command::new(script)
        .output()
        .expect("run fetch-debian-docs");
    assert!(
        out.status.success(),
        "fetch-debian-docs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Serves every file of `dir` under each of `copies` prefixes (`/c0/`, `/c1/`, ...), with a
/// robots.txt that allows all and a TDMRep file that reserves nothing, and a root page
/// linking to each copy's index.
fn serve(dir: &PathBuf, copies: usize) -> (Server, usize) {
    let mut files: HashMap<String, Arc<Vec<u8>>> = HashMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "html") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(name, Arc::new(std::fs::read(&p).unwrap()));
        }
    }
    let pages = files.len() * copies;
    let root: String = (0..copies)
        .map(|c| format!("<a href=\"/c{c}/index.html\">copy {c}</a>"))
        .collect();
    let server = Server::start(move |path, _h, _n| {
        match path {
            "/robots.txt" => {
                return Reply::typed("text/plain", b"User-agent: *\nAllow: /\n".to_vec());
            }
            "/.well-known/tdmrep.json" => {
                return Reply::typed(
                    "application/json",
                    br#"[{"location": "/", "tdm-reservation": 0}]"#.to_vec(),
                );
            }
            "/" => return Reply::html(format!("<html><body>{root}</body></html>")),
            _ => {}
        }
        let name = path.split('/').nth(2).unwrap_or("");
        match files.get(name) {
            Some(b) if path.starts_with("/c") => Reply::typed("text/html", b.as_ref().clone()),
            _ => Reply::status(404),
        }
    });
    (server, pages)
}

struct Run {
    pages: u64,
    secs: f64,
    cpu: f64,
    rss_mb: f64,
}

fn crawl(server: &Server, extra: &[&str], dir: &std::path::Path) -> Run {
    let concurrency = std::env::var("MASA_BENCH_CRAWL_CONCURRENCY").unwrap_or_else(|_| "32".into());
    let masa = env!("CARGO_BIN_EXE_masa");
    let ds = dir.join(format!("data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ds);
    let seed = server.url("/");
    let mut args = vec![
        "crawl",
        &seed,
        "--dataset",
        ds.to_str().unwrap(),
        "--allow-private",
        "--rate",
        "0",
        "--concurrency",
        &concurrency,
        "--per-host",
        &concurrency,
        "--no-sitemaps",
        "--json",
        "-q",
    ];
    args.extend_from_slice(extra);
    let out_path = dir.join("out.json");
    let mut cmd = std::process::Command::new(masa);
    cmd.args(&args)
        .env("MASA_HOME", dir.join("home"))
        .env("MASA_CACHE_DIR", dir.join("cache"))
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::null());
    let started = Instant::now();
    let m = common::run_rusage(&mut cmd);
    let secs = started.elapsed().as_secs_f64();
    let out: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    let src = if out.get("stats").is_some() {
        &out["stats"]["source"]
    } else {
        &out["source"]
    };
    let _ = std::fs::remove_dir_all(&ds);
    Run {
        pages: src["fetched"].as_u64().unwrap(),
        secs,
        cpu: m.cpu_secs,
        rss_mb: m.rss_kib as f64 / 1024.0,
    }
}

fn report(label: &str, r: &Run) {
    println!(
        "{label}: {} pages in {:.2} s = {:.0} pages/s; {:.2} CPU s per 1,000 pages; peak RSS {:.0} MB",
        r.pages,
        r.secs,
        r.pages as f64 / r.secs,
        r.cpu / r.pages as f64 * 1000.0,
        r.rss_mb
    );
}

fn main() {
    let docs = docs_dir();
    let dir = tempfile::tempdir().unwrap();
    let masa = env!("CARGO_BIN_EXE_masa");
    let ok = std::process::Command::new(masa)
        .arg("init")
        .env("MASA_HOME", dir.path().join("home"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let (one, n1) = serve(&docs, 1);
    println!("site: {} ({n1} pages per copy)", docs.display());
    report(
        "crawl only (--dry-run), 1 copy",
        &crawl(&one, &["--dry-run"], dir.path()),
    );
    report(
        "masa crawl (whole pipeline), 1 copy",
        &crawl(&one, &[], dir.path()),
    );
    drop(one);
    let (four, n4) = serve(&docs, 4);
    println!("site: 4 copies, {n4} pages");
    report(
        "crawl only (--dry-run), 4 copies",
        &crawl(&four, &["--dry-run"], dir.path()),
    );
    report(
        "masa crawl (whole pipeline), 4 copies",
        &crawl(&four, &[], dir.path()),
    );
}

//! Crawl throughput on a real static site served on loopback: Debian's PostgreSQL manual
//! (~1,170 HTML pages, fetched by `scripts/fetch-debian-docs`), with robots.txt and TDMRep
//! checks on and politeness limits lifted. Measures the crawler alone (`masa crawl
//! --dry-run`) and the whole contribution (`masa crawl`: extraction, dedup, Parquet, index,
//! provenance), each as a child process: pages/s, CPU seconds per 1,000 pages, peak RSS.
//! The site is also served as 4 copies under different prefixes to show that memory stays
//! flat as the page count grows.
//!
//! The gzip case serves the same pages as a web server does: gzipped for a client that
//! accepts it, with nginx's headers, by nginx itself when installed (see `gzip_site`). There
//! `masa crawl --dry-run` runs side by side with the `spider` crate's crawler
//! (`peers/spider`, robots.txt respected, the same concurrency) when `MASA_BENCH_SPIDER=1`,
//! alternating, `MASA_BENCH_ROUNDS` times each (default 3).
//!
//! Run: `cargo bench -p masa-cli --bench crawl` (`MASA_DOCS_DIR` to use another folder of
//! HTML pages; `MASA_BENCH_CRAWL_CONCURRENCY`, default 32; `MASA_BENCH_SPIDER=1` for the
//! peer; `MASA_BENCH_NGINX=0` for the in-process gzip server even when nginx is installed;
//! `MASA_BENCH_CRAWL_CASES=gzip` for the gzip case alone).

mod common;
mod gzip_site;

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

fn crawl(seed: &str, extra: &[&str], dir: &std::path::Path) -> Run {
    let concurrency = std::env::var("MASA_BENCH_CRAWL_CONCURRENCY").unwrap_or_else(|_| "32".into());
    let masa = masa_bin();
    let ds = dir.join(format!("data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ds);
    let mut args = vec![
        "crawl",
        seed,
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
    let mut cmd = std::process::Command::new(&masa);
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

/// The masa binary measured: this build's, or `MASA_BENCH_MASA` (an earlier build, for a
/// before/after comparison in one run of the same bench).
fn masa_bin() -> String {
    std::env::var("MASA_BENCH_MASA").unwrap_or_else(|_| env!("CARGO_BIN_EXE_masa").to_owned())
}

/// The peer crawler on `seed`, measured as masa is.
fn spider(peer: &std::path::Path, seed: &str) -> Run {
    let concurrency = std::env::var("MASA_BENCH_CRAWL_CONCURRENCY").unwrap_or_else(|_| "32".into());
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = std::process::Command::new(peer);
    cmd.args([seed, &concurrency])
        .stdout(out.reopen().unwrap())
        .stderr(std::process::Stdio::null());
    let started = Instant::now();
    let m = common::run_rusage(&mut cmd);
    let secs = started.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path()).unwrap()).unwrap();
    Run {
        pages: v["pages"].as_u64().unwrap(),
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
    let ok = std::process::Command::new(masa_bin())
        .arg("init")
        .env("MASA_HOME", dir.path().join("home"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let cases = std::env::var("MASA_BENCH_CRAWL_CASES").unwrap_or_default();
    if cases != "gzip" {
        in_memory(&docs, dir.path());
    }
    gzip(&docs, dir.path());
}

/// The pages served from memory, uncompressed: 1 and 4 copies, crawl only and whole runs.
fn in_memory(docs: &PathBuf, dir: &std::path::Path) {
    let (one, n1) = serve(docs, 1);
    println!("site: {} ({n1} pages per copy)", docs.display());
    let seed = one.url("/");
    report(
        "crawl only (--dry-run), 1 copy",
        &crawl(&seed, &["--dry-run"], dir),
    );
    report(
        "masa crawl (whole pipeline), 1 copy",
        &crawl(&seed, &[], dir),
    );
    drop(one);
    let (four, n4) = serve(docs, 4);
    println!("site: 4 copies, {n4} pages");
    let seed = four.url("/");
    report(
        "crawl only (--dry-run), 4 copies",
        &crawl(&seed, &["--dry-run"], dir),
    );
    report(
        "masa crawl (whole pipeline), 4 copies",
        &crawl(&seed, &[], dir),
    );
}

/// The pages served gzipped with nginx's headers; masa and the peer side by side.
fn gzip(docs: &PathBuf, dir: &std::path::Path) {
    let mut files: gzip_site::Files = Vec::new();
    for e in std::fs::read_dir(docs).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "html") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            files.push((format!("c0/{name}"), Arc::new(std::fs::read(&p).unwrap())));
        }
    }
    let pages = files.len();
    files.push((
        "robots.txt".into(),
        Arc::new(b"User-agent: *\nAllow: /\n".to_vec()),
    ));
    files.push((
        ".well-known/tdmrep.json".into(),
        Arc::new(br#"[{"location": "/", "tdm-reservation": 0}]"#.to_vec()),
    ));
    files.push((
        "index.html".into(),
        Arc::new(b"<html><body><a href=\"/c0/index.html\">copy 0</a></body></html>".to_vec()),
    ));
    let peer = gzip_site::spider_peer(std::path::Path::new(env!("CARGO_BIN_EXE_masa")));
    let site = gzip_site::start(&files, dir);
    println!("gzip site: {pages} pages served by {}", site.server);
    println!(
        "  response head to a gzip-accepting GET /c0/index.html:\n    {}",
        gzip_site::head(&site.base, "/c0/index.html").replace("\r\n", "\n    ")
    );
    let seed = site.url("/");
    let rounds: usize = std::env::var("MASA_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let r = crawl(&seed, &["--dry-run"], dir);
        report(&format!("  gzip, masa crawl --dry-run, round {round}"), &r);
        ours.push(r);
        if let Some(peer) = &peer {
            let r = spider(peer, &seed);
            report(&format!("  gzip, spider, round {round}"), &r);
            theirs.push(r);
        }
    }
    let m = median(ours);
    report("gzip, masa crawl --dry-run, median of rounds", &m);
    if peer.is_none() {
        println!("(spider not run: MASA_BENCH_SPIDER=1 builds and runs it)");
        return;
    }
    let s = median(theirs);
    report("gzip, spider, median of rounds", &s);
    println!(
        "masa / spider: {:.2}x the pages/s, {:.2}x the CPU per page, {:.2}x the peak RSS",
        (m.pages as f64 / m.secs) / (s.pages as f64 / s.secs),
        (m.cpu / m.pages as f64) / (s.cpu / s.pages as f64),
        m.rss_mb / s.rss_mb
    );
}

/// The run with the median pages/s.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| (a.pages as f64 / a.secs).total_cmp(&(b.pages as f64 / b.secs)));
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

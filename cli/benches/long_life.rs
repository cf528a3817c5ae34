//! Many writers and a long life (issue 17): commits and rows per second with 1, 2, 4 and 8
//! concurrent `masa contribute` processes on S3 (SeaweedFS on 127.0.0.1); open + first
//! search of a dataset of 100, 1 000 and 10 000 commits, before and after `masa maintain`;
//! and the audit of that dataset sharded 1, 2 and 4 ways (the shards run at once).
//!
//! Run: `cargo bench -p masa-cli --bench long_life`. The S3 part needs the SeaweedFS
//! binary that `scripts/test` installs (`.venv/bin/weed`, or `MASA_BENCH_WEED`); without
//! it that part runs on a local folder and says so. `MASA_BENCH_COMMITS` (default
//! 100,1000,10000) sets the long-life sizes; `MASA_BENCH_WRITER_DOCS` (default 240) the
//! documents of each writer, committed 8 a batch; `MASA_BENCH_MAINTAIN_EVERY` (default 500)
//! how often the long-life dataset is maintained while it grows.

mod common;

use common::Corpus;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Weed {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const KEY: &str = "benchkey";
const SECRET: &str = "benchsecret";
const BUCKET: &str = "bench";

/// SeaweedFS on a free loopback port, when its binary is there.
fn weed() -> Option<Weed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let bin = std::env::var_os("MASA_BENCH_WEED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/weed"));
    if !bin.exists() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("s3.json");
    std::fs::write(
        &config,
        serde_json::json!({"identities": [{"name": "bench",
            "credentials": [{"accessKey": KEY, "secretKey": SECRET}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]})
        .to_string(),
    )
    .unwrap();
    let child = Command::new(bin)
        .args([
            "mini",
            &format!("-dir={}", dir.path().join("data").display()),
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            &format!("-s3.port={port}"),
            &format!("-s3.config={}", config.display()),
            &format!("-bucket={BUCKET}"),
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    // Up when the S3 port answers (an unsigned request is refused, which is an answer).
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "SeaweedFS did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    Some(Weed {
        child,
        endpoint,
        _dir: dir,
    })
}

/// A masa command with its own home, quiet.
fn masa(home: &Path, s3: Option<&str>, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_masa"));
    c.args(args)
        .env("MASA_HOME", home)
        .env("MASA_CACHE_DIR", home.join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(endpoint) = s3 {
        c.env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", endpoint);
    }
    c
}

fn ok(mut c: Command) {
    let status = c.status().unwrap();
    assert!(status.success(), "{c:?}");
}

fn write_docs(dir: &Path, corpus: &mut Corpus, first: usize, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in first..first + n {
        std::fs::write(dir.join(format!("d{i:06}.txt")), corpus.doc(i, 1500)).unwrap();
    }
}

fn writers(root: &Path, corpus: &mut Corpus, s3: Option<&str>) {
    let docs: usize = std::env::var("MASA_BENCH_WRITER_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240);
    let rows = 8;
    println!(
        "concurrent writers on {} ({docs} documents of ~1.5 KB each, {rows} a commit)",
        if s3.is_some() {
            "S3 (SeaweedFS, 127.0.0.1)"
        } else {
            "a local folder (no SeaweedFS binary found)"
        }
    );
    println!("| writers | commits | wall s | commits/s | rows/s | commit retries |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for w in [1usize, 2, 4, 8] {
        let ds = match s3 {
            Some(_) => format!("s3://{BUCKET}/writers-{w}"),
            None => root.join(format!("writers-{w}")).display().to_string(),
        };
        let homes: Vec<PathBuf> = (0..w).map(|i| root.join(format!("home-{w}-{i}"))).collect();
        for (i, h) in homes.iter().enumerate() {
            ok(masa(h, s3, &["init"]));
            write_docs(&h.join("src"), corpus, (w * 100 + i) * docs, docs);
        }
        let started = Instant::now();
        let children: Vec<Child> = homes
            .iter()
            .map(|h| {
                let src = h.join("src").display().to_string();
                let mut c = masa(
                    h,
                    s3,
                    &[
                        "contribute",
                        "-q",
                        "--no-near-dup",
                        "--files",
                        &src,
                        "--dataset",
                        &ds,
                        "--batch-rows",
                        &rows.to_string(),
                    ],
                );
                c.env("MASA_LOG", "masa_storage=debug")
                    .stderr(Stdio::piped());
                c.spawn().unwrap()
            })
            .collect();
        let mut retries = 0;
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success());
            retries += String::from_utf8_lossy(&out.stderr)
                .matches("commit conflict; re-reading and retrying")
                .count();
        }
        let wall = started.elapsed().as_secs_f64();
        let commits = w * docs.div_ceil(rows);
        println!(
            "| {w} | {commits} | {wall:.1} | {:.1} | {:.0} | {retries} |",
            commits as f64 / wall,
            (w * docs) as f64 / wall
        );
    }
}

/// Seconds of one run of `c`.
fn timed(c: Command) -> f64 {
    let started = Instant::now();
    ok(c);
    started.elapsed().as_secs_f64()
}

fn long_life(root: &Path, corpus: &mut Corpus) {
    let sizes: Vec<usize> = std::env::var("MASA_BENCH_COMMITS")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    // A long-lived dataset is maintained as it grows, as an operator would (from cron or a
    // workflow's schedule): delta-rs's snapshot update after each commit costs time in
    // proportion to the table's live files, so the commit rate is that of a table of at
    // most `every` small files.
    let every: usize = std::env::var("MASA_BENCH_MAINTAIN_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let home = root.join("home-long");
    ok(masa(&home, None, &["init"]));
    let ds = root.join("long");
    let ds_s = ds.display().to_string();
    println!();
    println!(
        "a long life, on a local folder (one-document commits, `masa maintain` every {every} commits while it grows)"
    );
    println!(
        "| commits | commits/s (last {every}) | open + first search s | after maintain s | maintain s | files before → after | audit 1 / 2 / 4 shards s |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut have = 0;
    for &n in &sizes {
        let mut rate = 0.0;
        while have < n {
            if have > 0 && have % every == 0 {
                ok(masa(&home, None, &["maintain", "--dataset", &ds_s]));
            }
            let chunk = (every - have % every).min(n - have);
            let src = root.join(format!("long-src-{have}"));
            write_docs(&src, corpus, 10_000_000 + have, chunk);
            let started = Instant::now();
            ok(masa(
                &home,
                None,
                &[
                    "contribute",
                    "-q",
                    "--no-near-dup",
                    "--files",
                    &src.display().to_string(),
                    "--dataset",
                    &ds_s,
                    "--batch-rows",
                    "1",
                ],
            ));
            rate = chunk as f64 / started.elapsed().as_secs_f64();
            std::fs::remove_dir_all(&src).unwrap();
            have += chunk;
        }
        // A fresh cache each time: what a new reader pays.
        let search = |tag: &str| {
            let mut c = masa(
                &home,
                None,
                &["search", "protocol data", "--dataset", &ds_s],
            );
            c.env("MASA_CACHE_DIR", root.join(format!("cache-{n}-{tag}")));
            timed(c)
        };
        let before = search("before");
        let audits: Vec<f64> = [1usize, 2, 4]
            .iter()
            .map(|&shards| {
                let started = Instant::now();
                let children: Vec<Child> = (0..shards)
                    .map(|i| {
                        masa(
                            &home,
                            None,
                            &[
                                "audit",
                                "--dataset",
                                &ds_s,
                                "--no-publish",
                                "--shard",
                                &format!("{i}/{shards}"),
                            ],
                        )
                        .spawn()
                        .unwrap()
                    })
                    .collect();
                for mut c in children {
                    assert!(c.wait().unwrap().success());
                }
                started.elapsed().as_secs_f64()
            })
            .collect();
        let data_files = || {
            let out = masa(&home, None, &["stats", "--json", "--dataset", &ds_s])
                .stdout(Stdio::piped())
                .output()
                .unwrap();
            let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            stats["data_files"].as_u64().unwrap()
        };
        let files_before = data_files();
        let maintain = timed(masa(&home, None, &["maintain", "--dataset", &ds_s]));
        let files_after = data_files();
        let after = search("after");
        println!(
            "| {n} | {rate:.1} | {before:.2} | {after:.2} | {maintain:.1} | {files_before} → {files_after} | {:.1} / {:.1} / {:.1} |",
            audits[0], audits[1], audits[2]
        );
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut corpus = Corpus::new();
    let weed = weed();
    writers(
        dir.path(),
        &mut corpus,
        weed.as_ref().map(|w| w.endpoint.as_str()),
    );
    drop(weed);
    long_life(dir.path(), &mut corpus);
}

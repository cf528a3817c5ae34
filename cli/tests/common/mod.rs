//! Helpers shared by the CLI integration tests: a sandboxed masa home, running the real
//! `masa` binary, and the outside services the test script starts.

#![allow(dead_code)]

pub mod net;
pub mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary masa home and cache, with `masa init` done.
pub struct Env {
    pub dir: tempfile::TempDir,
    /// Extra environment for every command (the S3 server's settings, say).
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Self {
        Self::with_vars(Vec::new())
    }

    /// An environment whose commands talk to the test S3 server.
    pub fn for_s3(s3: &S3) -> Self {
        Self::with_vars(vec![
            ("AWS_ENDPOINT_URL".into(), s3.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".into(), s3.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), s3.secret.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ])
    }

    fn with_vars(vars: Vec<(String, String)>) -> Self {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
            vars,
        };
        let out = env.masa(&["init"]);
        assert!(out.status.success(), "masa init failed: {}", stderr(&out));
        env
    }

    /// Runs `masa args` and SIGKILLs it once the dataset's table has `n` commits (version 0
    /// is the table's creation). Returns whether it was killed (false: it ended first).
    pub fn kill_after_commits(&self, args: &[&str], dataset: &Path, n: usize) -> bool {
        let mut child = self
            .command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut killed = false;
        while std::time::Instant::now() < deadline {
            if commits(&dataset.join("table")) >= n {
                child.kill().unwrap(); // SIGKILL
                killed = true;
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.wait().unwrap();
        killed
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_masa"));
        c.args(args)
            .env("MASA_HOME", self.path("home"))
            .env("MASA_CACHE_DIR", self.path("cache"))
            .env_remove("MASA_LOG")
            // Tests talk only to servers on loopback that they started: never via a proxy.
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        c
    }

    pub fn masa(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run masa")
    }

    /// Runs masa and requires success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.masa(args);
        assert!(
            out.status.success(),
            "masa {args:?} failed\nstdout: {}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs masa and requires failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.masa(args);
        assert!(
            !out.status.success(),
            "masa {args:?} should have failed\nstdout: {}",
            stdout(&out)
        );
        stderr(&out)
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad json from {args:?}: {e}\n{out}"))
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `examples/<script>` with this build's `masa` in a fresh folder; requires success
/// and returns its standard output.
pub fn run_example(script: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(script);
    let out = Command::new("bash")
        .arg(path)
        .arg(work.path().join("work"))
        .env("MASA", env!("CARGO_BIN_EXE_masa"))
        .env_remove("MASA_HOME")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{script}: {text}\n{}", stderr(&out));
    text
}

/// The sample corpus shipped in `examples/`.
pub fn example_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/corpus")
}

/// True when the test script promised the outside services (S3, Python readers): their
/// absence is then a failure, not a skip.
pub fn external_required() -> bool {
    std::env::var("MASA_TEST_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

/// Debian's PostgreSQL manual (real HTML pages) that the test script downloads, or `None`
/// (a skip) when the suite runs without it.
pub fn docs_dir() -> Option<PathBuf> {
    match std::env::var_os("MASA_TEST_DOCS_DIR").filter(|v| !v.is_empty()) {
        Some(d) => Some(d.into()),
        None => {
            assert!(
                !external_required(),
                "MASA_TEST_REQUIRE_EXTERNAL=1 but MASA_TEST_DOCS_DIR is not set"
            );
            eprintln!("skipping: no MASA_TEST_DOCS_DIR (run the suite with scripts/test)");
            None
        }
    }
}

/// The S3 server the test script started, as (endpoint, bucket, key id, secret).
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
}

pub fn s3() -> Option<S3> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        get("MASA_TEST_S3_ENDPOINT"),
        get("MASA_TEST_S3_BUCKET"),
        get("MASA_TEST_S3_ACCESS_KEY_ID"),
        get("MASA_TEST_S3_SECRET_ACCESS_KEY"),
    ) {
        (Some(endpoint), Some(bucket), Some(key_id), Some(secret)) => Some(S3 {
            endpoint,
            bucket,
            key_id,
            secret,
        }),
        _ => {
            assert!(
                !external_required(),
                "MASA_TEST_REQUIRE_EXTERNAL=1 but the MASA_TEST_S3_* variables are not set"
            );
            eprintln!("skipping: no S3 server (run the suite with scripts/test)");
            None
        }
    }
}

/// Headless Chromium (Debian's `chromium`, installed by the test script): `$MASA_TEST_CHROMIUM`
/// or `chromium` on the PATH.
pub fn chromium() -> Option<String> {
    let named = std::env::var("MASA_TEST_CHROMIUM")
        .ok()
        .filter(|v| !v.is_empty());
    let found = named.or_else(|| {
        std::process::Command::new("chromium")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| "chromium".to_owned())
    });
    if found.is_none() {
        assert!(
            !external_required(),
            "MASA_TEST_REQUIRE_EXTERNAL=1 but no chromium: scripts/test installs it"
        );
        eprintln!("skipping: no chromium (run the suite with scripts/test)");
    }
    found
}

/// The Python interpreter with the `deltalake` package, from the test script's venv.
pub fn python() -> Option<String> {
    match std::env::var("MASA_TEST_PYTHON")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(p) => Some(p),
        None => {
            assert!(
                !external_required(),
                "MASA_TEST_REQUIRE_EXTERNAL=1 but MASA_TEST_PYTHON is not set"
            );
            eprintln!("skipping: no Python reader (run the suite with scripts/test)");
            None
        }
    }
}

/// A lowercase word spelled from `n` (digits would be folded away by near-dup matching).
pub fn word(mut n: u64) -> String {
    let mut w = String::new();
    loop {
        w.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return w;
        }
    }
}

/// A text of `words` pseudo-random words from a 20,000-word vocabulary, fixed by `seed`:
/// texts of different seeds share almost no 5-word shingle.
pub fn random_text(seed: u64, words: usize) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..words)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word(state % 20_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A document of 300 pseudo-random words: long enough for near-dup matching.
pub fn doc(seed: u64) -> String {
    random_text(seed, 300)
}

/// `text` with about one word in a hundred replaced and a header line added: the kind of
/// copy that exact dedup misses and near-dup removal must catch.
pub fn near_copy(text: &str) -> String {
    let words: Vec<&str> = text
        .split(' ')
        .enumerate()
        .map(|(i, w)| if i % 97 == 13 { "changed" } else { w })
        .collect();
    format!("Posted on 2026-05-01 by the editor\n\n{}", words.join(" "))
}

/// Writes `text` to `dir/name`, creating `dir`.
pub fn write_file(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

/// Writes `n` distinct plain-text documents into `dir` (distinct also to near-dup matching).
pub fn write_docs(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        std::fs::write(
            dir.join(format!("doc{i:06}.txt")),
            format!("Document {i}: {}.", random_text(i as u64, 12)),
        )
        .unwrap();
    }
}

/// Reads a Delta table with the Python `deltalake` package (an outside reader): its rows,
/// sorted by record id. `None` when the suite runs without the test script's venv.
pub fn read_with_python(table_uri: &str, options: &[String]) -> Option<Vec<serde_json::Value>> {
    let py = python()?;
    let out = Command::new(py)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/read_delta.py"))
        .arg(table_uri)
        .args(options)
        .output()
        .expect("run the python reader");
    assert!(out.status.success(), "python reader: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reader prints json");
    Some(v["rows"].as_array().expect("rows").clone())
}

/// Reads a Delta table with DuckDB's `delta` extension and with Polars (two more outside
/// readers, `tests/read_outside.py`): the rows each sees (record id, content hash, text),
/// sorted by record id. `None` when the suite runs without the test script's venv.
pub fn read_with_duckdb_and_polars(
    table_uri: &str,
    options: &[String],
) -> Option<[Vec<serde_json::Value>; 2]> {
    let py = python()?;
    let out = Command::new(py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/read_outside.py"
        ))
        .arg(table_uri)
        .args(options)
        .output()
        .expect("run the DuckDB and Polars reader");
    assert!(
        out.status.success(),
        "DuckDB and Polars reader: {}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reader prints json");
    let rows = |k: &str| {
        v[k].as_array()
            .unwrap_or_else(|| panic!("{k}: {v}"))
            .clone()
    };
    Some([rows("duckdb"), rows("polars")])
}

/// Asserts that each outside reader saw exactly `ours`: the same record ids, content hashes
/// and texts.
pub fn same_rows_as(
    readers: &[Vec<serde_json::Value>],
    ours: &std::collections::BTreeMap<String, masa_record::Record>,
) {
    for (name, rows) in ["duckdb", "polars"].iter().zip(readers) {
        assert_eq!(rows.len(), ours.len(), "{name} sees {} rows", rows.len());
        for t in rows {
            let id = t["record_id"].as_str().unwrap();
            let o = ours
                .get(id)
                .unwrap_or_else(|| panic!("{name}: {id} is not ours"));
            assert_eq!(
                t["content_hash"].as_str().unwrap(),
                o.content_hash,
                "{name} {id}"
            );
            assert_eq!(t["text"].as_str().unwrap(), o.text, "{name} {id}");
        }
    }
}

/// The settings an outside reader needs for the test S3 server.
pub fn s3_reader_options(s3: &S3) -> Vec<String> {
    vec![
        format!("AWS_ENDPOINT_URL={}", s3.endpoint),
        format!("AWS_ACCESS_KEY_ID={}", s3.key_id),
        format!("AWS_SECRET_ACCESS_KEY={}", s3.secret),
        "AWS_REGION=us-east-1".into(),
        "AWS_ALLOW_HTTP=true".into(),
    ]
}

/// The same settings as masa's own storage options, for [`read_records`] on the test S3.
pub fn s3_storage(s3: &S3) -> masa_storage::StorageOptions {
    s3_reader_options(s3)
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Our own reader: every committed record of a dataset, by record id. Panics on a duplicate
/// record id.
pub fn read_records(
    location: &str,
    options: &masa_storage::StorageOptions,
) -> std::collections::BTreeMap<String, masa_record::Record> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ds = masa_storage::Dataset::open(location, options)
            .await
            .unwrap();
        let mut out = std::collections::BTreeMap::new();
        for f in ds.committed_files().unwrap() {
            for b in ds.read_file(&f, None).await.unwrap() {
                for r in masa_record::records_from_batch(&b).unwrap() {
                    let id = r.record_id.clone();
                    assert!(
                        out.insert(id.clone(), r).is_none(),
                        "duplicate record id {id}"
                    );
                }
            }
        }
        out
    })
}

/// A dataset prefix on the test S3 server that no other test or run uses.
pub fn unique_s3_url(s3: &S3, name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("s3://{}/{name}-{}-{nanos}", s3.bucket, std::process::id())
}

/// Commits in a Delta table's log.
pub fn commits(table: &Path) -> usize {
    std::fs::read_dir(table.join("_delta_log"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

/// Every file below `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

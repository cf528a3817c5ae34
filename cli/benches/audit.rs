//! Audit throughput, against reading and hashing the same Parquet bytes alone; and proof
//! generation at a million log leaves.
//!
//! Run: `cargo bench -p masa-cli --bench audit` (`MASA_BENCH_AUDIT_DOCS`, default
//! 1,000,000 records of ~2 KB, contributed first with the release binary).

mod common;

use common::{Corpus, run_measured};
use masa_provenance::{Tree, leaf_hash};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    out.sort();
    out
}

fn proofs() {
    let n = 1u64 << 20;
    let mut tree = Tree::new();
    let started = Instant::now();
    for i in 0..n {
        tree.push(leaf_hash(&i.to_le_bytes()));
    }
    let build = started.elapsed().as_secs_f64();
    let reps = 10_000u64;
    let started = Instant::now();
    let mut check = 0usize;
    for i in 0..reps {
        let index = (i * 7_919_413) % n;
        check += tree.inclusion_proof(index, n).unwrap().len();
    }
    let incl = started.elapsed().as_secs_f64() / reps as f64;
    let started = Instant::now();
    for i in 0..reps {
        let old = 1 + (i * 7_919_413) % (n - 1);
        check += tree.consistency_proof(old, n).unwrap().len();
    }
    let cons = started.elapsed().as_secs_f64() / reps as f64;
    println!(
        "proofs at {n} leaves: tree built in {build:.2} s; inclusion proof {:.1} µs, \
         consistency proof {:.1} µs on average over {reps} ({check} hashes)",
        incl * 1e6,
        cons * 1e6
    );
}

fn main() {
    proofs();
    let n: usize = std::env::var("MASA_BENCH_AUDIT_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if n == 0 {
        return;
    }
    let masa = env!("CARGO_BIN_EXE_masa");
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    {
        let mut c = Corpus::new();
        let mut f = std::io::BufWriter::new(std::fs::File::create(&corpus).unwrap());
        for i in 0..n {
            writeln!(
                f,
                "{}",
                serde_json::json!({"id": i, "text": c.doc(i, 2000)})
            )
            .unwrap();
        }
        f.flush().unwrap();
    }
    let home = dir.path().join("home");
    let ds = dir.path().join("data");
    let cmd = |args: &[&str]| {
        let mut c = std::process::Command::new(masa);
        c.args(args)
            .env("MASA_HOME", &home)
            .env("MASA_CACHE_DIR", dir.path().join("cache"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    assert!(cmd(&["init"]).status().unwrap().success());
    let ds_s = ds.to_str().unwrap();
    assert!(
        cmd(&[
            "contribute",
            "-q",
            "--no-near-dup",
            "--files",
            corpus.to_str().unwrap(),
            "--dataset",
            ds_s
        ])
        .status()
        .unwrap()
        .success()
    );
    std::fs::remove_file(&corpus).unwrap();

    // The floor: read every Parquet file, SHA-256 it, decode it to Arrow, on both cores.
    let files = parquet_files(&ds.join("table"));
    let bytes: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let (mut read_s, mut hash_s, mut decode_s) = (0.0, 0.0, 0.0);
    let started = Instant::now();
    std::thread::scope(|s| {
        let halves: Vec<Vec<&PathBuf>> = (0..2)
            .map(|h| files.iter().skip(h).step_by(2).collect())
            .collect();
        let handles: Vec<_> = halves
            .into_iter()
            .map(|half| {
                s.spawn(move || {
                    let (mut r, mut h, mut d) = (0.0, 0.0, 0.0);
                    for p in half {
                        let t = Instant::now();
                        let b = std::fs::read(p).unwrap();
                        r += t.elapsed().as_secs_f64();
                        let t = Instant::now();
                        std::hint::black_box(masa_record::sha256_hex(&b));
                        h += t.elapsed().as_secs_f64();
                        let t = Instant::now();
                        std::hint::black_box(masa_storage::decode_parquet(b.into()).unwrap());
                        d += t.elapsed().as_secs_f64();
                    }
                    (r, h, d)
                })
            })
            .collect();
        for h in handles {
            let (r, hh, d) = h.join().unwrap();
            read_s += r;
            hash_s += hh;
            decode_s += d;
        }
    });
    let floor = started.elapsed().as_secs_f64();

    let report = dir.path().join("audit.json");
    let started = Instant::now();
    let rss = run_measured(
        cmd(&["audit", "--dataset", ds_s, "--no-publish", "--json"])
            .stdout(std::fs::File::create(&report).unwrap()),
    );
    let secs = started.elapsed().as_secs_f64();
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["findings"], serde_json::json!([]));
    let records = r["records_audited"].as_u64().unwrap();
    let mb = bytes as f64 / 1e6;
    println!(
        "audit of {records} records in {} batches ({mb:.0} MB of Parquet): {secs:.1} s, \
         {:.0} records/s, {:.0} MB/s, peak RSS {:.0} MB",
        r["batches_audited"],
        records as f64 / secs,
        mb / secs,
        rss as f64 / 1024.0
    );
    println!(
        "read + SHA-256 + decode alone, 2 threads: {floor:.1} s ({:.0} records/s); CPU seconds: \
         read {read_s:.1}, SHA-256 {hash_s:.1}, decode {decode_s:.1}; audit / floor = {:.2}",
        records as f64 / floor,
        secs / floor
    );

    // The same audit once the protocol runs: it also scores every record (language,
    // quality, MinHash and the novelty sketch) for the validator's weights. Epochs of one
    // leaf, so epoch 0 (every batch) has ended once one more leaf follows the genesis.
    let out = cmd(&["init"])
        .stdout(std::process::Stdio::piped())
        .output()
        .unwrap();
    let key = String::from_utf8(out.stdout).unwrap();
    let key = key
        .lines()
        .find_map(|l| l.strip_prefix("contributor public key: "))
        .unwrap()
        .to_owned();
    let alloc = format!("{key}=1000");
    for args in [
        vec![
            "init-protocol",
            "--dataset",
            ds_s,
            "--epoch-length",
            "1",
            "--allocate",
            &alloc,
        ],
        vec!["stake", "100", "--role", "validator", "--dataset", ds_s],
    ] {
        assert!(cmd(&args).status().unwrap().success(), "{args:?}");
    }
    let started = Instant::now();
    let rss = run_measured(
        cmd(&["audit", "--dataset", ds_s, "--no-publish", "--json"])
            .stdout(std::fs::File::create(&report).unwrap()),
    );
    let scored = started.elapsed().as_secs_f64();
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["epoch"], 0, "{r}");
    println!(
        "audit with weights (scoring every record): {scored:.1} s, {:.0} records/s, peak RSS {:.0} MB",
        records as f64 / scored,
        rss as f64 / 1024.0
    );
}

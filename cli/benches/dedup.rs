//! Near-duplicate removal: quality on the labeled set against datasketch, and scale.
//!
//! Run: `cargo bench -p masa-cli --bench dedup`. Settings (environment):
//! - `MASA_BENCH_DOCS_DIR`: the PostgreSQL HTML manual (default: `scripts/fetch-debian-docs`).
//! - `MASA_BENCH_PYTHON`: a Python with `datasketch` (default `.venv/bin/python`; install it
//!   with `.venv/bin/pip install datasketch==1.6.5`); without it the comparison is skipped.
//! - `MASA_BENCH_DEDUP_DOCS`: documents for the scale run (default 1,000,000; 0 skips it).
//!
//! Part 1 streams the labeled set through masa's MinHash LSH (the `contribute` path, one
//! core) and through datasketch's `MinHashLSH` with the same settings (14 bands × 8 rows,
//! word 5-grams of the same normalized words, threshold 0.7), scoring both with the same
//! doc-level precision/recall. Part 2 contributes ~2 KB documents, 5 % of them near-copies,
//! with the release binary, and times `masa dedup --dry-run` over the whole table.

mod common;
#[path = "common/nearset.rs"]
mod nearset;

use common::{Corpus, run_measured};
use masa_dedup::{LshIndex, MinHashParams, MinHasher};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn docs_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MASA_BENCH_DOCS_DIR") {
        return d.into();
    }
    let out = std::process::Command::new(format!("{ROOT}/scripts/fetch-debian-docs"))
        .output()
        .expect("run scripts/fetch-debian-docs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// `cross` counts removals whose matched document belongs to another cluster: wrong matches
/// that the doc-level score cannot see when the cluster keeps another member.
fn print_scores(name: &str, s: &nearset::Scores, cross: usize, docs_per_s: f64) {
    println!(
        "| {name} | {:.3} | {:.3} | {:.3} | {} | {cross} | {} | {docs_per_s:.0} |",
        s.precision, s.recall, s.f1, s.false_removals, s.unique_lost
    );
}

fn labeled_set() {
    let originals = nearset::distinct_pages(&docs_dir(), 150, 0.3, usize::MAX);
    let set = nearset::build(&originals, 11);
    let bytes: usize = set.docs.iter().map(|d| d.text.len()).sum();
    println!(
        "labeled set: {} documents in {} clusters from {} distinct pages, {:.1} KB a document",
        set.docs.len(),
        set.clusters,
        originals.len(),
        bytes as f64 / set.docs.len() as f64 / 1e3
    );
    println!(
        "| system | precision | recall | F1 | false removals | matched across clusters | unique lost | docs/s (1 core) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let cluster_of: std::collections::HashMap<&str, usize> = set
        .docs
        .iter()
        .map(|d| (d.id.as_str(), d.cluster))
        .collect();

    // masa, as contribute runs it: signature, then query-and-insert, one document at a time;
    // at the default verification threshold and around it.
    let hasher = MinHasher::new(MinHashParams::default());
    let mut masa_by_edit = Default::default();
    let mut kept_default = HashSet::new();
    let mut secs = 0.0;
    for threshold in [0.4, 0.5, 0.6, 0.7, 0.8] {
        let mut index = LshIndex::new(*hasher.params(), threshold);
        let started = Instant::now();
        let mut kept = HashSet::new();
        // Index document number → cluster, and the clusters of each removal and its match.
        let mut indexed: Vec<usize> = Vec::new();
        let mut matches: Vec<(usize, usize)> = Vec::new();
        for d in &set.docs {
            // A text too short for a signature is left to exact dedup, as in contribute.
            match hasher
                .signature(&d.text)
                .map(|sig| index.insert_unless_near_duplicate(&sig))
            {
                Some(Err((doc, _))) => matches.push((d.cluster, indexed[doc as usize])),
                Some(Ok(_)) => {
                    indexed.push(d.cluster);
                    kept.insert(d.id.clone());
                }
                None => {
                    kept.insert(d.id.clone());
                }
            }
        }
        let t = started.elapsed().as_secs_f64();
        let cross = matches.iter().filter(|(a, b)| a != b).count();
        let s = nearset::score(&set, &kept);
        let default = threshold == masa_workflows::DEFAULT_NEAR_DUP_THRESHOLD;
        let name = format!(
            "masa, threshold {threshold}{}",
            if default { " (default)" } else { "" }
        );
        print_scores(&name, &s, cross, set.docs.len() as f64 / t);
        if default {
            masa_by_edit = nearset::caught_by_edit(&set, &kept);
            kept_default = kept;
            secs = t;
        }
    }
    let _ = kept_default;
    let python =
        std::env::var("MASA_BENCH_PYTHON").unwrap_or_else(|_| format!("{ROOT}/.venv/bin/python"));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("set.jsonl");
    nearset::write_jsonl(&set, &input);
    let out = std::process::Command::new(&python)
        .arg(format!("{ROOT}/cli/benches/datasketch_lsh.py"))
        .arg(&input)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let kept: HashSet<String> = v["kept"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect();
            let s = nearset::score(&set, &kept);
            let dps = set.docs.len() as f64 / v["seconds"].as_f64().unwrap();
            let cross = v["matched"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| {
                    cluster_of[m[0].as_str().unwrap()] != cluster_of[m[1].as_str().unwrap()]
                })
                .count();
            print_scores("datasketch MinHashLSH", &s, cross, dps);
            println!(
                "\nmasa is {:.0}× datasketch's speed",
                (set.docs.len() as f64 / secs) / dps
            );
            println!("\nvariants caught by edit (masa | datasketch):");
            let ds_by_edit = nearset::caught_by_edit(&set, &kept);
            for (edit, (c, n)) in &masa_by_edit {
                let (dc, _) = ds_by_edit.get(edit).copied().unwrap_or_default();
                println!("  {edit:<22} {c:>4} | {dc:>4} of {n}");
            }
        }
        other => {
            println!(
                "(datasketch comparison skipped: {python} with datasketch not runnable: {:?})",
                other.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            );
            for (edit, (c, n)) in &masa_by_edit {
                println!("  {edit:<22} {c:>4} of {n}");
            }
        }
    }
}

/// ~2 KB documents; after the first thousand, every twentieth is a near-copy (a few words
/// replaced, a header added) of an earlier one.
fn write_scale_corpus(path: &Path, n: usize) -> (u64, usize) {
    let mut c = Corpus::new();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut bytes, mut copies) = (0u64, 0);
    let mut recent: Vec<String> = Vec::new();
    for i in 0..n {
        let text = if i >= 1000 && i % 20 == 0 {
            copies += 1;
            // An earlier document, with a few words replaced at positions that vary per copy
            // (identical copies would be exact duplicates, removed before near-dup runs).
            let orig = &recent[(i / 20 * 7919) % recent.len()];
            let words: Vec<&str> = orig
                .split(' ')
                .enumerate()
                .map(|(j, w)| if j % 97 == i % 97 { "edited" } else { w })
                .collect();
            format!("Mirrored copy\n{}", words.join(" "))
        } else {
            let t = c.doc(i, 2000);
            if recent.len() < 1000 {
                recent.push(t.clone());
            } else {
                recent[i % 1000] = t.clone();
            }
            t
        };
        bytes += text.len() as u64;
        writeln!(f, "{}", serde_json::json!({"id": i, "text": text})).unwrap();
    }
    f.flush().unwrap();
    (bytes, copies)
}

fn scale(n: usize) {
    let masa = env!("CARGO_BIN_EXE_masa");
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    let (bytes, copies) = write_scale_corpus(&corpus, n);
    let home = dir.path().join("home");
    let cmd = |args: &[&str]| {
        let mut c = std::process::Command::new(masa);
        c.args(args)
            .env("MASA_HOME", &home)
            .env("MASA_CACHE_DIR", dir.path().join("cache"))
            .stdout(std::process::Stdio::null());
        c
    };
    assert!(cmd(&["init"]).status().unwrap().success());
    println!(
        "\nscale: {n} documents, {:.0} MB of text, {copies} near-copies",
        bytes as f64 / 1e6
    );
    println!("| step | seconds | docs/s | peak RSS MB |");
    println!("| --- | ---: | ---: | ---: |");
    let row = |name: &str, secs: f64, rss: i64| {
        println!(
            "| {name} | {secs:.1} | {:.0} | {:.0} |",
            n as f64 / secs,
            rss as f64 / 1024.0
        )
    };
    for (name, ds, extra) in [
        ("contribute, near-dup on", "streamed", None),
        ("contribute, near-dup off", "all", Some("--no-near-dup")),
    ] {
        let ds = dir.path().join(ds);
        let mut args = vec![
            "contribute",
            "--quiet",
            "--files",
            corpus.to_str().unwrap(),
            "--dataset",
            ds.to_str().unwrap(),
        ];
        args.extend(extra);
        let started = Instant::now();
        let rss = run_measured(&mut cmd(&args));
        row(name, started.elapsed().as_secs_f64(), rss);
    }
    // What a new run pays before its first item: loading the whole dataset's dedup state.
    let one = dir.path().join("one.txt");
    std::fs::write(&one, "A short new document for the state-load measurement.").unwrap();
    let streamed = dir.path().join("streamed");
    let started = Instant::now();
    let rss = run_measured(&mut cmd(&[
        "contribute",
        "--quiet",
        "--files",
        one.to_str().unwrap(),
        "--dataset",
        streamed.to_str().unwrap(),
    ]));
    println!(
        "| contribute 1 document onto the {n}-document dataset (state load) | {:.1} | - | {:.0} |",
        started.elapsed().as_secs_f64(),
        rss as f64 / 1024.0
    );
    let all = dir.path().join("all");
    let report = dir.path().join("report.json");
    // First over a table without signature files (they are computed from the Parquet text),
    // then again with them in place.
    for name in [
        "masa dedup --dry-run",
        "masa dedup --dry-run, signatures present",
    ] {
        let started = Instant::now();
        let rss = run_measured(
            cmd(&[
                "dedup",
                "--dataset",
                all.to_str().unwrap(),
                "--dry-run",
                "--json",
            ])
            .stdout(std::fs::File::create(&report).unwrap()),
        );
        row(name, started.elapsed().as_secs_f64(), rss);
    }
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    println!(
        "dedup found {} clusters, {} documents to remove ({copies} near-copies written); \
         signature state {:.0} bytes a document; stage seconds {}",
        r["clusters"],
        r["removed"],
        r["state_bytes_per_document"].as_f64().unwrap_or(0.0),
        r["seconds"]
    );
    let stats = |ds: &Path| -> serde_json::Value {
        let out = std::process::Command::new(masa)
            .args(["stats", "--dataset", ds.to_str().unwrap(), "--json"])
            .env("MASA_HOME", &home)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    println!(
        "near-copies that were exact copies of another (dropped by exact dedup): {}",
        stats(&all)["drops"]["dedup:exact"]
    );
    println!(
        "contribute with near-dup on dropped {} near-copies",
        stats(&streamed)["drops"]["dedup:near"]
    );
}

fn main() {
    labeled_set();
    let n: usize = std::env::var("MASA_BENCH_DEDUP_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if n > 0 {
        scale(n);
    }
}

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
/// `None` where the figure is not measured (the binary runs report no matches or speed).
fn print_scores(name: &str, s: &nearset::Scores, cross: Option<usize>, docs_per_s: Option<f64>) {
    let cross = cross.map_or("-".to_owned(), |c| c.to_string());
    let speed = docs_per_s.map_or("-".to_owned(), |d| format!("{d:.0}"));
    println!(
        "| {name} | {:.3} | {:.3} | {:.3} | {} | {cross} | {} | {speed} |",
        s.precision, s.recall, s.f1, s.false_removals, s.unique_lost
    );
}

const HEADER: &str = "| system | precision | recall | F1 | false removals | matched across clusters | unique lost | docs/s (1 core) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |";

/// The labeled sets: the PostgreSQL manual split by page (even pages tune, odd pages
/// check), and real web pages of the extraction set (news, blogs, shops, in many
/// languages) as a second check of another kind, when `../shared/data/extraction-dev` or
/// `MASA_BENCH_WEB_PAGES` is there.
fn labeled_sets() -> Vec<(String, nearset::NearSet)> {
    let files = nearset::html_files(&docs_dir());
    let pages = nearset::distinct_texts(&files, 150, 0.2, usize::MAX);
    let half =
        |parity: usize| -> Vec<String> { pages.iter().skip(parity).step_by(2).cloned().collect() };
    let mut sets = vec![
        (
            "tune: PostgreSQL manual, even pages".to_owned(),
            nearset::build(&half(0), 11),
        ),
        (
            "check: PostgreSQL manual, odd pages".to_owned(),
            nearset::build(&half(1), 12),
        ),
    ];
    match web_pages() {
        Some(dir) => {
            let mut files = nearset::html_files(&dir.join("eval"));
            files.extend(nearset::html_files(&dir.join("cache")));
            let pages = nearset::distinct_texts(&files, 150, 0.2, usize::MAX);
            sets.push((
                "check: web pages (extraction set)".to_owned(),
                nearset::build(&pages, 13),
            ));
        }
        None => println!(
            "(web-page check set skipped: neither MASA_BENCH_WEB_PAGES nor ../shared/data/extraction-dev/pages.tar.xz)"
        ),
    }
    match cjk_pages() {
        Some(texts) => {
            let pages = nearset::distinct(texts.into_iter(), 150, 0.2, usize::MAX);
            sets.push((
                "check: Chinese and Japanese manual pages".to_owned(),
                nearset::build(&pages, 14),
            ));
        }
        None => println!("(Chinese and Japanese check set skipped: scripts/fetch-lang-set failed)"),
    }
    sets
}

/// The whole Chinese and Japanese manual pages that `scripts/fetch-lang-set` writes.
fn cjk_pages() -> Option<Vec<String>> {
    let out = std::process::Command::new(format!("{ROOT}/scripts/fetch-lang-set"))
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let set = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    let lines = std::fs::read_to_string(set.with_file_name("cjk-pages.jsonl")).ok()?;
    lines
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some(v["text"].as_str()?.to_owned())
        })
        .collect()
}

/// The extraction set's pages, unpacked once under `target/bench-data`.
fn web_pages() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("MASA_BENCH_WEB_PAGES") {
        return Some(d.into());
    }
    let tarball = PathBuf::from(format!("{ROOT}/../shared/data/extraction-dev/pages.tar.xz"));
    let dest = PathBuf::from(format!("{ROOT}/target/bench-data/extraction-dev"));
    if dest.join("eval").is_dir() {
        return Some(dest);
    }
    if !tarball.is_file() {
        return None;
    }
    std::fs::create_dir_all(&dest).unwrap();
    let ok = std::process::Command::new("tar")
        .arg("xJf")
        .arg(&tarball)
        .arg("-C")
        .arg(&dest)
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(dest)
}

/// Streams `set` through an index the way `contribute` does (query, then insert), one core;
/// returns the kept ids, cross-cluster matches and docs/s of the near-dup stage (sketch and
/// index, not the bookkeeping around them).
fn stream(
    set: &nearset::NearSet,
    params: MinHashParams,
    threshold: f64,
) -> (HashSet<String>, usize, f64) {
    let hasher = MinHasher::new(params);
    let mut index = LshIndex::new(params, threshold);
    let mut busy = std::time::Duration::ZERO;
    let mut kept = HashSet::new();
    let mut indexed: Vec<usize> = Vec::new();
    let mut cross = 0;
    for d in &set.docs {
        let started = Instant::now();
        // A text too short for a sketch is left to exact dedup, as in contribute.
        let found = hasher
            .sketch(&d.text)
            .map(|sk| index.insert_unless_near_duplicate(sk.as_ref()));
        busy += started.elapsed();

        match found {
            // A near duplicate is indexed too (see `insert_unless_near_duplicate`).
            Some(Err(m)) => {
                cross += usize::from(indexed[m.doc as usize] != d.cluster);
                indexed.push(d.cluster);
            }
            Some(Ok(_)) => {
                indexed.push(d.cluster);
                kept.insert(d.id.clone());
            }
            None => {
                kept.insert(d.id.clone());
            }
        }
    }
    let dps = set.docs.len() as f64 / busy.as_secs_f64();
    (kept, cross, dps)
}

/// The method sweep, on the tuning set only: shingle size, bands × rows, verification
/// threshold (containment of the newcomer in its candidate).
fn sweep(set: &nearset::NearSet) {
    println!("\nsweep on the tuning set (streaming, earliest kept):");
    println!(
        "| words | bands × rows | threshold | precision | recall | false removals | across clusters | unique lost | verifier alone: pairs across clusters called near | docs/s | state bytes/doc |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let d = MinHashParams::default();
    for words in [3, 4, 5] {
        for (bands, rows) in [
            (14, 8),
            (28, 4),
            (16, 3),
            (20, 3),
            (24, 3),
            (32, 3),
            (40, 2),
        ] {
            for threshold in [0.5, 0.55, 0.6] {
                let p = MinHashParams {
                    shingle_words: words,
                    bands,
                    rows,
                    ..d
                };
                let (kept, cross, dps) = stream(set, p, threshold);
                let s = nearset::score(set, &kept);
                // Signature, shingle count, and one 8-byte entry a band.
                let state = 2 * bands * rows + 4 + 8 * bands;
                println!(
                    "| {words} | {bands} × {rows} | {threshold} | {:.3} | {:.3} | {} | {cross} | {} | {} | {dps:.0} | {state} |",
                    s.precision,
                    s.recall,
                    s.false_removals,
                    s.unique_lost,
                    verifier_wrong(set, p, threshold),
                );
            }
        }
    }
}

/// For `MASA_BENCH_DEDUP_EXPLAIN=words,bands,rows,threshold`: every wrong match (with the
/// edits of both documents and the estimates) and every missed variant's edit, on the
/// tuning set.
fn explain(set: &nearset::NearSet, spec: &str) {
    let v: Vec<f64> = spec.split(',').map(|x| x.parse().unwrap()).collect();
    let p = MinHashParams {
        shingle_words: v[0] as usize,
        bands: v[1] as usize,
        rows: v[2] as usize,
        ..MinHashParams::default()
    };
    let hasher = MinHasher::new(p);
    let mut index = LshIndex::new(p, v[3]);
    let mut indexed: Vec<&nearset::LabeledDoc> = Vec::new();
    let mut kept = HashSet::new();
    for d in &set.docs {
        match hasher
            .sketch(&d.text)
            .map(|sk| index.insert_unless_near_duplicate(sk.as_ref()))
        {
            Some(Err(m)) => {
                let o = indexed[m.doc as usize];
                indexed.push(d);
                if o.cluster != d.cluster {
                    println!(
                        "wrong: {} [{}] matched {} [{}]: J {:.3} C {:.3} ({} vs {} words)",
                        d.id,
                        d.edit,
                        o.id,
                        o.edit,
                        m.similarity.jaccard,
                        m.similarity.containment,
                        d.text.split_whitespace().count(),
                        o.text.split_whitespace().count()
                    );
                }
            }
            Some(Ok(_)) => {
                indexed.push(d);
                kept.insert(d.id.clone());
            }
            None => {
                kept.insert(d.id.clone());
            }
        }
    }
    // The verifier alone, on every ordered pair (later, earlier): how many pairs of
    // different clusters it would call near, and how many of the same cluster it would.
    let sketches: Vec<_> = set.docs.iter().map(|d| hasher.sketch(&d.text)).collect();
    let (mut wrong, mut pairs_apart, mut right, mut pairs_within) =
        (Vec::new(), 0usize, 0usize, 0usize);
    for j in 0..set.docs.len() {
        for i in 0..j {
            let (Some(a), Some(b)) = (&sketches[j], &sketches[i]) else {
                continue;
            };
            let s = masa_dedup::similarity(a.as_ref(), b.as_ref());
            if set.docs[i].cluster == set.docs[j].cluster {
                pairs_within += 1;
                right += usize::from(s.is_near(v[3]));
            } else {
                pairs_apart += 1;
                if s.containment >= v[3] - 0.1 {
                    wrong.push((s.containment, j, i, s.jaccard));
                }
            }
        }
    }
    wrong.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!(
        "verifier alone: {right} of {pairs_within} pairs within clusters near; {} of {pairs_apart} pairs across clusters near, {} within 0.1 below the threshold",
        wrong.iter().filter(|w| w.0 >= v[3]).count(),
        wrong.iter().filter(|w| w.0 < v[3]).count()
    );
    for (c, j, i, jac) in wrong.iter().take(12) {
        println!(
            "  across: C {c:.3} J {jac:.3}: {} [{}] in {} [{}]",
            set.docs[*j].id, set.docs[*j].edit, set.docs[*i].id, set.docs[*i].edit
        );
    }
    let mut first_kept: std::collections::HashMap<usize, &nearset::LabeledDoc> = Default::default();
    for d in &set.docs {
        if kept.contains(&d.id) {
            if let Some(f) = first_kept.get(&d.cluster) {
                let (a, b) = (
                    hasher.sketch(&f.text).unwrap(),
                    hasher.sketch(&d.text).unwrap(),
                );
                let s = masa_dedup::similarity(b.as_ref(), a.as_ref());
                println!(
                    "missed: {} [{}] after {} [{}]: J {:.3} C {:.3}",
                    d.id, d.edit, f.id, f.edit, s.jaccard, s.containment
                );
            } else {
                first_kept.insert(d.cluster, d);
            }
        }
    }
}

/// Ordered pairs (later, earlier) of different clusters that the verification alone would
/// call near duplicates, as if the bands proposed every pair.
fn verifier_wrong(set: &nearset::NearSet, p: MinHashParams, threshold: f64) -> usize {
    let h = MinHasher::new(p);
    let sketches: Vec<_> = set.docs.iter().map(|d| h.sketch(&d.text)).collect();
    let mut wrong = 0;
    for j in 0..set.docs.len() {
        for i in 0..j {
            if let (Some(a), Some(b)) = (&sketches[j], &sketches[i]) {
                wrong += usize::from(
                    set.docs[i].cluster != set.docs[j].cluster
                        && masa_dedup::similarity(a.as_ref(), b.as_ref()).is_near(threshold),
                );
            }
        }
    }
    wrong
}

fn describe(name: &str, set: &nearset::NearSet) {
    let bytes: usize = set.docs.iter().map(|d| d.text.len()).sum();
    println!(
        "\n{name}: {} documents in {} clusters, {:.1} KB a document",
        set.docs.len(),
        set.clusters,
        bytes as f64 / set.docs.len() as f64 / 1e3
    );
}

fn labeled_set() {
    let sets = labeled_sets();
    if let Ok(spec) = std::env::var("MASA_BENCH_DEDUP_EXPLAIN") {
        explain(&sets[0].1, &spec);
        return;
    }
    if std::env::var_os("MASA_BENCH_DEDUP_SWEEP").is_some() {
        sweep(&sets[0].1);
    }
    let python =
        std::env::var("MASA_BENCH_PYTHON").unwrap_or_else(|_| format!("{ROOT}/.venv/bin/python"));
    for (name, set) in &sets {
        describe(name, set);
        println!("{HEADER}");
        let cluster_of: std::collections::HashMap<&str, usize> = set
            .docs
            .iter()
            .map(|d| (d.id.as_str(), d.cluster))
            .collect();
        let threshold = masa_workflows::DEFAULT_NEAR_DUP_THRESHOLD;
        let (kept, cross, dps) = stream(set, MinHashParams::default(), threshold);
        let s = nearset::score(set, &kept);
        print_scores("masa, streamed (defaults)", &s, Some(cross), Some(dps));
        let masa_by_edit = nearset::caught_by_edit(set, &kept);
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("set.jsonl");
        nearset::write_jsonl(set, &input);
        let mut ds_by_edit = None;
        for (words, bands, rows) in [(5, 14, 8), (3, 20, 3)] {
            let out = std::process::Command::new(&python)
                .arg(format!("{ROOT}/cli/benches/datasketch_lsh.py"))
                .arg(&input)
                .args([words, bands, rows].map(|v: usize| v.to_string()))
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
                    let s = nearset::score(set, &kept);
                    let ds_dps = set.docs.len() as f64 / v["seconds"].as_f64().unwrap();
                    let cross = v["matched"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|m| {
                            cluster_of[m[0].as_str().unwrap()] != cluster_of[m[1].as_str().unwrap()]
                        })
                        .count();
                    let name = format!(
                        "datasketch MinHashLSH ({bands} × {rows}, {words}-grams, no verification)"
                    );
                    print_scores(&name, &s, Some(cross), Some(ds_dps));
                    if words == 5 {
                        ds_by_edit = Some(nearset::caught_by_edit(set, &kept));
                    }
                }
                other => {
                    println!(
                        "(datasketch comparison skipped: {python} with datasketch not runnable: {:?})",
                        other.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                    );
                    break;
                }
            }
        }
        // Both paths as a user runs them, with the release binary and default settings.
        let (streamed, offline) = through_the_binary(&input, dir.path());
        print_scores(
            "`masa contribute` (streaming)",
            &nearset::score(set, &streamed),
            None,
            None,
        );
        print_scores(
            "`masa contribute --no-near-dup` + `masa dedup` (offline)",
            &nearset::score(set, &offline),
            None,
            None,
        );
        println!("\nvariants caught by edit (masa | datasketch 14 × 8 | of):");
        for (edit, (c, n)) in &masa_by_edit {
            let dc = ds_by_edit.as_ref().map_or("-".to_owned(), |m| {
                m.get(edit).copied().unwrap_or_default().0.to_string()
            });
            println!("  {edit:<24} {c:>4} | {dc:>4} | {n}");
        }
    }
}

/// The labeled documents a dataset holds (the JSONL connector puts `#id=<id>` in the uri).
fn kept_in(ds: &Path) -> HashSet<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ds = masa_storage::Dataset::open(ds.to_str().unwrap(), &Default::default())
            .await
            .unwrap();
        let mut out = HashSet::new();
        for f in ds.committed_files().unwrap() {
            for b in ds.read_file(&f, Some(&["uri"])).await.unwrap() {
                let uris =
                    masa_record::column::<masa_storage::arrow::array::StringArray>(&b, "uri")
                        .unwrap();
                for i in 0..b.num_rows() {
                    out.insert(uris.value(i).rsplit("#id=").next().unwrap().to_owned());
                }
            }
        }
        out
    })
}

/// Runs `set.jsonl` through `masa contribute` (streaming dedup) and through `masa contribute
/// --no-near-dup` then `masa dedup` (offline); returns the ids each dataset keeps.
fn through_the_binary(input: &Path, dir: &Path) -> (HashSet<String>, HashSet<String>) {
    let masa = env!("CARGO_BIN_EXE_masa");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(masa)
            .args(args)
            .env("MASA_HOME", dir.join("home"))
            .env("MASA_CACHE_DIR", dir.join("cache"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init"]);
    let (a, b) = (dir.join("streamed"), dir.join("offline"));
    let input = input.to_str().unwrap();
    run(&[
        "contribute",
        "-q",
        "--files",
        input,
        "--dataset",
        a.to_str().unwrap(),
    ]);
    run(&[
        "contribute",
        "-q",
        "--files",
        input,
        "--dataset",
        b.to_str().unwrap(),
        "--no-near-dup",
    ]);
    run(&["dedup", "--dataset", b.to_str().unwrap()]);
    (kept_in(&a), kept_in(&b))
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
    let log = dir.path().join("state-load.log");
    let rss = run_measured(
        cmd(&[
            "contribute",
            "--quiet",
            "--files",
            one.to_str().unwrap(),
            "--dataset",
            streamed.to_str().unwrap(),
        ])
        .env("MASA_LOG", "masa_workflows=debug")
        .stderr(std::fs::File::create(&log).unwrap()),
    );
    println!(
        "| contribute 1 document onto the {n}-document dataset (state load) | {:.1} | - | {:.0} |",
        started.elapsed().as_secs_f64(),
        rss as f64 / 1024.0
    );
    // The index's own size once loaded, as the run logs it.
    let log = std::fs::read_to_string(&log).unwrap();
    if let Some(line) = log
        .lines()
        .find(|l| l.contains("near-duplicate index loaded"))
    {
        // Without the terminal colours the log writes.
        let mut plain = String::new();
        let mut in_escape = false;
        for c in line.split("index loaded").nth(1).unwrap_or(line).chars() {
            match (in_escape, c) {
                (false, '\u{1b}') => in_escape = true,
                (true, 'm') => in_escape = false,
                (false, c) => plain.push(c),
                _ => {}
            }
        }
        println!("index once loaded: {}", plain.trim());
    }
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
    if std::env::var("MASA_BENCH_DEDUP_LABELED").as_deref() != Ok("0") {
        labeled_set();
    }
    let n: usize = std::env::var("MASA_BENCH_DEDUP_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if n > 0 {
        scale(n);
    }
}

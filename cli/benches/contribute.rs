//! End-to-end benchmark: contributes generated corpora of ~2 KB text documents to a fresh
//! local dataset with the release `masa` binary, and indexes the same documents with
//! tantivy alone for comparison. Prints docs/s, MB/s and peak RSS.
//!
//! Run: `cargo bench -p masa-cli --bench contribute` (sizes: MASA_BENCH_SIZES=10000,100000).

mod common;

use common::{Corpus, run_measured};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn write_corpus(path: &Path, n: usize) -> u64 {
    let mut c = Corpus::new();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut bytes = 0;
    for i in 0..n {
        let text = c.doc(i, 2000);
        bytes += text.len() as u64;
        writeln!(f, "{}", serde_json::json!({"id": i, "text": text})).unwrap();
    }
    f.flush().unwrap();
    bytes
}

/// tantivy alone: the same texts into one index with a stored text field, one thread.
fn tantivy_alone(corpus: &Path, dir: &Path) -> (usize, f64) {
    use tantivy::schema::{STORED, Schema, TEXT};
    let mut b = Schema::builder();
    let text = b.add_text_field("text", TEXT | STORED);
    let index = tantivy::Index::create_in_dir(dir, b.build()).unwrap();
    let mut w: tantivy::IndexWriter = index.writer_with_num_threads(1, 128 << 20).unwrap();
    let started = Instant::now();
    let mut n = 0;
    for line in std::io::BufRead::lines(std::io::BufReader::new(
        std::fs::File::open(corpus).unwrap(),
    )) {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let mut doc = tantivy::TantivyDocument::default();
        doc.add_text(text, v["text"].as_str().unwrap());
        w.add_document(doc).unwrap();
        n += 1;
    }
    w.commit().unwrap();
    w.wait_merging_threads().unwrap();
    (n, started.elapsed().as_secs_f64())
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let sizes: Vec<usize> = std::env::var("MASA_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("MASA_BENCH_SIZES: comma-separated numbers")
        })
        .collect();
    let masa = env!("CARGO_BIN_EXE_masa");
    println!(
        "| docs | MB of text | masa s | masa docs/s | masa MB/s | masa peak RSS MB | tantivy-alone docs/s | masa / tantivy |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("corpus.jsonl");
        let bytes = write_corpus(&corpus, n);
        let home = dir.path().join("home");
        let run = |args: &[&str]| {
            let st = std::process::Command::new(masa)
                .args(args)
                .env("MASA_HOME", &home)
                .env("MASA_CACHE_DIR", dir.path().join("cache"))
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(st.success(), "masa {args:?} failed");
        };
        run(&["init"]);
        let ds = dir.path().join("data");
        let started = Instant::now();
        let rss = run_measured(
            std::process::Command::new(masa)
                .args([
                    "contribute",
                    "--quiet",
                    "--files",
                    corpus.to_str().unwrap(),
                    "--dataset",
                    ds.to_str().unwrap(),
                ])
                .env("MASA_HOME", &home)
                .stdout(std::process::Stdio::null()),
        );
        let secs = started.elapsed().as_secs_f64();
        let tdir = dir.path().join("tantivy");
        std::fs::create_dir(&tdir).unwrap();
        let (tn, tsecs) = tantivy_alone(&corpus, &tdir);
        let mb = bytes as f64 / 1e6;
        println!(
            "| {n} | {mb:.0} | {secs:.1} | {:.0} | {:.1} | {:.0} | {:.0} | {:.2} |",
            n as f64 / secs,
            mb / secs,
            rss as f64 / 1024.0,
            tn as f64 / tsecs,
            (n as f64 / secs) / (tn as f64 / tsecs)
        );
    }
}

//! Sketch throughput (MinHash signature and distinct shingle count, what `contribute`
//! computes for every row) on generated ~2 KB English-like documents, one core.
//!
//! Run: `cargo bench -p masa-cli --bench minhash` (MASA_BENCH_DOCS sets the count).

mod common;

use common::Corpus;
use masa_dedup::{MinHashParams, MinHasher};
use std::time::Instant;

fn main() {
    let n: usize = std::env::var("MASA_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let mut corpus = Corpus::new();
    let docs: Vec<String> = (0..n).map(|i| corpus.doc(i, 2000)).collect();
    let bytes: usize = docs.iter().map(String::len).sum();
    let h = MinHasher::new(MinHashParams::default());
    let started = Instant::now();
    let mut check = 0u64;
    for d in &docs {
        check ^= u64::from(h.sketch(d).expect("2 KB documents are long enough").sig[0]);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{n} docs, {:.1} MB: {:.0} sketches/s, {:.1} MB/s on one core (checksum {check:x})",
        bytes as f64 / 1e6,
        n as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
}

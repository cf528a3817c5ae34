//! MinHash signature throughput on generated ~2 KB English-like documents, one core.
//!
//! Run: `cargo bench -p masa-dedup --bench minhash` (MASA_BENCH_DOCS sets the count).

use masa_dedup::{MinHashParams, MinHasher};
use std::time::Instant;

const WORDS: &[&str] = &[
    "data",
    "runtime",
    "table",
    "index",
    "search",
    "query",
    "record",
    "stream",
    "batch",
    "commit",
    "parquet",
    "delta",
    "log",
    "merkle",
    "proof",
    "crawler",
    "page",
    "robots",
    "consent",
    "licence",
    "quality",
    "score",
    "token",
    "model",
    "training",
    "contributor",
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "with",
    "as",
    "on",
    "by",
];

fn main() {
    let n: usize = std::env::var("MASA_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let docs: Vec<String> = (0..n)
        .map(|_| {
            let mut s = String::new();
            while s.len() < 2000 {
                s.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
                s.push(if next() % 12 == 0 { '.' } else { ' ' });
            }
            s
        })
        .collect();
    let bytes: usize = docs.iter().map(String::len).sum();
    let h = MinHasher::new(MinHashParams::default());
    let started = Instant::now();
    let mut check = 0u64;
    for d in &docs {
        check ^= h.signature(d)[0];
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{n} docs, {:.1} MB: {:.0} signatures/s, {:.1} MB/s on one core (checksum {check:x})",
        bytes as f64 / 1e6,
        n as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
}

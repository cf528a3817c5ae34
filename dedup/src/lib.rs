//! Deduplication: exact dedup by content hash, and MinHash LSH near-duplicate detection.
//! This crate never does network IO.

mod exact;
mod lsh;
mod minhash;

pub use exact::{ExactDedup, HashError};
pub use lsh::{LshIndex, UnionFind};
pub use minhash::{MinHashParams, MinHasher, dedup_words, estimated_jaccard};

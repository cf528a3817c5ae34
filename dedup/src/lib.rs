//! Deduplication: exact dedup by content hash, and MinHash LSH near-duplicate detection
//! with its persistent state. This crate never does network IO: callers move the bytes.

mod exact;
mod lsh;
mod minhash;
mod store;

pub use exact::{ExactDedup, HashError};
pub use lsh::{LshIndex, UnionFind};
pub use minhash::{
    MinHashParams, MinHasher, SigValue, band_key, dedup_words, estimated_jaccard,
};
pub use store::{Blob, BlobError, SigFile, SigRow};

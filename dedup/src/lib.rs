//! Deduplication: exact dedup by content hash, and MinHash LSH near-duplicate detection
//! with its persistent state. This crate never does network IO: callers move the bytes.

mod exact;
mod lsh;
mod minhash;
mod store;

pub use exact::{ExactDedup, HashError};
pub use lsh::{LshIndex, MAX_BUCKET_CHECKS, Match, UnionFind};
pub use minhash::{
    MinHashParams, MinHasher, SigValue, Similarity, Sketch, SketchRef, band_key, dedup_words,
    estimated_jaccard, similarity, word_hashes, word_shingles,
};
pub use store::{Blob, BlobError, SigFile, SigRow};

/// What a run dedups against: every content hash seen, and, when near-duplicate removal is
/// on, the LSH index of every signature seen (committed ones first, then the run's own).
#[derive(Debug, Default)]
pub struct Dedup {
    pub exact: ExactDedup,
    pub near: Option<LshIndex>,
}

impl MinHashParams {
    /// A short name for the parameter set and the sketch format, used to keep state of
    /// different sets apart (`k2`: signatures with shingle counts, which older files lack).
    pub fn tag(&self) -> String {
        format!(
            "k2-w{}-b{}-r{}-s{:016x}",
            self.shingle_words, self.bands, self.rows, self.seed
        )
    }
}

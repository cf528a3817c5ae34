//! Deduplication state. Exact dedup by content hash lives here; MinHash LSH near-duplicate
//! detection joins it later. This crate never does network IO.

mod exact;

pub use exact::{ExactDedup, HashError};

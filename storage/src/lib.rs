//! Storage: the dataset layout on object storage (a local folder by default, `s3://` by URL)
//! and the Delta Lake table of records inside it.
//!
//! ```text
//! <root>/masa.json        marker: this folder is a Masa dataset (format and versions)
//! <root>/table/           Delta table: Parquet data files + _delta_log/
//! <root>/index/           tantivy splits + manifest
//! <root>/provenance/      signed batch manifests
//! <root>/runs/            run checkpoints, one per committed batch
//! <root>/history/         the commits' `commitInfo`, 100 versions a block (see `history`)
//! ```
//!
//! Storage never parses HTML and knows nothing of connectors.

mod compact;
mod dataset;
mod history;
mod location;
mod table;

pub use compact::{Compaction, REWRITE_APP_ID};
pub use dataset::{DATASET_MARKER, Dataset, LAYOUT_VERSION, StorageError, StorageOptions};
pub use history::{CommitInfo, HISTORY_BLOCK};
pub use location::parse_location;
pub use table::{CommittedFile, DataFileWrite, ParquetStream, decode_parquet, encode_parquet};

/// Re-exported so callers build batches with the exact Arrow version the table uses.
pub use deltalake::arrow;

//! The search index: one tantivy split per committed batch, a manifest of splits, and BM25
//! search across all of them with filters. The index never owns data: the Parquet table is
//! the truth, and every split can be rebuilt from it.
//!
//! A split is one tantivy index (its segment files and its `meta.json`). To search, the
//! splits' files are gathered in one local folder and a combined `meta.json` lists every
//! split's segments, so tantivy sees a single index and BM25 statistics are global.

mod schema;
mod search;
mod split;

pub use schema::INDEX_SCHEMA_VERSION;
pub use search::{
    FACET_FIELDS, FacetCount, Facets, Hit, Match, SearchIndex, SearchQuery, Sort, Stored,
};
pub use split::{BuiltSplit, Manifest, SplitFile, SplitMeta, build_split};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("index io error on {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("split {split}: {reason}")]
    BadSplit { split: String, reason: String },
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

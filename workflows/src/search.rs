//! `masa search`: BM25 search over a dataset's committed splits, and [`SearchView`], the
//! open index of one table version that a long-running service keeps.

use crate::WorkflowError;
use crate::splits::{Gathered, cache_dir, committed_splits, gather};
use masa_index::{Facets, Hit, Match, SearchIndex, SearchQuery, SplitMeta};
use masa_storage::{Dataset, StorageOptions};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub dataset: String,
    pub storage: StorageOptions,
    pub query: SearchQuery,
}

/// Searches a dataset. An empty dataset answers with no hits.
pub async fn search(opts: SearchOptions) -> Result<Vec<Hit>, WorkflowError> {
    Ok(search_faceted(opts, false).await?.0)
}

/// [`search`], and with `facets` the counts of all matches by each of
/// [`masa_index::FACET_FIELDS`].
pub async fn search_faceted(
    opts: SearchOptions,
    facets: bool,
) -> Result<(Vec<Hit>, Option<Facets>), WorkflowError> {
    let dataset = Dataset::open(&opts.dataset, &opts.storage).await?;
    let view = SearchView::open(&dataset, None).await?;
    let query = opts.query;
    tokio::task::spawn_blocking(move || view.search_faceted(&query, facets))
        .await
        .map_err(|e| WorkflowError::Other(format!("search task failed: {e}")))?
}

/// The searchable state of a dataset at one table version: the splits of the batches
/// committed in it, gathered in the local split cache and opened as one index. Searching
/// a view gives the same answer however the table moves on, which is what a paging cursor
/// needs; a service opens a new view when the table has a new version.
pub struct SearchView {
    /// The table version the view shows (`None`: an empty table).
    pub version: Option<i64>,
    pub splits: Vec<SplitMeta>,
    /// Committed batches with no split (deleted by hand): not searchable in this view.
    pub missing: Vec<String>,
    /// The split cache folder holding the files.
    pub dir: PathBuf,
    /// How the files were found in the cache.
    pub gathered: Gathered,
    index: Option<SearchIndex>,
}

impl std::fmt::Debug for SearchView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchView")
            .field("version", &self.version)
            .field("splits", &self.splits.len())
            .finish_non_exhaustive()
    }
}

impl SearchView {
    /// Opens the view of `dataset` at the version it has loaded. `cache` is the split
    /// cache's base folder (default: `$MASA_CACHE_DIR`, `$XDG_CACHE_HOME/masa` or
    /// `~/.cache/masa`); each dataset has a folder of its own in it. Files used are marked
    /// as used now, for a cache that evicts the least recently used.
    pub async fn open(dataset: &Dataset, cache: Option<&Path>) -> Result<Self, WorkflowError> {
        let committed = committed_splits(dataset).await?;
        let dir = cache_dir(dataset, cache)?;
        let gathered = gather(dataset, &committed.manifest.splits, &dir).await?;
        let splits = committed.manifest.splits;
        let (dir2, splits2) = (dir.clone(), splits.clone());
        let index = tokio::task::spawn_blocking(move || SearchIndex::open(&dir2, &splits2))
            .await
            .map_err(|e| WorkflowError::Other(format!("opening the index failed: {e}")))??;
        Ok(SearchView {
            version: dataset.table_version(),
            splits,
            missing: committed.missing,
            dir,
            gathered,
            index,
        })
    }

    /// Documents searchable in the view.
    pub fn num_docs(&self) -> u64 {
        self.index.as_ref().map_or(0, SearchIndex::num_docs)
    }

    /// Searches the view (blocking: call it off the async threads).
    pub fn search_faceted(
        &self,
        query: &SearchQuery,
        facets: bool,
    ) -> Result<(Vec<Hit>, Option<Facets>), WorkflowError> {
        match &self.index {
            None => Ok((Vec::new(), facets.then(Facets::new))),
            Some(index) => Ok(index.search_faceted(query, facets)?),
        }
    }

    /// Every record matching `query`, one at a time, until `each` answers `false`
    /// (blocking).
    pub fn for_each_match(
        &self,
        query: &SearchQuery,
        each: impl FnMut(Match) -> bool,
    ) -> Result<(), WorkflowError> {
        match &self.index {
            None => Ok(()),
            Some(index) => Ok(index.for_each_match(query, each)?),
        }
    }

    /// The names of the cache files the view uses.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.splits
            .iter()
            .flat_map(|s| s.files.iter().map(|f| f.name.as_str()))
    }
}

//! `masa search`: BM25 search over a dataset's committed splits.

use crate::WorkflowError;
use crate::splits::{cache_dir, committed_splits, gather};
use masa_index::{Hit, SearchIndex, SearchQuery};
use masa_storage::{Dataset, StorageOptions};

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

/// [`search`], and with `facets` the counts of all matches by lang, source and contributor.
pub async fn search_faceted(
    opts: SearchOptions,
    facets: bool,
) -> Result<(Vec<Hit>, Option<masa_index::Facets>), WorkflowError> {
    let dataset = Dataset::open(&opts.dataset, &opts.storage).await?;
    let manifest = committed_splits(&dataset).await?.manifest;
    let dir = cache_dir(&dataset)?;
    gather(&dataset, &manifest.splits, &dir).await?;
    let query = opts.query;
    tokio::task::spawn_blocking(move || -> Result<_, WorkflowError> {
        match SearchIndex::open(&dir, &manifest.splits)? {
            None => Ok((Vec::new(), facets.then(masa_index::Facets::new))),
            Some(index) => Ok(index.search_faceted(&query, facets)?),
        }
    })
    .await
    .map_err(|e| WorkflowError::Other(format!("search task failed: {e}")))?
}

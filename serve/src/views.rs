//! Following the table: each served dataset's open [`SearchView`]s.
//!
//! Searching opens no table and no index: it takes the current view, opened once per table
//! version. A follower task refreshes each table every `follow_interval` and opens a view
//! of a new version beside the old one; the old view is kept while cursors may still page
//! through it (`cursor_ttl` after its last use), so a cursor is pinned to the version its
//! first page came from. After each new view the split cache is bounded to `cache_bytes`,
//! evicting the least recently used files no kept view needs.

use super::ApiError;
use axum::http::StatusCode;
use masa_storage::{Dataset, StorageOptions};
use masa_workflows::SearchView;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most views of one dataset kept for cursors at once, besides the current one.
const MAX_KEPT: usize = 16;

/// One dataset's views.
pub(super) struct Views {
    location: String,
    storage: StorageOptions,
    cache_dir: Option<PathBuf>,
    cache_bytes: u64,
    cursor_ttl: Duration,
    /// The table as last refreshed; locked while a refresh runs, so one runs at a time.
    table: tokio::sync::Mutex<Option<Dataset>>,
    set: Mutex<ViewSet>,
    counts: Mutex<CacheCounts>,
}

#[derive(Default)]
struct ViewSet {
    current: Option<Arc<SearchView>>,
    /// Why the last refresh failed, while it did.
    error: Option<String>,
    /// Earlier views, with when each was last used.
    kept: Vec<(Arc<SearchView>, Instant)>,
}

/// What refreshes found since the metrics last took them: split cache hits (files already
/// cached), misses (files fetched) with their bytes, and bytes evicted. Every refresh adds
/// to them, the follower's and a search's that opened the first view alike.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct CacheCounts {
    pub(super) hits: u64,
    pub(super) misses: u64,
    pub(super) fetched_bytes: u64,
    pub(super) evicted_bytes: u64,
}

impl Views {
    pub(super) fn new(
        location: String,
        storage: StorageOptions,
        cache_dir: Option<PathBuf>,
        cache_bytes: u64,
        cursor_ttl: Duration,
    ) -> Views {
        Views {
            location,
            storage,
            cache_dir,
            cache_bytes,
            cursor_ttl,
            table: tokio::sync::Mutex::new(None),
            set: Mutex::new(ViewSet::default()),
            counts: Mutex::new(CacheCounts::default()),
        }
    }

    fn set(&self) -> std::sync::MutexGuard<'_, ViewSet> {
        self.set.lock().expect("no thread panics holding it")
    }

    /// The view of the latest version seen, opened now if there is none yet. 503 when the
    /// dataset or its index cannot be read (and no earlier view exists to answer from), or
    /// when committed batches have no split: an answer without them would look complete.
    pub(super) async fn current(&self) -> Result<Arc<SearchView>, ApiError> {
        let open = self.set().current.clone();
        let view = match open {
            Some(v) => v,
            None => {
                self.refresh().await?;
                self.set()
                    .current
                    .clone()
                    .ok_or_else(|| unavailable(&self.location, "no view"))?
            }
        };
        complete(&self.location, view)
    }

    /// The view of table version `version`, if it is still kept. Using it keeps it longer.
    pub(super) fn at(&self, version: Option<i64>) -> Option<Arc<SearchView>> {
        let mut s = self.set();
        if let Some(c) = &s.current
            && c.version == version
        {
            return Some(c.clone());
        }
        let (v, used) = s.kept.iter_mut().find(|(v, _)| v.version == version)?;
        *used = Instant::now();
        Some(v.clone())
    }

    /// The cache counts since the last call, which starts them again from zero.
    pub(super) fn take_counts(&self) -> CacheCounts {
        std::mem::take(&mut *self.counts.lock().expect("no thread panics holding it"))
    }

    /// The current view, if one is open.
    pub(super) fn peek(&self) -> Option<Arc<SearchView>> {
        self.set().current.clone()
    }

    /// Why the last refresh failed, while it does.
    pub(super) fn following_error(&self) -> Option<String> {
        self.set().error.clone()
    }

    /// Reloads the table; when it has a new version (or the current view lacks splits it
    /// should have), opens the new version's view and makes it current. A failure leaves
    /// the current view answering (an older version is a right answer, a half-read one
    /// would not be) and is reported by `/readyz`.
    pub(super) async fn refresh(&self) -> Result<(), ApiError> {
        let r = self.try_refresh().await;
        let mut s = self.set();
        s.error = r.as_ref().err().map(|e| e.message.clone());
        r
    }

    async fn try_refresh(&self) -> Result<(), ApiError> {
        let mut table = self.table.lock().await;
        match table.as_mut() {
            Some(ds) => ds
                .refresh()
                .await
                .map_err(|e| unavailable(&self.location, &e.to_string()))?,
            None => {
                let ds = Dataset::open(&self.location, &self.storage)
                    .await
                    .map_err(|e| unavailable(&self.location, &e.to_string()))?;
                *table = Some(ds);
            }
        }
        let ds = table.as_ref().expect("set above");
        let stale = match &self.set().current {
            None => true,
            Some(v) => v.version != ds.table_version() || !v.missing.is_empty(),
        };
        if !stale {
            return Ok(());
        }
        let view = Arc::new(
            SearchView::open(ds, self.cache_dir.as_deref())
                .await
                .map_err(|e| unavailable(&self.location, &e.to_string()))?,
        );
        let gathered = view.gathered;
        let dir = view.dir.clone();
        let in_use: Vec<String> = {
            let mut s = self.set();
            // The old view is kept for its cursors; one of the same version (reopened for
            // a missing split) never answered, so it has none.
            if let Some(old) = s.current.replace(view)
                && old.version != ds.table_version()
            {
                s.kept.push((old, Instant::now()));
            }
            let ttl = self.cursor_ttl;
            s.kept.retain(|(_, used)| used.elapsed() < ttl);
            if s.kept.len() > MAX_KEPT {
                s.kept.sort_by_key(|(_, used)| std::cmp::Reverse(*used));
                s.kept.truncate(MAX_KEPT);
            }
            s.current
                .iter()
                .chain(s.kept.iter().map(|(v, _)| v))
                .flat_map(|v| v.files().map(str::to_owned).collect::<Vec<_>>())
                .collect()
        };
        let in_use: HashSet<&str> = in_use.iter().map(String::as_str).collect();
        let evicted = masa_workflows::evict(&dir, &in_use, self.cache_bytes)
            .map_err(|e| unavailable(&self.location, &e.to_string()))?;
        if evicted.kept_bytes > self.cache_bytes {
            tracing::warn!(dataset = %self.location, bytes = evicted.kept_bytes, cap = self.cache_bytes,
                "the splits the open views need are over the split cache's size (--cache-bytes)");
        }
        let mut c = self.counts.lock().expect("no thread panics holding it");
        c.hits += gathered.reused;
        c.misses += gathered.fetched;
        c.fetched_bytes += gathered.fetched_bytes;
        c.evicted_bytes += evicted.bytes;
        Ok(())
    }
}

/// `view`, unless it lacks splits of committed batches.
fn complete(location: &str, view: Arc<SearchView>) -> Result<Arc<SearchView>, ApiError> {
    match view.missing.as_slice() {
        [] => Ok(view),
        missing => Err(unavailable(
            location,
            &format!(
                "the index split of committed batch {} is missing, so an answer would leave its records out; the next `masa contribute` to the dataset rebuilds it",
                missing.join(", ")
            ),
        )),
    }
}

fn unavailable(location: &str, why: &str) -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: format!("dataset {location} cannot be searched now: {why}"),
    }
}

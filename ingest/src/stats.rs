//! Run statistics shared between the pipeline stages and the progress display.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one run. Cheap to update from any stage.
#[derive(Debug, Default)]
pub struct RunStats {
    items: AtomicU64,
    rows_committed: AtomicU64,
    bytes_committed: AtomicU64,
    commits: AtomicU64,
    drops: Mutex<BTreeMap<String, u64>>,
}

/// A point-in-time copy of [`RunStats`], also the run summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Inputs seen (items and skips).
    pub items: u64,
    pub rows_committed: u64,
    /// Bytes of normalized text committed.
    pub bytes_committed: u64,
    pub commits: u64,
    /// Dropped inputs by reason (`dedup:exact`, `input:malformed_jsonl`, ...).
    pub drops: BTreeMap<String, u64>,
    /// The connector's own summary (the crawler's per-host statistics), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<serde_json::Value>,
}

impl StatsSnapshot {
    pub fn dropped(&self) -> u64 {
        self.drops.values().sum()
    }
}

impl RunStats {
    pub fn item_seen(&self) {
        self.items.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dropped(&self, reason: &str) {
        // The lock is held for one map update; a poisoned lock only means another stage
        // panicked mid-update, and the counts are still usable.
        let mut d = self.drops.lock().unwrap_or_else(|e| e.into_inner());
        *d.entry(reason.to_owned()).or_default() += 1;
    }

    pub fn committed(&self, rows: u64, bytes: u64) {
        self.rows_committed.fetch_add(rows, Ordering::Relaxed);
        self.bytes_committed.fetch_add(bytes, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            items: self.items.load(Ordering::Relaxed),
            rows_committed: self.rows_committed.load(Ordering::Relaxed),
            bytes_committed: self.bytes_committed.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            drops: self.drops.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            source: None,
        }
    }
}

//! Crawl counters: pages fetched, queued and skipped by reason, bytes, and per-host totals,
//! for the progress line and the end-of-run summary.

use crate::SourceProgress;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Default, Clone, Serialize)]
pub struct HostStats {
    pub fetched: u64,
    pub records: u64,
    pub bytes: u64,
    pub skipped: BTreeMap<String, u64>,
}

/// The whole crawl's totals: the sums over its hosts (listed in the summary only).
#[derive(Debug, Default, Clone, Serialize)]
struct Totals {
    fetched: u64,
    records: u64,
    queued: u64,
    bytes: u64,
    skipped: BTreeMap<String, u64>,
    hosts: BTreeMap<String, HostStats>,
}

#[derive(Debug, Default)]
struct Counters {
    queued: u64,
    hosts: BTreeMap<String, HostStats>,
}

impl Counters {
    fn totals(&self) -> Totals {
        let mut t = Totals {
            queued: self.queued,
            ..Default::default()
        };
        for h in self.hosts.values() {
            t.fetched += h.fetched;
            t.records += h.records;
            t.bytes += h.bytes;
            for (r, n) in &h.skipped {
                *t.skipped.entry(r.clone()).or_default() += n;
            }
        }
        t
    }
}

/// Live crawl statistics, shared with the progress display.
#[derive(Debug)]
pub struct CrawlStats {
    started: Instant,
    counters: Mutex<Counters>,
}

impl Default for CrawlStats {
    fn default() -> Self {
        CrawlStats {
            started: Instant::now(),
            counters: Mutex::new(Counters::default()),
        }
    }
}

impl CrawlStats {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        // Counters only: a poisoned lock still holds usable numbers.
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One handled URL: `fetched` when a page request was made, `skip` its reason if it
    /// did not become an item.
    pub(crate) fn record(&self, host: &str, fetched: bool, bytes: u64, skip: Option<&str>) {
        let mut c = self.counters();
        let h = c.hosts.entry(host.to_owned()).or_default();
        h.fetched += u64::from(fetched);
        h.bytes += bytes;
        match skip {
            Some(r) => *h.skipped.entry(r.to_owned()).or_default() += 1,
            None => h.records += 1,
        }
    }

    pub(crate) fn set_queued(&self, n: u64) {
        self.counters().queued = n;
    }
}

impl SourceProgress for CrawlStats {
    fn line(&self) -> String {
        let t = self.counters().totals();
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let skipped: Vec<String> = t.skipped.iter().map(|(r, n)| format!("{r} {n}")).collect();
        format!(
            "crawl: {} fetched, {} queued, {:.1} MB, {:.0} pages/s; skipped: {}",
            t.fetched,
            t.queued,
            t.bytes as f64 / 1e6,
            t.fetched as f64 / secs,
            if skipped.is_empty() {
                "none".to_owned()
            } else {
                skipped.join(", ")
            }
        )
    }

    fn summary(&self) -> serde_json::Value {
        let c = self.counters();
        let mut t = c.totals();
        t.hosts = c.hosts.clone();
        let mut v = serde_json::to_value(&t).expect("counters serialize");
        v["seconds"] = self.started.elapsed().as_secs_f64().into();
        v
    }
}

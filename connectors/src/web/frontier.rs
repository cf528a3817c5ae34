//! The crawl frontier and seen-set, and the checkpoint that persists them with each commit.
//!
//! Every URL the crawl ever queues gets an index in an append-only journal; every event
//! marks one or more indices done, also appended. The checkpoint after an event is therefore
//! fully named by two lengths (journal, done list): it is built lazily from the shared
//! journal only when a commit records it, and is the same whenever it is built.

use masa_record::Checkpoint;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use url::Url;

/// HTTP validators kept for conditional GET on a later crawl.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// A URL handled by the crawl, as stored in the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoneUrl {
    pub url: String,
    pub depth: u16,
    /// A page request was made for it (it counts against `--max-pages`).
    #[serde(default)]
    pub fetched: bool,
    #[serde(flatten)]
    pub validators: Validators,
}

/// The persisted crawl position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlState {
    pub v: u32,
    /// Sitemap discovery has been done.
    pub sitemaps_done: bool,
    /// Every URL handled, in the order it was handled: the seen-set.
    pub done: Vec<DoneUrl>,
    /// URLs queued and not yet handled, in queue order, with their depth.
    pub queue: Vec<(String, u16)>,
}

impl CrawlState {
    pub const VERSION: u32 = 1;

    pub fn from_value(v: serde_json::Value) -> Result<CrawlState, String> {
        let s: CrawlState = serde_json::from_value(v).map_err(|e| e.to_string())?;
        if s.v != Self::VERSION {
            return Err(format!(
                "checkpoint version {} (this build reads {})",
                s.v,
                Self::VERSION
            ));
        }
        Ok(s)
    }
}

#[derive(Debug, Default)]
struct Journal {
    urls: Vec<(Arc<str>, u16)>,
    done: Vec<(u32, bool, Validators)>,
    sitemaps_done_at: Option<usize>,
}

impl Journal {
    fn state(&self, urls_len: usize, done_len: usize) -> CrawlState {
        let mut is_done = vec![false; urls_len];
        let done = self.done[..done_len]
            .iter()
            .map(|(i, fetched, v)| {
                is_done[*i as usize] = true;
                let (url, depth) = &self.urls[*i as usize];
                DoneUrl {
                    url: url.to_string(),
                    depth: *depth,
                    fetched: *fetched,
                    validators: v.clone(),
                }
            })
            .collect();
        let queue = self.urls[..urls_len]
            .iter()
            .zip(&is_done)
            .filter(|(_, d)| !**d)
            .map(|((u, d), _)| (u.to_string(), *d))
            .collect();
        CrawlState {
            v: CrawlState::VERSION,
            sitemaps_done: self.sitemaps_done_at.is_some_and(|at| at <= urls_len),
            done,
            queue,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    InFlight,
    Done,
}

#[derive(Debug, Default)]
struct Host {
    queue: VecDeque<u32>,
    active: usize,
    ready: bool,
}

/// What was queued next.
#[derive(Debug, Clone)]
pub struct Next {
    pub idx: u32,
    pub url: Url,
    pub depth: u16,
}

/// How a newly seen URL was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Queued,
    AlreadySeen,
}

/// The frontier, owned by the crawl's coordinator.
#[derive(Debug, Default)]
pub struct Frontier {
    journal: Arc<Mutex<Journal>>,
    seen: HashMap<Arc<str>, u32>,
    state: Vec<State>,
    hosts: HashMap<String, Host>,
    ready: VecDeque<String>,
    fetched: u64,
    queued: u64,
}

fn host_key(u: &Url) -> String {
    format!(
        "{}:{}",
        u.host_str().unwrap_or(""),
        u.port_or_known_default().unwrap_or(0)
    )
}

impl Frontier {
    /// A frontier restored from a checkpoint (done URLs stay seen, queued ones are queued
    /// again in their order).
    pub fn restore(s: CrawlState) -> Frontier {
        let mut f = Frontier::default();
        for d in s.done {
            let idx = f.push(&d.url, d.depth, State::Done);
            f.record_done(idx, d.fetched, d.validators);
        }
        if s.sitemaps_done {
            f.sitemaps_done();
        }
        for (u, depth) in s.queue {
            if let Ok(url) = Url::parse(&u) {
                f.add(&url, depth);
            }
        }
        f
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        // Held only for appends and for building a checkpoint; a poisoned lock means a
        // panic elsewhere, and the journal is still consistent (appends are single pushes).
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&mut self, url: &str, depth: u16, state: State) -> u32 {
        let idx = self.state.len() as u32;
        let key: Arc<str> = Arc::from(url);
        self.journal().urls.push((key.clone(), depth));
        self.seen.insert(key, idx);
        self.state.push(state);
        idx
    }

    fn record_done(&mut self, idx: u32, fetched: bool, validators: Validators) {
        self.state[idx as usize] = State::Done;
        if fetched {
            self.fetched += 1;
        }
        self.journal().done.push((idx, fetched, validators));
    }

    pub fn is_seen(&self, url: &Url) -> bool {
        self.seen.contains_key(url.as_str())
    }

    /// Queues `url` unless it was seen before.
    pub fn add(&mut self, url: &Url, depth: u16) -> Added {
        if self.is_seen(url) {
            return Added::AlreadySeen;
        }
        let idx = self.push(url.as_str(), depth, State::Queued);
        self.queued += 1;
        let key = host_key(url);
        let host = self.hosts.entry(key.clone()).or_default();
        host.queue.push_back(idx);
        if !host.ready {
            host.ready = true;
            self.ready.push_back(key);
        }
        Added::Queued
    }

    /// Records `url` as seen and handled without queueing it (out of scope, too deep).
    /// Returns false when it was seen already.
    pub fn add_done(&mut self, url: &Url, depth: u16) -> bool {
        if self.is_seen(url) {
            return false;
        }
        let idx = self.push(url.as_str(), depth, State::Done);
        self.record_done(idx, false, Validators::default());
        true
    }

    /// The index of a seen URL and whether it is still waiting in the queue.
    pub fn lookup(&self, url: &Url) -> Option<(u32, bool)> {
        let idx = *self.seen.get(url.as_str())?;
        Some((idx, self.state[idx as usize] == State::Queued))
    }

    /// Marks a queued or in-flight URL handled.
    pub fn mark_done(&mut self, idx: u32, fetched: bool, validators: Validators) {
        if self.state[idx as usize] == State::Queued {
            self.queued -= 1;
        }
        self.record_done(idx, fetched, validators);
    }

    pub fn sitemaps_done(&mut self) {
        let mut j = self.journal();
        let at = j.urls.len();
        j.sitemaps_done_at.get_or_insert(at);
    }

    pub fn is_sitemaps_done(&self) -> bool {
        self.journal().sitemaps_done_at.is_some()
    }

    /// Pages requested so far (restored ones included).
    pub fn fetched(&self) -> u64 {
        self.fetched
    }

    /// URLs waiting in the queue.
    pub fn queued(&self) -> u64 {
        self.queued
    }

    /// The next queued URL of a host with fewer than `per_host` requests in flight, taking
    /// hosts in turn.
    pub fn next(&mut self, per_host: usize) -> Option<Next> {
        for _ in 0..self.ready.len() {
            let key = self.ready.pop_front()?;
            let host = self.hosts.get_mut(&key).expect("a ready host has an entry");
            // Entries done while queued (a redirect reached them) are passed over.
            while host
                .queue
                .front()
                .is_some_and(|i| self.state[*i as usize] != State::Queued)
            {
                host.queue.pop_front();
            }
            if host.queue.is_empty() {
                host.ready = false;
                continue;
            }
            if host.active >= per_host {
                self.ready.push_back(key);
                continue;
            }
            let idx = host.queue.pop_front().expect("checked non-empty");
            host.active += 1;
            if host.queue.is_empty() {
                host.ready = false;
            } else {
                self.ready.push_back(key);
            }
            self.state[idx as usize] = State::InFlight;
            self.queued -= 1;
            let (url, depth) = {
                let j = self.journal();
                let (u, d) = &j.urls[idx as usize];
                (u.clone(), *d)
            };
            let url = Url::parse(&url).expect("queued URLs were parsed before");
            return Some(Next { idx, url, depth });
        }
        None
    }

    /// A request of `url`'s host finished.
    pub fn release(&mut self, url: &Url) {
        let key = host_key(url);
        if let Some(host) = self.hosts.get_mut(&key) {
            host.active = host.active.saturating_sub(1);
            if !host.ready && !host.queue.is_empty() {
                host.ready = true;
                self.ready.push_back(key);
            }
        }
    }

    /// The position now, built only when a commit asks for it.
    pub fn checkpoint(&self) -> Checkpoint {
        let (urls_len, done_len) = {
            let j = self.journal();
            (j.urls.len(), j.done.len())
        };
        let journal = self.journal.clone();
        Checkpoint::lazy(move || {
            let j = journal.lock().unwrap_or_else(|e| e.into_inner());
            serde_json::to_value(j.state(urls_len, done_len)).expect("crawl state serializes")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_checkpoint_is_the_state_as_of_when_it_was_taken() {
        let mut f = Frontier::default();
        f.add(&u("http://a.test/1"), 0);
        f.add(&u("http://a.test/2"), 0);
        let n = f.next(1).unwrap();
        f.add(&u("http://a.test/3"), 1);
        f.add_done(&u("http://b.test/out"), 1);
        f.mark_done(
            n.idx,
            true,
            Validators {
                etag: Some("\"e\"".into()),
                last_modified: None,
            },
        );
        f.release(&n.url);
        let cp = f.checkpoint();
        // Later progress does not change the earlier checkpoint.
        let m = f.next(1).unwrap();
        f.mark_done(m.idx, true, Validators::default());
        f.add(&u("http://a.test/4"), 2);
        let s = CrawlState::from_value(cp.to_value()).unwrap();
        let done: Vec<&str> = s.done.iter().map(|d| d.url.as_str()).collect();
        assert_eq!(done, ["http://b.test/out", "http://a.test/1"]);
        assert_eq!(s.done[1].validators.etag.as_deref(), Some("\"e\""));
        assert!(s.done[1].fetched && !s.done[0].fetched);
        assert_eq!(
            s.queue,
            [
                ("http://a.test/2".to_owned(), 0),
                ("http://a.test/3".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn restoring_keeps_the_seen_set_and_the_queue_order() {
        let mut f = Frontier::default();
        for i in 0..5 {
            f.add(&u(&format!("http://a.test/{i}")), 0);
        }
        let n = f.next(8).unwrap();
        f.mark_done(n.idx, true, Validators::default());
        let s = CrawlState::from_value(f.checkpoint().to_value()).unwrap();
        let mut g = Frontier::restore(s);
        assert_eq!(g.fetched(), 1);
        assert_eq!(g.queued(), 4);
        assert_eq!(g.add(&u("http://a.test/0"), 0), Added::AlreadySeen);
        let order: Vec<String> = std::iter::from_fn(|| g.next(8))
            .map(|n| n.url.to_string())
            .collect();
        assert_eq!(
            order,
            [
                "http://a.test/1",
                "http://a.test/2",
                "http://a.test/3",
                "http://a.test/4"
            ]
        );
    }

    #[test]
    fn hosts_take_turns_and_per_host_limits_hold() {
        let mut f = Frontier::default();
        for i in 0..3 {
            f.add(&u(&format!("http://a.test/{i}")), 0);
        }
        f.add(&u("http://b.test/0"), 0);
        let first = f.next(1).unwrap();
        let second = f.next(1).unwrap();
        assert_eq!(first.url.host_str(), Some("a.test"));
        assert_eq!(second.url.host_str(), Some("b.test"));
        assert!(
            f.next(1).is_none(),
            "a.test is at its limit, b.test is empty"
        );
        f.release(&first.url);
        assert_eq!(f.next(1).unwrap().url.as_str(), "http://a.test/1");
    }

    #[test]
    fn a_queued_url_done_early_is_not_handed_out() {
        let mut f = Frontier::default();
        f.add(&u("http://a.test/0"), 0);
        f.add(&u("http://a.test/1"), 0);
        let (idx, queued) = f.lookup(&u("http://a.test/1")).unwrap();
        assert!(queued);
        f.mark_done(idx, true, Validators::default());
        assert_eq!(f.next(4).unwrap().url.as_str(), "http://a.test/0");
        assert!(f.next(4).is_none());
        assert_eq!(f.queued(), 0);
    }

    #[test]
    fn an_unknown_checkpoint_version_is_refused() {
        let v = serde_json::json!({"v": 99, "sitemaps_done": false, "done": [], "queue": []});
        assert!(
            CrawlState::from_value(v)
                .unwrap_err()
                .contains("version 99")
        );
        assert!(CrawlState::from_value(serde_json::json!({"line": 3})).is_err());
    }
}

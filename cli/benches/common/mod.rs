//! The corpus generator shared by the benchmarks, and measuring a child's peak memory.

#![allow(dead_code)]
#![allow(unsafe_code)]

/// A deterministic generator of English-like documents (xorshift over a word list), so every
/// document is distinct and compresses like text.
pub struct Corpus {
    state: u64,
}

const WORDS: &[&str] = &[
    "data",
    "runtime",
    "table",
    "index",
    "search",
    "query",
    "record",
    "stream",
    "batch",
    "commit",
    "parquet",
    "delta",
    "log",
    "merkle",
    "proof",
    "crawler",
    "page",
    "robots",
    "consent",
    "licence",
    "quality",
    "score",
    "token",
    "model",
    "training",
    "contributor",
    "validator",
    "reward",
    "stake",
    "epoch",
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "with",
    "as",
    "on",
    "by",
    "this",
    "from",
    "it",
    "are",
    "be",
    "or",
    "an",
    "which",
    "when",
    "each",
    "every",
    "new",
    "old",
    "fast",
    "slow",
    "large",
    "small",
];

impl Corpus {
    pub fn new() -> Self {
        Corpus {
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    pub fn doc(&mut self, i: usize, target: usize) -> String {
        let mut s = format!("Document {i}. ");
        while s.len() < target {
            let w = WORDS[(self.next() % WORDS.len() as u64) as usize];
            s.push_str(w);
            s.push(if self.next().is_multiple_of(12) {
                '.'
            } else {
                ' '
            });
        }
        s
    }
}

/// Runs a command to completion and returns its own peak RSS in KiB.
pub fn run_measured(cmd: &mut std::process::Command) -> i64 {
    run_rusage(cmd).rss_kib
}

/// What a finished child used.
pub struct Usage {
    pub rss_kib: i64,
    /// User plus system CPU time.
    pub cpu_secs: f64,
}

/// Runs a command to completion and returns its own peak RSS and CPU time.
///
/// The peak is the child's `VmHWM`, read from `/proc` every 2 ms while it runs: `wait4`'s
/// `ru_maxrss` is no measure of a child's own memory on Linux, since exec folds the peak
/// of the address space it replaces into it, and a spawned child replaces (or copies) the
/// parent's: `/bin/true` spawned from a 300 MB process "peaks" at 300 MB. The polled peak
/// misses at most the last 2 ms of growth; `ru_maxrss` is the fallback where `/proc` is
/// not readable.
#[allow(clippy::zombie_processes)] // reaped by wait4 below, not by Child::wait
pub fn run_rusage(cmd: &mut std::process::Command) -> Usage {
    let child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    // spawn returns once the child has exec'ed, so from here its status is its own.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let done = done.clone();
        std::thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            let mut peak = 0i64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(kib) = std::fs::read_to_string(&path).ok().and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
                }) {
                    peak = peak.max(kib);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            peak
        })
    };
    // SAFETY: wait4 reaps exactly our child and writes only into the plain-data structs we
    // pass; std's Child is not waited on afterwards.
    let (status, rss) = unsafe {
        let mut status = 0;
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut u), pid);
        (status, u)
    };
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let polled = poller.join().unwrap_or(0);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "masa failed"
    );
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Usage {
        rss_kib: if polled > 0 { polled } else { rss.ru_maxrss },
        cpu_secs: secs(rss.ru_utime) + secs(rss.ru_stime),
    }
}

//! A labeled near-duplicate set built from real pages (the PostgreSQL manual as Debian packages
//! it; `scripts/fetch-debian-docs` downloads it), shared by the evaluation test and the
//! benchmark.
//!
//! Originals are pages whose text shares little with every other original (exact Jaccard of
//! word 5-gram sets below 0.3, computed here independently of masa's MinHash). Each original
//! gets up to three variants made with the edits that copies show in the wild: words
//! replaced (1–10 %), paragraphs reordered, boilerplate added, the end cut off, and a mix.
//! An original and its variants form one cluster; the set is shuffled, so a variant may come
//! before its original.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::Path;

/// xorshift64*: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

#[derive(Debug, Clone)]
pub struct LabeledDoc {
    pub id: String,
    pub cluster: usize,
    /// `original`, or the edit that made this variant.
    pub edit: &'static str,
    pub text: String,
}

#[derive(Debug)]
pub struct NearSet {
    pub docs: Vec<LabeledDoc>,
    pub clusters: usize,
}

/// Lowercase alphanumeric words: the reference tokenization for the originals filter.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn shingles(text: &str) -> HashSet<u64> {
    use std::hash::{Hash, Hasher};
    let w = words(text);
    w.windows(5)
        .map(|win| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            win.hash(&mut h);
            h.finish()
        })
        .collect()
}

/// Page texts of `dir` (`*.html`, extracted by masa's extractor), in file-name order, that
/// have at least `min_words` words and share less than `max_jaccard` of their word 5-grams
/// with every page kept before them.
pub fn distinct_pages(dir: &Path, min_words: usize, max_jaccard: f64, limit: usize) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .collect();
    files.sort();
    let mut kept: Vec<String> = Vec::new();
    let mut sizes: Vec<usize> = Vec::new();
    // Inverted index shingle → kept pages: overlaps are counted without comparing all pairs.
    let mut postings: HashMap<u64, Vec<u32>> = HashMap::new();
    for f in files {
        if kept.len() >= limit {
            break;
        }
        let html = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        let text = masa_ingest::extract_html(&html).text;
        if words(&text).len() < min_words {
            continue;
        }
        let sh = shingles(&text);
        let mut shared: HashMap<u32, usize> = HashMap::new();
        for s in &sh {
            for d in postings.get(s).into_iter().flatten() {
                *shared.entry(*d).or_default() += 1;
            }
        }
        let too_close = shared.iter().any(|(d, n)| {
            let union = sh.len() + sizes[*d as usize] - n;
            *n as f64 / union as f64 >= max_jaccard
        });
        if too_close {
            continue;
        }
        let id = kept.len() as u32;
        for s in sh.iter() {
            postings.entry(*s).or_default().push(id);
        }
        sizes.push(sh.len());
        kept.push(text);
    }
    kept
}

const BOILERPLATE_TOP: &str = "Skip to main content. Home | Products | Documentation | Blog | \
Contact us. We use cookies to improve your experience; by continuing you agree to our cookie \
policy.";
const BOILERPLATE_BOTTOM: &str = "Was this page helpful? Share it with your team. Copyright \
2026 Example Docs Mirror. All rights reserved. Privacy policy | Terms of use | Sitemap.";

fn replace_words(text: &str, rate: f64, vocab: &[String], rng: &mut Rng) -> String {
    // Keep the line structure; replace whole words at the given rate.
    text.split(' ')
        .map(|w| {
            if !w.trim().is_empty() && rng.chance(rate) {
                vocab[rng.below(vocab.len())].clone()
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn paragraphs(text: &str) -> Vec<String> {
    let paras: Vec<String> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if paras.len() >= 3 {
        return paras;
    }
    // One long block: cut it into runs of 60 words.
    let w: Vec<&str> = text.split_whitespace().collect();
    w.chunks(60).map(|c| c.join(" ")).collect()
}

fn reorder(text: &str, rng: &mut Rng) -> String {
    let mut p = paragraphs(text);
    for i in (1..p.len()).rev() {
        p.swap(i, rng.below(i + 1));
    }
    p.join("\n\n")
}

fn truncate(text: &str, keep: f64) -> String {
    let w: Vec<&str> = text.split(' ').collect();
    w[..((w.len() as f64 * keep) as usize).max(1)].join(" ")
}

/// Makes a variant of `text`; returns the edit's name and the text.
fn variant(text: &str, vocab: &[String], rng: &mut Rng) -> (&'static str, String) {
    match rng.below(9) {
        0 => ("words-1%", replace_words(text, 0.01, vocab, rng)),
        1 => ("words-3%", replace_words(text, 0.03, vocab, rng)),
        2 => ("words-5%", replace_words(text, 0.05, vocab, rng)),
        3 => ("words-10%", replace_words(text, 0.10, vocab, rng)),
        4 => ("reorder", reorder(text, rng)),
        5 => (
            "boilerplate",
            format!("{BOILERPLATE_TOP}\n\n{text}\n\n{BOILERPLATE_BOTTOM}"),
        ),
        6 => ("truncate-90%", truncate(text, 0.9)),
        7 => ("truncate-70%", truncate(text, 0.7)),
        _ => (
            "words-2%+boilerplate",
            format!(
                "{BOILERPLATE_TOP}\n\n{}\n\n{BOILERPLATE_BOTTOM}",
                replace_words(text, 0.02, vocab, rng)
            ),
        ),
    }
}

/// Builds the set: every original, up to three variants each (none for about a third of
/// them, which stay unique documents), shuffled by `seed`.
pub fn build(originals: &[String], seed: u64) -> NearSet {
    let mut rng = Rng::new(seed);
    let vocab: Vec<String> = {
        let mut v: Vec<String> = originals
            .iter()
            .flat_map(|t| words(t))
            .filter(|w| w.len() > 3)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        v.sort();
        v
    };
    let mut docs = Vec::new();
    for (c, text) in originals.iter().enumerate() {
        docs.push(LabeledDoc {
            id: format!("c{c}-original"),
            cluster: c,
            edit: "original",
            text: text.clone(),
        });
        let n = [0, 0, 1, 1, 2, 3][rng.below(6)];
        for v in 0..n {
            let (edit, text) = variant(text, &vocab, &mut rng);
            docs.push(LabeledDoc {
                id: format!("c{c}-v{v}"),
                cluster: c,
                edit,
                text,
            });
        }
    }
    for i in (1..docs.len()).rev() {
        docs.swap(i, rng.below(i + 1));
    }
    NearSet {
        docs,
        clusters: originals.len(),
    }
}

/// How well a dedup kept one document per cluster.
#[derive(Debug, Clone, Copy)]
pub struct Scores {
    pub removed: usize,
    pub true_removals: usize,
    pub false_removals: usize,
    pub missed: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Documents of clusters of one (no variants) that were removed: unique texts lost.
    pub unique_lost: usize,
}

/// Scores the documents a dedup kept (by id). In a cluster of `n` with `k ≥ 1` kept, the
/// `n - k` removals are right and `k - 1` copies were missed; with none kept, one removal
/// was wrong (the cluster's text is lost) and `n - 1` were right.
pub fn score(set: &NearSet, kept: &HashSet<String>) -> Scores {
    let mut size = vec![0usize; set.clusters];
    let mut kept_n = vec![0usize; set.clusters];
    for d in &set.docs {
        size[d.cluster] += 1;
        if kept.contains(&d.id) {
            kept_n[d.cluster] += 1;
        }
    }
    let (mut tp, mut fp, mut missed, mut unique_lost) = (0, 0, 0, 0);
    for c in 0..set.clusters {
        if kept_n[c] == 0 {
            tp += size[c] - 1;
            fp += 1;
            if size[c] == 1 {
                unique_lost += 1;
            }
        } else {
            tp += size[c] - kept_n[c];
            missed += kept_n[c] - 1;
        }
    }
    let removed = tp + fp;
    let precision = if removed == 0 {
        1.0
    } else {
        tp as f64 / removed as f64
    };
    let recall = if tp + missed == 0 {
        1.0
    } else {
        tp as f64 / (tp + missed) as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Scores {
        removed,
        true_removals: tp,
        false_removals: fp,
        missed,
        precision,
        recall,
        f1,
        unique_lost,
    }
}

/// Writes the set as JSON lines `{"id", "cluster", "edit", "text"}`.
pub fn write_jsonl(set: &NearSet, path: &Path) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for d in &set.docs {
        let line =
            serde_json::json!({"id": d.id, "cluster": d.cluster, "edit": d.edit, "text": d.text});
        writeln!(f, "{line}").unwrap();
    }
    f.flush().unwrap();
}

/// Per edit: (variants caught, variants). A variant is caught when it and its original were
/// not both kept (whichever of the two came first stays).
pub fn caught_by_edit(
    set: &NearSet,
    kept: &HashSet<String>,
) -> std::collections::BTreeMap<&'static str, (usize, usize)> {
    let original_kept: HashSet<usize> = set
        .docs
        .iter()
        .filter(|d| d.edit == "original" && kept.contains(&d.id))
        .map(|d| d.cluster)
        .collect();
    let mut out = std::collections::BTreeMap::new();
    for d in set.docs.iter().filter(|d| d.edit != "original") {
        let e: &mut (usize, usize) = out.entry(d.edit).or_default();
        e.1 += 1;
        if !(kept.contains(&d.id) && original_kept.contains(&d.cluster)) {
            e.0 += 1;
        }
    }
    out
}

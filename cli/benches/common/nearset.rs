//! A labeled near-duplicate set built from real pages (the PostgreSQL manual as Debian packages
//! it; `scripts/fetch-debian-docs` downloads it), shared by the evaluation test and the
//! benchmark.
//!
//! Originals are pages whose text shares little with every other original (less than a
//! fifth of either's word 5-grams, counted exactly here, independently of masa's MinHash).
//! Some are made harder to tell apart on purpose: wrapped in one site template, or quoting
//! a long passage of another. Each original gets up to three variants made with the edits
//! that copies show in the wild (see [`variant`]). An original and its variants form one
//! cluster; the set is shuffled, so a variant may come before its original.

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
    /// `original` (or `original (templated)`, `original (quoting)`), or the edits that made
    /// this variant, in order (`sub-7%+trunc-85%`).
    pub edit: String,
    pub text: String,
}

#[derive(Debug)]
pub struct NearSet {
    pub docs: Vec<LabeledDoc>,
    pub clusters: usize,
}

/// Han and kana: scripts written without spaces, where a character is the unit of edits
/// and of the reference tokenization.
pub fn unspaced(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF)
}

/// Lowercase alphanumeric words, each Han or kana character a word of its own: the
/// reference tokenization for the originals filter.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut run = String::new();
        for c in w.chars() {
            if unspaced(c) {
                if !run.is_empty() {
                    out.push(std::mem::take(&mut run).to_lowercase());
                }
                out.push(c.to_string());
            } else {
                run.push(c);
            }
        }
        if !run.is_empty() {
            out.push(run.to_lowercase());
        }
    }
    out
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

/// The `*.html` files of `dir`, in file-name order.
pub fn html_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .collect();
    files.sort();
    files
}

/// Page texts of `dir` (`*.html`, extracted by masa's extractor), in file-name order, that
/// have at least `min_words` words and share less than `max_share` of their word 5-grams
/// with every page kept before them, in either direction (the shared 5-grams over the
/// smaller of the two sets: a page half made of another's text is not distinct from it).
pub fn distinct_pages(dir: &Path, min_words: usize, max_share: f64, limit: usize) -> Vec<String> {
    distinct_texts(&html_files(dir), min_words, max_share, limit)
}

/// [`distinct_pages`] over a list of files.
pub fn distinct_texts(
    files: &[std::path::PathBuf],
    min_words: usize,
    max_share: f64,
    limit: usize,
) -> Vec<String> {
    let texts = files.iter().map(|f| {
        let html = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        masa_ingest::extract_html(&html).text
    });
    distinct(texts, min_words, max_share, limit)
}

/// [`distinct_pages`] over texts.
pub fn distinct(
    texts: impl Iterator<Item = String>,
    min_words: usize,
    max_share: f64,
    limit: usize,
) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    let mut sizes: Vec<usize> = Vec::new();
    // Inverted index shingle → kept pages: overlaps are counted without comparing all pairs.
    let mut postings: HashMap<u64, Vec<u32>> = HashMap::new();
    for text in texts {
        if kept.len() >= limit {
            break;
        }
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
            let smaller = sh.len().min(sizes[*d as usize]).max(1);
            *n as f64 / smaller as f64 >= max_share
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

/// Site chrome that copiers add above or below a text: several, so that no single string
/// is learned.
const HEADERS: &[&str] = &[
    "Skip to main content. Home | Products | Documentation | Blog | Contact us. We use \
cookies to improve your experience; by continuing you agree to our cookie policy.",
    "Mirror of the official documentation, updated nightly. Search this site. Sign in or \
create an account to save pages to your reading list.",
    "Posted by admin in Tutorials, Databases. Reading time: 6 minutes. Share on social \
media: Facebook Twitter LinkedIn Email.",
];
const FOOTERS: &[&str] = &[
    "Was this page helpful? Share it with your team. Copyright 2026 Example Docs Mirror. \
All rights reserved. Privacy policy | Terms of use | Sitemap.",
    "Related articles: getting started, installation guide, frequently asked questions. \
Subscribe to our newsletter for weekly tips and never miss an update.",
    "Leave a comment below. Your email address will not be published. Required fields are \
marked. Back to top.",
];

/// A site template that *distinct* pages share (navigation above, a long footer below):
/// documents wrapped in it are still different documents and must all be kept.
const TEMPLATE_TOP: &str = "Northwind Data Academy. Courses | Workshops | Certification | \
Community forum | Job board | About the academy. You are reading a lesson from our \
database administration track, written by volunteers and reviewed by the editorial team. \
Lessons are free to read; exercises and certificates need a free account.";
const TEMPLATE_BOTTOM: &str = "About this lesson: the academy publishes lessons under a \
Creative Commons licence; you may share and adapt them with attribution. Found a mistake? \
Open a ticket on the community forum and the editorial team will review it within a week. \
Next steps: take the quiz for this lesson, join the study group that meets on Thursdays, \
or browse the full catalogue of courses for beginners and experts alike.";

fn words_of(text: &str) -> Vec<&str> {
    text.split(' ').collect()
}

/// Words, and the characters other texts draw from in edits.
pub struct Vocab {
    words: Vec<String>,
    chars: Vec<char>,
}

/// Each word (each Han or kana character, in those scripts) is replaced (`sub`), followed
/// by an inserted one (`ins`) or dropped (`del`) with probability `rate`.
fn edit_words(text: &str, kind: &str, rate: f64, vocab: &Vocab, rng: &mut Rng) -> String {
    let mut out: Vec<String> = Vec::new();
    for w in words_of(text) {
        if w.chars().any(unspaced) && !vocab.chars.is_empty() {
            let mut e = String::new();
            for c in w.chars() {
                if !unspaced(c) || !rng.chance(rate) {
                    e.push(c);
                    continue;
                }
                let other = vocab.chars[rng.below(vocab.chars.len())];
                match kind {
                    "sub" => e.push(other),
                    "ins" => {
                        e.push(c);
                        e.push(other);
                    }
                    _ => {}
                }
            }
            out.push(e);
            continue;
        }
        if w.trim().is_empty() || !rng.chance(rate) {
            out.push(w.to_owned());
            continue;
        }
        let other = vocab.words[rng.below(vocab.words.len())].clone();
        match kind {
            "sub" => out.push(other),
            "ins" => {
                out.push(w.to_owned());
                out.push(other);
            }
            _ => {}
        }
    }
    out.join(" ")
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
    let w = words_of(text);
    w[..((w.len() as f64 * keep) as usize).max(1)].join(" ")
}

/// Whitespace doubled or turned into newlines, and some words upper- or title-cased.
fn respace_and_recase(text: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for w in words_of(text) {
        let w = match rng.below(20) {
            0 => w.to_uppercase(),
            1 => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
            _ => w.to_owned(),
        };
        out.push_str(&w);
        out.push_str(match rng.below(12) {
            0 => "  ",
            1 => "\n",
            _ => " ",
        });
    }
    out
}

/// A rate drawn uniformly over 1–10 %.
fn rate(rng: &mut Rng) -> f64 {
    0.01 + 0.09 * rng.below(1001) as f64 / 1000.0
}

/// One edit applied to `text`; returns its short name.
fn one_edit(text: &str, vocab: &Vocab, rng: &mut Rng) -> (String, String) {
    match rng.below(9) {
        k @ 0..=2 => {
            let kind = ["sub", "ins", "del"][k];
            let r = rate(rng);
            let name = format!("{kind}-{:.0}%", (r * 100.0).ceil());
            (name, edit_words(text, kind, r, vocab, rng))
        }
        3 => ("reorder".into(), reorder(text, rng)),
        4 => ("respace".into(), respace_and_recase(text, rng)),
        5 => {
            let keep = 0.80 + 0.15 * rng.below(101) as f64 / 100.0;
            (
                format!("trunc-{:.0}%", (keep * 100.0).floor()),
                truncate(text, keep),
            )
        }
        6 => (
            "header".into(),
            format!("{}\n\n{text}", HEADERS[rng.below(HEADERS.len())]),
        ),
        7 => (
            "footer".into(),
            format!("{text}\n\n{}", FOOTERS[rng.below(FOOTERS.len())]),
        ),
        _ => (
            "header-and-footer".into(),
            format!(
                "{}\n\n{text}\n\n{}",
                HEADERS[rng.below(HEADERS.len())],
                FOOTERS[rng.below(FOOTERS.len())]
            ),
        ),
    }
}

/// Makes a variant of `text`: an exact copy, or one to three edits applied in turn (a
/// mixture), of which at most one changes words (at a rate drawn over 1–10 %): the others
/// reorder, respace, cut, or add boilerplate. The name lists the edits in order.
fn variant(text: &str, vocab: &Vocab, rng: &mut Rng) -> (String, String) {
    if rng.below(12) == 0 {
        return ("exact".into(), text.to_owned());
    }
    let n = [1, 1, 2, 3][rng.below(4)];
    let word_edit = |n: &str| ["sub-", "ins-", "del-"].iter().any(|k| n.starts_with(k));
    let mut names: Vec<String> = Vec::new();
    let mut t = text.to_owned();
    while names.len() < n {
        let (name, next) = one_edit(&t, vocab, rng);
        if word_edit(&name) && names.iter().any(|n| word_edit(n)) {
            continue;
        }
        names.push(name);
        t = next;
    }
    (names.join("+"), t)
}

/// The report group of a variant's name: its edit kinds without rates, and for single
/// word edits the rate band (`sub-1–5%`, `sub-6–10%`).
pub fn edit_kind(name: &str) -> String {
    let parts: Vec<&str> = name.split('+').collect();
    if parts.len() > 1 {
        return format!("mixture of {}", parts.len());
    }
    match name.split_once('-') {
        Some((k, r)) if ["sub", "ins", "del"].contains(&k) => {
            let pct: u32 = r.trim_end_matches('%').parse().unwrap_or(0);
            format!("{k}-{}", if pct <= 5 { "1–5%" } else { "6–10%" })
        }
        Some(("trunc", _)) => "truncate 80–95%".into(),
        _ => name.to_owned(),
    }
}

/// Builds the set from distinct `originals`:
/// - every original, with up to three variants (none for about a third of them, which stay
///   unique documents);
/// - about one original in eight (of those of 300 words or more) wrapped in a site template
///   shared by all of those (a distinct page of the same site, to keep);
/// - about one original in ten quoting a long passage (15–30 % of its own length, at most
///   40 % of the source) of another original (a distinct document, to keep);
///
/// all shuffled by `seed`, so a variant may come before its original.
pub fn build(originals: &[String], seed: u64) -> NearSet {
    let mut rng = Rng::new(seed);
    let vocab = {
        let mut words: Vec<String> = originals
            .iter()
            .flat_map(|t| words(t))
            .filter(|w| w.len() > 3 && !w.chars().any(unspaced))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        words.sort();
        let mut chars: Vec<char> = originals
            .iter()
            .flat_map(|t| t.chars().filter(|c| unspaced(*c)))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        chars.sort();
        Vocab { words, chars }
    };
    let mut docs = Vec::new();
    for (c, text) in originals.iter().enumerate() {
        let mut text = text.clone();
        let mut kind = "original";
        // The template is about 125 words: on pages of 300 words or more it is at most
        // about 30 % of the page, as a site's chrome left after extraction would be.
        if rng.below(8) == 0 && words(&text).len() >= 300 {
            text = format!("{TEMPLATE_TOP}\n\n{text}\n\n{TEMPLATE_BOTTOM}");
            kind = "original (templated)";
        } else if rng.below(9) == 0 && originals.len() > 1 {
            let src =
                words_of(&originals[(c + 1 + rng.below(originals.len() - 1)) % originals.len()]);
            let own = words_of(&text);
            let share = 0.15 + 0.15 * rng.below(101) as f64 / 100.0;
            let len = ((own.len() as f64 * share) as usize)
                .min(src.len() * 2 / 5)
                .max(1);
            let from = rng.below(src.len() - len + 1);
            let at = rng.below(own.len());
            text = format!(
                "{}\n\n“{}”\n\n{}",
                own[..at].join(" "),
                src[from..from + len].join(" "),
                own[at..].join(" ")
            );
            kind = "original (quoting)";
        }
        docs.push(LabeledDoc {
            id: format!("c{c}-original"),
            cluster: c,
            edit: kind.into(),
            text: text.clone(),
        });
        let n = [0, 0, 1, 1, 2, 3][rng.below(6)];
        for v in 0..n {
            let (edit, text) = variant(&text, &vocab, &mut rng);
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

/// Per edit kind ([`edit_kind`]): (variants caught, variants). A variant is caught when it
/// and its original were not both kept (whichever of the two came first stays).
pub fn caught_by_edit(
    set: &NearSet,
    kept: &HashSet<String>,
) -> std::collections::BTreeMap<String, (usize, usize)> {
    let original_kept: HashSet<usize> = set
        .docs
        .iter()
        .filter(|d| d.edit.starts_with("original") && kept.contains(&d.id))
        .map(|d| d.cluster)
        .collect();
    let mut out = std::collections::BTreeMap::new();
    for d in set.docs.iter().filter(|d| !d.edit.starts_with("original")) {
        let e: &mut (usize, usize) = out.entry(edit_kind(&d.edit)).or_default();
        e.1 += 1;
        if !(kept.contains(&d.id) && original_kept.contains(&d.cluster)) {
            e.0 += 1;
        }
    }
    out
}

//! Quality signals and a keep/drop decision, after the published heuristics: Gopher's
//! quality and repetition rules (Rae et al., 2021), C4's document rules (Raffel et al., 2020)
//! and FineWeb's line rules (Penedo et al., 2024). Signals are stored with every record
//! (`quality_signals`, JSON), with a score in [0, 1] and the first rule a text fails.
//!
//! The score is the share of rules passed, each rule weighted equally; a text that passes
//! all of them scores 1. It orders texts for `masa dedup --keep quality` and for rewards;
//! the keep/drop decision is the rules themselves.

use std::collections::{HashMap, HashSet};

/// Thresholds, defaulting to the published values; a workflow file may set any of them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityThresholds {
    pub min_words: usize,
    pub max_words: usize,
    pub min_mean_word_len: f64,
    pub max_mean_word_len: f64,
    pub max_symbol_word_ratio: f64,
    pub max_bullet_line_ratio: f64,
    pub max_ellipsis_line_ratio: f64,
    pub min_alpha_word_ratio: f64,
    pub min_stop_words: usize,
    pub max_dup_line_ratio: f64,
    pub max_dup_para_ratio: f64,
    pub max_dup_line_char_ratio: f64,
    pub max_dup_para_char_ratio: f64,
    /// Top 2-, 3- and 4-gram character fractions.
    pub max_top_ngram_char_ratio: [f64; 3],
    /// Duplicate 5- to 10-gram character fractions.
    pub max_dup_ngram_char_ratio: [f64; 6],
    pub min_terminal_punct_line_ratio: f64,
    pub max_short_line_ratio: f64,
    pub max_newline_word_ratio: f64,
    pub min_sentences: usize,
}

impl Default for QualityThresholds {
    fn default() -> Self {
        QualityThresholds {
            min_words: 50,
            max_words: 100_000,
            min_mean_word_len: 3.0,
            max_mean_word_len: 10.0,
            max_symbol_word_ratio: 0.1,
            max_bullet_line_ratio: 0.9,
            max_ellipsis_line_ratio: 0.3,
            min_alpha_word_ratio: 0.8,
            min_stop_words: 2,
            max_dup_line_ratio: 0.3,
            max_dup_para_ratio: 0.3,
            max_dup_line_char_ratio: 0.2,
            max_dup_para_char_ratio: 0.2,
            max_top_ngram_char_ratio: [0.20, 0.18, 0.16],
            max_dup_ngram_char_ratio: [0.15, 0.14, 0.13, 0.12, 0.11, 0.10],
            min_terminal_punct_line_ratio: 0.12,
            max_short_line_ratio: 0.67,
            max_newline_word_ratio: 0.3,
            min_sentences: 3,
        }
    }
}

/// How quality applies to a run: thresholds (per language where the published English
/// defaults do not fit) and whether failing texts are dropped or only scored.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityConfig {
    /// Drop texts that fail a rule (counted as `quality:<rule>`); otherwise score only.
    #[serde(default)]
    pub drop: bool,
    #[serde(default)]
    pub thresholds: QualityThresholds,
    /// Thresholds for texts identified as one language (ISO 639-3 code, e.g. `jpn`).
    #[serde(default)]
    pub languages: std::collections::BTreeMap<String, QualityThresholds>,
    /// Keep dropped records (quality and duplicates) in the dataset's rejects folder.
    #[serde(default)]
    pub keep_rejects: bool,
}

/// Languages written without spaces between words, where word-based rules do not apply.
const UNSPACED: [&str; 5] = ["cmn", "jpn", "tha", "khm", "mya"];

impl QualityConfig {
    /// The thresholds for a text in `lang` (ISO 639-3): the language's own entry when the
    /// configuration has one; otherwise the general thresholds, with the stop-word rule
    /// (an English word list) only for English, and the word-count and word-length rules
    /// off for languages written without spaces.
    pub fn thresholds(&self, lang: Option<&str>) -> std::borrow::Cow<'_, QualityThresholds> {
        use std::borrow::Cow;
        if let Some(t) = lang.and_then(|l| self.languages.get(l)) {
            return Cow::Borrowed(t);
        }
        match lang {
            None | Some("eng") => Cow::Borrowed(&self.thresholds),
            Some(l) => {
                let mut t = self.thresholds.clone();
                t.min_stop_words = 0;
                if UNSPACED.contains(&l) {
                    t.min_words = 0;
                    t.min_mean_word_len = 0.0;
                    t.max_mean_word_len = f64::INFINITY;
                }
                Cow::Owned(t)
            }
        }
    }
}

/// The measured signals of one text, named as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QualitySignals {
    pub words: usize,
    pub mean_word_len: f64,
    pub symbol_word_ratio: f64,
    pub bullet_line_ratio: f64,
    pub ellipsis_line_ratio: f64,
    pub alpha_word_ratio: f64,
    pub stop_words: usize,
    pub dup_line_ratio: f64,
    pub dup_para_ratio: f64,
    pub dup_line_char_ratio: f64,
    pub dup_para_char_ratio: f64,
    pub top_ngram_char_ratio: [f64; 3],
    pub dup_ngram_char_ratio: [f64; 6],
    pub terminal_punct_line_ratio: f64,
    pub short_line_ratio: f64,
    pub newline_word_ratio: f64,
    pub sentences: usize,
    pub lorem_ipsum: bool,
    pub curly_brace: bool,
    pub javascript_lines: usize,
    pub policy_lines: usize,
}

/// A text's quality: its signals, a score, and the first rule it fails (`None`: keep).
#[derive(Debug, Clone, PartialEq)]
pub struct Quality {
    pub signals: QualitySignals,
    pub score: f64,
    pub failed: Option<&'static str>,
}

const STOP_WORDS: [&str; 8] = ["the", "be", "to", "of", "and", "that", "have", "with"];
const POLICY: [&str; 6] = [
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Fraction of items (and of their characters) that repeat an earlier item.
fn duplicates<'a>(items: impl Iterator<Item = &'a str>) -> (f64, f64) {
    let mut seen = HashSet::new();
    let (mut n, mut dup, mut chars, mut dup_chars) = (0, 0, 0, 0);
    for it in items {
        n += 1;
        chars += it.len();
        if !seen.insert(it) {
            dup += 1;
            dup_chars += it.len();
        }
    }
    (ratio(dup, n), ratio(dup_chars, chars))
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type PrehashedBuild = std::hash::BuildHasherDefault<Prehashed>;

/// One more word hash mixed into an n-gram's key: the key of `hashes[i..i + n]` is the
/// seed with each of them mixed in, in order, so the (n+1)-gram's key extends the n-gram's.
fn mix(key: u64, h: u64) -> u64 {
    (key ^ h)
        .wrapping_mul(0xbf58_476d_1ce4_e5b9)
        .rotate_left(31)
}

const GRAM_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Gopher's n-gram signals over lowercased words (given as hashes and character lengths):
/// the character share of the most frequent n-gram (n = 2..4; ties go to the longer), and
/// of all words covered by n-grams seen before (n = 5..10). The keys of the n-grams at each
/// position are extended by one word per n, and so are their lengths.
fn ngram_signals(hashes: &[u64], lens: &[usize]) -> ([f64; 3], [f64; 6]) {
    let total: usize = lens.iter().sum();
    let mut top = [0.0; 3];
    let mut dup = [0.0; 6];
    // keys[i] and chars[i]: the key and length of the n-gram starting at i, for the n at hand.
    let mut keys: Vec<u64> = hashes.iter().map(|&h| mix(GRAM_SEED, h)).collect();
    let mut chars: Vec<usize> = lens.to_vec();
    let mut counts: HashMap<u64, (usize, usize), PrehashedBuild> =
        HashMap::with_capacity_and_hasher(hashes.len(), PrehashedBuild::default());
    let mut seen: HashSet<u64, PrehashedBuild> =
        HashSet::with_capacity_and_hasher(hashes.len(), PrehashedBuild::default());
    let mut covered = vec![false; hashes.len()];
    let (mut top_done, mut dup_done) = (false, false);
    for n in 2..=10usize {
        if hashes.len() < n || (top_done && dup_done) {
            break;
        }
        let grams = hashes.len() - n + 1;
        for i in 0..grams {
            keys[i] = mix(keys[i], hashes[i + n - 1]);
            chars[i] += lens[i + n - 1];
        }
        keys.truncate(grams);
        chars.truncate(grams);
        if n <= 4 {
            if top_done {
                continue;
            }
            counts.clear();
            for i in 0..grams {
                let e = counts.entry(keys[i]).or_insert((0, 0));
                e.0 += 1;
                e.1 = chars[i];
            }
            match counts.values().max() {
                Some(&(count, len)) if count > 1 => top[n - 2] = ratio(len * count, total),
                // No n-gram repeats, so no longer one does either.
                _ => top_done = true,
            }
            continue;
        }
        if dup_done {
            continue;
        }
        seen.clear();
        covered.iter_mut().for_each(|c| *c = false);
        let mut any = false;
        for i in 0..grams {
            if !seen.insert(keys[i]) {
                covered[i..i + n].iter_mut().for_each(|c| *c = true);
                any = true;
            }
        }
        if !any {
            // No n-gram is repeated, so no longer one is either: the rest stay 0.
            dup_done = true;
            continue;
        }
        let dup_chars: usize = lens
            .iter()
            .zip(&covered)
            .filter(|(_, c)| **c)
            .map(|(l, _)| l)
            .sum();
        dup[n - 5] = ratio(dup_chars, total);
    }
    (top, dup)
}

/// The phrases looked for in lines: `lorem ipsum` (pattern 0), `javascript` (1), and the
/// policy phrases (the rest).
static PHRASES: std::sync::LazyLock<aho_corasick::AhoCorasick> = std::sync::LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(["lorem ipsum", "javascript"].iter().chain(POLICY.iter()))
        .expect("phrases build an automaton")
});

/// Whether the text holds "lorem ipsum", and how many of its lines name JavaScript and how
/// many a policy (terms of use, cookies), in any case.
fn phrase_lines(text: &str) -> (bool, usize, usize) {
    let (mut lorem, mut js, mut policy) = (false, 0, 0);
    // The line each kind was last counted on, as the byte offset of its start.
    let (mut js_line, mut policy_line) = (usize::MAX, usize::MAX);
    // Where each line starts, found once (a search back from every match would be
    // quadratic in a text made of the phrases).
    let starts: Vec<usize> = std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
        .collect();
    for m in PHRASES.find_overlapping_iter(text) {
        let line = starts[starts.partition_point(|&s| s <= m.start()) - 1];
        match m.pattern().as_usize() {
            0 => lorem = true,
            1 if js_line != line => {
                js += 1;
                js_line = line;
            }
            k if k >= 2 && policy_line != line => {
                policy += 1;
                policy_line = line;
            }
            _ => {}
        }
    }
    (lorem, js, policy)
}

/// Measures `text` (any string; never panics).
pub fn signals(text: &str) -> QualitySignals {
    let words: Vec<&str> = text.split_whitespace().collect();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let paras: Vec<&str> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    // Each word lowercased and stripped of surrounding punctuation, kept only as a hash and
    // a length (one buffer, no allocation per word).
    let mut hashes = Vec::with_capacity(words.len());
    let mut lens = Vec::with_capacity(words.len());
    let mut stop: HashSet<&str> = HashSet::new();
    let mut buf = String::new();
    for w in &words {
        buf.clear();
        let core = w.trim_matches(|c: char| !c.is_alphanumeric());
        if core.is_ascii() {
            buf.extend(core.chars().map(|c| c.to_ascii_lowercase()));
        } else {
            buf.push_str(&core.to_lowercase());
        }
        if let Some(sw) = STOP_WORDS.iter().find(|s| **s == buf) {
            stop.insert(sw);
        }
        hashes.push(xxhash_rust::xxh3::xxh3_64(buf.as_bytes()));
        lens.push(buf.len());
    }
    // One pass for `#`, `...` and `…`.
    let mut symbols = 0;
    let mut dots = 0;
    for c in text.chars() {
        match c {
            '#' | '…' => symbols += 1,
            '.' => {
                dots += 1;
                if dots == 3 {
                    symbols += 1;
                    dots = 0;
                }
                continue;
            }
            _ => {}
        }
        dots = 0;
    }
    let terminal = |l: &str| l.ends_with(['.', '!', '?', '"', '\u{201d}', '\'']);
    let (dup_line_ratio, dup_line_char_ratio) = duplicates(lines.iter().copied());
    let (dup_para_ratio, dup_para_char_ratio) = duplicates(paras.iter().copied());
    let (top_ngram_char_ratio, dup_ngram_char_ratio) = ngram_signals(&hashes, &lens);
    // Lines naming JavaScript or a policy, and lorem ipsum, found case-insensitively in one
    // pass over the text (the phrases are ASCII).
    let (lorem_ipsum, javascript_lines, policy_lines) = phrase_lines(text);
    QualitySignals {
        words: words.len(),
        mean_word_len: ratio(words.iter().map(|w| w.chars().count()).sum(), words.len()),
        symbol_word_ratio: ratio(symbols, words.len()),
        bullet_line_ratio: ratio(
            lines
                .iter()
                .filter(|l| l.starts_with(['•', '-', '*', '\u{2022}', '\u{2023}', '\u{25e6}']))
                .count(),
            lines.len(),
        ),
        ellipsis_line_ratio: ratio(
            lines
                .iter()
                .filter(|l| l.ends_with("...") || l.ends_with('…'))
                .count(),
            lines.len(),
        ),
        alpha_word_ratio: ratio(
            words
                .iter()
                .filter(|w| w.chars().any(char::is_alphabetic))
                .count(),
            words.len(),
        ),
        stop_words: stop.len(),
        dup_line_ratio,
        dup_para_ratio,
        dup_line_char_ratio,
        dup_para_char_ratio,
        top_ngram_char_ratio,
        dup_ngram_char_ratio,
        terminal_punct_line_ratio: ratio(lines.iter().filter(|l| terminal(l)).count(), lines.len()),
        short_line_ratio: ratio(
            lines.iter().filter(|l| l.chars().count() < 30).count(),
            lines.len(),
        ),
        newline_word_ratio: ratio(text.matches('\n').count(), words.len()),
        sentences: text
            .split(['.', '!', '?'])
            .filter(|s| s.split_whitespace().count() >= 3)
            .count(),
        lorem_ipsum,
        curly_brace: text.contains('{'),
        javascript_lines,
        policy_lines,
    }
}

/// The rules, in the order they are reported, as (name, passed).
fn rules(s: &QualitySignals, t: &QualityThresholds) -> Vec<(&'static str, bool)> {
    let mut r = vec![
        (
            "gopher_word_count",
            (t.min_words..=t.max_words).contains(&s.words),
        ),
        (
            "gopher_mean_word_length",
            (t.min_mean_word_len..=t.max_mean_word_len).contains(&s.mean_word_len),
        ),
        (
            "gopher_symbol_ratio",
            s.symbol_word_ratio <= t.max_symbol_word_ratio,
        ),
        (
            "gopher_bullet_lines",
            s.bullet_line_ratio <= t.max_bullet_line_ratio,
        ),
        (
            "gopher_ellipsis_lines",
            s.ellipsis_line_ratio <= t.max_ellipsis_line_ratio,
        ),
        (
            "gopher_alpha_words",
            s.alpha_word_ratio >= t.min_alpha_word_ratio,
        ),
        ("gopher_stop_words", s.stop_words >= t.min_stop_words),
        ("gopher_dup_lines", s.dup_line_ratio <= t.max_dup_line_ratio),
        (
            "gopher_dup_paragraphs",
            s.dup_para_ratio <= t.max_dup_para_ratio,
        ),
        (
            "gopher_dup_line_chars",
            s.dup_line_char_ratio <= t.max_dup_line_char_ratio,
        ),
        (
            "gopher_dup_paragraph_chars",
            s.dup_para_char_ratio <= t.max_dup_para_char_ratio,
        ),
    ];
    for (k, name) in ["gopher_top_2gram", "gopher_top_3gram", "gopher_top_4gram"]
        .into_iter()
        .enumerate()
    {
        r.push((
            name,
            s.top_ngram_char_ratio[k] <= t.max_top_ngram_char_ratio[k],
        ));
    }
    for (k, name) in [
        "gopher_dup_5gram",
        "gopher_dup_6gram",
        "gopher_dup_7gram",
        "gopher_dup_8gram",
        "gopher_dup_9gram",
        "gopher_dup_10gram",
    ]
    .into_iter()
    .enumerate()
    {
        r.push((
            name,
            s.dup_ngram_char_ratio[k] <= t.max_dup_ngram_char_ratio[k],
        ));
    }
    r.extend([
        ("c4_lorem_ipsum", !s.lorem_ipsum),
        ("c4_curly_brace", !s.curly_brace),
        ("c4_min_sentences", s.sentences >= t.min_sentences),
        (
            "fineweb_terminal_punctuation",
            s.terminal_punct_line_ratio >= t.min_terminal_punct_line_ratio,
        ),
        (
            "fineweb_short_lines",
            s.short_line_ratio <= t.max_short_line_ratio,
        ),
        (
            "fineweb_newlines",
            s.newline_word_ratio <= t.max_newline_word_ratio,
        ),
    ]);
    r
}

/// Scores `text` against `t`.
pub fn assess(text: &str, t: &QualityThresholds) -> Quality {
    let signals = signals(text);
    let results = rules(&signals, t);
    let passed = results.iter().filter(|(_, ok)| *ok).count();
    Quality {
        score: ratio(passed, results.len()),
        failed: results.iter().find(|(_, ok)| !ok).map(|(name, _)| *name),
        signals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` distinct ordinary words, in sentences of ten ending with a full stop, with the
    /// stop words Gopher looks for.
    fn prose(n: usize) -> String {
        let mut out = String::new();
        for i in 0..n {
            let w = match i % 10 {
                0 => "the".to_owned(),
                3 => "and".to_owned(),
                6 => "with".to_owned(),
                _ => format!("word{}", letters(i)),
            };
            out.push_str(&w);
            out.push(if i % 10 == 9 { '.' } else { ' ' });
            if i % 10 == 9 {
                out.push(' ');
            }
        }
        out.trim_end().to_owned()
    }

    fn letters(mut i: usize) -> String {
        let mut s = String::new();
        loop {
            s.push((b'a' + (i % 26) as u8) as char);
            i /= 26;
            if i == 0 {
                return s;
            }
        }
    }

    fn failed(text: &str) -> Option<&'static str> {
        assess(text, &QualityThresholds::default()).failed
    }

    #[test]
    fn ordinary_prose_passes_every_rule() {
        let q = assess(&prose(200), &QualityThresholds::default());
        assert_eq!(q.failed, None, "{:?}", q.signals);
        assert_eq!(q.score, 1.0);
    }

    #[test]
    fn word_count_threshold_is_fifty() {
        assert_eq!(failed(&prose(49)), Some("gopher_word_count"));
        assert_ne!(failed(&prose(50)), Some("gopher_word_count"));
    }

    #[test]
    fn mean_word_length_bounds() {
        let short = "a b c d e f g h i j. ".repeat(10);
        assert_eq!(
            failed(&format!("the and {short}")),
            Some("gopher_mean_word_length")
        );
        let long = format!("the and with {}", "extraordinarilyy ".repeat(60));
        assert_eq!(failed(&long), Some("gopher_mean_word_length"));
    }

    #[test]
    fn stop_words_are_required() {
        let no_stop: String = prose(200)
            .replace("the ", "wordx ")
            .replace("and ", "wordy ")
            .replace("with ", "wordz ");
        assert_eq!(failed(&no_stop), Some("gopher_stop_words"));
    }

    #[test]
    fn duplicate_lines_at_and_above_thirty_percent() {
        // 10 lines, 3 of them repeats: exactly at the threshold passes, 4 fails.
        let line = |i: usize| format!("the line number {} and with words here.", letters(i));
        let make = |dups: usize| {
            let mut lines: Vec<String> = (0..10 - dups).map(line).collect();
            lines.extend((0..dups).map(|_| line(0)));
            format!("{}\n\n{}", prose(60), lines.join("\n"))
        };
        let s3 = signals(&make(3));
        assert!(s3.dup_line_ratio <= 0.3 + 1e-9, "{}", s3.dup_line_ratio);
        let s5 = signals(&make(5));
        assert!(s5.dup_line_ratio > 0.3);
        assert_eq!(
            rules(&s5, &QualityThresholds::default())
                .iter()
                .find(|(n, _)| *n == "gopher_dup_lines")
                .map(|(_, ok)| *ok),
            Some(false)
        );
    }

    #[test]
    fn repeated_phrases_fail_the_ngram_rules() {
        let spam = "buy cheap watches now ".repeat(40);
        let q = assess(
            &format!("the and with {spam}."),
            &QualityThresholds::default(),
        );
        assert!(
            q.signals.top_ngram_char_ratio[0] > 0.2,
            "{:?}",
            q.signals.top_ngram_char_ratio
        );
        assert!(q.failed.is_some());
        assert!(q.score < 1.0);
    }

    #[test]
    fn c4_rules() {
        assert_eq!(
            failed(&format!("{} Lorem ipsum dolor.", prose(100))),
            Some("c4_lorem_ipsum")
        );
        assert_eq!(
            failed(&format!("{} if (x) {{ y }}.", prose(100))),
            Some("c4_curly_brace")
        );
        let two_sentences = format!("the and with {}", "word ".repeat(60));
        assert_eq!(
            rules(&signals(&two_sentences), &QualityThresholds::default())
                .iter()
                .find(|(n, _)| *n == "c4_min_sentences")
                .map(|(_, ok)| *ok),
            Some(false)
        );
    }

    #[test]
    fn fineweb_line_rules() {
        // Every line short and without terminal punctuation: a menu, not prose.
        let menu: String = (0..80).map(|i| format!("item {}\n", letters(i))).collect();
        let s = signals(&menu);
        assert_eq!(s.terminal_punct_line_ratio, 0.0);
        assert!(s.short_line_ratio > 0.67);
        assert!(s.newline_word_ratio > 0.3);
        assert!(failed(&menu).is_some());
    }

    /// Whether rule `name` passes for the signals of ordinary prose changed by `change`.
    fn passes(name: &str, change: impl Fn(&mut QualitySignals)) -> bool {
        let mut s = signals(&prose(200));
        change(&mut s);
        let r = rules(&s, &QualityThresholds::default());
        r.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, ok)| *ok)
            .unwrap()
    }

    #[test]
    fn every_rule_at_and_just_past_its_published_threshold() {
        let e = 1e-9;
        // (rule, value at the threshold passes, value just past it fails)
        type Set = fn(&mut QualitySignals, f64);
        let cases: Vec<(&str, f64, f64, Set)> = vec![
            ("gopher_word_count", 50.0, 49.0, |s, v| s.words = v as usize),
            ("gopher_word_count", 100_000.0, 100_001.0, |s, v| {
                s.words = v as usize
            }),
            ("gopher_mean_word_length", 3.0, 3.0 - e, |s, v| {
                s.mean_word_len = v
            }),
            ("gopher_mean_word_length", 10.0, 10.0 + e, |s, v| {
                s.mean_word_len = v
            }),
            ("gopher_symbol_ratio", 0.1, 0.1 + e, |s, v| {
                s.symbol_word_ratio = v
            }),
            ("gopher_bullet_lines", 0.9, 0.9 + e, |s, v| {
                s.bullet_line_ratio = v
            }),
            ("gopher_ellipsis_lines", 0.3, 0.3 + e, |s, v| {
                s.ellipsis_line_ratio = v
            }),
            ("gopher_alpha_words", 0.8, 0.8 - e, |s, v| {
                s.alpha_word_ratio = v
            }),
            ("gopher_stop_words", 2.0, 1.0, |s, v| {
                s.stop_words = v as usize
            }),
            ("gopher_dup_lines", 0.3, 0.3 + e, |s, v| {
                s.dup_line_ratio = v
            }),
            ("gopher_dup_paragraphs", 0.3, 0.3 + e, |s, v| {
                s.dup_para_ratio = v
            }),
            ("gopher_dup_line_chars", 0.2, 0.2 + e, |s, v| {
                s.dup_line_char_ratio = v
            }),
            ("gopher_dup_paragraph_chars", 0.2, 0.2 + e, |s, v| {
                s.dup_para_char_ratio = v
            }),
            ("gopher_top_2gram", 0.20, 0.20 + e, |s, v| {
                s.top_ngram_char_ratio[0] = v
            }),
            ("gopher_top_3gram", 0.18, 0.18 + e, |s, v| {
                s.top_ngram_char_ratio[1] = v
            }),
            ("gopher_top_4gram", 0.16, 0.16 + e, |s, v| {
                s.top_ngram_char_ratio[2] = v
            }),
            ("gopher_dup_5gram", 0.15, 0.15 + e, |s, v| {
                s.dup_ngram_char_ratio[0] = v
            }),
            ("gopher_dup_6gram", 0.14, 0.14 + e, |s, v| {
                s.dup_ngram_char_ratio[1] = v
            }),
            ("gopher_dup_7gram", 0.13, 0.13 + e, |s, v| {
                s.dup_ngram_char_ratio[2] = v
            }),
            ("gopher_dup_8gram", 0.12, 0.12 + e, |s, v| {
                s.dup_ngram_char_ratio[3] = v
            }),
            ("gopher_dup_9gram", 0.11, 0.11 + e, |s, v| {
                s.dup_ngram_char_ratio[4] = v
            }),
            ("gopher_dup_10gram", 0.10, 0.10 + e, |s, v| {
                s.dup_ngram_char_ratio[5] = v
            }),
            ("c4_min_sentences", 3.0, 2.0, |s, v| {
                s.sentences = v as usize
            }),
            ("fineweb_terminal_punctuation", 0.12, 0.12 - e, |s, v| {
                s.terminal_punct_line_ratio = v
            }),
            ("fineweb_short_lines", 0.67, 0.67 + e, |s, v| {
                s.short_line_ratio = v
            }),
            ("fineweb_newlines", 0.3, 0.3 + e, |s, v| {
                s.newline_word_ratio = v
            }),
        ];
        for (name, at, past, set) in cases {
            assert!(passes(name, |s| set(s, at)), "{name} at {at} must pass");
            assert!(
                !passes(name, |s| set(s, past)),
                "{name} at {past} must fail"
            );
        }
        assert!(!passes("c4_lorem_ipsum", |s| s.lorem_ipsum = true));
        assert!(!passes("c4_curly_brace", |s| s.curly_brace = true));
    }

    #[test]
    fn thresholds_are_configurable() {
        let t = QualityThresholds {
            min_words: 10,
            ..QualityThresholds::default()
        };
        assert_ne!(assess(&prose(20), &t).failed, Some("gopher_word_count"));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Any string at all: no panic, a score in [0, 1], the same answer twice.
        #[test]
        fn scoring_never_panics_and_is_deterministic(text in "\\PC{0,600}|[a-z .\n#*-]{0,600}") {
            let t = QualityThresholds::default();
            let a = assess(&text, &t);
            prop_assert!((0.0..=1.0).contains(&a.score));
            prop_assert_eq!(a, assess(&text, &t));
        }

        /// The n-gram signals, keys extended word by word, equal a count of every n-gram
        /// hashed from scratch.
        #[test]
        fn ngram_signals_match_counting_each_ngram_from_scratch(
            words in proptest::collection::vec(0u64..6, 0..60)
        ) {
            let hashes: Vec<u64> = words.iter().map(|w| xxhash_rust::xxh3::xxh3_64(&w.to_le_bytes())).collect();
            let lens: Vec<usize> = words.iter().map(|w| *w as usize + 1).collect();
            let total: usize = lens.iter().sum();
            let key = |i: usize, n: usize| hashes[i..i + n].iter().fold(GRAM_SEED, |k, h| mix(k, *h));
            let mut top = [0.0; 3];
            for n in 2..=4usize {
                if hashes.len() < n {
                    break;
                }
                let mut counts: HashMap<u64, (usize, usize)> = HashMap::new();
                for i in 0..=hashes.len() - n {
                    let e = counts.entry(key(i, n)).or_insert((0, 0));
                    e.0 += 1;
                    e.1 = lens[i..i + n].iter().sum();
                }
                match counts.values().max() {
                    Some(&(c, l)) if c > 1 => top[n - 2] = ratio(l * c, total),
                    _ => break,
                }
            }
            let mut dup = [0.0; 6];
            for n in 5..=10usize {
                if hashes.len() < n {
                    break;
                }
                let mut seen = HashSet::new();
                let mut covered = vec![false; hashes.len()];
                for i in 0..=hashes.len() - n {
                    if !seen.insert(key(i, n)) {
                        covered[i..i + n].iter_mut().for_each(|c| *c = true);
                    }
                }
                let d: usize = lens.iter().zip(&covered).filter(|(_, c)| **c).map(|(l, _)| l).sum();
                if d == 0 {
                    break;
                }
                dup[n - 5] = ratio(d, total);
            }
            prop_assert_eq!(ngram_signals(&hashes, &lens), (top, dup));
        }

        /// The one-pass phrase search counts what lowercasing each line and searching it
        /// counts.
        #[test]
        fn phrase_lines_match_a_search_of_each_lowercased_line(
            parts in proptest::collection::vec(
                "JavaScript|javascript|Lorem Ipsum|Privacy Policy|uses cookies|Terms of Use|\n|\r\n| |[a-zA-Z .]{0,12}",
                0..40,
            )
        ) {
            let text: String = parts.concat();
            let lower = text.to_lowercase();
            let lines: Vec<&str> = lower.lines().filter(|l| !l.trim().is_empty()).collect();
            let naive = (
                lower.contains("lorem ipsum"),
                lines.iter().filter(|l| l.contains("javascript")).count(),
                lines.iter().filter(|l| POLICY.iter().any(|p| l.contains(p))).count(),
            );
            prop_assert_eq!(phrase_lines(&text), naive);
        }

        #[test]
        fn arbitrary_bytes_lossily_decoded_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
            let text = String::from_utf8_lossy(&bytes);
            let q = assess(&text, &QualityThresholds::default());
            prop_assert!((0.0..=1.0).contains(&q.score));
        }
    }

    #[test]
    fn thresholds_follow_the_language() {
        let c = QualityConfig::default();
        assert_eq!(c.thresholds(Some("eng")).min_stop_words, 2);
        assert_eq!(c.thresholds(None).min_stop_words, 2);
        let fra = c.thresholds(Some("fra"));
        assert_eq!((fra.min_stop_words, fra.min_words), (0, 50));
        let jpn = c.thresholds(Some("jpn"));
        assert_eq!((jpn.min_stop_words, jpn.min_words), (0, 0));
        let mut own = c.clone();
        let t = QualityThresholds {
            min_words: 7,
            ..Default::default()
        };
        own.languages.insert("fra".into(), t);
        assert_eq!(own.thresholds(Some("fra")).min_words, 7);
        // A workflow file sets any threshold; unknown names are refused.
        let parsed: QualityConfig = toml::from_str(
            "drop = true\n[thresholds]\nmin_words = 20\n[languages.deu]\nmin_words = 30\n",
        )
        .unwrap();
        assert!(parsed.drop);
        assert_eq!(parsed.thresholds(None).min_words, 20);
        assert_eq!(parsed.thresholds(Some("deu")).min_words, 30);
        assert!(toml::from_str::<QualityConfig>("[thresholds]\nmin_wordz = 1\n").is_err());
    }
}

//! MinHash signatures over word shingles of dedup-normalized text.
//!
//! Text is folded before shingling (NFKD, combining marks dropped, lowercase, punctuation to
//! spaces, digit runs to `0`), so a changed header, a reformatted date or a curly quote does
//! not make a document new. Each word is hashed once with xxh3; a shingle's hash combines its
//! words' hashes; the `k` permutations are `(h ^ seed_i) * odd_i`, whose minimum over the
//! shingles is the signature's `i`-th value. No allocation happens per shingle.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use xxhash_rust::xxh3::xxh3_64;

/// MinHash parameters. The defaults are FineWeb's: 5-word shingles, 112 permutations read
/// as 14 bands of 8 rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinHashParams {
    pub shingle_words: usize,
    pub bands: usize,
    pub rows: usize,
    pub seed: u64,
}

impl Default for MinHashParams {
    fn default() -> Self {
        MinHashParams {
            shingle_words: 5,
            bands: 14,
            rows: 8,
            seed: 0x6d61_7361_2d64_6564, // "masa-ded"
        }
    }
}

impl MinHashParams {
    pub fn permutations(&self) -> usize {
        self.bands * self.rows
    }
}

/// Computes signatures for one parameter set; build once, reuse for every document.
#[derive(Debug, Clone)]
pub struct MinHasher {
    params: MinHashParams,
    seeds: Vec<u64>,
    multipliers: Vec<u64>,
}

/// splitmix64: a well-mixed, reproducible stream of constants from one seed.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Folds a stream of characters into words, calling `f` with each.
fn fold_chars(chars: impl Iterator<Item = char>, word: &mut String, mut f: impl FnMut(&str)) {
    word.clear();
    let mut in_digits = false;
    for c in chars {
        if c.is_numeric() {
            if !in_digits {
                word.push('0');
                in_digits = true;
            }
        } else if c.is_alphanumeric() {
            in_digits = false;
            if c.is_ascii() {
                word.push(c.to_ascii_lowercase());
            } else {
                word.extend(c.to_lowercase());
            }
        } else {
            in_digits = false;
            if !word.is_empty() {
                f(word);
                word.clear();
            }
        }
    }
    if !word.is_empty() {
        f(word);
    }
}

/// Folds text for dedup: NFKD, combining marks removed, lowercase, every non-alphanumeric
/// run a word break, digit runs to `0`; calls `f` with each word. ASCII text skips the
/// Unicode decomposition, which cannot change it.
fn fold_words(text: &str, f: impl FnMut(&str)) {
    let mut word = String::new();
    if text.is_ascii() {
        fold_chars(text.chars(), &mut word, f);
    } else {
        fold_chars(text.nfkd().filter(|c| !is_combining_mark(*c)), &mut word, f);
    }
}

/// The folded words of `text` (see [`MinHasher::signature`]), for inspection and tests.
pub fn dedup_words(text: &str, out: &mut Vec<String>) {
    out.clear();
    fold_words(text, |w| out.push(w.to_owned()));
}

impl MinHasher {
    pub fn new(params: MinHashParams) -> Self {
        let mut state = params.seed;
        let k = params.permutations();
        let seeds = (0..k).map(|_| splitmix(&mut state)).collect();
        // Odd multipliers are invertible mod 2^64, so each permutation is a bijection.
        let multipliers = (0..k).map(|_| splitmix(&mut state) | 1).collect();
        MinHasher {
            params,
            seeds,
            multipliers,
        }
    }

    pub fn params(&self) -> &MinHashParams {
        &self.params
    }

    /// The signature of `text`. A text with fewer words than a shingle is one shingle.
    pub fn signature(&self, text: &str) -> Vec<u64> {
        let mut hashes = Vec::with_capacity(text.len() / 5);
        fold_words(text, |w| hashes.push(xxh3_64(w.as_bytes())));
        self.signature_of_word_hashes(&hashes)
    }

    /// The signature from per-word hashes (exposed for benchmarks and tests).
    pub fn signature_of_word_hashes(&self, words: &[u64]) -> Vec<u64> {
        let k = self.params.permutations();
        let n = self.params.shingle_words.max(1);
        let mut sig = vec![u64::MAX; k];
        let mut buf = [0u8; 8 * 16];
        let n = n.min(16);
        let shingles = words.len().saturating_sub(n - 1).max(1);
        for start in 0..shingles {
            let end = (start + n).min(words.len());
            let mut len = 0;
            for w in &words[start..end] {
                buf[len..len + 8].copy_from_slice(&w.to_le_bytes());
                len += 8;
            }
            let h = xxh3_64(&buf[..len]);
            for ((s, m), v) in self.seeds.iter().zip(&self.multipliers).zip(sig.iter_mut()) {
                *v = (*v).min((h ^ s).wrapping_mul(*m));
            }
        }
        sig
    }

    /// One hash per band: the key under which a document is bucketed in that band.
    pub fn band_keys(&self, sig: &[u64]) -> Vec<u64> {
        let r = self.params.rows;
        sig.chunks(r)
            .enumerate()
            .map(|(band, rows)| {
                let mut buf = Vec::with_capacity(8 * (r + 1));
                buf.extend_from_slice(&(band as u64).to_le_bytes());
                for v in rows {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                xxh3_64(&buf)
            })
            .collect()
    }
}

/// The MinHash estimate of Jaccard similarity: the share of equal signature positions.
pub fn estimated_jaccard(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_accents_punctuation_and_numbers() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        dedup_words("Café — Report 2024: “Results”!", &mut a);
        dedup_words("cafe report 1999 results", &mut b);
        assert_eq!(a, b);
        assert_eq!(a, ["cafe", "report", "0", "results"]);
    }

    #[test]
    fn identical_texts_have_identical_signatures() {
        let h = MinHasher::new(MinHashParams::default());
        let t = "one two three four five six seven eight nine ten";
        assert_eq!(h.signature(t), h.signature(t));
        assert_eq!(h.signature(t).len(), 112);
        assert_eq!(h.band_keys(&h.signature(t)).len(), 14);
    }

    #[test]
    fn separately_built_hashers_give_the_same_signature() {
        let text = "the quick brown fox jumps over the lazy dog";
        let a = MinHasher::new(MinHashParams::default()).signature(text);
        let b = MinHasher::new(MinHashParams::default()).signature(text);
        assert_eq!(a, b);
        let other_seed = MinHashParams {
            seed: 1,
            ..MinHashParams::default()
        };
        assert_ne!(a, MinHasher::new(other_seed).signature(text));
    }

    #[test]
    fn word_hash_matches_the_published_xxh3_vector() {
        // XXH3_64bits of the empty input, from the xxHash reference test vectors: stored
        // signatures stay comparable only while this holds.
        assert_eq!(xxh3_64(b""), 0x2D06_8005_38D3_94C2);
    }

    #[test]
    fn short_texts_still_get_a_signature() {
        let h = MinHasher::new(MinHashParams::default());
        let sig = h.signature("two words");
        assert!(sig.iter().all(|v| *v != u64::MAX));
        let empty = h.signature("");
        assert!(
            empty.iter().all(|v| *v != u64::MAX),
            "empty text is one empty shingle"
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// With 112 permutations the estimate's standard deviation is at most
        /// sqrt(0.25 / 112) ≈ 0.047; 5 standard deviations is a bound a correct MinHash
        /// essentially never crosses, a broken one crosses at once.
        #[test]
        fn jaccard_estimate_is_within_its_statistical_bound(
            shared in 0usize..200, only_a in 0usize..200, only_b in 0usize..200, salt in any::<u64>()
        ) {
            prop_assume!(shared + only_a + only_b > 0);
            // Single-word shingles make the shingle sets exactly these word sets.
            let h = MinHasher::new(MinHashParams { shingle_words: 1, ..MinHashParams::default() });
            let word = |tag: &str, i: usize| xxh3_64(format!("{tag}{i}-{salt}").as_bytes());
            let common: Vec<u64> = (0..shared).map(|i| word("s", i)).collect();
            let mut a = common.clone();
            a.extend((0..only_a).map(|i| word("a", i)));
            let mut b = common;
            b.extend((0..only_b).map(|i| word("b", i)));
            let (sa, sb) = (h.signature_of_word_hashes(&a), h.signature_of_word_hashes(&b));
            let sa_set: HashSet<u64> = a.iter().copied().collect();
            let union = sa_set.union(&b.iter().copied().collect()).count();
            let truth = shared as f64 / union as f64;
            let est = estimated_jaccard(&sa, &sb);
            prop_assert!((est - truth).abs() <= 5.0 * 0.047, "estimate {est} vs true {truth}");
        }
    }
}

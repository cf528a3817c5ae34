//! MinHash signatures over word shingles of dedup-normalized text.
//!
//! Text is folded before shingling (NFKD, combining marks dropped, lowercase, punctuation to
//! spaces, digit runs to `0`), so a changed header, a reformatted date or a curly quote does
//! not make a document new. Each word is hashed once with xxh3; a shingle's hash mixes its
//! words' hashes into 32 bits; permutation `i` maps a shingle hash `x` to
//! `(x ^ seed_i) * odd_i mod 2^32`, and the signature's `i`-th value is the minimum over the
//! shingles. That loop is 32-bit lanes with no allocation and no branches, which the compiler
//! vectorizes (AVX2 when the CPU has it). Stored values keep the low 16 bits of each minimum
//! (b-bit MinHash): two different minima look equal with probability 2^-16, a bias far below
//! the estimate's own noise, for half the bytes.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// MinHash parameters. The defaults are FineWeb's: 5-word shingles, 112 permutations read
/// as 14 bands of 8 rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

    /// The supported ranges: 1–16 words a shingle, 1–64 bands of 1–64 rows.
    pub fn check(&self) -> Result<(), String> {
        let ok = |v: usize, max: usize| (1..=max).contains(&v);
        if !ok(self.shingle_words, 16) {
            return Err(format!("{} words a shingle (1 to 16)", self.shingle_words));
        }
        if !ok(self.bands, 64) || !ok(self.rows, 64) {
            return Err(format!(
                "{} bands of {} rows (1 to 64 each)",
                self.bands, self.rows
            ));
        }
        Ok(())
    }
}

/// One stored signature value per permutation: the low 16 bits of the minimum.
pub type SigValue = u16;

/// Computes signatures for one parameter set; build once, reuse for every document.
#[derive(Debug, Clone)]
pub struct MinHasher {
    params: MinHashParams,
    seeds: Vec<u32>,
    multipliers: Vec<u32>,
}

/// splitmix64: a well-mixed, reproducible stream of constants from one seed.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    mix64(*state)
}

/// The 64-bit finalizer of splitmix: every input bit reaches every output bit.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Turns characters into folded words, calling `f` with each finished word.
struct Folder<F: FnMut(&str)> {
    word: String,
    in_digits: bool,
    f: F,
}

impl<F: FnMut(&str)> Folder<F> {
    fn push(&mut self, c: char) {
        if c.is_ascii() {
            if c.is_ascii_digit() {
                self.digit();
            } else if c.is_ascii_alphabetic() {
                self.in_digits = false;
                self.word.push(c.to_ascii_lowercase());
            } else {
                self.end_word();
            }
        } else if c.is_numeric() {
            self.digit();
        } else if c.is_alphanumeric() {
            self.in_digits = false;
            self.word.extend(c.to_lowercase());
        } else {
            self.end_word();
        }
    }

    fn digit(&mut self) {
        if !self.in_digits {
            self.word.push('0');
            self.in_digits = true;
        }
    }

    fn end_word(&mut self) {
        self.in_digits = false;
        if !self.word.is_empty() {
            (self.f)(&self.word);
            self.word.clear();
        }
    }
}

/// Folds text for dedup: NFKD, combining marks removed, lowercase, every non-alphanumeric
/// run a word break, digit runs to `0`; calls `f` with each word. Characters are decomposed
/// one at a time: with combining marks dropped, the reordering that whole-string NFKD adds
/// cannot change the result, and ASCII needs no decomposition at all.
fn fold_words(text: &str, f: impl FnMut(&str)) {
    let mut folder = Folder {
        word: String::new(),
        in_digits: false,
        f,
    };
    for c in text.chars() {
        if c.is_ascii() {
            folder.push(c);
        } else {
            decompose_compatible(c, |d| {
                if !is_combining_mark(d) {
                    folder.push(d);
                }
            });
        }
    }
    folder.end_word();
}

/// The folded words of `text` (see [`MinHasher::signature`]), for inspection and tests.
pub fn dedup_words(text: &str, out: &mut Vec<String>) {
    out.clear();
    fold_words(text, |w| out.push(w.to_owned()));
}

impl MinHasher {
    /// Panics on parameters outside [`MinHashParams::check`]; check them first where they
    /// come from a user.
    pub fn new(params: MinHashParams) -> Self {
        if let Err(e) = params.check() {
            panic!("invalid MinHash parameters: {e}");
        }
        let mut state = params.seed;
        let k = params.permutations();
        let seeds = (0..k).map(|_| splitmix(&mut state) as u32).collect();
        // Odd multipliers are invertible mod 2^32, so each permutation is a bijection.
        let multipliers = (0..k).map(|_| (splitmix(&mut state) as u32) | 1).collect();
        MinHasher {
            params,
            seeds,
            multipliers,
        }
    }

    pub fn params(&self) -> &MinHashParams {
        &self.params
    }

    /// The signature of `text`; `None` for a text of fewer words than a shingle. Such
    /// texts are left to exact dedup: with numbers folded and symbols dropped, "post 1" and
    /// "post 2", or two emoji-only texts, would otherwise look identical.
    pub fn signature(&self, text: &str) -> Option<Vec<SigValue>> {
        let mut hashes = Vec::with_capacity(text.len() / 5);
        fold_words(text, |w| hashes.push(xxh3_64(w.as_bytes())));
        (hashes.len() >= self.params.shingle_words).then(|| self.signature_of_word_hashes(&hashes))
    }

    /// The signature from per-word hashes (exposed for benchmarks and tests).
    pub fn signature_of_word_hashes(&self, words: &[u64]) -> Vec<SigValue> {
        let mut xs = Vec::with_capacity(words.len());
        shingle_hashes(words, self.params.shingle_words, |h| {
            xs.push((h >> 32) as u32)
        });
        self.signature_of_high_bits(&xs)
    }

    /// The signature from [`MinHasher::shingles`]' hashes (non-empty), so a caller that
    /// needs both folds the text once: equal to `signature` of the same text.
    pub fn signature_of_shingles(&self, shingles: &[u64]) -> Vec<SigValue> {
        let xs: Vec<u32> = shingles.iter().map(|h| (h >> 32) as u32).collect();
        self.signature_of_high_bits(&xs)
    }

    fn signature_of_high_bits(&self, xs: &[u32]) -> Vec<SigValue> {
        let mut mins = vec![u32::MAX; self.params.permutations()];
        min_permutations(&self.seeds, &self.multipliers, xs, &mut mins);
        mins.into_iter().map(|v| v as SigValue).collect()
    }

    /// The 64-bit hash of every word shingle of `text` (folded as for signatures), in text
    /// order; empty for a text of fewer words than a shingle. Signatures keep the high 32
    /// bits of each; the rewards' novelty sketch samples them whole.
    pub fn shingles(&self, text: &str) -> Vec<u64> {
        let mut words = Vec::with_capacity(text.len() / 5);
        fold_words(text, |w| words.push(xxh3_64(w.as_bytes())));
        let mut out = Vec::new();
        if words.len() >= self.params.shingle_words {
            shingle_hashes(&words, self.params.shingle_words, |h| out.push(h));
        }
        out
    }

    /// One hash per band: the key under which a document is bucketed in that band.
    pub fn band_keys(&self, sig: &[SigValue]) -> Vec<u64> {
        (0..self.params.bands)
            .map(|band| band_key(sig, band, self.params.rows))
            .collect()
    }
}

/// Calls `f` with the hash of each `n`-word shingle of `words` (one shingle of all of
/// them when there are fewer than `n`).
fn shingle_hashes(words: &[u64], n: usize, mut f: impl FnMut(u64)) {
    let n = n.max(1);
    let shingles = words.len().saturating_sub(n - 1).max(1);
    for start in 0..shingles {
        let end = (start + n).min(words.len());
        let mut h = (end - start) as u64;
        for w in &words[start..end] {
            h = mix64(h ^ w);
        }
        f(h);
    }
}

/// The bucket key of `sig` in `band`: a hash of that band's rows, seeded by the band.
pub fn band_key(sig: &[SigValue], band: usize, rows: usize) -> u64 {
    let mut buf = [0u8; 2 * 64];
    let rows_of = &sig[band * rows..(band + 1) * rows];
    let mut len = 0;
    for v in rows_of.iter().take(64) {
        buf[len..len + 2].copy_from_slice(&v.to_le_bytes());
        len += 2;
    }
    xxh3_64_with_seed(&buf[..len], band as u64)
}

/// `mins[i] = min(mins[i], min over x of (x ^ seeds[i]) * mults[i])`.
#[inline(always)]
fn min_permutations_portable(seeds: &[u32], mults: &[u32], xs: &[u32], mins: &mut [u32]) {
    for &x in xs {
        for ((s, m), v) in seeds.iter().zip(mults).zip(mins.iter_mut()) {
            *v = (*v).min((x ^ s).wrapping_mul(*m));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn min_permutations_avx2(seeds: &[u32], mults: &[u32], xs: &[u32], mins: &mut [u32]) {
    min_permutations_portable(seeds, mults, xs, mins)
}

/// The permutation loop, compiled for AVX2 as well and chosen at run time: the same
/// arithmetic either way, so signatures do not depend on the CPU.
fn min_permutations(seeds: &[u32], mults: &[u32], xs: &[u32], mins: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked on the line above.
        #[allow(unsafe_code)]
        unsafe {
            return min_permutations_avx2(seeds, mults, xs, mins);
        }
    }
    min_permutations_portable(seeds, mults, xs, mins)
}

/// The MinHash estimate of Jaccard similarity: the share of equal signature positions.
pub fn estimated_jaccard(a: &[SigValue], b: &[SigValue]) -> f64 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_of_the_shingles_is_the_signature_of_the_text() {
        let h = MinHasher::new(MinHashParams::default());
        for text in [
            "one two three four five",
            "The quick brown fox jumps over the lazy dog, twice: the quick brown fox!",
            "Ünïcode wörds fold the same way as ascii words do here",
        ] {
            let sig = h.signature(text).unwrap();
            assert_eq!(h.signature_of_shingles(&h.shingles(text)), sig, "{text}");
        }
        assert!(h.shingles("too short").is_empty());
        assert!(h.signature("too short").is_none());
    }

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
        let sig = h.signature(t).unwrap();
        assert_eq!(h.signature(t), Some(sig.clone()));
        assert_eq!(sig.len(), 112);
        assert_eq!(h.band_keys(&sig).len(), 14);
    }

    #[test]
    fn separately_built_hashers_give_the_same_signature() {
        let text = "the quick brown fox jumps over the lazy dog";
        let a = MinHasher::new(MinHashParams::default())
            .signature(text)
            .unwrap();
        let b = MinHasher::new(MinHashParams::default())
            .signature(text)
            .unwrap();
        assert_eq!(a, b);
        let other_seed = MinHashParams {
            seed: 1,
            ..MinHashParams::default()
        };
        assert_ne!(Some(a), MinHasher::new(other_seed).signature(text));
    }

    #[test]
    fn word_hash_matches_the_published_xxh3_vector() {
        // XXH3_64bits of the empty input, from the xxHash reference test vectors: stored
        // signatures stay comparable only while this holds.
        assert_eq!(xxh3_64(b""), 0x2D06_8005_38D3_94C2);
    }

    #[test]
    fn texts_shorter_than_a_shingle_get_no_signature() {
        let h = MinHasher::new(MinHashParams::default());
        for short in [
            "",
            "two words",
            "post 1",
            "🎉🎉🎉 !!!",
            "one two three four",
        ] {
            assert_eq!(h.signature(short), None, "{short:?}");
        }
        assert!(h.signature("one two three four five").is_some());
    }

    #[test]
    #[should_panic(expected = "invalid MinHash parameters")]
    fn parameters_outside_the_supported_ranges_are_refused() {
        MinHasher::new(MinHashParams {
            rows: 65,
            ..MinHashParams::default()
        });
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

#[cfg(test)]
mod spec {
    use super::*;

    /// The signature recomputed from its definition, one value at a time, without the
    /// vectorized loop: what any other implementation on any platform must produce.
    fn by_definition(params: MinHashParams, text: &str) -> Option<Vec<SigValue>> {
        let mut words = Vec::new();
        dedup_words(text, &mut words);
        let hashes: Vec<u64> = words.iter().map(|w| xxh3_64(w.as_bytes())).collect();
        let mut state = params.seed;
        let k = params.permutations();
        let seeds: Vec<u64> = (0..k).map(|_| splitmix(&mut state)).collect();
        let mults: Vec<u64> = (0..k).map(|_| splitmix(&mut state)).collect();
        let n = params.shingle_words;
        if hashes.len() < n {
            return None;
        }
        let shingles: Vec<u32> = hashes
            .windows(n)
            .map(|win| (win.iter().fold(n as u64, |h, w| mix64(h ^ w)) >> 32) as u32)
            .collect();
        let sig = (0..k)
            .map(|i| {
                let (s, m) = (seeds[i] as u32, mults[i] as u32 | 1);
                let min = shingles
                    .iter()
                    .map(|x| u64::from((x ^ s).wrapping_mul(m)))
                    .min()
                    .unwrap();
                (min & 0xFFFF) as SigValue
            })
            .collect();
        Some(sig)
    }

    #[test]
    fn the_fast_signature_equals_its_definition() {
        let p = MinHashParams::default();
        let h = MinHasher::new(p);
        for text in [
            "",
            "one",
            "a b c d e",
            "Café — Report 2024: “Results”! and then some more words follow here",
            &"lorem ipsum dolor sit amet consectetur ".repeat(50),
        ] {
            assert_eq!(h.signature(text), by_definition(p, text), "{text:?}");
        }
    }

    /// Folding by definition: whole-string NFKD, marks dropped, then the character rules.
    #[test]
    fn per_character_folding_equals_whole_string_nfkd() {
        use unicode_normalization::UnicodeNormalization;
        for text in [
            "Café crème brûlée, Ångström — ﬁne ½ and ２０２４ ①",
            "Straße İstanbul ǅemal Ωmega ŉ ﬀ ｶﾀｶﾅ 한국어 e\u{301}\u{327}",
            "plain ascii 123 text",
        ] {
            let mut fast = Vec::new();
            dedup_words(text, &mut fast);
            let reference: String = text.nfkd().filter(|c| !is_combining_mark(*c)).collect();
            let mut slow = Vec::new();
            let mut folder = Folder {
                word: String::new(),
                in_digits: false,
                f: |w: &str| slow.push(w.to_owned()),
            };
            reference.chars().for_each(|c| folder.push(c));
            folder.end_word();
            assert_eq!(fast, slow, "{text}");
        }
    }

    #[test]
    fn the_portable_and_vectorized_loops_agree() {
        let p = MinHashParams::default();
        let h = MinHasher::new(p);
        let xs: Vec<u32> = (0..1000u64).map(|i| (mix64(i) >> 32) as u32).collect();
        let mut a = vec![u32::MAX; p.permutations()];
        let mut b = a.clone();
        min_permutations_portable(&h.seeds, &h.multipliers, &xs, &mut a);
        min_permutations(&h.seeds, &h.multipliers, &xs, &mut b);
        assert_eq!(a, b);
    }

    /// A biased or correlated permutation family shows as a mean estimate away from the
    /// truth even when each single estimate is within its noise. 400 pairs at J = 1/3: the
    /// mean's standard error is under 0.0023, so 0.012 is more than 5 of them.
    #[test]
    fn estimates_are_unbiased_on_average() {
        let h = MinHasher::new(MinHashParams {
            shingle_words: 1,
            ..MinHashParams::default()
        });
        let mut total = 0.0;
        let pairs = 400u64;
        for p in 0..pairs {
            let w = |i: u64| mix64(p << 32 | i);
            // 100 shared, 100 only in a, 100 only in b: J = 100 / 300.
            let a: Vec<u64> = (0..200).map(w).collect();
            let b: Vec<u64> = (0..100).chain(200..300).map(w).collect();
            total += estimated_jaccard(
                &h.signature_of_word_hashes(&a),
                &h.signature_of_word_hashes(&b),
            );
        }
        let mean = total / pairs as f64;
        assert!((mean - 1.0 / 3.0).abs() < 0.012, "mean estimate {mean}");
    }
}

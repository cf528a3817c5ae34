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

/// MinHash parameters. The defaults (3-word shingles, 60 permutations read as 20 bands of
/// 3 rows) were chosen by the sweep in BENCHMARKS.md: wide bands propose pairs down to a
/// Jaccard of about 0.3 (a copy with a tenth of its words edited and its end cut), and the
/// verification on the sketch decides. FineWeb's 5-grams in 14 × 8 bands, the defaults
/// before, proposed such pairs almost never.
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
            shingle_words: 3,
            bands: 20,
            rows: 3,
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

/// Turns characters into folded words, calling `f` with each finished word's UTF-8 bytes.
struct Folder<F: FnMut(&[u8])> {
    word: Vec<u8>,
    in_digits: bool,
    f: F,
}

impl<F: FnMut(&[u8])> Folder<F> {
    /// One ASCII byte: the common case, kept to a few instructions.
    #[inline(always)]
    fn push_ascii(&mut self, b: u8) {
        if b.is_ascii_digit() {
            self.digit();
        } else if b.is_ascii_alphabetic() {
            self.in_digits = false;
            self.word.push(b.to_ascii_lowercase());
        } else {
            self.end_word();
        }
    }

    fn push(&mut self, c: char) {
        if c.is_ascii() {
            self.push_ascii(c as u8);
        } else if unspaced(c) {
            // A word of its own (see `unspaced`).
            self.end_word();
            let mut buf = [0u8; 4];
            (self.f)(c.encode_utf8(&mut buf).as_bytes());
        } else if c.is_numeric() {
            self.digit();
        } else if c.is_alphanumeric() {
            self.in_digits = false;
            for l in c.to_lowercase() {
                let mut buf = [0u8; 4];
                self.word
                    .extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
            }
        } else {
            self.end_word();
        }
    }

    #[inline(always)]
    fn digit(&mut self) {
        if !self.in_digits {
            self.word.push(b'0');
            self.in_digits = true;
        }
    }

    #[inline(always)]
    fn end_word(&mut self) {
        self.in_digits = false;
        if !self.word.is_empty() {
            (self.f)(&self.word);
            self.word.clear();
        }
    }
}

/// Characters of scripts written without spaces between words (Han ideographs, Hiragana,
/// Katakana): each is folded as a word of its own, so shingles there are runs of
/// characters. Without it a whole sentence is one word, and a copy with one character in
/// ten changed shares almost no shingle with its source (BENCHMARKS.md measures both on
/// Chinese and Japanese pages). Hangul is written with spaces and stays as words; Thai,
/// Lao, Khmer and Myanmar are alphabets whose letters are too few to count as words.
fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x31F0..=0x31FF    // Katakana phonetic extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs (NFKD maps most to unified)
        | 0x20000..=0x3134F) // CJK extensions B to H
}

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `v` set where that byte is an ASCII lowercase letter (SWAR:
/// on the low 7 bits, adding 0x1f sets the high bit from `a` up and adding 0x05 from `{`
/// up, with no carry between bytes; bytes with the high bit set are not ASCII).
#[inline(always)]
fn lowercase_bytes(v: u64) -> u64 {
    let low7 = v & !HIGH_BITS;
    let from_a = low7 + 0x1f1f_1f1f_1f1f_1f1f;
    let past_z = low7 + 0x0505_0505_0505_0505;
    from_a & !past_z & !v & HIGH_BITS
}

/// Folds text for dedup: NFKD, combining marks removed, lowercase, every non-alphanumeric
/// run a word break, digit runs to `0`; calls `f` with each word. Characters are decomposed
/// one at a time: with combining marks dropped, the reordering that whole-string NFKD adds
/// cannot change the result, and ASCII needs no decomposition at all (its bytes are
/// folded without decoding characters).
fn fold_words(text: &str, f: impl FnMut(&[u8])) {
    let mut folder = Folder {
        word: Vec::with_capacity(32),
        in_digits: false,
        f,
    };
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !b.is_ascii() {
            let c = text[i..].chars().next().expect("a character starts here");
            i += c.len_utf8();
            decompose_compatible(c, |d| {
                if !is_combining_mark(d) {
                    folder.push(d);
                }
            });
            continue;
        }
        if !folder.word.is_empty() {
            folder.push_ascii(b);
            i += 1;
            continue;
        }
        if !b.is_ascii_alphanumeric() {
            // Between words: nothing to end.
            folder.in_digits = false;
            i += 1;
            continue;
        }
        // A word starting with an ASCII letter or digit. Most are lowercase ASCII letters
        // ended by ASCII punctuation or space, already folded: those are found 8 bytes at a
        // time and handed on as they are, uncopied.
        let start = i;
        while i + 8 <= bytes.len() {
            let v = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
            let not_lower = !lowercase_bytes(v) & HIGH_BITS;
            if not_lower != 0 {
                i += (not_lower.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        while i < bytes.len() && bytes[i].is_ascii_lowercase() {
            i += 1;
        }
        if i == bytes.len() || (bytes[i].is_ascii() && !bytes[i].is_ascii_alphanumeric()) {
            folder.in_digits = false;
            (folder.f)(&bytes[start..i]);
        } else {
            // Capitals, digits or a non-ASCII letter in the word: by the character rules.
            i = start;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                folder.push_ascii(bytes[i]);
                i += 1;
            }
        }
    }
    folder.end_word();
}

/// The folded words of `text` (see [`MinHasher::signature`]), for inspection and tests.
pub fn dedup_words(text: &str, out: &mut Vec<String>) {
    out.clear();
    fold_words(text, |w| {
        out.push(String::from_utf8(w.to_vec()).expect("folded words are built from chars"))
    });
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

    /// The signature from per-word hashes (exposed for benchmarks and tests).
    pub fn signature_of_word_hashes(&self, words: &[u64]) -> Vec<SigValue> {
        let mut xs = Vec::with_capacity(words.len());
        shingle_hashes(words, self.params.shingle_words, |h| {
            xs.push((h >> 32) as u32)
        });
        self.signature_of_high_bits(&xs)
    }

    fn signature_of_high_bits(&self, xs: &[u32]) -> Vec<SigValue> {
        let mut mins = vec![u32::MAX; self.params.permutations()];
        min_permutations(&self.seeds, &self.multipliers, xs, &mut mins);
        mins.into_iter().map(|v| v as SigValue).collect()
    }

    /// The sketch of `text` (signature and distinct shingle count); `None` for a text of
    /// fewer words than a shingle. Such texts are left to exact dedup: with numbers folded
    /// and symbols dropped, "post 1" and "post 2", or two emoji-only texts, would otherwise
    /// look identical.
    pub fn sketch(&self, text: &str) -> Option<Sketch> {
        self.sketch_of_word_hashes(&word_hashes(text))
    }

    fn sketch_of_high_bits(&self, xs: Vec<u32>) -> Sketch {
        Sketch {
            sig: self.signature_of_high_bits(&xs),
            shingles: distinct(&xs),
        }
    }

    /// The sketch from per-word hashes ([`word_hashes`]); `None` for fewer words than a
    /// shingle. Equal to `sketch` of the text the words came from.
    pub fn sketch_of_word_hashes(&self, words: &[u64]) -> Option<Sketch> {
        if words.len() < self.params.shingle_words {
            return None;
        }
        let mut xs = Vec::with_capacity(words.len());
        shingle_hashes(words, self.params.shingle_words, |h| {
            xs.push((h >> 32) as u32)
        });
        Some(self.sketch_of_high_bits(xs))
    }

    /// One hash per band: the key under which a document is bucketed in that band.
    pub fn band_keys(&self, sig: &[SigValue]) -> Vec<u64> {
        (0..self.params.bands)
            .map(|band| band_key(sig, band, self.params.rows))
            .collect()
    }
}

/// The number of distinct values in `xs`, exactly: an open-addressing set of at least 1.5
/// times its size (linear probing, Fibonacci hashing of the value), faster than sorting.
fn distinct(xs: &[u32]) -> u32 {
    let bits = (xs.len() + xs.len() / 2)
        .next_power_of_two()
        .max(16)
        .trailing_zeros();
    let mask = (1usize << bits) - 1;
    // 0 marks an empty slot; the value 0 itself is counted on the side.
    let mut slots = vec![0u32; mask + 1];
    let (mut n, mut zero) = (0u32, false);
    for &x in xs {
        if x == 0 {
            zero = true;
            continue;
        }
        let mut i = (x.wrapping_mul(0x9E37_79B1) >> (32 - bits)) as usize;
        loop {
            match slots[i] {
                0 => {
                    slots[i] = x;
                    n += 1;
                    break;
                }
                v if v == x => break,
                _ => i = (i + 1) & mask,
            }
        }
    }
    n + u32::from(zero)
}

/// The hash of each folded word of `text`, in order: what signatures and shingles are made
/// of, so a caller that needs several shingle sizes folds the text once.
pub fn word_hashes(text: &str) -> Vec<u64> {
    let mut words = Vec::with_capacity(text.len() / 5);
    fold_words(text, |w| words.push(xxh3_64(w)));
    words
}

/// The 64-bit hash of every `n`-word shingle of `words`, in text order; empty for fewer
/// than `n` words. Signatures keep the high 32 bits of each; the rewards' novelty sketch
/// samples them whole.
pub fn word_shingles(words: &[u64], n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    if words.len() >= n {
        shingle_hashes(words, n, |h| out.push(h));
    }
    out
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

/// `mins[i] = min(mins[i], min over x of (x ^ seeds[i]) * mults[i])`. Permutations go in
/// blocks of 8, then of 4, each block held in one vector register across the whole pass
/// over `xs` (which loads only `x`), and the remainder one by one.
#[inline(always)]
fn min_permutations_portable(seeds: &[u32], mults: &[u32], xs: &[u32], mins: &mut [u32]) {
    let eights = seeds.len() / 8 * 8;
    let fours = eights + (seeds.len() - eights) / 4 * 4;
    min_block::<8>(&seeds[..eights], &mults[..eights], xs, &mut mins[..eights]);
    min_block::<4>(
        &seeds[eights..fours],
        &mults[eights..fours],
        xs,
        &mut mins[eights..fours],
    );
    min_block::<1>(&seeds[fours..], &mults[fours..], xs, &mut mins[fours..]);
}

/// [`min_permutations_portable`] over whole blocks of `N` permutations.
#[inline(always)]
fn min_block<const N: usize>(seeds: &[u32], mults: &[u32], xs: &[u32], mins: &mut [u32]) {
    for ((s, m), v) in seeds
        .chunks_exact(N)
        .zip(mults.chunks_exact(N))
        .zip(mins.chunks_exact_mut(N))
    {
        let s: [u32; N] = s.try_into().expect("a block");
        let m: [u32; N] = m.try_into().expect("a block");
        let mut acc: [u32; N] = v.try_into().expect("a block");
        for &x in xs {
            for l in 0..N {
                acc[l] = acc[l].min((x ^ s[l]).wrapping_mul(m[l]));
            }
        }
        v.copy_from_slice(&acc);
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

/// What near-duplicate detection keeps of a document: its MinHash signature and the number
/// of distinct shingles it holds (the set size, which turns a Jaccard estimate into a
/// containment estimate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sketch {
    pub sig: Vec<SigValue>,
    pub shingles: u32,
}

impl Sketch {
    pub fn as_ref(&self) -> SketchRef<'_> {
        SketchRef {
            sig: &self.sig,
            shingles: self.shingles,
        }
    }
}

/// A borrowed [`Sketch`], as indexes and signature files hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SketchRef<'a> {
    pub sig: &'a [SigValue],
    pub shingles: u32,
}

/// How much two documents share, estimated from their sketches.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Similarity {
    /// |A ∩ B| / |A ∪ B| of the shingle sets.
    pub jaccard: f64,
    /// |A ∩ B| / |A|: the share of the first document's shingles that the second holds.
    pub containment: f64,
}

impl Similarity {
    /// `a` counts as a near duplicate of `b` at `threshold`: at least that share of `a` is
    /// held by `b`. Containment is never below Jaccard, so this also covers every pair
    /// whose Jaccard reaches the threshold, and it is asymmetric on purpose: a truncated or
    /// excerpted copy is contained in its source, while a longer text that merely includes
    /// a shorter one is not a copy of it.
    pub fn is_near(&self, threshold: f64) -> bool {
        self.containment >= threshold
    }

    /// `near` when the Jaccard estimate itself reaches the threshold, `contained` when only
    /// the containment does.
    pub fn kind(&self, threshold: f64) -> &'static str {
        if self.jaccard >= threshold {
            "near"
        } else {
            "contained"
        }
    }
}

/// The largest size ratio of an earlier document to a newcomer at which containment is
/// estimated in full (see [`similarity`]).
pub const MAX_SIZE_RATIO: f64 = 2.0;

/// Estimates how much of `a` is in `b`. Jaccard J comes from the share of equal signature
/// positions, corrected for the chance that two different minima agree in their stored low
/// 16 bits; with the set sizes, |A ∩ B| = J (|A| + |B|) / (1 + J), so the containment of
/// `a` in `b` is that over |A|. Only IEEE basic arithmetic, so every platform agrees.
pub fn similarity(a: SketchRef<'_>, b: SketchRef<'_>) -> Similarity {
    let p = estimated_jaccard(a.sig, b.sig);
    let chance = 1.0 / f64::from(1u32 << SigValue::BITS);
    let jaccard = ((p - chance) / (1.0 - chance)).clamp(0.0, 1.0);
    let (na, nb) = (f64::from(a.shingles.max(1)), f64::from(b.shingles.max(1)));
    // The estimate's noise grows with |B| / |A| (a small error in J is multiplied by it),
    // so `b` counts as at most MAX_SIZE_RATIO times `a`'s size: past that, the containment
    // is understated, never overstated by noise.
    let nb = nb.min(MAX_SIZE_RATIO * na);
    let shared = jaccard * (na + nb) / (1.0 + jaccard);
    Similarity {
        jaccard,
        containment: (shared / na).min(1.0),
    }
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
    fn the_sketch_of_the_word_hashes_is_the_sketch_of_the_text() {
        let h = MinHasher::new(MinHashParams::default());
        for text in [
            "one two three four five",
            "The quick brown fox jumps over the lazy dog, twice: the quick brown fox!",
            "Ünïcode wörds fold the same way as ascii words do here",
        ] {
            let sk = h.sketch(text).unwrap();
            let words = word_hashes(text);
            assert_eq!(h.sketch_of_word_hashes(&words), Some(sk.clone()), "{text}");
            assert_eq!(h.signature_of_word_hashes(&words), sk.sig, "{text}");
            // Distinct shingles: the fox's text repeats "the quick brown".
            let shingles: std::collections::HashSet<u32> =
                word_shingles(&words, h.params().shingle_words)
                    .iter()
                    .map(|h| (h >> 32) as u32)
                    .collect();
            assert_eq!(sk.shingles as usize, shingles.len(), "{text}");
        }
        assert!(word_shingles(&word_hashes("too short"), 3).is_empty());
        assert!(h.sketch("too short").is_none());
    }

    #[test]
    fn distinct_counts_exactly() {
        let mut xs: Vec<u32> = (0..5000u64)
            .map(|i| (mix64(i % 1700) >> 32) as u32)
            .collect();
        xs.extend([0, 0, 7, 7, u32::MAX]);
        let mut sorted = xs.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(distinct(&xs) as usize, sorted.len());
        assert_eq!(distinct(&[]), 0);
        assert_eq!(distinct(&[0]), 1);
    }

    #[test]
    fn swar_lowercase_test_matches_the_byte_test() {
        for b in 0..=255u8 {
            let v = u64::from_le_bytes([b'A', b, b'z', 0x80, b'a', b'{', b'`', b]);
            let m = lowercase_bytes(v);
            for (k, byte) in v.to_le_bytes().iter().enumerate() {
                assert_eq!(
                    m >> (8 * k + 7) & 1 == 1,
                    byte.is_ascii_lowercase(),
                    "{byte:#x}"
                );
            }
        }
    }

    /// Words that the fast path hands on uncopied, and every way out of it (capitals,
    /// digits, a non-ASCII letter or mark inside a word, a word at the very end).
    #[test]
    fn the_ascii_fast_path_folds_like_the_character_rules() {
        let mut w = Vec::new();
        dedup_words(
            "plain words, Capital X2y 10x café naïve x\u{301}y averylongwordindeed, fin",
            &mut w,
        );
        assert_eq!(
            w,
            [
                "plain",
                "words",
                "capital",
                "x0y",
                "0x",
                "cafe",
                "naive",
                "xy",
                "averylongwordindeed",
                "fin"
            ]
        );
    }

    #[test]
    fn han_and_kana_characters_are_words_of_their_own() {
        use unicode_normalization::UnicodeNormalization;
        let mut w = Vec::new();
        dedup_words("日本語のテキスト、中文文本 ｶﾅ and 한국어 text", &mut w);
        let chars = "日本語のテキスト中文文本カナ".chars().map(String::from);
        // Hangul stays one word (in its NFKD jamo, as every folded word is decomposed).
        let rest = [
            "and".to_owned(),
            "한국어".nfkd().collect(),
            "text".to_owned(),
        ];
        let want: Vec<String> = chars.chain(rest).collect();
        assert_eq!(w, want);
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
        let sig = h.sketch(t).unwrap().sig;
        assert_eq!(h.sketch(t).map(|s| s.sig), Some(sig.clone()));
        assert_eq!(sig.len(), 60);
        assert_eq!(h.band_keys(&sig).len(), 20);
    }

    #[test]
    fn separately_built_hashers_give_the_same_signature() {
        let text = "the quick brown fox jumps over the lazy dog";
        let a = MinHasher::new(MinHashParams::default())
            .sketch(text)
            .unwrap();
        let b = MinHasher::new(MinHashParams::default())
            .sketch(text)
            .unwrap();
        assert_eq!(a, b);
        let other_seed = MinHashParams {
            seed: 1,
            ..MinHashParams::default()
        };
        assert_ne!(
            Some(a.sig),
            MinHasher::new(other_seed).sketch(text).map(|s| s.sig)
        );
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
        for short in ["", "two words", "post 1", "🎉🎉🎉 !!!", "one two"] {
            assert_eq!(h.sketch(short), None, "{short:?}");
        }
        assert!(h.sketch("one two three").is_some());
        assert_eq!(h.sketch("one two three one two three").unwrap().shingles, 3);
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
        // The default, FineWeb's 14 × 8 (blocks of 8 only) and 5 × 3 (8 + 4 + 3 one by one),
        // so every path of the blocked loop is checked.
        let d = MinHashParams::default();
        let others = [(5, 14, 8), (4, 5, 3)];
        let sets = std::iter::once(d).chain(others.map(|(w, b, r)| MinHashParams {
            shingle_words: w,
            bands: b,
            rows: r,
            ..d
        }));
        for p in sets {
            let h = MinHasher::new(p);
            for text in [
                "",
                "one",
                "a b c d e",
                "Café — Report 2024: “Results”! and then some more words follow here",
                &"lorem ipsum dolor sit amet consectetur ".repeat(50),
            ] {
                let fast = h.sketch(text).map(|s| s.sig);
                assert_eq!(fast, by_definition(p, text), "{p:?} {text:?}");
            }
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
                word: Vec::new(),
                in_digits: false,
                f: |w: &[u8]| slow.push(String::from_utf8(w.to_vec()).unwrap()),
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

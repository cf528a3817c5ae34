//! What a contributor's records are worth: the rules every validator applies (and the
//! simulation too) before it signs weights.
//!
//! **The unit.** A record earns `novel × quality`: `novel` is the number of its word
//! 5-grams (over text folded as for dedup) that no earlier record in log order holds,
//! estimated from a 1-in-`shingle_sample` hash sample; `quality` its quality score in
//! thousandths, as the validator computed it (never the contributor's own column). One unit
//! is one new 5-gram of full-quality text, about one new word. A record that is a near
//! duplicate earns nothing (the earlier leaf keeps the credit), and what it holds is no
//! longer new afterwards, so a later copy of it cannot claim it either: near means at least
//! the threshold's share of it held by one earlier record (containment on the dedup
//! sketches), or at least the threshold's share of its sampled 5-grams already held
//! (containment in everything earlier, which catches copies with a few words changed and
//! copies spliced from several records). Both are directional: a longer record that
//! includes a shorter earlier one is not a copy of it, and earns what it adds.
//!
//! Why it resists the games:
//! - **copying** a record with small edits: a near duplicate, zero (each changed word would
//!   otherwise make five new 5-grams: `masa simulate` found copiers of short records earning
//!   more per word than honest writers before containment was checked); edits too large
//!   for that still earn only the 5-grams they made new;
//! - **padding** a record with boilerplate: the boilerplate's 5-grams are new once, in the
//!   dataset's first record that holds them, and worth nothing in every record after;
//!   filler repeated inside a record counts once (the sample is a set);
//! - **splitting** one text into many records: the 5-grams are the same (minus those
//!   that crossed a cut), so the parts together earn no more than the whole;
//! - **sybils**: the score depends on content and log order only, never on the key, so
//!   five keys sharing one contributor's records earn what one key would.

use crate::ScoreRules;
use masa_dedup::{LshIndex, MinHashParams, MinHasher, Sketch, word_hashes, word_shingles};
use std::collections::HashSet;

/// Scores records in log order. Records before the epoch are [`Scorer::seed`]ed: they
/// earn nothing now, but what they hold is no longer new.
#[derive(Debug)]
pub struct Scorer {
    rules: ScoreRules,
    prep: Preparer,
    lsh: LshIndex,
    /// Sampled 5-gram hashes seen so far (membership only: its order never matters).
    sketch: HashSet<u64>,
}

/// Words a shingle of the unit of credit: a record earns its new word 5-grams.
pub const UNIT_SHINGLE_WORDS: usize = 5;

/// The order-free part of scoring a record (its near-duplicate sketch and sampled
/// 5-grams), which a validator computes in parallel before the in-order pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    sketch: Option<Sketch>,
    sampled: Vec<u64>,
}

/// Prepares records for a [`Scorer`] with the same rules; cheap to clone across threads.
#[derive(Debug, Clone)]
pub struct Preparer {
    hasher: MinHasher,
    sample: u64,
}

impl Preparer {
    pub fn new(rules: &ScoreRules) -> Preparer {
        Preparer {
            hasher: MinHasher::new(MinHashParams::default()),
            sample: u64::from(rules.shingle_sample.max(1)),
        }
    }

    pub fn prepare(&self, text: &str) -> Prepared {
        // The text is folded once, for the sketch (the dedup default shingles) and the unit.
        let words = word_hashes(text);
        let sketch = self.hasher.sketch_of_word_hashes(&words);
        let mut sampled: Vec<u64> = word_shingles(&words, UNIT_SHINGLE_WORDS)
            .into_iter()
            // The shingle hash is already well mixed: its low bits sample uniformly.
            .filter(|h| h % self.sample == 0)
            .collect();
        sampled.sort_unstable();
        sampled.dedup();
        Prepared { sketch, sampled }
    }
}

/// One record's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordScore {
    /// Estimated new 5-grams.
    pub novel: u64,
    /// `novel × quality‰`, the record's share of its contributor's score.
    pub score: u64,
    pub near_duplicate: bool,
}

impl Scorer {
    pub fn new(rules: &ScoreRules) -> Scorer {
        Scorer {
            rules: rules.clone(),
            prep: Preparer::new(rules),
            lsh: LshIndex::new(
                MinHashParams::default(),
                f64::from(rules.near_dup_threshold_ppm) / 1e6,
            ),
            sketch: HashSet::new(),
        }
    }

    /// Sees a record committed before the epoch being scored.
    pub fn seed(&mut self, text: &str) {
        let p = self.prep.prepare(text);
        self.add(&p, None, false);
    }

    /// Scores a record of the epoch (an audited, first-seen, unslashed record).
    pub fn score(&mut self, text: &str, quality: Option<f64>) -> RecordScore {
        let p = self.prep.prepare(text);
        self.add(&p, quality, true)
    }

    /// Sees a prepared record in log order; `counts` is false for records before the epoch.
    pub fn add(&mut self, p: &Prepared, quality: Option<f64>, counts: bool) -> RecordScore {
        let zero = |near_duplicate| RecordScore {
            novel: 0,
            score: 0,
            near_duplicate,
        };
        // Contained: at least the threshold's share of its sampled 5-grams are already held
        // (a copy with a few words changed, or spliced from several records, which MinHash
        // banding misses below a Jaccard of about 0.7).
        let known = p.sampled.iter().filter(|h| self.sketch.contains(h)).count() as u64;
        let total = p.sampled.len() as u64;
        let near = (total > 0
            && known * 1_000_000 >= u64::from(self.rules.near_dup_threshold_ppm) * total)
            || p.sketch
                .as_ref()
                .is_some_and(|sk| self.lsh.insert_unless_near_duplicate(sk.as_ref()).is_err());
        if near {
            // What it holds is no longer new, so no later copy can claim its few new
            // 5-grams either.
            self.sketch.extend(p.sampled.iter().copied());
            return zero(true);
        }
        let sample = self.prep.sample;
        let mut novel = 0;
        for h in &p.sampled {
            if self.sketch.insert(*h) {
                novel += sample;
            }
        }
        if !counts {
            return zero(false);
        }
        let q = quality.map_or(self.rules.unscored_quality_ppm, |q| {
            (q.clamp(0.0, 1.0) * 1e6).round() as u32
        });
        let score = if q < self.rules.quality_floor_ppm {
            0
        } else {
            novel * u64::from(q) / 1000
        };
        RecordScore {
            novel,
            score,
            near_duplicate: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Params;

    fn words(seed: u64, n: usize) -> String {
        // Distinct pseudo-words, so every 5-gram is new.
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("w{:x}", x % 1_000_000_007)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn rules() -> ScoreRules {
        Params::default().score
    }

    #[test]
    fn a_copy_earns_nothing_and_the_original_keeps_its_credit() {
        let mut s = Scorer::new(&rules());
        let text = words(1, 400);
        let first = s.score(&text, Some(1.0));
        assert!(first.novel > 250 && first.novel < 550, "{first:?}");
        let copy = s.score(
            &text.replace(&text[..20], "changed header words"),
            Some(1.0),
        );
        assert_eq!(copy.score, 0);
        assert!(copy.near_duplicate);
    }

    #[test]
    fn splitting_earns_no_more_than_the_whole() {
        let text = words(2, 1000);
        let mut whole = Scorer::new(&rules());
        let w = whole.score(&text, Some(1.0)).score;
        let mut parts = Scorer::new(&rules());
        let pieces: Vec<&str> = text.split(' ').collect();
        let p: u64 = pieces
            .chunks(50)
            .map(|c| parts.score(&c.join(" "), Some(1.0)).score)
            .sum();
        assert!(p <= w, "parts {p} > whole {w}");
    }

    #[test]
    fn boilerplate_counts_once_and_quality_weights() {
        let boiler = words(3, 1000);
        let mut s = Scorer::new(&rules());
        let a = s.score(&format!("{} {boiler}", words(4, 2000)), Some(1.0));
        let b = s.score(&format!("{} {boiler}", words(5, 2000)), Some(1.0));
        let mut plain = Scorer::new(&rules());
        let b_alone = plain.score(&words(5, 2000), Some(1.0));
        // The boilerplate earned in the first record only.
        assert!(a.score > b.score + 500 * 1000, "{a:?} {b:?}");
        // The second record's boilerplate adds only the 5-grams across its seam.
        assert!(
            b.score <= b_alone.score + 5 * 1000 * 8,
            "{b:?} vs {b_alone:?}"
        );
        let mut q = Scorer::new(&rules());
        let half = q.score(&words(6, 300), Some(0.5));
        let mut f = Scorer::new(&rules());
        let full = f.score(&words(6, 300), Some(1.0));
        assert_eq!(half.score * 2, full.score);
    }

    /// Containment is directional: the credit stays with the earliest leaf of a cluster
    /// only for what the later record copied.
    #[test]
    fn a_longer_record_including_a_shorter_earlier_one_earns_its_new_part() {
        let short = words(10, 300);
        let long = format!("{short} {}", words(11, 700));
        let mut s = Scorer::new(&rules());
        let first = s.score(&short, Some(1.0));
        assert!(first.novel > 150, "{first:?}");
        let later = s.score(&long, Some(1.0));
        // Not a copy of the shorter one: it earns its ~700 new 5-grams, not the 300 held.
        assert!(!later.near_duplicate, "{later:?}");
        assert!((450..=950).contains(&later.novel), "{later:?}");
    }

    #[test]
    fn a_shorter_record_contained_in_an_earlier_one_earns_nothing() {
        let long = words(12, 1000);
        let excerpt: Vec<&str> = long.split(' ').skip(300).take(400).collect();
        let mut s = Scorer::new(&rules());
        let first = s.score(&long, Some(1.0));
        assert!(first.novel > 700, "{first:?}");
        let copy = s.score(&excerpt.join(" "), Some(1.0));
        assert!(copy.near_duplicate, "{copy:?}");
        assert_eq!(copy.score, 0);
    }

    #[test]
    fn seeded_records_make_their_content_old() {
        let mut s = Scorer::new(&rules());
        let text = words(7, 300);
        s.seed(&text);
        assert_eq!(s.score(&text, Some(1.0)).score, 0);
        let fresh = s.score(&words(8, 300), None);
        assert!(fresh.score > 0);
        // Unscored rows count at the default quality, half.
        assert_eq!(fresh.score, fresh.novel * 500);
    }
}

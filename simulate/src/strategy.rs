//! Strategies: small policies behind one trait per role. A contributor's strategy decides
//! what its next record is; a validator's what weights it signs. Neither decides what they
//! earn: that is the protocol's fold, given the records' scores and the signed weights.

use crate::engine::SimRng;
use crate::scenario::{Compiled, Dist};
use masa_rewards::Key;
use rand::RngExt;
use std::collections::BTreeMap;

/// The contributor strategies a scenario may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContributorStrategy {
    Honest,
    LowQuality,
    Copier,
    Padder,
    Sybil,
    CabalMember,
}

impl ContributorStrategy {
    pub const ALL: [ContributorStrategy; 6] = [
        ContributorStrategy::Honest,
        ContributorStrategy::LowQuality,
        ContributorStrategy::Copier,
        ContributorStrategy::Padder,
        ContributorStrategy::Sybil,
        ContributorStrategy::CabalMember,
    ];
    pub const NAMES: &'static [&'static str] = &[
        "honest",
        "low_quality",
        "copier",
        "padder",
        "sybil",
        "cabal_member",
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(s: &str) -> Option<ContributorStrategy> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }

    /// The policy an agent playing this strategy follows.
    pub fn build(self, c: &Compiled, rng: &mut SimRng) -> Box<dyn ContributorPolicy> {
        let k = &c.scenario.contributors;
        match self {
            ContributorStrategy::Honest => Box::new(Honest),
            ContributorStrategy::CabalMember => Box::new(Honest),
            ContributorStrategy::LowQuality => Box::new(LowQuality {
                quality: k.low_quality.quality.clone(),
                cost_factor: k.low_quality.cost_factor,
            }),
            ContributorStrategy::Copier => Box::new(Copier {
                edits: k.copier.edits,
            }),
            ContributorStrategy::Padder => Box::new(Padder {
                boilerplate: words(rng, k.padder.padding_words as usize, k.vocabulary),
                original_share: k.padder.original_share,
            }),
            ContributorStrategy::Sybil => Box::new(Sybil { keys: k.sybil.keys }),
        }
    }
}

/// What a contributor's policy sees when it writes a record.
#[derive(Debug)]
pub struct Draw<'a> {
    pub words: &'a Dist,
    pub quality: &'a Dist,
    pub vocabulary: u32,
    /// The chance an honest record repeats one already in the dataset.
    pub duplication: f64,
    /// Recent records of the dataset, with the agent that sent each.
    pub recent: &'a [(u32, String)],
    pub me: u32,
}

/// A record a contributor sends.
#[derive(Debug)]
pub struct Draft {
    pub text: String,
    /// The quality the validators' scoring will find.
    pub quality: f64,
    /// Words it wrote itself (what its content cost).
    pub original_words: u64,
}

/// A contributor's policy.
pub trait ContributorPolicy: Send {
    /// The next record, or `None` when it has nothing to send.
    fn record(&mut self, d: &Draw, rng: &mut SimRng) -> Option<Draft>;
    /// Keys it signs batches with (each staking the contributor stake).
    fn keys(&self) -> u32 {
        1
    }
    /// Its content's cost relative to an honest contributor's, per original word.
    fn cost_factor(&self) -> f64 {
        1.0
    }
}

/// Writes records of the scenario's sizes and qualities, now and then one that repeats an
/// existing record (syndicated text): what a contributor with real data does.
#[derive(Debug)]
pub struct Honest;

impl ContributorPolicy for Honest {
    fn record(&mut self, d: &Draw, rng: &mut SimRng) -> Option<Draft> {
        if !d.recent.is_empty() && rng.random::<f64>() < d.duplication {
            let (_, text) = &d.recent[rng.random_range(0..d.recent.len())];
            return Some(Draft {
                text: text.clone(),
                quality: d.quality.sample(rng),
                original_words: 0,
            });
        }
        let n = word_count(d.words, rng);
        Some(Draft {
            text: words(rng, n, d.vocabulary),
            quality: d.quality.sample(rng).clamp(0.0, 1.0),
            original_words: n as u64,
        })
    }
}

/// Sends cheap, low-quality text (spun pages, boilerplate-heavy scrapes) in volume, hoping
/// volume pays where quality does not.
#[derive(Debug)]
pub struct LowQuality {
    quality: Dist,
    cost_factor: f64,
}

impl ContributorPolicy for LowQuality {
    fn record(&mut self, d: &Draw, rng: &mut SimRng) -> Option<Draft> {
        let n = word_count(d.words, rng);
        Some(Draft {
            text: words(rng, n, d.vocabulary),
            quality: self.quality.sample(rng).clamp(0.0, 1.0),
            original_words: n as u64,
        })
    }
    fn cost_factor(&self) -> f64 {
        self.cost_factor
    }
}

/// Re-sends other contributors' recent records with a few words changed: no content cost
/// at all, if the protocol paid for it.
#[derive(Debug)]
pub struct Copier {
    edits: u32,
}

impl ContributorPolicy for Copier {
    fn record(&mut self, d: &Draw, rng: &mut SimRng) -> Option<Draft> {
        let others: Vec<&String> = d
            .recent
            .iter()
            .filter(|(who, _)| *who != d.me)
            .map(|(_, t)| t)
            .collect();
        if others.is_empty() {
            // Nothing to copy yet: it sends nothing.
            return None;
        }
        let source = others[rng.random_range(0..others.len())];
        let mut ws: Vec<String> = source.split(' ').map(str::to_owned).collect();
        for _ in 0..self.edits {
            let i = rng.random_range(0..ws.len());
            ws[i] = word(rng.random_range(0..d.vocabulary));
        }
        Some(Draft {
            text: ws.join(" "),
            quality: d.quality.sample(rng),
            original_words: u64::from(self.edits),
        })
    }
}

/// Writes a share of an honest record and pads it with the same boilerplate every time, so
/// its records look as large as an honest contributor's for less work.
#[derive(Debug)]
pub struct Padder {
    boilerplate: String,
    original_share: f64,
}

impl ContributorPolicy for Padder {
    fn record(&mut self, d: &Draw, rng: &mut SimRng) -> Option<Draft> {
        let n = ((word_count(d.words, rng) as f64) * self.original_share).round() as usize;
        let n = n.max(1);
        let mut text = words(rng, n, d.vocabulary);
        text.push(' ');
        text.push_str(&self.boilerplate);
        Some(Draft {
            text,
            quality: d.quality.sample(rng).clamp(0.0, 1.0),
            original_words: n as u64,
        })
    }
}

/// An honest contributor that spreads its records over many keys, in case the protocol
/// paid per key (a registration bonus, a per-key floor, a cap per key).
#[derive(Debug)]
pub struct Sybil {
    keys: u32,
}

impl ContributorPolicy for Sybil {
    fn record(&mut self, d: &Draw, rng: &mut SimRng) -> Option<Draft> {
        Honest.record(d, rng)
    }
    fn keys(&self) -> u32 {
        self.keys
    }
}

/// The validator strategies a scenario may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValidatorStrategy {
    Honest,
    Lazy,
    Colluding,
    Offline,
}

impl ValidatorStrategy {
    pub const ALL: [ValidatorStrategy; 4] = [
        ValidatorStrategy::Honest,
        ValidatorStrategy::Lazy,
        ValidatorStrategy::Colluding,
        ValidatorStrategy::Offline,
    ];
    pub const NAMES: &'static [&'static str] = &["honest", "lazy", "colluding", "offline"];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The name in reports, where contributors' and validators' strategies are listed
    /// together.
    pub fn label(self) -> String {
        format!("validator_{}", self.name())
    }

    pub fn parse(s: &str) -> Option<ValidatorStrategy> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }

    pub fn build(self, c: &Compiled) -> Box<dyn ValidatorPolicy> {
        match self {
            ValidatorStrategy::Honest => Box::new(HonestValidator),
            ValidatorStrategy::Lazy => Box::new(Lazy {
                cost_factor: c.scenario.validators.lazy.cost_factor,
            }),
            ValidatorStrategy::Colluding => Box::new(Colluding {
                boost: c.scenario.cabal.boost,
            }),
            ValidatorStrategy::Offline => Box::new(Offline),
        }
    }
}

/// What a validator's policy sees when it reports for an epoch.
pub struct Audit<'a> {
    /// The epoch's scores by contributor key, as the scoring rules give them (what an
    /// honest audit of the epoch's records computes).
    pub scores: &'a BTreeMap<Key, u64>,
    /// The latest report for the epoch already in the log, if any.
    pub latest_report: Option<&'a BTreeMap<Key, u64>>,
    /// Keys of the cabal's members.
    pub cabal: &'a dyn Fn(&Key) -> bool,
}

/// A validator's policy.
pub trait ValidatorPolicy: Send {
    /// The weights it signs for the epoch, or `None` to not report (now).
    fn report(&self, a: &Audit) -> Option<BTreeMap<Key, u64>>;
    /// Whether it reports at all (an offline validator is never waited for).
    fn reports(&self) -> bool {
        true
    }
    /// Its cost of one report relative to an honest audit.
    fn cost_factor(&self) -> f64 {
        1.0
    }
}

/// Audits the epoch's records by the scoring rules and signs the scores as they are.
#[derive(Debug)]
pub struct HonestValidator;

impl ValidatorPolicy for HonestValidator {
    fn report(&self, a: &Audit) -> Option<BTreeMap<Key, u64>> {
        Some(a.scores.clone())
    }
}

/// Audits nothing and signs a copy of the latest report in the log: the dividends of a
/// validator at a fraction of the cost, as long as reports are public before the close.
#[derive(Debug)]
pub struct Lazy {
    cost_factor: f64,
}

impl ValidatorPolicy for Lazy {
    fn report(&self, a: &Audit) -> Option<BTreeMap<Key, u64>> {
        a.latest_report.cloned()
    }
    fn cost_factor(&self) -> f64 {
        self.cost_factor
    }
}

/// Audits honestly, then multiplies the weights of the cabal's own contributors, hoping to
/// pull emission towards them.
#[derive(Debug)]
pub struct Colluding {
    boost: f64,
}

impl ValidatorPolicy for Colluding {
    fn report(&self, a: &Audit) -> Option<BTreeMap<Key, u64>> {
        let mut w = a.scores.clone();
        for (k, x) in w.iter_mut() {
            if (a.cabal)(k) {
                *x = ((*x as f64) * self.boost).round() as u64;
            }
        }
        Some(w)
    }
}

/// Stakes and never reports (a misconfigured or abandoned node): bonds alone, if the
/// protocol paid for them.
#[derive(Debug)]
pub struct Offline;

impl ValidatorPolicy for Offline {
    fn report(&self, _: &Audit) -> Option<BTreeMap<Key, u64>> {
        None
    }
    fn reports(&self) -> bool {
        false
    }
    fn cost_factor(&self) -> f64 {
        0.0
    }
}

fn word_count(d: &Dist, rng: &mut SimRng) -> usize {
    (d.sample(rng).round() as usize).clamp(1, 1_000_000)
}

/// A synthetic word: the base-26 spelling of its number, appended to `out`.
fn push_word(out: &mut String, mut n: u32) {
    loop {
        out.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return;
        }
    }
}

fn word(n: u32) -> String {
    let mut s = String::with_capacity(6);
    push_word(&mut s, n);
    s
}

/// `n` words drawn uniformly from the vocabulary.
pub fn words(rng: &mut SimRng, n: usize, vocabulary: u32) -> String {
    let mut out = String::with_capacity(n * 6);
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        push_word(&mut out, rng.random_range(0..vocabulary));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_distinct_spellings() {
        assert_eq!(word(0), "a");
        assert_eq!(word(25), "z");
        assert_eq!(word(26), "ab");
        let mut rng = crate::engine::rng_for(1, 0, 0);
        let t = words(&mut rng, 50, 1 << 20);
        assert_eq!(t.split(' ').count(), 50);
    }

    #[test]
    fn names_round_trip() {
        for s in ContributorStrategy::ALL {
            assert_eq!(ContributorStrategy::parse(s.name()), Some(s));
        }
        for s in ValidatorStrategy::ALL {
            assert_eq!(ValidatorStrategy::parse(s.name()), Some(s));
        }
        assert_eq!(ContributorStrategy::parse("forger"), None);
    }
}

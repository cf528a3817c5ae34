//! The protocol's parameters: one versioned struct, set by the genesis event and changed
//! only at an epoch boundary (by governance, a later issue). Every ratio is an integer in
//! parts per million or basis points, so parameters hash the same everywhere.

use crate::Amount;
use serde::{Deserialize, Serialize};

/// The version of [`Params`] this code reads and writes.
pub const PARAMS_VERSION: u32 = 1;

/// A staking role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Audits contributions and sets weights over contributors.
    Validator,
    /// Contributes data (a contributor); must hold the minimum to be rewarded.
    Worker,
    /// Uses the data (queries) and pays for it.
    Oracle,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Validator, Role::Worker, Role::Oracle];

    pub fn name(self) -> &'static str {
        match self {
            Role::Validator => "validator",
            Role::Worker => "worker",
            Role::Oracle => "oracle",
        }
    }

    pub fn parse(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown role {s:?} (validator, worker or oracle)"))
    }
}

/// A provable offence, each with its own slash fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Offence {
    /// A contributor logged a batch whose manifest signature does not verify.
    InvalidManifest,
    /// Rows whose content does not match their hashes, found by validators holding κ.
    ContentMismatch,
    /// Content contributed against a recorded robots/TDM/noai refusal, with no override.
    ConsentViolation,
    /// Content that is not what its source serves, attested by validators holding κ.
    Fabrication,
    /// A validator signed two different reports for one epoch.
    Equivocation,
}

/// Where slashed stake goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlashDestination {
    Burn,
    Treasury,
}

/// Minimum stake per role, in base units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinStake {
    pub validator: Amount,
    pub worker: Amount,
    pub oracle: Amount,
}

impl MinStake {
    pub fn get(&self, role: Role) -> Amount {
        match role {
            Role::Validator => self.validator,
            Role::Worker => self.worker,
            Role::Oracle => self.oracle,
        }
    }
}

/// Slash fraction per offence, in basis points of the offender's stake (bonded and
/// unbonding, every role).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlashBps {
    pub invalid_manifest: u32,
    pub content_mismatch: u32,
    pub consent_violation: u32,
    pub fabrication: u32,
    pub equivocation: u32,
}

impl SlashBps {
    pub fn get(&self, o: Offence) -> u32 {
        match o {
            Offence::InvalidManifest => self.invalid_manifest,
            Offence::ContentMismatch => self.content_mismatch,
            Offence::ConsentViolation => self.consent_violation,
            Offence::Fabrication => self.fabrication,
            Offence::Equivocation => self.equivocation,
        }
    }
}

/// How validators turn audited records into a contributor's score (see `score.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRules {
    /// Share of a record held by one earlier record (estimated containment on the dedup
    /// sketches), or of its sampled 5-grams held by all earlier ones, at or above which it
    /// is a near duplicate and earns nothing (ppm). Same default as the pipeline's near-dup
    /// removal.
    pub near_dup_threshold_ppm: u32,
    /// One word 5-gram in this many is kept in the novelty sketch (by hash); novel content
    /// is estimated from the sample.
    pub shingle_sample: u32,
    /// Records below this quality score earn nothing (ppm).
    pub quality_floor_ppm: u32,
    /// The quality of a record that carries no score (older rows), ppm.
    pub unscored_quality_ppm: u32,
}

/// The protocol's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub version: u32,
    /// Epoch length in log leaves.
    pub epoch_length: u64,
    /// Minted when an epoch closes (only what is paid out is minted).
    pub emission_per_epoch: Amount,
    /// Shares of the emission, basis points summing to 10 000.
    pub contributor_share_bps: u32,
    pub validator_share_bps: u32,
    pub treasury_share_bps: u32,
    pub min_stake: MinStake,
    /// Epochs an unstaked amount stays bonded (slashable, earning nothing) before it returns.
    pub unbonding_epochs: u64,
    /// Yuma's κ: the share of validator stake a weight needs behind it (ppm).
    pub kappa_ppm: u32,
    /// Weight of the new bonds in the bond EMA (ppm).
    pub bond_alpha_ppm: u32,
    pub slash_bps: SlashBps,
    pub slash_destination: SlashDestination,
    pub score: ScoreRules,
    pub governance: Governance,
}

/// A governance topic: what a proposal changes, and what a delegation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Epochs, emission, shares, stakes, consensus and score rules, governance itself.
    Params,
    /// Slash fractions.
    Slashing,
    /// The emission's shares (the treasury's among them) and where slashed stake goes.
    Treasury,
    /// Every scope: a delegation for a specific scope overrides one for `all`.
    All,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Params, Scope::Slashing, Scope::Treasury, Scope::All];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Params => "params",
            Scope::Slashing => "slashing",
            Scope::Treasury => "treasury",
            Scope::All => "all",
        }
    }

    pub fn parse(s: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown scope {s:?} (params, slashing, treasury or all)"))
    }

    /// The scope of a parameter, by its path in [`Params`] (`kappa_ppm`,
    /// `slash_bps.fabrication`, ...).
    ///
    /// Governance's own thresholds belong to the scope they govern (`governance.slashing.*`
    /// is slashing), so a proposal of one scope cannot lower another's bar; the rest of
    /// `governance` (conviction, viscosity, cap, decision period) applies to every scope and
    /// is decided as slashing, the strictest by default.
    pub fn of_param(path: &str) -> Scope {
        if path.starts_with("slash_bps") || path.starts_with("governance.slashing.") {
            Scope::Slashing
        } else if path.ends_with("_share_bps")
            || path == "slash_destination"
            || path.starts_with("governance.treasury.")
        {
            Scope::Treasury
        } else if path.starts_with("governance.") && !path.starts_with("governance.params.") {
            Scope::Slashing
        } else {
            Scope::Params
        }
    }
}

/// Quorum and approval of one scope, in basis points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Participation (stake that reached a voter, over all bonded stake) needed.
    pub quorum_bps: u32,
    /// A proposal passes when yes / (yes + no) is above this.
    pub approval_bps: u32,
}

/// One row of the conviction table: a vote's multiplier and how long it locks the stake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conviction {
    /// The vote's weight multiplier, in tenths (1 = 0.1×, 10 = 1×).
    pub multiplier_tenths: u32,
    /// Epochs the voter's stake stays locked after the decision.
    pub lock_epochs: u64,
}

/// How proposals are decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Governance {
    /// A proposal is decided when the epoch this many epochs after the one it was made in
    /// (counting that one) closes.
    pub decision_epochs: u64,
    pub params: Threshold,
    pub slashing: Threshold,
    pub treasury: Threshold,
    /// Conviction `c` is row `c`: Polkadot's 0.1× with no lock, then 1×..6× for 1, 2, 4, 8,
    /// 16, 32 lock periods (one period = one epoch here).
    pub conviction: Vec<Conviction>,
    /// Share of delegated weight kept at each hop (bps): 9 500 loses 5 % per hop.
    pub viscosity_bps: u32,
    /// The most delegated weight any one voter may carry, as a share of the weight that
    /// reached voters (bps); the excess returns to its delegators as abstention.
    pub voter_cap_bps: u32,
    /// Fallback delegates a delegation may name.
    pub max_fallbacks: u32,
}

impl Governance {
    pub fn threshold(&self, scope: Scope) -> &Threshold {
        match scope {
            Scope::Slashing => &self.slashing,
            Scope::Treasury => &self.treasury,
            Scope::Params | Scope::All => &self.params,
        }
    }
}

impl Default for Governance {
    /// Defaults: decided over 2 epochs; parameters need 20 % participation and a simple
    /// majority, slashing and treasury 30 % and two thirds / 60 % (they move money);
    /// Polkadot's conviction table; 5 % decay per hop; no voter carries more than 20 % of
    /// the weight that voted; up to 3 fallbacks.
    fn default() -> Self {
        let row = |m, l| Conviction {
            multiplier_tenths: m,
            lock_epochs: l,
        };
        Governance {
            decision_epochs: 2,
            params: Threshold {
                quorum_bps: 2000,
                approval_bps: 5000,
            },
            slashing: Threshold {
                quorum_bps: 3000,
                approval_bps: 6667,
            },
            treasury: Threshold {
                quorum_bps: 3000,
                approval_bps: 6000,
            },
            conviction: vec![
                row(1, 0),
                row(10, 1),
                row(20, 2),
                row(30, 4),
                row(40, 8),
                row(50, 16),
                row(60, 32),
            ],
            viscosity_bps: 9500,
            voter_cap_bps: 2000,
            max_fallbacks: 3,
        }
    }
}

impl Default for Params {
    /// The defaults and why (ARCHITECTURE.md repeats them):
    /// - epoch of 64 leaves: at one leaf per committed batch (10 000 rows) plus audits, an
    ///   epoch spans tens of batches and every validator's report of the previous one;
    /// - 1 000 MASA per epoch; shares 41 % contributors, 41 % validators, 18 % treasury, the
    ///   split Bittensor pays miners, validators and the subnet owner;
    /// - minimum stakes 100 (validator), 10 (worker, oracle): a validator's permit must cost
    ///   more than a worker's registration, or sybil validators would be cheap;
    /// - unbonding 2 epochs: long enough that an offence in the epoch being audited can still
    ///   be slashed after its close;
    /// - κ = 0.5 and α = 0.1 as on the chain;
    /// - slashes: fabrication 100 % (no honest explanation), content mismatch 50 %, consent
    ///   violation 20 % (often a misconfigured crawler), invalid manifest 10 % and
    ///   equivocation 10 % (a crashed validator re-running can sign twice);
    /// - slashed stake is burned, so no one profits from accusing;
    /// - scores: near-dup threshold 0.6 as in the pipeline, a 1-in-8 shingle sketch,
    ///   no quality floor (quality weights the score instead), unscored rows at 0.5.
    fn default() -> Self {
        Params {
            version: PARAMS_VERSION,
            epoch_length: 64,
            emission_per_epoch: Amount::masa(1000),
            contributor_share_bps: 4100,
            validator_share_bps: 4100,
            treasury_share_bps: 1800,
            min_stake: MinStake {
                validator: Amount::masa(100),
                worker: Amount::masa(10),
                oracle: Amount::masa(10),
            },
            unbonding_epochs: 2,
            kappa_ppm: 500_000,
            bond_alpha_ppm: 100_000,
            slash_bps: SlashBps {
                invalid_manifest: 1000,
                content_mismatch: 5000,
                consent_violation: 2000,
                fabrication: 10_000,
                equivocation: 1000,
            },
            slash_destination: SlashDestination::Burn,
            score: ScoreRules {
                near_dup_threshold_ppm: 600_000,
                shingle_sample: 8,
                quality_floor_ppm: 0,
                unscored_quality_ppm: 500_000,
            },
            governance: Governance::default(),
        }
    }
}

impl Params {
    /// Checks every field's range; the message names the first field out of range.
    pub fn validate(&self) -> Result<(), String> {
        let ppm = |name: &str, v: u32| {
            if v > 1_000_000 {
                Err(format!("{name} is {v}, above 1 000 000 ppm"))
            } else {
                Ok(())
            }
        };
        if self.version != PARAMS_VERSION {
            return Err(format!(
                "parameters version {} is not {PARAMS_VERSION}, the version this masa reads",
                self.version
            ));
        }
        // Bounds that keep every sum of leaves and epochs far from overflowing.
        const MAX_SPAN: u64 = 1 << 32;
        if self.epoch_length == 0 || self.epoch_length > MAX_SPAN {
            return Err(format!(
                "epoch_length must be between 1 and {MAX_SPAN} leaves"
            ));
        }
        if self.unbonding_epochs > 1 << 20 {
            return Err("unbonding_epochs is at most 1 048 576".into());
        }
        if self.emission_per_epoch.0 > crate::MAX_SUPPLY >> 20 {
            return Err("emission_per_epoch is at most 2^80 base units".into());
        }
        let shares = u64::from(self.contributor_share_bps)
            + u64::from(self.validator_share_bps)
            + u64::from(self.treasury_share_bps);
        if shares != 10_000 {
            return Err(format!(
                "the shares (contributor {}, validator {}, treasury {}) sum to {shares} bps, not 10 000",
                self.contributor_share_bps, self.validator_share_bps, self.treasury_share_bps
            ));
        }
        // κ in (0, 1): at 0 or 1 the median is the largest or smallest weight and clipping
        // protects nothing.
        if self.kappa_ppm == 0 || self.kappa_ppm >= 1_000_000 {
            return Err(format!(
                "kappa_ppm is {}: κ must be strictly between 0 and 1 (1 and 999 999 ppm)",
                self.kappa_ppm
            ));
        }
        let g = &self.governance;
        if g.decision_epochs == 0 || g.decision_epochs > 1 << 20 {
            return Err("governance.decision_epochs must be between 1 and 1 048 576".into());
        }
        if g.conviction
            .iter()
            .any(|c| c.multiplier_tenths > 1000 || c.lock_epochs > 1 << 20)
        {
            return Err(
                "governance.conviction: multipliers at most 1000 tenths (100x), locks at most 1 048 576 epochs"
                    .into(),
            );
        }
        for (name, t) in [
            ("params", &g.params),
            ("slashing", &g.slashing),
            ("treasury", &g.treasury),
        ] {
            if t.quorum_bps > 10_000 || t.approval_bps >= 10_000 {
                return Err(format!(
                    "governance.{name}: quorum_bps must be at most 10 000 and approval_bps below 10 000"
                ));
            }
        }
        if g.conviction.is_empty() || g.conviction.len() > 16 {
            return Err("governance.conviction must have 1 to 16 rows".into());
        }
        if g.viscosity_bps > 10_000 || g.voter_cap_bps == 0 || g.voter_cap_bps > 10_000 {
            return Err(
                "governance: viscosity_bps at most 10 000, voter_cap_bps between 1 and 10 000"
                    .into(),
            );
        }
        if g.max_fallbacks > 8 {
            return Err("governance.max_fallbacks is at most 8".into());
        }
        ppm("bond_alpha_ppm", self.bond_alpha_ppm)?;
        ppm(
            "score.near_dup_threshold_ppm",
            self.score.near_dup_threshold_ppm,
        )?;
        ppm("score.quality_floor_ppm", self.score.quality_floor_ppm)?;
        ppm(
            "score.unscored_quality_ppm",
            self.score.unscored_quality_ppm,
        )?;
        if self.score.shingle_sample == 0 || self.score.shingle_sample > 1024 {
            return Err("score.shingle_sample must be between 1 and 1024".into());
        }
        for o in [
            Offence::InvalidManifest,
            Offence::ContentMismatch,
            Offence::ConsentViolation,
            Offence::Fabrication,
            Offence::Equivocation,
        ] {
            if self.slash_bps.get(o) > 10_000 {
                return Err(format!("slash_bps for {o:?} is above 10 000"));
            }
        }
        Ok(())
    }

    pub fn kappa(&self) -> f64 {
        f64::from(self.kappa_ppm) / 1e6
    }

    pub fn bond_alpha(&self) -> f64 {
        f64::from(self.bond_alpha_ppm) / 1e6
    }
}

/// A fraction as basis points or ppm, refusing what is not in [0, 1].
fn fraction(name: &str, v: &str, scale: f64) -> Result<String, String> {
    let f: f64 = v
        .parse()
        .ok()
        .filter(|f: &f64| f.is_finite())
        .ok_or_else(|| format!("{name}={v}: not a number"))?;
    if !(0.0..=1.0).contains(&f) {
        return Err(format!("{name}={v}: a fraction between 0 and 1"));
    }
    Ok(((f * scale).round() as u64).to_string())
}

/// A parameter's short form, as people write it (`kappa=0.55`, `emission=1200`,
/// `min_stake.validator=100`, `slash.fabrication=1.0`, `slash_destination=burn`), to its
/// path in [`Params`] and its JSON value; `None` when `name` is not a short form. Fractions
/// become ppm or basis points, amounts are MASA. `masa propose` and `masa simulate` both
/// read parameters through it.
pub fn short_form(name: &str, v: &str) -> Option<Result<(String, String), String>> {
    let masa = |v: &str| {
        Amount::parse_masa(v)
            .map(|a| format!("\"{}\"", a.0))
            .map_err(|e| format!("{name}: {e}"))
    };
    let change = match name {
        "kappa" => fraction(name, v, 1e6).map(|x| ("kappa_ppm".to_owned(), x)),
        "bond_alpha" => fraction(name, v, 1e6).map(|x| ("bond_alpha_ppm".to_owned(), x)),
        "emission" => masa(v).map(|x| ("emission_per_epoch".to_owned(), x)),
        "contributor_share" | "validator_share" | "treasury_share" => {
            fraction(name, v, 1e4).map(|x| (format!("{name}_bps"), x))
        }
        "slash_destination" => Ok((name.to_owned(), format!("{v:?}"))),
        n if n.starts_with("min_stake.") => masa(v).map(|x| (n.to_owned(), x)),
        n if n.starts_with("slash.") => {
            fraction(name, v, 1e4).map(|x| (format!("slash_bps.{}", &n["slash.".len()..]), x))
        }
        _ => return None,
    };
    Some(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let p = Params::default();
        p.validate().unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Params>(&json).unwrap(), p);
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let with = |edit: fn(&mut Params)| {
            let mut p = Params::default();
            edit(&mut p);
            p.validate().unwrap_err()
        };
        assert!(with(|p| p.treasury_share_bps = 0).contains("sum to 8200"));
        assert!(with(|p| p.kappa_ppm = 1_000_001).contains("kappa_ppm"));
        assert!(with(|p| p.kappa_ppm = 0).contains("strictly between 0 and 1"));
        assert!(with(|p| p.governance.conviction.clear()).contains("conviction"));
        assert!(with(|p| p.epoch_length = 0).contains("epoch_length"));
        assert!(with(|p| p.score.shingle_sample = 0).contains("shingle_sample"));
        assert!(with(|p| p.slash_bps.fabrication = 10_001).contains("Fabrication"));
        let bad = r#"{"version":1,"surprise":1}"#;
        assert!(serde_json::from_str::<Params>(bad).is_err());
    }

    #[test]
    fn short_forms_become_paths_and_values_or_say_what_is_wrong() {
        let ok = |n: &str, v: &str| short_form(n, v).unwrap().unwrap();
        assert_eq!(ok("kappa", "0.55"), ("kappa_ppm".into(), "550000".into()));
        assert_eq!(
            ok("emission", "1200"),
            ("emission_per_epoch".into(), "\"1200000000000\"".into())
        );
        assert_eq!(
            ok("slash.fabrication", "1"),
            ("slash_bps.fabrication".into(), "10000".into())
        );
        assert!(short_form("kappa", "1.5").unwrap().is_err());
        assert!(short_form("kappa_ppm", "1").is_none());
    }
}

//! `scenario.toml`: who is in the network, at what rates they come, go, fail and act, which
//! strategies they play, what things cost, and which protocol parameters are in force.
//! Parsing checks everything once, and a bad file gets one message naming the field.

use crate::strategy::{ContributorStrategy, ValidatorStrategy};
use masa_rewards::{Amount, Params};
use rand::RngExt;
use rand_distr::Distribution;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A bad scenario: the field (a dotted path) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScenarioError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        field: field.into(),
        message: message.into(),
    }
}

/// A scenario as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Each run lasts this many closed epochs.
    pub epochs: u64,
    /// Monte Carlo runs per sweep point (`--runs` overrides).
    #[serde(default = "default_runs")]
    pub runs: u32,
    /// The seed of run 0 (`--seed` overrides).
    #[serde(default)]
    pub seed: u64,
    /// A run also stops at this simulated time, whatever the epoch.
    #[serde(default = "default_max_time")]
    pub max_time: f64,
    /// Protocol parameters as `masa propose` takes them: short forms (`kappa = 0.4`,
    /// `emission = 1200`) or paths (`kappa_ppm = 400000`, `epoch_length = 128`); amounts
    /// in MASA.
    #[serde(default)]
    pub params: toml::Table,
    #[serde(default)]
    pub costs: Costs,
    pub contributors: Contributors,
    pub validators: Validators,
    #[serde(default)]
    pub oracles: Oracles,
    #[serde(default)]
    pub cabal: Cabal,
    #[serde(default)]
    pub governance: GovernanceModel,
}

fn default_runs() -> u32 {
    20
}
fn default_max_time() -> f64 {
    1e9
}

/// What playing costs, in MASA, so that strategies compare by reward per unit of cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Costs {
    /// The opportunity cost of one staked MASA for one epoch.
    pub stake_per_epoch: f64,
    /// Writing (or collecting) 1 000 words of original content.
    pub content_per_kword: f64,
    /// A validator's cost of auditing one epoch and signing its weights.
    pub audit_per_epoch: f64,
}

impl Default for Costs {
    fn default() -> Self {
        Costs {
            stake_per_epoch: 0.001,
            content_per_kword: 1.0,
            audit_per_epoch: 2.0,
        }
    }
}

/// A distribution of a positive quantity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum Dist {
    Fixed {
        value: f64,
    },
    Uniform {
        min: f64,
        max: f64,
    },
    Exponential {
        mean: f64,
    },
    /// Log-normal with the given median and σ of the logarithm.
    Lognormal {
        median: f64,
        sigma: f64,
    },
    /// Beta(α, β) on [0, 1] (qualities).
    Beta {
        alpha: f64,
        beta: f64,
    },
}

impl Dist {
    fn check(&self, field: &str) -> Result<(), ScenarioError> {
        let pos = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(
                    format!("{field}.{name}"),
                    format!("must be a finite number > 0, not {v}"),
                ))
            }
        };
        match *self {
            Dist::Fixed { value } => {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(bad(
                        format!("{field}.value"),
                        format!("must be a finite number ≥ 0, not {value}"),
                    ));
                }
            }
            Dist::Uniform { min, max } => {
                if !(min.is_finite() && max.is_finite() && 0.0 <= min && min <= max) {
                    return Err(bad(
                        field,
                        format!("a uniform needs 0 ≤ min ≤ max, not min {min}, max {max}"),
                    ));
                }
            }
            Dist::Exponential { mean } => pos("mean", mean)?,
            Dist::Lognormal { median, sigma } => {
                pos("median", median)?;
                if !(sigma.is_finite() && sigma >= 0.0) {
                    return Err(bad(
                        format!("{field}.sigma"),
                        format!("must be a finite number ≥ 0, not {sigma}"),
                    ));
                }
            }
            Dist::Beta { alpha, beta } => {
                pos("alpha", alpha)?;
                pos("beta", beta)?;
            }
        }
        Ok(())
    }

    /// A draw (every parameter was checked, so the distributions construct).
    pub fn sample(&self, rng: &mut crate::engine::SimRng) -> f64 {
        match *self {
            Dist::Fixed { value } => value,
            Dist::Uniform { min, max } => min + (max - min) * rng.random::<f64>(),
            Dist::Exponential { mean } => -mean * (1.0 - rng.random::<f64>()).ln(),
            Dist::Lognormal { median, sigma } => {
                let n: f64 = rand_distr::StandardNormal.sample(rng);
                median * (sigma * n).exp()
            }
            Dist::Beta { alpha, beta } => rand_distr::Beta::new(alpha, beta)
                .expect("checked when the scenario was read")
                .sample(rng),
        }
    }

    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Fixed { value } => value,
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::Exponential { mean } => mean,
            Dist::Lognormal { median, sigma } => median * (sigma * sigma / 2.0).exp(),
            Dist::Beta { alpha, beta } => alpha / (alpha + beta),
        }
    }
}

/// Arrivals, departures, failures and recoveries of one role: the agents' lifecycle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lifecycle {
    /// Agents at the start.
    pub initial: u32,
    /// New agents per unit of time.
    pub arrival_rate: f64,
    /// Per agent per unit of time: it unstakes and leaves for good.
    pub departure_rate: f64,
    /// Per online agent per unit of time: it goes offline.
    pub failure_rate: f64,
    /// Per offline agent per unit of time: it comes back.
    pub recovery_rate: f64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            initial: 0,
            arrival_rate: 0.0,
            departure_rate: 0.0,
            failure_rate: 0.0,
            recovery_rate: 1.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contributors {
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// Batches per online contributor per unit of time.
    #[serde(default = "one")]
    pub contribution_rate: f64,
    /// Records in each batch.
    #[serde(default = "one_u32")]
    pub records_per_batch: u32,
    /// MASA each of its keys stakes as a worker (at least the minimum).
    #[serde(default = "ten")]
    pub stake: f64,
    /// Words in a record.
    #[serde(default = "default_words")]
    pub words: Dist,
    /// The quality score a validator computes for a record.
    #[serde(default = "default_quality")]
    pub quality: Dist,
    /// The chance that an honest record repeats one already in the dataset (syndicated
    /// text, a mirror): it earns nothing, whoever sent it.
    #[serde(default = "default_duplication")]
    pub duplication: f64,
    /// Distinct words the synthetic text draws from.
    #[serde(default = "default_vocabulary")]
    pub vocabulary: u32,
    /// Shares of arriving (and initial) contributors playing each strategy; sum 1.
    #[serde(default = "all_honest")]
    pub strategies: BTreeMap<String, f64>,
    #[serde(default)]
    pub low_quality: LowQuality,
    #[serde(default)]
    pub copier: Copier,
    #[serde(default)]
    pub padder: Padder,
    #[serde(default)]
    pub sybil: Sybil,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LowQuality {
    pub quality: Dist,
    /// Its content costs this share of an honest contributor's.
    pub cost_factor: f64,
}

impl Default for LowQuality {
    fn default() -> Self {
        LowQuality {
            quality: Dist::Beta {
                alpha: 2.0,
                beta: 8.0,
            },
            cost_factor: 0.5,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Copier {
    /// Words replaced in each copied record.
    pub edits: u32,
}

impl Default for Copier {
    fn default() -> Self {
        Copier { edits: 3 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Padder {
    /// The same boilerplate, this many words, appended to every record.
    pub padding_words: u32,
    /// The share of an honest record's words it writes itself.
    pub original_share: f64,
}

impl Default for Padder {
    fn default() -> Self {
        Padder {
            padding_words: 300,
            original_share: 0.5,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sybil {
    /// Keys it splits itself across (each staking the contributor stake).
    pub keys: u32,
}

impl Default for Sybil {
    fn default() -> Self {
        Sybil { keys: 5 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validators {
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// Per online validator per unit of time, once an epoch has ended: the rate of its
    /// report (the mean delay is the inverse).
    #[serde(default = "one")]
    pub audit_rate: f64,
    /// MASA each validator stakes (at least the minimum).
    #[serde(default = "default_validator_stake")]
    pub stake: Dist,
    /// Per validator per unit of time: it stakes its whole balance (compounding).
    #[serde(default)]
    pub restake_rate: f64,
    /// Shares of validators playing each strategy; sum 1.
    #[serde(default = "all_honest")]
    pub strategies: BTreeMap<String, f64>,
    #[serde(default)]
    pub lazy: Lazy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lazy {
    /// Copying a report costs this share of auditing.
    pub cost_factor: f64,
}

impl Default for Lazy {
    fn default() -> Self {
        Lazy { cost_factor: 0.05 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Oracles {
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// Queries per online oracle per unit of time.
    #[serde(default = "one")]
    pub query_rate: f64,
    /// MASA paid per query, metered and paid into the reward pool at each epoch's end.
    #[serde(default = "default_fee")]
    pub fee_per_query: f64,
    /// MASA each oracle is funded with on arrival.
    #[serde(default = "default_budget")]
    pub budget: f64,
}

impl Default for Oracles {
    fn default() -> Self {
        Oracles {
            lifecycle: Lifecycle::default(),
            query_rate: 1.0,
            fee_per_query: default_fee(),
            budget: default_budget(),
        }
    }
}

/// Colluding validators and the contributors they favour (strategy `cabal_member`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cabal {
    /// The colluding validators' share of the initial validator stake (their stakes are
    /// scaled to it); unset: whatever their draws give.
    pub stake_share: Option<f64>,
    /// Colluders multiply their members' weights by this.
    pub boost: f64,
}

impl Default for Cabal {
    fn default() -> Self {
        Cabal {
            stake_share: None,
            boost: 4.0,
        }
    }
}

/// Proposals and votes: the scenario's proposals are made one at a time, and staked agents
/// vote on the open one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GovernanceModel {
    /// Per unit of time while no proposal is open: a validator makes the next proposal.
    pub proposal_rate: f64,
    /// Per staked agent per unit of time while a proposal is open: it votes.
    pub vote_rate: f64,
    /// The conviction every vote carries (0: 0.1× and no lock).
    pub conviction: u8,
    /// The chance an agent of each strategy (`honest`, `validator_colluding`, ...) votes
    /// yes; 0.5 for strategies not named.
    pub support: BTreeMap<String, f64>,
    pub proposals: Vec<ProposalModel>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalModel {
    pub title: String,
    /// Parameters by path, as in `[params]`.
    pub changes: toml::Table,
}

fn one() -> f64 {
    1.0
}
fn one_u32() -> u32 {
    1
}
fn ten() -> f64 {
    10.0
}
fn default_words() -> Dist {
    Dist::Lognormal {
        median: 300.0,
        sigma: 0.5,
    }
}
fn default_quality() -> Dist {
    Dist::Beta {
        alpha: 8.0,
        beta: 2.0,
    }
}
fn default_duplication() -> f64 {
    0.02
}
fn default_vocabulary() -> u32 {
    1 << 20
}
fn default_validator_stake() -> Dist {
    Dist::Fixed { value: 200.0 }
}
fn default_fee() -> f64 {
    0.1
}
fn default_budget() -> f64 {
    10_000.0
}
fn all_honest() -> BTreeMap<String, f64> {
    BTreeMap::from([("honest".to_owned(), 1.0)])
}

/// A scenario checked and resolved: the protocol parameters built, the strategy shares
/// parsed.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub scenario: Scenario,
    pub params: Params,
    pub contributor_shares: Vec<(ContributorStrategy, f64)>,
    pub validator_shares: Vec<(ValidatorStrategy, f64)>,
    /// The governance proposals, as their events carry them.
    pub proposals: Vec<(String, BTreeMap<String, String>)>,
}

impl Scenario {
    /// Parses a scenario file's text (`file` names it in messages).
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let value: toml::Table = toml::from_str(text).map_err(|e| toml_error(&e))?;
        Scenario::from_table(value)
    }

    pub fn from_table(table: toml::Table) -> Result<Scenario, ScenarioError> {
        Scenario::deserialize(toml::Value::Table(table)).map_err(|e| toml_error(&e))
    }

    /// The scenario as a TOML table (for sweeps, which set values by path).
    pub fn to_table(&self) -> toml::Table {
        match toml::Value::try_from(self).expect("a scenario serializes") {
            toml::Value::Table(t) => t,
            _ => unreachable!("a struct serializes to a table"),
        }
    }

    /// Checks every field and builds the protocol parameters.
    pub fn compile(&self) -> Result<Compiled, ScenarioError> {
        if self.name.trim().is_empty() {
            return Err(bad("name", "a scenario needs a name"));
        }
        if self.epochs == 0 {
            return Err(bad("epochs", "a run must last at least one epoch"));
        }
        if self.runs == 0 {
            return Err(bad("runs", "at least one run"));
        }
        rate("max_time", self.max_time)?;
        let c = &self.costs;
        rate("costs.stake_per_epoch", c.stake_per_epoch)?;
        rate("costs.content_per_kword", c.content_per_kword)?;
        rate("costs.audit_per_epoch", c.audit_per_epoch)?;
        let params = self.params()?;

        let k = &self.contributors;
        lifecycle("contributors.lifecycle", &k.lifecycle)?;
        rate("contributors.contribution_rate", k.contribution_rate)?;
        if k.records_per_batch == 0 {
            return Err(bad(
                "contributors.records_per_batch",
                "a batch holds at least one record",
            ));
        }
        k.words.check("contributors.words")?;
        k.quality.check("contributors.quality")?;
        k.low_quality
            .quality
            .check("contributors.low_quality.quality")?;
        share("contributors.duplication", k.duplication)?;
        rate(
            "contributors.low_quality.cost_factor",
            k.low_quality.cost_factor,
        )?;
        share(
            "contributors.padder.original_share",
            k.padder.original_share,
        )?;
        if k.sybil.keys == 0 {
            return Err(bad(
                "contributors.sybil.keys",
                "a sybil needs at least one key",
            ));
        }
        if k.vocabulary < 1000 {
            return Err(bad(
                "contributors.vocabulary",
                format!("at least 1000 words, not {}", k.vocabulary),
            ));
        }
        let min_worker = params.min_stake.worker;
        if masa(k.stake) < min_worker {
            return Err(bad(
                "contributors.stake",
                format!(
                    "{} MASA is below the worker minimum of {min_worker} (params.min_stake.worker)",
                    k.stake
                ),
            ));
        }
        let contributor_shares = shares(
            "contributors.strategies",
            &k.strategies,
            ContributorStrategy::parse,
            ContributorStrategy::NAMES,
        )?;

        let v = &self.validators;
        lifecycle("validators.lifecycle", &v.lifecycle)?;
        rate("validators.audit_rate", v.audit_rate)?;
        rate("validators.restake_rate", v.restake_rate)?;
        v.stake.check("validators.stake")?;
        rate("validators.lazy.cost_factor", v.lazy.cost_factor)?;
        let validator_shares = shares(
            "validators.strategies",
            &v.strategies,
            ValidatorStrategy::parse,
            ValidatorStrategy::NAMES,
        )?;

        let o = &self.oracles;
        lifecycle("oracles.lifecycle", &o.lifecycle)?;
        rate("oracles.query_rate", o.query_rate)?;
        rate("oracles.fee_per_query", o.fee_per_query)?;
        rate("oracles.budget", o.budget)?;

        if let Some(s) = self.cabal.stake_share {
            share("cabal.stake_share", s)?;
            let colluders = validator_shares
                .iter()
                .any(|(s, x)| *s == ValidatorStrategy::Colluding && *x > 0.0);
            if !colluders && s > 0.0 {
                return Err(bad(
                    "cabal.stake_share",
                    "no validator plays `colluding` (validators.strategies), so no one holds it",
                ));
            }
        }
        rate("cabal.boost", self.cabal.boost)?;
        let g = &self.governance;
        rate("governance.proposal_rate", g.proposal_rate)?;
        rate("governance.vote_rate", g.vote_rate)?;
        if usize::from(g.conviction) >= params.governance.conviction.len() {
            return Err(bad(
                "governance.conviction",
                format!(
                    "conviction {} is not in the table (0 to {})",
                    g.conviction,
                    params.governance.conviction.len() - 1
                ),
            ));
        }
        for (name, x) in &g.support {
            share(&format!("governance.support.{name}"), *x)?;
        }
        let mut proposals = Vec::new();
        for (i, p) in g.proposals.iter().enumerate() {
            let field = format!("governance.proposals[{i}].changes");
            let c = changes(&field, &p.changes, &params)?;
            masa_rewards::with_changes(&params, &c).map_err(|e| bad(&field, e))?;
            proposals.push((p.title.clone(), c));
        }
        Ok(Compiled {
            proposals,
            scenario: self.clone(),
            params,
            contributor_shares,
            validator_shares,
        })
    }

    /// The default parameters with the scenario's `[params]` applied (through the same
    /// code a governance proposal goes through).
    fn params(&self) -> Result<Params, ScenarioError> {
        let base = Params::default();
        let changes = changes("params", &self.params, &base)?;
        masa_rewards::with_changes(&base, &changes).map_err(|e| bad("params", e))
    }
}

/// Parameter changes written in a scenario (`field` names them in messages) as a proposal
/// carries them: paths and JSON text, amounts in base units.
pub fn changes(
    field: &str,
    table: &toml::Table,
    base: &Params,
) -> Result<BTreeMap<String, String>, ScenarioError> {
    let json = serde_json::to_value(base).expect("parameters serialize");
    let mut changes = BTreeMap::new();
    flatten("", table, &mut changes);
    let mut out = BTreeMap::new();
    for (path, value) in changes {
        let field = format!("{field}.{path}");
        // The short forms of `masa propose` (kappa = 0.5, emission = 1000, ...).
        let text = match &value {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(c) = masa_rewards::short_form(&path, &text) {
            let (path, json) = c.map_err(|e| bad(&field, e))?;
            if out.insert(path.clone(), json).is_some() {
                return Err(bad(field, format!("{path} is set twice")));
            }
            continue;
        }
        let mut slot = Some(&json);
        for part in path.split('.') {
            slot = slot.and_then(|s| s.get(part));
        }
        let Some(slot) = slot else {
            return Err(bad(field, "not a protocol parameter"));
        };
        // Amounts are written in MASA; the parameters hold base units as strings.
        let text = match (&value, slot) {
            (toml::Value::Integer(_) | toml::Value::Float(_), serde_json::Value::String(_)) => {
                let masa_text = value.to_string();
                let a = Amount::parse_masa(&masa_text).map_err(|e| bad(&field, e))?;
                serde_json::to_string(&a).expect("an amount serializes")
            }
            _ => serde_json::to_string(&value).map_err(|e| bad(&field, e.to_string()))?,
        };
        if out.insert(path.clone(), text).is_some() {
            return Err(bad(field, format!("{path} is set twice")));
        }
    }
    Ok(out)
}

/// `table`'s leaves as dotted paths.
fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, toml::Value>) {
    for (k, v) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&path, t, out),
            other => {
                out.insert(path, other.clone());
            }
        }
    }
}

fn toml_error(e: &toml::de::Error) -> ScenarioError {
    // toml names the key (and the line) in its message; keep its first line.
    let msg = e.message().to_owned();
    let field = msg
        .split('`')
        .nth(1)
        .filter(|_| msg.starts_with("unknown field") || msg.starts_with("missing field"))
        .map(str::to_owned)
        .unwrap_or_else(|| "scenario".into());
    let at = e
        .span()
        .map(|s| format!(" (at byte {})", s.start))
        .unwrap_or_default();
    bad(field, format!("{msg}{at}"))
}

fn rate(field: &str, v: f64) -> Result<(), ScenarioError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(bad(field, format!("must be a finite number ≥ 0, not {v}")))
    }
}

fn share(field: &str, v: f64) -> Result<(), ScenarioError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(bad(field, format!("must be between 0 and 1, not {v}")))
    }
}

fn lifecycle(field: &str, l: &Lifecycle) -> Result<(), ScenarioError> {
    rate(&format!("{field}.arrival_rate"), l.arrival_rate)?;
    rate(&format!("{field}.departure_rate"), l.departure_rate)?;
    rate(&format!("{field}.failure_rate"), l.failure_rate)?;
    rate(&format!("{field}.recovery_rate"), l.recovery_rate)
}

fn shares<S: Copy>(
    field: &str,
    map: &BTreeMap<String, f64>,
    parse: fn(&str) -> Option<S>,
    names: &[&str],
) -> Result<Vec<(S, f64)>, ScenarioError> {
    let mut out = Vec::new();
    let mut total = 0.0;
    for (name, share) in map {
        let s = parse(name).ok_or_else(|| {
            bad(
                format!("{field}.{name}"),
                format!("unknown strategy {name:?} (known: {})", names.join(", ")),
            )
        })?;
        if !(share.is_finite() && *share >= 0.0) {
            return Err(bad(
                format!("{field}.{name}"),
                format!("a share must be a number ≥ 0, not {share}"),
            ));
        }
        total += share;
        out.push((s, *share));
    }
    if (total - 1.0).abs() > 1e-9 {
        return Err(bad(
            field,
            format!("the shares must sum to 1, they sum to {total}"),
        ));
    }
    Ok(out)
}

/// MASA as an amount (rounded down to base units; negative is zero).
pub fn masa(x: f64) -> Amount {
    Amount((x.max(0.0) * masa_rewards::UNITS_PER_MASA as f64) as u128)
}

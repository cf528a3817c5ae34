//! The protocol state: what the fold of the log has produced so far, its hash, and the
//! invariants every state must satisfy (the tests call [`State::check_invariants`] after
//! every step).

use crate::governance::{Delegation, Tally, Vote};
use crate::{Amount, Key, Offence, Params, Role, Scope};
use serde::Serialize;
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};

/// One participant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Account {
    pub balance: Amount,
    /// The nonce of the actor's last accepted event (0: none yet).
    pub nonce: u64,
    /// Bonded stake per role.
    pub stake: BTreeMap<Role, Amount>,
    /// Unstaked amounts still bonded: slashable, earning nothing, released at the close of
    /// `release_epoch`.
    pub unbonding: Vec<Unbonding>,
    /// Conviction locks: this much bonded stake cannot be unstaked until the close of
    /// `until_epoch`.
    pub locks: Vec<Lock>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lock {
    pub proposal: u64,
    pub amount: Amount,
    pub until_epoch: u64,
}

/// A proposal's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    /// Decided: not passed.
    Rejected,
    /// Passed and in force from `from_epoch`.
    Enacted {
        from_epoch: u64,
    },
    /// Passed, but the parameters it sets were no longer valid at enactment.
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposal {
    /// Its leaf.
    pub id: u64,
    pub proposer: Key,
    pub title: String,
    pub scope: Scope,
    pub changes: BTreeMap<String, String>,
    pub epoch: u64,
    /// Decided when this epoch closes.
    pub decides_at: u64,
    pub status: Status,
    pub votes: BTreeMap<Key, Vote>,
    /// The tally at the decision (and the leaf of the close that decided it).
    pub tally: Option<Tally>,
    pub decided_at_leaf: Option<u64>,
}

/// A change of parameters in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamChange {
    pub proposal: u64,
    /// The leaf of the close that enacted it; the parameters hold from epoch `from_epoch`.
    pub leaf: u64,
    pub from_epoch: u64,
    pub changes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unbonding {
    pub role: Role,
    pub amount: Amount,
    pub release_epoch: u64,
}

impl Account {
    pub fn staked(&self, role: Role) -> Amount {
        self.stake.get(&role).copied().unwrap_or_default()
    }

    /// Bonded stake in every role together.
    pub fn bonded(&self) -> Amount {
        Amount(self.stake.values().map(|a| a.0).sum())
    }

    /// The stake conviction locks hold while epoch `closed` is the next to close.
    pub fn locked(&self, closed: u64) -> Amount {
        self.locks
            .iter()
            .filter(|l| l.until_epoch >= closed)
            .map(|l| l.amount)
            .max()
            .unwrap_or_default()
    }

    pub fn unbonding_total(&self) -> Amount {
        Amount(self.unbonding.iter().map(|u| u.amount.0).sum())
    }

    /// Balance, stakes and unbonding together.
    pub fn total(&self) -> Amount {
        Amount(
            self.balance.0
                + self.stake.values().map(|a| a.0).sum::<u128>()
                + self.unbonding_total().0,
        )
    }
}

/// An epoch's span of log leaves, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

/// A committed batch's leaf, as the fold saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchRef {
    pub batch_id: String,
    pub contributor: Key,
    pub manifest_sha256: String,
    pub epoch: u64,
}

/// A counted audit report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRef {
    pub validator: Key,
    pub epoch: Option<u64>,
    #[serde(serialize_with = "hex32")]
    pub weights_digest: [u8; 32],
    /// `(check, batch id)` of its findings.
    pub findings: BTreeSet<(String, String)>,
}

fn hex32<S: serde::Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

/// A report's weights, kept until its epoch closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub leaf: u64,
    pub weights: BTreeMap<Key, u64>,
}

/// Why a leaf changed nothing. Only the leaf enters the state hash: the reason's wording
/// (some of it a decoder's error text) may change between versions without any fold
/// deciding differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub leaf: u64,
    #[serde(skip)]
    pub reason: String,
}

/// One participant's line in an epoch's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payout {
    pub key: Key,
    /// `validator` or `contributor`.
    pub role: &'static str,
    /// Bonded stake in the role at the close.
    pub stake: Amount,
    /// Contributors: stake-weighted mean of the validators' normalised weights (before
    /// clipping), ppm. Validators: the sum of its raw weights, as reported.
    pub score: u64,
    /// Contributors: Yuma consensus, ranks, trust and incentive, ppm.
    pub consensus: u64,
    pub rank: u64,
    pub trust: u64,
    pub incentive: u64,
    /// Validators: validator trust and dividends, ppm.
    pub validator_trust: u64,
    pub dividends: u64,
    pub emission: Amount,
}

/// What closing an epoch produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EpochResult {
    pub epoch: u64,
    pub span: Span,
    /// The leaf of the close event.
    pub closed_at: u64,
    /// Validators whose reports counted (holding a permit).
    pub reports: u64,
    /// The κ and emission in force for this epoch.
    pub kappa_ppm: u32,
    pub emission: Amount,
    /// Fees from the pool paid out with the emission (the rest of what was paid is minted).
    pub fees: Amount,
    pub minted: Amount,
    pub to_treasury: Amount,
    pub released: Amount,
    pub payouts: Vec<Payout>,
}

/// One API key's metered use, summed over its usage events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub events: u64,
    pub queries: u64,
    pub records: u64,
    pub bytes: u64,
    pub fees: Amount,
}

/// The protocol state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct State {
    pub origin: String,
    /// Leaves folded so far (the next leaf's index).
    pub leaves: u64,
    /// `None` until the genesis event.
    pub params: Option<Params>,
    pub genesis_leaf: Option<u64>,
    pub accounts: BTreeMap<Key, Account>,
    pub genesis_supply: Amount,
    pub minted: Amount,
    pub burned: Amount,
    pub treasury: Amount,
    /// Fees paid into the reward pool that no close has paid out yet.
    pub fees: Amount,
    /// Metered use by oracle service (the actor of its usage events), then API key id.
    pub usage: BTreeMap<Key, BTreeMap<String, Usage>>,
    /// Every epoch's span so far; the last is the one receiving batches.
    pub spans: Vec<Span>,
    /// Epochs `< closed` are closed.
    pub closed: u64,
    /// Weights reported for epochs not yet closed, by epoch then validator.
    pub reports: BTreeMap<u64, BTreeMap<Key, Report>>,
    /// Bonds of validators in contributors, Q32 fixed point (1.0 = 2^32), each validator's
    /// sorted by contributor key (non-zero only).
    pub bonds: BTreeMap<Key, Vec<(Key, u64)>>,
    /// Proposals by id (their leaf).
    pub proposals: BTreeMap<u64, Proposal>,
    /// Delegations by delegator, then scope.
    pub delegations: BTreeMap<Key, BTreeMap<Scope, Delegation>>,
    /// Every parameter change enacted, in order.
    pub param_history: Vec<ParamChange>,
    /// Validators that signed differing reports for an epoch: none of theirs counts for it.
    pub equivocated: BTreeSet<(Key, u64)>,
    /// Batch leaves by index.
    pub batches: BTreeMap<u64, BatchRef>,
    /// Audit leaves by index.
    pub audits: BTreeMap<u64, AuditRef>,
    /// Batch leaves a slash found fraudulent: they earn nothing.
    pub slashed_batches: BTreeSet<u64>,
    /// Offences already slashed, so evidence is used once: `(offender, offence, subject)`.
    pub slashes: BTreeSet<(Key, Offence, String)>,
    pub rejections: Vec<Rejection>,
    /// Hash chain over the epoch results, which are kept in `results` (hashed through this).
    #[serde(serialize_with = "hex32")]
    pub results_digest: [u8; 32],
    #[serde(skip)]
    pub results: Vec<EpochResult>,
}

impl State {
    /// The state before the first leaf of the log with this origin.
    pub fn new(origin: impl Into<String>) -> State {
        State {
            origin: origin.into(),
            leaves: 0,
            params: None,
            genesis_leaf: None,
            accounts: BTreeMap::new(),
            genesis_supply: Amount::ZERO,
            minted: Amount::ZERO,
            burned: Amount::ZERO,
            treasury: Amount::ZERO,
            fees: Amount::ZERO,
            usage: BTreeMap::new(),
            spans: Vec::new(),
            closed: 0,
            reports: BTreeMap::new(),
            bonds: BTreeMap::new(),
            proposals: BTreeMap::new(),
            delegations: BTreeMap::new(),
            param_history: Vec::new(),
            equivocated: BTreeSet::new(),
            batches: BTreeMap::new(),
            audits: BTreeMap::new(),
            slashed_batches: BTreeSet::new(),
            slashes: BTreeSet::new(),
            rejections: Vec::new(),
            results_digest: [0; 32],
            results: Vec::new(),
        }
    }

    /// SHA-256 over `masa/state/v1\n` and the state as compact JSON (every map ordered by
    /// key, no floats): equal on every machine that folded the same log.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(b"masa/state/v1\n");
        let mut w = HashWriter(&mut h);
        serde_json::to_writer(&mut w, self).expect("the state serializes");
        h.finalize().into()
    }

    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash())
    }

    /// Balances, stakes, unbonding, the treasury and the fee pool together.
    pub fn supply(&self) -> Amount {
        Amount(
            self.accounts.values().map(|a| a.total().0).sum::<u128>()
                + self.treasury.0
                + self.fees.0,
        )
    }

    pub fn account(&self, key: &Key) -> Option<&Account> {
        self.accounts.get(key)
    }

    /// The number of the epoch receiving batches (0 before genesis).
    pub fn current_epoch(&self) -> u64 {
        self.spans.len().saturating_sub(1) as u64
    }

    /// The epoch a leaf belongs to, if its span is known.
    pub fn epoch_of(&self, leaf: u64) -> Option<u64> {
        let i = self.spans.partition_point(|s| s.end <= leaf);
        (i < self.spans.len() && self.spans[i].start <= leaf).then_some(i as u64)
    }

    /// The oldest epoch that has ended and is not closed: what `masa epoch close` closes,
    /// and what validators report weights for.
    pub fn closable_epoch(&self) -> Option<u64> {
        let s = self.spans.get(self.closed as usize)?;
        (s.end <= self.leaves).then_some(self.closed)
    }

    /// Every invariant of a state; `Err` names the first that fails.
    pub fn check_invariants(&self) -> Result<(), String> {
        let expected = self
            .genesis_supply
            .checked_add(self.minted)
            .and_then(|s| s.checked_sub(self.burned))
            .ok_or("genesis + minted - burned overflows or is negative")?;
        if self.supply() != expected {
            return Err(format!(
                "supply {} is not genesis {} + minted {} - burned {}",
                self.supply().0,
                self.genesis_supply.0,
                self.minted.0,
                self.burned.0
            ));
        }
        for (k, a) in &self.accounts {
            if a.stake.values().any(|s| s.is_zero()) {
                return Err(format!("{k:?} keeps a zero stake entry"));
            }
            if a.unbonding.iter().any(|u| u.amount.is_zero()) {
                return Err(format!("{k:?} keeps a zero unbonding entry"));
            }
        }
        for w in self.spans.windows(2) {
            if w[0].end != w[1].start || w[0].start >= w[0].end {
                return Err(format!("epoch spans are not contiguous: {:?}", w));
            }
        }
        if self.closed > self.spans.len() as u64 {
            return Err("more epochs closed than exist".into());
        }
        if self.results.len() as u64 != self.closed {
            return Err("an epoch result is missing".into());
        }
        Ok(())
    }
}

/// Feeds serialized bytes straight into the hasher.
struct HashWriter<'a>(&'a mut sha2::Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

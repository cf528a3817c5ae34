//! What the protocol commands do: `init-protocol`, `stake`, `unstake`, `transfer`, `epoch
//! close`, `slash` (with the evidence gathered from the dataset), `state` and `rewards`.

use crate::WorkflowError;
use crate::layout::batch_manifest_path;
use crate::protocol::{Submitted, load, open, submit, submit_on};
use masa_rewards::{Amount, EpochResult, Event, Evidence, Key, Offence, Params, Role, State};
use masa_storage::StorageOptions;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a protocol command acts, and as whom.
#[derive(Debug, Clone)]
pub struct ProtocolTarget {
    pub dataset: String,
    pub storage: StorageOptions,
    /// The actor's signing key file.
    pub key: PathBuf,
}

/// Starts the protocol on a dataset: a genesis event with `params` and the initial balances.
pub async fn init_protocol(
    t: &ProtocolTarget,
    params: Params,
    allocations: BTreeMap<Key, Amount>,
) -> Result<Submitted, WorkflowError> {
    let (ds, key) = open(&t.dataset, &t.storage, &t.key).await?;
    let event = Event::Genesis {
        params: Box::new(params),
        allocations,
    };
    Ok(submit(&ds, &key, event).await?.0)
}

/// Signs and submits one of the simple events (stake, unstake, transfer).
pub async fn submit_event(t: &ProtocolTarget, event: Event) -> Result<Submitted, WorkflowError> {
    let (ds, key) = open(&t.dataset, &t.storage, &t.key).await?;
    Ok(submit(&ds, &key, event).await?.0)
}

/// What `masa epoch close` did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CloseOutcome {
    Closed {
        submitted: Submitted,
        result: EpochResult,
    },
    /// Nothing to close yet: the running epoch and where it ends.
    NotYet {
        epoch: u64,
        ends_at: u64,
        leaves: u64,
    },
}

/// Closes the oldest ended epoch, if there is one; otherwise says when the running one ends
/// (and writes nothing). Running it twice closes once.
pub async fn close_epoch(t: &ProtocolTarget) -> Result<CloseOutcome, WorkflowError> {
    let (ds, key) = open(&t.dataset, &t.storage, &t.key).await?;
    let (log, state) = load(&ds, None).await?;
    if state.params.is_none() {
        return Err(WorkflowError::Rejected(
            "the protocol has no genesis yet (masa init-protocol)".into(),
        ));
    }
    let Some(n) = state.closable_epoch() else {
        let epoch = state.current_epoch();
        return Ok(CloseOutcome::NotYet {
            epoch,
            ends_at: state.spans[epoch as usize].end,
            leaves: state.leaves,
        });
    };
    let (submitted, state) =
        submit_on(&ds, &key, Event::CloseEpoch { epoch: n }, log, state).await?;
    let result =
        state.results.get(n as usize).cloned().ok_or_else(|| {
            WorkflowError::Other(format!("epoch {n} has no result after its close"))
        })?;
    Ok(CloseOutcome::Closed { submitted, result })
}

/// What `masa slash` is asked to prove.
#[derive(Debug, Clone)]
pub enum SlashRequest {
    /// The batch's manifest signature does not verify.
    InvalidManifest { batch: String },
    /// The record's consent is a refusal without an override.
    ConsentViolation { record_id: String },
    /// Validators holding κ found a content mismatch in the batch.
    ContentMismatch { batch: String },
    /// Validators holding κ found a refetch mismatch in the batch.
    Fabrication { batch: String },
    /// The validator signed two different reports for the epoch.
    Equivocation { validator: Key, epoch: u64 },
}

/// Gathers the evidence from the dataset and submits the slash (the fold re-checks it).
pub async fn slash(t: &ProtocolTarget, req: SlashRequest) -> Result<Submitted, WorkflowError> {
    let (ds, key) = open(&t.dataset, &t.storage, &t.key).await?;
    let (log, state) = load(&ds, None).await?;
    let batch_leaf = |batch: &str| {
        state
            .batches
            .iter()
            .rev()
            .find(|(_, b)| b.batch_id == batch)
            .map(|(leaf, b)| (*leaf, b.contributor))
            .ok_or_else(|| WorkflowError::Other(format!("no signed batch leaf for batch {batch}")))
    };
    let (offender, offence, evidence) = match &req {
        SlashRequest::InvalidManifest { batch } => {
            let (leaf, offender) = batch_leaf(batch)?;
            let path = batch_manifest_path(batch);
            let bytes = ds.get(&path).await?.ok_or_else(|| WorkflowError::Corrupt {
                path: path.clone(),
                reason: "the manifest is missing".into(),
            })?;
            let manifest =
                String::from_utf8(bytes.to_vec()).map_err(|_| WorkflowError::Corrupt {
                    path,
                    reason: "not UTF-8".into(),
                })?;
            (
                offender,
                Offence::InvalidManifest,
                Evidence::Manifest {
                    batch_leaf: leaf,
                    manifest,
                },
            )
        }
        SlashRequest::ConsentViolation { record_id } => {
            let p = crate::prove(&t.dataset, &t.storage, record_id).await?;
            let offender = state
                .batches
                .get(&p.log_index)
                .map(|b| b.contributor)
                .ok_or_else(|| {
                    WorkflowError::Other(format!("leaf {} is not a signed batch leaf", p.log_index))
                })?;
            (
                offender,
                Offence::ConsentViolation,
                Evidence::Row {
                    batch_leaf: p.log_index,
                    manifest: p.manifest_json,
                    row_leaf: p.row_leaf_data,
                    proof: p.row_path,
                },
            )
        }
        SlashRequest::ContentMismatch { batch } | SlashRequest::Fabrication { batch } => {
            let (leaf, offender) = batch_leaf(batch)?;
            let fabrication = matches!(req, SlashRequest::Fabrication { .. });
            let reports: Vec<u64> = state
                .audits
                .iter()
                .filter(|(_, a)| {
                    a.findings.iter().any(|(check, b)| {
                        b == batch
                            && if fabrication {
                                check == masa_rewards::FABRICATION_CHECK
                            } else {
                                masa_rewards::CONTENT_CHECKS.contains(&check.as_str())
                            }
                    })
                })
                .map(|(leaf, _)| *leaf)
                .collect();
            if reports.is_empty() {
                return Err(WorkflowError::Rejected(format!(
                    "no audit report in the log names such a finding for batch {batch}"
                )));
            }
            let offence = if fabrication {
                Offence::Fabrication
            } else {
                Offence::ContentMismatch
            };
            (
                offender,
                offence,
                Evidence::Attested {
                    batch_leaf: leaf,
                    reports,
                },
            )
        }
        SlashRequest::Equivocation { validator, epoch } => {
            let leaves: Vec<(u64, [u8; 32])> = state
                .audits
                .iter()
                .filter(|(_, a)| a.validator == *validator && a.epoch == Some(*epoch))
                .map(|(l, a)| (*l, a.weights_digest))
                .collect();
            let pair = leaves.iter().find_map(|(a, da)| {
                leaves
                    .iter()
                    .find(|(_, db)| db != da)
                    .map(|(b, _)| (*a.min(b), *a.max(b)))
            });
            let Some((first, second)) = pair else {
                return Err(WorkflowError::Rejected(format!(
                    "{} signed no two different reports for epoch {epoch}",
                    validator.short()
                )));
            };
            (
                *validator,
                Offence::Equivocation,
                Evidence::Reports { first, second },
            )
        }
    };
    let event = Event::Slash {
        offender,
        offence,
        evidence,
    };
    Ok(submit_on(&ds, &key, event, log, state).await?.0)
}

/// One account, as `masa state` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub key: String,
    pub balance: Amount,
    pub stake: BTreeMap<Role, Amount>,
    pub unbonding: Vec<masa_rewards::Unbonding>,
    pub nonce: u64,
}

/// The state as `masa state` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    pub origin: String,
    pub leaves: u64,
    pub state_hash: String,
    pub genesis_leaf: Option<u64>,
    pub params: Option<Params>,
    /// The epoch receiving batches, its span, and the epochs closed.
    pub epoch: u64,
    pub epoch_span: Option<masa_rewards::Span>,
    pub epochs_closed: u64,
    pub supply: Amount,
    pub genesis_supply: Amount,
    pub minted: Amount,
    pub burned: Amount,
    pub treasury: Amount,
    /// Fees paid into the reward pool that the next close pays out.
    pub fees: Amount,
    /// Metered use by oracle service (hex key), then API key id.
    pub usage: BTreeMap<String, BTreeMap<String, masa_rewards::Usage>>,
    pub accounts: Vec<AccountView>,
    /// Validators' bonds in contributors, Q32 (2^32 = 1), as the next epoch starts from.
    pub bonds: BTreeMap<String, BTreeMap<String, u64>>,
    pub slashed_batches: Vec<String>,
    /// Every parameter change enacted, and the proposals (without their votes; `masa
    /// proposals` and `masa tally` show those).
    pub param_history: Vec<masa_rewards::ParamChange>,
    pub proposals: Vec<ProposalLine>,
    pub rejections: Vec<RejectionLine>,
}

/// A rejected leaf and why.
#[derive(Debug, Clone, Serialize)]
pub struct RejectionLine {
    pub leaf: u64,
    pub reason: String,
}

/// A proposal in `masa state`.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalLine {
    pub id: u64,
    pub title: String,
    pub scope: masa_rewards::Scope,
    pub status: masa_rewards::Status,
    pub changes: BTreeMap<String, String>,
}

pub fn state_view(s: &State) -> StateView {
    StateView {
        origin: s.origin.clone(),
        leaves: s.leaves,
        state_hash: s.hash_hex(),
        genesis_leaf: s.genesis_leaf,
        params: s.params.clone(),
        epoch: s.current_epoch(),
        epoch_span: s.spans.last().copied(),
        epochs_closed: s.closed,
        supply: s.supply(),
        genesis_supply: s.genesis_supply,
        minted: s.minted,
        burned: s.burned,
        treasury: s.treasury,
        fees: s.fees,
        usage: s.usage.iter().map(|(k, u)| (k.hex(), u.clone())).collect(),
        accounts: s
            .accounts
            .iter()
            .map(|(k, a)| AccountView {
                key: k.hex(),
                balance: a.balance,
                stake: a.stake.clone(),
                unbonding: a.unbonding.clone(),
                nonce: a.nonce,
            })
            .collect(),
        bonds: s
            .bonds
            .iter()
            .map(|(v, b)| (v.hex(), b.iter().map(|(c, q)| (c.hex(), *q)).collect()))
            .collect(),
        slashed_batches: s
            .slashed_batches
            .iter()
            .filter_map(|leaf| s.batches.get(leaf).map(|b| b.batch_id.clone()))
            .collect(),
        param_history: s.param_history.clone(),
        proposals: s
            .proposals
            .values()
            .map(|p| ProposalLine {
                id: p.id,
                title: p.title.clone(),
                scope: p.scope,
                status: p.status.clone(),
                changes: p.changes.clone(),
            })
            .collect(),
        rejections: s
            .rejections
            .iter()
            .map(|r| RejectionLine {
                leaf: r.leaf,
                reason: r.reason.clone(),
            })
            .collect(),
    }
}

/// The state after the first `at` leaves (the whole log by default).
pub async fn state_at(
    location: &str,
    storage: &StorageOptions,
    at: Option<u64>,
) -> Result<State, WorkflowError> {
    let ds = masa_storage::Dataset::open(location, storage).await?;
    Ok(load(&ds, at).await?.1)
}

/// One contributor as the dataset and the protocol know it.
#[derive(Debug, Clone, Serialize)]
pub struct ContributorView {
    pub key: String,
    pub records: u64,
    pub text_bytes: u64,
    /// Every closed epoch that paid it, with what it was paid.
    pub epochs: Vec<(u64, Amount)>,
    pub rewards: Amount,
    pub balance: Amount,
    /// Bonded stake by role.
    pub stake: BTreeMap<String, Amount>,
}

/// A contributor's records and bytes in the dataset, and its rewards from the log's fold.
pub async fn contributor_view(
    location: &str,
    storage: &StorageOptions,
    key: &str,
) -> Result<ContributorView, WorkflowError> {
    let k = masa_rewards::Key::parse(key).map_err(WorkflowError::NotFound)?;
    let stats = crate::dataset_stats(location, storage).await?;
    let state = state_at(location, storage, None).await?;
    let hex = k.hex();
    let epochs: Vec<(u64, Amount)> = state
        .results
        .iter()
        .filter_map(|r| {
            r.payouts
                .iter()
                .find(|p| p.key == k && p.role == "contributor" && !p.emission.is_zero())
                .map(|p| (r.epoch, p.emission))
        })
        .collect();
    let account = state.account(&k);
    if !stats.contributors.contains_key(&hex) && account.is_none() {
        return Err(WorkflowError::NotFound(format!(
            "{hex} has contributed nothing to this dataset and holds no account in its protocol"
        )));
    }
    Ok(ContributorView {
        records: stats.contributors.get(&hex).copied().unwrap_or(0),
        text_bytes: stats.contributor_bytes.get(&hex).copied().unwrap_or(0),
        rewards: Amount(epochs.iter().map(|(_, a)| a.0).sum()),
        epochs,
        balance: account.map_or(Amount::ZERO, |a| a.balance),
        stake: account
            .map(|a| {
                a.stake
                    .iter()
                    .map(|(r, x)| (r.name().to_owned(), *x))
                    .collect()
            })
            .unwrap_or_default(),
        key: hex,
    })
}

/// An epoch's result with each participant's balance now.
#[derive(Debug, Clone, Serialize)]
pub struct RewardsView {
    pub result: EpochResult,
    pub balances: BTreeMap<String, Amount>,
    pub state_hash: String,
}

/// The result of epoch `epoch` (the latest closed by default).
pub fn rewards_view(s: &State, epoch: Option<u64>) -> Result<RewardsView, WorkflowError> {
    let n = match epoch {
        Some(n) => n,
        None => s.closed.checked_sub(1).ok_or_else(|| {
            WorkflowError::NotFound(format!(
                "no epoch is closed yet (epoch {} is running; `masa epoch close` closes an ended one)",
                s.current_epoch()
            ))
        })?,
    };
    let result = s.results.get(n as usize).cloned().ok_or_else(|| {
        WorkflowError::NotFound(format!(
            "epoch {n} is not closed ({} closed so far)",
            s.closed
        ))
    })?;
    let balances = result
        .payouts
        .iter()
        .map(|p| {
            (
                p.key.hex(),
                s.account(&p.key).map_or(Amount::ZERO, |a| a.balance),
            )
        })
        .collect();
    Ok(RewardsView {
        result,
        balances,
        state_hash: s.hash_hex(),
    })
}

/// Weights for an on-chain `set_weights`: the contributors' incentive of an epoch, as u16
/// values summing to 65 535, in uid order.
#[derive(Debug, Clone, Serialize)]
pub struct ChainWeights {
    pub epoch: u64,
    pub uids: Vec<u16>,
    pub weights: Vec<u16>,
    /// Contributors with incentive but no uid in the map (left out).
    pub unmapped: Vec<String>,
}

/// `uids` maps contributor keys to uids; without it, uids are the contributors' positions in
/// key order.
pub fn chain_weights(result: &EpochResult, uids: Option<&BTreeMap<Key, u16>>) -> ChainWeights {
    let contributors: Vec<_> = result
        .payouts
        .iter()
        .filter(|p| p.role == "contributor")
        .collect();
    let mut rows: Vec<(u16, u64)> = Vec::new();
    let mut unmapped = Vec::new();
    for (i, p) in contributors.iter().enumerate() {
        let uid = match uids {
            Some(m) => match m.get(&p.key) {
                Some(u) => *u,
                None => {
                    if p.incentive > 0 {
                        unmapped.push(p.key.hex());
                    }
                    continue;
                }
            },
            None => i as u16,
        };
        rows.push((uid, p.incentive));
    }
    rows.sort();
    let shares: Vec<u64> = rows.iter().map(|r| r.1).collect();
    ChainWeights {
        epoch: result.epoch,
        uids: rows.iter().map(|r| r.0).collect(),
        weights: masa_rewards::weights::to_u16(&shares),
        unmapped,
    }
}

/// Reads a uid map: JSON `{"<key>": uid, ...}`, or lines of `uid key`.
pub fn parse_uids(text: &str) -> Result<BTreeMap<Key, u16>, WorkflowError> {
    let bad = |m: String| WorkflowError::Other(format!("uid map: {m}"));
    if let Ok(m) = serde_json::from_str::<BTreeMap<String, u16>>(text) {
        return m
            .into_iter()
            .map(|(k, u)| Key::parse(&k).map(|k| (k, u)).map_err(bad))
            .collect();
    }
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (uid, key) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad(format!("line {}: expected `uid key`", i + 1)))?;
        let uid: u16 = uid
            .parse()
            .map_err(|_| bad(format!("line {}: {uid:?} is not a uid (0-65535)", i + 1)))?;
        let key = Key::parse(key.trim()).map_err(|e| bad(format!("line {}: {e}", i + 1)))?;
        out.insert(key, uid);
    }
    Ok(out)
}

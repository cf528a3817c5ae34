//! The protocol over a dataset's log: decoding every leaf for the fold (checking batch-leaf
//! signatures, loading and checking audit reports, checking event signatures), folding it
//! into the state, and submitting signed events. Every rule lives in `masa_rewards`; this
//! module only moves bytes.

use crate::WorkflowError;
use crate::log::{Log, LogEntry, append, read_log};
use masa_provenance::ContributorKey;
use masa_rewards::event::{self, Body, EVENT_VERSION};
use masa_rewards::{AuditClaims, Entry, Event, Key, Outcome, State};
use masa_storage::{Dataset, StorageOptions};
use serde::{Deserialize, Serialize};

/// Prefix of the bytes a validator signs for an audit report.
pub const AUDIT_REPORT_DOMAIN: &[u8] = b"masa/audit-report/v1\n";

/// A stored audit report (`log/audits/<sha256>.json`): the report as signed (compact JSON)
/// and the validator's signature over [`AUDIT_REPORT_DOMAIN`] ‖ `body`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedReport {
    pub body: String,
    pub validator: String,
    pub signature: String,
}

pub(crate) fn audit_report_path(sha: &str) -> String {
    format!("log/audits/{sha}.json")
}

/// The part of a report body the protocol reads.
#[derive(Debug, Deserialize)]
struct ReportBody {
    /// The log the report is about: a report signed for another dataset does not count here.
    origin: String,
    #[serde(default)]
    epoch: Option<u64>,
    #[serde(default)]
    weights: std::collections::BTreeMap<Key, u64>,
    #[serde(default)]
    findings: Vec<FindingRef>,
}

#[derive(Debug, Deserialize)]
struct FindingRef {
    check: String,
    batch_id: Option<String>,
}

fn key_of(hex_key: &str) -> Option<Key> {
    Key::parse(hex_key).ok()
}

/// What the fold is handed for leaf `raw` (whose parsed form is `entry`), for every kind
/// but audits (`None`), whose reports must be loaded. Pure CPU work (signature checks), so
/// leaves are decoded on every core.
fn decode_pure(origin: &str, entry: &LogEntry, raw: &[u8]) -> Option<Entry> {
    Some(match entry {
        LogEntry::Batch {
            batch_id,
            contributor,
            manifest_sha256,
            sig,
        } => match key_of(contributor) {
            None => Entry::Unknown {
                reason: format!("batch {batch_id}: contributor {contributor:?} is not a key"),
            },
            Some(k) => {
                let msg = event::batch_entry_signing_bytes(
                    origin,
                    batch_id,
                    contributor,
                    manifest_sha256,
                );
                Entry::Batch {
                    batch_id: batch_id.clone(),
                    contributor: k,
                    manifest_sha256: manifest_sha256.clone(),
                    signed: sig
                        .as_deref()
                        .is_some_and(|s| event::verify_signature(&k, &msg, s)),
                }
            }
        },
        LogEntry::Audit { .. } => return None,
        LogEntry::Protocol { body, sig } => Entry::Event(event::decode_event(body, sig)),
        LogEntry::Unknown => {
            let kind = serde_json::from_slice::<serde_json::Value>(raw)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
                .unwrap_or_default();
            Entry::Unknown {
                reason: format!("unknown log entry kind {kind:?} (written by a newer masa?)"),
            }
        }
    })
}

/// An audit leaf for the fold: its report loaded and checked.
async fn decode_audit(
    ds: &Dataset,
    origin: &str,
    validator: &str,
    sha: &str,
) -> Result<Entry, WorkflowError> {
    Ok(match key_of(validator) {
        None => Entry::Unknown {
            reason: format!("audit: validator {validator:?} is not a key"),
        },
        Some(k) => Entry::Audit {
            validator: k,
            report: load_claims(ds, origin, &k, sha).await?,
        },
    })
}

/// Decodes leaves `[0, n)` of `log`, the pure part split across the cores.
fn decode_all(log: &Log, n: usize) -> Vec<Option<Entry>> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunk = n.div_ceil(threads).max(1);
    let origin = log.origin.as_str();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let end = (start + chunk).min(n);
                s.spawn(move || {
                    (start..end)
                        .map(|i| decode_pure(origin, &log.entries[i], &log.raw[i]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a decoding thread does not panic"))
            .collect()
    })
}

/// Loads a report and checks it against its leaf: the object's hash, the validator, the
/// signature. What fails is a reason for the fold (the same for every reader), except a
/// storage error, which stops the read.
async fn load_claims(
    ds: &Dataset,
    origin: &str,
    validator: &Key,
    sha: &str,
) -> Result<Result<AuditClaims, String>, WorkflowError> {
    let path = audit_report_path(sha);
    let Some(bytes) = ds.get(&path).await? else {
        return Ok(Err(format!("its report {path} is missing")));
    };
    if masa_record::sha256_hex(&bytes) != sha {
        return Ok(Err(format!(
            "{path} does not hash to the leaf's report_sha256"
        )));
    }
    let Ok(signed) = serde_json::from_slice::<SignedReport>(&bytes) else {
        // Reports from before the protocol carry no weights and no signed body.
        return Ok(Err(format!(
            "{path} is not a signed report of this version"
        )));
    };
    if signed.validator != validator.hex() {
        return Ok(Err(format!("{path} is signed by another validator")));
    }
    let mut msg = AUDIT_REPORT_DOMAIN.to_vec();
    msg.extend_from_slice(signed.body.as_bytes());
    if !event::verify_signature(validator, &msg, &signed.signature) {
        return Ok(Err(format!("{path}: bad signature")));
    }
    let body: ReportBody = match serde_json::from_str(&signed.body) {
        Ok(b) => b,
        Err(e) => return Ok(Err(format!("{path}: unreadable report: {e}"))),
    };
    if body.origin != origin {
        return Ok(Err(format!(
            "{path} is a report on log {:?}, not this one",
            body.origin
        )));
    }
    Ok(Ok(AuditClaims {
        epoch: body.epoch,
        weights: body.weights,
        findings: body
            .findings
            .into_iter()
            .filter_map(|f| Some((f.check, f.batch_id?)))
            .collect(),
    }))
}

/// Folds the first `at` leaves of `log` (all of them by default).
pub async fn fold_log(ds: &Dataset, log: &Log, at: Option<u64>) -> Result<State, WorkflowError> {
    let size = log.entries.len() as u64;
    let at = match at {
        Some(n) if n > size => {
            return Err(WorkflowError::Other(format!(
                "--at {n} is past the end of the log ({size} leaves)"
            )));
        }
        Some(n) => n,
        None => size,
    };
    let mut state = State::new(log.origin.clone());
    let decoded = decode_all(log, at as usize);
    for (entry, leaf) in decoded.into_iter().zip(&log.entries) {
        let entry = match (entry, leaf) {
            (Some(e), _) => e,
            (
                None,
                LogEntry::Audit {
                    validator,
                    report_sha256,
                },
            ) => decode_audit(ds, &log.origin, validator, report_sha256).await?,
            (None, _) => unreachable!("only audits are decoded later"),
        };
        state.apply(&entry);
    }
    Ok(state)
}

/// Reads the log and folds it.
pub async fn load(ds: &Dataset, at: Option<u64>) -> Result<(Log, State), WorkflowError> {
    let log = read_log(ds).await?;
    let state = fold_log(ds, &log, at).await?;
    Ok((log, state))
}

/// An event accepted into the log.
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    pub leaf: u64,
    pub actor: String,
    pub nonce: u64,
    /// The state hash after the event.
    pub state_hash: String,
}

/// Signs `event` with the actor's next nonce and appends it, after checking on the current
/// state that the fold accepts it: an event the fold would reject is refused here, with the
/// fold's reason, and the log is left untouched.
pub async fn submit(
    ds: &Dataset,
    key: &ContributorKey,
    event: Event,
) -> Result<(Submitted, State), WorkflowError> {
    let (log, state) = load(ds, None).await?;
    submit_on(ds, key, event, log, state).await
}

pub(crate) async fn submit_on(
    ds: &Dataset,
    key: &ContributorKey,
    event: Event,
    log: Log,
    state: State,
) -> Result<(Submitted, State), WorkflowError> {
    let actor = Key(key.public_bytes());
    let nonce = state.account(&actor).map_or(0, |a| a.nonce) + 1;
    let body = Body {
        v: EVENT_VERSION,
        origin: log.origin.clone(),
        actor,
        nonce,
        event,
    };
    let mut probe = state.clone();
    if let Outcome::Rejected(reason) = probe.apply(&Entry::Event(Ok(body.clone()))) {
        return Err(WorkflowError::Rejected(reason));
    }
    let text = body.encode();
    let sig = hex::encode(key.sign_bytes(&Body::signing_bytes(&text)));
    let expected = log.entries.len() as u64;
    let (leaf, _) = append(ds, key, &LogEntry::Protocol { body: text, sig }, log).await?;
    let state = if leaf == expected {
        probe
    } else {
        // Others appended first: fold again to learn what the event did after theirs.
        let (_, s) = load(ds, Some(leaf + 1)).await?;
        if let Some(r) = s.rejections.iter().find(|r| r.leaf == leaf) {
            return Err(WorkflowError::Rejected(format!(
                "appended as leaf {leaf} after concurrent events, and the fold rejected it: {}",
                r.reason
            )));
        }
        s
    };
    Ok((
        Submitted {
            leaf,
            actor: actor.hex(),
            nonce,
            state_hash: state.hash_hex(),
        },
        state,
    ))
}

/// Opens a dataset and loads its signing key: what every protocol command starts with.
pub async fn open(
    location: &str,
    storage: &StorageOptions,
    key: &std::path::Path,
) -> Result<(Dataset, ContributorKey), WorkflowError> {
    let key = ContributorKey::load(key)?;
    let ds = Dataset::open(location, storage).await?;
    Ok((ds, key))
}

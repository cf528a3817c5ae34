//! Protocol events and the log entries the fold consumes.
//!
//! **Encoding.** A protocol event is the leaf `{"kind":"protocol","body":B,"sig":S}` where `B`
//! is the event body as compact JSON (a [`Body`]: version, log origin, actor, nonce, event;
//! fields in declaration order, maps sorted) and `S` the actor's ed25519 signature (hex) over
//! `masa/protocol-event/v1\n` ‖ `B`. The body is signed as stored, so no verifier has to
//! re-encode anything; a body that is not the canonical encoding of what it parses to is
//! rejected, so every event has exactly one form. The origin binds an event to one dataset's
//! log (a stake signed for dataset A cannot be replayed into B); the nonce (1, 2, 3, … per
//! actor) refuses replays within it.
//!
//! A batch leaf is signed too: `sig` over `masa/batch-entry/v1\n` ‖ origin ‖ `\n` ‖ batch id
//! ‖ `\n` ‖ contributor ‖ `\n` ‖ manifest SHA-256, so a contributor cannot disown a batch it
//! logged (and a batch logged under someone else's name earns nothing).

use crate::governance::Choice;
use crate::{Amount, Key, Offence, Params, Role, Scope};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Prefix of a protocol event's signed bytes.
pub const EVENT_DOMAIN: &[u8] = b"masa/protocol-event/v1\n";
/// Prefix of a batch leaf's signed bytes.
pub const BATCH_ENTRY_DOMAIN: &[u8] = b"masa/batch-entry/v1\n";
/// The body version this code writes and reads.
pub const EVENT_VERSION: u32 = 1;

/// What an actor signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    pub v: u32,
    /// The log's origin (`masa/dataset/<table id>`).
    pub origin: String,
    pub actor: Key,
    /// 1 for an actor's first event, then one more each time.
    pub nonce: u64,
    pub event: Event,
}

/// A protocol action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// Starts the protocol: parameters, and the initial balances (the whole genesis supply).
    /// Only the first accepted genesis counts; its actor is the dataset's creator.
    Genesis {
        params: Box<Params>,
        allocations: BTreeMap<Key, Amount>,
    },
    /// Moves balance into stake for a role.
    Stake {
        role: Role,
        amount: Amount,
    },
    /// Moves stake into unbonding; it returns to the balance after `unbonding_epochs`.
    Unstake {
        role: Role,
        amount: Amount,
    },
    Transfer {
        to: Key,
        amount: Amount,
    },
    /// Pays `amount` of the actor's balance into the reward pool: an oracle's fee for the
    /// data it used. The next epoch close pays the pool out with the emission, by the same
    /// shares, so fees reach contributors and validators through consensus.
    Fee {
        amount: Amount,
    },
    /// An oracle service's metered use by one of its API keys (named by the key's id) since
    /// its last usage event, and the fee it pays for that use into the reward pool (zero
    /// allowed): use on record, and paid like a `fee`.
    Usage {
        key: String,
        queries: u64,
        records: u64,
        bytes: u64,
        fee: Amount,
    },
    /// Closes epoch `epoch` (which must be the oldest open one, and ended): consensus over
    /// its validators' reports, then emission. Anyone may close.
    CloseEpoch {
        epoch: u64,
    },
    /// Slashes `offender` for `offence`, with evidence the fold re-checks.
    Slash {
        offender: Key,
        offence: Offence,
        evidence: Evidence,
    },
    /// Proposes parameter changes: each a path in the parameters (`kappa_ppm`,
    /// `min_stake.validator`, ...) and its new value as JSON text. The proposal's id is its
    /// leaf.
    Propose {
        title: String,
        changes: BTreeMap<String, String>,
    },
    /// Votes on a proposal (again: the new vote replaces the old).
    Vote {
        proposal: u64,
        choice: Choice,
        conviction: u8,
    },
    /// Delegates the actor's weight for a scope, with ordered fallbacks.
    Delegate {
        to: Key,
        scope: Scope,
        fallbacks: Vec<Key>,
    },
    Undelegate {
        scope: Scope,
    },
}

/// Evidence of an offence. The fold re-checks each kind as far as the log allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Evidence {
    /// The batch leaf and its stored manifest (the JSON object as stored, verbatim). The
    /// fold checks that its SHA-256 is the one the signed leaf names and that its signature
    /// does not verify.
    Manifest { batch_leaf: u64, manifest: String },
    /// A row of a signed batch whose recorded consent is a refusal without an override:
    /// the manifest (verbatim), the row's leaf bytes (hex) and its inclusion proof (hex
    /// hashes) under the manifest's rows root. Fully re-checked by the fold.
    Row {
        batch_leaf: u64,
        manifest: String,
        row_leaf: String,
        proof: Vec<String>,
    },
    /// Audit reports (their leaves) whose findings name the batch with the offence's check:
    /// the fold checks that their validators hold at least κ of the permitted stake.
    Attested { batch_leaf: u64, reports: Vec<u64> },
    /// Two audit leaves of the offender for one epoch with different weights.
    Reports { first: u64, second: u64 },
}

/// What the fold is handed for one log leaf: decoded, signature-checked, with the reason
/// when it could not be.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A committed batch's manifest leaf. `signed` is whether the leaf's signature by
    /// `contributor` verified.
    Batch {
        batch_id: String,
        contributor: Key,
        manifest_sha256: String,
        signed: bool,
    },
    /// A validator's audit report leaf, with what the report claims once its stored object
    /// matched the leaf's hash and the validator's signature (or why it did not).
    Audit {
        validator: Key,
        report: Result<AuditClaims, String>,
    },
    /// A protocol event, or why it is not a valid one.
    Event(Result<Body, String>),
    /// Anything else (a kind from a newer version, or bytes that are not an entry).
    Unknown { reason: String },
}

/// The part of a signed audit report the protocol reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuditClaims {
    /// The epoch the weights are for (`None`: the report carries no weights).
    pub epoch: Option<u64>,
    /// Raw scores over contributors (normalised by the consensus).
    pub weights: BTreeMap<Key, u64>,
    /// `(check, batch id)` of every finding.
    pub findings: Vec<(String, String)>,
}

impl AuditClaims {
    /// A digest of the weights: two reports for one epoch equivocate when theirs differ.
    pub fn weights_digest(&self) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"masa/weights/v1\n");
        h.update(serde_json::to_vec(&(&self.epoch, &self.weights)).expect("weights serialize"));
        h.finalize().into()
    }
}

/// The leaf of a protocol event, as stored in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolLeaf {
    pub kind: String,
    pub body: String,
    pub sig: String,
}

impl Body {
    /// The canonical body text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("an event body serializes")
    }

    /// The bytes the actor signs.
    pub fn signing_bytes(body: &str) -> Vec<u8> {
        let mut out = EVENT_DOMAIN.to_vec();
        out.extend_from_slice(body.as_bytes());
        out
    }
}

/// The bytes a contributor signs for a batch leaf.
pub fn batch_entry_signing_bytes(
    origin: &str,
    batch_id: &str,
    contributor: &str,
    manifest_sha256: &str,
) -> Vec<u8> {
    let mut out = BATCH_ENTRY_DOMAIN.to_vec();
    for (i, part) in [origin, batch_id, contributor, manifest_sha256]
        .iter()
        .enumerate()
    {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// Strict ed25519 verification of a hex signature by `key` over `message`.
pub fn verify_signature(key: &Key, message: &[u8], sig_hex: &str) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(&key.0) else {
        return false;
    };
    let Some(sig) = hex::decode(sig_hex)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    vk.verify_strict(message, &Signature::from_bytes(&sig))
        .is_ok()
}

/// Decodes and checks a protocol leaf's body and signature. Every failure is a reason the
/// fold records: unknown event types (from a newer masa), other versions, non-canonical
/// bodies and bad signatures.
pub fn decode_event(body: &str, sig: &str) -> Result<Body, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the event body is not JSON: {e}"))?;
    if let Some(v) = value.get("v").and_then(|v| v.as_u64())
        && v != u64::from(EVENT_VERSION)
    {
        return Err(format!(
            "event version {v} is not {EVENT_VERSION}, the version this masa reads"
        ));
    }
    let parsed: Body = serde_json::from_value(value.clone()).map_err(|e| {
        match value.pointer("/event/type").and_then(|t| t.as_str()) {
            Some(t) if !KNOWN_TYPES.contains(&t) => {
                format!("unknown event type {t:?} (written by a newer masa?)")
            }
            _ => format!("malformed event: {e}"),
        }
    })?;
    if parsed.encode() != body {
        return Err("the event body is not in canonical form".into());
    }
    if !verify_signature(&parsed.actor, &Body::signing_bytes(body), sig) {
        return Err(format!(
            "bad signature: not {}'s signature over this event",
            parsed.actor.short()
        ));
    }
    Ok(parsed)
}

const KNOWN_TYPES: [&str; 10] = [
    "genesis",
    "stake",
    "unstake",
    "transfer",
    "close_epoch",
    "slash",
    "propose",
    "vote",
    "delegate",
    "undelegate",
];

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    pub(crate) fn key(seed: u8) -> (SigningKey, Key) {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let k = Key(sk.verifying_key().to_bytes());
        (sk, k)
    }

    pub(crate) fn sign(sk: &SigningKey, body: &Body) -> (String, String) {
        let text = body.encode();
        let sig = hex::encode(sk.sign(&Body::signing_bytes(&text)).to_bytes());
        (text, sig)
    }

    fn body(actor: Key, nonce: u64, event: Event) -> Body {
        Body {
            v: EVENT_VERSION,
            origin: "masa/dataset/t".into(),
            actor,
            nonce,
            event,
        }
    }

    #[test]
    fn signed_event_decodes_and_every_tamper_is_named() {
        let (sk, k) = key(1);
        let b = body(
            k,
            1,
            Event::Stake {
                role: Role::Validator,
                amount: Amount::masa(5),
            },
        );
        let (text, sig) = sign(&sk, &b);
        assert_eq!(decode_event(&text, &sig).unwrap(), b);

        let altered = text.replace("5000000000", "6000000000");
        assert!(
            decode_event(&altered, &sig)
                .unwrap_err()
                .contains("bad signature")
        );
        let spaced = text.replacen(':', ": ", 1);
        assert!(
            decode_event(&spaced, &sig)
                .unwrap_err()
                .contains("canonical")
        );
        let future = text.replace("\"stake\"", "\"bribe\"");
        assert!(
            decode_event(&future, &sig)
                .unwrap_err()
                .contains("unknown event type \"bribe\"")
        );
        let v2 = text.replace("\"v\":1", "\"v\":2");
        assert!(decode_event(&v2, &sig).unwrap_err().contains("version 2"));
        assert!(decode_event("{", &sig).unwrap_err().contains("not JSON"));
        let (_, other) = key(2);
        let mut wrong = b.clone();
        wrong.actor = other;
        let (wtext, _) = sign(&sk, &wrong);
        let wsig = hex::encode(sk.sign(&Body::signing_bytes(&wtext)).to_bytes());
        assert!(
            decode_event(&wtext, &wsig)
                .unwrap_err()
                .contains("bad signature")
        );
    }

    #[test]
    fn batch_entry_bytes_are_domain_separated() {
        let a = batch_entry_signing_bytes("o", "b", "c", "s");
        assert!(a.starts_with(BATCH_ENTRY_DOMAIN));
        assert_ne!(a, batch_entry_signing_bytes("o", "b\nc", "", "s"));
    }
}

//! Test actors: keys that sign real events through the same decoding the log reader uses.

#![allow(dead_code)]

use ed25519_dalek::{Signer, SigningKey};
use masa_rewards::event::{Body, EVENT_VERSION, batch_entry_signing_bytes, decode_event};
use masa_rewards::{AuditClaims, Entry, Event, Key, Params};
use std::collections::BTreeMap;

pub const ORIGIN: &str = "masa/dataset/test";

pub struct Actor {
    pub sk: SigningKey,
    pub key: Key,
    pub nonce: u64,
}

impl Actor {
    pub fn new(seed: u8) -> Actor {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let key = Key(sk.verifying_key().to_bytes());
        Actor { sk, key, nonce: 0 }
    }

    /// The next event of this actor, signed and decoded as the log reader decodes it.
    pub fn event(&mut self, event: Event) -> Entry {
        self.nonce += 1;
        self.at_nonce(self.nonce, event)
    }

    /// The next event, for one the fold will reject: the actor's nonce does not advance.
    pub fn rejected(&self, event: Event) -> Entry {
        self.at_nonce(self.nonce + 1, event)
    }

    /// An event at a chosen nonce (for replays), without advancing this actor's nonce.
    pub fn at_nonce(&self, nonce: u64, event: Event) -> Entry {
        let body = Body {
            v: EVENT_VERSION,
            origin: ORIGIN.into(),
            actor: self.key,
            nonce,
            event,
        };
        let text = body.encode();
        let sig = hex::encode(self.sk.sign(&Body::signing_bytes(&text)).to_bytes());
        Entry::Event(decode_event(&text, &sig))
    }

    /// A batch leaf signed by this contributor.
    pub fn batch(&self, batch_id: &str) -> Entry {
        let sha = format!("{:064x}", batch_id.len());
        let msg = batch_entry_signing_bytes(ORIGIN, batch_id, &self.key.hex(), &sha);
        let sig = hex::encode(self.sk.sign(&msg).to_bytes());
        Entry::Batch {
            batch_id: batch_id.into(),
            contributor: self.key,
            manifest_sha256: sha,
            signed: masa_rewards::event::verify_signature(&self.key, &msg, &sig),
        }
    }

    /// An audit leaf of this validator with weights for `epoch`.
    pub fn report(&self, epoch: u64, weights: &[(Key, u64)]) -> Entry {
        Entry::Audit {
            validator: self.key,
            report: Ok(AuditClaims {
                epoch: Some(epoch),
                weights: weights.iter().copied().collect(),
                findings: vec![],
            }),
        }
    }
}

pub fn genesis(creator: &mut Actor, params: Params, balances: &[(Key, u64)]) -> Entry {
    let allocations: BTreeMap<Key, masa_rewards::Amount> = balances
        .iter()
        .map(|(k, a)| (*k, masa_rewards::Amount::masa(*a)))
        .collect();
    creator.event(Event::Genesis {
        params: Box::new(params),
        allocations,
    })
}

/// Parameters with a short epoch, for tests.
pub fn params(epoch_length: u64) -> Params {
    Params {
        epoch_length,
        ..Params::default()
    }
}

pub fn filler() -> Entry {
    Entry::Unknown {
        reason: "filler".into(),
    }
}

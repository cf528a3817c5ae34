//! Rewards: epochs, contributor scores, stake-weighted consensus, staking, slashing and
//! governance. Only the types other crates name exist yet; the logic arrives with its issue.

use serde::{Deserialize, Serialize};

/// A reward epoch: a half-open range of log positions `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epoch {
    pub number: u64,
    pub start: u64,
    pub end: u64,
}

/// A normalized weight for one participant (a contributor or a validator), ready for an
/// on-chain `set_weights`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weight {
    /// Hex ed25519 public key.
    pub participant: String,
    pub weight: f64,
}

//! Masa's protocol: signed protocol events in the dataset's log, and the state they fold
//! into. Stake, epochs, contribution scores, Yuma consensus, emission, unbonding and
//! slashing are all decided here, by a pure and deterministic fold: no IO, no clock, no
//! randomness, integer money. Anyone holding the log reaches the same state and hash.
//!
//! - `event.rs`: the events, their canonical signed encoding, and the decoded [`Entry`]
//!   the fold consumes;
//! - `fold.rs`: [`State::apply`] and the validation of every event;
//! - `slash.rs`: re-checking slashing evidence, and the slash;
//! - `governance.rs`: the tally (liquid democracy); `proposals.rs`: proposals, votes,
//!   delegations and enactment in the fold;
//! - `epoch.rs`: closing an epoch (consensus, emission, bonds, releases);
//! - `yuma.rs`: Yuma consensus as Bittensor's chain runs it;
//! - `score.rs`: what validators score a contributor's records by;
//! - `weights.rs`: weights for an on-chain `set_weights`.

mod amount;
pub mod epoch;
pub mod event;
mod fold;
pub mod governance;
mod key;
mod params;
mod proposals;
pub mod score;
mod slash;
mod state;
pub mod weights;
pub mod yuma;

pub use amount::{Amount, MAX_SUPPLY, UNITS_PER_MASA};
pub use event::{AuditClaims, Body, Entry, Event, Evidence};
pub use fold::Outcome;
pub use key::Key;
pub use params::{
    Conviction, Governance, MinStake, Offence, PARAMS_VERSION, Params, Role, Scope, ScoreRules,
    SlashBps, SlashDestination, Threshold, short_form,
};
pub use proposals::with_changes;
pub use slash::{CONTENT_CHECKS, FABRICATION_CHECK};
pub use state::{
    Account, AuditRef, BatchRef, EpochResult, Lock, ParamChange, Payout, Proposal, Rejection,
    Report, Span, State, Status, Unbonding, Usage,
};

/// Folds a whole log from the empty state.
pub fn fold<'a>(origin: &str, entries: impl IntoIterator<Item = &'a Entry>) -> State {
    let mut s = State::new(origin);
    for e in entries {
        s.apply(e);
    }
    s
}

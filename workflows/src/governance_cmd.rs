//! What the governance commands do: `propose`, `vote`, `delegate`, `undelegate`, and the
//! views `proposals` and `tally` (how each account's weight flowed).

use crate::WorkflowError;
use crate::protocol::{Submitted, load};
use crate::protocol_cmd::{ProtocolTarget, submit_event};
use masa_rewards::governance::{Choice, Route, Tally};
use masa_rewards::{Amount, Event, Key, Proposal, Scope, State, Status};
use masa_storage::{Dataset, StorageOptions};
use serde::Serialize;
use std::collections::BTreeMap;

/// Proposes `changes` (parameter paths to JSON values); the proposal's id is the returned
/// leaf.
pub async fn propose(
    t: &ProtocolTarget,
    title: String,
    changes: BTreeMap<String, String>,
) -> Result<Submitted, WorkflowError> {
    submit_event(t, Event::Propose { title, changes }).await
}

pub async fn vote(
    t: &ProtocolTarget,
    proposal: u64,
    choice: Choice,
    conviction: u8,
) -> Result<Submitted, WorkflowError> {
    submit_event(
        t,
        Event::Vote {
            proposal,
            choice,
            conviction,
        },
    )
    .await
}

pub async fn delegate(
    t: &ProtocolTarget,
    to: Key,
    scope: Scope,
    fallbacks: Vec<Key>,
) -> Result<Submitted, WorkflowError> {
    submit_event(
        t,
        Event::Delegate {
            to,
            scope,
            fallbacks,
        },
    )
    .await
}

pub async fn undelegate(t: &ProtocolTarget, scope: Scope) -> Result<Submitted, WorkflowError> {
    submit_event(t, Event::Undelegate { scope }).await
}

/// A proposal as `masa proposals` shows it: decided ones with their tally, open ones with
/// the tally they would have now.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalView {
    #[serde(flatten)]
    pub proposal: Proposal,
    /// The tally now, for an open proposal.
    pub live_tally: Option<Tally>,
}

pub fn proposals_view(s: &State) -> Vec<ProposalView> {
    s.proposals
        .values()
        .map(|p| ProposalView {
            proposal: p.clone(),
            live_tally: (p.status == Status::Open)
                .then(|| s.tally_now(p.id).map(|t| t.0))
                .flatten(),
        })
        .collect()
}

/// One account's weight in a tally.
#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub key: String,
    pub stake: Amount,
    #[serde(flatten)]
    pub route: FlowRoute,
}

/// [`Route`] with the voter named by key.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FlowRoute {
    Voted {
        choice: Choice,
        conviction: u8,
    },
    Delegated {
        voter: String,
        hops: u32,
        fallback: bool,
    },
    Cycle,
    Inactive,
    Absent,
}

/// `masa tally`: the resolved tally and how each account's weight flowed.
#[derive(Debug, Clone, Serialize)]
pub struct TallyView {
    pub proposal: u64,
    pub title: String,
    pub scope: Scope,
    pub status: Status,
    /// The state the tally was resolved on: the decision's close, or now for an open one.
    pub at_leaf: u64,
    pub tally: Tally,
    pub quorum_bps: u32,
    pub approval_bps: u32,
    pub flows: Vec<Flow>,
}

/// The tally of proposal `id`: for a decided proposal, resolved again on the state just
/// before the close that decided it (the stakes, votes and delegations it was decided on),
/// and checked against the tally the fold recorded.
pub async fn tally_view(
    location: &str,
    storage: &StorageOptions,
    id: u64,
) -> Result<TallyView, WorkflowError> {
    let ds = Dataset::open(location, storage).await?;
    let (log, now) = load(&ds, None).await?;
    let p = now.proposals.get(&id).ok_or_else(|| {
        WorkflowError::Other(format!(
            "there is no proposal {id} ({} proposals: {:?})",
            now.proposals.len(),
            now.proposals.keys().collect::<Vec<_>>()
        ))
    })?;
    let (at, state) = match p.decided_at_leaf {
        Some(leaf) => (
            leaf,
            crate::protocol::fold_log(&ds, &log, Some(leaf)).await?,
        ),
        None => (now.leaves, now.clone()),
    };
    let (tally, keys, routes) = state
        .tally_now(id)
        .ok_or_else(|| WorkflowError::Other(format!("proposal {id} cannot be tallied")))?;
    if let Some(recorded) = &p.tally
        && *recorded != tally
    {
        return Err(WorkflowError::Other(format!(
            "proposal {id}: the tally resolved again differs from the one the fold recorded"
        )));
    }
    let sp = state
        .proposals
        .get(&id)
        .expect("exists before its decision");
    let flows = keys
        .iter()
        .zip(&routes)
        .map(|(k, r)| Flow {
            key: k.hex(),
            stake: state.account(k).map_or(Amount::ZERO, |a| a.bonded()),
            route: match *r {
                Route::Voted => {
                    let v = sp.votes[k];
                    FlowRoute::Voted {
                        choice: v.choice,
                        conviction: v.conviction,
                    }
                }
                Route::Delegated {
                    voter,
                    hops,
                    fallback,
                } => FlowRoute::Delegated {
                    voter: keys[voter as usize].hex(),
                    hops,
                    fallback,
                },
                Route::Cycle => FlowRoute::Cycle,
                Route::Inactive => FlowRoute::Inactive,
                Route::Absent => FlowRoute::Absent,
            },
        })
        .collect();
    let th = state
        .params
        .as_ref()
        .expect("proposals exist after genesis")
        .governance
        .threshold(p.scope)
        .clone();
    Ok(TallyView {
        proposal: id,
        title: p.title.clone(),
        scope: p.scope,
        status: p.status.clone(),
        at_leaf: at,
        tally,
        quorum_bps: th.quorum_bps,
        approval_bps: th.approval_bps,
        flows,
    })
}

//! Governance in the fold: proposals (parameter changes checked against the parameters'
//! bounds when proposed), votes with conviction locks, scoped delegations, and the decision
//! at the close of a proposal's last epoch, enacting what passed for the epochs after it.

use crate::governance::{self, Choice, Delegation, Rules, Tally, Vote};
use crate::state::{Lock, ParamChange, Proposal, State, Status};
use crate::{Amount, Key, Params, Scope};
use std::collections::BTreeMap;

/// `params` with `changes` applied (paths into its JSON form, values as JSON text), valid.
pub fn with_changes(params: &Params, changes: &BTreeMap<String, String>) -> Result<Params, String> {
    let mut v = serde_json::to_value(params).expect("parameters serialize");
    for (path, text) in changes {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|_| format!("the value of {path} is not JSON: {text:?}"))?;
        let mut slot = &mut v;
        for part in path.split('.') {
            slot = slot
                .as_object_mut()
                .and_then(|o| o.get_mut(part))
                .ok_or_else(|| format!("{path} is not a parameter"))?;
        }
        if slot.is_object() || path == "version" {
            return Err(format!("{path} is not a parameter that can be set"));
        }
        *slot = value;
    }
    let p: Params =
        serde_json::from_value(v).map_err(|e| format!("a value has the wrong type: {e}"))?;
    p.validate()?;
    Ok(p)
}

/// The one scope of a set of changes.
fn scope_of(changes: &BTreeMap<String, String>) -> Result<Scope, String> {
    let mut scopes: Vec<Scope> = changes.keys().map(|k| Scope::of_param(k)).collect();
    scopes.dedup();
    match scopes.as_slice() {
        [one] => Ok(*one),
        [] => Err("a proposal must change at least one parameter".into()),
        _ => Err(
            "a proposal changes parameters of one scope only (params, slashing or treasury)".into(),
        ),
    }
}

impl State {
    pub(crate) fn propose(
        &mut self,
        leaf: u64,
        actor: Key,
        title: &str,
        changes: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let params = self.params.as_ref().expect("checked by the caller");
        if title.trim().is_empty() || title.len() > 200 {
            return Err("a proposal needs a title of 1 to 200 bytes".into());
        }
        let scope = scope_of(changes)?;
        with_changes(params, changes)?;
        let epoch = self.current_epoch();
        self.proposals.insert(
            leaf,
            Proposal {
                id: leaf,
                proposer: actor,
                title: title.to_owned(),
                scope,
                changes: changes.clone(),
                epoch,
                decides_at: epoch.saturating_add(params.governance.decision_epochs - 1),
                status: Status::Open,
                votes: BTreeMap::new(),
                tally: None,
                decided_at_leaf: None,
            },
        );
        Ok(())
    }

    pub(crate) fn vote(
        &mut self,
        actor: Key,
        proposal: u64,
        choice: Choice,
        conviction: u8,
    ) -> Result<(), String> {
        let params = self.params.as_ref().expect("checked by the caller");
        let p = self
            .proposals
            .get(&proposal)
            .ok_or_else(|| format!("there is no proposal {proposal}"))?;
        if p.status != Status::Open {
            return Err(format!(
                "proposal {proposal} was decided at the close of epoch {}: its decision period is over",
                p.decides_at
            ));
        }
        let row = params
            .governance
            .conviction
            .get(conviction as usize)
            .ok_or_else(|| {
                format!(
                    "conviction {conviction} is not in the table (0 to {})",
                    params.governance.conviction.len() - 1
                )
            })?;
        let stake = self
            .accounts
            .get(&actor)
            .map_or(Amount::ZERO, |a| a.bonded());
        if stake.is_zero() {
            return Err(format!(
                "{} has no bonded stake to vote with",
                actor.short()
            ));
        }
        let until_epoch = p.decides_at.saturating_add(row.lock_epochs);
        let lock = row.lock_epochs > 0;
        self.proposals
            .get_mut(&proposal)
            .expect("read above")
            .votes
            .insert(actor, Vote { choice, conviction });
        let a = self.accounts.get_mut(&actor).expect("has stake");
        a.locks.retain(|l| l.proposal != proposal);
        if lock {
            a.locks.push(Lock {
                proposal,
                amount: stake,
                until_epoch,
            });
        }
        Ok(())
    }

    pub(crate) fn delegate(
        &mut self,
        actor: Key,
        to: Key,
        scope: Scope,
        fallbacks: &[Key],
    ) -> Result<(), String> {
        let max = self
            .params
            .as_ref()
            .expect("checked")
            .governance
            .max_fallbacks as usize;
        if to == actor || fallbacks.contains(&actor) {
            return Err("a delegation to oneself".into());
        }
        if fallbacks.len() > max {
            return Err(format!("{} fallbacks: at most {max}", fallbacks.len()));
        }
        let mut all = vec![to];
        for f in fallbacks {
            if all.contains(f) {
                return Err(format!("{} is named twice in the delegation", f.short()));
            }
            all.push(*f);
        }
        self.delegations.entry(actor).or_default().insert(
            scope,
            Delegation {
                to,
                fallbacks: fallbacks.to_vec(),
            },
        );
        Ok(())
    }

    pub(crate) fn undelegate(&mut self, actor: Key, scope: Scope) -> Result<(), String> {
        let d = self.delegations.get_mut(&actor);
        match d.and_then(|d| d.remove(&scope)) {
            Some(_) => {
                if self.delegations.get(&actor).is_some_and(|d| d.is_empty()) {
                    self.delegations.remove(&actor);
                }
                Ok(())
            }
            None => Err(format!(
                "{} has no delegation for scope {}",
                actor.short(),
                scope.name()
            )),
        }
    }

    /// The tally of a proposal on the state as it is now (its live tally while open), with
    /// the accounts and where each one's weight went.
    pub fn tally_now(&self, id: u64) -> Option<(Tally, Vec<Key>, Vec<governance::Route>)> {
        self.tally_under(id, &self.params.as_ref()?.governance)
    }

    /// [`State::tally_now`] under the governance parameters `g`.
    fn tally_under(
        &self,
        id: u64,
        g: &crate::Governance,
    ) -> Option<(Tally, Vec<Key>, Vec<governance::Route>)> {
        let p = self.proposals.get(&id)?;
        let weights: BTreeMap<Key, u128> = self
            .accounts
            .iter()
            .map(|(k, a)| (*k, a.bonded().0))
            .filter(|(_, w)| *w > 0)
            .collect();
        // The delegation for the proposal's scope overrides one for `all`.
        let delegations: BTreeMap<Key, &Delegation> = self
            .delegations
            .iter()
            .filter_map(|(k, d)| Some((*k, d.get(&p.scope).or_else(|| d.get(&Scope::All))?)))
            .collect();
        let (keys, graph) = governance::graph(&weights, &p.votes, &delegations);
        let rules = Rules {
            conviction: &g.conviction,
            viscosity_bps: g.viscosity_bps,
            voter_cap_bps: g.voter_cap_bps,
        };
        let (t, routes) = governance::tally(&graph, &keys, &rules);
        Some((t, keys, routes))
    }

    /// Decides the proposals whose last epoch `n` has just closed, in id order, and enacts
    /// those that passed: their parameters hold from epoch `n + 1`.
    pub(crate) fn decide(&mut self, n: u64, leaf: u64) {
        let due: Vec<u64> = self
            .proposals
            .values()
            .filter(|p| p.status == Status::Open && p.decides_at <= n)
            .map(|p| p.id)
            .collect();
        // Every proposal of this close is decided under the rules in force during the
        // epoch, even when one decided before it changes them.
        let rules = self
            .params
            .as_ref()
            .expect("after genesis")
            .governance
            .clone();
        for id in due {
            let (tally, _, _) = self
                .tally_under(id, &rules)
                .expect("an open proposal after genesis");
            // A conviction lock holds the stake the tally counted, not only what was
            // bonded when the vote was cast (staking more before the decision would
            // otherwise weigh more than it locks).
            let voters: Vec<Key> = self.proposals[&id].votes.keys().copied().collect();
            for v in voters {
                if let Some(a) = self.accounts.get_mut(&v) {
                    let bonded = a.bonded();
                    for l in a.locks.iter_mut().filter(|l| l.proposal == id) {
                        l.amount = l.amount.max(bonded);
                    }
                }
            }
            let p = &self.proposals[&id];
            let th = rules.threshold(p.scope);
            let decided = tally.yes.0 + tally.no.0;
            let passed = tally.participation_bps >= th.quorum_bps
                && decided > 0
                && tally.yes.0 * 10_000 > u128::from(th.approval_bps) * decided;
            let status = if !passed {
                Status::Rejected
            } else {
                match with_changes(self.params.as_ref().expect("after genesis"), &p.changes) {
                    Ok(next) => {
                        self.param_history.push(ParamChange {
                            proposal: id,
                            leaf,
                            from_epoch: n + 1,
                            changes: p.changes.clone(),
                        });
                        self.params = Some(next);
                        Status::Enacted { from_epoch: n + 1 }
                    }
                    Err(reason) => Status::Failed { reason },
                }
            };
            let p = self.proposals.get_mut(&id).expect("due");
            p.status = status;
            p.tally = Some(tally);
            p.decided_at_leaf = Some(leaf);
        }
    }
}

//! The fold: one entry point, [`State::apply`], that takes the next log leaf and either
//! applies it or records why it was rejected. No clock, no randomness, no IO; every map is
//! ordered. Each event is fully validated before anything is written, so a rejected leaf
//! changes nothing but the leaf count and the record of its rejection. (`apply` takes
//! `&mut State` rather than returning a new state: copying the state per event would cost
//! more than the event.)

use crate::event::{Body, Entry, Event};
use crate::state::{AuditRef, BatchRef, Rejection, Report, Span, State, Unbonding};
use crate::{Amount, Key, Role};

/// What one leaf did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Rejected(String),
}

impl State {
    /// Folds the next leaf of the log.
    pub fn apply(&mut self, entry: &Entry) -> Outcome {
        let leaf = self.leaves;
        self.roll_spans(leaf);
        let result = match entry {
            Entry::Batch {
                batch_id,
                contributor,
                manifest_sha256,
                signed,
            } => {
                if *signed {
                    let epoch = self.current_epoch();
                    self.batches.insert(
                        leaf,
                        BatchRef {
                            batch_id: batch_id.clone(),
                            contributor: *contributor,
                            manifest_sha256: manifest_sha256.clone(),
                            epoch,
                        },
                    );
                    Ok(())
                } else {
                    Err(format!(
                        "batch {batch_id}: the leaf is not signed by its contributor {}, so it earns nothing",
                        contributor.short()
                    ))
                }
            }
            Entry::Audit { validator, report } => match report {
                Err(reason) => Err(format!("audit report of {}: {reason}", validator.short())),
                Ok(claims) => self.audit(leaf, *validator, claims),
            },
            Entry::Event(Err(reason)) => Err(reason.clone()),
            Entry::Event(Ok(body)) => self.event(leaf, body),
            Entry::Unknown { reason } => Err(reason.clone()),
        };
        self.leaves += 1;
        match result {
            Ok(()) => Outcome::Applied,
            Err(reason) => {
                self.rejections.push(Rejection {
                    leaf,
                    reason: reason.clone(),
                });
                Outcome::Rejected(reason)
            }
        }
    }

    /// Starts the next epoch when `leaf` is past the current one's end. Epochs follow each
    /// other whether or not the previous one is closed: their spans are fixed by the log.
    fn roll_spans(&mut self, leaf: u64) {
        let Some(params) = &self.params else { return };
        if let Some(last) = self.spans.last().copied()
            && leaf >= last.end
        {
            self.spans.push(Span {
                start: last.end,
                end: last.end.saturating_add(params.epoch_length),
            });
        }
    }

    fn audit(
        &mut self,
        leaf: u64,
        validator: Key,
        claims: &crate::event::AuditClaims,
    ) -> Result<(), String> {
        let digest = claims.weights_digest();
        let mut count_weights = false;
        if let Some(n) = claims.epoch {
            if self.params.is_none() {
                return Err("weights before the genesis event are not counted".into());
            }
            let span = usize::try_from(n)
                .ok()
                .and_then(|i| self.spans.get(i))
                .ok_or_else(|| format!("weights for epoch {n}, which has not started"))?;
            if span.end > leaf {
                return Err(format!(
                    "weights for epoch {n}, which has not ended (it ends at leaf {})",
                    span.end
                ));
            }
            if n < self.closed {
                return Err(format!("weights for epoch {n}, which is already closed"));
            }
            match self.reports.get(&n).and_then(|r| r.get(&validator)) {
                Some(earlier) => {
                    let same =
                        self.audits.get(&earlier.leaf).map(|a| a.weights_digest) == Some(digest);
                    if same {
                        return Err(format!(
                            "the same weights of {} for epoch {n} are already counted (leaf {})",
                            validator.short(),
                            earlier.leaf
                        ));
                    }
                    // A second, different report for one epoch: equivocation. Neither
                    // counts; the two leaves are the evidence for a slash.
                    self.reports
                        .get_mut(&n)
                        .expect("just read")
                        .remove(&validator);
                    self.equivocated.insert((validator, n));
                }
                None => count_weights = !self.equivocated.contains(&(validator, n)),
            }
        }
        self.audits.insert(
            leaf,
            AuditRef {
                validator,
                epoch: claims.epoch,
                weights_digest: digest,
                findings: claims.findings.iter().cloned().collect(),
            },
        );
        if count_weights && let Some(n) = claims.epoch {
            self.reports.entry(n).or_default().insert(
                validator,
                Report {
                    leaf,
                    weights: claims.weights.clone(),
                },
            );
        }
        Ok(())
    }

    fn event(&mut self, leaf: u64, body: &Body) -> Result<(), String> {
        if body.origin != self.origin {
            return Err(format!(
                "the event is signed for log {:?}, not this one ({:?})",
                body.origin, self.origin
            ));
        }
        let actor = body.actor;
        let last = self.accounts.get(&actor).map_or(0, |a| a.nonce);
        if body.nonce != last + 1 {
            return Err(if body.nonce <= last {
                format!(
                    "nonce {} of {} was already used (replay): the next is {}",
                    body.nonce,
                    actor.short(),
                    last + 1
                )
            } else {
                format!(
                    "nonce {} of {} skips ahead: the next is {}",
                    body.nonce,
                    actor.short(),
                    last + 1
                )
            });
        }
        if let Event::Genesis {
            params,
            allocations,
        } = &body.event
        {
            if let Some(g) = self.genesis_leaf {
                return Err(format!("the protocol already has its genesis (leaf {g})"));
            }
            params.validate()?;
            let mut total = Amount::ZERO;
            for a in allocations.values() {
                total = total
                    .checked_add(*a)
                    .filter(|t| t.0 <= crate::MAX_SUPPLY)
                    .ok_or(
                        "the genesis allocations exceed the maximum supply (2^100 base units)",
                    )?;
            }
            for (k, a) in allocations {
                self.accounts.entry(*k).or_default().balance = *a;
            }
            self.genesis_supply = total;
            self.spans = vec![Span {
                start: 0,
                end: leaf.saturating_add(params.epoch_length),
            }];
            self.params = Some(params.as_ref().clone());
            self.genesis_leaf = Some(leaf);
            self.bump(actor);
            return Ok(());
        }
        let Some(params) = &self.params else {
            return Err("the protocol has no genesis yet (masa init-protocol)".into());
        };
        match &body.event {
            Event::Genesis { .. } => unreachable!("handled above"),
            Event::Stake { role, amount } => {
                let rest = self.balance_after(actor, *amount, "stake")?;
                let a = self.accounts.get_mut(&actor).expect("has a balance");
                let staked = a
                    .staked(*role)
                    .checked_add(*amount)
                    .ok_or("stake overflows")?;
                a.balance = rest;
                a.stake.insert(*role, staked);
                a.nonce += 1;
                return Ok(());
            }
            Event::Unstake { role, amount } => {
                positive(*amount)?;
                let staked = self
                    .accounts
                    .get(&actor)
                    .map_or(Amount::ZERO, |a| a.staked(*role));
                let rest = staked.checked_sub(*amount).ok_or_else(|| {
                    format!(
                        "{} cannot unstake {amount} as {}: its stake is {staked}",
                        actor.short(),
                        role.name()
                    )
                })?;
                let acct = self.accounts.get(&actor).expect("has stake");
                let locked = acct.locked(self.closed);
                if acct.bonded().saturating_sub(*amount) < locked {
                    let until = acct
                        .locks
                        .iter()
                        .filter(|l| l.until_epoch >= self.closed)
                        .map(|l| l.until_epoch)
                        .max()
                        .unwrap_or_default();
                    return Err(format!(
                        "{locked} of {}'s stake is locked by its votes until the close of epoch {until}",
                        actor.short()
                    ));
                }
                let release_epoch = self.current_epoch().saturating_add(params.unbonding_epochs);
                let a = self.accounts.get_mut(&actor).expect("has stake");
                set_stake(a, *role, rest);
                a.unbonding.push(Unbonding {
                    role: *role,
                    amount: *amount,
                    release_epoch,
                });
                a.nonce += 1;
                return Ok(());
            }
            Event::Transfer { to, amount } => {
                if *to == actor {
                    return Err("a transfer to oneself".into());
                }
                let rest = self.balance_after(actor, *amount, "transfer")?;
                let to_balance = self.accounts.get(to).map_or(Amount::ZERO, |a| a.balance);
                let credited = to_balance.checked_add(*amount).ok_or("balance overflows")?;
                let a = self.accounts.get_mut(&actor).expect("has a balance");
                a.balance = rest;
                a.nonce += 1;
                self.accounts.entry(*to).or_default().balance = credited;
                return Ok(());
            }
            Event::Fee { amount } => {
                self.pay_fee(actor, *amount)?;
                return Ok(());
            }
            Event::Usage {
                key,
                queries,
                records,
                bytes,
                fee,
            } => {
                if key.is_empty() || key.len() > 64 {
                    return Err("a usage event names its API key by an id of 1 to 64 bytes".into());
                }
                let before = self
                    .usage
                    .get(&actor)
                    .and_then(|u| u.get(key))
                    .cloned()
                    .unwrap_or_default();
                let add = |a: u64, b: u64| a.checked_add(b).ok_or("usage counts overflow");
                let total = crate::state::Usage {
                    events: add(before.events, 1)?,
                    queries: add(before.queries, *queries)?,
                    records: add(before.records, *records)?,
                    bytes: add(before.bytes, *bytes)?,
                    fees: before.fees.checked_add(*fee).ok_or("usage fees overflow")?,
                };
                if fee.is_zero() {
                    self.bump(actor);
                } else {
                    self.pay_fee(actor, *fee)?;
                }
                self.usage
                    .entry(actor)
                    .or_default()
                    .insert(key.clone(), total);
                return Ok(());
            }
            Event::CloseEpoch { epoch } => {
                let n = *epoch;
                if n < self.closed {
                    return Err(format!("epoch {n} is already closed"));
                }
                if n > self.closed {
                    return Err(format!(
                        "epoch {n} cannot close before epoch {}",
                        self.closed
                    ));
                }
                let span = self.spans[n as usize];
                if span.end > leaf {
                    return Err(format!(
                        "epoch {n} has not ended: it ends at leaf {}, this is leaf {leaf}",
                        span.end
                    ));
                }
                let result = crate::epoch::close(self, n, leaf)?;
                crate::epoch::commit(self, result);
                self.decide(n, leaf);
            }
            Event::Propose { title, changes } => self.propose(leaf, actor, title, changes)?,
            Event::Vote {
                proposal,
                choice,
                conviction,
            } => self.vote(actor, *proposal, *choice, *conviction)?,
            Event::Delegate {
                to,
                scope,
                fallbacks,
            } => self.delegate(actor, *to, *scope, fallbacks)?,
            Event::Undelegate { scope } => self.undelegate(actor, *scope)?,
            Event::Slash {
                offender,
                offence,
                evidence,
            } => {
                let (subject, batch_leaf) = self.check_evidence(*offender, *offence, evidence)?;
                self.slash(*offender, *offence, subject, batch_leaf);
            }
        }
        self.bump(actor);
        Ok(())
    }

    /// The actor's balance once `amount` (more than zero) is taken from it, or why not.
    fn balance_after(&self, actor: Key, amount: Amount, what: &str) -> Result<Amount, String> {
        positive(amount)?;
        let balance = self
            .accounts
            .get(&actor)
            .map_or(Amount::ZERO, |a| a.balance);
        balance.checked_sub(amount).ok_or_else(|| {
            format!(
                "{} cannot {what} {amount}: its balance is {balance}",
                actor.short()
            )
        })
    }

    /// Moves `amount` (more than zero) of the actor's balance into the fee pool, and uses
    /// its nonce; nothing changes if it cannot.
    fn pay_fee(&mut self, actor: Key, amount: Amount) -> Result<(), String> {
        let rest = self.balance_after(actor, amount, "pay a fee of")?;
        let fees = self
            .fees
            .checked_add(amount)
            .ok_or("the fee pool overflows")?;
        let a = self.accounts.get_mut(&actor).expect("has a balance");
        a.balance = rest;
        a.nonce += 1;
        self.fees = fees;
        Ok(())
    }

    fn bump(&mut self, actor: Key) {
        self.accounts.entry(actor).or_default().nonce += 1;
    }
}

fn positive(a: Amount) -> Result<(), String> {
    if a.is_zero() {
        Err("the amount must be more than zero".into())
    } else {
        Ok(())
    }
}

/// Sets a role's stake, dropping the entry at zero (so equal states hash equal).
pub(crate) fn set_stake(a: &mut crate::state::Account, role: Role, amount: Amount) {
    if amount.is_zero() {
        a.stake.remove(&role);
    } else {
        a.stake.insert(role, amount);
    }
}

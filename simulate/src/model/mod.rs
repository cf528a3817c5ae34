//! One run of a scenario: the network as a continuous-time Markov chain whose every action
//! is a protocol log entry, folded by `masa-rewards` as the real log is.
//!
//! The chain's channels are aggregated by role (an arrival, a departure, a failure or a
//! recovery of a contributor, a validator or an oracle; a contribution; a report; a
//! restake; a query; a proposal; a vote), each at its rate times the agents that can take it; the engine picks
//! the channel and the model a uniform agent among them. What the chain does not decide is
//! deterministic and taken from the protocol's own rules:
//! - when an epoch ends (its span of leaves is full), its records are scored with
//!   `masa_rewards::score` in log order, exactly as `masa audit` scores them, and oracles
//!   pay their metered fees;
//! - validators then report at their audit rate, each signing what its strategy makes of
//!   the scores; the epoch is closed (a `close_epoch` event) once every online validator
//!   has reported, or when the next epoch ends, whichever is first;
//! - the close's payouts are what every agent earns. Nothing here computes a reward.
//!
//! `agents.rs` holds the agents and how they join and leave; `epochs.rs` what happens
//! around an epoch (contributions, scoring, reports, fees, the close and its rows).

use crate::engine::{Model, SimRng};
use crate::scenario::Compiled;
use crate::table::Row;
use masa_rewards::event::EVENT_VERSION;
use masa_rewards::score::{Preparer, Scorer};
use masa_rewards::{Amount, Body, Entry, Event, Key, Outcome, Role, State};
use std::collections::{BTreeMap, HashMap};

mod agents;
mod epochs;

use agents::{Agent, Pool, to_masa};

/// The log's origin in every simulation.
pub const ORIGIN: &str = "masa/simulation";

/// Recent records a copier or a duplicate draws from.
const RECENT: usize = 256;

/// The three kinds of agents, as the channels index them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Contributor = 0,
    Validator = 1,
    Oracle = 2,
}

const KINDS: [Kind; 3] = [Kind::Contributor, Kind::Validator, Kind::Oracle];
// Channels 0..12 are the lifecycle: 4 per kind (arrive, depart, fail, recover).
const CONTRIBUTE: usize = 12;
const AUDIT: usize = 13;
const RESTAKE: usize = 14;
const QUERY: usize = 15;
const PROPOSE: usize = 16;
const VOTE: usize = 17;
const CHANNELS: usize = 18;

/// A record waiting for its epoch to end to be scored.
struct Pending {
    key: Key,
    text: String,
    quality: f64,
}

/// A strategy's totals in a run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Totals {
    pub agents: u32,
    /// MASA received from epoch closes.
    pub reward: f64,
    /// MASA spent: stake held, content written, audits, fees.
    pub cost: f64,
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    pub rows: Vec<Row>,
    /// By strategy label.
    pub totals: BTreeMap<String, Totals>,
    /// The cabal's share of everything paid to agents over the run, and its initial stake
    /// share among validators.
    pub cabal_emission_share: Option<f64>,
    pub cabal_stake_share: Option<f64>,
    /// Mean over epochs of the cabal members' consensus over their honest weights.
    pub cabal_consensus_ratio: Option<f64>,
    pub epochs: u64,
    pub time: f64,
    pub events: u64,
    pub leaves: u64,
    pub rejected: u64,
    /// The first few rejection reasons (the simulation should make none).
    pub rejections: Vec<String>,
    /// The log stopped growing before the horizon (nothing in the scenario adds to it).
    pub stalled: bool,
    pub state_hash: String,
}

/// The network: agents, the protocol state their events fold into, and the bookkeeping
/// between them.
pub struct Network<'a> {
    c: &'a Compiled,
    point: u32,
    run: u32,
    pub state: State,
    now: f64,
    agents: Vec<Agent>,
    owner: HashMap<Key, u32>,
    /// All active agents, and the online and offline ones, by kind.
    active: [Pool; 3],
    online: [Pool; 3],
    offline: [Pool; 3],
    pending_online: Pool,
    /// Lazy validators waiting for a report to copy.
    waiting: Pool,
    faucet: Key,
    nonces: HashMap<Key, u64>,
    scorer: Scorer,
    preparer: Preparer,
    /// Threads that prepare an epoch's records (the in-order pass is one thread).
    threads: usize,
    recent: Vec<(u32, String)>,
    recent_next: usize,
    /// Records by the epoch their batch landed in.
    unscored: BTreeMap<u64, Vec<Pending>>,
    /// Scores of ended epochs not yet closed, and the honest total.
    scores: BTreeMap<u64, BTreeMap<Key, u64>>,
    /// The epoch whose reports are being collected.
    auditing: Option<u64>,
    reported: Vec<u32>,
    /// Epochs scored so far (they end in order).
    scored: u64,
    close_failed: bool,
    // Dataset totals.
    records: u64,
    bytes: u64,
    novel: u64,
    words: u64,
    near_dups: u64,
    paid_contributors: u128,
    rows: Vec<Row>,
    cabal_paid: u128,
    all_paid: u128,
    consensus_ratios: Vec<f64>,
    cabal_stake_share: Option<f64>,
    // Governance: the next scenario proposal, the open one, who has yet to vote on it.
    next_proposal: usize,
    open_proposal: Option<u64>,
    voters: Pool,
    proposals_decided: u64,
    proposals_passed: u64,
}

impl<'a> Network<'a> {
    /// The network at time 0: the genesis, and the initial agents staked.
    /// `threads` prepare each epoch's records for scoring (the results do not depend on it).
    pub fn new(
        c: &'a Compiled,
        point: u32,
        run: u32,
        threads: usize,
        rng: &mut SimRng,
    ) -> Network<'a> {
        let faucet = Key([0xff; 32]);
        let mut n = Network {
            threads: threads.max(1),
            c,
            point,
            run,
            state: State::new(ORIGIN),
            now: 0.0,
            agents: Vec::new(),
            owner: HashMap::new(),
            active: Default::default(),
            online: Default::default(),
            offline: Default::default(),
            pending_online: Pool::default(),
            waiting: Pool::default(),
            faucet,
            nonces: HashMap::new(),
            scorer: Scorer::new(&c.params.score),
            preparer: Preparer::new(&c.params.score),
            recent: Vec::new(),
            recent_next: 0,
            unscored: BTreeMap::new(),
            scores: BTreeMap::new(),
            auditing: None,
            reported: Vec::new(),
            scored: 0,
            close_failed: false,
            records: 0,
            bytes: 0,
            novel: 0,
            words: 0,
            near_dups: 0,
            paid_contributors: 0,
            rows: Vec::new(),
            cabal_paid: 0,
            all_paid: 0,
            consensus_ratios: Vec::new(),
            cabal_stake_share: None,
            next_proposal: 0,
            open_proposal: None,
            voters: Pool::default(),
            proposals_decided: 0,
            proposals_passed: 0,
        };
        // The faucet holds what funds every agent that will ever arrive.
        let supply = Amount(masa_rewards::MAX_SUPPLY / 2);
        n.faucet_event(Event::Genesis {
            params: Box::new(c.params.clone()),
            allocations: BTreeMap::from([(faucet, supply)]),
        });
        let s = &c.scenario;
        let mut ids = Vec::new();
        for kind in KINDS {
            let initial = match kind {
                Kind::Contributor => s.contributors.lifecycle.initial,
                Kind::Validator => s.validators.lifecycle.initial,
                Kind::Oracle => s.oracles.lifecycle.initial,
            };
            for _ in 0..initial {
                ids.push(n.create(kind, rng));
            }
        }
        // The cabal's stake share, when the scenario fixes it.
        let colluders: Vec<usize> = (0..n.agents.len())
            .filter(|i| n.agents[*i].kind == Kind::Validator && n.agents[*i].cabal)
            .collect();
        let stake_of = |a: &Agent| a.staked.iter().sum::<f64>();
        let (cabal, rest): (f64, f64) =
            n.agents
                .iter()
                .filter(|a| a.kind == Kind::Validator)
                .fold((0.0, 0.0), |(c, r), a| {
                    if a.cabal {
                        (c + stake_of(a), r)
                    } else {
                        (c, r + stake_of(a))
                    }
                });
        if let Some(share) = s.cabal.stake_share
            && cabal > 0.0
            && rest > 0.0
            && share < 1.0
        {
            let target = share / (1.0 - share) * rest;
            for i in &colluders {
                for x in n.agents[*i].staked.iter_mut() {
                    *x *= target / cabal;
                }
            }
        }
        if cabal > 0.0 {
            let cabal = colluders
                .iter()
                .map(|i| stake_of(&n.agents[*i]))
                .sum::<f64>();
            n.cabal_stake_share = Some(cabal / (cabal + rest));
        }
        for id in ids {
            n.join(id);
        }
        n.settle();
        n
    }

    fn body(&mut self, actor: Key, event: Event) -> Entry {
        let nonce = self.nonces.entry(actor).or_insert(0);
        *nonce += 1;
        Entry::Event(Ok(Body {
            v: EVENT_VERSION,
            origin: ORIGIN.into(),
            actor,
            nonce: *nonce,
            event,
        }))
    }

    /// Appends an entry to the log. A rejected event does not use its nonce.
    fn log(&mut self, entry: Entry) -> bool {
        let out = self.state.apply(&entry);
        match out {
            Outcome::Applied => true,
            Outcome::Rejected(_) => {
                if let Entry::Event(Ok(b)) = &entry
                    && let Some(n) = self.nonces.get_mut(&b.actor)
                {
                    *n -= 1;
                }
                false
            }
        }
    }

    fn event(&mut self, actor: Key, event: Event) -> bool {
        let e = self.body(actor, event);
        self.log(e)
    }

    fn faucet_event(&mut self, event: Event) -> bool {
        let faucet = self.faucet;
        self.event(faucet, event)
    }

    /// Reacts to what the last entries did: epochs that ended are scored and metered, and
    /// the epoch being audited closes when its reports are in (or the next one has ended).
    fn settle(&mut self) {
        while !self.close_failed {
            let leaves = self.state.leaves;
            if let Some(span) = self.state.spans.get(self.scored as usize)
                && span.end <= leaves
            {
                let e = self.scored;
                self.scored += 1;
                self.score_epoch(e);
                self.meter_fees();
                continue;
            }
            let Some(n) = self.state.closable_epoch() else {
                return;
            };
            if self.auditing != Some(n) {
                self.start_audit(n);
            }
            let next_ended = self
                .state
                .spans
                .get(n as usize + 1)
                .is_some_and(|s| s.end <= leaves);
            if self.pending_online.len() > 0 && !next_ended {
                return;
            }
            self.close(n);
        }
    }

    /// The run's totals, once the chain has stopped.
    pub fn finish(self, events: u64, time: f64) -> RunOutput {
        let costs = &self.c.scenario.costs;
        let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
        for a in &self.agents {
            let t = totals.entry(a.label.to_owned()).or_default();
            t.agents += 1;
            t.reward += to_masa(Amount(a.reward));
            t.cost += a.stake_epochs * costs.stake_per_epoch
                + a.original_words as f64 / 1000.0 * costs.content_per_kword * a.content_factor
                + a.audits * costs.audit_per_epoch
                + to_masa(Amount(a.fees_paid));
        }
        RunOutput {
            rows: self.rows,
            totals,
            cabal_emission_share: (self.cabal_stake_share.is_some() && self.all_paid > 0)
                .then(|| self.cabal_paid as f64 / self.all_paid as f64),
            cabal_stake_share: self.cabal_stake_share,
            cabal_consensus_ratio: (!self.consensus_ratios.is_empty()).then(|| {
                self.consensus_ratios.iter().sum::<f64>() / self.consensus_ratios.len() as f64
            }),
            epochs: self.state.closed,
            time,
            events,
            leaves: self.state.leaves,
            rejected: self.state.rejections.len() as u64,
            stalled: false,
            rejections: self
                .state
                .rejections
                .iter()
                .take(5)
                .map(|r| format!("leaf {}: {}", r.leaf, r.reason))
                .collect(),
            state_hash: self.state.hash_hex(),
        }
    }

    /// Epochs closed so far.
    pub fn closed(&self) -> u64 {
        self.state.closed
    }

    fn lifecycle(&self, kind: Kind) -> &crate::scenario::Lifecycle {
        let s = &self.c.scenario;
        match kind {
            Kind::Contributor => &s.contributors.lifecycle,
            Kind::Validator => &s.validators.lifecycle,
            Kind::Oracle => &s.oracles.lifecycle,
        }
    }
}

impl Model for Network<'_> {
    fn channels(&self) -> usize {
        CHANNELS
    }

    fn propensities(&self, out: &mut [f64]) {
        for kind in KINDS {
            let l = self.lifecycle(kind);
            let k = kind as usize;
            out[4 * k] = l.arrival_rate;
            out[4 * k + 1] = l.departure_rate * self.active[k].len() as f64;
            out[4 * k + 2] = l.failure_rate * self.online[k].len() as f64;
            out[4 * k + 3] = l.recovery_rate * self.offline[k].len() as f64;
        }
        let s = &self.c.scenario;
        out[CONTRIBUTE] =
            s.contributors.contribution_rate * self.online[Kind::Contributor as usize].len() as f64;
        out[AUDIT] = s.validators.audit_rate * self.pending_online.len() as f64;
        out[RESTAKE] =
            s.validators.restake_rate * self.active[Kind::Validator as usize].len() as f64;
        out[QUERY] = s.oracles.query_rate * self.online[Kind::Oracle as usize].len() as f64;
        let g = &s.governance;
        out[PROPOSE] = if self.open_proposal.is_none()
            && self.next_proposal < self.c.proposals.len()
            && self.active[Kind::Validator as usize].len() > 0
        {
            g.proposal_rate
        } else {
            0.0
        };
        out[VOTE] = if self.open_proposal.is_some() {
            g.vote_rate * self.voters.len() as f64
        } else {
            0.0
        };
    }

    fn fire(&mut self, channel: usize, t: f64, rng: &mut SimRng, props: &mut [f64]) {
        self.now = t;
        match channel {
            0..12 => {
                let kind = KINDS[channel / 4];
                let k = kind as usize;
                match channel % 4 {
                    0 => {
                        let id = self.create(kind, rng);
                        self.join(id);
                    }
                    1 => {
                        let id = self.active[k].pick(rng);
                        self.depart(id);
                    }
                    2 => {
                        let id = self.online[k].pick(rng);
                        self.set_online(id, false);
                    }
                    _ => {
                        let id = self.offline[k].pick(rng);
                        self.set_online(id, true);
                    }
                }
            }
            CONTRIBUTE => {
                let id = self.online[Kind::Contributor as usize].pick(rng);
                self.contribute(id, rng);
            }
            AUDIT => {
                let id = self.pending_online.pick(rng);
                self.audit(id);
            }
            RESTAKE => {
                let id = self.active[Kind::Validator as usize].pick(rng);
                let k = self.agents[id as usize].keys[0];
                let balance = self.state.account(&k).map_or(Amount::ZERO, |a| a.balance);
                if !balance.is_zero()
                    && self.event(
                        k,
                        Event::Stake {
                            role: Role::Validator,
                            amount: balance,
                        },
                    )
                {
                    self.agents[id as usize].staked[0] += to_masa(balance);
                }
            }
            QUERY => {
                let id = self.online[Kind::Oracle as usize].pick(rng);
                self.agents[id as usize].queries += 1;
            }
            PROPOSE => self.propose(rng),
            _ => self.vote(rng),
        }
        self.settle();
        self.propensities(props);
    }
}

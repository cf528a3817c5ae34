//! One run of a scenario: the network as a continuous-time Markov chain whose every action
//! is a protocol log entry, folded by `masa-rewards` as the real log is.
//!
//! The chain's channels are aggregated by role (an arrival, a departure, a failure or a
//! recovery of a contributor, a validator or an oracle; a contribution; a report; a
//! restake; a query), each at its rate times the agents that can take it; the engine picks
//! the channel and the model a uniform agent among them. What the chain does not decide is
//! deterministic and taken from the protocol's own rules:
//! - when an epoch ends (its span of leaves is full), its records are scored with
//!   `masa_rewards::score` in log order, exactly as `masa audit` scores them, and oracles
//!   pay their metered fees;
//! - validators then report at their audit rate, each signing what its strategy makes of
//!   the scores; the epoch is closed (a `close_epoch` event) once every online validator
//!   has reported, or when the next epoch ends, whichever is first;
//! - the close's payouts are what every agent earns. Nothing here computes a reward.

use crate::engine::{Model, SimRng};
use crate::scenario::{Compiled, masa};
use crate::strategy::{
    Audit, ContributorPolicy, ContributorStrategy, Draw, ValidatorPolicy, ValidatorStrategy,
};
use crate::table::Row;
use masa_rewards::event::EVENT_VERSION;
use masa_rewards::score::{Preparer, Scorer};
use masa_rewards::{Amount, AuditClaims, Body, Entry, Event, Key, Outcome, Role, State};
use rand::RngExt;
use std::collections::{BTreeMap, HashMap};

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

/// A set of agent ids with O(1) insert, remove and uniform pick.
#[derive(Debug, Default)]
struct Pool {
    items: Vec<u32>,
    pos: Vec<u32>,
}

impl Pool {
    const NONE: u32 = u32::MAX;

    fn insert(&mut self, id: u32) {
        let i = id as usize;
        if self.pos.len() <= i {
            self.pos.resize(i + 1, Self::NONE);
        }
        if self.pos[i] == Self::NONE {
            self.pos[i] = self.items.len() as u32;
            self.items.push(id);
        }
    }

    fn remove(&mut self, id: u32) {
        let i = id as usize;
        let Some(&p) = self.pos.get(i) else { return };
        if p == Self::NONE {
            return;
        }
        let last = *self.items.last().expect("a member exists");
        self.items.swap_remove(p as usize);
        if last != id {
            self.pos[last as usize] = p;
        }
        self.pos[i] = Self::NONE;
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn pick(&self, rng: &mut SimRng) -> u32 {
        self.items[rng.random_range(0..self.items.len())]
    }
}

/// What an agent plays.
enum Policy {
    Contributor(Box<dyn ContributorPolicy>),
    Validator(Box<dyn ValidatorPolicy>),
    Oracle,
}

struct Agent {
    kind: Kind,
    /// Its strategy's name in reports (`honest`, `copier`, `validator_lazy`, `oracle`).
    label: &'static str,
    policy: Policy,
    keys: Vec<Key>,
    /// Staked MASA per key, as the agent staked it.
    staked: Vec<f64>,
    next_key: usize,
    active: bool,
    online: bool,
    /// Waiting to report for the epoch being audited.
    pending: bool,
    cabal: bool,
    // What it earned and what it spent.
    reward: u128,
    stake_epochs: f64,
    original_words: u64,
    content_factor: f64,
    audits: f64,
    queries: u64,
    fees_paid: u128,
}

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

fn key(agent: u32, index: u32) -> Key {
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&agent.to_be_bytes());
    k[4..8].copy_from_slice(&index.to_be_bytes());
    k[8] = 0x5a;
    Key(k)
}

fn to_masa(a: Amount) -> f64 {
    a.0 as f64 / masa_rewards::UNITS_PER_MASA as f64
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

    fn strategy_for<S: Copy>(shares: &[(S, f64)], rng: &mut SimRng) -> S {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for (s, x) in shares {
            acc += x;
            if u < acc {
                return *s;
            }
        }
        // Shares sum to 1 (checked); rounding leaves the last positive one.
        shares
            .iter()
            .rev()
            .find(|(_, x)| *x > 0.0)
            .map(|(s, _)| *s)
            .expect("shares sum to 1")
    }

    /// A new agent of `kind`, drawn from the scenario (not yet in the log).
    fn create(&mut self, kind: Kind, rng: &mut SimRng) -> u32 {
        let id = self.agents.len() as u32;
        let s = &self.c.scenario;
        let (label, policy, nkeys, stake, cabal, content_factor) = match kind {
            Kind::Contributor => {
                let st = Self::strategy_for(&self.c.contributor_shares, rng);
                let p = st.build(self.c, rng);
                let k = p.keys();
                let f = p.cost_factor();
                (
                    st.name(),
                    Policy::Contributor(p),
                    k,
                    s.contributors.stake,
                    st == ContributorStrategy::CabalMember,
                    f,
                )
            }
            Kind::Validator => {
                let st = Self::strategy_for(&self.c.validator_shares, rng);
                let min = to_masa(self.c.params.min_stake.validator);
                let stake = s.validators.stake.sample(rng).max(min);
                let label = match st {
                    ValidatorStrategy::Honest => "validator_honest",
                    ValidatorStrategy::Lazy => "validator_lazy",
                    ValidatorStrategy::Colluding => "validator_colluding",
                    ValidatorStrategy::Offline => "validator_offline",
                };
                (
                    label,
                    Policy::Validator(st.build(self.c)),
                    1,
                    stake,
                    st == ValidatorStrategy::Colluding,
                    1.0,
                )
            }
            Kind::Oracle => (
                "oracle",
                Policy::Oracle,
                1,
                to_masa(self.c.params.min_stake.oracle),
                false,
                1.0,
            ),
        };
        let keys: Vec<Key> = (0..nkeys).map(|i| key(id, i)).collect();
        for k in &keys {
            self.owner.insert(*k, id);
        }
        self.agents.push(Agent {
            kind,
            label,
            policy,
            staked: vec![stake; keys.len()],
            keys,
            next_key: 0,
            active: false,
            online: false,
            pending: false,
            cabal,
            reward: 0,
            stake_epochs: 0.0,
            original_words: 0,
            content_factor,
            audits: 0.0,
            queries: 0,
            fees_paid: 0,
        });
        id
    }

    /// Funds and stakes a created agent and brings it online.
    fn join(&mut self, id: u32) {
        let budget = if self.agents[id as usize].kind == Kind::Oracle {
            self.c.scenario.oracles.budget
        } else {
            0.0
        };
        let role = match self.agents[id as usize].kind {
            Kind::Contributor => Role::Worker,
            Kind::Validator => Role::Validator,
            Kind::Oracle => Role::Oracle,
        };
        for i in 0..self.agents[id as usize].keys.len() {
            let (k, stake) = {
                let a = &self.agents[id as usize];
                (a.keys[i], a.staked[i])
            };
            let amount = masa(stake + budget);
            self.faucet_event(Event::Transfer { to: k, amount });
            if !self.event(
                k,
                Event::Stake {
                    role,
                    amount: masa(stake),
                },
            ) {
                self.agents[id as usize].staked[i] = 0.0;
            }
        }
        let kind = self.agents[id as usize].kind as usize;
        let a = &mut self.agents[id as usize];
        a.active = true;
        a.online = true;
        self.active[kind].insert(id);
        self.online[kind].insert(id);
        if self.open_proposal.is_some() && kind != Kind::Oracle as usize {
            self.voters.insert(id);
        }
    }

    fn depart(&mut self, id: u32) {
        let kind = self.agents[id as usize].kind;
        let role = match kind {
            Kind::Contributor => Role::Worker,
            Kind::Validator => Role::Validator,
            Kind::Oracle => Role::Oracle,
        };
        for i in 0..self.agents[id as usize].keys.len() {
            let k = self.agents[id as usize].keys[i];
            let staked = self
                .state
                .account(&k)
                .map_or(Amount::ZERO, |a| a.staked(role));
            if !staked.is_zero() {
                self.event(
                    k,
                    Event::Unstake {
                        role,
                        amount: staked,
                    },
                );
            }
        }
        let a = &mut self.agents[id as usize];
        a.active = false;
        a.online = false;
        a.pending = false;
        for p in [
            &mut self.active[kind as usize],
            &mut self.online[kind as usize],
            &mut self.offline[kind as usize],
        ] {
            p.remove(id);
        }
        self.pending_online.remove(id);
        self.waiting.remove(id);
        self.voters.remove(id);
    }

    fn set_online(&mut self, id: u32, online: bool) {
        let kind = self.agents[id as usize].kind as usize;
        let a = &mut self.agents[id as usize];
        a.online = online;
        if online {
            self.offline[kind].remove(id);
            self.online[kind].insert(id);
            if a.pending {
                self.pending_online.insert(id);
            }
        } else {
            self.online[kind].remove(id);
            self.offline[kind].insert(id);
            self.pending_online.remove(id);
            self.waiting.remove(id);
        }
    }

    fn contribute(&mut self, id: u32, rng: &mut SimRng) {
        let k = &self.c.scenario.contributors;
        let leaf = self.state.leaves;
        let Policy::Contributor(policy) = &mut self.agents[id as usize].policy else {
            unreachable!("only contributors contribute")
        };
        let mut drafts = Vec::with_capacity(k.records_per_batch as usize);
        for _ in 0..k.records_per_batch {
            let d = Draw {
                words: &k.words,
                quality: &k.quality,
                vocabulary: k.vocabulary,
                duplication: k.duplication,
                recent: &self.recent,
                me: id,
            };
            drafts.extend(policy.record(&d, rng));
        }
        if drafts.is_empty() {
            return;
        }
        let a = &mut self.agents[id as usize];
        let key = a.keys[a.next_key % a.keys.len()];
        a.next_key += 1;
        a.original_words += drafts.iter().map(|d| d.original_words).sum::<u64>();
        let applied = self.log(Entry::Batch {
            batch_id: format!("s{leaf}"),
            contributor: key,
            manifest_sha256: String::new(),
            signed: true,
        });
        if !applied {
            return;
        }
        let epoch = self.state.epoch_of(leaf).unwrap_or_default();
        for d in drafts {
            if self.recent.len() < RECENT {
                self.recent.push((id, d.text.clone()));
            } else {
                self.recent[self.recent_next] = (id, d.text.clone());
                self.recent_next = (self.recent_next + 1) % RECENT;
            }
            self.unscored.entry(epoch).or_default().push(Pending {
                key,
                text: d.text,
                quality: d.quality,
            });
        }
    }

    /// Scores an ended epoch's records in log order, as every honest validator would.
    fn score_epoch(&mut self, e: u64) {
        let mut scores: BTreeMap<Key, u64> = BTreeMap::new();
        let records = self.unscored.remove(&e).unwrap_or_default();
        // Signatures and samples are order-free: computed in parallel, then scored in log
        // order, as `masa audit` does.
        let chunk = records.len().div_ceil(self.threads).max(256);
        let preparer = &self.preparer;
        let prepared: Vec<_> = std::thread::scope(|s| {
            let parts: Vec<_> = records
                .chunks(chunk)
                .map(|c| {
                    s.spawn(move || {
                        c.iter()
                            .map(|r| preparer.prepare(&r.text))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|h| h.join().expect("preparing a record does not panic"))
                .collect()
        });
        for (r, p) in records.iter().zip(&prepared) {
            let s = self.scorer.add(p, Some(r.quality), true);
            self.records += 1;
            self.bytes += r.text.len() as u64;
            self.words += r.text.bytes().filter(|b| *b == b' ').count() as u64 + 1;
            self.novel += s.novel;
            self.near_dups += u64::from(s.near_duplicate);
            *scores.entry(r.key).or_default() += s.score;
        }
        self.scores.insert(e, scores);
    }

    fn start_audit(&mut self, e: u64) {
        self.auditing = Some(e);
        self.reported.clear();
        let ids = self.active[Kind::Validator as usize].items.clone();
        for id in ids {
            let a = &mut self.agents[id as usize];
            let Policy::Validator(p) = &a.policy else {
                continue;
            };
            if p.reports() {
                a.pending = true;
                if a.online {
                    self.pending_online.insert(id);
                }
            }
        }
    }

    fn audit(&mut self, id: u32) {
        let Some(e) = self.auditing else { return };
        let empty = BTreeMap::new();
        let scores = self.scores.get(&e).unwrap_or(&empty);
        let latest = self.state.reports.get(&e).and_then(|r| {
            r.values()
                .max_by_key(|rep| rep.leaf)
                .map(|rep| &rep.weights)
        });
        let owner = &self.owner;
        let agents = &self.agents;
        let cabal = |k: &Key| owner.get(k).is_some_and(|i| agents[*i as usize].cabal);
        let a = &self.agents[id as usize];
        let Policy::Validator(p) = &a.policy else {
            return;
        };
        let report = p.report(&Audit {
            scores,
            latest_report: latest,
            cabal: &cabal,
        });
        let factor = p.cost_factor();
        let Some(weights) = report else {
            // Nothing to copy yet: it waits for a report to appear.
            self.pending_online.remove(id);
            self.waiting.insert(id);
            return;
        };
        let validator = a.keys[0];
        let a = &mut self.agents[id as usize];
        a.pending = false;
        a.audits += factor;
        self.pending_online.remove(id);
        let applied = self.log(Entry::Audit {
            validator,
            report: Ok(AuditClaims {
                epoch: Some(e),
                weights,
                findings: Vec::new(),
            }),
        });
        if applied {
            self.reported.push(id);
            // Copiers waiting for a report now have one.
            for w in std::mem::take(&mut self.waiting.items) {
                self.waiting.pos[w as usize] = Pool::NONE;
                if self.agents[w as usize].pending && self.agents[w as usize].online {
                    self.pending_online.insert(w);
                }
            }
        }
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

    /// Oracles pay their metered queries into the reward pool.
    fn meter_fees(&mut self) {
        let fee = self.c.scenario.oracles.fee_per_query;
        let ids = self.active[Kind::Oracle as usize].items.clone();
        for id in ids {
            let (k, q) = {
                let a = &self.agents[id as usize];
                (a.keys[0], a.queries)
            };
            if q == 0 {
                continue;
            }
            let balance = self.state.account(&k).map_or(Amount::ZERO, |a| a.balance);
            let amount = masa(q as f64 * fee).min(balance);
            self.agents[id as usize].queries = 0;
            if !amount.is_zero() && self.event(k, Event::Fee { amount }) {
                self.agents[id as usize].fees_paid += amount.0;
            }
        }
    }

    fn close(&mut self, n: u64) {
        if !self.faucet_event(Event::CloseEpoch { epoch: n }) {
            // The fold refused the close (its reason is in the state's rejections): stop
            // closing; the run ends at its horizon with what it has.
            self.close_failed = true;
            return;
        }
        self.auditing = None;
        for id in std::mem::take(&mut self.pending_online.items) {
            self.pending_online.pos[id as usize] = Pool::NONE;
        }
        for id in std::mem::take(&mut self.waiting.items) {
            self.waiting.pos[id as usize] = Pool::NONE;
        }
        for a in self.agents.iter_mut() {
            a.pending = false;
        }
        if let Some(id) = self.open_proposal
            && self
                .state
                .proposals
                .get(&id)
                .is_some_and(|p| p.status != masa_rewards::Status::Open)
        {
            self.proposals_decided += 1;
            if matches!(
                self.state.proposals[&id].status,
                masa_rewards::Status::Enacted { .. }
            ) {
                self.proposals_passed += 1;
            }
            self.open_proposal = None;
            for v in std::mem::take(&mut self.voters.items) {
                self.voters.pos[v as usize] = Pool::NONE;
            }
        }
        let scores = self.scores.remove(&n).unwrap_or_default();
        self.record_close(n, &scores);
    }

    /// A validator makes the scenario's next proposal; every staked agent may vote on it.
    fn propose(&mut self, rng: &mut SimRng) {
        let (title, changes) = self.c.proposals[self.next_proposal].clone();
        self.next_proposal += 1;
        let id = self.active[Kind::Validator as usize].pick(rng);
        let leaf = self.state.leaves;
        let actor = self.agents[id as usize].keys[0];
        if self.event(actor, Event::Propose { title, changes }) {
            self.open_proposal = Some(leaf);
            for kind in [Kind::Contributor, Kind::Validator] {
                for i in 0..self.active[kind as usize].len() {
                    let v = self.active[kind as usize].items[i];
                    self.voters.insert(v);
                }
            }
        }
    }

    fn vote(&mut self, rng: &mut SimRng) {
        let Some(proposal) = self.open_proposal else {
            return;
        };
        let id = self.voters.pick(rng);
        self.voters.remove(id);
        let g = &self.c.scenario.governance;
        let label = self.agents[id as usize].label;
        let support = g.support.get(label).copied().unwrap_or(0.5);
        let choice = if rng.random::<f64>() < support {
            masa_rewards::governance::Choice::Yes
        } else {
            masa_rewards::governance::Choice::No
        };
        let conviction = g.conviction;
        for k in self.agents[id as usize].keys.clone() {
            self.event(
                k,
                Event::Vote {
                    proposal,
                    choice,
                    conviction,
                },
            );
        }
    }

    fn record_close(&mut self, n: u64, scores: &BTreeMap<Key, u64>) {
        let result = self.state.results.last().expect("just closed").clone();
        let mut by_label: BTreeMap<&'static str, u128> = BTreeMap::new();
        let mut cabal_paid = 0u128;
        let mut paid = 0u128;
        let mut trust_num = 0.0;
        let mut trust_den = 0.0;
        let reported: Vec<Key> = self
            .reported
            .iter()
            .map(|id| self.agents[*id as usize].keys[0])
            .collect();
        let honest_total: u64 = scores.values().sum();
        let (mut cabal_consensus, mut cabal_honest) = (0.0, 0.0);
        for p in &result.payouts {
            let Some(&id) = self.owner.get(&p.key) else {
                continue;
            };
            let a = &mut self.agents[id as usize];
            a.reward += p.emission.0;
            *by_label.entry(a.label).or_default() += p.emission.0;
            paid += p.emission.0;
            if p.role == "contributor" {
                self.paid_contributors += p.emission.0;
            }
            if a.cabal {
                cabal_paid += p.emission.0;
            }
            if p.role == "validator" && reported.contains(&p.key) {
                let s = to_masa(p.stake);
                trust_num += s * p.validator_trust as f64 / 1e6;
                trust_den += s;
            }
            if p.role == "contributor" && a.cabal && honest_total > 0 {
                cabal_consensus += p.consensus as f64 / 1e6;
                cabal_honest += *scores.get(&p.key).unwrap_or(&0) as f64 / honest_total as f64;
            }
        }
        self.cabal_paid += cabal_paid;
        self.all_paid += paid;
        if cabal_honest > 0.0 {
            self.consensus_ratios.push(cabal_consensus / cabal_honest);
        }
        // Stake held this epoch is a cost.
        let mut validator_stakes = Vec::new();
        for kind in KINDS {
            for &id in &self.active[kind as usize].items {
                let a = &mut self.agents[id as usize];
                a.stake_epochs += a.staked.iter().sum::<f64>();
                if kind == Kind::Validator {
                    let st = self
                        .state
                        .account(&a.keys[0])
                        .map_or(0, |x| x.staked(Role::Validator).0);
                    validator_stakes.push(st);
                }
            }
        }
        let mut counts: BTreeMap<&'static str, u32> = BTreeMap::new();
        for a in self.agents.iter().filter(|a| a.active) {
            *counts.entry(a.label).or_default() += 1;
        }
        let time = self.now;
        let (run, point) = (self.run, self.point);
        let mut row = |metric: String, value: f64| {
            self.rows.push(Row {
                run,
                point,
                time,
                epoch: n,
                metric,
                value,
            });
        };
        for (label, count) in &counts {
            let earned = by_label.get(label).copied().unwrap_or(0);
            row(
                format!("reward.{label}"),
                to_masa(Amount(earned)) / f64::from((*count).max(1)),
            );
        }
        row("emission".into(), to_masa(result.minted));
        row("fees".into(), to_masa(result.fees));
        row("records".into(), self.records as f64);
        row("bytes".into(), self.bytes as f64);
        row("unique_5grams".into(), self.novel as f64);
        // Novel text in bytes: one new 5-gram is about one new word.
        let per_word = self.bytes as f64 / (self.words.max(1)) as f64;
        row("unique_bytes".into(), self.novel as f64 * per_word);
        row(
            "paid_contributors".into(),
            to_masa(Amount(self.paid_contributors)),
        );
        row("near_duplicates".into(), self.near_dups as f64);
        for kind in KINDS {
            let name = match kind {
                Kind::Contributor => "contributors",
                Kind::Validator => "validators",
                Kind::Oracle => "oracles",
            };
            row(name.into(), self.active[kind as usize].len() as f64);
        }
        let gini = masa_rewards::governance::gini_ppm(&mut validator_stakes.clone());
        row("stake_gini".into(), gini as f64 / 1e6);
        let nakamoto = masa_rewards::governance::nakamoto(&mut validator_stakes);
        row("stake_nakamoto".into(), nakamoto as f64);
        if trust_den > 0.0 {
            row("validator_agreement".into(), trust_num / trust_den);
        }
        row("reports".into(), result.reports as f64);
        if !self.c.proposals.is_empty() {
            row("proposals_decided".into(), self.proposals_decided as f64);
            row("proposals_passed".into(), self.proposals_passed as f64);
        }
        row("kappa".into(), f64::from(result.kappa_ppm) / 1e6);
        if paid > 0 && self.cabal_stake_share.is_some() {
            row("cabal_share".into(), cabal_paid as f64 / paid as f64);
        }
        if cabal_honest > 0.0 {
            row(
                "cabal_consensus_ratio".into(),
                cabal_consensus / cabal_honest,
            );
        }
        row("rejected".into(), self.state.rejections.len() as f64);
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

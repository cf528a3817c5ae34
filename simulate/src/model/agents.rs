//! The agents of a run: who they are, the pools the chain's channels draw them from, and
//! how they join (funded by the faucet, staked), leave (unstaked), fail and recover.

use super::{Kind, Network};
use crate::engine::SimRng;
use crate::scenario::masa;
use crate::strategy::{ContributorPolicy, ContributorStrategy, ValidatorPolicy, ValidatorStrategy};
use masa_rewards::{Amount, Event, Key, Role};
use rand::RngExt;

/// A set of agent ids with O(1) insert, remove and uniform pick.
#[derive(Debug, Default)]
pub(super) struct Pool {
    pub(super) items: Vec<u32>,
    pub(super) pos: Vec<u32>,
}

impl Pool {
    pub(super) const NONE: u32 = u32::MAX;

    pub(super) fn insert(&mut self, id: u32) {
        let i = id as usize;
        if self.pos.len() <= i {
            self.pos.resize(i + 1, Self::NONE);
        }
        if self.pos[i] == Self::NONE {
            self.pos[i] = self.items.len() as u32;
            self.items.push(id);
        }
    }

    pub(super) fn remove(&mut self, id: u32) {
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

    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn pick(&self, rng: &mut SimRng) -> u32 {
        self.items[rng.random_range(0..self.items.len())]
    }
}

/// What an agent plays.
pub(super) enum Policy {
    Contributor(Box<dyn ContributorPolicy>),
    Validator(Box<dyn ValidatorPolicy>),
    Oracle,
}

pub(super) struct Agent {
    pub(super) kind: Kind,
    /// Its strategy's name in reports (`honest`, `copier`, `validator_lazy`, `oracle`).
    pub(super) label: &'static str,
    pub(super) policy: Policy,
    pub(super) keys: Vec<Key>,
    /// Staked MASA per key, as the agent staked it.
    pub(super) staked: Vec<f64>,
    pub(super) next_key: usize,
    pub(super) active: bool,
    pub(super) online: bool,
    /// Waiting to report for the epoch being audited.
    pub(super) pending: bool,
    pub(super) cabal: bool,
    // What it earned and what it spent.
    pub(super) reward: u128,
    pub(super) stake_epochs: f64,
    pub(super) original_words: u64,
    pub(super) content_factor: f64,
    pub(super) audits: f64,
    pub(super) queries: u64,
    pub(super) fees_paid: u128,
}

pub(super) fn key(agent: u32, index: u32) -> Key {
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&agent.to_be_bytes());
    k[4..8].copy_from_slice(&index.to_be_bytes());
    k[8] = 0x5a;
    Key(k)
}

pub(super) fn to_masa(a: Amount) -> f64 {
    a.0 as f64 / masa_rewards::UNITS_PER_MASA as f64
}

impl Network<'_> {
    pub(super) fn strategy_for<S: Copy>(shares: &[(S, f64)], rng: &mut SimRng) -> S {
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
    pub(super) fn create(&mut self, kind: Kind, rng: &mut SimRng) -> u32 {
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
    pub(super) fn join(&mut self, id: u32) {
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

    pub(super) fn depart(&mut self, id: u32) {
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

    pub(super) fn set_online(&mut self, id: u32, online: bool) {
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
}

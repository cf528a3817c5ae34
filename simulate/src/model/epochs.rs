//! What happens around an epoch: contributions land in it, its records are scored when it
//! ends, oracles pay their metered fees, validators report, the close pays out (and decides
//! proposals), and the close's results become the run's rows.

use super::agents::{Policy, Pool, to_masa};
use super::{KINDS, Kind, Network, Pending, RECENT};
use crate::engine::SimRng;
use crate::scenario::masa;
use crate::strategy::{Audit, Draw};
use crate::table::Row;
use masa_rewards::{Amount, AuditClaims, Entry, Event, Key, Role};
use rand::RngExt;
use std::collections::BTreeMap;

impl Network<'_> {
    pub(super) fn contribute(&mut self, id: u32, rng: &mut SimRng) {
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
    pub(super) fn score_epoch(&mut self, e: u64) {
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

    pub(super) fn start_audit(&mut self, e: u64) {
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

    pub(super) fn audit(&mut self, id: u32) {
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

    /// Oracles pay their metered queries into the reward pool.
    pub(super) fn meter_fees(&mut self) {
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

    pub(super) fn close(&mut self, n: u64) {
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
    pub(super) fn propose(&mut self, rng: &mut SimRng) {
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

    pub(super) fn vote(&mut self, rng: &mut SimRng) {
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

    pub(super) fn record_close(&mut self, n: u64, scores: &BTreeMap<Key, u64>) {
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
}

//! Liquid democracy: the tally of a proposal from stakes, direct votes and scoped,
//! transitive delegations with fallbacks. A pure function of those three; the order in
//! which they were logged never enters it.
//!
//! **Resolution.** Every account with stake is one of: a *voter* (it voted directly: a
//! direct vote always overrides its own delegation), a *delegator* (its delegation for the
//! proposal's scope, else its `all` delegation), or neither (it abstains by not taking
//! part). A delegator's weight follows its delegate, transitively, to the first voter on
//! the way. It is **lost** if the way ends in a cycle with no voter on it, and it stays
//! **unexercised** (abstained) if the way ends at an account that neither voted nor
//! delegated. Fallbacks: a delegator whose first delegate's way reaches no voter moves to
//! its first fallback whose own way (through first delegates) reaches one. That is one
//! level of fallback, decided on the graph of first delegates only, so the result is well
//! defined and found in linear time; a fallback's own fallbacks are not consulted.
//!
//! **Guards against super-voters.** Each hop keeps `viscosity` of the weight (the rest is
//! lost to decay, and reported), and no voter may carry more delegated weight than
//! `voter_cap` of the weight that reached voters; the excess returns to its delegators as
//! abstention (reported as capped back). A voter's own stake is never capped.
//!
//! **Counting.** A voter's own stake counts with its conviction's multiplier; delegated
//! weight counts 1×. Participation is the weight that reached voters (before the cap) over
//! all bonded stake. Every quantity is an integer of base units, and
//! `resolved + lost + abstained + capped_back = eligible` exactly.

use crate::{Amount, Conviction, Key};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Yes,
    No,
    Abstain,
}

impl Choice {
    pub fn parse(s: &str) -> Result<Choice, String> {
        match s {
            "yes" => Ok(Choice::Yes),
            "no" => Ok(Choice::No),
            "abstain" => Ok(Choice::Abstain),
            _ => Err(format!("{s:?} is not a vote (yes, no or abstain)")),
        }
    }
}

/// A direct vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub choice: Choice,
    /// A row of the conviction table.
    pub conviction: u8,
}

/// A delegation: the delegate, then ordered fallbacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    pub to: Key,
    pub fallbacks: Vec<Key>,
}

/// Where one account's weight went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Route {
    /// It voted.
    Voted,
    /// To a voter in `hops` hops (through a fallback if `fallback`).
    Delegated {
        voter: u32,
        hops: u32,
        fallback: bool,
    },
    /// Caught in a delegation cycle with no voter: lost.
    Cycle,
    /// Its way ended at an account that neither voted nor delegated.
    Inactive,
    /// It neither voted nor delegated.
    Absent,
}

/// The graph of a tally over accounts `0..n`, by index.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub weight: Vec<u128>,
    /// The vote of each account, if it voted.
    pub vote: Vec<Option<Vote>>,
    /// First delegate, if it delegated.
    pub first: Vec<Option<u32>>,
    /// Fallbacks, in order.
    pub fallbacks: Vec<Vec<u32>>,
}

/// The guards and the conviction table.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    pub conviction: &'a [Conviction],
    pub viscosity_bps: u32,
    pub voter_cap_bps: u32,
}

/// A resolved tally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// All bonded stake of the accounts.
    pub eligible: Amount,
    /// Weight that reached voters and counts (after the cap).
    pub resolved: Amount,
    /// Lost in cycles, and lost to decay.
    pub lost_cycles: Amount,
    pub lost_decay: Amount,
    /// Not taken part (no vote, no delegation) or stuck at an inactive delegate.
    pub abstained: Amount,
    /// Delegated weight above the voter cap, returned as abstention.
    pub capped_back: Amount,
    /// Conviction-weighted totals.
    pub yes: Amount,
    pub no: Amount,
    pub abstain: Amount,
    /// Weight that reached voters (before the cap) over eligible, bps.
    pub participation_bps: u32,
    pub voters: u64,
    /// The largest final weight of one voter (own + delegated counted), and whose.
    pub largest_voter_weight: Amount,
    pub largest_voter: Option<Key>,
    /// Inequality of the voters' final weights: Gini (ppm) and Nakamoto coefficient (the
    /// fewest voters holding more than half).
    pub gini_ppm: u64,
    pub nakamoto: u64,
}

/// Marks of the resolver's walk.
const UNSEEN: u8 = 0;
const ON_PATH: u8 = 1;
const DONE: u8 = 2;

/// Resolves every account's way through `next` (first delegates, or effective ones).
fn walk(g: &Graph, next: &dyn Fn(usize) -> Option<u32>) -> Vec<Route> {
    let n = g.weight.len();
    let mut route = vec![Route::Absent; n];
    let mut mark = vec![UNSEEN; n];
    let mut path: Vec<usize> = Vec::new();
    for start in 0..n {
        if mark[start] != UNSEEN {
            continue;
        }
        // Follow the pointers until a resolved account, a voter, a dead end or a cycle.
        let mut at = start;
        let end = loop {
            if mark[at] == DONE {
                break route[at];
            }
            if mark[at] == ON_PATH {
                break Route::Cycle;
            }
            if g.vote[at].is_some() {
                mark[at] = DONE;
                route[at] = Route::Voted;
                break Route::Voted;
            }
            match next(at) {
                None => {
                    mark[at] = DONE;
                    route[at] = Route::Absent;
                    break Route::Absent;
                }
                Some(to) => {
                    mark[at] = ON_PATH;
                    path.push(at);
                    at = to as usize;
                }
            }
        };
        // Unwind: each account on the path takes the end's result one hop further.
        let mut last = at;
        let mut result = end;
        while let Some(i) = path.pop() {
            result = match result {
                Route::Voted => Route::Delegated {
                    voter: last as u32,
                    hops: 1,
                    fallback: false,
                },
                Route::Delegated { voter, hops, .. } => Route::Delegated {
                    voter,
                    hops: hops + 1,
                    fallback: false,
                },
                Route::Absent | Route::Inactive => Route::Inactive,
                Route::Cycle => Route::Cycle,
            };
            route[i] = result;
            mark[i] = DONE;
            last = i;
        }
    }
    route
}

/// Where every account's weight goes, and each delegator's effective delegate.
pub fn routes(g: &Graph) -> (Vec<Route>, Vec<Option<u32>>) {
    let first = walk(g, &|i| g.first[i]);
    let reaches = |r: &Route| matches!(r, Route::Voted | Route::Delegated { .. });
    // The effective delegate: the first one if its way reaches a voter, else the first
    // fallback whose way (through first delegates) does.
    let effective: Vec<Option<(u32, bool)>> = (0..g.weight.len())
        .map(|i| {
            let to = g.first[i]?;
            if reaches(&first[i]) {
                return Some((to, false));
            }
            g.fallbacks[i]
                .iter()
                .find(|f| reaches(&first[**f as usize]))
                .map(|f| (*f, true))
                .or(Some((to, false)))
        })
        .collect();
    let mut out = walk(g, &|i| effective[i].map(|e| e.0));
    for (i, r) in out.iter_mut().enumerate() {
        if let (Route::Delegated { fallback, .. }, Some((_, true))) = (r, effective[i]) {
            *fallback = true;
        }
    }
    (out, effective.into_iter().map(|e| e.map(|e| e.0)).collect())
}

/// The tally of `g` under `rules`, with each account's route.
pub fn tally(g: &Graph, keys: &[Key], rules: &Rules) -> (Tally, Vec<Route>) {
    let (routes, next) = routes(g);
    let n = g.weight.len();
    let (mut lost_cycles, mut lost_decay, mut abstained) = (0u128, 0u128, 0u128);
    let mut eligible = 0u128;
    for (i, r) in routes.iter().enumerate() {
        eligible += g.weight[i];
        match r {
            Route::Cycle => lost_cycles += g.weight[i],
            Route::Inactive | Route::Absent => abstained += g.weight[i],
            Route::Voted | Route::Delegated { .. } => {}
        }
    }
    // Delegated weight flows down the forest of effective delegates towards the voters,
    // from the leaves: each delegator passes its own stake plus what reached it, keeping
    // `viscosity` of the sum at the hop (rounded down; the rest is lost to decay). Every
    // delegator's total is complete before it is passed on, so the order of the queue
    // changes nothing.
    let is_delegator = |i: usize| matches!(routes[i], Route::Delegated { .. });
    let mut carry = vec![0u128; n];
    let mut pending = vec![0u32; n];
    for i in (0..n).filter(|i| is_delegator(*i)) {
        pending[next[i].expect("a delegator has a delegate") as usize] += 1;
    }
    let mut queue: Vec<usize> = (0..n)
        .filter(|i| is_delegator(*i) && pending[*i] == 0)
        .collect();
    let mut delegated = vec![0u128; n];
    while let Some(i) = queue.pop() {
        let passed = g.weight[i] + carry[i];
        let kept = passed / 10_000 * u128::from(rules.viscosity_bps)
            + passed % 10_000 * u128::from(rules.viscosity_bps) / 10_000;
        lost_decay += passed - kept;
        let to = next[i].expect("a delegator has a delegate") as usize;
        if is_delegator(to) {
            carry[to] += kept;
            pending[to] -= 1;
            if pending[to] == 0 {
                queue.push(to);
            }
        } else {
            delegated[to] += kept;
        }
    }
    let reached: u128 = (0..n)
        .filter(|i| routes[*i] == Route::Voted)
        .map(|i| g.weight[i] + delegated[i])
        .sum();
    let cap = reached / 10_000 * u128::from(rules.voter_cap_bps)
        + reached % 10_000 * u128::from(rules.voter_cap_bps) / 10_000;
    let (mut capped_back, mut resolved) = (0u128, 0u128);
    let (mut yes, mut no, mut abstain) = (0u128, 0u128, 0u128);
    let mut finals: Vec<(u128, usize)> = Vec::new();
    for (i, (vote, carried)) in g.vote.iter().zip(&delegated).enumerate() {
        let Some(v) = vote else { continue };
        let own = g.weight[i];
        let counted = (*carried).min(cap.saturating_sub(own));
        capped_back += carried - counted;
        resolved += own + counted;
        let tenths = rules
            .conviction
            .get(v.conviction as usize)
            .map_or(10, |c| u128::from(c.multiplier_tenths));
        let weight = own * tenths / 10 + counted;
        match v.choice {
            Choice::Yes => yes += weight,
            Choice::No => no += weight,
            Choice::Abstain => abstain += weight,
        }
        finals.push((own + counted, i));
    }
    let participation_bps = (reached * 10_000).checked_div(eligible).unwrap_or(0) as u32;
    let largest = finals
        .iter()
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let t = Tally {
        eligible: Amount(eligible),
        resolved: Amount(resolved),
        lost_cycles: Amount(lost_cycles),
        lost_decay: Amount(lost_decay),
        abstained: Amount(abstained),
        capped_back: Amount(capped_back),
        yes: Amount(yes),
        no: Amount(no),
        abstain: Amount(abstain),
        participation_bps,
        voters: finals.len() as u64,
        largest_voter_weight: Amount(largest.map_or(0, |l| l.0)),
        largest_voter: largest.and_then(|l| keys.get(l.1).copied()),
        gini_ppm: gini_ppm(&mut finals.iter().map(|f| f.0).collect::<Vec<_>>()),
        nakamoto: nakamoto(&mut finals.iter().map(|f| f.0).collect::<Vec<_>>()),
    };
    (t, routes)
}

/// Gini coefficient in ppm: `Σ (2i − n − 1) x_i / (n Σx)` over the values sorted
/// ascending, `i` from 1.
pub fn gini_ppm(xs: &mut [u128]) -> u64 {
    xs.sort_unstable();
    let n = xs.len() as i128;
    let total: u128 = xs.iter().sum();
    if n == 0 || total == 0 {
        return 0;
    }
    // Computed in f64 of the sorted sums (the result is rounded to ppm): integers past
    // 2^96 would overflow i128 products.
    let mut acc = 0f64;
    for (i, x) in xs.iter().enumerate() {
        acc += (2 * (i as i128 + 1) - n - 1) as f64 * *x as f64;
    }
    ((acc / (n as f64 * total as f64)).clamp(0.0, 1.0) * 1e6).round() as u64
}

/// The fewest values whose sum is more than half the total.
pub fn nakamoto(xs: &mut [u128]) -> u64 {
    xs.sort_unstable_by(|a, b| b.cmp(a));
    let total: u128 = xs.iter().sum();
    let mut acc = 0u128;
    for (i, x) in xs.iter().enumerate() {
        acc += x;
        if acc * 2 > total {
            return i as u64 + 1;
        }
    }
    0
}

/// The tally graph of `accounts` (sorted keys) from key-indexed maps; delegations are
/// already resolved to the proposal's scope. Delegates and fallbacks that hold no stake
/// are accounts too (with weight zero), so a way can pass through them.
pub fn graph(
    weights: &BTreeMap<Key, u128>,
    votes: &BTreeMap<Key, Vote>,
    delegations: &BTreeMap<Key, &Delegation>,
) -> (Vec<Key>, Graph) {
    // Accounts with stake come sorted from their map; the others (voters, delegators and
    // delegates without stake) are merged in. The index is a hash map used for lookups
    // only: nothing iterates it.
    let mut index: HashMap<Key, u32> = HashMap::with_capacity(weights.len() + votes.len());
    for (i, k) in weights.keys().enumerate() {
        index.insert(*k, i as u32);
    }
    let mut extra: Vec<Key> = votes
        .keys()
        .chain(delegations.keys())
        .chain(
            delegations
                .values()
                .flat_map(|d| std::iter::once(&d.to).chain(&d.fallbacks)),
        )
        .filter(|k| !index.contains_key(k))
        .copied()
        .collect();
    extra.sort_unstable();
    extra.dedup();
    let keys: Vec<Key> = if extra.is_empty() {
        weights.keys().copied().collect()
    } else {
        let mut keys = Vec::with_capacity(weights.len() + extra.len());
        let mut more = extra.into_iter().peekable();
        for k in weights.keys() {
            while let Some(e) = more.next_if(|e| e < k) {
                keys.push(e);
            }
            keys.push(*k);
        }
        keys.extend(more);
        index.clear();
        for (i, k) in keys.iter().enumerate() {
            index.insert(*k, i as u32);
        }
        keys
    };
    let n = keys.len();
    let mut g = Graph {
        weight: vec![0; n],
        vote: vec![None; n],
        first: vec![None; n],
        fallbacks: vec![Vec::new(); n],
    };
    for (k, w) in weights {
        g.weight[index[k] as usize] = *w;
    }
    for (k, v) in votes {
        g.vote[index[k] as usize] = Some(*v);
    }
    for (k, d) in delegations {
        let i = index[k] as usize;
        g.first[i] = Some(index[&d.to]);
        g.fallbacks[i] = d.fallbacks.iter().map(|f| index[f]).collect();
    }
    (keys, g)
}

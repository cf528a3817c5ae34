//! Closing an epoch: the permitted validators' weights over registered contributors go
//! through Yuma consensus (`yuma.rs`); the emission is split between contributors (by
//! incentive), validators (by dividends) and the treasury (by the parameter shares);
//! bonds are kept for the next epoch; unbonding that has run its course is released.
//!
//! Consensus runs in f64 with a fixed evaluation order; its results are rounded to integers
//! (Q32 for bonds and payout shares, ppm for display) before they touch the state, so the
//! state stays integer and the same on every machine.

use crate::state::{EpochResult, Payout, State};
use crate::yuma::{ConsensusInput, ConsensusOutput, yuma};
use crate::{Amount, Key, Role};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};

const Q32: f64 = 4_294_967_296.0;

/// Everything an epoch's close changes, computed before anything is written.
#[derive(Debug)]
pub(crate) struct Closing {
    result: EpochResult,
    bonds: BTreeMap<Key, Vec<(Key, u64)>>,
    credits: Vec<(Key, Amount)>,
}

fn q32(x: f64) -> u64 {
    // Inputs are in [0, 1]; clamp guards the cast against rounding just outside.
    (x.clamp(0.0, 1.0) * Q32).round() as u64
}

fn ppm(x: f64) -> u64 {
    (x.clamp(0.0, 1.0) * 1e6).round() as u64
}

/// Values of `sorted` (pairs sorted by key) at each of `keys` (sorted), zero where absent:
/// a merge of two sorted lists, linear in their lengths.
fn dense<'a>(keys: &[Key], sorted: impl Iterator<Item = (&'a Key, u64)>, scale: f64) -> Vec<f64> {
    let mut out = vec![0.0; keys.len()];
    let mut j = 0;
    for (k, v) in sorted {
        while j < keys.len() && keys[j] < *k {
            j += 1;
        }
        if j < keys.len() && keys[j] == *k {
            out[j] = v as f64 * scale;
        }
    }
    out
}

/// The consensus input of epoch `n` as the state holds it: validators (rows) and
/// contributors (columns) in key order.
pub fn consensus_input(state: &State, n: u64) -> (Vec<Key>, Vec<Key>, ConsensusInput) {
    let params = state
        .params
        .as_ref()
        .expect("an epoch exists only after genesis");
    let empty = BTreeMap::new();
    let reports = state.reports.get(&n).unwrap_or(&empty);
    let validators: Vec<Key> = state
        .accounts
        .iter()
        .filter(|(_, a)| !a.staked(Role::Validator).is_zero())
        .map(|(k, _)| *k)
        .chain(reports.keys().copied())
        .chain(state.bonds.keys().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Registered contributors (holding the worker minimum) that anyone weighted or bonded.
    let contributors: Vec<Key> = state
        .accounts
        .iter()
        .filter(|(_, a)| a.staked(Role::Worker) >= params.min_stake.worker)
        .map(|(k, _)| *k)
        .filter(|k| {
            reports.values().any(|r| r.weights.contains_key(k))
                || state
                    .bonds
                    .values()
                    .any(|b| b.binary_search_by(|(c, _)| c.cmp(k)).is_ok())
        })
        .collect();
    let account = |k: &Key| state.accounts.get(k);
    let stake: Vec<f64> = validators
        .iter()
        .map(|k| account(k).map_or(0.0, |a| a.staked(Role::Validator).0 as f64))
        .collect();
    let permits = validators
        .iter()
        .map(|k| {
            account(k).is_some_and(|a| a.staked(Role::Validator) >= params.min_stake.validator)
        })
        .collect();
    let weights = validators
        .iter()
        .map(|v| {
            let mut row = match reports.get(v) {
                Some(r) => dense(&contributors, r.weights.iter().map(|(k, w)| (k, *w)), 1.0),
                None => vec![0.0; contributors.len()],
            };
            // A validator's weight on itself is masked, as on the chain.
            if let Ok(j) = contributors.binary_search(v) {
                row[j] = 0.0;
            }
            row
        })
        .collect();
    let bonds_prev = validators
        .iter()
        .map(|v| match state.bonds.get(v) {
            Some(b) => dense(&contributors, b.iter().map(|(k, q)| (k, *q)), 1.0 / Q32),
            None => vec![0.0; contributors.len()],
        })
        .collect();
    let input = ConsensusInput {
        stake,
        weights,
        bonds_prev: Some(bonds_prev),
        permits: Some(permits),
        kappa: params.kappa(),
        bond_alpha: params.bond_alpha(),
    };
    (validators, contributors, input)
}

/// Splits `pool` by integer `shares` (rounded down; the dust is not minted).
fn split(pool: Amount, shares: &[u64]) -> Vec<Amount> {
    let total: u128 = shares.iter().map(|s| u128::from(*s)).sum();
    shares
        .iter()
        .map(|s| pool.mul_div(u128::from(*s), total).unwrap_or(Amount::ZERO))
        .collect()
}

pub(crate) fn close(state: &State, n: u64, leaf: u64) -> Result<Closing, String> {
    let params = state.params.as_ref().expect("checked by the caller");
    let (validators, contributors, input) = consensus_input(state, n);
    let out: ConsensusOutput =
        yuma(&input).map_err(|e| format!("consensus of epoch {n} failed: {e}"))?;
    let emission = params.emission_per_epoch;
    // The pool is the emission and the fees paid since the last close; both ≤ 2^100, so
    // their sum fits easily.
    let pool = Amount(emission.0 + state.fees.0);
    let incentive_q: Vec<u64> = out.incentive.iter().map(|x| q32(*x)).collect();
    let dividends_q: Vec<u64> = out.dividends.iter().map(|x| q32(*x)).collect();
    let to_contributors = split(pool.bps(params.contributor_share_bps), &incentive_q);
    let to_validators = split(pool.bps(params.validator_share_bps), &dividends_q);
    let to_treasury = pool.bps(params.treasury_share_bps);

    let stake_in = |k: &Key, role| {
        state
            .accounts
            .get(k)
            .map_or(Amount::ZERO, |a| a.staked(role))
    };
    let mut payouts = Vec::new();
    let mut credits = Vec::new();
    let permit_stake: f64 = input
        .stake
        .iter()
        .zip(input.permits.as_deref().unwrap_or_default())
        .filter(|(_, p)| **p)
        .map(|(s, _)| *s)
        .sum();
    // Score: the stake-weighted mean of the permitted validators' normalised weights.
    let permits = input.permits.as_deref().unwrap_or_default();
    let row_factor: Vec<f64> = input
        .weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let row: f64 = w.iter().sum();
            if row > 0.0 && permits[i] && permit_stake > 0.0 {
                input.stake[i] / permit_stake / row
            } else {
                0.0
            }
        })
        .collect();
    for (j, c) in contributors.iter().enumerate() {
        let score: f64 = input
            .weights
            .iter()
            .zip(&row_factor)
            .map(|(w, f)| w[j] * f)
            .sum();
        payouts.push(Payout {
            key: *c,
            role: "contributor",
            stake: stake_in(c, Role::Worker),
            score: ppm(score),
            consensus: ppm(out.consensus[j]),
            rank: ppm(out.ranks[j]),
            trust: ppm(out.trust[j]),
            incentive: ppm(out.incentive[j]),
            validator_trust: 0,
            dividends: 0,
            emission: to_contributors[j],
        });
        credits.push((*c, to_contributors[j]));
    }
    let empty = BTreeMap::new();
    let reports = state.reports.get(&n).unwrap_or(&empty);
    for (i, v) in validators.iter().enumerate() {
        payouts.push(Payout {
            key: *v,
            role: "validator",
            stake: stake_in(v, Role::Validator),
            score: reports.get(v).map_or(0, |r| {
                r.weights.values().fold(0u64, |a, w| a.saturating_add(*w))
            }),
            consensus: 0,
            rank: 0,
            trust: 0,
            incentive: 0,
            validator_trust: ppm(out.validator_trust[i]),
            dividends: ppm(out.dividends[i]),
            emission: to_validators[i],
        });
        credits.push((*v, to_validators[i]));
    }
    let mut bonds: BTreeMap<Key, Vec<(Key, u64)>> = BTreeMap::new();
    for (i, v) in validators.iter().enumerate() {
        let row: Vec<(Key, u64)> = contributors
            .iter()
            .zip(&out.bonds[i])
            .map(|(c, b)| (*c, q32(*b)))
            .filter(|(_, q)| *q > 0)
            .collect();
        if !row.is_empty() {
            bonds.insert(*v, row);
        }
    }
    let released: u128 = state
        .accounts
        .values()
        .flat_map(|a| &a.unbonding)
        .filter(|u| u.release_epoch <= n)
        .map(|u| u.amount.0)
        .sum();
    // What is paid comes from the fees first; only the rest is minted. Fees no one could be
    // paid (no incentive, no dividends) wait in the pool for the next close.
    let paid = credits.iter().map(|(_, a)| a.0).sum::<u128>() + to_treasury.0;
    let fees = Amount(paid.min(state.fees.0));
    let minted = Amount(paid - fees.0);
    // Every amount here is at most the pool (≤ 2^101), so these sums cannot overflow; the
    // supply must stay within its maximum.
    let supply = state.genesis_supply.0 + state.minted.0 - state.burned.0;
    if supply + minted.0 > crate::MAX_SUPPLY {
        return Err(format!(
            "closing epoch {n} would take the supply past its maximum (2^100 base units)"
        ));
    }
    Ok(Closing {
        result: EpochResult {
            epoch: n,
            span: state.spans[n as usize],
            closed_at: leaf,
            reports: validators
                .iter()
                .zip(input.permits.as_deref().unwrap_or_default())
                .filter(|(v, p)| **p && reports.contains_key(v))
                .count() as u64,
            kappa_ppm: params.kappa_ppm,
            emission,
            fees,
            minted,
            to_treasury,
            released: Amount(released),
            payouts,
        },
        bonds,
        credits,
    })
}

pub(crate) fn commit(state: &mut State, closing: Closing) {
    let n = closing.result.epoch;
    for (k, a) in closing.credits {
        if !a.is_zero() {
            let acct = state.accounts.entry(k).or_default();
            acct.balance.0 += a.0;
        }
    }
    state.treasury.0 += closing.result.to_treasury.0;
    state.minted.0 += closing.result.minted.0;
    state.fees.0 -= closing.result.fees.0;
    for a in state.accounts.values_mut() {
        let mut back = 0u128;
        a.unbonding.retain(|u| {
            let due = u.release_epoch <= n;
            if due {
                back += u.amount.0;
            }
            !due
        });
        a.balance.0 += back;
        // A conviction lock ends with the close of its last epoch.
        a.locks.retain(|l| l.until_epoch > n);
    }
    state.bonds = closing.bonds;
    state.reports.remove(&n);
    state.closed = n + 1;
    let mut h = sha2::Sha256::new();
    h.update(state.results_digest);
    h.update(serde_json::to_vec(&closing.result).expect("a result serializes"));
    state.results_digest = h.finalize().into();
    state.results.push(closing.result);
}

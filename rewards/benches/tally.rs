//! Resolving a tally over 10^6 accounts and 10^6 delegation edges (a preferential-
//! attachment graph), and the largest voter's weight with no guard, with decay, with the
//! cap, and with one fallback per delegator.
//!
//! Run: `cargo bench -p masa-rewards --bench tally` (MASA_BENCH_ACCOUNTS sets the size).

use masa_rewards::governance::{Choice, Graph, Rules, Vote, graph, tally};
use masa_rewards::{Governance, Key};
use std::collections::BTreeMap;
use std::time::Instant;

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn main() {
    let n: usize = std::env::var("MASA_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut x = 0x5DEE_CE66_D1CE_5EEDu64;
    let mut g = Graph {
        weight: Vec::with_capacity(n),
        vote: Vec::with_capacity(n),
        first: Vec::with_capacity(n),
        fallbacks: vec![Vec::new(); n],
    };
    // Preferential attachment: a delegator picks an earlier account with probability
    // proportional to 1 + the delegations it already received (`ends` holds each account
    // once, plus once per delegation it received).
    let mut ends: Vec<u32> = Vec::with_capacity(2 * n);
    let mut fallback_of = vec![0u32; n];
    for (i, fallback) in fallback_of.iter_mut().enumerate() {
        let r = next(&mut x) % 100;
        // Stakes from 1 to 10 000 MASA, heavy-tailed.
        let stake = 1_000_000_000u128 * (1 + (next(&mut x) % 100).pow(2) as u128);
        g.weight.push(stake);
        let voter = i < 100 || r < 4;
        let inactive = !voter && r < 14;
        g.vote.push(voter.then(|| Vote {
            choice: if next(&mut x).is_multiple_of(3) {
                Choice::No
            } else {
                Choice::Yes
            },
            conviction: (next(&mut x) % 7) as u8,
        }));
        if voter || inactive || i == 0 {
            g.first.push(None);
        } else {
            let to = ends[(next(&mut x) % ends.len() as u64) as usize];
            g.first.push(Some(to));
            ends.push(to);
            *fallback = (next(&mut x) % i as u64) as u32;
        }
        ends.push(i as u32);
    }
    let edges = g.first.iter().filter(|f| f.is_some()).count();
    let total: u128 = g.weight.iter().sum();
    let keys: Vec<Key> = (0..n)
        .map(|i| {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_be_bytes());
            Key(k)
        })
        .collect();
    let table = Governance::default().conviction;
    let run = |label: &str, g: &Graph, viscosity_bps, voter_cap_bps| {
        let rules = Rules {
            conviction: &table,
            viscosity_bps,
            voter_cap_bps,
        };
        let started = Instant::now();
        let (t, _) = tally(g, &keys, &rules);
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{label:<28} {secs:.3} s; largest voter {:.2} % of all stake ({:.2} % of the weight that voted), \
             lost to cycles {:.2} %, to decay {:.2} %, capped back {:.2} %, abstained {:.2} %, Gini {:.3}, Nakamoto {}",
            100.0 * t.largest_voter_weight.0 as f64 / total as f64,
            100.0 * t.largest_voter_weight.0 as f64 / t.resolved.0.max(1) as f64,
            100.0 * t.lost_cycles.0 as f64 / total as f64,
            100.0 * t.lost_decay.0 as f64 / total as f64,
            100.0 * t.capped_back.0 as f64 / total as f64,
            100.0 * t.abstained.0 as f64 / total as f64,
            t.gini_ppm as f64 / 1e6,
            t.nakamoto
        );
    };
    println!(
        "{n} accounts, {edges} delegation edges (preferential attachment), {} voters, {} inactive",
        g.vote.iter().filter(|v| v.is_some()).count(),
        (0..n)
            .filter(|i| g.vote[*i].is_none() && g.first[*i].is_none())
            .count()
    );
    run("no guard", &g, 10_000, 10_000);
    run("decay (5 % a hop)", &g, 9_500, 10_000);
    run("cap (20 % of turnout)", &g, 10_000, 2_000);
    run("cap (2 % of turnout)", &g, 10_000, 200);
    let mut with_fallback = g.clone();
    for (i, f) in fallback_of.iter().enumerate() {
        if g.first[i].is_some() {
            with_fallback.fallbacks[i] = vec![*f];
        }
    }
    run("one fallback each", &with_fallback, 10_000, 10_000);
    run(
        "defaults (decay, cap, fallback)",
        &with_fallback,
        9_500,
        2_000,
    );

    // What the fold does before resolving: the graph from key-indexed maps.
    let weights: BTreeMap<Key, u128> = keys.iter().copied().zip(g.weight.iter().copied()).collect();
    let votes: BTreeMap<Key, Vote> = (0..n).filter_map(|i| Some((keys[i], g.vote[i]?))).collect();
    let dels: Vec<(Key, masa_rewards::governance::Delegation)> = (0..n)
        .filter_map(|i| {
            Some((
                keys[i],
                masa_rewards::governance::Delegation {
                    to: keys[g.first[i]? as usize],
                    fallbacks: vec![keys[fallback_of[i] as usize]],
                },
            ))
        })
        .collect();
    let delegations: BTreeMap<Key, &masa_rewards::governance::Delegation> =
        dels.iter().map(|(k, d)| (*k, d)).collect();
    let started = Instant::now();
    let (_, built) = graph(&weights, &votes, &delegations);
    println!(
        "graph from the fold's maps: {:.3} s ({} accounts)",
        started.elapsed().as_secs_f64(),
        built.weight.len()
    );
}

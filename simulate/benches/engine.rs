//! Events per second of the Gillespie engine (`Gillespie<Network>`) on the Vilar
//! oscillator, against rebop 0.10 on the same model in the same run: rebop's macro API
//! (`define_system!`, the model compiled in) and its run-time API (`gillespie::Gillespie`
//! with `Rate::lma`, dense and sparse).
//!
//! Command: `cargo bench -p masa-simulate --bench engine`. `MASA_BENCH_REPS` (default 20)
//! sets the runs per round, `MASA_BENCH_ROUNDS` (default 5) the rounds.
//!
//! The workload follows rebop's own Vilar benchmark: each run starts from the published
//! initial state and simulates t = 0 to 200, stopping at every whole time unit to read the
//! activator count (200 observations). Every engine simulates the same runs (seeds
//! 0..reps) in every round; rounds alternate between engines so background load falls on
//! all of them alike, and the table reports the best and the median round.
//!
//! Events are counted exactly for every engine: ours counts them itself; rebop does not,
//! so each rebop run is replayed once, untimed, with the same seed by a counting variant
//! (the macro model with an extra product species bumped by every reaction, the run-time
//! model stepped one reaction at a time), and the bench checks that the replay ends in the
//! same state as the timed run. The rebop run-time model is read off `Network::vilar`, and
//! the bench checks that it and the macro model end every run in the same state (one
//! generator, one seed: the same reactions and rates). Our engine draws from another
//! generator (PCG-64; rebop's is SmallRng), so its runs differ, but its event counts per run
//! agree with rebop's within noise (printed with their standard errors).

use std::hint::black_box;
use std::time::Instant;

use masa_simulate::engine::{Gillespie, rng_for};
use masa_simulate::network::Network;
use rebop::define_system;
use rebop::gillespie::{Gillespie as RebopGillespie, Rate};

const HORIZON: u32 = 200;

// The rate constants are written in (rebop's macro takes parameters, but 15 of them make a
// constructor clippy refuses); `main` checks that this model and the run-time one built
// from `Network::vilar` give the same trajectory for the same seed.
define_system! {
    ;
    VilarMacro { DA, DR, DAp, DRp, MA, MR, A, R, C }
    bind_a:     DA + A  => DAp          @ 1.0
    unbind_a:   DAp     => DA + A       @ 50.0
    bind_r:     DR + A  => DRp          @ 1.0
    unbind_r:   DRp     => DR + A       @ 100.0
    tx_a_bound: DAp     => DAp + MA     @ 500.0
    tx_a:       DA      => DA + MA      @ 50.0
    tx_r_bound: DRp     => DRp + MR     @ 50.0
    tx_r:       DR      => DR + MR      @ 0.01
    tl_a:       MA      => MA + A       @ 50.0
    tl_r:       MR      => MR + R       @ 5.0
    complex:    A + R   => C            @ 2.0
    release:    C       => R            @ 1.0
    decay_a:    A       =>              @ 1.0
    decay_r:    R       =>              @ 0.2
    decay_ma:   MA      =>              @ 10.0
    decay_mr:   MR      =>              @ 0.5
}

// The same model with a species `N` that every reaction produces: the event counter for
// the untimed replay. `N` is in no rate, so the trajectory is the same draw for draw.
define_system! {
    ;
    VilarCounted { DA, DR, DAp, DRp, MA, MR, A, R, C, N }
    bind_a:     DA + A  => DAp + N          @ 1.0
    unbind_a:   DAp     => DA + A + N       @ 50.0
    bind_r:     DR + A  => DRp + N          @ 1.0
    unbind_r:   DRp     => DR + A + N       @ 100.0
    tx_a_bound: DAp     => DAp + MA + N     @ 500.0
    tx_a:       DA      => DA + MA + N      @ 50.0
    tx_r_bound: DRp     => DRp + MR + N     @ 50.0
    tx_r:       DR      => DR + MR + N      @ 0.01
    tl_a:       MA      => MA + A + N       @ 50.0
    tl_r:       MR      => MR + R + N       @ 5.0
    complex:    A + R   => C + N            @ 2.0
    release:    C       => R + N            @ 1.0
    decay_a:    A       => N                @ 1.0
    decay_r:    R       => N                @ 0.2
    decay_ma:   MA      => N                @ 10.0
    decay_mr:   MR      => N                @ 0.5
}

fn macro_system(seed: u64) -> VilarMacro {
    let mut v = VilarMacro::new();
    v.DA = 1;
    v.DR = 1;
    v.seed(seed);
    v
}

fn counted_system(seed: u64) -> VilarCounted {
    let mut v = VilarCounted::new();
    v.DA = 1;
    v.DR = 1;
    v.seed(seed);
    v
}

/// The Vilar oscillator in rebop's run-time API, read off `Network::vilar` (the same
/// species order, rate constants, reactant orders and net changes).
fn runtime_system(seed: u64, sparse: bool) -> RebopGillespie {
    let net = Network::vilar();
    let species = net.species();
    let initial: Vec<isize> = net.counts().iter().map(|&n| n as isize).collect();
    let mut g = RebopGillespie::new_with_seed(initial, sparse, seed);
    for r in 0..net.reactions() {
        let mut orders = vec![0u32; species];
        let mut jump = vec![0isize; species];
        // rebop's mass action is k·n(n−1)…, without our 1/ν!: divide it out (a no-op
        // for Vilar, whose orders are all 1).
        let mut rate = net.rate(r);
        for &(s, order) in net.reactants(r) {
            orders[s] = order;
            rate /= (2..=order).map(f64::from).product::<f64>();
        }
        for &(s, change) in net.changes(r) {
            jump[s] = change as isize;
        }
        g.add_reaction(Rate::lma(rate, orders), jump);
    }
    g
}

/// One engine under test.
struct Engine {
    name: &'static str,
    /// A timed round: every run, returning a checksum (the sum of the observed activator
    /// counts) so nothing is optimised away.
    round: fn(u64) -> i64,
    /// Run `seed`, timed as in a round: the final state.
    last_state: fn(u64) -> Vec<i64>,
    /// Run `seed` replayed to count its events (untimed where the engine does not count):
    /// the event count and the final state.
    events: fn(u64) -> (u64, Vec<i64>),
}

fn masa_run(seed: u64) -> (u64, i64, Vec<i64>) {
    let mut g = Gillespie::new(Network::vilar(), rng_for(seed, 0, 0));
    let a = g.model.index_of("A").expect("vilar has A");
    let mut sum = 0;
    for t in 1..=HORIZON {
        g.run_until(f64::from(t), |_, _| {});
        sum += g.model.count(a);
    }
    (g.events, sum, g.model.counts().to_vec())
}

fn macro_run(seed: u64) -> (i64, Vec<i64>) {
    let mut v = macro_system(seed);
    let mut sum = 0;
    for t in 1..=HORIZON {
        v.advance_until(f64::from(t));
        sum += v.A as i64;
    }
    let state = [v.DA, v.DR, v.DAp, v.DRp, v.MA, v.MR, v.A, v.R, v.C];
    (sum, state.map(|n| n as i64).to_vec())
}

fn macro_events(seed: u64) -> (u64, Vec<i64>) {
    let mut v = counted_system(seed);
    for t in 1..=HORIZON {
        v.advance_until(f64::from(t));
    }
    let state = [v.DA, v.DR, v.DAp, v.DRp, v.MA, v.MR, v.A, v.R, v.C];
    (v.N as u64, state.map(|n| n as i64).to_vec())
}

fn runtime_state(g: &RebopGillespie) -> Vec<i64> {
    (0..g.nb_species())
        .map(|s| g.get_species(s) as i64)
        .collect()
}

fn runtime_run(seed: u64, sparse: bool) -> (i64, Vec<i64>) {
    let mut g = runtime_system(seed, sparse);
    let a = Network::vilar().index_of("A").expect("vilar has A");
    let mut sum = 0;
    for t in 1..=HORIZON {
        g.advance_until(f64::from(t));
        sum += g.get_species(a) as i64;
    }
    (sum, runtime_state(&g))
}

/// Replays a run-time rebop run one reaction at a time, counting the reactions. The same
/// draws as `advance_until`: an exponential, and a uniform only if it fires before `t`.
fn runtime_events(seed: u64, sparse: bool) -> (u64, Vec<i64>) {
    let mut g = runtime_system(seed, sparse);
    let mut events = 0;
    for t in 1..=HORIZON {
        let t = f64::from(t);
        while g.get_time() < t {
            g.advance_one_reaction_or_until(t);
            if g.get_time() < t {
                events += 1;
            }
        }
    }
    (events, runtime_state(&g))
}

fn engines() -> Vec<Engine> {
    vec![
        Engine {
            name: "masa Gillespie<Network>",
            round: |runs| (0..runs).map(|s| masa_run(s).1).sum(),
            last_state: |s| masa_run(s).2,
            events: |s| {
                let (events, _, state) = masa_run(s);
                (events, state)
            },
        },
        Engine {
            name: "rebop define_system!",
            round: |runs| (0..runs).map(|s| macro_run(s).0).sum(),
            last_state: |s| macro_run(s).1,
            events: macro_events,
        },
        Engine {
            name: "rebop Gillespie, dense",
            round: |runs| (0..runs).map(|s| runtime_run(s, false).0).sum(),
            last_state: |s| runtime_run(s, false).1,
            events: |s| runtime_events(s, false),
        },
        Engine {
            name: "rebop Gillespie, sparse",
            round: |runs| (0..runs).map(|s| runtime_run(s, true).0).sum(),
            last_state: |s| runtime_run(s, true).1,
            events: |s| runtime_events(s, true),
        },
    ]
}

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, got {v:?}")),
        Err(_) => default,
    }
}

/// Mean and standard error.
fn mean_se(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

fn main() {
    let runs = env_or("MASA_BENCH_REPS", 20).max(2);
    let rounds = env_or("MASA_BENCH_ROUNDS", 5).max(1) as usize;
    let engines = engines();
    println!(
        "Vilar oscillator, t = 0..{HORIZON} observed at every time unit; {runs} runs a round, \
         {rounds} rounds"
    );

    // Exact event counts of the runs every round repeats, each replay checked against its
    // timed run; and the rebop models checked against each other (same generator, same
    // seed: the same trajectory if and only if the models agree).
    let mut per_run: Vec<Vec<f64>> = Vec::new();
    for e in &engines {
        let mut counts = Vec::new();
        for s in 0..runs {
            let (n, state) = (e.events)(s);
            let timed = (e.last_state)(s);
            assert_eq!(state, timed, "{}: replay of run {s} diverged", e.name);
            if e.name.starts_with("rebop") {
                assert_eq!(
                    timed,
                    macro_run(s).1,
                    "{}: run {s} differs from the macro model",
                    e.name
                );
            }
            counts.push(n as f64);
        }
        per_run.push(counts);
    }

    let mut times: Vec<Vec<f64>> = vec![Vec::new(); engines.len()];
    for round in 0..rounds {
        // Rotate the order so no engine always runs first, or always after the same one.
        for k in 0..engines.len() {
            let i = (k + round) % engines.len();
            let start = Instant::now();
            black_box((engines[i].round)(black_box(runs)));
            times[i].push(start.elapsed().as_secs_f64());
        }
    }

    let best_rate = |i: usize| {
        let events: f64 = per_run[i].iter().sum();
        events / times[i].iter().copied().fold(f64::INFINITY, f64::min)
    };
    let reference = best_rate(1);
    println!();
    println!(
        "| engine | events/run (± s.e.) | best s/round | median s/round | events/s, best | \
         events/s, median | sim time/s, best | time vs rebop macro |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (i, e) in engines.iter().enumerate() {
        let mut t = times[i].clone();
        t.sort_by(f64::total_cmp);
        let (best, median) = (t[0], t[t.len() / 2]);
        let events: f64 = per_run[i].iter().sum();
        let (mean, se) = mean_se(&per_run[i]);
        println!(
            "| {} | {mean:.0} ± {se:.0} | {best:.3} | {median:.3} | {:.2}M | {:.2}M | {:.0} | \
             {:.2}× |",
            e.name,
            events / best / 1e6,
            events / median / 1e6,
            f64::from(HORIZON) * runs as f64 / best,
            reference / best_rate(i),
        );
    }
    println!();
    println!("time vs rebop macro: the macro's best events/s over this engine's (above 1: slower)");
}

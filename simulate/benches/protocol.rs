//! A full-protocol scenario at scale: 1 000 nodes (900 contributors, 60 validators, 40
//! oracles) over 1 000 epochs, one run (records prepared for scoring on every core): every batch, report, fee and close
//! folded by `masa-rewards`, every record scored by its rules.
//!
//! Run: `cargo bench -p masa-simulate --bench protocol` (MASA_BENCH_NODES and
//! MASA_BENCH_EPOCHS change the size).

use masa_simulate::run::run_one;
use masa_simulate::scenario::Scenario;
use std::time::Instant;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let nodes = env("MASA_BENCH_NODES", 1000);
    let epochs = env("MASA_BENCH_EPOCHS", 1000);
    let contributors = nodes * 9 / 10;
    let validators = nodes * 6 / 100;
    let oracles = nodes - contributors - validators;
    // An epoch of about one batch per contributor, plus the reports and fees.
    let epoch_length = contributors + validators + oracles;
    let text = format!(
        r#"
name = "bench"
epochs = {epochs}
seed = 1
[params]
epoch_length = {epoch_length}
[contributors]
words = {{ dist = "lognormal", median = 200, sigma = 0.5 }}
[contributors.lifecycle]
initial = {contributors}
arrival_rate = 1.0
departure_rate = 0.001
failure_rate = 0.01
recovery_rate = 0.2
[contributors.strategies]
honest = 0.7
low_quality = 0.1
copier = 0.1
padder = 0.05
sybil = 0.05
[validators]
audit_rate = 5.0
[validators.lifecycle]
initial = {validators}
failure_rate = 0.01
recovery_rate = 0.5
[validators.strategies]
honest = 0.8
lazy = 0.1
offline = 0.1
[oracles]
query_rate = 10.0
[oracles.lifecycle]
initial = {oracles}
"#
    );
    let scenario = Scenario::parse(&text).expect("the benchmark scenario is valid");
    let compiled = scenario.compile().expect("the benchmark scenario is valid");
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = run_one(&compiled, 1, 0, 0, threads);
    let secs = started.elapsed().as_secs_f64();
    let records = out
        .rows
        .iter()
        .rev()
        .find(|r| r.metric == "records")
        .map_or(0.0, |r| r.value);
    println!(
        "{nodes} nodes, {} epochs closed: {:.1} s; {} chain events ({:.0}/s), {} log leaves folded ({:.0}/s), {records} records scored ({:.0}/s), {} rejected",
        out.epochs,
        secs,
        out.events,
        out.events as f64 / secs,
        out.leaves,
        out.leaves as f64 / secs,
        records / secs,
        out.rejected,
    );
}

//! `masa simulate`: reads the scenario, runs it, writes and prints the results.

use crate::args::{SimulateArgs, SimulateCommand};
use anyhow::{Context, bail};
use masa_simulate::report;
use masa_simulate::run::{Sweep, points, run_all};
use masa_simulate::scenario::Scenario;
use std::io::IsTerminal;

pub fn run(a: SimulateArgs) -> anyhow::Result<()> {
    if let Some(SimulateCommand::Report { dir, json }) = a.command {
        let summary = report::read(&dir)?;
        let rows = masa_simulate::table::read(&dir)?;
        report::plots(&dir, &summary, &rows)?;
        print(&summary, json);
        return Ok(());
    }
    let (Some(file), Some(out)) = (a.scenario, a.out) else {
        bail!("masa simulate needs a scenario file and --out DIR (or: masa simulate report DIR)");
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("{}: cannot read the scenario", file.display()))?;
    let scenario = Scenario::parse(&text).with_context(|| format!("{}", file.display()))?;
    let sweeps = a
        .sweeps
        .iter()
        .map(|s| Sweep::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let points = points(&scenario, &sweeps).with_context(|| format!("{}", file.display()))?;
    let runs = a.runs.unwrap_or(scenario.runs);
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let seed = a.seed.unwrap_or(scenario.seed);
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let tty = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let progress = |done: usize, total: usize| {
        // A line per tenth of the work (a redrawn line on a terminal).
        if tty {
            eprint!("\rsimulating: {done}/{total} runs");
            if done == total {
                eprintln!();
            }
        } else if done * 10 / total != (done - 1) * 10 / total {
            eprintln!("simulating: {done}/{total} runs");
        }
    };
    let outputs = run_all(&points, runs, seed, threads, &progress);
    let summary = report::summarise(&scenario.name, seed, runs, &points, &outputs);
    report::write(&out, &summary, &outputs)
        .with_context(|| format!("writing the results into {}", out.display()))?;
    std::fs::write(out.join("scenario.toml"), &text)
        .with_context(|| format!("writing {}", out.join("scenario.toml").display()))?;
    print(&summary, a.json);
    eprintln!(
        "{} runs in {:.1} s; results in {}",
        outputs.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn print(summary: &report::Summary, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(summary).expect("a summary serializes")
        );
    } else {
        print!("{}", report::render(summary));
    }
}

//! What a voter reads: for each sweep point, each strategy's reward per unit of cost with
//! its confidence interval and a best-response verdict against honest play, the cabal's
//! share of what was paid, and projections of the dataset. Written as `summary.json`, the
//! long table and SVG charts; `masa simulate report` reads them back.

use crate::model::RunOutput;
use crate::plot::{Series, line_chart};
use crate::run::Point;
use crate::table::{self, Row};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// A mean with its 95 % confidence interval over runs (Student's t).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub n: u32,
}

impl Interval {
    /// The interval of `xs`' mean. With fewer than two values there is no interval: `lo`
    /// and `hi` are the mean, and `n` says why.
    pub fn of(xs: &[f64]) -> Interval {
        let n = xs.len();
        if n == 0 {
            return Interval {
                mean: 0.0,
                lo: 0.0,
                hi: 0.0,
                n: 0,
            };
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        let half = if n < 2 {
            0.0
        } else {
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            t95(n - 1) * (var / n as f64).sqrt()
        };
        Interval {
            mean,
            lo: mean - half,
            hi: mean + half,
            n: n as u32,
        }
    }
}

/// The two-sided 95 % quantile of Student's t with `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        // Beyond the table, within 0.002 of the exact quantile.
        _ => 1.96 + 2.5 / df as f64,
    }
}

/// One strategy at one sweep point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyRow {
    pub strategy: String,
    /// Agents playing it, mean over runs.
    pub agents: f64,
    /// MASA earned and spent per agent over a run, means over runs.
    pub reward: f64,
    pub cost: f64,
    /// Reward per unit of cost (all its agents' reward over all their cost, per run).
    pub per_cost: Interval,
    /// The honest strategy of its role it is compared with.
    pub baseline: Option<String>,
    /// Its reward per cost minus the baseline's, paired by run.
    pub gain: Option<Interval>,
    /// `beats honest`, `no better than honest` or `worse than honest`.
    pub verdict: Option<String>,
}

/// The cabal at one sweep point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CabalRow {
    /// Its validators' share of the initial validator stake.
    pub stake_share: f64,
    /// Its share (validators and members) of everything paid to agents.
    pub emission_share: Interval,
    /// Its members' Yuma consensus over the weights an honest audit gives them (1: not
    /// raised).
    pub consensus_ratio: Option<Interval>,
}

/// The dataset at the end of the runs, under the scenario's assumptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub epochs: Interval,
    pub time: Interval,
    pub records: Interval,
    pub bytes: Interval,
    pub unique_5grams: Interval,
    pub contributors: Interval,
    /// MASA paid to contributors per GB of novel text.
    pub reward_per_unique_gb: Interval,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointSummary {
    pub point: u32,
    pub values: BTreeMap<String, f64>,
    pub strategies: Vec<StrategyRow>,
    pub cabal: Option<CabalRow>,
    pub projection: Projection,
    pub events: u64,
    pub rejected: u64,
    pub rejections: Vec<String>,
    /// Runs that stopped before their epochs because the log stopped growing.
    #[serde(default)]
    pub stalled: u32,
    /// Strategies whose gain over honest play is above zero over the whole interval: the
    /// best-response check's answer.
    #[serde(default)]
    pub beats_honest: Vec<String>,
    /// The protocol state hash at the end of each run (equal for equal seeds).
    pub state_hashes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub runs: u32,
    pub assumptions: String,
    pub points: Vec<PointSummary>,
}

const ASSUMPTIONS: &str = "projections follow from the scenario's rates, distributions and \
costs (synthetic records, scored by the protocol's rules); they are what the model implies, \
not forecasts";

fn baseline(label: &str) -> Option<&'static str> {
    match label {
        "honest" | "validator_honest" | "oracle" => None,
        l if l.starts_with("validator_") => Some("validator_honest"),
        _ => Some("honest"),
    }
}

/// Summarises `outputs` (in point, run order).
pub fn summarise(
    scenario: &str,
    seed: u64,
    runs: u32,
    points: &[Point],
    outputs: &[RunOutput],
) -> Summary {
    let per_point = outputs.len() / points.len().max(1);
    let points = points
        .iter()
        .zip(outputs.chunks(per_point.max(1)))
        .map(|(p, outs)| point_summary(p, outs))
        .collect();
    Summary {
        scenario: scenario.to_owned(),
        seed,
        runs,
        assumptions: ASSUMPTIONS.into(),
        points,
    }
}

fn point_summary(p: &Point, outs: &[RunOutput]) -> PointSummary {
    let labels: Vec<String> = outs
        .iter()
        .flat_map(|o| o.totals.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let per_cost = |o: &RunOutput, l: &str| {
        o.totals
            .get(l)
            .filter(|t| t.cost > 0.0)
            .map(|t| t.reward / t.cost)
    };
    let mut strategies = Vec::new();
    for l in &labels {
        let present: Vec<&RunOutput> = outs.iter().filter(|o| o.totals.contains_key(l)).collect();
        let mean = |f: &dyn Fn(&crate::model::Totals) -> f64| {
            present.iter().map(|o| f(&o.totals[l])).sum::<f64>() / present.len().max(1) as f64
        };
        let agents = mean(&|t| f64::from(t.agents));
        let reward = mean(&|t| t.reward / f64::from(t.agents.max(1)));
        let cost = mean(&|t| t.cost / f64::from(t.agents.max(1)));
        let xs: Vec<f64> = outs.iter().filter_map(|o| per_cost(o, l)).collect();
        let base = baseline(l);
        let gain = base.map(|b| {
            let d: Vec<f64> = outs
                .iter()
                .filter_map(|o| Some(per_cost(o, l)? - per_cost(o, b)?))
                .collect();
            Interval::of(&d)
        });
        let verdict = gain.filter(|g| g.n >= 2).map(|g| {
            if g.lo > 0.0 {
                "beats honest"
            } else if g.hi < 0.0 {
                "worse than honest"
            } else {
                "no better than honest"
            }
            .to_owned()
        });
        strategies.push(StrategyRow {
            strategy: l.clone(),
            agents,
            reward,
            cost,
            per_cost: Interval::of(&xs),
            baseline: base.map(str::to_owned),
            gain,
            verdict,
        });
    }
    let cabal = outs.iter().find_map(|o| o.cabal_stake_share).map(|_| {
        let stake: Vec<f64> = outs.iter().filter_map(|o| o.cabal_stake_share).collect();
        let share: Vec<f64> = outs.iter().filter_map(|o| o.cabal_emission_share).collect();
        let ratio: Vec<f64> = outs
            .iter()
            .filter_map(|o| o.cabal_consensus_ratio)
            .collect();
        CabalRow {
            stake_share: stake.iter().sum::<f64>() / stake.len() as f64,
            emission_share: Interval::of(&share),
            consensus_ratio: (!ratio.is_empty()).then(|| Interval::of(&ratio)),
        }
    });
    let last = |o: &RunOutput, metric: &str| {
        o.rows
            .iter()
            .rev()
            .find(|r| r.metric == metric)
            .map_or(0.0, |r| r.value)
    };
    let of = |metric: &str| Interval::of(&outs.iter().map(|o| last(o, metric)).collect::<Vec<_>>());
    let per_gb: Vec<f64> = outs
        .iter()
        .filter_map(|o| {
            let gb = last(o, "unique_bytes") / 1e9;
            (gb > 0.0).then(|| last(o, "paid_contributors") / gb)
        })
        .collect();
    let projection = Projection {
        epochs: Interval::of(&outs.iter().map(|o| o.epochs as f64).collect::<Vec<_>>()),
        time: Interval::of(&outs.iter().map(|o| o.time).collect::<Vec<_>>()),
        records: of("records"),
        bytes: of("bytes"),
        unique_5grams: of("unique_5grams"),
        contributors: of("contributors"),
        reward_per_unique_gb: Interval::of(&per_gb),
    };
    let beats_honest = strategies
        .iter()
        .filter(|r| r.verdict.as_deref() == Some("beats honest"))
        .map(|r| r.strategy.clone())
        .collect();
    PointSummary {
        point: p.index,
        values: p.values.clone(),
        strategies,
        cabal,
        projection,
        stalled: outs.iter().filter(|o| o.stalled).count() as u32,
        beats_honest,
        events: outs.iter().map(|o| o.events).sum(),
        rejected: outs.iter().map(|o| o.rejected).sum(),
        rejections: outs
            .iter()
            .flat_map(|o| o.rejections.iter().cloned())
            .take(5)
            .collect(),
        state_hashes: outs.iter().map(|o| o.state_hash.clone()).collect(),
    }
}

/// A failure to write or read results.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Table(#[from] table::TableError),
    #[error("{0}")]
    Plot(#[from] crate::plot::PlotError),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

fn io(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Writes `series.parquet`, `series.csv`, `summary.json` and `plots/` into `dir`.
pub fn write(dir: &Path, summary: &Summary, outputs: &[RunOutput]) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let rows: Vec<Row> = outputs
        .iter()
        .flat_map(|o| o.rows.iter().cloned())
        .collect();
    table::write(dir, &rows)?;
    let path = dir.join("summary.json");
    let tmp = dir.join(".summary.json.tmp");
    let text = serde_json::to_string_pretty(summary).expect("a summary serializes");
    std::fs::write(&tmp, text + "\n").map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    plots(dir, summary, &rows)
}

/// Reads a finished run's summary.
pub fn read(dir: &Path) -> Result<Summary, ReportError> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        io(
            &path,
            format!("{e} (is this the --out directory of a `masa simulate` run?)"),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| io(&path, format!("not a simulation summary: {e}")))
}

/// The charts of every point, from the long table: rewards per strategy, stake
/// concentration, dataset growth, validator agreement, and the cabal's share.
pub fn plots(dir: &Path, summary: &Summary, rows: &[Row]) -> Result<(), ReportError> {
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).map_err(|e| io(&plots, e))?;
    let metrics = table::metrics(rows);
    for p in &summary.points {
        let series = |names: &[(&str, &str)]| -> Vec<Series> {
            names
                .iter()
                .filter(|(m, _)| metrics.iter().any(|x| x == m))
                .map(|(m, label)| Series {
                    label: (*label).to_owned(),
                    bands: table::bands(rows, p.point, m),
                })
                .collect()
        };
        let rewards = |validators: bool| -> Vec<(String, String)> {
            metrics
                .iter()
                .filter_map(|m| m.strip_prefix("reward.").map(|l| (m.clone(), l.to_owned())))
                .filter(|(_, l)| l.starts_with("validator_") == validators)
                .collect()
        };
        let (contributors, validators) = (rewards(false), rewards(true));
        let name = |chart: &str| plots.join(format!("{}-{chart}.svg", p.point));
        let at = if p.values.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                p.values
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        for (chart, who, list) in [
            ("rewards", "contributors and oracles", &contributors),
            ("validator-rewards", "validators", &validators),
        ] {
            let names: Vec<(&str, &str)> =
                list.iter().map(|(m, l)| (m.as_str(), l.as_str())).collect();
            line_chart(
                &name(chart),
                &format!("reward per agent per epoch: {who}{at}"),
                "epoch",
                "MASA",
                &series(&names),
            )?;
        }
        line_chart(
            &name("concentration"),
            &format!("validator stake concentration{at}"),
            "epoch",
            "Gini coefficient",
            &series(&[("stake_gini", "Gini")]),
        )?;
        line_chart(
            &name("dataset"),
            &format!("dataset growth{at}"),
            "epoch",
            "records",
            &series(&[
                ("records", "records"),
                ("near_duplicates", "near duplicates"),
            ]),
        )?;
        line_chart(
            &name("agreement"),
            &format!("validator agreement{at}"),
            "epoch",
            "stake-weighted validator trust",
            &series(&[("validator_agreement", "agreement")]),
        )?;
        if p.cabal.is_some() {
            line_chart(
                &name("cabal"),
                &format!("the cabal{at}"),
                "epoch",
                "share",
                &series(&[
                    ("cabal_share", "share of payouts"),
                    ("cabal_consensus_ratio", "consensus / honest weight"),
                ]),
            )?;
        }
    }
    Ok(())
}

fn iv(i: &Interval) -> String {
    if i.n < 2 {
        format!("{:.4}", i.mean)
    } else {
        format!("{:.4} [{:.4}, {:.4}]", i.mean, i.lo, i.hi)
    }
}

/// The summary as text tables.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {} · seed {} · {} runs per point\n",
        s.scenario, s.seed, s.runs
    );
    for p in &s.points {
        if !p.values.is_empty() {
            let v: Vec<String> = p.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(out, "point {}: {}", p.point, v.join(", "));
        }
        let _ = writeln!(
            out,
            "{:<22} {:>7} {:>12} {:>12}  {:<32} {:<30} verdict",
            "strategy",
            "agents",
            "reward/agent",
            "cost/agent",
            "reward per cost [95% CI]",
            "gain over honest [95% CI]"
        );
        for r in &p.strategies {
            let _ = writeln!(
                out,
                "{:<22} {:>7.1} {:>12.2} {:>12.2}  {:<32} {:<30} {}",
                r.strategy,
                r.agents,
                r.reward,
                r.cost,
                iv(&r.per_cost),
                r.gain.as_ref().map(iv).unwrap_or_else(|| "-".into()),
                r.verdict.as_deref().unwrap_or("-")
            );
        }
        if let Some(c) = &p.cabal {
            let _ = writeln!(
                out,
                "cabal: {:.1} % of validator stake took {} of the payouts; its members' consensus over their honest weight {}",
                c.stake_share * 100.0,
                iv(&c.emission_share),
                c.consensus_ratio
                    .as_ref()
                    .map(iv)
                    .unwrap_or_else(|| "-".into())
            );
        }
        let j = &p.projection;
        let _ = writeln!(
            out,
            "after {} epochs (time {}): {} records, {} bytes, {} unique 5-grams, {} contributors; {} MASA to contributors per unique GB",
            iv(&j.epochs),
            iv(&j.time),
            iv(&j.records),
            iv(&j.bytes),
            iv(&j.unique_5grams),
            iv(&j.contributors),
            iv(&j.reward_per_unique_gb),
        );
        let _ = writeln!(
            out,
            "best response: {}",
            if p.beats_honest.is_empty() {
                "no deviation beats honest play".to_owned()
            } else {
                format!("{} beat honest play", p.beats_honest.join(", "))
            }
        );
        if p.stalled > 0 {
            let _ = writeln!(
                out,
                "warning: {} runs stopped early: their log stopped growing (no contributor, validator or arrival adds to it)",
                p.stalled
            );
        }
        if p.rejected > 0 {
            let _ = writeln!(
                out,
                "warning: the fold rejected {} simulated events, e.g. {}",
                p.rejected,
                p.rejections.join("; ")
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "({})", s.assumptions);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_of_known_values() {
        let i = Interval::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(i.mean, 2.5);
        // s = 1.291, t(3) = 3.182: half-width 2.054.
        assert!((i.hi - 2.5 - 3.182 * 1.290_994 / 2.0).abs() < 1e-6, "{i:?}");
        let one = Interval::of(&[5.0]);
        assert_eq!((one.lo, one.hi, one.n), (5.0, 5.0, 1));
    }
}

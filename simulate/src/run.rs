//! Monte Carlo over a scenario: sweep points × runs, spread over threads. Each run draws
//! from its own stream (`rng_for(seed, point, run)`) and results are put back in (point,
//! run) order, so a seed gives the same results whatever the thread count.

use crate::engine::{Gillespie, Step, rng_for};
use crate::model::{Network, RunOutput};
use crate::scenario::{Compiled, Scenario, ScenarioError};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One swept setting: a name and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub name: String,
    pub values: Vec<f64>,
}

impl Sweep {
    /// Parses `name=a:b:step` (a to b inclusive) or `name=x,y,z`.
    pub fn parse(text: &str) -> Result<Sweep, String> {
        let (name, spec) = text.split_once('=').ok_or_else(|| {
            format!(
                "sweep {text:?}: write name=start:end:step or name=v1,v2,... (kappa=0.3:0.7:0.05)"
            )
        })?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("sweep {text:?}: the name is empty"));
        }
        let num = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("sweep {name}: {s:?} is not a number"))
        };
        let values = if spec.contains(':') {
            let parts: Vec<&str> = spec.split(':').collect();
            let [a, b, step] = parts[..] else {
                return Err(format!(
                    "sweep {name}: a range is start:end:step, not {spec:?}"
                ));
            };
            let (a, b, step) = (num(a)?, num(b)?, num(step)?);
            if step <= 0.0 || b < a {
                return Err(format!(
                    "sweep {name}: a range needs start ≤ end and a step > 0, not {spec:?}"
                ));
            }
            let n = ((b - a) / step + 1e-9).floor() as usize + 1;
            if n > 10_000 {
                return Err(format!("sweep {name}: {n} values is too many"));
            }
            // Rounded to the step's precision, so 0.3 + 4 × 0.05 prints as 0.5.
            (0..n)
                .map(|i| ((a + step * i as f64) * 1e9).round() / 1e9)
                .collect()
        } else {
            spec.split(',').map(num).collect::<Result<Vec<_>, _>>()?
        };
        if values.is_empty() {
            return Err(format!("sweep {name}: no values"));
        }
        Ok(Sweep {
            name: name.to_owned(),
            values,
        })
    }

    /// The scenario path a sweep name sets: a parameter short form of `masa propose`
    /// (`kappa`, `bond_alpha`, `emission`, `min_stake.validator`, ...) is one of
    /// `[params]`; any other name is a dotted path into the scenario
    /// (`params.unbonding_epochs`, `contributors.copier.edits`, `costs.audit_per_epoch`).
    fn target(&self) -> String {
        if masa_rewards::short_form(&self.name, "0").is_some() {
            format!("params.{}", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// A sweep point: the values it sets, and the scenario they give.
#[derive(Debug, Clone)]
pub struct Point {
    pub index: u32,
    pub values: BTreeMap<String, f64>,
    pub compiled: Compiled,
}

/// Every combination of the sweeps' values (the scenario alone when there are none).
pub fn points(scenario: &Scenario, sweeps: &[Sweep]) -> Result<Vec<Point>, ScenarioError> {
    let mut combos: Vec<Vec<(usize, f64)>> = vec![Vec::new()];
    for (i, s) in sweeps.iter().enumerate() {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                s.values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((i, *v));
                    c
                })
            })
            .collect();
    }
    let mut out = Vec::new();
    for (index, combo) in combos.into_iter().enumerate() {
        let mut table = scenario.to_table();
        let mut values = BTreeMap::new();
        for (i, v) in combo {
            let path = sweeps[i].target();
            set(&mut table, &path, v).map_err(|message| ScenarioError {
                field: format!("--sweep {}", sweeps[i].name),
                message,
            })?;
            values.insert(sweeps[i].name.clone(), v);
        }
        let s = Scenario::from_table(table)?;
        let compiled = s.compile().map_err(|e| {
            if values.is_empty() {
                e
            } else {
                ScenarioError {
                    field: e.field,
                    message: format!("{} (at sweep point {values:?})", e.message),
                }
            }
        })?;
        out.push(Point {
            index: index as u32,
            values,
            compiled,
        });
    }
    Ok(out)
}

/// Sets a number at a dotted path, creating tables on the way; integral values are written
/// as integers (counts, ppm), others as floats.
fn set(table: &mut toml::Table, path: &str, v: f64) -> Result<(), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().expect("split gives at least one part");
    let mut t = table;
    for p in parts {
        let entry = t
            .entry(p.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("{path}: {p} is not a table"))?;
    }
    let value = if v.fract() == 0.0 && v.abs() < 9e15 {
        toml::Value::Integer(v as i64)
    } else {
        toml::Value::Float(v)
    };
    if let Some(old) = t.get(last)
        && !matches!(old, toml::Value::Integer(_) | toml::Value::Float(_))
    {
        return Err(format!("{path} is not a number in the scenario"));
    }
    t.insert(last.to_owned(), value);
    Ok(())
}

/// Runs one (point, run) to its horizon; `threads` prepare records for scoring.
pub fn run_one(c: &Compiled, seed: u64, point: u32, run: u32, threads: usize) -> RunOutput {
    let mut rng = rng_for(seed, u64::from(point), u64::from(run));
    let net = Network::new(c, point, run, threads, &mut rng);
    let mut g = Gillespie::new(net, rng);
    let horizon = c.scenario.max_time;
    // Events that add nothing to the log (queries, failures) cannot end an epoch: a run
    // whose log stopped growing for this many of them has stalled.
    const STALL: u64 = 1_000_000;
    let (mut leaves, mut since) = (g.model.state.leaves, 0u64);
    let mut stalled = false;
    while g.model.closed() < c.scenario.epochs {
        if !matches!(g.step_until(horizon, |_, _| {}), Step::Fired { .. }) {
            break;
        }
        if g.model.state.leaves == leaves {
            since += 1;
            if since >= STALL {
                stalled = true;
                break;
            }
        } else {
            (leaves, since) = (g.model.state.leaves, 0);
        }
    }
    let events = g.events;
    let t = g.t;
    let mut out = g.model.finish(events, t);
    out.stalled = stalled;
    out
}

/// Every run of every point, on `threads` threads; `progress(done, total)` after each.
pub fn run_all(
    points: &[Point],
    runs: u32,
    seed: u64,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<RunOutput> {
    let jobs: Vec<(usize, u32)> = (0..points.len())
        .flat_map(|p| (0..runs).map(move |r| (p, r)))
        .collect();
    // Spare threads (fewer jobs than threads) prepare records inside the runs.
    let inner = (threads / jobs.len().max(1)).max(1);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunOutput>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(p, r)) = jobs.get(i) else { break };
                    let out = run_one(&points[p].compiled, seed, points[p].index, r, inner);
                    results.lock().expect("no thread panics holding it")[i] = Some(out);
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, jobs.len());
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no thread panicked holding it")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_parse_ranges_and_lists() {
        let s = Sweep::parse("kappa=0.3:0.7:0.05").unwrap();
        assert_eq!(s.values.len(), 9);
        assert_eq!(s.values[4], 0.5);
        assert_eq!(s.values[8], 0.7);
        let e = Sweep::parse("emission=500,1000,2000").unwrap();
        assert_eq!(e.values, vec![500.0, 1000.0, 2000.0]);
        for bad in ["kappa", "kappa=0.7:0.3:0.1", "kappa=a,b", "=1", "k=1:2"] {
            assert!(Sweep::parse(bad).is_err(), "{bad}");
        }
    }
}

//! `masa run`: a workflow file names a dataset, several sources, pipeline settings and an
//! optional schedule; each source is contributed in turn, resuming from its own checkpoint
//! (its run's `txn` in the table, as `masa contribute` resumes), and a source that fails
//! does not stop the others.
//!
//! ```toml
//! dataset = "./masa-data"            # or s3://bucket/prefix
//! schedule = "0 */6 * * *"           # optional: cron, for `masa run --daemon`
//!
//! [pipeline]                         # optional; the `masa contribute` defaults otherwise
//! batch_rows = 1000
//! near_dup = true
//! [pipeline.quality]                 # the quality settings file's format, inline
//! drop = true
//!
//! [[source]]
//! name = "hn-top"                    # unique; names the source in logs and errors
//! kind = "hackernews"                # any connector kind, with its own options
//! list = "top"
//! schedule = "*/30 * * * *"          # optional: this source's own schedule
//! ```
//!
//! Schedules are cron expressions in the Vixie cron dialect: five fields (minute, hour, day
//! of month, month, day of week; `*`, lists, ranges, steps, `MON`–`SUN`, `JAN`–`DEC`; a day
//! matches when either day field does), with an optional leading field for seconds and an
//! optional trailing one for the year, and `croner`'s `L`, `W` and `#` extensions; times are
//! UTC. Parsing and next-time arithmetic are the `croner` crate's.
//!
//! A source whose configuration is wrong (an unknown kind, a bad option) fails for good: it
//! is reported and left out, and the others run. Any other failure (the source unreachable,
//! a check refused) is reported for that run; a daemon tries it again at its next time.

use crate::WorkflowError;
use crate::contribute::{ContributeOptions, ContributeSummary, NearDupOptions, contribute};
use chrono::{DateTime, Utc};
use masa_connectors::{ConnectorError, SourceConfig};
use masa_ingest::{ProgressMode, QualityConfig};
use masa_storage::StorageOptions;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A parsed workflow file.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    pub dataset: String,
    pub pipeline: Pipeline,
    pub schedule: Option<Schedule>,
    pub sources: Vec<WorkflowSource>,
}

/// Pipeline settings shared by a workflow's sources.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub batch_rows: Option<usize>,
    pub batch_bytes: Option<usize>,
    /// Near-duplicate removal (default on; exact duplicates are always removed).
    pub near_dup: Option<bool>,
    pub near_dup_threshold: Option<f64>,
    pub quality: Option<QualityConfig>,
}

/// One source of a workflow. Its configuration is kept even when it does not parse, so
/// that the other sources still run and this one is reported by name.
#[derive(Debug, Clone)]
pub struct WorkflowSource {
    pub name: String,
    pub schedule: Option<Schedule>,
    pub config: Result<SourceConfig, String>,
}

/// A cron schedule (see the module documentation for the dialect).
#[derive(Debug, Clone)]
pub struct Schedule {
    pub expr: String,
    cron: croner::Cron,
}

impl Schedule {
    pub fn parse(expr: &str) -> Result<Schedule, String> {
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(expr)
            .map_err(|e| format!("schedule {expr:?} is not a cron expression: {e}"))?;
        Ok(Schedule {
            expr: expr.to_owned(),
            cron,
        })
    }

    /// The first time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }
}

fn config_err(path: &Path, reason: impl Into<String>) -> WorkflowError {
    WorkflowError::Config {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

impl Workflow {
    /// Reads a workflow file. Errors of the file as a whole (not TOML, no dataset, no
    /// sources, a bad schedule, two sources of one name) fail here; a source whose own
    /// options are wrong is kept with its error (see [`WorkflowSource::config`]).
    pub fn read(path: &Path) -> Result<Workflow, WorkflowError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_err(path, format!("cannot read the workflow file: {e}")))?;
        Workflow::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Workflow, WorkflowError> {
        let mut top: toml::Table = toml::from_str(text)
            .map_err(|e| config_err(path, format!("not a TOML workflow: {e}")))?;
        let dataset = match top.remove("dataset") {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => s,
            Some(_) => return Err(config_err(path, "`dataset` must be a location string")),
            None => {
                return Err(config_err(
                    path,
                    "no `dataset`: say where the records go (`dataset = \"./masa-data\"` or an s3:// URL)",
                ));
            }
        };
        let schedule = match top.remove("schedule") {
            None => None,
            Some(toml::Value::String(s)) => {
                Some(Schedule::parse(&s).map_err(|e| config_err(path, e))?)
            }
            Some(_) => return Err(config_err(path, "`schedule` must be a cron string")),
        };
        let pipeline: Pipeline = match top.remove("pipeline") {
            None => Pipeline::default(),
            Some(v) => v
                .try_into()
                .map_err(|e| config_err(path, format!("[pipeline]: {e}")))?,
        };
        let sources = match top.remove("source") {
            Some(toml::Value::Array(a)) if !a.is_empty() => a,
            Some(_) | None => {
                return Err(config_err(
                    path,
                    "no sources: add at least one `[[source]]` table with a `name` and a `kind`",
                ));
            }
        };
        if let Some(k) = top.keys().next() {
            return Err(config_err(
                path,
                format!(
                    "unknown key `{k}` (a workflow has dataset, schedule, [pipeline] and [[source]])"
                ),
            ));
        }
        let mut out = Vec::with_capacity(sources.len());
        for (i, s) in sources.into_iter().enumerate() {
            let toml::Value::Table(mut t) = s else {
                return Err(config_err(path, format!("source {} is not a table", i + 1)));
            };
            let name = match t.remove("name") {
                Some(toml::Value::String(n)) if !n.trim().is_empty() => n,
                _ => {
                    return Err(config_err(
                        path,
                        format!(
                            "source {} has no `name`: give each source a unique name",
                            i + 1
                        ),
                    ));
                }
            };
            if out.iter().any(|o: &WorkflowSource| o.name == name) {
                return Err(config_err(path, format!("two sources are named {name:?}")));
            }
            let schedule = match t.remove("schedule") {
                None => None,
                Some(toml::Value::String(s)) => Some(
                    Schedule::parse(&s)
                        .map_err(|e| config_err(path, format!("source {name:?}: {e}")))?,
                ),
                Some(_) => {
                    return Err(config_err(
                        path,
                        format!("source {name:?}: `schedule` must be a cron string"),
                    ));
                }
            };
            let config = source_config(t).map_err(|e| format!("source {name:?}: {e}"));
            out.push(WorkflowSource {
                name,
                schedule,
                config,
            });
        }
        Ok(Workflow {
            path: path.to_owned(),
            dataset,
            pipeline,
            schedule,
            sources: out,
        })
    }

    /// The schedule of `source`: its own, or the workflow's.
    pub fn schedule_of<'a>(&'a self, source: &'a WorkflowSource) -> Option<&'a Schedule> {
        source.schedule.as_ref().or(self.schedule.as_ref())
    }
}

fn source_config(t: toml::Table) -> Result<SourceConfig, String> {
    match t.get("kind") {
        None => return Err("no `kind`: name its connector (`masa connectors` lists them)".into()),
        Some(toml::Value::String(k)) if !masa_connectors::KINDS.iter().any(|i| i.kind == k) => {
            let known: Vec<&str> = masa_connectors::KINDS.iter().map(|i| i.kind).collect();
            return Err(format!(
                "unknown connector kind {k:?}; the kinds are {} (`masa connectors` describes them)",
                known.join(", ")
            ));
        }
        _ => {}
    }
    toml::Value::Table(t)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_owned())
}

/// What every source of a run shares besides the workflow file.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub home: PathBuf,
    pub storage: StorageOptions,
    pub progress: ProgressMode,
}

/// How one source's run ended.
#[derive(Debug, Clone, Serialize)]
pub struct SourceOutcome {
    pub name: String,
    pub kind: Option<String>,
    pub started_at: DateTime<Utc>,
    pub seconds: f64,
    pub summary: Option<ContributeSummary>,
    pub error: Option<String>,
    /// The error cannot go away by trying again (the source's configuration is wrong).
    pub permanent: bool,
}

impl SourceOutcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

fn is_permanent(e: &WorkflowError) -> bool {
    matches!(
        e,
        WorkflowError::Connector(ConnectorError::Config { .. }) | WorkflowError::Config { .. }
    )
}

/// The contribution options of `source` under `wf`'s pipeline settings.
pub fn source_options(wf: &Workflow, source: SourceConfig, ctx: &RunContext) -> ContributeOptions {
    let p = &wf.pipeline;
    let near_dup = p.near_dup.unwrap_or(true).then(|| NearDupOptions {
        threshold: p
            .near_dup_threshold
            .unwrap_or(crate::contribute::DEFAULT_NEAR_DUP_THRESHOLD),
        ..NearDupOptions::default()
    });
    ContributeOptions {
        source,
        dataset: wf.dataset.clone(),
        storage: ctx.storage.clone(),
        home: ctx.home.clone(),
        batch_rows: p.batch_rows.unwrap_or(masa_ingest::DEFAULT_BATCH_ROWS),
        batch_bytes: p.batch_bytes.unwrap_or(masa_ingest::DEFAULT_BATCH_BYTES),
        progress: ctx.progress,
        near_dup,
        quality: p.quality.clone().unwrap_or_default(),
    }
}

/// Runs one source of `wf` to the end of its input (or its failure).
pub async fn run_source(wf: &Workflow, source: &WorkflowSource, ctx: &RunContext) -> SourceOutcome {
    let started_at = Utc::now();
    let clock = std::time::Instant::now();
    let kind = source.config.as_ref().ok().map(|c| c.kind().to_owned());
    let result = match &source.config {
        Err(e) => Err((e.clone(), true)),
        Ok(config) => contribute(source_options(wf, config.clone(), ctx))
            .await
            .map_err(|e| (format!("source {:?}: {e}", source.name), is_permanent(&e))),
    };
    let (summary, error, permanent) = match result {
        Ok(s) => (Some(s), None, false),
        Err((e, permanent)) => (None, Some(e), permanent),
    };
    SourceOutcome {
        name: source.name.clone(),
        kind,
        started_at,
        seconds: clock.elapsed().as_secs_f64(),
        summary,
        error,
        permanent,
    }
}

/// Runs every source of `wf` once, in file order, reporting each outcome to `report` as it
/// ends. One source's failure does not stop the others.
pub async fn run_once(
    wf: &Workflow,
    ctx: &RunContext,
    mut report: impl FnMut(&SourceOutcome),
) -> Vec<SourceOutcome> {
    let mut out = Vec::with_capacity(wf.sources.len());
    for s in &wf.sources {
        let o = run_source(wf, s, ctx).await;
        report(&o);
        out.push(o);
    }
    out
}

/// What the daemon tells its caller.
#[derive(Debug)]
pub enum DaemonEvent<'a> {
    /// The next source to run, and when.
    Waiting {
        source: &'a str,
        at: DateTime<Utc>,
    },
    Finished(&'a SourceOutcome),
    /// A source left out for good (its configuration is wrong).
    Dropped {
        source: &'a str,
        error: &'a str,
    },
}

/// Why the daemon stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DaemonStop {
    /// Asked to (the `stop` future completed, or `max_runs` were done).
    Stopped,
    /// Every source failed for good, or none has a next time.
    NothingLeft,
}

/// Keeps running `wf`'s sources on their schedules until `stop` completes, `max_runs`
/// source runs are done, or no source is left. Each source runs at its schedule's times
/// (the first one after the daemon starts); sources due at once run in file order. Every
/// source must have a schedule (its own or the workflow's).
pub async fn run_daemon(
    wf: &Workflow,
    ctx: &RunContext,
    max_runs: Option<u64>,
    stop: impl std::future::Future<Output = ()>,
    mut report: impl FnMut(DaemonEvent<'_>),
) -> Result<DaemonStop, WorkflowError> {
    if let Some(s) = wf.sources.iter().find(|s| wf.schedule_of(s).is_none()) {
        return Err(config_err(
            &wf.path,
            format!(
                "source {:?} has no schedule: give the workflow a `schedule = \"...\"` (cron) or the source its own, or run it without --daemon",
                s.name
            ),
        ));
    }
    let mut active: Vec<(usize, DateTime<Utc>)> = Vec::new();
    let now = Utc::now();
    for (i, s) in wf.sources.iter().enumerate() {
        if let Err(e) = &s.config {
            report(DaemonEvent::Dropped {
                source: &s.name,
                error: e,
            });
            continue;
        }
        if let Some(at) = wf.schedule_of(s).and_then(|c| c.next_after(now)) {
            active.push((i, at));
        }
    }
    tokio::pin!(stop);
    let mut runs = 0u64;
    loop {
        if max_runs.is_some_and(|m| runs >= m) {
            return Ok(DaemonStop::Stopped);
        }
        // The earliest next time; ties go to the earlier source in the file.
        let Some(&(i, at)) = active.iter().min_by_key(|(i, at)| (*at, *i)) else {
            return Ok(DaemonStop::NothingLeft);
        };
        let source = &wf.sources[i];
        report(DaemonEvent::Waiting {
            source: &source.name,
            at,
        });
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = &mut stop => return Ok(DaemonStop::Stopped),
            _ = tokio::time::sleep(wait) => {}
        }
        let outcome = tokio::select! {
            _ = &mut stop => return Ok(DaemonStop::Stopped),
            o = run_source(wf, source, ctx) => o,
        };
        runs += 1;
        report(DaemonEvent::Finished(&outcome));
        let slot = active
            .iter()
            .position(|(j, _)| *j == i)
            .expect("the source is active");
        if outcome.permanent {
            active.remove(slot);
            continue;
        }
        // The next time after the run ended, so a run longer than its interval skips the
        // times it overran instead of running back to back.
        match wf
            .schedule_of(source)
            .and_then(|c| c.next_after(Utc::now()))
        {
            Some(next) => active[slot].1 = next,
            None => {
                active.remove(slot);
            }
        }
    }
}

#[cfg(test)]
mod tests;

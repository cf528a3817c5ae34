//! `masa run` and `masa connectors`: argument handling and printing; the runs themselves are
//! `masa_workflows`'.

use crate::args::{ConnectorsArgs, ConnectorsCommand, RunWorkflowArgs};
use anyhow::{Context, bail};
use masa_connectors::{KINDS, SourceConfig};
use masa_workflows::{DaemonEvent, DaemonStop, RunContext, SourceOutcome, Workflow};
use std::path::Path;

fn outcome_line(o: &SourceOutcome) -> String {
    let kind = o.kind.as_deref().unwrap_or("?");
    match (&o.summary, &o.error) {
        (Some(s), _) => {
            let st = &s.stats;
            let mut line = format!(
                "ok    {} ({kind}): {} records in {} commit(s), {} dropped, {:.1} s{}",
                o.name,
                st.rows_committed,
                st.commits,
                st.dropped(),
                o.seconds,
                if s.resumed { ", resumed" } else { "" }
            );
            if st.dropped() > 0 {
                let top: Vec<String> = st.drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
                line.push_str(&format!(" ({})", top.join(", ")));
            }
            line
        }
        (None, Some(e)) => format!(
            "FAIL  {} ({kind}): {e}{}",
            o.name,
            if o.permanent {
                " [fix the workflow file: this source cannot run as written]"
            } else {
                ""
            }
        ),
        (None, None) => unreachable!("an outcome has a summary or an error"),
    }
}

fn print_outcome(o: &SourceOutcome, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(o)?);
    } else {
        println!("{}", outcome_line(o));
    }
    Ok(())
}

/// `masa run [--daemon] WORKFLOW`.
pub async fn run(a: RunWorkflowArgs, home: &Path) -> anyhow::Result<()> {
    let mut wf = Workflow::read(&a.file)?;
    if !a.only.is_empty() {
        if let Some(missing) = a
            .only
            .iter()
            .find(|n| !wf.sources.iter().any(|s| &s.name == *n))
        {
            let names: Vec<&str> = wf.sources.iter().map(|s| s.name.as_str()).collect();
            bail!(
                "{}: no source named {missing:?} (the sources are {})",
                a.file.display(),
                names.join(", ")
            );
        }
        wf.sources.retain(|s| a.only.contains(&s.name));
    }
    let ctx = RunContext {
        home: home.to_owned(),
        storage: a.s3.storage_options()?,
        progress: if a.quiet || a.json {
            masa_ingest::ProgressMode::Quiet
        } else {
            masa_ingest::ProgressMode::detect()
        },
    };
    if !a.daemon {
        let mut err = None;
        let outcomes = masa_workflows::run_once(&wf, &ctx, |o| {
            if let Err(e) = print_outcome(o, a.json) {
                err.get_or_insert(e);
            }
        })
        .await;
        if let Some(e) = err {
            return Err(e);
        }
        let failed: Vec<&str> = outcomes
            .iter()
            .filter(|o| !o.ok())
            .map(|o| o.name.as_str())
            .collect();
        if !failed.is_empty() {
            bail!(
                "{} of {} sources failed: {}",
                failed.len(),
                outcomes.len(),
                failed.join(", ")
            );
        }
        return Ok(());
    }
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler installs");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    let json = a.json;
    let mut err = None;
    let stopped = masa_workflows::run_daemon(&wf, &ctx, a.max_runs, stop, |e| {
        let r = match e {
            DaemonEvent::Waiting { source, at } => {
                eprintln!("next: {source} at {}", at.format("%Y-%m-%d %H:%M:%S UTC"));
                Ok(())
            }
            DaemonEvent::Finished(o) => print_outcome(o, json),
            DaemonEvent::Dropped { source, error } => {
                eprintln!("left out for good: {source}: {error}");
                Ok(())
            }
        };
        if let Err(e) = r {
            err.get_or_insert(e);
        }
    })
    .await?;
    if let Some(e) = err {
        return Err(e);
    }
    match stopped {
        DaemonStop::Stopped => {
            eprintln!("stopped");
            Ok(())
        }
        DaemonStop::NothingLeft => bail!(
            "{}: no source is left to run (each failed for good, or has no next time)",
            a.file.display()
        ),
    }
}

/// The sources `masa connectors check TARGET` tries: a kind's public example, a source
/// file, or each source of a workflow file.
fn check_targets(target: &str) -> anyhow::Result<Vec<(String, Result<SourceConfig, String>)>> {
    let path = Path::new(target);
    if !path.exists() {
        let Some(info) = KINDS.iter().find(|k| k.kind == target) else {
            let known: Vec<&str> = KINDS.iter().map(|k| k.kind).collect();
            bail!(
                "{target:?} is neither a file nor a connector kind (the kinds are {})",
                known.join(", ")
            );
        };
        let Some(opts) = info.check_with else {
            bail!(
                "a {target} source reads your own files: write its options in a source file (see examples/{target}.toml) and run `masa connectors check FILE`"
            );
        };
        let text = format!("kind = \"{target}\"\n{opts}");
        let config = toml::from_str(&text).map_err(|e| e.to_string());
        return Ok(vec![(format!("{target} ({opts})"), config)]);
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read it", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: not TOML", path.display()))?;
    if table.contains_key("source") {
        let wf = Workflow::parse(path, &text)?;
        return Ok(wf.sources.into_iter().map(|s| (s.name, s.config)).collect());
    }
    let config = toml::from_str(&text).map_err(|e: toml::de::Error| e.message().to_owned());
    Ok(vec![(path.display().to_string(), config)])
}

/// `masa connectors [check TARGET]`.
pub async fn connectors(c: ConnectorsArgs, home: &Path) -> anyhow::Result<()> {
    match c.command {
        None => {
            let kinds = masa_workflows::connector_kinds(home);
            if c.json {
                println!("{}", serde_json::to_string_pretty(&kinds)?);
                return Ok(());
            }
            for k in &kinds {
                let creds = if k.keys.is_empty() {
                    "no credentials".to_owned()
                } else {
                    k.keys
                        .iter()
                        .map(|(var, n)| match n {
                            0 => format!("{var} not set"),
                            1 => format!("{var} set"),
                            n => format!("{var} set ({n} keys)"),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let usable = if k.usable { "usable" } else { "NOT USABLE" };
                println!("{:<11} {usable}; {creds}", k.info.kind);
                println!("            fetches: {}", k.info.fetches);
                println!("            permission: {}", k.info.permission);
            }
            println!(
                "\nexample sources: examples/<kind>.toml; try one with `masa connectors check FILE`"
            );
            Ok(())
        }
        Some(ConnectorsCommand::Check { target }) => {
            let mut failed = Vec::new();
            for (name, config) in check_targets(&target)? {
                let result = match config {
                    Err(e) => Err(e),
                    Ok(config) => masa_workflows::check_source(home, &config)
                        .await
                        .map_err(|e| e.to_string()),
                };
                if c.json {
                    println!(
                        "{}",
                        serde_json::json!({"source": name, "ok": result.is_ok(), "error": result.as_ref().err()})
                    );
                } else {
                    match &result {
                        Ok(()) => println!("ok    {name}"),
                        Err(e) => println!("FAIL  {name}: {e}"),
                    }
                }
                if result.is_err() {
                    failed.push(name);
                }
            }
            if !failed.is_empty() {
                bail!("the check failed for {}", failed.join(", "));
            }
            Ok(())
        }
    }
}

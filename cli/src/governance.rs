//! The governance commands: `--set` short forms to parameter paths, workflow calls, output.

use crate::args::Command;
use crate::protocol::{key, submitted, target};
use anyhow::{Context, bail};
use masa_rewards::governance::Choice;
use masa_rewards::{Scope, Status};
use std::collections::BTreeMap;
use std::path::Path;

/// `NAME=VALUE` to a parameter path and its JSON value: a short form
/// ([`masa_rewards::short_form`]), or a path as `masa state --json` shows it with a JSON
/// value (a bare word is a string).
pub fn change(kv: &str) -> anyhow::Result<(String, String)> {
    let (name, v) = kv
        .split_once('=')
        .with_context(|| format!("--set {kv:?}: expected NAME=VALUE"))?;
    if let Some(c) = masa_rewards::short_form(name, v) {
        return c.map_err(|e| anyhow::anyhow!("--set {e}"));
    }
    let value = match serde_json::from_str::<serde_json::Value>(v) {
        Ok(_) => v.to_owned(),
        Err(_) => format!("{v:?}"),
    };
    Ok((name.to_owned(), value))
}

/// A proposal's status in words.
pub(crate) fn status_text(s: &Status) -> String {
    match s {
        Status::Open => "open".into(),
        Status::Rejected => "rejected".into(),
        Status::Enacted { from_epoch } => format!("enacted from epoch {from_epoch}"),
        Status::Failed { reason } => format!("passed but not enacted: {reason}"),
    }
}

pub async fn run(command: Command, home: &Path) -> anyhow::Result<()> {
    match command {
        Command::Propose(a) => {
            let mut changes = BTreeMap::new();
            for kv in &a.set {
                let (path, value) = change(kv)?;
                if changes.insert(path.clone(), value).is_some() {
                    bail!("--set names {path} twice");
                }
            }
            let t = target(&a.target, home)?;
            let s = masa_workflows::propose(&t, a.title.clone(), changes)
                .await
                .with_context(|| format!("proposing on {}", t.dataset))?;
            if a.target.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("proposal {}", s.leaf);
            }
        }
        Command::Vote(a) => {
            let choice = Choice::parse(&a.choice).map_err(anyhow::Error::msg)?;
            let t = target(&a.target, home)?;
            let s = masa_workflows::vote(&t, a.proposal, choice, a.conviction)
                .await
                .with_context(|| format!("voting on {}", t.dataset))?;
            submitted(&s, "voted", a.target.json)?;
        }
        Command::Delegate(a) => {
            let scope = Scope::parse(&a.scope).map_err(anyhow::Error::msg)?;
            let to = key(&a.to, "the delegate")?;
            let fallbacks = a
                .fallbacks
                .iter()
                .map(|f| key(f, "--fallback"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let t = target(&a.target, home)?;
            let s = masa_workflows::delegate(&t, to, scope, fallbacks)
                .await
                .with_context(|| format!("delegating on {}", t.dataset))?;
            submitted(&s, "delegated", a.target.json)?;
        }
        Command::Undelegate(a) => {
            let scope = Scope::parse(&a.scope).map_err(anyhow::Error::msg)?;
            let t = target(&a.target, home)?;
            let s = masa_workflows::undelegate(&t, scope)
                .await
                .with_context(|| format!("undelegating on {}", t.dataset))?;
            submitted(&s, "undelegated", a.target.json)?;
        }
        Command::Proposals(a) => {
            let state =
                masa_workflows::state_at(&a.dataset.location, &a.dataset.storage_options()?, None)
                    .await
                    .with_context(|| format!("reading the protocol of {}", a.dataset.location))?;
            let view = masa_workflows::proposals_view(&state);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&view)?);
                return Ok(());
            }
            if view.is_empty() {
                println!("no proposals");
            }
            for v in &view {
                let p = &v.proposal;
                println!(
                    "{:>6}  {}  [{}]  {}",
                    p.id,
                    p.title,
                    p.scope.name(),
                    match p.status {
                        Status::Open => format!("open until the close of epoch {}", p.decides_at),
                        ref s => status_text(s),
                    }
                );
                for (k, val) in &p.changes {
                    println!("        set {k} = {val}");
                }
                if let Some(t) = v.live_tally.as_ref().or(p.tally.as_ref()) {
                    println!(
                        "        yes {} no {} abstain {}; participation {:.2} %, {} voters",
                        t.yes,
                        t.no,
                        t.abstain,
                        f64::from(t.participation_bps) / 100.0,
                        t.voters
                    );
                }
            }
        }
        Command::Tally(a) => {
            let v = masa_workflows::tally_view(
                &a.dataset.location,
                &a.dataset.storage_options()?,
                a.proposal,
            )
            .await
            .with_context(|| {
                format!("tallying proposal {} of {}", a.proposal, a.dataset.location)
            })?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            let t = &v.tally;
            println!(
                "proposal {} ({}, {}): {} (tally at leaf {})",
                v.proposal,
                v.title,
                v.scope.name(),
                status_text(&v.status),
                v.at_leaf
            );
            println!(
                "eligible {} MASA; participation {:.2} % (quorum {:.2} %)",
                t.eligible,
                f64::from(t.participation_bps) / 100.0,
                f64::from(v.quorum_bps) / 100.0
            );
            println!(
                "yes {}  no {}  abstain {}  (approval above {:.2} % of yes + no)",
                t.yes,
                t.no,
                t.abstain,
                f64::from(v.approval_bps) / 100.0
            );
            println!(
                "resolved {}  lost to cycles {}  lost to decay {}  abstained {}  capped back {}",
                t.resolved, t.lost_cycles, t.lost_decay, t.abstained, t.capped_back
            );
            println!(
                "{} voters; the largest carries {} ({}); Gini {:.4}, Nakamoto {}",
                t.voters,
                t.largest_voter_weight,
                t.largest_voter.map_or("-".into(), |k| k.short()),
                t.gini_ppm as f64 / 1e6,
                t.nakamoto
            );
        }
        other => unreachable!("not a governance command: {other:?}"),
    }
    Ok(())
}

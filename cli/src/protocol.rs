//! The protocol commands: arguments to workflow calls, and their output.

use crate::args::{Command, EpochCommand, ProtocolArgs, RewardsCommand, SlashArgs};
use anyhow::{Context, bail};
use masa_rewards::{Amount, Event, Key, Params, Role};
use masa_workflows::protocol::Submitted;
use masa_workflows::{CloseOutcome, Config, ProtocolTarget, RewardsView, SlashRequest};
use std::collections::BTreeMap;
use std::path::Path;

pub(crate) fn target(a: &ProtocolArgs, home: &Path) -> anyhow::Result<ProtocolTarget> {
    let key = match &a.key {
        Some(k) => k.clone(),
        None => Config::load(home)?.key_path(home),
    };
    Ok(ProtocolTarget {
        dataset: a.dataset.location.clone(),
        storage: a.dataset.storage_options()?,
        key,
    })
}

pub(crate) fn amount(text: &str) -> anyhow::Result<Amount> {
    Amount::parse_masa(text).map_err(anyhow::Error::msg)
}

pub(crate) fn key(text: &str, what: &str) -> anyhow::Result<Key> {
    Key::parse(text).map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

pub(crate) fn submitted(s: &Submitted, what: &str, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
    } else {
        println!(
            "{what}: leaf {} (nonce {}), state {}",
            s.leaf,
            s.nonce,
            &s.state_hash[..16]
        );
    }
    Ok(())
}

/// Default parameters overlaid with a TOML or JSON file's fields.
fn read_params(file: Option<&Path>) -> anyhow::Result<Params> {
    let mut value = serde_json::to_value(Params::default())?;
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("{}: cannot read the parameters file", f.display()))?;
        let overlay: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) => toml::from_str::<serde_json::Value>(&text)
                .with_context(|| format!("{}: neither JSON nor TOML", f.display()))?,
        };
        merge(&mut value, overlay);
    }
    serde_json::from_value(value)
        .context("the parameters file names an unknown field or a wrong type")
}

fn merge(base: &mut serde_json::Value, overlay: serde_json::Value) {
    match (base, overlay) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

pub async fn run(command: Command, home: &Path) -> anyhow::Result<()> {
    match command {
        Command::InitProtocol(a) => {
            let mut params = read_params(a.params.as_deref())?;
            if let Some(n) = a.epoch_length {
                params.epoch_length = n;
            }
            if let Some(e) = &a.emission {
                params.emission_per_epoch = amount(e).context("--emission")?;
            }
            let mut allocations = BTreeMap::new();
            for kv in &a.allocations {
                let (k, v) = kv
                    .split_once('=')
                    .with_context(|| format!("--allocate {kv:?}: expected KEY=AMOUNT"))?;
                let k = key(k, "--allocate")?;
                if allocations
                    .insert(k, amount(v).context("--allocate")?)
                    .is_some()
                {
                    bail!("--allocate names {} twice", k.short());
                }
            }
            let t = target(&a.target, home)?;
            let s = masa_workflows::init_protocol(&t, params, allocations)
                .await
                .with_context(|| format!("starting the protocol on {}", t.dataset))?;
            submitted(&s, "genesis", a.target.json)?;
        }
        c @ (Command::Stake(_) | Command::Unstake(_)) => {
            let (a, unstake) = match c {
                Command::Stake(a) => (a, false),
                Command::Unstake(a) => (a, true),
                _ => unreachable!("matched above"),
            };
            let role = Role::parse(&a.role).map_err(anyhow::Error::msg)?;
            let amount = amount(&a.amount)?;
            let (event, doing, what) = if unstake {
                (Event::Unstake { role, amount }, "unstaking", "unbonding")
            } else {
                (Event::Stake { role, amount }, "staking", "staked")
            };
            let t = target(&a.target, home)?;
            let s = masa_workflows::submit_event(&t, event)
                .await
                .with_context(|| format!("{doing} on {}", t.dataset))?;
            submitted(&s, what, a.target.json)?;
        }
        Command::Transfer(a) => {
            let event = Event::Transfer {
                to: key(&a.to, "--to")?,
                amount: amount(&a.amount)?,
            };
            let t = target(&a.target, home)?;
            let s = masa_workflows::submit_event(&t, event)
                .await
                .with_context(|| format!("transferring on {}", t.dataset))?;
            submitted(&s, "transferred", a.target.json)?;
        }
        Command::Fee(a) => {
            let event = Event::Fee {
                amount: amount(&a.amount)?,
            };
            let t = target(&a.target, home)?;
            let s = masa_workflows::submit_event(&t, event)
                .await
                .with_context(|| format!("paying a fee on {}", t.dataset))?;
            submitted(&s, "paid into the reward pool", a.target.json)?;
        }
        Command::Epoch(EpochCommand::Close(a)) => {
            let t = target(&a, home)?;
            let out = masa_workflows::close_epoch(&t)
                .await
                .with_context(|| format!("closing an epoch of {}", t.dataset))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                match &out {
                    CloseOutcome::Closed {
                        submitted: s,
                        result,
                    } => {
                        println!(
                            "closed epoch {} (leaves {}..{}) at leaf {}: {} reports, {} MASA minted; state {}",
                            result.epoch,
                            result.span.start,
                            result.span.end,
                            s.leaf,
                            result.reports,
                            result.minted,
                            &s.state_hash[..16]
                        );
                    }
                    CloseOutcome::NotYet {
                        epoch,
                        ends_at,
                        leaves,
                    } => println!(
                        "nothing to close: epoch {epoch} ends at leaf {ends_at}, the log has {leaves}"
                    ),
                }
            }
        }
        Command::Rewards(r) => match r.command {
            None => {
                let a = r.show;
                let state = masa_workflows::state_at(
                    &a.dataset.location,
                    &a.dataset.storage_options()?,
                    None,
                )
                .await
                .with_context(|| format!("reading the protocol of {}", a.dataset.location))?;
                let view = masa_workflows::rewards_view(&state, a.epoch)?;
                rewards(&view, a.json)?;
            }
            Some(RewardsCommand::Weights(w)) => {
                let state = masa_workflows::state_at(
                    &w.dataset.location,
                    &w.dataset.storage_options()?,
                    None,
                )
                .await
                .with_context(|| format!("reading the protocol of {}", w.dataset.location))?;
                let view = masa_workflows::rewards_view(&state, w.epoch)?;
                let uids = match &w.uids {
                    Some(p) => Some(masa_workflows::parse_uids(
                        &std::fs::read_to_string(p)
                            .with_context(|| format!("reading {}", p.display()))?,
                    )?),
                    None => None,
                };
                if w.format == "bittensor" {
                    let cw = masa_workflows::chain_weights(&view.result, uids.as_ref());
                    println!("{}", serde_json::to_string_pretty(&cw)?);
                    for k in &cw.unmapped {
                        eprintln!("warning: contributor {k} has incentive but no uid in the map");
                    }
                } else {
                    let weights: BTreeMap<String, u64> = view
                        .result
                        .payouts
                        .iter()
                        .filter(|p| p.role == "contributor")
                        .map(|p| (p.key.hex(), p.incentive))
                        .collect();
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "epoch": view.result.epoch,
                            "incentive_ppm": weights,
                        }))?
                    );
                }
            }
            Some(RewardsCommand::Consensus(c)) => {
                let text = if c.input.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin()).context("reading standard input")?
                } else {
                    std::fs::read_to_string(&c.input)
                        .with_context(|| format!("reading {}", c.input.display()))?
                };
                let input: masa_rewards::yuma::ConsensusInput = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a consensus input", c.input.display()))?;
                let out = masa_rewards::yuma::yuma(&input)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", c.input.display()))?;
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
        },
        Command::State(a) => {
            let state =
                masa_workflows::state_at(&a.dataset.location, &a.dataset.storage_options()?, a.at)
                    .await
                    .with_context(|| format!("reading the protocol of {}", a.dataset.location))?;
            let view = masa_workflows::state_view(&state);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                state_text(&view);
            }
        }
        Command::Slash(a) => {
            let req = slash_request(&a)?;
            let t = target(&a.target, home)?;
            let s = masa_workflows::slash(&t, req)
                .await
                .with_context(|| format!("slashing on {}", t.dataset))?;
            submitted(&s, "slashed", a.target.json)?;
        }
        other => crate::governance::run(other, home).await?,
    }
    Ok(())
}

fn slash_request(a: &SlashArgs) -> anyhow::Result<SlashRequest> {
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .with_context(|| format!("{} needs {flag}", a.offence))
    };
    Ok(match a.offence.as_str() {
        "invalid-manifest" => SlashRequest::InvalidManifest {
            batch: need(&a.batch, "--batch")?,
        },
        "consent-violation" => SlashRequest::ConsentViolation {
            record_id: need(&a.record, "--record")?,
        },
        "content-mismatch" => SlashRequest::ContentMismatch {
            batch: need(&a.batch, "--batch")?,
        },
        "fabrication" => SlashRequest::Fabrication {
            batch: need(&a.batch, "--batch")?,
        },
        _ => SlashRequest::Equivocation {
            validator: key(&need(&a.validator, "--validator")?, "--validator")?,
            epoch: a.epoch.context("equivocation needs --epoch")?,
        },
    })
}

fn ppm(v: u64) -> String {
    format!("{:.4}", v as f64 / 1e6)
}

fn rewards(v: &RewardsView, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
        return Ok(());
    }
    let r = &v.result;
    println!(
        "epoch {} (leaves {}..{}, closed at leaf {}): {} validator reports, {} MASA minted and {} of fees paid out ({} to the treasury), {} released from unbonding",
        r.epoch,
        r.span.start,
        r.span.end,
        r.closed_at,
        r.reports,
        r.minted,
        r.fees,
        r.to_treasury,
        r.released
    );
    println!(
        "{:<10} {:<11} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>14} {:>14}",
        "key",
        "role",
        "stake",
        "score",
        "consensus",
        "incentive",
        "v.trust",
        "dividends",
        "emission",
        "balance"
    );
    for p in &r.payouts {
        let balance = v.balances.get(&p.key.hex()).copied().unwrap_or_default();
        let (score, consensus, incentive, vtrust, dividends) = if p.role == "contributor" {
            (
                ppm(p.score),
                ppm(p.consensus),
                ppm(p.incentive),
                "-".into(),
                "-".into(),
            )
        } else {
            (
                p.score.to_string(),
                "-".into(),
                "-".into(),
                ppm(p.validator_trust),
                ppm(p.dividends),
            )
        };
        println!(
            "{:<10} {:<11} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>14} {:>14}",
            p.key.short(),
            p.role,
            p.stake.to_string(),
            score,
            consensus,
            incentive,
            vtrust,
            dividends,
            p.emission.to_string(),
            balance.to_string()
        );
    }
    println!("state {}", v.state_hash);
    Ok(())
}

fn state_text(v: &masa_workflows::StateView) {
    println!("log        {} ({} leaves)", v.origin, v.leaves);
    println!("state      {}", v.state_hash);
    match (&v.params, v.genesis_leaf) {
        (Some(p), Some(g)) => {
            println!(
                "protocol   genesis at leaf {g}; epoch {} running (leaves {}..{}), {} closed",
                v.epoch,
                v.epoch_span.map_or(0, |s| s.start),
                v.epoch_span.map_or(0, |s| s.end),
                v.epochs_closed
            );
            println!(
                "params     epoch {} leaves, emission {} MASA, shares {}/{}/{} bps, κ {}, α {}, unbonding {} epochs, min stake {}/{}/{} MASA",
                p.epoch_length,
                p.emission_per_epoch,
                p.contributor_share_bps,
                p.validator_share_bps,
                p.treasury_share_bps,
                p.kappa(),
                p.bond_alpha(),
                p.unbonding_epochs,
                p.min_stake.validator,
                p.min_stake.worker,
                p.min_stake.oracle
            );
        }
        _ => println!("protocol   no genesis yet (masa init-protocol)"),
    }
    println!(
        "supply     {} MASA = genesis {} + minted {} - burned {}; treasury {}; fee pool {}",
        v.supply, v.genesis_supply, v.minted, v.burned, v.treasury, v.fees
    );
    for a in &v.accounts {
        let stakes: Vec<String> = a
            .stake
            .iter()
            .map(|(r, s)| format!("{} {s}", r.name()))
            .collect();
        let unbonding: u128 = a.unbonding.iter().map(|u| u.amount.0).sum();
        println!(
            "  {}  balance {}  stake [{}]  unbonding {}  nonce {}",
            &a.key[..16],
            a.balance,
            stakes.join(", "),
            Amount(unbonding),
            a.nonce
        );
    }
    for c in &v.param_history {
        let set: Vec<String> = c
            .changes
            .iter()
            .map(|(k, x)| format!("{k} = {x}"))
            .collect();
        println!(
            "changed    from epoch {} by proposal {} (leaf {}): {}",
            c.from_epoch,
            c.proposal,
            c.leaf,
            set.join(", ")
        );
    }
    for p in &v.proposals {
        println!(
            "proposal   {} [{}] {}: {}",
            p.id,
            p.scope.name(),
            crate::governance::status_text(&p.status),
            p.title
        );
    }
    if !v.slashed_batches.is_empty() {
        println!("slashed    batches {}", v.slashed_batches.join(", "));
    }
    if v.rejections.is_empty() {
        println!("rejected   none");
    }
    for r in &v.rejections {
        println!("rejected   leaf {}: {}", r.leaf, r.reason);
    }
}

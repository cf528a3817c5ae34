//! The `masa` command-line tool: parses arguments, runs a workflow, prints the outcome.

mod args;
mod governance;
mod output;
mod protocol;
mod simulate;
mod workflow;

use anyhow::Context;
use args::{Cli, Command, LogCommand};
use clap::Parser;
use masa_connectors::{FilesConfig, SourceConfig};
use masa_ingest::ProgressMode;
use masa_workflows::{Config, ContributeOptions, DedupOptions, SearchOptions};
use std::process::ExitCode;

fn init_logging(verbose: u8, progress: ProgressMode) {
    let default = match (verbose, progress) {
        (0, ProgressMode::Bar | ProgressMode::Quiet) => "warn,aws_config=error",
        (0, ProgressMode::Log) => "warn,aws_config=error,masa_ingest=info,masa_workflows=info",
        (1, _) => "info",
        _ => "debug,hyper=info,h2=info,rustls=info,aws_config=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MASA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// Quality settings from a TOML file, or the defaults.
fn read_quality(file: Option<&std::path::Path>) -> anyhow::Result<masa_ingest::QualityConfig> {
    let Some(file) = file else {
        return Ok(Default::default());
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read the quality settings", file.display()))?;
    toml::from_str(&text).with_context(|| format!("{}: not quality settings", file.display()))
}

/// The options of a contribution of `source`, shared by `contribute` and `crawl`.
fn contribute_options(
    run: &args::RunArgs,
    source: SourceConfig,
    dataset: &args::DatasetArgs,
    storage: masa_storage::StorageOptions,
    home: std::path::PathBuf,
) -> anyhow::Result<ContributeOptions> {
    let mut quality = read_quality(run.quality.quality.as_deref())?;
    quality.drop |= run.quality.drop_low_quality;
    quality.keep_rejects |= run.quality.keep_rejects;
    Ok(ContributeOptions {
        source,
        dataset: dataset.location.clone(),
        storage,
        home,
        batch_rows: run.batch_rows,
        batch_bytes: run.batch_bytes,
        progress: run.progress(),
        near_dup: (!run.no_near_dup).then(|| run.near_dup.options()),
        quality,
    })
}

/// `masa extract`: one page from a file or stdin, or JSON lines of pages.
fn extract(e: &args::ExtractArgs) -> anyhow::Result<()> {
    use std::io::{BufRead, Read, Write};
    let quality = read_quality(e.quality.as_deref())?;
    if e.jsonl {
        if e.file != "-" {
            anyhow::bail!("--jsonl reads standard input; drop the FILE argument");
        }
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let mut failed = 0usize;
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.context("reading standard input")?;
            if line.trim().is_empty() {
                continue;
            }
            let v = match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(serde_json::Value::Object(mut o)) => {
                    let id = o.remove("id").unwrap_or(serde_json::Value::Null);
                    match o.remove("html") {
                        Some(serde_json::Value::String(html)) => {
                            let mut r =
                                serde_json::to_value(masa_ingest::describe(&html, &quality))?;
                            r["id"] = id;
                            r
                        }
                        _ => {
                            failed += 1;
                            serde_json::json!({"id": id, "error": format!("line {}: no \"html\" string", n + 1)})
                        }
                    }
                }
                Ok(_) | Err(_) => {
                    failed += 1;
                    serde_json::json!({"id": null, "error": format!("line {}: not a JSON object", n + 1)})
                }
            };
            let written = serde_json::to_writer(&mut out, &v)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"));
            if reader_gone(written)? {
                return Ok(());
            }
        }
        if reader_gone(out.flush())? {
            return Ok(());
        }
        if failed > 0 {
            anyhow::bail!(
                "{failed} input line(s) could not be read; their output lines carry an \"error\""
            );
        }
        return Ok(());
    }
    let mut bytes = Vec::new();
    if e.file == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
    } else {
        bytes = std::fs::read(&e.file).with_context(|| format!("{}: cannot read", e.file))?;
    }
    let html = masa_connectors::web::page::decode(&bytes, None);
    let report = masa_ingest::describe(&html, &quality);
    let out = if e.json {
        serde_json::to_string_pretty(&report)?
    } else {
        report.text
    };
    reader_gone(writeln!(std::io::stdout().lock(), "{out}"))?;
    Ok(())
}

/// Whether a write to standard output found its reader gone (`masa extract page.html |
/// head`): not an error, the output is simply no longer wanted. Other write errors are.
fn reader_gone(written: std::io::Result<()>) -> anyhow::Result<bool> {
    match written {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(true),
        Err(e) => Err(anyhow::Error::new(e).context("writing standard output")),
    }
}

/// A source from a TOML workflow file (`kind` plus the connector's options).
fn read_source(file: &std::path::Path) -> anyhow::Result<SourceConfig> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read the workflow file", file.display()))?;
    toml::from_str(&text).with_context(|| {
        let kinds: Vec<&str> = masa_connectors::KINDS.iter().map(|k| k.kind).collect();
        format!(
            "{}: not a source description (`kind` = one of {} and its options; `masa connectors` describes them)",
            file.display(),
            kinds.join(", ")
        )
    })
}

/// `masa serve`: binds, prints where it listens, serves until SIGTERM or Ctrl-C.
async fn serve(a: args::ServeArgs, home: &std::path::Path) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let options = masa_serve::ServeOptions {
        datasets: a.datasets.clone(),
        storage: a.s3.storage_options()?,
        max_limit: a.max_limit.max(1),
        keys_file: masa_serve::keys::keys_path(home),
        anonymous_rate: a.anonymous_rate.filter(|r| *r > 0),
        timeout: std::time::Duration::from_secs(a.timeout.max(1)),
        cors_origins: a.cors_origins.clone(),
        follow_interval: std::time::Duration::from_secs(a.follow_interval.max(1)),
        cursor_ttl: std::time::Duration::from_secs(a.cursor_ttl),
        cache_dir: a.cache_dir.clone(),
        cache_bytes: a.cache_mib.saturating_mul(1024 * 1024),
        meter: match a.meter_interval {
            0 => None,
            secs => Some(masa_serve::Meter {
                signer: masa_workflows::Config::load(home)
                    .context("metering signs usage events with your key: run `masa init`, or pass --meter-interval 0")?
                    .key_path(home),
                interval: std::time::Duration::from_secs(secs),
                price_per_query: masa_rewards::Amount::parse_masa(&a.price_per_query)
                    .map_err(anyhow::Error::msg)
                    .context("--price-per-query")?,
            }),
        },
    };
    println!("listening on http://{addr}");
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler installs");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    masa_serve::serve(listener, options, shutdown)
        .await
        .context("serving")?;
    eprintln!("stopped");
    Ok(())
}

/// `masa keys`: the service's keys in the masa home.
fn keys(k: args::KeysCommand, home: &std::path::Path) -> anyhow::Result<()> {
    use masa_serve::keys;
    let path = keys::keys_path(home);
    match k {
        args::KeysCommand::Create {
            scope,
            rate,
            datasets,
            expires,
            json,
        } => {
            std::fs::create_dir_all(home)
                .with_context(|| format!("creating {}", home.display()))?;
            let new = keys::NewKey {
                scopes: scope,
                datasets,
                rate_per_second: keys::parse_rate(&rate).map_err(anyhow::Error::msg)?,
                expires: expires
                    .as_deref()
                    .map(keys::parse_expiry)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
            };
            let (rec, key) = keys::create(&path, new).map_err(anyhow::Error::msg)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"key": key, "id": rec.id, "record": rec})
                    )?
                );
            } else {
                println!("{key}");
                eprintln!(
                    "key {} ({}, {}/s): shown once, keep it; only its hash is stored in {}",
                    rec.id,
                    rec.scopes.join(","),
                    rec.rate_per_second,
                    path.display()
                );
            }
        }
        args::KeysCommand::List { json } => {
            let all = keys::load(&path).map_err(anyhow::Error::msg)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for k in &all {
                    println!(
                        "{}  {:<28} {:>6}/s  {}{}",
                        k.id,
                        k.scopes.join(","),
                        k.rate_per_second,
                        k.expires
                            .map_or("no expiry".to_owned(), |e| format!("expires at {e}")),
                        if k.revoked { "  REVOKED" } else { "" }
                    );
                }
            }
        }
        args::KeysCommand::Revoke { id } => {
            let k = keys::revoke(&path, &id).map_err(anyhow::Error::msg)?;
            println!("revoked key {}", k.id);
        }
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let home = match &cli.home {
        Some(h) => h.clone(),
        None => masa_workflows::masa_home()?,
    };
    match cli.command {
        Command::Simulate(a) => simulate::run(a)?,
        Command::Serve(a) => serve(a, &home).await?,
        Command::Run(a) => workflow::run(a, &home).await?,
        Command::Connectors(c) => workflow::connectors(c, &home).await?,
        Command::Keys(k) => keys(k, &home)?,
        Command::Init { force } => {
            let out = Config::init(&home, force)?;
            if out.created {
                println!("created {} with a new contributor key", out.home.display());
            } else {
                println!(
                    "{} already set up (pass --force to replace the key)",
                    out.home.display()
                );
            }
            println!("contributor public key: {}", out.public_key);
        }
        Command::Contribute(c) => {
            let (source, what) = match (&c.source, &c.files) {
                (Some(file), _) => (read_source(file)?, file.display().to_string()),
                (None, Some(path)) => {
                    let mut files = FilesConfig::new(path);
                    if let Some(n) = c.max_file_bytes {
                        files.max_file_bytes = n;
                    }
                    if let Some(n) = c.max_line_bytes {
                        files.max_line_bytes = n;
                    }
                    (SourceConfig::Files(files), path.display().to_string())
                }
                (None, None) => anyhow::bail!("give --files PATH or --source FILE"),
            };
            let opts = contribute_options(
                &c.run,
                source,
                &c.dataset,
                c.dataset.storage_options()?,
                home,
            )?;
            let summary = masa_workflows::contribute(opts)
                .await
                .with_context(|| format!("contributing {what} to {}", c.dataset.location))?;
            output::contribute(&summary, c.run.json)?;
        }
        Command::Crawl(c) if c.dry_run => {
            let summary = masa_workflows::preview(&SourceConfig::Web(c.web_config()?))
                .await
                .context("masa crawl --dry-run")?;
            output::preview(&summary, c.run.json)?;
        }
        Command::Crawl(c) => {
            let storage = c.dataset.storage_options()?;
            let source = if c.resume {
                masa_workflows::interrupted_source(&c.dataset.location, &storage, &home, "web")
                    .await
                    .context("masa crawl --resume")?
            } else {
                SourceConfig::Web(c.web_config()?)
            };
            let opts = contribute_options(&c.run, source, &c.dataset, storage, home)?;
            let summary = masa_workflows::contribute(opts)
                .await
                .with_context(|| format!("crawling into {}", c.dataset.location))?;
            output::crawl(&summary, c.run.json)?;
        }
        Command::Extract(e) => extract(&e)?,
        Command::Search(s) => {
            let query = s.query()?;
            let hits = masa_workflows::search(SearchOptions {
                dataset: s.dataset.location.clone(),
                storage: s.dataset.storage_options()?,
                query,
            })
            .await
            .with_context(|| format!("searching {}", s.dataset.location))?;
            output::search(&hits, s.json)?;
        }
        Command::Maintain(m) => {
            let report = masa_workflows::maintain(masa_workflows::MaintainOptions {
                dataset: m.dataset.location.clone(),
                storage: m.dataset.storage_options()?,
                target_bytes: m.target_size,
                dry_run: m.dry_run,
            })
            .await
            .with_context(|| format!("maintaining {}", m.dataset.location))?;
            output::maintain(&report, m.json)?;
        }
        Command::Stats(s) => {
            let stats =
                masa_workflows::dataset_stats(&s.dataset.location, &s.dataset.storage_options()?)
                    .await
                    .with_context(|| format!("reading {}", s.dataset.location))?;
            output::stats(&stats, s.json)?;
        }
        Command::Dedup(d) => {
            let shard = match d.shard {
                Some(s) => s,
                None => masa_workflows::Shard::from_env()
                    .map_err(anyhow::Error::msg)?
                    .unwrap_or(masa_workflows::Shard::WHOLE),
            };
            let report = masa_workflows::dedup(DedupOptions {
                dataset: d.dataset.location.clone(),
                storage: d.dataset.storage_options()?,
                near: d.near_dup.options(),
                keep: d.keep.policy(),
                dry_run: d.dry_run,
                stage: d.stage.map(|s| s.stage()),
                job: d.job.clone(),
                shard,
            })
            .await
            .with_context(|| format!("deduplicating {}", d.dataset.location))?;
            output::dedup(&report, d.json)?;
        }
        Command::Log(LogCommand::Checkpoint { dataset, json }) => {
            let cp = masa_workflows::log_checkpoint(&dataset.location, &dataset.storage_options()?)
                .await
                .with_context(|| format!("reading the log of {}", dataset.location))?;
            output::checkpoint(&cp, json)?;
        }
        Command::Log(LogCommand::Verify {
            dataset,
            since,
            json,
        }) => {
            let old = std::fs::read_to_string(&since)
                .with_context(|| format!("reading {}", since.display()))?;
            let c =
                masa_workflows::log_verify(&dataset.location, &dataset.storage_options()?, &old)
                    .await
                    .with_context(|| {
                        format!(
                            "checking the log of {} against {}",
                            dataset.location,
                            since.display()
                        )
                    })?;
            output::consistency(&c, json)?;
        }
        Command::Proof(p) => {
            let proof = masa_workflows::prove(
                &p.dataset.location,
                &p.dataset.storage_options()?,
                &p.record_id,
            )
            .await
            .with_context(|| format!("proving {} in {}", p.record_id, p.dataset.location))?;
            let text = serde_json::to_string_pretty(&proof)?;
            match &p.output {
                Some(path) => std::fs::write(path, text + "\n")
                    .with_context(|| format!("writing {}", path.display()))?,
                None => println!("{text}"),
            }
        }
        Command::VerifyProof(v) => {
            let text = if v.proof.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&v.proof)
                    .with_context(|| format!("reading {}", v.proof.display()))?
            };
            let ok = match &v.dataset {
                Some(d) => {
                    masa_workflows::verify_proof_in(d, &Default::default(), &text, &v.trusted)
                        .await
                        .with_context(|| format!("verifying {} against {d}", v.proof.display()))?
                }
                None => masa_workflows::verify_proof(&text, &v.trusted)
                    .with_context(|| format!("verifying {}", v.proof.display()))?,
            };
            output::verified(&ok, v.json)?;
        }
        Command::Audit(a) => {
            let shard = match a.shard {
                Some(s) => s,
                None => masa_workflows::Shard::from_env()
                    .map_err(anyhow::Error::msg)?
                    .unwrap_or(masa_workflows::Shard::WHOLE),
            };
            let key = match &a.key {
                Some(k) => k.clone(),
                None => Config::load(&home)?.key_path(&home),
            };
            let since = match &a.since {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                ),
                None => None,
            };
            let report = masa_workflows::audit(masa_workflows::AuditOptions {
                dataset: a.dataset.location.clone(),
                storage: a.dataset.storage_options()?,
                key,
                home: home.clone(),
                since,
                sample: a.sample,
                refetch: a.refetch,
                allow_private: a.allow_private,
                shard,
                publish: !a.no_publish,
                epoch: a.epoch,
            })
            .await
            .with_context(|| format!("auditing {}", a.dataset.location))?;
            output::audit(&report, a.json)?;
            if !report.findings.is_empty() {
                anyhow::bail!("the audit found {} problem(s)", report.findings.len());
            }
        }
        other => protocol::run(other, &home).await?,
    }
    Ok(())
}

/// Caps glibc's malloc arenas. With one arena per thread, memory freed by one pipeline stage
/// stays reserved in its arena, and peak RSS grew with the corpus (508 MB at 100k documents,
/// 738 MB at 200k, measured ad hoc with /usr/bin/time); two arenas keep it flat (330 MB,
/// 352 MB). See BENCHMARKS.md.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only changes allocator tuning; it is called before any other thread
    // exists, and a failure (return 0) just leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let progress = match &cli.command {
        Command::Contribute(c) => c.run.progress(),
        Command::Crawl(c) => c.run.progress(),
        // Long audits report batches done as log lines.
        Command::Audit(a) if !a.json => ProgressMode::Log,
        _ => ProgressMode::Quiet,
    };
    init_logging(cli.verbose, progress);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! `masa contribute`: a connector's items into a dataset, resumable after a crash.

use crate::neardup::load_index;
use crate::runs::{app_id, app_id_prefix, read_run};
use crate::sink::DatasetSink;
use crate::splits::repair_index;
use crate::{Config, WorkflowError};
use masa_connectors::{BuildContext, SourceConfig};
use masa_dedup::{Dedup, ExactDedup, MinHashParams};
use masa_ingest::{PipelineConfig, ProgressMode, StatsSnapshot};
use masa_storage::{Dataset, StorageOptions};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct ContributeOptions {
    pub source: SourceConfig,
    pub dataset: String,
    pub storage: StorageOptions,
    /// The masa home holding the configuration and key.
    pub home: PathBuf,
    pub batch_rows: usize,
    pub batch_bytes: usize,
    pub progress: ProgressMode,
    /// Near-duplicate removal against everything committed and the run itself; `None`
    /// turns it off (exact dedup always runs).
    pub near_dup: Option<NearDupOptions>,
    /// Quality thresholds, and whether failing texts are dropped.
    pub quality: masa_ingest::QualityConfig,
}

/// MinHash LSH settings for near-duplicate removal.
#[derive(Debug, Clone, Copy)]
pub struct NearDupOptions {
    pub params: MinHashParams,
    /// Minimum estimated containment (the share of a newcomer's shingles that an earlier
    /// document holds) for a candidate to count as a near duplicate.
    pub threshold: f64,
}

/// The default verification threshold: a newcomer is a near duplicate of an earlier document
/// that holds at least 60 % of its word 3-grams. A copy with a tenth of its words edited
/// keeps about 73 % of its 3-grams; distinct pages that share a template or quote a long
/// passage share at most about 45 % on the labeled sets. Chosen by the sweep in
/// BENCHMARKS.md on the tuning half only.
pub const DEFAULT_NEAR_DUP_THRESHOLD: f64 = 0.6;

impl Default for NearDupOptions {
    fn default() -> Self {
        NearDupOptions {
            params: MinHashParams::default(),
            threshold: DEFAULT_NEAR_DUP_THRESHOLD,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ContributeSummary {
    pub dataset: String,
    pub app_id: String,
    pub contributor: String,
    /// The run continued an interrupted one.
    pub resumed: bool,
    pub stats: StatsSnapshot,
    pub table_version: Option<i64>,
}

/// Runs one contribution. Everything that can be checked is checked before anything is
/// written; batches commit one at a time, and a run that stops for any reason (including
/// SIGKILL) resumes after its last commit when started again.
pub async fn contribute(opts: ContributeOptions) -> Result<ContributeSummary, WorkflowError> {
    let config = Config::load(&opts.home)?;
    let key = Arc::new(config.load_key(&opts.home)?);
    let contributor = key.public_hex();

    let ctx = BuildContext {
        declaration: config.declaration.clone(),
        credentials: config.credentials.clone(),
    };
    let mut connector = opts.source.build(&ctx)?;
    // The source is checked first: a bad input fails before the dataset is even created.
    connector.check().await?;

    let dataset = Dataset::create_or_open(&opts.dataset, &opts.storage).await?;
    let app_id = app_id(connector.kind(), &contributor, &connector.source_id());
    let dataset_url = dataset.url().to_string();

    let (resume, next_version) = match dataset.txn_version(&app_id).await? {
        None => (None, 0),
        Some(v) => {
            let last = read_run(&dataset, &app_id, v).await?;
            if last.complete {
                if let Some(cp) = last.checkpoint {
                    connector.previous_run(cp);
                }
                (None, v + 1)
            } else {
                tracing::info!(app_id = %app_id, version = v, "resuming an interrupted run after its last commit");
                (last.checkpoint, v + 1)
            }
        }
    };
    let resumed = resume.is_some();

    let mut exact = ExactDedup::new();
    for file in dataset.committed_files()? {
        for batch in dataset.read_file(&file, Some(&["content_hash"])).await? {
            let col = masa_record::column::<masa_storage::arrow::array::StringArray>(
                &batch,
                "content_hash",
            )
            .map_err(|e| WorkflowError::Corrupt {
                path: file.path.clone(),
                reason: e.to_string(),
            })?;
            for h in col.iter().flatten() {
                exact.insert(h).map_err(|e| WorkflowError::Corrupt {
                    path: file.path.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
    }
    tracing::debug!(
        hashes = exact.len(),
        "exact-dedup state loaded from the table"
    );
    let near = match opts.near_dup {
        Some(nd) => Some(load_index(&dataset, nd.params, nd.threshold).await?),
        None => None,
    };
    let dedup = Dedup { exact, near };

    let manifest = repair_index(&dataset).await?;

    let sink = DatasetSink {
        dataset,
        key: key.clone(),
        app_id: app_id.clone(),
        connector: connector.kind().to_owned(),
        next_version,
        manifest,
        minhash: opts.near_dup.map(|nd| nd.params),
        // Plain data with string keys: serializing cannot fail.
        source: serde_json::to_value(&opts.source).expect("a source config serializes"),
    };
    let mut pc = PipelineConfig::new(contributor.clone());
    pc.batch_rows = opts.batch_rows.max(1);
    pc.batch_bytes = opts.batch_bytes.max(1);
    pc.progress = opts.progress;
    pc.quality = Arc::new(opts.quality);
    let (stats, sink) = masa_ingest::run(connector, resume, dedup, sink, pc).await?;
    let table_version = sink.dataset.table_version();
    Ok(ContributeSummary {
        dataset: dataset_url,
        app_id,
        contributor,
        resumed,
        stats,
        table_version,
    })
}

/// The source of this contributor's interrupted run of connector `kind` in the dataset:
/// what `masa crawl --resume` continues. Fails when there is none, or more than one.
pub async fn interrupted_source(
    dataset: &str,
    storage: &StorageOptions,
    home: &std::path::Path,
    kind: &str,
) -> Result<SourceConfig, WorkflowError> {
    let config = Config::load(home)?;
    let contributor = config.load_key(home)?.public_hex();
    let ds = Dataset::open(dataset, storage).await?;
    let mut found = Vec::new();
    let prefix = app_id_prefix(kind);
    let mut apps: Vec<String> = ds
        .list("runs")
        .await?
        .iter()
        .filter_map(|p| p.split('/').nth(1).map(str::to_owned))
        .filter(|a| a.starts_with(&prefix))
        .collect();
    apps.sort();
    apps.dedup();
    for app in apps {
        let Some(v) = ds.txn_version(&app).await? else {
            continue;
        };
        let last = read_run(&ds, &app, v).await?;
        if last.complete || last.contributor != contributor {
            continue;
        }
        if let Some(src) = last.source {
            found.push(serde_json::from_value::<SourceConfig>(src).map_err(|e| {
                WorkflowError::Other(format!("run {app}: unreadable source configuration: {e}"))
            })?);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(WorkflowError::Other(format!(
            "{dataset}: no interrupted {kind} run of yours to resume (finished runs start again when given their seeds)"
        ))),
        n => Err(WorkflowError::Other(format!(
            "{dataset}: {n} interrupted {kind} runs of yours; resume one by giving its seeds and scope again"
        ))),
    }
}

/// What a source yields, read to the end without writing anything (`masa crawl --dry-run`).
#[derive(Debug, Clone, Serialize)]
pub struct PreviewSummary {
    pub items: u64,
    /// Bytes of item bodies (decoded pages, for the crawler).
    pub bytes: u64,
    /// Skipped inputs by reason.
    pub skips: std::collections::BTreeMap<String, u64>,
    /// The connector's own summary (the crawler's per-host statistics).
    pub source: Option<serde_json::Value>,
}

/// Runs a source to the end and counts what it yields; nothing is extracted or written.
pub async fn preview(source: &SourceConfig) -> Result<PreviewSummary, WorkflowError> {
    let ctx = BuildContext {
        declaration: String::new(),
        credentials: Default::default(),
    };
    let mut connector = source.build(&ctx)?;
    connector.check().await?;
    let progress = connector.progress();
    let (tx, mut rx) = masa_connectors::ItemSender::channel(256, 64 << 20);
    let run = tokio::spawn(connector.run(None, tx));
    let mut out = PreviewSummary {
        items: 0,
        bytes: 0,
        skips: Default::default(),
        source: None,
    };
    while let Some(e) = rx.recv().await {
        match e.into_event() {
            masa_connectors::SourceEvent::Item(i) => {
                out.items += 1;
                out.bytes += i.body.len() as u64;
            }
            masa_connectors::SourceEvent::Skip(s) => {
                *out.skips.entry(s.reason.to_owned()).or_default() += 1;
            }
        }
    }
    run.await
        .map_err(|e| WorkflowError::Other(format!("the source task failed: {e}")))??;
    out.source = progress.map(|p| p.summary());
    Ok(out)
}

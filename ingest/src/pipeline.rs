//! The streaming pipeline: source → extract → dedup + batch → commit, each stage a task,
//! connected by bounded channels so memory stays flat whatever the input size.
//!
//! Order is preserved end to end, so the checkpoint of a committed batch is the checkpoint of
//! the last input it accounts for, and resuming from it loses nothing and repeats nothing.

use crate::progress::{ProgressMode, Reporter};
use crate::{RunStats, StatsSnapshot, to_record};
use masa_connectors::{Connector, ConnectorError, SourceEvent};
use masa_dedup::ExactDedup;
use masa_record::Record;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Rows per committed batch (one Parquet file, one index split, one Delta commit).
pub const DEFAULT_BATCH_ROWS: usize = 10_000;
/// Bytes of text per committed batch, whichever limit is reached first.
pub const DEFAULT_BATCH_BYTES: usize = 64 << 20;

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Hex public key of the contributor.
    pub contributor: String,
    pub batch_rows: usize,
    pub batch_bytes: usize,
    /// Capacity of each channel between stages.
    pub channel_capacity: usize,
    pub progress: ProgressMode,
}

impl PipelineConfig {
    pub fn new(contributor: String) -> Self {
        PipelineConfig {
            contributor,
            batch_rows: DEFAULT_BATCH_ROWS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            channel_capacity: 1024,
            progress: ProgressMode::Quiet,
        }
    }
}

/// A batch ready to commit, with everything the run has accounted for since the last one.
#[derive(Debug)]
pub struct PendingBatch {
    /// `batch_id` and `row_in_batch` are left for the sink to assign.
    pub records: Vec<Record>,
    /// Drops since the previous batch, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Connector checkpoint after the last input this batch accounts for; `None` when the run
    /// saw no input at all.
    pub checkpoint: Option<serde_json::Value>,
    /// The source is exhausted: this is the run's last batch.
    pub complete: bool,
}

/// What a sink reports for a commit.
#[derive(Debug, Clone, Copy)]
pub struct CommitInfo {
    pub rows: u64,
    pub text_bytes: u64,
}

/// Where batches go. The workflow implements it over storage, index and provenance; a commit
/// is all-or-nothing.
#[async_trait::async_trait]
pub trait BatchSink: Send {
    async fn commit(&mut self, batch: PendingBatch) -> Result<CommitInfo, SinkError>;
}

/// A boxed error, so sinks can fail with their own error types.
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("commit failed: {0}")]
    Sink(SinkError),
    #[error("dedup failed: {0}")]
    Dedup(#[from] masa_dedup::HashError),
    #[error("pipeline stage {stage} stopped unexpectedly: {message}")]
    Stage {
        stage: &'static str,
        message: String,
    },
}

enum Flow {
    Row(Box<Record>, serde_json::Value),
    Drop(String, serde_json::Value),
}

/// Extract stage: CPU-bound, so it runs on a blocking thread.
fn extract_stage(
    mut rx: mpsc::Receiver<SourceEvent>,
    tx: mpsc::Sender<Flow>,
    contributor: String,
    stats: Arc<RunStats>,
) {
    while let Some(ev) = rx.blocking_recv() {
        stats.item_seen();
        let flow = match ev {
            SourceEvent::Skip(s) => {
                tracing::warn!(uri = %s.uri, reason = s.reason, "{}", s.detail);
                Flow::Drop(s.reason.to_owned(), s.checkpoint)
            }
            SourceEvent::Item(item) => {
                let cp = item.checkpoint.clone();
                let uri = item.uri.clone();
                match to_record(item, &contributor) {
                    Ok(r) => Flow::Row(Box::new(r), cp),
                    Err(reason) => {
                        tracing::debug!(uri = %uri, reason, "item dropped");
                        Flow::Drop(reason.to_owned(), cp)
                    }
                }
            }
        };
        if tx.blocking_send(flow).is_err() {
            return;
        }
    }
}

struct Batcher {
    records: Vec<Record>,
    bytes: usize,
    drops: BTreeMap<String, u64>,
    checkpoint: Option<serde_json::Value>,
}

impl Batcher {
    fn take(&mut self, complete: bool) -> PendingBatch {
        self.bytes = 0;
        PendingBatch {
            records: std::mem::take(&mut self.records),
            drops: std::mem::take(&mut self.drops),
            checkpoint: self.checkpoint.clone(),
            complete,
        }
    }
}

/// Runs `connector` (resuming after `resume`) through the pipeline into `sink`. Returns the
/// run's statistics. On error, batches committed before it stay committed (and the run can
/// resume after them); the batch in flight is not committed.
pub async fn run<S: BatchSink + 'static>(
    connector: Box<dyn Connector>,
    resume: Option<serde_json::Value>,
    mut dedup: ExactDedup,
    mut sink: S,
    config: PipelineConfig,
) -> Result<StatsSnapshot, PipelineError> {
    let stats = Arc::new(RunStats::default());
    let reporter = Reporter::start(config.progress, stats.clone());
    let cap = config.channel_capacity.max(1);

    let (src_tx, src_rx) = mpsc::channel(cap);
    let (flow_tx, mut flow_rx) = mpsc::channel(cap);
    // One batch may wait while another commits: extraction continues during a commit.
    let (batch_tx, mut batch_rx) = mpsc::channel::<PendingBatch>(1);

    let source = tokio::spawn(connector.run(resume, src_tx));
    let extract = {
        let stats = stats.clone();
        let contributor = config.contributor.clone();
        tokio::task::spawn_blocking(move || extract_stage(src_rx, flow_tx, contributor, stats))
    };
    let committer = {
        let stats = stats.clone();
        tokio::spawn(async move {
            while let Some(batch) = batch_rx.recv().await {
                let info = sink.commit(batch).await.map_err(PipelineError::Sink)?;
                stats.committed(info.rows, info.text_bytes);
                tracing::info!(rows = info.rows, "batch committed");
            }
            Ok::<(), PipelineError>(())
        })
    };

    // Dedup and batching run here, in order.
    let mut b = Batcher {
        records: Vec::new(),
        bytes: 0,
        drops: BTreeMap::new(),
        checkpoint: None,
    };
    let mut result: Result<(), PipelineError> = Ok(());
    while let Some(flow) = flow_rx.recv().await {
        match flow {
            Flow::Drop(reason, cp) => {
                stats.dropped(&reason);
                *b.drops.entry(reason).or_default() += 1;
                b.checkpoint = Some(cp);
            }
            Flow::Row(r, cp) => {
                b.checkpoint = Some(cp);
                match dedup.insert(&r.content_hash) {
                    Err(e) => {
                        result = Err(e.into());
                        break;
                    }
                    Ok(false) => {
                        stats.dropped("dedup:exact");
                        *b.drops.entry("dedup:exact".into()).or_default() += 1;
                    }
                    Ok(true) => {
                        b.bytes += r.text.len();
                        b.records.push(*r);
                    }
                }
            }
        }
        let full = b.records.len() >= config.batch_rows || b.bytes >= config.batch_bytes;
        if full && batch_tx.send(b.take(false)).await.is_err() {
            break; // The committer failed; its error is reported below.
        }
    }
    drop(flow_rx);

    let source_result = source.await.map_err(|e| PipelineError::Stage {
        stage: "source",
        message: e.to_string(),
    })?;
    // The final batch marks the run complete, and is committed even when empty so the drops
    // it accounts for are recorded. It is committed only if the source finished cleanly.
    if result.is_ok() && source_result.is_ok() {
        let _ = batch_tx.send(b.take(true)).await;
    }
    drop(batch_tx);
    let commit_result = committer.await.map_err(|e| PipelineError::Stage {
        stage: "commit",
        message: e.to_string(),
    })?;
    extract.await.map_err(|e| PipelineError::Stage {
        stage: "extract",
        message: e.to_string(),
    })?;
    reporter.finish().await;

    // Report the root cause: a sink failure closes the channels and makes the source see
    // `Closed`, so that is not the error to show.
    commit_result?;
    result?;
    match source_result {
        Err(ConnectorError::Closed) => {
            return Err(PipelineError::Stage {
                stage: "source",
                message: "the pipeline closed early".into(),
            });
        }
        other => other?,
    }
    Ok(stats.snapshot())
}

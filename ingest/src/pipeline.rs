//! The streaming pipeline: source → extract → dedup + batch → commit, each stage a task,
//! connected by bounded channels so memory stays flat whatever the input size.
//!
//! Order is preserved end to end, so the checkpoint of a committed batch is the checkpoint of
//! the last input it accounts for, and resuming from it loses nothing and repeats nothing.

use crate::progress::{ProgressMode, Reporter};
use crate::{QualityConfig, RunStats, StatsSnapshot, to_record};
use masa_connectors::{BudgetShare, Budgeted, Connector, ConnectorError, ItemSender, SourceEvent};
use masa_dedup::{Dedup, MinHasher, Sketch};
use masa_record::{Checkpoint, Record};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Rows per committed batch (one Parquet file, one index split, one Delta commit).
pub const DEFAULT_BATCH_ROWS: usize = 10_000;
/// Bytes of text per committed batch, whichever limit is reached first.
pub const DEFAULT_BATCH_BYTES: usize = 64 << 20;
/// Bytes of item bodies in flight before extraction.
pub const DEFAULT_BUDGET_BYTES: u32 = 128 << 20;

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Hex public key of the contributor.
    pub contributor: String,
    pub batch_rows: usize,
    pub batch_bytes: usize,
    /// Capacity of the channel from the connector, in items.
    pub channel_capacity: usize,
    /// Threads extracting text in parallel (order is preserved).
    pub extract_workers: usize,
    /// Bytes of item bodies that may be in flight between the connector and extraction.
    pub budget_bytes: u32,
    pub progress: ProgressMode,
    /// Quality thresholds, and whether failing texts are dropped.
    pub quality: Arc<QualityConfig>,
}

impl PipelineConfig {
    pub fn new(contributor: String) -> Self {
        PipelineConfig {
            contributor,
            batch_rows: DEFAULT_BATCH_ROWS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            channel_capacity: 64,
            budget_bytes: DEFAULT_BUDGET_BYTES,
            extract_workers: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
            progress: ProgressMode::Quiet,
            quality: Arc::default(),
        }
    }
}

/// A batch ready to commit, with everything the run has accounted for since the last one.
#[derive(Debug)]
pub struct PendingBatch {
    /// `batch_id` and `row_in_batch` are left for the sink to assign.
    pub records: Vec<Record>,
    /// The MinHash sketch of each record, in the same order (`None` for a text too short
    /// to have one); empty when near-duplicate removal is off.
    pub signatures: Vec<Option<Sketch>>,
    /// Drops since the previous batch, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Connector checkpoint after the last input this batch accounts for; `None` when the run
    /// saw no input at all.
    pub checkpoint: Option<serde_json::Value>,
    /// The source is exhausted: this is the run's last batch.
    pub complete: bool,
    /// Dropped records with their reason, when the run keeps rejects for inspection.
    pub rejects: Vec<(Record, String)>,
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
    Row(Box<Record>, Option<Sketch>, Checkpoint),
    /// A dropped input: its reason, and its record when it got that far.
    Drop(String, Option<Box<Record>>, Checkpoint),
}

/// Inputs per chunk handed to an extract worker: large enough to make channel hand-offs
/// rare, small enough to keep memory flat. A chunk also closes once it holds this many bytes.
const CHUNK_ITEMS: usize = 64;
const CHUNK_BYTES: usize = 1 << 20;

/// Cuts the source stream into chunks and deals them to the workers in turn: chunk `k` goes
/// to worker `k % n`, so reading the workers' outputs in the same turn restores the order.
fn dispatch(mut rx: mpsc::Receiver<Budgeted>, workers: Vec<mpsc::Sender<Vec<Budgeted>>>) {
    let mut k = 0;
    while let Some(first) = rx.blocking_recv() {
        let mut bytes = first.event.body_len();
        let mut chunk = vec![first];
        while chunk.len() < CHUNK_ITEMS && bytes < CHUNK_BYTES {
            match rx.try_recv() {
                Ok(e) => {
                    bytes += e.event.body_len();
                    chunk.push(e);
                }
                Err(_) => break,
            }
        }
        if workers[k % workers.len()].blocking_send(chunk).is_err() {
            return;
        }
        k += 1;
    }
}

/// An extract worker: CPU-bound, so it runs on a blocking thread.
fn extract_worker(
    mut rx: mpsc::Receiver<Vec<Budgeted>>,
    tx: mpsc::Sender<(Vec<Flow>, Vec<BudgetShare>)>,
    contributor: String,
    quality: Arc<QualityConfig>,
    hasher: Option<MinHasher>,
    stats: Arc<RunStats>,
) {
    while let Some(chunk) = rx.blocking_recv() {
        // Each item's share of the byte budget travels with its output and is returned once
        // the batcher has taken the chunk, so extracted text counts against the budget too.
        let mut shares = Vec::with_capacity(chunk.len());
        let flows = chunk
            .into_iter()
            .map(|b| {
                let (ev, share) = b.split();
                shares.push(share);
                stats.item_seen();
                match ev {
                    SourceEvent::Skip(s) => {
                        tracing::warn!(uri = %s.uri, reason = s.reason, "{}", s.detail);
                        Flow::Drop(s.reason.to_owned(), None, s.checkpoint)
                    }
                    SourceEvent::Item(item) => {
                        let cp = item.checkpoint.clone();
                        let uri = item.uri.clone();
                        match to_record(item, &contributor, &quality) {
                            Ok(r) => {
                                let sig = hasher.as_ref().and_then(|h| h.sketch(&r.text));
                                Flow::Row(Box::new(r), sig, cp)
                            }
                            Err(dropped) => {
                                tracing::debug!(uri = %uri, reason = %dropped.reason, "item dropped");
                                Flow::Drop(dropped.reason, dropped.record, cp)
                            }
                        }
                    }
                }
            })
            .collect();
        if tx.blocking_send((flows, shares)).is_err() {
            return;
        }
    }
}

struct Batcher {
    records: Vec<Record>,
    signatures: Vec<Option<Sketch>>,
    bytes: usize,
    drops: BTreeMap<String, u64>,
    checkpoint: Option<Checkpoint>,
    /// Dropped records, kept only when the run writes rejects.
    rejects: Option<Vec<(Record, String)>>,
}

impl Batcher {
    fn drop_input(&mut self, reason: &str, stats: &RunStats) {
        stats.dropped(reason);
        *self.drops.entry(reason.to_owned()).or_default() += 1;
    }

    /// Drops a record, keeping it as a reject when asked to.
    fn reject(&mut self, r: Record, reason: &str, stats: &RunStats) {
        self.drop_input(reason, stats);
        if let Some(rejects) = &mut self.rejects {
            rejects.push((r, reason.to_owned()));
        }
    }

    fn take(&mut self, complete: bool) -> PendingBatch {
        self.bytes = 0;
        PendingBatch {
            records: std::mem::take(&mut self.records),
            signatures: std::mem::take(&mut self.signatures),
            drops: std::mem::take(&mut self.drops),
            checkpoint: self.checkpoint.as_ref().map(Checkpoint::to_value),
            complete,
            rejects: self
                .rejects
                .as_mut()
                .map(std::mem::take)
                .unwrap_or_default(),
        }
    }
}

/// Runs `connector` (resuming after `resume`) through the pipeline into `sink`. Returns the
/// run's statistics and the sink, whose state (e.g. the table version it reached) is then the
/// caller's again. On error, batches committed before it stay committed (and the run can
/// resume after them); the batch in flight is not committed.
pub async fn run<S: BatchSink + 'static>(
    connector: Box<dyn Connector>,
    resume: Option<serde_json::Value>,
    mut dedup: Dedup,
    mut sink: S,
    config: PipelineConfig,
) -> Result<(StatsSnapshot, S), PipelineError> {
    let stats = Arc::new(RunStats::default());
    let source_progress = connector.progress();
    let reporter = Reporter::start(config.progress, stats.clone(), source_progress.clone());
    let cap = config.channel_capacity.max(1);

    let (src_tx, src_rx) = ItemSender::channel(cap, config.budget_bytes);
    // One batch may wait while another commits: extraction continues during a commit.
    let (batch_tx, mut batch_rx) = mpsc::channel::<PendingBatch>(1);

    let source = tokio::spawn(connector.run(resume, src_tx));
    // Extraction runs on several workers; their outputs are read back in dealing order.
    let mut extract = Vec::new();
    let mut worker_txs = Vec::new();
    let mut outputs = Vec::new();
    for _ in 0..config.extract_workers.max(1) {
        let (in_tx, in_rx) = mpsc::channel(2);
        let (out_tx, out_rx) = mpsc::channel(2);
        let stats = stats.clone();
        let contributor = config.contributor.clone();
        let quality = config.quality.clone();
        let hasher = dedup.near.as_ref().map(|i| MinHasher::new(*i.params()));
        extract.push(tokio::task::spawn_blocking(move || {
            extract_worker(in_rx, out_tx, contributor, quality, hasher, stats)
        }));
        worker_txs.push(in_tx);
        outputs.push(out_rx);
    }
    extract.push(tokio::task::spawn_blocking(move || {
        dispatch(src_rx, worker_txs)
    }));
    let committer = {
        let stats = stats.clone();
        tokio::spawn(async move {
            while let Some(batch) = batch_rx.recv().await {
                let info = sink.commit(batch).await.map_err(PipelineError::Sink)?;
                stats.committed(info.rows, info.text_bytes);
                tracing::info!(rows = info.rows, "batch committed");
            }
            Ok::<S, PipelineError>(sink)
        })
    };

    // Dedup and batching run here, in order.
    let mut b = Batcher {
        records: Vec::new(),
        signatures: Vec::new(),
        bytes: 0,
        drops: BTreeMap::new(),
        checkpoint: None,
        rejects: config.quality.keep_rejects.then(Vec::new),
    };
    let mut result: Result<(), PipelineError> = Ok(());
    let mut turn = 0;
    let workers = outputs.len();
    'chunks: while let Some((chunk, _shares)) = outputs[turn % workers].recv().await {
        turn += 1;
        for flow in chunk {
            match flow {
                Flow::Drop(reason, record, cp) => {
                    match record {
                        Some(r) => b.reject(*r, &reason, &stats),
                        None => b.drop_input(&reason, &stats),
                    }
                    b.checkpoint = Some(cp);
                }
                Flow::Row(r, sig, cp) => {
                    b.checkpoint = Some(cp);
                    match dedup.exact.insert(&r.content_hash) {
                        Err(e) => {
                            result = Err(e.into());
                            break 'chunks;
                        }
                        Ok(false) => b.reject(*r, "dedup:exact", &stats),
                        Ok(true) => {
                            let near = match (&mut dedup.near, &sig) {
                                (Some(index), Some(sig)) => {
                                    index.insert_unless_near_duplicate(sig.as_ref()).err()
                                }
                                _ => None,
                            };
                            if let Some(m) = near {
                                tracing::debug!(
                                    uri = %r.uri,
                                    of_doc = m.doc,
                                    jaccard = m.similarity.jaccard,
                                    containment = m.similarity.containment,
                                    "near-duplicate dropped"
                                );
                                b.reject(*r, "dedup:near", &stats);
                            } else {
                                b.bytes += r.text.len();
                                b.records.push(*r);
                                if dedup.near.is_some() {
                                    b.signatures.push(sig);
                                }
                            }
                        }
                    }
                }
            }
            let full = b.records.len() >= config.batch_rows || b.bytes >= config.batch_bytes;
            if full && batch_tx.send(b.take(false)).await.is_err() {
                break 'chunks; // The committer failed; its error is reported below.
            }
        }
    }
    drop(outputs);
    // A stage that panicked closed its channel early, which looks like the end of the input:
    // it must not be taken for a complete run.
    for task in extract {
        if let Err(e) = task.await {
            result = result.and(Err(PipelineError::Stage {
                stage: "extract",
                message: e.to_string(),
            }));
        }
    }

    // A panicked source is an error like any other, reported after the committer stopped.
    let source_result = source.await.unwrap_or_else(|e| {
        Err(ConnectorError::Config {
            kind: "source",
            message: format!("the connector task failed: {e}"),
        })
    });
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
    reporter.finish().await;

    // Report the root cause: a sink failure closes the channels and makes the source see
    // `Closed`, so that is not the error to show.
    let sink = commit_result?;
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
    let mut snapshot = stats.snapshot();
    snapshot.source = source_progress.map(|p| p.summary());
    Ok((snapshot, sink))
}

#[cfg(test)]
mod tests {
    use super::*;
    use masa_connectors::{BuildContext, FilesConfig, SourceConfig};
    use std::sync::Mutex;

    /// Keeps what it is given; fails on commit number `fail_at` when set.
    struct Collect {
        batches: Arc<Mutex<Vec<PendingBatch>>>,
        fail_at: Option<usize>,
    }

    #[async_trait::async_trait]
    impl BatchSink for Collect {
        async fn commit(&mut self, batch: PendingBatch) -> Result<CommitInfo, SinkError> {
            let mut b = self.batches.lock().unwrap();
            if Some(b.len()) == self.fail_at {
                return Err("storage is down".into());
            }
            let info = CommitInfo {
                rows: batch.records.len() as u64,
                text_bytes: 0,
            };
            b.push(batch);
            Ok(info)
        }
    }

    async fn run_lines(
        n: usize,
        fail_at: Option<usize>,
    ) -> (Result<StatsSnapshot, PipelineError>, Vec<PendingBatch>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.jsonl");
        let body: String = (0..n)
            .map(|i| format!("{{\"id\": {i}, \"text\": \"line {i} of the test corpus\"}}\n"))
            .collect();
        std::fs::write(&path, body).unwrap();
        let source = SourceConfig::Files(FilesConfig::new(&path))
            .build(&BuildContext {
                declaration: "mine".into(),
                credentials: Default::default(),
            })
            .unwrap();
        let batches = Arc::new(Mutex::new(Vec::new()));
        let sink = Collect {
            batches: batches.clone(),
            fail_at,
        };
        let mut config = PipelineConfig::new("key".into());
        config.batch_rows = 7;
        config.extract_workers = 3;
        config.channel_capacity = 5;
        let result = run(source, None, Dedup::default(), sink, config)
            .await
            .map(|(stats, _sink)| stats);
        let b = std::mem::take(&mut *batches.lock().unwrap());
        (result, b)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn order_is_kept_across_workers_and_batches() {
        let (result, batches) = run_lines(1000, None).await;
        let stats = result.unwrap();
        assert_eq!(stats.rows_committed, 1000);
        let ids: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                b.records
                    .iter()
                    .map(|r| r.uri.rsplit('=').next().unwrap().to_owned())
            })
            .collect();
        let want: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        assert_eq!(ids, want);
        // Each batch's checkpoint is the position after its last line; only the last is complete.
        for b in &batches[..batches.len() - 1] {
            let last = b
                .records
                .last()
                .unwrap()
                .uri
                .rsplit('=')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap();
            assert_eq!(b.checkpoint.as_ref().unwrap()["line"], last + 1);
            assert!(!b.complete);
        }
        assert!(batches.last().unwrap().complete);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_sink_fails_the_run_and_nothing_is_marked_complete() {
        let (result, batches) = run_lines(1000, Some(3)).await;
        assert!(matches!(result, Err(PipelineError::Sink(_))), "{result:?}");
        assert_eq!(batches.len(), 3);
        assert!(batches.iter().all(|b| !b.complete));
    }
}

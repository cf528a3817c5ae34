//! `masa dedup`: near-duplicate removal over a whole dataset, staged so it scales past one
//! machine's memory and one machine's time.
//!
//! Stages, each writing its output under `dedup/jobs/<job>/` on the dataset's store:
//! 1. **plan** (one task): the batches to dedup, in log order, pinned to a table version.
//! 2. **signatures** (sharded by batch): every planned batch has a valid signature file
//!    (shared with `contribute`, under `dedup/minhash/`); missing ones are computed.
//! 3. **buckets** (sharded by band): documents bucketed by band key; each member of a
//!    bucket verified against earlier members on their sketches (is at least the
//!    threshold's share of it held by an earlier one?); pairs written per band, with the
//!    estimated Jaccard and containment.
//! 4. **clusters** (one task): union-find over every band's pairs; one document kept per
//!    cluster (earliest in log order, or highest quality score), the rest listed for removal.
//! 5. **filter** (sharded by batch): each affected batch's file replaced by one without the
//!    removed rows, in one Delta commit per shard; its signatures and index split follow.
//!
//! Documents are named `(batch, row_in_batch)` throughout, which no stage renumbers. Every
//! intermediate is a checksummed object naming its job and the plan's hash, and every
//! stage checks that all of its inputs exist: a missing or corrupt intermediate stops the
//! job with the object's name, never yields a partial answer.

use crate::WorkflowError;
use crate::contribute::NearDupOptions;
use crate::layout::sig_path;
use crate::neardup::batch_signatures;
use crate::splits::repair_index;
use masa_dedup::{
    Blob, MAX_BUCKET_CHECKS, MinHashParams, SigFile, SigValue, Similarity, SketchRef, UnionFind,
    band_key, similarity,
};
use masa_record::column;
use masa_storage::arrow::array::{Array, Float64Array, Int64Array, StringArray};
use masa_storage::{CommittedFile, Dataset, StorageOptions};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Which document of a near-duplicate cluster stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepPolicy {
    /// The first in log order: the earlier contribution earns the credit.
    Earliest,
    /// The highest `quality_score` (missing scores lowest); ties go to the earliest.
    Quality,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Plan,
    Signatures,
    Buckets,
    Clusters,
    Filter,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Plan,
        Stage::Signatures,
        Stage::Buckets,
        Stage::Clusters,
        Stage::Filter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Plan => "plan",
            Stage::Signatures => "signatures",
            Stage::Buckets => "buckets",
            Stage::Clusters => "clusters",
            Stage::Filter => "filter",
        }
    }
}

/// This task's share of a sharded stage: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parses `i/N` (0 ≤ i < N).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not of the form i/N"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| format!("{i:?} is not a number"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: need 0 ≤ i < N"));
        }
        Ok(Shard { index, count })
    }

    /// The shard a batch scheduler assigned: Slurm array tasks, or a Kubernetes indexed
    /// job (with `MASA_SHARD_COUNT` for the count). `None` outside one.
    pub fn from_env() -> Result<Option<Shard>, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let pair = match (
            var("SLURM_ARRAY_TASK_ID"),
            var("SLURM_ARRAY_TASK_COUNT"),
            var("JOB_COMPLETION_INDEX"),
        ) {
            (Some(i), Some(n), _) => (i, n),
            (_, _, Some(i)) => match var("MASA_SHARD_COUNT") {
                Some(n) => (i, n),
                None => {
                    return Err(
                        "JOB_COMPLETION_INDEX is set but MASA_SHARD_COUNT is not: set it to \
                         the job's completions"
                            .into(),
                    );
                }
            },
            _ => return Ok(None),
        };
        Shard::parse(&format!("{}/{}", pair.0, pair.1)).map(Some)
    }

    pub(crate) fn owns(self, i: usize) -> bool {
        i % self.count == self.index
    }
}

#[derive(Debug, Clone)]
pub struct DedupOptions {
    pub dataset: String,
    pub storage: StorageOptions,
    pub near: NearDupOptions,
    pub keep: KeepPolicy,
    /// Stop after the clusters stage: report, change nothing in the table.
    pub dry_run: bool,
    /// Run one stage (of one shard); `None` runs them all here, in order.
    pub stage: Option<Stage>,
    /// The job to continue; required for every stage after `plan`.
    pub job: Option<String>,
    pub shard: Shard,
}

/// One document to remove, the one kept in its place, and the evidence: the document it
/// was matched with, how (`exact`: the same normalized text; `near`: estimated Jaccard at
/// the threshold or above; `contained`: only the containment is), and the estimates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Removal {
    pub batch_id: String,
    pub row: u32,
    pub record_id: String,
    pub contributor: String,
    pub kept: DocRef,
    pub matched: DocRef,
    pub kind: String,
    /// Of this document and `matched`; `containment` is the share of the later of the two
    /// that the earlier holds.
    pub similarity: Similarity,
}

/// A near-duplicate cluster as the report shows it: what stays and what goes, and why.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    pub kept: DocRef,
    pub removed: Vec<Removal>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DocRef {
    pub batch_id: String,
    pub row: u32,
    pub record_id: String,
    pub contributor: String,
}

/// What a `masa dedup` invocation did.
#[derive(Debug, Clone, Serialize)]
pub struct DedupReport {
    pub dataset: String,
    pub job: String,
    pub stages: Vec<&'static str>,
    pub shard: String,
    pub table_version: i64,
    pub documents: u64,
    /// Known once the clusters stage has run.
    pub clusters: Option<u64>,
    pub removed: Option<u64>,
    pub removed_by_contributor: BTreeMap<String, u64>,
    /// Every cluster with its removals and their evidence (largest clusters first).
    pub cluster_list: Vec<ClusterReport>,
    /// Signature-state bytes per document (the shared `dedup/minhash/` files).
    pub state_bytes_per_document: Option<f64>,
    pub dry_run: bool,
    /// Rows removed from the table by this invocation's filter stage.
    pub rows_removed_from_table: u64,
    /// Wall time of each stage run, in order.
    pub seconds: Vec<(&'static str, f64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct PlannedBatch {
    batch_id: String,
    path: String,
    size: u64,
    rows: u64,
    /// Where in `path` the batch's rows are, when `masa maintain` compacted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    row_groups: Option<(usize, usize)>,
    /// The batch's file before compaction (see [`CommittedFile::origin`]), when not `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
}

impl PlannedBatch {
    fn file(&self) -> CommittedFile {
        let whole = CommittedFile::new(self.origin(), self.size, Some(self.rows));
        match self.row_groups {
            Some(groups) => whole.moved(&self.path, self.size, groups),
            None => whole,
        }
    }

    /// The identity of the batch's rows: a compaction since the plan does not change it.
    fn origin(&self) -> &str {
        self.origin.as_deref().unwrap_or(&self.path)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Plan {
    job: String,
    table_version: i64,
    params: MinHashParams,
    threshold: f64,
    keep: KeepPolicy,
    /// In log order: a document's number is its batch's offset plus its position.
    batches: Vec<PlannedBatch>,
}

const PLAN_KIND: &[u8; 4] = b"PLN1";
const PAIRS_KIND: &[u8; 4] = b"PRS2";
/// A pair in a pairs object: earlier and later document keys, then the estimated Jaccard
/// and containment (of the later in the earlier) in millionths.
const PAIR_BYTES: usize = 24;
const CLUSTERS_KIND: &[u8; 4] = b"CLU1";

fn job_dir(job: &str) -> String {
    format!("dedup/jobs/{job}")
}

fn pairs_path(job: &str, band: usize) -> String {
    format!("{}/pairs/band-{band:03}.bin", job_dir(job))
}

fn clusters_path(job: &str) -> String {
    format!("{}/clusters.bin", job_dir(job))
}

/// A job's objects as loaded: the plan and its hash, which every later object names.
struct Job {
    plan: Plan,
    plan_sha256: String,
}

impl Job {
    fn documents(&self) -> u64 {
        self.plan.batches.iter().map(|b| b.rows).sum()
    }
}

/// A document's stable name in intermediates: its batch's index in the plan (high 32 bits)
/// and its `row_in_batch` (low 32). Ordering by it is log order.
fn doc_key(batch: usize, row: u32) -> u64 {
    (batch as u64) << 32 | u64::from(row)
}

fn split_key(key: u64) -> (usize, u32) {
    ((key >> 32) as usize, key as u32)
}

fn corrupt(path: &str, reason: impl Into<String>) -> WorkflowError {
    WorkflowError::Corrupt {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Reads and checks a job object: intact, of `kind`, and made for this plan; `None` when
/// there is no such object.
async fn read_job_blob(
    ds: &Dataset,
    path: &str,
    kind: &[u8; 4],
    plan_sha256: &str,
) -> Result<Option<Blob>, WorkflowError> {
    let Some(bytes) = ds.get(path).await? else {
        return Ok(None);
    };
    let blob = Blob::decode(&bytes, kind).map_err(|e| corrupt(path, e.reason))?;
    if blob.header["plan_sha256"] != plan_sha256 {
        return Err(corrupt(path, "made for another plan than this job's"));
    }
    Ok(Some(blob))
}

/// Runs `masa dedup`: all stages in order, or the one stage (and shard) asked for.
pub async fn dedup(opts: DedupOptions) -> Result<DedupReport, WorkflowError> {
    let mut ds = Dataset::open(&opts.dataset, &opts.storage).await?;
    let stages: Vec<Stage> = match opts.stage {
        Some(s) => vec![s],
        None if opts.dry_run => Stage::ALL[..4].to_vec(),
        None => Stage::ALL.to_vec(),
    };
    if opts.dry_run && opts.stage == Some(Stage::Filter) {
        return Err(WorkflowError::Other(
            "--dry-run and --stage filter contradict each other: filter changes the table".into(),
        ));
    }
    let mut report = DedupReport {
        dataset: ds.url().to_string(),
        job: String::new(),
        stages: stages.iter().map(|s| s.name()).collect(),
        shard: format!("{}/{}", opts.shard.index, opts.shard.count),
        table_version: 0,
        documents: 0,
        clusters: None,
        removed: None,
        removed_by_contributor: BTreeMap::new(),
        cluster_list: Vec::new(),
        state_bytes_per_document: None,
        dry_run: opts.dry_run,
        rows_removed_from_table: 0,
        seconds: Vec::new(),
    };
    let mut job: Option<Job> = None;
    for stage in stages {
        let started = std::time::Instant::now();
        tracing::info!(stage = stage.name(), "dedup stage starting");
        if stage == Stage::Plan {
            job = Some(plan(&ds, &opts).await?);
        } else {
            if job.is_none() {
                let id = opts.job.as_deref().ok_or_else(|| {
                    WorkflowError::Other(format!(
                        "--stage {} needs --job (the plan stage prints the job id)",
                        stage.name()
                    ))
                })?;
                job = Some(load_job(&ds, id).await?);
            }
            let j = job.as_ref().expect("loaded above");
            match stage {
                Stage::Plan => unreachable!("handled above"),
                Stage::Signatures => {
                    let bytes = signatures(&ds, j, opts.shard).await?;
                    if opts.shard == Shard::WHOLE && j.documents() > 0 {
                        report.state_bytes_per_document = Some(bytes as f64 / j.documents() as f64);
                    }
                }
                Stage::Buckets => buckets(&ds, j, opts.shard).await?,
                Stage::Clusters => clusters(&ds, j).await?,
                Stage::Filter => {
                    report.rows_removed_from_table = filter(&mut ds, j, opts.shard).await?;
                }
            }
        }
        report
            .seconds
            .push((stage.name(), started.elapsed().as_secs_f64()));
    }
    let j = job.expect("at least one stage ran");
    report.job = j.plan.job.clone();
    report.table_version = j.plan.table_version;
    report.documents = j.documents();
    // The clusters object, once written, is the job's answer: report it after any stage.
    if let Some((summary, removals)) = read_clusters(&ds, &j).await? {
        report.clusters = Some(summary.clusters);
        report.removed = Some(summary.removed);
        report.removed_by_contributor = summary.removed_by_contributor;
        report.cluster_list = cluster_list(removals);
    }
    Ok(report)
}

/// The job id of a plan: fixed by the table version and settings, so planning twice on an
/// unchanged table names the same job.
fn job_id(version: i64, near: &NearDupOptions, keep: KeepPolicy) -> String {
    let keep = match keep {
        KeepPolicy::Earliest => "earliest",
        KeepPolicy::Quality => "quality",
    };
    format!(
        "v{version}-{}-t{}-{keep}",
        near.params.tag(),
        (near.threshold * 1000.0).round() as u32
    )
}

async fn plan(ds: &Dataset, opts: &DedupOptions) -> Result<Job, WorkflowError> {
    let version = ds.table_version().unwrap_or(0);
    let files: HashMap<String, CommittedFile> = ds
        .committed_files()?
        .into_iter()
        .filter_map(|f| Some((f.batch_id.clone()?, f)))
        .collect();
    // Log order; batches whose commits left the log's retained history are older than
    // every retained one, so they come first.
    let ordered = ds.batch_commit_order().await?;
    let in_history: HashSet<&String> = ordered.iter().collect();
    let mut order: Vec<&String> = files.keys().filter(|b| !in_history.contains(b)).collect();
    order.sort();
    order.extend(ordered.iter().filter(|b| files.contains_key(*b)));
    let mut seen = HashSet::new();
    let batches = order
        .into_iter()
        .filter(|b| seen.insert(*b))
        .map(|b| {
            let f = &files[b];
            Ok(PlannedBatch {
                batch_id: b.clone(),
                path: f.path.clone(),
                size: f.size,
                row_groups: f.row_groups,
                origin: (f.origin != f.path).then(|| f.origin.clone()),
                rows: f
                    .num_records
                    .ok_or_else(|| corrupt(&f.path, "the table has no row count for this file"))?,
            })
        })
        .collect::<Result<Vec<_>, WorkflowError>>()?;
    if batches.len() > u32::MAX as usize {
        return Err(WorkflowError::Other(format!(
            "{} batches: a dedup job handles at most 2^32 - 1",
            batches.len()
        )));
    }
    let plan = Plan {
        job: opts
            .job
            .clone()
            .unwrap_or_else(|| job_id(version, &opts.near, opts.keep)),
        table_version: version,
        params: opts.near.params,
        threshold: opts.near.threshold,
        keep: opts.keep,
        batches,
    };
    let bytes = Blob {
        kind: *PLAN_KIND,
        header: serde_json::to_value(&plan).expect("plan serializes"),
        payload: Vec::new(),
    }
    .encode();
    let path = format!("{}/plan.bin", job_dir(&plan.job));
    // A job's plan never changes: its later stages' objects were made for it.
    if let Some(old) = ds.get(&path).await?
        && old != bytes
    {
        return Err(WorkflowError::Other(format!(
            "job {} already exists with another plan (the table or the settings changed \
             since): omit --job to name a new job after the table version, or pass a new id",
            plan.job
        )));
    }
    ds.put(&path, bytes.clone().into()).await?;
    Ok(job_of(plan, &bytes))
}

fn job_of(plan: Plan, plan_bytes: &[u8]) -> Job {
    Job {
        plan,
        plan_sha256: masa_record::sha256_hex(plan_bytes),
    }
}

async fn load_job(ds: &Dataset, id: &str) -> Result<Job, WorkflowError> {
    let path = format!("{}/plan.bin", job_dir(id));
    let bytes = ds.get(&path).await?.ok_or_else(|| {
        corrupt(
            &path,
            format!("no such job {id:?}: run the plan stage first (masa dedup --stage plan)"),
        )
    })?;
    let blob = Blob::decode(&bytes, PLAN_KIND).map_err(|e| corrupt(&path, e.reason))?;
    let plan: Plan =
        serde_json::from_value(blob.header).map_err(|e| corrupt(&path, e.to_string()))?;
    if plan.job != id {
        return Err(corrupt(&path, format!("holds job {}, not {id}", plan.job)));
    }
    Ok(job_of(plan, &bytes))
}

/// Makes sure every planned batch of this shard has a valid signature file; returns the
/// signature bytes of the shard's batches.
async fn signatures(ds: &Dataset, job: &Job, shard: Shard) -> Result<u64, WorkflowError> {
    use futures::{StreamExt, TryStreamExt};
    // Batches in parallel: each one's computation runs on a blocking thread.
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let sizes: Vec<u64> = futures::stream::iter(
        job.plan
            .batches
            .iter()
            .enumerate()
            .filter(|(i, _)| shard.owns(*i)),
    )
    .map(|(_, b)| async move {
        let sigs = batch_signatures(ds, &b.file(), job.plan.params).await?;
        Ok::<u64, WorkflowError>(sigs.encoded_len() as u64)
    })
    .buffer_unordered(parallel)
    .try_collect()
    .await?;
    Ok(sizes.iter().sum())
}

/// Loads a planned batch's signature file for a later stage: it must exist and match the
/// plan, or the signatures stage has not finished.
async fn planned_signatures(
    ds: &Dataset,
    job: &Job,
    b: &PlannedBatch,
) -> Result<SigFile, WorkflowError> {
    let path = sig_path(&job.plan.params, &b.batch_id);
    let bytes = ds.get(&path).await?.ok_or_else(|| {
        corrupt(
            &path,
            "missing: the signatures stage has not finished for this batch",
        )
    })?;
    let sigs = SigFile::decode(&bytes, &b.batch_id).map_err(|e| corrupt(&path, e.reason))?;
    if !sigs.describes(b.origin(), b.rows, &job.plan.params) {
        return Err(corrupt(
            &path,
            format!(
                "describes {} ({} rows), the plan has {} ({} rows): the signatures stage has \
                 not run for this plan, or the table changed since; plan a new job",
                sigs.data_file,
                sigs.data_rows,
                b.origin(),
                b.rows
            ),
        ));
    }
    Ok(sigs)
}

/// Buckets the documents of this shard's bands and writes each band's verified pairs.
///
/// Two passes over the signature files keep memory at 16 bytes a document per band of the
/// shard: the first keeps only `(band key, document)`; after sorting, the second fetches
/// the signatures of documents that share a bucket, the only ones verification needs.
async fn buckets(ds: &Dataset, job: &Job, shard: Shard) -> Result<(), WorkflowError> {
    let params = job.plan.params;
    let bands: Vec<usize> = (0..params.bands).filter(|b| shard.owns(*b)).collect();
    if bands.is_empty() {
        return Ok(());
    }
    let mut keyed: Vec<Vec<(u64, u64)>> = vec![Vec::new(); bands.len()];
    for (i, b) in job.plan.batches.iter().enumerate() {
        let f = planned_signatures(ds, job, b).await?;
        for (pos, row) in f.rows.iter().enumerate() {
            let sig = f.signature(pos);
            for (keys, band) in keyed.iter_mut().zip(&bands) {
                keys.push((band_key(sig, *band, params.rows), doc_key(i, *row)));
            }
        }
    }
    let mut wanted: HashSet<u64> = HashSet::new();
    for keys in &mut keyed {
        keys.sort_unstable();
        for bucket in keys.chunk_by(|a, b| a.0 == b.0).filter(|c| c.len() > 1) {
            wanted.extend(bucket.iter().map(|(_, d)| *d));
        }
    }
    let mut sketches: HashMap<u64, (Vec<SigValue>, u32)> = HashMap::with_capacity(wanted.len());
    let wanted_batches: BTreeSet<usize> = wanted.iter().map(|d| split_key(*d).0).collect();
    for i in wanted_batches {
        let f = planned_signatures(ds, job, &job.plan.batches[i]).await?;
        for (pos, row) in f.rows.iter().enumerate() {
            let key = doc_key(i, *row);
            if wanted.contains(&key) {
                sketches.insert(key, (f.signature(pos).to_vec(), f.shingles[pos]));
            }
        }
    }
    let sketch = |d: &u64| {
        let (sig, shingles) = &sketches[d];
        SketchRef {
            sig,
            shingles: *shingles,
        }
    };
    let threshold = job.plan.threshold;
    let ppm = |x: f64| (x * 1e6).round() as u32;
    for (keys, band) in keyed.into_iter().zip(bands) {
        let mut payload = Vec::new();
        let mut pairs = 0u64;
        for bucket in keys.chunk_by(|a, b| a.0 == b.0).filter(|c| c.len() > 1) {
            // Sorted by document too: each member is checked against the earliest ones, as
            // the streaming index does, and paired with the first that holds it.
            for (i, &(_, doc)) in bucket.iter().enumerate().skip(1) {
                let found = bucket[..i]
                    .iter()
                    .take(MAX_BUCKET_CHECKS)
                    .map(|(_, e)| (*e, similarity(sketch(&doc), sketch(e))))
                    .find(|(_, sim)| sim.is_near(threshold));
                if let Some((first, sim)) = found {
                    payload.extend_from_slice(&first.to_le_bytes());
                    payload.extend_from_slice(&doc.to_le_bytes());
                    payload.extend_from_slice(&ppm(sim.jaccard).to_le_bytes());
                    payload.extend_from_slice(&ppm(sim.containment).to_le_bytes());
                    pairs += 1;
                }
            }
        }
        let blob = Blob {
            kind: *PAIRS_KIND,
            header: serde_json::json!({
                "job": job.plan.job,
                "plan_sha256": job.plan_sha256,
                "band": band,
                "pairs": pairs,
            }),
            payload,
        };
        ds.put(&pairs_path(&job.plan.job, band), blob.encode().into())
            .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ClustersSummary {
    job: String,
    plan_sha256: String,
    clusters: u64,
    removed: u64,
    removed_by_contributor: BTreeMap<String, u64>,
}

/// Per-row facts of the batches a cluster touches.
struct RowFacts {
    record_id: String,
    contributor: String,
    quality: Option<f64>,
    content_hash: String,
}

async fn row_facts(
    ds: &Dataset,
    b: &PlannedBatch,
) -> Result<HashMap<u32, RowFacts>, WorkflowError> {
    let cols = [
        "record_id",
        "contributor",
        "quality_score",
        "row_in_batch",
        "content_hash",
    ];
    let mut out = HashMap::new();
    for rb in ds.read_file(&b.file(), Some(&cols)).await? {
        let bad = |e: masa_record::RecordError| corrupt(&b.path, e.to_string());
        let ids = column::<StringArray>(&rb, "record_id").map_err(bad)?;
        let contributors = column::<StringArray>(&rb, "contributor").map_err(bad)?;
        let quality = column::<Float64Array>(&rb, "quality_score").map_err(bad)?;
        let rows = column::<Int64Array>(&rb, "row_in_batch").map_err(bad)?;
        let hashes = column::<StringArray>(&rb, "content_hash").map_err(bad)?;
        for i in 0..rb.num_rows() {
            let row = u32::try_from(rows.value(i))
                .map_err(|_| corrupt(&b.path, "row_in_batch out of range"))?;
            out.insert(
                row,
                RowFacts {
                    record_id: ids.value(i).to_owned(),
                    contributor: contributors.value(i).to_owned(),
                    quality: quality.is_valid(i).then(|| quality.value(i)),
                    content_hash: hashes.value(i).to_owned(),
                },
            );
        }
    }
    Ok(out)
}

/// A verified pair as the clusters stage reads it back.
struct Pair {
    earlier: u64,
    later: u64,
    similarity: Similarity,
}

fn decode_pair(bytes: &[u8]) -> Pair {
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    let ppm = |i: usize| {
        f64::from(u32::from_le_bytes(
            bytes[i..i + 4].try_into().expect("4 bytes"),
        )) / 1e6
    };
    Pair {
        earlier: u64_at(0),
        later: u64_at(8),
        similarity: Similarity {
            jaccard: ppm(16),
            containment: ppm(20),
        },
    }
}

/// Joins every band's pairs into clusters and chooses what stays. Each removed document
/// carries its evidence: the pair that matched it with the highest containment (as the
/// later document of a pair when it is one, which is how it was found).
async fn clusters(ds: &Dataset, job: &Job) -> Result<(), WorkflowError> {
    let batches = job.plan.batches.len();
    // Union-find over the documents that appear in a pair, numbered densely.
    let mut dense: HashMap<u64, u32> = HashMap::new();
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    // Document → (matched with, similarity, it was the later one).
    let mut evidence: HashMap<u64, (u64, Similarity, bool)> = HashMap::new();
    for band in 0..job.plan.params.bands {
        let path = pairs_path(&job.plan.job, band);
        let blob = read_job_blob(ds, &path, PAIRS_KIND, &job.plan_sha256)
            .await?
            .ok_or_else(|| {
                corrupt(
                    &path,
                    "missing: the buckets stage has not finished for this band",
                )
            })?;
        if blob.header["band"] != band {
            return Err(corrupt(
                &path,
                format!("holds band {}", blob.header["band"]),
            ));
        }
        if blob.payload.len() % PAIR_BYTES != 0 {
            return Err(corrupt(
                &path,
                "pair payload is not a whole number of pairs",
            ));
        }
        for bytes in blob.payload.chunks_exact(PAIR_BYTES) {
            let pair = decode_pair(bytes);
            let mut ids = [0u32; 2];
            for (id, key) in ids.iter_mut().zip([pair.earlier, pair.later]) {
                if split_key(key).0 >= batches {
                    return Err(corrupt(
                        &path,
                        format!("document {key:#x} is not in the plan"),
                    ));
                }
                let next = dense.len() as u32;
                *id = *dense.entry(key).or_insert(next);
            }
            pairs.push((ids[0], ids[1]));
            let better = |old: Option<&(u64, Similarity, bool)>, later: bool| {
                old.is_none_or(|(_, s, was_later)| {
                    (later, pair.similarity.containment) > (*was_later, s.containment)
                })
            };
            if better(evidence.get(&pair.later), true) {
                evidence.insert(pair.later, (pair.earlier, pair.similarity, true));
            }
            if better(evidence.get(&pair.earlier), false) {
                evidence.insert(pair.earlier, (pair.later, pair.similarity, false));
            }
        }
    }
    let mut uf = UnionFind::new(dense.len());
    for (a, b) in pairs {
        uf.union(a, b);
    }
    let mut groups: HashMap<u32, Vec<u64>> = HashMap::new();
    for (&key, &id) in &dense {
        groups.entry(uf.find(id)).or_default().push(key);
    }
    let mut groups: Vec<Vec<u64>> = groups.into_values().collect();
    for g in &mut groups {
        g.sort_unstable();
    }
    groups.sort_unstable();

    // Facts (record ids, contributors, quality, content hashes) of the batches that
    // clusters touch.
    let touched: BTreeSet<usize> = groups.iter().flatten().map(|k| split_key(*k).0).collect();
    let mut facts = HashMap::new();
    for &b in &touched {
        facts.insert(b, row_facts(ds, &job.plan.batches[b]).await?);
    }
    let describe = |key: u64| -> Result<(DocRef, &RowFacts), WorkflowError> {
        let (b, row) = split_key(key);
        let pb = &job.plan.batches[b];
        let f = facts[&b]
            .get(&row)
            .ok_or_else(|| corrupt(&pb.path, format!("row {row} is not in the file")))?;
        let doc = DocRef {
            batch_id: pb.batch_id.clone(),
            row,
            record_id: f.record_id.clone(),
            contributor: f.contributor.clone(),
        };
        Ok((doc, f))
    };
    let threshold = job.plan.threshold;
    let mut removals = Vec::new();
    for g in &groups {
        let keep = match job.plan.keep {
            KeepPolicy::Earliest => g[0],
            KeepPolicy::Quality => {
                let mut scored = Vec::with_capacity(g.len());
                for &k in g {
                    scored.push((k, describe(k)?.1.quality));
                }
                best_quality(&scored)
            }
        };
        let (kept, _) = describe(keep)?;
        for &k in g.iter().filter(|k| **k != keep) {
            let (doc, f) = describe(k)?;
            let (other, similarity, _) = evidence[&k];
            let (matched, mf) = describe(other)?;
            let kind = if mf.content_hash == f.content_hash {
                "exact"
            } else {
                similarity.kind(threshold)
            };
            removals.push(Removal {
                batch_id: doc.batch_id,
                row: doc.row,
                record_id: doc.record_id,
                contributor: doc.contributor,
                kept: kept.clone(),
                matched,
                kind: kind.to_owned(),
                similarity,
            });
        }
    }
    let mut by_contributor = BTreeMap::new();
    for r in &removals {
        *by_contributor.entry(r.contributor.clone()).or_insert(0) += 1;
    }
    let summary = ClustersSummary {
        job: job.plan.job.clone(),
        plan_sha256: job.plan_sha256.clone(),
        clusters: groups.len() as u64,
        removed: removals.len() as u64,
        removed_by_contributor: by_contributor,
    };
    let blob = Blob {
        kind: *CLUSTERS_KIND,
        header: serde_json::to_value(&summary).expect("summary serializes"),
        payload: serde_json::to_vec(&removals).expect("removals serialize"),
    };
    ds.put(&clusters_path(&job.plan.job), blob.encode().into())
        .await?;
    Ok(())
}

/// The document with the highest quality score (missing scores lowest); among equals the
/// earliest, i.e. the first in `docs`, which is in log order.
fn best_quality(docs: &[(u64, Option<f64>)]) -> u64 {
    let mut best = docs[0];
    for &d in &docs[1..] {
        if d.1.unwrap_or(f64::NEG_INFINITY) > best.1.unwrap_or(f64::NEG_INFINITY) {
            best = d;
        }
    }
    best.0
}

/// The clusters stage's answer; `None` before that stage has run.
async fn read_clusters(
    ds: &Dataset,
    job: &Job,
) -> Result<Option<(ClustersSummary, Vec<Removal>)>, WorkflowError> {
    let path = clusters_path(&job.plan.job);
    let Some(blob) = read_job_blob(ds, &path, CLUSTERS_KIND, &job.plan_sha256).await? else {
        return Ok(None);
    };
    let summary: ClustersSummary =
        serde_json::from_value(blob.header).map_err(|e| corrupt(&path, e.to_string()))?;
    let removals: Vec<Removal> =
        serde_json::from_slice(&blob.payload).map_err(|e| corrupt(&path, e.to_string()))?;
    if removals.len() as u64 != summary.removed {
        return Err(corrupt(&path, "removal count does not match its summary"));
    }
    Ok(Some((summary, removals)))
}

/// The removals grouped by the document each cluster keeps, largest clusters first (then in
/// the order of their kept document).
fn cluster_list(removals: Vec<Removal>) -> Vec<ClusterReport> {
    let mut by_kept: BTreeMap<(String, u32), ClusterReport> = BTreeMap::new();
    for r in removals {
        by_kept
            .entry((r.kept.batch_id.clone(), r.kept.row))
            .or_insert_with(|| ClusterReport {
                kept: r.kept.clone(),
                removed: Vec::new(),
            })
            .removed
            .push(r);
    }
    let mut list: Vec<ClusterReport> = by_kept.into_values().collect();
    list.sort_by_key(|c| std::cmp::Reverse(c.removed.len()));
    list
}

/// A batch the filter rewrote: its new file and row count (`None` when no row is left), and
/// the rows kept.
struct Rewritten {
    batch: String,
    file: Option<(String, u64)>,
    kept: HashSet<u32>,
}

/// The revision tag of files rewritten by a job.
fn revision(job: &Job) -> String {
    format!("dedup-{}", &job.plan_sha256[..12])
}

/// Replaces this shard's affected batch files with copies without the removed rows, in one
/// Delta commit; then brings their signature files and index splits up to date. The commit
/// names the job and shard, so running a shard's filter again changes nothing.
///
/// A file compacted by `masa maintain` between reading the table and committing holds the
/// same rows elsewhere: the filter reads the table again and redoes its rewrite there.
async fn filter(ds: &mut Dataset, job: &Job, shard: Shard) -> Result<u64, WorkflowError> {
    let mut attempt = 1;
    loop {
        match filter_once(ds, job, shard).await {
            Err(WorkflowError::Storage(masa_storage::StorageError::Gone { path }))
                if attempt < 5 =>
            {
                tracing::info!(path = %path, attempt, "a file to rewrite moved meanwhile; reading the table again");
                attempt += 1;
            }
            done => return done,
        }
    }
}

async fn filter_once(ds: &mut Dataset, job: &Job, shard: Shard) -> Result<u64, WorkflowError> {
    let (_, removals) = read_clusters(ds, job).await?.ok_or_else(|| {
        corrupt(
            &clusters_path(&job.plan.job),
            "missing: the clusters stage has not run",
        )
    })?;
    let mut by_batch: BTreeMap<&str, HashSet<u32>> = BTreeMap::new();
    for r in &removals {
        by_batch.entry(&r.batch_id).or_default().insert(r.row);
    }
    let marker = format!(
        "{} {} {}/{}",
        job.plan.job,
        &job.plan_sha256[..16],
        shard.index,
        shard.count
    );
    ds.refresh().await?;
    let applied = ds.commit_metadata("masa.dedup_filter").await?;
    if applied.iter().any(|v| v.as_str() == Some(marker.as_str())) {
        // Committed by an earlier attempt, which may have stopped before the derived state
        // followed: bring it up to date (stale signature files are rebuilt on load).
        tracing::info!(job = %job.plan.job, "this shard's filter is already committed");
        for f in ds.committed_files()? {
            if f.batch_id
                .as_deref()
                .is_some_and(|b| by_batch.contains_key(b))
            {
                batch_signatures(ds, &f, job.plan.params).await?;
            }
        }
        repair_index(ds).await?;
        return Ok(0);
    }
    let current: HashMap<String, CommittedFile> = ds
        .committed_files()?
        .into_iter()
        .filter_map(|f| Some((f.batch_id.clone()?, f)))
        .collect();
    let rev = revision(job);
    let mut replacements = Vec::new();
    let mut kept_rows: Vec<Rewritten> = Vec::new();
    let mut removed = 0u64;
    for (i, b) in job.plan.batches.iter().enumerate() {
        let Some(rows) = by_batch.get(b.batch_id.as_str()) else {
            continue;
        };
        if !shard.owns(i) {
            continue;
        }
        let Some(now) = current.get(&b.batch_id) else {
            return Err(corrupt(&b.path, "no longer in the table: plan a new job"));
        };
        // Compacted since the plan (by `masa maintain`) is fine: the rows are the same.
        if now.origin != b.origin() {
            return Err(corrupt(
                &now.path,
                "replaced since the plan (another dedup job?): plan a new job",
            ));
        }
        let mut kept = Vec::new();
        let mut kept_set = HashSet::new();
        for rb in ds.read_file(now, None).await? {
            for r in masa_record::records_from_batch(&rb)
                .map_err(|e| corrupt(&now.path, e.to_string()))?
            {
                let row = u32::try_from(r.row_in_batch)
                    .map_err(|_| corrupt(&now.path, "row_in_batch out of range"))?;
                if rows.contains(&row) {
                    removed += 1;
                } else {
                    kept_set.insert(row);
                    kept.push(r);
                }
            }
        }
        // A batch left with no rows is removed from the table rather than kept empty.
        let new = if kept.is_empty() {
            None
        } else {
            let n = kept.len();
            let parquet = tokio::task::spawn_blocking(move || {
                masa_record::records_to_batch(&kept)
                    .map_err(|e| e.to_string())
                    .and_then(|rb| masa_storage::encode_parquet(&rb).map_err(|e| e.to_string()))
            })
            .await
            .map_err(|e| WorkflowError::Other(format!("encoding failed: {e}")))?
            .map_err(|e| corrupt(&now.path, e))?;
            Some(
                ds.put_data_file_revision(&b.batch_id, Some(&rev), parquet, n)
                    .await?,
            )
        };
        kept_rows.push(Rewritten {
            batch: b.batch_id.clone(),
            file: new
                .as_ref()
                .map(|f| (f.path.clone(), kept_set.len() as u64)),
            kept: kept_set,
        });
        replacements.push((now.clone(), new));
    }
    if replacements.is_empty() {
        return Ok(0);
    }
    let metadata = HashMap::from([
        ("masa.dedup_filter".to_owned(), marker.into()),
        ("masa.rows_removed".to_owned(), removed.into()),
    ]);
    ds.replace_files(replacements, metadata, "masa near-duplicate removal")
        .await?;
    // Derived state follows the table: signatures lose the removed rows, and splits whose
    // document count no longer matches their batch are rebuilt.
    for Rewritten { batch, file, kept } in kept_rows {
        let Some((data_file, data_rows)) = file else {
            continue; // The batch left the table; its signatures are never read again.
        };
        let path = sig_path(&job.plan.params, &batch);
        let old = ds
            .get(&path)
            .await?
            .ok_or_else(|| corrupt(&path, "missing"))?;
        let old = SigFile::decode(&old, &batch).map_err(|e| corrupt(&path, e.reason))?;
        let rows = (0..old.len())
            .filter(|i| kept.contains(&old.rows[*i]))
            .map(|i| masa_dedup::SigRow {
                row: old.rows[i],
                sketch: masa_dedup::Sketch {
                    sig: old.signature(i).to_vec(),
                    shingles: old.shingles[i],
                },
            })
            .collect();
        let new = SigFile::new(&batch, &data_file, data_rows, old.params, rows);
        ds.put(&path, new.encode().into()).await?;
    }
    repair_index(ds).await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_keeps_the_best_score_and_ties_go_to_the_earliest() {
        assert_eq!(
            best_quality(&[(1, Some(0.2)), (2, Some(0.9)), (3, Some(0.5))]),
            2
        );
        assert_eq!(best_quality(&[(1, Some(0.7)), (2, Some(0.7))]), 1);
        assert_eq!(best_quality(&[(1, None), (2, Some(0.1)), (3, None)]), 2);
        assert_eq!(best_quality(&[(1, None), (2, None)]), 1);
    }

    #[test]
    fn document_keys_order_by_batch_then_row() {
        assert!(doc_key(0, u32::MAX) < doc_key(1, 0));
        assert_eq!(split_key(doc_key(7, 42)), (7, 42));
    }

    #[test]
    fn shards_parse_and_cover_every_index_once() {
        assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, count: 3 }));
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("a/2").is_err());
        let shards: Vec<Shard> = (0..3).map(|i| Shard { index: i, count: 3 }).collect();
        for i in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.owns(i)).count(), 1);
        }
    }
}

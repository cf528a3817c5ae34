//! `masa audit`: what a validator checks before anyone is rewarded.
//!
//! For every committed batch (or a sample, or one shard of them): the manifest's signature
//! (strict Ed25519); that the log holds the manifest as a leaf under the signed checkpoint;
//! each data file's size and SHA-256; every row's content hash, record id, position,
//! contributor, batch and consent evidence; the batch's Merkle root; and, for a file that
//! `masa dedup` replaced, that the replacement holds only rows of the signed original. The
//! log is checked against the checkpoints this validator saw before (kept in its masa home),
//! so a rewritten history fails. Content contributed twice is credited to the earlier leaf.
//! The signed report is stored in the dataset and appended to the log.

use crate::WorkflowError;
use crate::dedup_job::Shard;
use crate::layout::batch_manifest_path;
use crate::log::{Log, LogEntry, append, check_consistency, parse_saved_checkpoint, read_log};
use masa_connectors::web::fetch::{Accept, Http, HttpOptions};
use masa_provenance::{ContributorKey, Tree, leaf_hash, verify_manifest};
use masa_record::{Record, SignedManifest};
use masa_rewards::score::{Prepared, Preparer, Scorer};
use masa_storage::{CommittedFile, Dataset, StorageOptions};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub dataset: String,
    pub storage: StorageOptions,
    /// The validator's signing key file.
    pub key: PathBuf,
    /// Where the validator keeps the checkpoints it has seen (its masa home).
    pub home: PathBuf,
    /// A checkpoint (note or `masa log checkpoint --json`) the log must be consistent with.
    pub since: Option<String>,
    /// Audit only this many batches, chosen by a hash of their ids.
    pub sample: Option<usize>,
    /// Fetch this many records' `http(s)` URIs again and compare their text.
    pub refetch: Option<usize>,
    /// Let re-fetching reach private, loopback and link-local addresses (tests, intranets).
    pub allow_private: bool,
    pub shard: Shard,
    /// Store the signed report and append it to the log.
    pub publish: bool,
    /// The epoch to score contributors for (default: the oldest ended, unclosed epoch).
    pub epoch: Option<u64>,
}

/// One failed check, precise enough to act on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub check: &'static str,
    pub batch_id: Option<String>,
    pub file: Option<String>,
    pub row: Option<u64>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub dataset: String,
    pub origin: String,
    pub log_size: u64,
    pub log_root: String,
    pub shard: String,
    pub batches_audited: u64,
    pub records_audited: u64,
    pub bytes_hashed: u64,
    /// Records credited per contributor: audited, and first in log order.
    pub credited: BTreeMap<String, u64>,
    /// Records whose content an earlier leaf already holds, per contributor.
    pub duplicates: BTreeMap<String, u64>,
    pub checkpoints_checked: Vec<u64>,
    /// The random salt the samples were drawn with (hex), to reproduce them.
    pub sample_salt: String,
    /// Records fetched again, and those whose URI could not be fetched (not a finding: a
    /// page may be gone for innocent reasons).
    pub refetched: u64,
    pub refetch_unreachable: Vec<String>,
    pub findings: Vec<Finding>,
    /// The epoch whose contributions `weights` scores (`None`: no weights, see
    /// `weights_note`).
    pub epoch: Option<u64>,
    /// Each contributor's score for the epoch (`masa_rewards::score`): audited, first-seen,
    /// unslashed records of the epoch, by novel content and quality.
    pub weights: BTreeMap<String, u64>,
    /// Why the report carries no weights, when it does not.
    pub weights_note: Option<String>,
    pub validator: String,
    /// Where the signed report was stored, and its log leaf.
    pub published: Option<(String, u64)>,
    pub seconds: f64,
}

fn finding(
    check: &'static str,
    batch: &str,
    file: Option<&str>,
    row: Option<u64>,
    message: String,
) -> Finding {
    Finding {
        check,
        batch_id: Some(batch.to_owned()),
        file: file.map(str::to_owned),
        row,
        message,
    }
}

/// The content hash of every row of a committed file, for a shard's duplicate pass.
async fn content_hashes(ds: &Dataset, f: &CommittedFile) -> Result<Vec<String>, WorkflowError> {
    let mut out = Vec::new();
    for b in ds.read_file(f, Some(&["content_hash"])).await? {
        let hashes =
            masa_record::column::<masa_storage::arrow::array::StringArray>(&b, "content_hash")
                .map_err(|e| WorkflowError::Corrupt {
                    path: f.path.clone(),
                    reason: e.to_string(),
                })?;
        out.extend((0..b.num_rows()).map(|i| hashes.value(i).to_owned()));
    }
    Ok(out)
}

/// Rows credited and rows that repeat an earlier leaf's content, by contributor, for the
/// audited batches `own` (in log order). `elsewhere` holds the content of batches this
/// audit does not check (other shards, or outside its sample), with their leaves: they
/// make content old in log order but are counted by their own shard. So shards' counts add
/// up to the whole audit's, and a copy is found whichever shard holds its original.
fn count_duplicates(
    own: &[BatchResult],
    elsewhere: &[(Option<u64>, Vec<String>)],
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    enum Seen<'a> {
        Own(&'a BatchResult),
        Elsewhere(&'a [String]),
    }
    let mut all: Vec<(u64, Seen)> = own
        .iter()
        .map(|r| (r.log_index.unwrap_or(u64::MAX), Seen::Own(r)))
        .chain(
            elsewhere
                .iter()
                .map(|(leaf, h)| (leaf.unwrap_or(u64::MAX), Seen::Elsewhere(h))),
        )
        .collect();
    // Stable: batches without a leaf keep their order after every leaf.
    all.sort_by_key(|(leaf, _)| *leaf);
    let mut first_seen: HashSet<&str> = HashSet::new();
    let (mut credited, mut duplicates) = (BTreeMap::new(), BTreeMap::new());
    for (_, seen) in all {
        match seen {
            Seen::Elsewhere(hashes) => first_seen.extend(hashes.iter().map(String::as_str)),
            Seen::Own(r) => {
                let ok = r.findings.is_empty() && r.log_index.is_some();
                for h in &r.contents {
                    if !first_seen.insert(h.as_str()) {
                        *duplicates.entry(r.contributor.clone()).or_insert(0) += 1;
                    } else if ok {
                        *credited.entry(r.contributor.clone()).or_insert(0) += 1;
                    }
                }
            }
        }
    }
    (credited, duplicates)
}

/// The validator's saved checkpoint of a log.
fn state_path(home: &std::path::Path, origin: &str) -> PathBuf {
    let key = &masa_record::sha256_hex(origin.as_bytes())[..16];
    home.join("audit").join(format!("{key}.checkpoint"))
}

/// A row as the scorer needs it: content hash, preparation, quality.
type ScoredRow = (String, Prepared, Option<f64>);

/// What one batch contributes to the report.
#[derive(Default, Clone)]
struct BatchResult {
    findings: Vec<Finding>,
    records: u64,
    bytes: u64,
    /// The content hash of every row, for the duplicate pass.
    contents: Vec<String>,
    /// Rows with a web URI, for re-fetching: (uri, content hash, row).
    web: Vec<(String, String, u64)>,
    /// Each row's content hash, scoring preparation and quality, when scoring.
    scored: Vec<ScoredRow>,
    batch_id: String,
    contributor: String,
    log_index: Option<u64>,
}

pub async fn audit(opts: AuditOptions) -> Result<AuditReport, WorkflowError> {
    let started = std::time::Instant::now();
    let key = ContributorKey::load(&opts.key)?;
    let ds = Dataset::open(&opts.dataset, &opts.storage).await?;
    let mut findings = Vec::new();
    // A log whose tiles do not hash to its signed checkpoint, or whose checkpoint signature
    // fails, cannot be audited further: that is the finding.
    let log = read_log(&ds).await?;
    let (cp, note) = log
        .checkpoint
        .clone()
        .ok_or_else(|| WorkflowError::Other("the log is empty: nothing to audit".into()))?;

    let protocol = crate::protocol::fold_log(&ds, &log, None).await?;
    let whole = opts.sample.is_none() && opts.shard.count == 1;
    let (epoch, weights_note) = scoring_epoch(&protocol, opts.epoch, whole)?;
    let preparer = match (&protocol.params, epoch) {
        (Some(p), Some(_)) => Some(Preparer::new(&p.score)),
        _ => None,
    };

    let mut checkpoints_checked = Vec::new();
    let state = state_path(&opts.home, &log.origin);
    let mut earlier = Vec::new();
    if let Ok(saved) = std::fs::read_to_string(&state) {
        earlier.push(saved);
    }
    if let Some(s) = &opts.since {
        earlier.push(s.clone());
    }
    for text in &earlier {
        let (old, _) = parse_saved_checkpoint(text)?;
        match check_consistency(&log, &old) {
            Ok(c) => checkpoints_checked.push(c.old_size),
            Err(e) => findings.push(Finding {
                check: "log consistency",
                batch_id: None,
                file: None,
                row: None,
                message: e.to_string(),
            }),
        }
    }

    let mut ds_files: Vec<CommittedFile> = ds
        .committed_files()?
        .into_iter()
        .filter(|f| f.batch_id.is_some())
        .collect();
    ds_files.sort_by(|a, b| a.batch_id.cmp(&b.batch_id));
    let mut chosen: Vec<CommittedFile> = ds_files
        .iter()
        .cloned()
        .enumerate()
        .filter(|(i, _)| opts.shard.owns(*i))
        .map(|(_, f)| f)
        .collect();
    // Samples are drawn with a fresh random salt (reported), so no contributor can know in
    // advance which batches or pages will be checked.
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| WorkflowError::Other(format!("random salt: {e}")))?;
    if let Some(n) = opts.sample {
        chosen.sort_by_key(|f| salted(&salt, f.batch_id.as_deref().unwrap_or("")));
        chosen.truncate(n);
    }

    // Batches in parallel, one per core: each reads, hashes and checks on its own.
    use futures::{StreamExt, TryStreamExt};
    let total = chosen.len();
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut done = 0;
    let mut results = Vec::with_capacity(total);
    // The leaf each batch's Delta commit names: the one its audit must find.
    let committed_leaf: HashMap<String, u64> = ds
        .commit_infos()
        .await?
        .into_iter()
        .filter_map(|i| {
            Some((
                i.get("masa.batch_id")?.as_str()?.to_owned(),
                i.get("masa.log_index")?.as_u64()?,
            ))
        })
        .collect();
    let mut stream = futures::stream::iter(chosen.iter())
        .map(|f| {
            let leaf = f
                .batch_id
                .as_ref()
                .and_then(|b| committed_leaf.get(b).copied());
            audit_batch(&ds, &log, cp.size, f, leaf, preparer.as_ref())
        })
        .buffer_unordered(parallel);
    while let Some(r) = stream.try_next().await? {
        results.push(r);
        done += 1;
        if done % 50 == 0 || done == total {
            tracing::info!(done, total, "batches audited");
        }
    }
    drop(stream);

    // A shard sees only some batches: the others' content hashes (one column) are read
    // too, so a copy of something in an earlier leaf of another shard is found. A sample
    // stays a cheap spot check and counts duplicates within itself only.
    let chosen_ids: HashSet<&str> = chosen
        .iter()
        .filter_map(|f| f.batch_id.as_deref())
        .collect();
    let mut elsewhere = Vec::new();
    if opts.shard.count > 1 {
        let others: Vec<&CommittedFile> = ds_files
            .iter()
            .filter(|f| {
                !f.batch_id
                    .as_deref()
                    .is_some_and(|b| chosen_ids.contains(b))
            })
            .collect();
        let mut stream = futures::stream::iter(others)
            .map(|f| async {
                let leaf = f
                    .batch_id
                    .as_ref()
                    .and_then(|b| committed_leaf.get(b).copied());
                Ok::<_, WorkflowError>((leaf, content_hashes(&ds, f).await?))
            })
            .buffer_unordered(parallel);
        while let Some(seen) = stream.try_next().await? {
            elsewhere.push(seen);
        }
    }

    // Duplicates: in log order, the first leaf holding a content is credited.
    results.sort_by_key(|r| r.log_index.unwrap_or(u64::MAX));
    let (mut records, mut bytes) = (0, 0);
    for r in &results {
        records += r.records;
        bytes += r.bytes;
        findings.extend(r.findings.iter().cloned());
    }
    let (credited, duplicates) = count_duplicates(&results, &elsewhere);

    let already = findings.len();
    let (refetched, refetch_unreachable) = match opts.refetch {
        Some(n) if n > 0 => refetch(&results, n, &salt, opts.allow_private, &mut findings).await?,
        _ => (0, Vec::new()),
    };
    // A batch this audit found fabricated earns nothing in its own weights either.
    let refetch_failed: HashSet<&str> = findings[already..]
        .iter()
        .filter_map(|f| f.batch_id.as_deref())
        .collect();
    let weights = match (epoch, &protocol.params) {
        (Some(n), Some(p)) => score_epoch(&protocol, n, &p.score, &results, &refetch_failed),
        _ => BTreeMap::new(),
    };

    let mut report = AuditReport {
        dataset: ds.url().to_string(),
        origin: log.origin.clone(),
        log_size: cp.size,
        log_root: hex::encode(cp.root),
        shard: format!("{}/{}", opts.shard.index, opts.shard.count),
        batches_audited: results.len() as u64,
        records_audited: records,
        bytes_hashed: bytes,
        credited,
        duplicates,
        checkpoints_checked,
        sample_salt: hex::encode(salt),
        refetched,
        refetch_unreachable,
        findings,
        epoch,
        weights,
        weights_note,
        validator: key.public_hex(),
        published: None,
        seconds: started.elapsed().as_secs_f64(),
    };
    // The validator remembers this checkpoint only when the log was consistent with what
    // it saw before, so a later rewrite is caught against it.
    if !report.findings.iter().any(|f| f.check == "log consistency") {
        if let Some(dir) = state.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| WorkflowError::Other(format!("{}: {e}", dir.display())))?;
        }
        std::fs::write(&state, &note)
            .map_err(|e| WorkflowError::Other(format!("{}: {e}", state.display())))?;
    }
    if opts.publish {
        report.published = Some(publish_report(&ds, &key, &report).await?);
    }
    Ok(report)
}

/// Signs and stores a report, and appends its leaf to `log`; returns the report's path and
/// its leaf. (A validator running other software publishes through this too: the fold reads
/// only `epoch`, `weights` and `findings` of the body.)
pub async fn publish_report(
    ds: &Dataset,
    key: &ContributorKey,
    report: &impl Serialize,
) -> Result<(String, u64), WorkflowError> {
    let (path, sha) = store_report(ds, key, report).await?;
    let log = read_log(ds).await?;
    let entry = LogEntry::Audit {
        validator: key.public_hex(),
        report_sha256: sha,
    };
    let (index, _) = append(ds, key, &entry, log).await?;
    Ok((path, index))
}

/// Signs and stores a report under `log/audits/<sha256>.json`; returns its path and hash.
async fn store_report(
    ds: &Dataset,
    key: &ContributorKey,
    report: &impl Serialize,
) -> Result<(String, String), WorkflowError> {
    let body = serde_json::to_string(report).expect("report serializes");
    let mut msg = crate::protocol::AUDIT_REPORT_DOMAIN.to_vec();
    msg.extend_from_slice(body.as_bytes());
    let signed = crate::protocol::SignedReport {
        signature: hex::encode(key.sign_bytes(&msg)),
        validator: key.public_hex(),
        body,
    };
    let bytes = serde_json::to_vec_pretty(&signed).expect("signed report serializes");
    let sha = masa_record::sha256_hex(&bytes);
    let path = crate::protocol::audit_report_path(&sha);
    ds.put(&path, bytes.into()).await?;
    Ok((path, sha))
}

/// Which epoch this audit scores, or why it scores none.
fn scoring_epoch(
    state: &masa_rewards::State,
    asked: Option<u64>,
    whole: bool,
) -> Result<(Option<u64>, Option<String>), WorkflowError> {
    if state.params.is_none() {
        return match asked {
            Some(_) => Err(WorkflowError::Other(
                "--epoch: the protocol has no genesis yet (masa init-protocol)".into(),
            )),
            None => Ok((None, Some("the protocol has no genesis yet".into()))),
        };
    }
    if let Some(n) = asked {
        let ended = state
            .spans
            .get(n as usize)
            .is_some_and(|s| s.end <= state.leaves);
        if n < state.closed || !ended {
            return Err(WorkflowError::Other(format!(
                "--epoch {n}: only an ended epoch that is not closed can be scored (epochs \
                 before {} are closed; epoch {} is running)",
                state.closed,
                state.current_epoch()
            )));
        }
    }
    if !whole {
        return Ok((
            None,
            Some(
                "a sampled or sharded audit does not see every batch, so it sets no weights".into(),
            ),
        ));
    }
    match asked.or(state.closable_epoch()) {
        Some(n) => Ok((Some(n), None)),
        None => Ok((
            None,
            Some(format!(
                "no epoch to score: epoch {} ends at leaf {}, the log has {}",
                state.current_epoch(),
                state.spans.last().map_or(0, |s| s.end),
                state.leaves
            )),
        )),
    }
}

/// Scores the contributors of epoch `n`: batches in log order, those before the epoch
/// seeding what is no longer new, those of the epoch scored; a batch with findings or
/// slashed counts for nothing.
fn score_epoch(
    state: &masa_rewards::State,
    n: u64,
    rules: &masa_rewards::ScoreRules,
    results: &[BatchResult],
    refetch_failed: &HashSet<&str>,
) -> BTreeMap<String, u64> {
    let mut scorer = Scorer::new(rules);
    let mut weights = BTreeMap::new();
    for r in results {
        let Some(leaf) = r.log_index else { continue };
        let Some(epoch) = state.epoch_of(leaf) else {
            continue;
        };
        if epoch > n {
            continue;
        }
        // A batch with findings, slashed, or whose leaf the fold refused (unsigned) earns
        // nothing; its content is still earlier than what follows, so a later copy of it
        // is not new.
        let counts = epoch == n
            && r.findings.is_empty()
            && !refetch_failed.contains(r.batch_id.as_str())
            && !state.slashed_batches.contains(&leaf)
            && state.batches.contains_key(&leaf);
        let mut total = 0;
        for (_, prep, quality) in &r.scored {
            total += scorer.add(prep, *quality, counts).score;
        }
        if counts && total > 0 {
            *weights.entry(r.contributor.clone()).or_insert(0) += total;
        }
    }
    weights
}

async fn audit_batch(
    ds: &Dataset,
    log: &Log,
    signed_size: u64,
    committed: &CommittedFile,
    committed_leaf: Option<u64>,
    preparer: Option<&Preparer>,
) -> Result<BatchResult, WorkflowError> {
    let batch = committed.batch_id.clone().expect("filtered above");
    let mut r = BatchResult::default();
    let mpath = batch_manifest_path(&batch);
    let Some(mbytes) = ds.get(&mpath).await? else {
        r.findings.push(finding(
            "manifest",
            &batch,
            Some(&mpath),
            None,
            "the batch has no manifest".into(),
        ));
        return Ok(r);
    };
    let signed: SignedManifest = match serde_json::from_slice(&mbytes) {
        Ok(m) => m,
        Err(e) => {
            r.findings.push(finding(
                "manifest",
                &batch,
                Some(&mpath),
                None,
                format!("unreadable: {e}"),
            ));
            return Ok(r);
        }
    };
    let m = &signed.manifest;
    r.contributor = m.contributor.clone();
    if let Err(e) = verify_manifest(&signed) {
        r.findings.push(finding(
            "manifest signature",
            &batch,
            Some(&mpath),
            None,
            e.to_string(),
        ));
    }
    if m.batch_id != batch {
        r.findings.push(finding(
            "manifest",
            &batch,
            Some(&mpath),
            None,
            format!("names batch {}", m.batch_id),
        ));
    }
    // The log must hold exactly this manifest, under the signed checkpoint.
    let sha = masa_record::sha256_hex(&mbytes);
    let is_this = |e: &LogEntry| {
        matches!(e, LogEntry::Batch { batch_id, manifest_sha256, contributor, .. }
            if *batch_id == batch && *manifest_sha256 == sha && *contributor == m.contributor)
    };
    // The batch's commit names its leaf; only when the table's history no longer holds that
    // commit does any leaf of this manifest do.
    r.log_index = match committed_leaf {
        Some(i) => log
            .entries
            .get(i as usize)
            .filter(|e| is_this(e))
            .map(|_| i),
        None => log.entries.iter().position(is_this).map(|i| i as u64),
    };
    let problem = match (r.log_index, committed_leaf) {
        (None, Some(i)) => Some(format!(
            "the commit names leaf {i}, which is not this manifest (the manifest was replaced \
             after the batch committed, or the leaf was)"
        )),
        (None, None) => Some("the manifest is not in the log".to_owned()),
        (Some(i), _) if i >= signed_size => Some(format!(
            "the manifest is leaf {i}, past the signed checkpoint (size {signed_size})"
        )),
        // Only the batch's own contributor can re-log it: a leaf naming this batch under
        // another key is someone else's claim, and must not cost this batch its credit.
        (Some(i), _) => log.entries[i as usize + 1..]
            .iter()
            .position(|e| {
                matches!(e, LogEntry::Batch { batch_id, contributor, .. }
                if *batch_id == batch && *contributor == m.contributor)
            })
            .map(|later| {
                format!(
                    "leaf {} logs another manifest for this batch after its commit",
                    i as usize + 1 + later
                )
            }),
    };
    if let Some(message) = problem {
        r.findings.push(finding(
            "log inclusion",
            &batch,
            Some(&mpath),
            None,
            message,
        ));
    }

    let mut rows: Vec<Record> = Vec::new();
    // Rows whose text does not hash to their content hash.
    let mut bad_text: Vec<u64> = Vec::new();
    for f in &m.files {
        let Some(bytes) = ds.get(&f.path).await? else {
            r.findings.push(finding(
                "file",
                &batch,
                Some(&f.path),
                None,
                "missing".into(),
            ));
            continue;
        };
        r.bytes += bytes.len() as u64;
        let path = f.path.clone();
        // Hashing and decoding off the async threads.
        let offset = rows.len();
        let preparer = preparer.cloned();
        let (sha, decoded) = tokio::task::spawn_blocking(move || {
            let sha = masa_record::sha256_hex(&bytes);
            let rows = masa_storage::decode_parquet(bytes)
                .map_err(|e| format!("not readable Parquet: {e}"))
                .and_then(|batches| {
                    let (mut rows, mut bad, mut scored) = (Vec::new(), Vec::new(), Vec::new());
                    for b in batches {
                        let b = check_texts(
                            &b,
                            offset + rows.len(),
                            &mut bad,
                            preparer.as_ref().map(|p| (p, &mut scored)),
                        )?;
                        rows.extend(
                            masa_record::records_from_batch(&b).map_err(|e| e.to_string())?,
                        );
                    }
                    Ok((rows, bad, scored))
                });
            (sha, rows)
        })
        .await
        .map_err(|e| WorkflowError::Other(format!("audit worker failed: {e}")))?;
        if sha != f.sha256 {
            r.findings.push(finding(
                "file sha256",
                &batch,
                Some(&path),
                None,
                format!("SHA-256 is {sha}, the manifest signed {}", f.sha256),
            ));
        }
        match decoded {
            Err(e) => r
                .findings
                .push(finding("file", &batch, Some(&path), None, e)),
            Ok((rs, bad, scored)) => {
                rows.extend(rs);
                bad_text.extend(bad);
                r.scored.extend(scored);
            }
        }
    }
    let file = m.files.first().map(|f| f.path.clone()).unwrap_or_default();
    let (rows, row_findings) = tokio::task::spawn_blocking({
        let m = m.clone();
        let file = file.clone();
        move || {
            let f = check_rows(&m, &file, &rows, &bad_text);
            (rows, f)
        }
    })
    .await
    .map_err(|e| WorkflowError::Other(format!("audit worker failed: {e}")))?;
    r.findings.extend(row_findings);
    r.records = rows.len() as u64;
    r.contents = rows.iter().map(|x| x.content_hash.clone()).collect();
    r.batch_id = batch.clone();
    r.web = rows
        .iter()
        .filter(|x| x.uri.starts_with("http://") || x.uri.starts_with("https://"))
        .map(|x| (x.uri.clone(), x.content_hash.clone(), x.row_in_batch as u64))
        .collect();

    // A file `masa dedup` put in the original's place may only hold the original's rows.
    if committed.path != file {
        let leaves: HashSet<[u8; 32]> = rows.iter().map(|x| leaf_hash(&x.leaf_bytes())).collect();
        let mut kept = Vec::new();
        for b in ds.read_file(committed, None).await? {
            kept.extend(masa_record::records_from_batch(&b).map_err(|e| {
                WorkflowError::Corrupt {
                    path: committed.path.clone(),
                    reason: e.to_string(),
                }
            })?);
        }
        for x in &kept {
            if !leaves.contains(&leaf_hash(&x.leaf_bytes())) {
                r.findings.push(finding(
                    "revision",
                    &batch,
                    Some(&committed.path),
                    Some(x.row_in_batch as u64),
                    "a row the signed original does not hold".into(),
                ));
            }
        }
        let kept_hashes: HashSet<&str> = kept.iter().map(|x| x.content_hash.as_str()).collect();
        r.contents.retain(|h| kept_hashes.contains(h.as_str()));
        r.scored
            .retain(|(h, _, _)| kept_hashes.contains(h.as_str()));
        r.records = kept.len() as u64;
    }
    Ok(r)
}

/// Row checks and the batch root, naming the first row where each check fails.
/// Checks each row's text against its content hash straight from the Arrow column, and
/// returns the batch with the text column emptied: nothing after this needs the text, and
/// copying 2 KB of it per row into records was a fifth of the audit's time.
/// When scoring, also prepares each row's text for the scorer (with its quality).
fn check_texts(
    b: &masa_storage::arrow::array::RecordBatch,
    offset: usize,
    bad: &mut Vec<u64>,
    scoring: Option<(&Preparer, &mut Vec<ScoredRow>)>,
) -> Result<masa_storage::arrow::array::RecordBatch, String> {
    use masa_storage::arrow::array::{ArrayRef, RecordBatch, StringArray};
    let idx = b.schema().index_of("text").map_err(|e| e.to_string())?;
    let text = b
        .column(idx)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("the text column is not a string column")?;
    let hashes =
        masa_record::column::<StringArray>(b, "content_hash").map_err(|e| e.to_string())?;
    for i in 0..b.num_rows() {
        if masa_record::content_hash(text.value(i)) != hashes.value(i) {
            bad.push((offset + i) as u64);
        }
    }
    if let Some((preparer, out)) = scoring {
        // The validator scores quality itself: the column is the contributor's claim.
        for i in 0..b.num_rows() {
            out.push((
                hashes.value(i).to_owned(),
                preparer.prepare(text.value(i)),
                Some(masa_ingest::default_quality_score(text.value(i))),
            ));
        }
    }
    let mut columns: Vec<ArrayRef> = b.columns().to_vec();
    columns[idx] = std::sync::Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
        "",
        b.num_rows(),
    )));
    RecordBatch::try_new(b.schema(), columns).map_err(|e| e.to_string())
}

fn check_rows(
    m: &masa_record::BatchManifest,
    file: &str,
    rows: &[Record],
    bad_text: &[u64],
) -> Vec<Finding> {
    let batch = &m.batch_id;
    let mut out = Vec::new();
    let mut first: HashSet<&'static str> = HashSet::new();
    let mut once = |check: &'static str, row: u64, message: String, out: &mut Vec<Finding>| {
        if first.insert(check) {
            out.push(finding(check, batch, Some(file), Some(row), message));
        }
    };
    let mut tree = Tree::new();
    for (i, x) in rows.iter().enumerate() {
        let i = i as u64;
        if x.row_in_batch != i as i64 {
            once(
                "row order",
                i,
                format!(
                    "row {i} says it is row {} (rows deleted or reordered)",
                    x.row_in_batch
                ),
                &mut out,
            );
        }
        if x.batch_id != *batch || x.contributor != m.contributor {
            once(
                "row identity",
                i,
                "batch or contributor differs from the manifest".into(),
                &mut out,
            );
        }
        // Checked on the column (`check_texts`): stored text is already normalized, so it
        // hashes to its content hash as it is; a text that is not normalized fails too.
        if bad_text.binary_search(&i).is_ok() {
            once(
                "content hash",
                i,
                "the text does not hash to the row's content_hash".into(),
                &mut out,
            );
        }
        if x.record_id != masa_record::record_id(&x.contributor, &x.uri, &x.content_hash) {
            once(
                "record id",
                i,
                "the record id does not derive from its content (text edited?)".into(),
                &mut out,
            );
        }
        if x.consent.robots.as_deref() == Some("disallowed") && !x.consent.overridden {
            once(
                "consent",
                i,
                "robots.txt disallowed this item and no override is recorded".into(),
                &mut out,
            );
        }
        tree.push(leaf_hash(&x.leaf_bytes()));
    }
    if rows.len() as u64 != m.rows {
        out.push(finding(
            "row count",
            batch,
            Some(file),
            None,
            format!("{} rows, the manifest signed {}", rows.len(), m.rows),
        ));
    }
    if hex::encode(tree.root()) != m.rows_root {
        out.push(finding(
            "batch root",
            batch,
            Some(file),
            None,
            "the rows do not hash to the manifest's Merkle root".into(),
        ));
    }
    out
}

/// Fetches a sample of web records again (chosen by a hash of their URIs) and checks that
/// each page still yields the text that was contributed: a mismatch means the record was
/// altered or fabricated (or the page changed, which the contributor's evidence must then
/// explain).
fn salted(salt: &[u8; 16], value: &str) -> String {
    let mut bytes = salt.to_vec();
    bytes.extend_from_slice(value.as_bytes());
    masa_record::sha256_hex(&bytes)
}

/// Bodies larger than this are not compared.
const REFETCH_MAX_BYTES: usize = 16 << 20;

async fn refetch(
    results: &[BatchResult],
    n: usize,
    salt: &[u8; 16],
    allow_private: bool,
    findings: &mut Vec<Finding>,
) -> Result<(u64, Vec<String>), WorkflowError> {
    let mut web: Vec<(&str, &str, &str, u64)> = results
        .iter()
        .flat_map(|r| {
            r.web
                .iter()
                .map(move |(u, h, row)| (r.batch_id.as_str(), u.as_str(), h.as_str(), *row))
        })
        .collect();
    web.sort_by_key(|(_, u, _, _)| salted(salt, u));
    web.truncate(n);
    // Redirects are not followed (a moved page is reported unreachable). The crawler's HTTP
    // client refuses private addresses on the addresses it dials, unless allowed: a dataset
    // chooses the URIs a validator fetches, so without it an audit could probe the
    // validator's own network.
    let http = Http::new(HttpOptions {
        user_agent: concat!("masa-audit/", env!("CARGO_PKG_VERSION")).into(),
        connect_timeout: std::time::Duration::from_secs(10),
        timeout: std::time::Duration::from_secs(20),
        max_body: REFETCH_MAX_BYTES,
        retries: 1,
        backoff: std::time::Duration::from_millis(500),
        max_retry_after: std::time::Duration::from_secs(10),
        allow_private,
    })
    .map_err(WorkflowError::Other)?;
    let mut unreachable = Vec::new();
    let mut fetched = 0;
    for (batch, uri, hash, row) in web {
        let Ok(url) = url::Url::parse(uri) else {
            unreachable.push(format!("{uri}: not a URL"));
            continue;
        };
        let resp = match http.get(&url, &[], |_, _| Accept::Body).await {
            Ok(r) if (200..300).contains(&r.status) => r,
            Ok(r) => {
                unreachable.push(format!("{uri}: HTTP {}", r.status));
                continue;
            }
            Err(e) => {
                unreachable.push(e.detail().to_owned());
                continue;
            }
        };
        let content_type = resp.header("content-type").map(str::to_owned);
        let html = content_type.as_deref().is_some_and(|t| t.contains("html"));
        // Decoded as the crawler decodes it, so a latin-1 page compares equal.
        let body = masa_connectors::web::page::decode(&resp.body, content_type.as_deref());
        fetched += 1;
        let text = if html {
            masa_ingest::extract_html(&body).text
        } else {
            body
        };
        if masa_record::content_hash(&masa_record::normalize_text(&text)) != hash {
            findings.push(Finding {
                check: "refetch",
                batch_id: Some(batch.to_owned()),
                file: Some(uri.to_owned()),
                row: Some(row),
                message:
                    "the page's text today is not the text contributed (altered or fabricated)"
                        .into(),
            });
        }
    }
    Ok((fetched, unreachable))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(leaf: u64, contributor: &str, hashes: &[&str]) -> BatchResult {
        BatchResult {
            contents: hashes.iter().map(|h| h.to_string()).collect(),
            contributor: contributor.into(),
            log_index: Some(leaf),
            ..BatchResult::default()
        }
    }

    fn seen(b: &BatchResult) -> (Option<u64>, Vec<String>) {
        (b.log_index, b.contents.clone())
    }

    /// A copy in one shard of content first committed in another shard's earlier leaf is
    /// found, and the shards' counts add up to the whole audit's.
    #[test]
    fn duplicates_are_found_across_shards_and_counted_once() {
        let (a, b, c) = (
            batch(0, "alice", &["x", "y"]),
            batch(1, "bob", &["y", "z"]),
            batch(2, "carol", &["x", "w"]),
        );
        let count = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
        let whole = count_duplicates(&[a.clone(), b.clone(), c.clone()], &[]);
        assert_eq!((count(&whole.1, "bob"), count(&whole.1, "carol")), (1, 1));
        assert_eq!(count(&whole.0, "alice"), 2);
        // Shard 0 audits alice's and carol's batches, shard 1 bob's.
        let zero = count_duplicates(&[a.clone(), c.clone()], &[seen(&b)]);
        let one = count_duplicates(std::slice::from_ref(&b), &[seen(&a), seen(&c)]);
        assert_eq!(count(&zero.1, "carol"), 1);
        assert_eq!(
            count(&one.1, "bob"),
            1,
            "bob's copy of alice's y, in another shard"
        );
        assert_eq!(count(&one.0, "bob"), 1);
        let total: u64 = zero.1.values().chain(one.1.values()).sum();
        assert_eq!(total, whole.1.values().sum::<u64>());
        // Without the other shards' content, the copy would have been credited.
        let blind = count_duplicates(std::slice::from_ref(&b), &[]);
        assert_eq!(count(&blind.1, "bob"), 0);
    }
}

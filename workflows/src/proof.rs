//! Record inclusion proofs: row → batch root (in the signed manifest) → log leaf → signed
//! checkpoint. `masa proof` writes one as JSON; `masa verify-proof` checks it offline.

use crate::WorkflowError;
use crate::layout::batch_manifest_path;
use crate::log::{LogEntry, read_log};
use masa_provenance::{Checkpoint, Hash, Tree, leaf_hash, verify_inclusion, verify_manifest};
use masa_record::{Record, SignedManifest, column};
use masa_storage::arrow::array::StringArray;
use masa_storage::{CommittedFile, Dataset, StorageOptions};
use serde::{Deserialize, Serialize};

pub const PROOF_FORMAT: &str = "masa-proof/v1";

/// A self-contained proof that a record was contributed in a batch that is in the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordProof {
    pub format: String,
    /// The log's origin (the dataset's identity).
    pub origin: String,
    pub record_id: String,
    /// The row's leaf data (its canonical bytes), hex.
    pub row_leaf_data: String,
    pub row_index: u64,
    pub row_count: u64,
    /// Sibling hashes from the row up to the manifest's `rows_root`, hex.
    pub row_path: Vec<String>,
    /// The stored batch manifest object, verbatim.
    pub manifest_json: String,
    /// The log entry of that manifest, verbatim.
    pub log_entry: String,
    pub log_index: u64,
    /// Sibling hashes from the entry's leaf up to the checkpoint's root, hex.
    pub log_path: Vec<String>,
    /// The signed checkpoint note the log path leads to.
    pub checkpoint: String,
}

/// What a verified proof establishes.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedProof {
    pub origin: String,
    pub record_id: String,
    pub batch_id: String,
    pub row: u64,
    pub contributor: String,
    pub log_index: u64,
    pub log_size: u64,
    pub log_root: String,
    pub checkpoint_signers: Vec<String>,
}

fn hexes(hs: &[Hash]) -> Vec<String> {
    hs.iter().map(hex::encode).collect()
}

fn bad(reason: impl Into<String>) -> WorkflowError {
    WorkflowError::Other(format!("invalid proof: {}", reason.into()))
}

/// The rows of a batch as its manifest names them (the original file, even when `masa
/// dedup` has since replaced it in the table), in row order.
pub(crate) async fn manifest_rows(
    ds: &Dataset,
    m: &SignedManifest,
) -> Result<Vec<Record>, WorkflowError> {
    let mut rows = Vec::new();
    for f in &m.manifest.files {
        let file = CommittedFile::new(&f.path, f.size, None);
        for b in ds.read_file(&file, None).await? {
            rows.extend(masa_record::records_from_batch(&b).map_err(|e| {
                WorkflowError::Corrupt {
                    path: f.path.clone(),
                    reason: e.to_string(),
                }
            })?);
        }
    }
    Ok(rows)
}

/// Builds the inclusion proof of `record_id` against the log's latest signed checkpoint.
pub async fn prove(
    location: &str,
    storage: &StorageOptions,
    record_id: &str,
) -> Result<RecordProof, WorkflowError> {
    Ok(prove_record(location, storage, record_id).await?.0)
}

/// [`prove`], and the record itself, as the signed file the proof is about holds it.
pub async fn prove_record(
    location: &str,
    storage: &StorageOptions,
    record_id: &str,
) -> Result<(RecordProof, Record), WorkflowError> {
    let ds = Dataset::open(location, storage).await?;
    // Find the record's batch from the table's record_id column.
    let mut found = None;
    for f in ds.committed_files()? {
        for b in ds.read_file(&f, Some(&["record_id", "batch_id"])).await? {
            let bad = |e: masa_record::RecordError| WorkflowError::Corrupt {
                path: f.path.clone(),
                reason: e.to_string(),
            };
            let ids = column::<StringArray>(&b, "record_id").map_err(bad)?;
            let batches = column::<StringArray>(&b, "batch_id").map_err(bad)?;
            if let Some(i) = (0..b.num_rows()).find(|i| ids.value(*i) == record_id) {
                found = Some(batches.value(i).to_owned());
                break;
            }
        }
        if found.is_some() {
            break;
        }
    }
    let batch = found
        .ok_or_else(|| WorkflowError::NotFound(format!("no record {record_id} in {}", ds.url())))?;
    let mpath = batch_manifest_path(&batch);
    let manifest_bytes = ds
        .get(&mpath)
        .await?
        .ok_or_else(|| WorkflowError::Corrupt {
            path: mpath.clone(),
            reason: "the manifest of a committed batch is missing".into(),
        })?;
    let manifest: SignedManifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| WorkflowError::Corrupt {
            path: mpath.clone(),
            reason: e.to_string(),
        })?;
    let mut rows = manifest_rows(&ds, &manifest).await?;
    rows.sort_by_key(|r| r.row_in_batch);
    let row_index = rows
        .iter()
        .position(|r| r.record_id == record_id)
        .ok_or_else(|| {
            WorkflowError::Other(format!(
                "record {record_id} is not in its batch's signed file"
            ))
        })?;
    let mut batch_tree = Tree::new();
    for r in &rows {
        batch_tree.push(leaf_hash(&r.leaf_bytes()));
    }
    let row_path = batch_tree
        .inclusion_proof(row_index as u64, rows.len() as u64)
        .map_err(|e| WorkflowError::Other(e.to_string()))?;

    let log = read_log(&ds).await?;
    let manifest_sha256 = masa_record::sha256_hex(&manifest_bytes);
    let log_index = log
        .entries
        .iter()
        .position(|e| matches!(e, LogEntry::Batch { batch_id, manifest_sha256: s, .. } if *batch_id == batch && *s == manifest_sha256))
        .ok_or_else(|| WorkflowError::Other(format!("batch {batch} has no leaf in the log")))? as u64;
    let (cp, note) = log
        .checkpoint
        .clone()
        .ok_or_else(|| WorkflowError::Other("the log has no signed checkpoint yet".into()))?;
    if log_index >= cp.size {
        return Err(WorkflowError::Other(format!(
            "batch {batch} is leaf {log_index}, past the latest signed checkpoint (size {}); \
             the next append signs it",
            cp.size
        )));
    }
    let log_path = log
        .tree
        .inclusion_proof(log_index, cp.size)
        .map_err(|e| WorkflowError::Other(e.to_string()))?;
    let proof = RecordProof {
        format: PROOF_FORMAT.into(),
        origin: log.origin,
        record_id: record_id.to_owned(),
        row_leaf_data: hex::encode(rows[row_index].leaf_bytes()),
        row_index: row_index as u64,
        row_count: rows.len() as u64,
        row_path: hexes(&row_path),
        manifest_json: String::from_utf8_lossy(&manifest_bytes).into_owned(),
        log_entry: String::from_utf8(log.raw[log_index as usize].clone())
            .map_err(|_| WorkflowError::Other("a log entry is not UTF-8".into()))?,
        log_index,
        log_path: hexes(&log_path),
        checkpoint: note,
    };
    Ok((proof, rows.swap_remove(row_index)))
}

fn parse_hashes(what: &str, hs: &[String]) -> Result<Vec<Hash>, WorkflowError> {
    hs.iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad(format!("{what} holds {h:?}, not a hex SHA-256 hash")))
        })
        .collect()
}

/// Checks a proof offline: the checkpoint's signature, the manifest's signature, the row's
/// path to the manifest's root, and the manifest's leaf path to the checkpoint's root.
///
/// That shows the proof is internally sound and who signed it, not that the log is the real
/// one: anyone can sign a checkpoint. Trust comes from `trusted` (the checkpoint must be
/// signed by one of these hex keys) or from [`verify_proof_in`], which compares the
/// checkpoint with the dataset's own log.
pub fn verify_proof(text: &str, trusted: &[String]) -> Result<VerifiedProof, WorkflowError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "not a complete JSON document ({e}); is the file truncated?"
        ))
    })?;
    match v.get("format").and_then(|f| f.as_str()) {
        Some(PROOF_FORMAT) => {}
        Some(other) => {
            return Err(bad(format!(
                "unknown format {other:?} (this masa reads {PROOF_FORMAT})"
            )));
        }
        None => {
            return Err(bad(format!(
                "no \"format\" field: not a {PROOF_FORMAT} proof"
            )));
        }
    }
    let p: RecordProof = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
    let (cp, signers) =
        Checkpoint::open(&p.checkpoint).map_err(|e| bad(format!("checkpoint: {e}")))?;
    if !trusted.is_empty() && !signers.iter().any(|s| trusted.contains(s)) {
        return Err(bad(format!(
            "its checkpoint is signed by {}, none of them a trusted key",
            signers.join(", ")
        )));
    }
    if cp.origin != p.origin {
        return Err(bad(format!(
            "its checkpoint is of log {:?}, not {:?}",
            cp.origin, p.origin
        )));
    }
    let manifest: SignedManifest =
        serde_json::from_str(&p.manifest_json).map_err(|e| bad(format!("manifest: {e}")))?;
    verify_manifest(&manifest).map_err(|e| bad(e.to_string()))?;
    let m = &manifest.manifest;
    let row_data = hex::decode(&p.row_leaf_data).map_err(|_| bad("row_leaf_data is not hex"))?;
    let root: Hash = hex::decode(&m.rows_root)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("the manifest's rows_root is not a hash"))?;
    if p.row_count != m.rows {
        return Err(bad(format!(
            "row_count {} but the manifest has {} rows",
            p.row_count, m.rows
        )));
    }
    verify_inclusion(
        &leaf_hash(&row_data),
        p.row_index,
        m.rows,
        &parse_hashes("row_path", &p.row_path)?,
        &root,
    )
    .map_err(|e| bad(format!("row path: {e}")))?;
    // The row's leaf must be exactly this record, in this batch, of this contributor, at
    // this position.
    let leaf = masa_record::LeafFields::parse(&row_data)
        .ok_or_else(|| bad("row_leaf_data is not a row leaf"))?;
    if leaf.record_id != p.record_id
        || leaf.batch_id != m.batch_id
        || leaf.contributor != m.contributor
        || u64::try_from(leaf.row_in_batch).ok() != Some(p.row_index)
    {
        return Err(bad(
            "row_leaf_data is not the leaf of this record at this row of this batch",
        ));
    }
    let entry: LogEntry =
        serde_json::from_str(&p.log_entry).map_err(|e| bad(format!("log entry: {e}")))?;
    match &entry {
        LogEntry::Batch {
            batch_id,
            manifest_sha256,
            contributor,
            ..
        } if *batch_id == m.batch_id
            && *contributor == m.contributor
            && *manifest_sha256 == masa_record::sha256_hex(p.manifest_json.as_bytes()) => {}
        _ => return Err(bad("the log entry is not this manifest's")),
    }
    verify_inclusion(
        &leaf_hash(p.log_entry.as_bytes()),
        p.log_index,
        cp.size,
        &parse_hashes("log_path", &p.log_path)?,
        &cp.root,
    )
    .map_err(|e| bad(format!("log path: {e}")))?;
    Ok(VerifiedProof {
        origin: p.origin,
        record_id: p.record_id,
        batch_id: m.batch_id.clone(),
        row: p.row_index,
        contributor: m.contributor.clone(),
        log_index: p.log_index,
        log_size: cp.size,
        log_root: hex::encode(cp.root),
        checkpoint_signers: signers,
    })
}

/// Verifies a proof and that it is about the dataset at `location`: same log, and the
/// dataset's log has the proof's checkpoint root at that size (so the proof is of this log's
/// real history, whoever signed the checkpoint).
pub async fn verify_proof_in(
    location: &str,
    storage: &StorageOptions,
    text: &str,
    trusted: &[String],
) -> Result<VerifiedProof, WorkflowError> {
    let v = verify_proof(text, trusted)?;
    let ds = Dataset::open(location, storage).await?;
    let log = read_log(&ds).await?;
    if v.origin != log.origin {
        return Err(bad(format!(
            "it is about log {:?}, not {:?}",
            v.origin, log.origin
        )));
    }
    match log.tree.root_at(v.log_size) {
        Ok(root) if hex::encode(root) == v.log_root => Ok(v),
        _ => Err(bad(format!(
            "the dataset's log does not have this checkpoint's root at size {}: the proof is \
             not of its history",
            v.log_size
        ))),
    }
}

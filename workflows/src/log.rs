//! The dataset's transparency log, under `log/`: one leaf per committed batch manifest (and
//! per audit report), stored in the C2SP tlog-tiles layout with a signed checkpoint.
//!
//! **Appends never fork.** Leaf `n` is claimed by creating `log/seq/<n>` with a conditional
//! put (create only if absent): of writers racing for the same index exactly one wins, the
//! others reload and take the next index. The winner then writes the tiles, the entry
//! bundle and a checkpoint signed with its key (`log/checkpoint`, and the immutable
//! `log/checkpoints/<size>`). Tiles and checkpoints are derived from the `seq` objects: a
//! writer that stops after claiming its index leaves a log that readers still read whole
//! (they continue past the last checkpoint through `seq`) and the next writer completes.

use crate::WorkflowError;
use masa_provenance::{
    Checkpoint, ContributorKey, TILE_WIDTH, Tree, changed_tiles, decode_entries, encode_entries,
    entries_path, leaf_hash, leaf_tile, tile_hashes,
};
use masa_storage::Dataset;
use serde::{Deserialize, Serialize};

pub(crate) const CHECKPOINT_PATH: &str = "log/checkpoint";

fn seq_path(index: u64) -> String {
    format!("log/seq/{index:020}")
}

fn checkpoint_history_path(size: u64) -> String {
    format!("log/checkpoints/{size:020}")
}

/// What a leaf records. Its canonical bytes (this struct as compact JSON, fields in this
/// order) are the tlog entry; the leaf hash is `SHA-256(0x00 ‖ entry)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LogEntry {
    /// A batch manifest: the batch, who signed it, and the SHA-256 of the stored manifest
    /// object (`provenance/batches/<batch>.json`). `sig` is the contributor's signature of
    /// the leaf (`masa_rewards::event::batch_entry_signing_bytes`); leaves written before
    /// the protocol have none and earn nothing.
    Batch {
        batch_id: String,
        contributor: String,
        manifest_sha256: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sig: Option<String>,
    },
    /// A validator's signed audit report (`log/audits/<sha256>.json`).
    Audit {
        validator: String,
        report_sha256: String,
    },
    /// A signed protocol event (`masa_rewards::event`): the body as signed, and the
    /// signature.
    Protocol { body: String, sig: String },
    /// A kind this version does not know (from a newer masa): kept in the log, rejected by
    /// the fold.
    #[serde(other)]
    Unknown,
}

impl LogEntry {
    pub fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a log entry serializes")
    }

    /// A batch leaf signed by its contributor for the log `origin`.
    pub fn batch(
        origin: &str,
        key: &ContributorKey,
        batch_id: String,
        manifest_sha256: String,
    ) -> LogEntry {
        let contributor = key.public_hex();
        let msg = masa_rewards::event::batch_entry_signing_bytes(
            origin,
            &batch_id,
            &contributor,
            &manifest_sha256,
        );
        LogEntry::Batch {
            batch_id,
            contributor,
            manifest_sha256,
            sig: Some(hex::encode(key.sign_bytes(&msg))),
        }
    }
}

/// The log as read: its tree, its entries, and the newest signed checkpoint (which may be
/// behind the tree when a writer stopped after claiming an index).
#[derive(Debug)]
pub struct Log {
    pub origin: String,
    pub tree: Tree,
    pub entries: Vec<LogEntry>,
    /// Each entry's bytes as stored (what its leaf hashes).
    pub raw: Vec<Vec<u8>>,
    pub checkpoint: Option<(Checkpoint, String)>,
}

/// The log's origin line: the dataset's identity (its Delta table id), so a proof or
/// checkpoint of another dataset is told apart whatever URL either is read from.
pub(crate) fn origin(ds: &Dataset) -> Result<String, WorkflowError> {
    Ok(format!("masa/dataset/{}", ds.table_id()?))
}

fn corrupt(path: &str, reason: impl Into<String>) -> WorkflowError {
    WorkflowError::Corrupt {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn parse_entry(path: &str, bytes: &[u8]) -> Result<LogEntry, WorkflowError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(path, format!("not a log entry: {e}")))
}

/// Reads and verifies a stored checkpoint note; it must be of `origin`.
async fn load_note(
    ds: &Dataset,
    path: &str,
    origin: &str,
) -> Result<Option<(Checkpoint, String)>, WorkflowError> {
    let Some(b) = ds.get(path).await? else {
        return Ok(None);
    };
    let note = String::from_utf8(b.to_vec()).map_err(|_| corrupt(path, "not UTF-8 text"))?;
    let (cp, _) = Checkpoint::open(&note).map_err(|e| corrupt(path, e.to_string()))?;
    if cp.origin != origin {
        return Err(corrupt(
            path,
            format!(
                "is the checkpoint of log {:?}, not of this dataset ({origin})",
                cp.origin
            ),
        ));
    }
    Ok(Some((cp, note)))
}

/// The log's latest signed checkpoint, verified. The `checkpoint` pointer is written by
/// whichever writer published last and may trail; every signed size also has its immutable
/// `checkpoints/<size>`, so the newest is found by looking past the pointer.
async fn latest_checkpoint(
    ds: &Dataset,
    origin: &str,
) -> Result<Option<(Checkpoint, String)>, WorkflowError> {
    let mut best = load_note(ds, CHECKPOINT_PATH, origin).await?;
    loop {
        let next = best.as_ref().map_or(1, |(c, _)| c.size + 1);
        match load_note(ds, &checkpoint_history_path(next), origin).await? {
            Some(found) => best = Some(found),
            None => return Ok(best),
        }
    }
}

/// Reads the whole log: tiles up to the checkpoint (checked against its root), then any
/// claimed leaves past it.
pub async fn read_log(ds: &Dataset) -> Result<Log, WorkflowError> {
    let origin = origin(ds)?;
    let checkpoint = latest_checkpoint(ds, &origin).await?;
    let size = checkpoint.as_ref().map_or(0, |(c, _)| c.size);
    let mut tree = Tree::new();
    // Tile by tile, never sized by the checkpoint up front: a forged size fails at the first
    // missing tile instead of exhausting memory.
    for (path, width) in (0..size.div_ceil(TILE_WIDTH)).map(|t| leaf_tile(t, size)) {
        let full = format!("log/{path}");
        let bytes = ds
            .get(&full)
            .await?
            .ok_or_else(|| corrupt(&full, "missing tile: the log cannot be read past it"))?;
        for h in tile_hashes(&bytes, width).map_err(|e| corrupt(&full, e))? {
            tree.push(h);
        }
    }
    if let Some((cp, _)) = &checkpoint
        && tree.root() != cp.root
    {
        return Err(corrupt(
            "log/tile/0",
            format!(
                "the leaf tiles do not hash to the checkpoint's root at size {}: the log was altered",
                cp.size
            ),
        ));
    }
    let mut entries = Vec::new();
    let mut raw = Vec::new();
    for t in 0..size.div_ceil(TILE_WIDTH) {
        let width = (size - t * TILE_WIDTH).min(TILE_WIDTH);
        let path = format!("log/{}", entries_path(t, width));
        let bytes = ds
            .get(&path)
            .await?
            .ok_or_else(|| corrupt(&path, "missing entry bundle"))?;
        for (i, e) in decode_entries(&bytes, width)
            .map_err(|e| corrupt(&path, e))?
            .into_iter()
            .enumerate()
        {
            let index = t * TILE_WIDTH + i as u64;
            if leaf_hash(&e) != tree.level(0)[index as usize] {
                return Err(corrupt(
                    &path,
                    format!("entry {index} does not match its leaf hash"),
                ));
            }
            entries.push(parse_entry(&path, &e)?);
            raw.push(e);
        }
    }
    // Leaves claimed after the last checkpoint.
    loop {
        let path = seq_path(tree.size());
        let Some(bytes) = ds.get(&path).await? else {
            break;
        };
        if bytes.len() > usize::from(u16::MAX) {
            return Err(corrupt(&path, "a log entry over 64 KiB"));
        }
        entries.push(parse_entry(&path, &bytes)?);
        tree.push(leaf_hash(&bytes));
        raw.push(bytes.to_vec());
    }
    Ok(Log {
        origin,
        tree,
        entries,
        raw,
        checkpoint,
    })
}

/// Appends `entry` as the next leaf of `log` (the log as the caller last read it); returns
/// its index and the signed checkpoint that includes it. When another writer took the index
/// first, reads the log again and retries.
pub async fn append(
    ds: &Dataset,
    key: &ContributorKey,
    entry: &LogEntry,
    mut log: Log,
) -> Result<(u64, Checkpoint), WorkflowError> {
    let bytes = entry.bytes();
    for _ in 0..1000 {
        let index = log.tree.size();
        if !ds
            .put_if_absent(&seq_path(index), bytes.clone().into())
            .await?
        {
            // Another writer claimed this index: read again, take the next.
            log = read_log(ds).await?;
            continue;
        }
        log.tree.push(leaf_hash(&bytes));
        log.entries.push(entry.clone());
        log.raw.push(bytes);
        let cp = publish(ds, key, &log).await?;
        return Ok((index, cp));
    }
    Err(WorkflowError::Other(
        "could not append to the log: 1000 attempts lost to other writers".into(),
    ))
}

/// Appends one entry to a dataset's log, signing the new checkpoint with the key in
/// `key_path`; returns its leaf index. (For tools and tests that write leaves themselves;
/// the commands append through their own workflows.)
pub async fn append_entry(
    location: &str,
    storage: &masa_storage::StorageOptions,
    key_path: &std::path::Path,
    entry: &LogEntry,
) -> Result<u64, WorkflowError> {
    let key = ContributorKey::load(key_path)?;
    let ds = Dataset::open(location, storage).await?;
    let log = read_log(&ds).await?;
    Ok(append(&ds, &key, entry, log).await?.0)
}

/// Writes the tiles, entry bundles and a signed checkpoint for the whole of `log.tree`,
/// from where the stored checkpoint left off.
async fn publish(
    ds: &Dataset,
    key: &ContributorKey,
    log: &Log,
) -> Result<Checkpoint, WorkflowError> {
    let from = log.checkpoint.as_ref().map_or(0, |(c, _)| c.size);
    for (path, bytes) in changed_tiles(&log.tree, from) {
        ds.put(&format!("log/{path}"), bytes.into()).await?;
    }
    let size = log.tree.size();
    let width = TILE_WIDTH;
    for t in from / width..size.div_ceil(width) {
        let end = ((t + 1) * width).min(size);
        let entries = &log.raw[(t * width) as usize..end as usize];
        let bundle = encode_entries(entries.iter().map(Vec::as_slice));
        ds.put(
            &format!("log/{}", entries_path(t, end - t * width)),
            bundle.into(),
        )
        .await?;
    }
    let cp = Checkpoint {
        origin: log.origin.clone(),
        size,
        root: log.tree.root(),
    };
    let note = cp.sign(key);
    ds.put_if_absent(&checkpoint_history_path(size), note.clone().into())
        .await?;
    // The latest pointer only moves forward: a slower writer of an earlier size leaves it.
    let current = ds.get(CHECKPOINT_PATH).await?.and_then(|b| {
        Checkpoint::open(std::str::from_utf8(&b).ok()?)
            .ok()
            .map(|(c, _)| c.size)
    });
    if current.is_none_or(|c| c < size) {
        ds.put(CHECKPOINT_PATH, note.into()).await?;
    }
    Ok(cp)
}

/// The log's latest signed checkpoint, as `masa log checkpoint` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointInfo {
    pub origin: String,
    pub size: u64,
    /// Root hash, hex.
    pub root: String,
    /// The signed note, verbatim: save it to check consistency later.
    pub note: String,
    pub signers: Vec<String>,
    /// Leaves appended after this checkpoint, not yet signed.
    pub pending: u64,
}

pub async fn log_checkpoint(
    location: &str,
    storage: &masa_storage::StorageOptions,
) -> Result<CheckpointInfo, WorkflowError> {
    let ds = Dataset::open(location, storage).await?;
    let log = read_log(&ds).await?;
    let (cp, note) = log.checkpoint.ok_or_else(|| {
        WorkflowError::NotFound("the log is empty: nothing has been contributed".into())
    })?;
    let (_, signers) =
        Checkpoint::open(&note).map_err(|e| corrupt(CHECKPOINT_PATH, e.to_string()))?;
    Ok(CheckpointInfo {
        origin: cp.origin,
        size: cp.size,
        root: hex::encode(cp.root),
        pending: log.tree.size() - cp.size,
        note,
        signers,
    })
}

/// A tile or entry bundle of the log, by its C2SP tlog-tiles path (`tile/0/x001/234`,
/// `tile/0/000.p/5`, `tile/entries/000`): what a tlog client mirrors. Other paths are
/// refused, so nothing outside the log's derived files can be read this way.
pub async fn log_tile(
    location: &str,
    storage: &masa_storage::StorageOptions,
    path: &str,
) -> Result<bytes::Bytes, WorkflowError> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b == b'x' || b == b'.' || b == b'p')
    };
    let well_formed = path
        .strip_prefix("tile/")
        .is_some_and(|rest| rest.split('/').all(|s| s == "entries" || segment_ok(s)));
    if !well_formed {
        return Err(WorkflowError::NotFound(format!(
            "{path:?} is not a tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])"
        )));
    }
    let ds = Dataset::open(location, storage).await?;
    ds.get(&format!("log/{path}"))
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("the log has no {path}")))
}

/// Reads a checkpoint a user saved: the note itself, or the JSON `masa log checkpoint
/// --json` printed (its `note` field).
pub fn parse_saved_checkpoint(text: &str) -> Result<(Checkpoint, String), WorkflowError> {
    let note = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => v
            .get("note")
            .and_then(|n| n.as_str())
            .ok_or_else(|| {
                WorkflowError::Other(
                    "the checkpoint file is JSON without a \"note\" field: not a masa checkpoint"
                        .into(),
                )
            })?
            .to_owned(),
        Err(_) => text.to_owned(),
    };
    let (cp, _) = Checkpoint::open(&note)
        .map_err(|e| WorkflowError::Other(format!("unreadable checkpoint: {e}")))?;
    Ok((cp, note))
}

/// What `masa log verify` established.
#[derive(Debug, Clone, Serialize)]
pub struct Consistency {
    pub origin: String,
    pub old_size: u64,
    pub new_size: u64,
    pub proof_hashes: usize,
    /// The roots and the RFC 9162 consistency proof between them (hex), so anyone holding
    /// both signed checkpoints can check it again.
    pub old_root: String,
    pub new_root: String,
    pub proof: Vec<String>,
}

/// Checks that the log only grew since the checkpoint `old` (a saved note): same origin,
/// and a consistency proof from its tree to the current signed checkpoint verifies.
pub async fn log_verify(
    location: &str,
    storage: &masa_storage::StorageOptions,
    old: &str,
) -> Result<Consistency, WorkflowError> {
    let (old, _) = parse_saved_checkpoint(old)?;
    let ds = Dataset::open(location, storage).await?;
    let log = read_log(&ds).await?;
    check_consistency(&log, &old)
}

/// The consistency of `log` with an earlier checkpoint of it.
pub(crate) fn check_consistency(log: &Log, old: &Checkpoint) -> Result<Consistency, WorkflowError> {
    if old.origin != log.origin {
        return Err(WorkflowError::Other(format!(
            "the checkpoint is of log {:?}, this dataset's log is {:?}",
            old.origin, log.origin
        )));
    }
    let new_size = log.checkpoint.as_ref().map_or(0, |(c, _)| c.size);
    if old.size > new_size {
        return Err(WorkflowError::Other(format!(
            "the log shrank: it had {} leaves, its latest checkpoint has {new_size}",
            old.size
        )));
    }
    let proof = log
        .tree
        .consistency_proof(old.size, new_size)
        .map_err(|e| WorkflowError::Other(e.to_string()))?;
    let new_root = log
        .tree
        .root_at(new_size)
        .map_err(|e| WorkflowError::Other(e.to_string()))?;
    masa_provenance::verify_consistency(old.size, new_size, &proof, &old.root, &new_root).map_err(
        |_| {
            WorkflowError::Other(format!(
                "the log is not consistent with the checkpoint at size {}: the tree it had then \
                 was rewritten",
                old.size
            ))
        },
    )?;
    Ok(Consistency {
        origin: log.origin.clone(),
        old_size: old.size,
        new_size,
        proof_hashes: proof.len(),
        old_root: hex::encode(old.root),
        new_root: hex::encode(new_root),
        proof: proof.iter().map(hex::encode).collect(),
    })
}

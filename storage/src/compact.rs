//! Compaction: many batches' small data files rewritten as one, in a commit that changes
//! no data (`dataChange = false`), so concurrent appends do not conflict with it.
//!
//! A compacted file holds each batch's rows as whole row groups, in the order the batches
//! were given. Which row groups belong to which batch is recorded in the file's Delta `add`
//! action, under the tag `masa.slices`: checkpoints carry tags, so the table alone says
//! where every batch's rows are, and [`Dataset::committed_files`] hands out one
//! [`CommittedFile`] per batch as before. The files compacted are removed from the table,
//! not from storage: signed batch manifests name them, and proofs and audits read them.
//!
//! Every commit that removes files (compaction, and the dedup filter's
//! [`Dataset::replace_files`]) also advances the `txn` of the application
//! [`REWRITE_APP_ID`]. delta-rs ignores a concurrent removal with `dataChange = false` when
//! it checks a removal for conflicts, so two rewrites of one file could otherwise both land
//! and duplicate its rows; a `txn` both advanced makes the second conflict, re-read, and
//! find its files gone. Appends do not use it and never wait for it.

use crate::table::{add_action, commit_properties, data_file_props, wait_to_retry};
use crate::{CommittedFile, Dataset, StorageError};
use bytes::Bytes;
use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add, Remove, Transaction};
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::protocol::DeltaOperation;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The application whose `txn` every file-removing commit advances (see the module).
pub const REWRITE_APP_ID: &str = "masa-rewrite";

const TAG: &str = "masa.slices";
const PREFIX: &str = "compacted-";

/// One batch's rows in a compacted file, as its `masa.slices` tag records them.
#[derive(Debug, Serialize, Deserialize)]
struct Slice {
    batch: String,
    rows: u64,
    /// Row groups `start..end`.
    row_groups: (usize, usize),
    /// See [`CommittedFile::origin`].
    origin: String,
}

/// Whether `path` names a compacted file (`table/compacted-<hash>.zstd.parquet`).
pub(crate) fn is_compacted(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with(PREFIX))
}

/// The batches of compacted file `path`, from its `add` action's tags.
pub(crate) fn slices(
    path: &str,
    size: u64,
    tags: Option<&HashMap<String, Option<String>>>,
) -> Result<Vec<CommittedFile>, StorageError> {
    let bad = |message: String| StorageError::Data {
        context: format!("the slices of {path}"),
        message,
    };
    let json = tags
        .and_then(|t| t.get(TAG))
        .and_then(Option::as_deref)
        .ok_or_else(|| bad(format!("its add action has no `{TAG}` tag")))?;
    let slices: Vec<Slice> = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    Ok(slices
        .into_iter()
        .map(|s| {
            let mut f = CommittedFile::new(&s.origin, size, Some(s.rows));
            f.batch_id = Some(s.batch);
            f.moved(path, size, s.row_groups)
        })
        .collect())
}

/// What one [`Dataset::compact`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Compaction {
    /// The table version of the compaction commit.
    pub version: i64,
    /// The compacted file written.
    pub path: String,
    pub size: u64,
    pub files_removed: usize,
    pub bytes_removed: u64,
    pub batches: usize,
}

impl Dataset {
    /// Rewrites the data files `paths` (each committed, whole or compacted) as one
    /// compacted file, in one commit with `dataChange = false`. Fails, changing nothing
    /// (the written file stays unreferenced), when one of them left the table first.
    pub async fn compact(&mut self, paths: &[String]) -> Result<Compaction, StorageError> {
        self.refresh().await?;
        // The files in the order given, each file's batches in their order in it.
        let rank: HashMap<&str, usize> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), i))
            .collect();
        let mut slices: Vec<CommittedFile> = self
            .committed_files()?
            .into_iter()
            .filter(|f| rank.contains_key(f.path.as_str()))
            .collect();
        slices.sort_by_key(|f| (rank[f.path.as_str()], f.row_groups));
        let removed = distinct_files(&slices);
        if let Some(gone) = paths.iter().find(|p| !removed.iter().any(|(r, _)| r == *p)) {
            return Err(gone_error(gone));
        }
        let (path, add) = self.write_compacted(&slices, false).await?;
        let size = add.size as u64;
        let version = self
            .rewrite(
                &removed,
                vec![add],
                false,
                HashMap::from([("masa.compacted".to_owned(), path.clone().into())]),
                DeltaOperation::Optimize {
                    predicate: None,
                    target_size: size as i64,
                },
            )
            .await?;
        Ok(Compaction {
            version,
            path,
            size,
            files_removed: removed.len(),
            bytes_removed: removed.iter().map(|(_, s)| s).sum(),
            batches: slices.len(),
        })
    }

    /// The other batches of the compacted files some of whose batches `replaced` holds, as
    /// a new compacted file each: the removal of a compacted file must not take them along.
    pub(crate) async fn leftovers(
        &self,
        replaced: &[CommittedFile],
    ) -> Result<Vec<Add>, StorageError> {
        let touched: BTreeSet<&str> = replaced
            .iter()
            .filter(|f| f.row_groups.is_some())
            .map(|f| f.path.as_str())
            .collect();
        let mut adds = Vec::new();
        let all = self.committed_files()?;
        for path in touched {
            let rest: Vec<CommittedFile> = all
                .iter()
                .filter(|f| f.path == path && !replaced.contains(f))
                .cloned()
                .collect();
            if !rest.is_empty() {
                adds.push(self.write_compacted(&rest, true).await?.1);
            }
        }
        Ok(adds)
    }

    /// Writes `slices` (read from wherever they are now) as one compacted file, each as
    /// whole row groups of its own, and returns its path and `add` action.
    async fn write_compacted(
        &self,
        slices: &[CommittedFile],
        data_change: bool,
    ) -> Result<(String, Add), StorageError> {
        let err = |e: deltalake::parquet::errors::ParquetError| StorageError::Data {
            context: "writing a compacted file".into(),
            message: e.to_string(),
        };
        let props = data_file_props().map_err(err)?;
        // The record schema as the files store it: every slice must have the same.
        let schema = masa_record::arrow_schema();
        let mut w = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props)).map_err(err)?;
        let mut tagged = Vec::with_capacity(slices.len());
        let mut rows = 0u64;
        for s in slices {
            let start = w.flushed_row_groups().len();
            let mut n = 0u64;
            for b in self.read_file(s, None).await? {
                if b.schema().fields() != schema.fields() {
                    return Err(StorageError::Data {
                        context: format!("compacting {}", s.path),
                        message: "its columns are not this masa's record schema; not compacted"
                            .into(),
                    });
                }
                n += b.num_rows() as u64;
                let b =
                    RecordBatch::try_new(schema.clone(), b.columns().to_vec()).map_err(|e| {
                        StorageError::Data {
                            context: format!("compacting {}", s.path),
                            message: e.to_string(),
                        }
                    })?;
                w.write(&b).map_err(err)?;
            }
            w.flush().map_err(err)?;
            rows += n;
            tagged.push(Slice {
                batch: s.batch_id.clone().ok_or_else(|| StorageError::Data {
                    context: format!("compacting {}", s.path),
                    message: "a data file not written by masa (no batch id in its name)".into(),
                })?,
                rows: n,
                row_groups: (start, w.flushed_row_groups().len()),
                origin: s.origin.clone(),
            });
        }
        let bytes = w.into_inner().map_err(err)?;
        let name = format!(
            "{PREFIX}{}.zstd.parquet",
            &hex::encode(Sha256::digest(&bytes))[..32]
        );
        let size = bytes.len() as u64;
        let path = format!("table/{name}");
        self.put(&path, Bytes::from(bytes)).await?;
        let tags = serde_json::to_string(&tagged).map_err(|e| StorageError::Data {
            context: "the slices of a compacted file".into(),
            message: e.to_string(),
        })?;
        let tags = HashMap::from([(TAG.to_owned(), Some(tags))]);
        Ok((path, add_action(name, size, rows, data_change, Some(tags))))
    }

    /// Commits the removal of `removed` (path, size) and the addition of `adds`, advancing
    /// [`REWRITE_APP_ID`]. A conflict is retried on a re-read table while every removed
    /// file is still in it (a path's contents never change), and refused once one is not.
    pub(crate) async fn rewrite(
        &mut self,
        removed: &[(String, u64)],
        adds: Vec<Add>,
        data_change: bool,
        metadata: HashMap<String, serde_json::Value>,
        operation: DeltaOperation,
    ) -> Result<i64, StorageError> {
        let now = masa_record::now_micros() / 1000;
        let mut actions: Vec<Action> = removed
            .iter()
            .map(|(path, size)| {
                Action::Remove(Remove {
                    path: path.strip_prefix("table/").unwrap_or(path).to_owned(),
                    data_change,
                    deletion_timestamp: Some(now),
                    extended_file_metadata: Some(true),
                    partition_values: Some(HashMap::new()),
                    size: Some(*size as i64),
                    tags: None,
                    deletion_vector: None,
                    base_row_id: None,
                    default_row_commit_version: None,
                })
            })
            .collect();
        actions.extend(adds.into_iter().map(Action::Add));
        let mut attempt = 1;
        loop {
            self.refresh().await?;
            // Delta accepts a remove of a path that is already gone: check against the latest
            // version, so two rewrites of one file cannot both commit and leave its rows twice.
            let present: HashSet<String> = self
                .committed_files()?
                .into_iter()
                .map(|f| f.path)
                .collect();
            if let Some((gone, _)) = removed.iter().find(|(p, _)| !present.contains(p)) {
                return Err(gone_error(gone));
            }
            let next = self.txn_version(REWRITE_APP_ID).await?.map_or(0, |v| v + 1);
            let props = commit_properties(metadata.clone())
                .with_application_transaction(Transaction::new(REWRITE_APP_ID, next));
            let result = CommitBuilder::from(props)
                .with_actions(actions.clone())
                .build(
                    Some(self.snapshot()?),
                    self.table.log_store(),
                    operation.clone(),
                )
                .await;
            match result {
                Ok(finalized) => {
                    let version = finalized.version();
                    self.table.state = Some(finalized.snapshot());
                    self.after_commit().await;
                    return Ok(version as i64);
                }
                Err(e) => {
                    if !wait_to_retry(&e, &mut attempt).await {
                        return Err(crate::dataset::delta_err("rewriting data files", e));
                    }
                }
            }
        }
    }
}

/// Each distinct file of `slices` with its size, in order.
pub(crate) fn distinct_files(slices: &[CommittedFile]) -> Vec<(String, u64)> {
    let mut seen = HashSet::new();
    slices
        .iter()
        .filter(|f| seen.insert(f.path.as_str()))
        .map(|f| (f.path.clone(), f.size))
        .collect()
}

fn gone_error(path: &str) -> StorageError {
    StorageError::Gone {
        path: path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StorageOptions;
    use masa_record::{Consent, Record};

    fn records(batch: &str, n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let text = format!("row {i} of batch {batch}");
                let hash = masa_record::content_hash(&text);
                let uri = format!("file:///{batch}/{i}");
                Record {
                    record_id: masa_record::record_id("k", &uri, &hash),
                    content_hash: hash,
                    source: "files".into(),
                    uri,
                    fetched_at_micros: i as i64,
                    http_status: None,
                    content_type: None,
                    title: None,
                    text,
                    lang: None,
                    lang_score: None,
                    quality_score: None,
                    quality_signals: None,
                    licence: None,
                    consent: Consent::declared("d"),
                    contributor: "k".into(),
                    batch_id: batch.into(),
                    row_in_batch: i as i64,
                    near_dup_of: None,
                }
            })
            .collect()
    }

    /// Commits batch `i` with `n` rows as its own data file.
    async fn append(ds: &mut Dataset, i: u32, n: usize) -> String {
        let batch = format!("{i:032x}");
        let rb = masa_record::records_to_batch(&records(&batch, n)).unwrap();
        let parquet = crate::encode_parquet(&rb).unwrap();
        let file = ds.put_data_file(&batch, parquet, n).await.unwrap();
        let path = file.path.clone();
        ds.commit(vec![file], &format!("run-{i}"), 0, HashMap::new())
            .await
            .unwrap();
        path
    }

    /// Every batch's rows, read through `committed_files`, by batch.
    async fn rows_by_batch(ds: &Dataset) -> std::collections::BTreeMap<String, Vec<Record>> {
        let mut out = std::collections::BTreeMap::new();
        for f in ds.committed_files().unwrap() {
            let mut rows = Vec::new();
            for b in ds.read_file(&f, None).await.unwrap() {
                rows.extend(masa_record::records_from_batch(&b).unwrap());
            }
            assert_eq!(f.num_records, Some(rows.len() as u64), "{f:?}");
            let prev = out.insert(f.batch_id.clone().unwrap(), rows);
            assert!(
                prev.is_none(),
                "batch {:?} is in the table twice",
                f.batch_id
            );
        }
        out
    }

    /// Compaction moves batches into one file without changing a row: each batch still
    /// reads as exactly its rows (one of them larger than a row group), keeps its origin,
    /// and the original objects stay in storage. Compacting a compacted file with another
    /// carries the origins through; the slices survive a checkpoint with the JSON commit
    /// files gone, since checkpoints carry tags.
    #[tokio::test]
    async fn compaction_moves_batches_without_changing_them() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().to_str().unwrap().to_owned();
        let mut ds = Dataset::create_or_open(&loc, &StorageOptions::new())
            .await
            .unwrap();
        let mut paths = Vec::new();
        for (i, n) in [
            (1, 3),
            (2, crate::table::ROW_GROUP_ROWS + 5),
            (3, 1),
            (4, 7),
        ] {
            paths.push(append(&mut ds, i, n).await);
        }
        let before = rows_by_batch(&ds).await;
        let first = ds.compact(&paths[..3]).await.unwrap();
        assert_eq!((first.files_removed, first.batches), (3, 3));
        let files = ds.committed_files().unwrap();
        assert_eq!(files.len(), 4);
        let compacted: Vec<&CommittedFile> =
            files.iter().filter(|f| f.path == first.path).collect();
        assert_eq!(compacted.len(), 3);
        assert!(
            compacted
                .iter()
                .all(|f| paths.contains(&f.origin) && !f.revised)
        );
        assert_eq!(rows_by_batch(&ds).await, before);
        for p in &paths {
            assert!(ds.get(p).await.unwrap().is_some(), "{p} left storage");
        }

        let second = ds
            .compact(&[first.path.clone(), paths[3].clone()])
            .await
            .unwrap();
        assert_eq!((second.files_removed, second.batches), (2, 4));
        let origins: BTreeSet<String> = ds
            .committed_files()
            .unwrap()
            .into_iter()
            .map(|f| f.origin)
            .collect();
        assert_eq!(origins, paths.iter().cloned().collect());
        assert_eq!(rows_by_batch(&ds).await, before);

        // Slices from a checkpoint alone.
        deltalake::checkpoints::create_checkpoint(&ds.table, None)
            .await
            .unwrap();
        let log = dir.path().join("table/_delta_log");
        for e in std::fs::read_dir(&log).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                std::fs::remove_file(p).unwrap();
            }
        }
        let reopened = Dataset::open(&loc, &StorageOptions::new()).await.unwrap();
        assert_eq!(rows_by_batch(&reopened).await, before);
    }

    /// Replacing one batch of a compacted file removes the file and keeps the others'
    /// rows, rewritten; a second rewrite of a file already gone is refused.
    #[tokio::test]
    async fn replacing_one_batch_of_a_compacted_file_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().to_str().unwrap().to_owned();
        let mut ds = Dataset::create_or_open(&loc, &StorageOptions::new())
            .await
            .unwrap();
        let mut paths = Vec::new();
        for i in 1..=3 {
            paths.push(append(&mut ds, i, 4).await);
        }
        let mut before = rows_by_batch(&ds).await;
        let c = ds.compact(&paths).await.unwrap();
        let target = ds
            .committed_files()
            .unwrap()
            .into_iter()
            .find(|f| f.batch_id.as_deref() == Some(&format!("{:032x}", 2)))
            .unwrap();
        let mut stale = Dataset::open(&loc, &StorageOptions::new()).await.unwrap();
        let stale_target = target.clone();
        ds.replace_files(vec![(target, None)], HashMap::new(), "test")
            .await
            .unwrap();
        before.remove(&format!("{:032x}", 2));
        assert_eq!(rows_by_batch(&ds).await, before);
        assert!(
            ds.committed_files()
                .unwrap()
                .iter()
                .all(|f| f.path != c.path)
        );
        assert_eq!(ds.txn_version(REWRITE_APP_ID).await.unwrap(), Some(1));
        let refused = stale
            .replace_files(vec![(stale_target, None)], HashMap::new(), "test")
            .await;
        assert!(
            matches!(refused, Err(StorageError::Gone { .. })),
            "{refused:?}"
        );
        assert_eq!(rows_by_batch(&stale).await, before);
    }

    /// Two rewrites of one file prepared on the same snapshot: delta-rs alone would let both
    /// land (it ignores the compaction's `dataChange = false` removal), leaving the rows
    /// twice; the shared `txn` makes the second re-read and refuse.
    #[tokio::test]
    async fn a_compaction_and_a_replacement_of_one_file_do_not_both_land() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().to_str().unwrap().to_owned();
        let mut ds = Dataset::create_or_open(&loc, &StorageOptions::new())
            .await
            .unwrap();
        let a = append(&mut ds, 1, 2).await;
        let b = append(&mut ds, 2, 2).await;
        let before = rows_by_batch(&ds).await;
        let filter = Dataset::open(&loc, &StorageOptions::new()).await.unwrap();
        let old = filter.committed_files().unwrap().remove(0);
        ds.compact(&[a, b]).await.unwrap();
        // The filter's commit built on its old snapshot, as if it had checked just before
        // the compaction landed: Delta's conflict check is all that stands in its way.
        let remove = Action::Remove(Remove {
            path: old.path.strip_prefix("table/").unwrap().to_owned(),
            data_change: true,
            deletion_timestamp: Some(0),
            extended_file_metadata: Some(true),
            partition_values: Some(HashMap::new()),
            size: Some(old.size as i64),
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
        });
        let raced = |txn: bool| {
            let mut props = commit_properties(HashMap::new());
            if txn {
                props = props.with_application_transaction(Transaction::new(REWRITE_APP_ID, 0));
            }
            CommitBuilder::from(props)
                .with_actions(vec![remove.clone()])
                .build(
                    Some(filter.snapshot().unwrap()),
                    filter.table.log_store(),
                    DeltaOperation::Delete { predicate: None },
                )
        };
        let raced_with_txn = raced(true).await;
        assert!(raced_with_txn.is_err(), "the second rewrite landed");
        ds.refresh().await.unwrap();
        assert_eq!(rows_by_batch(&ds).await, before);
        // The control: without the shared txn delta-rs lets the same commit land.
        assert!(raced(false).await.is_ok(), "delta-rs caught it alone");
    }
}

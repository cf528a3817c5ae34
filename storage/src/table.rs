//! The Delta table of records: creating it, writing a batch as one Parquet file, committing
//! it with the run's `txn`, and reading committed files back.

use crate::dataset::{StorageOptions, delta_err, local_io_err, table_handle, table_url};
use crate::{Dataset, StorageError};
use bytes::Bytes;
use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::parquet::arrow::ArrowWriter;
// ParquetObjectReader is deprecated in favour of hand-written AsyncFileReaders; it is
// still the reader that matches deltalake's object_store exactly, so we keep it for now.
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::ArrowReaderMetadata;
#[allow(deprecated)]
use deltalake::parquet::arrow::async_reader::{
    ParquetObjectReader, ParquetRecordBatchStreamBuilder,
};
use deltalake::parquet::basic::{Compression, ZstdLevel};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, Path, TableProperty};
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use url::Url;

/// Rows per Parquet row group: large enough for good compression and scans, small enough
/// that a reader can fetch one record's neighbourhood cheaply.
pub(crate) const ROW_GROUP_ROWS: usize = 16 * 1024;
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// Commit attempts before a conflict that re-reading resolves is returned as an error.
const COMMIT_ATTEMPTS: u32 = 12;

/// Whether a failed commit may succeed on a fresher snapshot: a conflict with a concurrent
/// commit (other than a protocol or metadata change, which needs a newer masa), or
/// delta-rs's own retries for the next version used up in a crowd of writers. The caller
/// decides what still holds after re-reading.
fn retryable(e: &deltalake::DeltaTableError) -> bool {
    use deltalake::kernel::transaction::{CommitConflictError as C, TransactionError as T};
    match e {
        deltalake::DeltaTableError::Transaction { source } => match source {
            T::CommitConflict(c) => !matches!(
                c,
                C::ProtocolChanged(_)
                    | C::MetadataChanged
                    | C::UnsupportedWriterVersion(_)
                    | C::UnsupportedReaderVersion(_)
            ),
            T::MaxCommitAttempts(_) => true,
            _ => false,
        },
        _ => false,
    }
}

/// After failed attempt `attempt` of a commit: when another is worth it (see
/// [`retryable`], at most [`COMMIT_ATTEMPTS`]), waits [`backoff`], counts the attempt and
/// says so; the caller re-reads the table and checks what must still hold.
pub(crate) async fn wait_to_retry(e: &deltalake::DeltaTableError, attempt: &mut u32) -> bool {
    if *attempt >= COMMIT_ATTEMPTS || !retryable(e) {
        return false;
    }
    tracing::debug!(attempt = *attempt, error = %e, "commit conflict; re-reading and retrying");
    tokio::time::sleep(backoff(*attempt)).await;
    *attempt += 1;
    true
}

/// The pause before retry `attempt` (1, 2, ...): "full jitter", a uniform draw below
/// 25 ms × 2^attempt capped at 2 s, so writers that collided do not collide again in step.
fn backoff(attempt: u32) -> std::time::Duration {
    use std::hash::{BuildHasher, Hasher};
    let cap_ms = (25u64 << attempt.min(16)).min(2_000);
    // A random draw from the standard library's per-process hasher keys.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    std::time::Duration::from_millis(h.finish() % (cap_ms + 1))
}

/// The properties of every masa commit. Checkpoints are written by [`Dataset::after_commit`]
/// rather than by delta-rs's post-commit hook, whose failure would fail a commit that has
/// landed; expired-log cleanup is off whatever the table says, since commit files hold
/// the `commitInfo` bindings (see the `history` module).
pub(crate) fn commit_properties(metadata: HashMap<String, serde_json::Value>) -> CommitProperties {
    CommitProperties::default()
        .with_metadata(metadata)
        .with_create_checkpoint(false)
        .with_cleanup_expired_logs(Some(false))
}

/// A data file written (not yet committed) for a batch.
#[derive(Debug, Clone)]
pub struct DataFileWrite {
    /// Path relative to the dataset root (`table/part-<batch>.zstd.parquet`).
    pub path: String,
    pub sha256: String,
    pub size: u64,
    add: Add,
}

/// One batch's rows in the table's current snapshot: a whole data file, or for a batch
/// that `masa maintain` compacted with others, its row groups in the compacted file.
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedFile {
    /// Path relative to the dataset root of the object holding the rows.
    pub path: String,
    /// Size of that whole object.
    pub size: u64,
    /// The batch's rows in it.
    pub num_records: Option<u64>,
    /// The batch that wrote the rows, from the file name (or the compacted file's slices).
    pub batch_id: Option<String>,
    /// The rows are a revision of the batch's original (rows removed by dedup).
    pub revised: bool,
    /// For a compacted batch, its row groups in `path` (`start..end`); `None`: the whole file.
    pub row_groups: Option<(usize, usize)>,
    /// The file written for this batch that holds exactly these rows: `path` itself, or
    /// for a compacted batch its file before compaction. Compaction moves rows without
    /// changing them, so state derived from a batch's rows (signature files, a dedup
    /// plan) is keyed by it and stays valid.
    pub origin: String,
}

impl CommittedFile {
    /// A data file at `path` (relative to the dataset root); batch and revision are read
    /// from its name.
    pub fn new(path: &str, size: u64, num_records: Option<u64>) -> CommittedFile {
        let name = path.rsplit('/').next().unwrap_or(path);
        let parsed = parse_name(name);
        CommittedFile {
            path: path.to_owned(),
            size,
            num_records,
            revised: parsed.as_ref().is_some_and(|(_, revised)| *revised),
            batch_id: parsed.map(|(batch, _)| batch),
            row_groups: None,
            origin: path.to_owned(),
        }
    }

    /// The rows of this batch moved to `path` (a compacted file of `size` bytes), at row
    /// groups `row_groups`: what they are (batch, revision, origin) does not change.
    pub fn moved(&self, path: &str, size: u64, row_groups: (usize, usize)) -> Self {
        CommittedFile {
            path: path.to_owned(),
            size,
            row_groups: Some(row_groups),
            ..self.clone()
        }
    }
}

/// `part-<batch>.zstd.parquet`, or `part-<batch>-<revision>.zstd.parquet` for a file that
/// replaces its batch's earlier file (rows removed by dedup, say). Batch ids are hex, so the
/// first `-` after the prefix ends the batch id.
fn data_file_name(batch_id: &str, revision: Option<&str>) -> String {
    match revision {
        None => format!("part-{batch_id}.zstd.parquet"),
        Some(r) => format!("part-{batch_id}-{r}.zstd.parquet"),
    }
}

/// The batch id in a data file's name, and whether the name is a revision's.
fn parse_name(name: &str) -> Option<(String, bool)> {
    let stem = name.strip_prefix("part-")?.strip_suffix(".zstd.parquet")?;
    let (batch, revised) = stem
        .split_once('-')
        .map_or((stem, false), |(b, _)| (b, true));
    let is_batch_id = batch.len() == 32 && batch.bytes().all(|c| c.is_ascii_hexdigit());
    is_batch_id.then(|| (batch.to_owned(), revised))
}

pub(crate) async fn create_table(
    url: &Url,
    options: &StorageOptions,
) -> Result<DeltaTable, StorageError> {
    let table_url = table_url(url);
    if let Ok(dir) = table_url.to_file_path() {
        std::fs::create_dir_all(&dir).map_err(|e| local_io_err(table_url.as_str(), e))?;
    }
    let schema: StructType = masa_record::arrow_schema()
        .as_ref()
        .try_into_kernel()
        .map_err(|e| StorageError::Data {
            context: "record schema".into(),
            message: e.to_string(),
        })?;
    // Not loaded: there is no table yet, and loading one would log an error.
    table_handle(url, options)?
        .create()
        .with_table_name("records")
        .with_comment(format!(
            "Masa records, schema version {}",
            masa_record::SCHEMA_VERSION
        ))
        .with_columns(schema.fields().cloned())
        // Commit files hold each commit's `commitInfo`, which the audit binds batches to:
        // other Delta writers must not clean them up either (see the `history` module).
        .with_configuration_property(TableProperty::EnableExpiredLogCleanup, Some("false"))
        // Version 0 or nothing: a creator that lost the race must not retry as version 1,
        // which would replace the winner's metadata (and the dataset's table id); it fails
        // and opens the winner's table (`Dataset::create_or_open`).
        .with_commit_properties(CommitProperties::default().with_max_retries(0))
        .await
        .map_err(|e| delta_err(format!("cannot create the table at {table_url}"), e))
}

/// How every data file of the table is written: zstd, row groups of [`ROW_GROUP_ROWS`].
pub(crate) fn data_file_props() -> Result<WriterProperties, deltalake::parquet::errors::ParquetError>
{
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build())
}

/// The `add` action of data file `name` (relative to `table/`).
pub(crate) fn add_action(
    name: String,
    size: u64,
    rows: u64,
    data_change: bool,
    tags: Option<HashMap<String, Option<String>>>,
) -> Add {
    Add {
        path: name,
        partition_values: HashMap::new(),
        size: size as i64,
        modification_time: masa_record::now_micros() / 1000,
        data_change,
        stats: Some(serde_json::json!({ "numRecords": rows }).to_string()),
        tags,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    }
}

/// Parsed Parquet footers by data-file path. Data files are never rewritten in place
/// (their names are their content's), so an entry never goes stale; a few are kept.
#[derive(Default)]
pub(crate) struct FooterCache(std::sync::Mutex<HashMap<String, ArrowReaderMetadata>>);

impl FooterCache {
    const KEEP: usize = 16;

    fn get(&self, path: &str) -> Option<ArrowReaderMetadata> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(path).cloned()
    }

    fn put(&self, path: &str, meta: ArrowReaderMetadata) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::KEEP {
            map.clear();
        }
        map.insert(path.to_owned(), meta);
    }
}

/// Encodes a batch as one zstd-compressed Parquet file, in memory.
pub fn encode_parquet(batch: &RecordBatch) -> Result<Vec<u8>, StorageError> {
    let err = |e: deltalake::parquet::errors::ParquetError| StorageError::Data {
        context: "encoding Parquet".into(),
        message: e.to_string(),
    };
    let props = data_file_props().map_err(err)?;
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 3);
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).map_err(err)?;
    w.write(batch).map_err(err)?;
    w.close().map_err(err)?;
    Ok(out)
}

/// Writes record batches to `out` as one zstd-compressed Parquet file, a row group per
/// batch written, so that memory holds one batch however long the file grows (for a
/// streamed export).
pub struct ParquetStream<W: std::io::Write + Send>(ArrowWriter<W>);

impl<W: std::io::Write + Send> ParquetStream<W> {
    pub fn new(
        out: W,
        schema: std::sync::Arc<deltalake::arrow::datatypes::Schema>,
    ) -> Result<Self, StorageError> {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(ZSTD_LEVEL).map_err(parquet_err)?,
            ))
            .build();
        Ok(ParquetStream(
            ArrowWriter::try_new(out, schema, Some(props)).map_err(parquet_err)?,
        ))
    }

    /// Writes `batch` as a row group of its own.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), StorageError> {
        self.0.write(batch).map_err(parquet_err)?;
        self.0.flush().map_err(parquet_err)
    }

    /// Writes the footer; the file is complete.
    pub fn close(self) -> Result<W, StorageError> {
        self.0.into_inner().map_err(parquet_err)
    }
}

fn parquet_err(e: deltalake::parquet::errors::ParquetError) -> StorageError {
    StorageError::Data {
        context: "encoding Parquet".into(),
        message: e.to_string(),
    }
}

/// Decodes a whole Parquet file held in memory (for callers that also hash its bytes).
pub fn decode_parquet(bytes: Bytes) -> Result<Vec<RecordBatch>, StorageError> {
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let err = |e: deltalake::parquet::errors::ParquetError| StorageError::Data {
        context: "decoding a Parquet file".into(),
        message: e.to_string(),
    };
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(err)?
        .build()
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StorageError::Data {
            context: "decoding a Parquet file".into(),
            message: e.to_string(),
        })
}

impl Dataset {
    /// Stores an encoded Parquet file for `batch_id` under `table/`. It is invisible to
    /// readers until [`Dataset::commit`] references it.
    pub async fn put_data_file(
        &self,
        batch_id: &str,
        parquet: Vec<u8>,
        num_rows: usize,
    ) -> Result<DataFileWrite, StorageError> {
        self.put_data_file_revision(batch_id, None, parquet, num_rows)
            .await
    }

    /// Like [`Dataset::put_data_file`], for a file that will replace its batch's committed
    /// file (see [`Dataset::replace_files`]); `revision` tells the two apart.
    pub async fn put_data_file_revision(
        &self,
        batch_id: &str,
        revision: Option<&str>,
        parquet: Vec<u8>,
        num_rows: usize,
    ) -> Result<DataFileWrite, StorageError> {
        let name = data_file_name(batch_id, revision);
        let path = format!("table/{name}");
        let sha256 = hex::encode(Sha256::digest(&parquet));
        let size = parquet.len() as u64;
        self.put(&path, Bytes::from(parquet)).await?;
        let add = add_action(name, size, num_rows as u64, true, None);
        Ok(DataFileWrite {
            path,
            sha256,
            size,
            add,
        })
    }

    /// The last `txn` version committed by `app_id`, if any.
    pub async fn txn_version(&self, app_id: &str) -> Result<Option<i64>, StorageError> {
        self.snapshot()?
            .transaction_version(self.table.log_store().as_ref(), app_id)
            .await
            .map_err(|e| delta_err(format!("reading the txn version of {app_id}"), e))
    }

    /// Commits `files` and the run position `(app_id, version)` atomically as one Delta
    /// commit. Refuses when the table's `txn` for `app_id` is not `version - 1` (another
    /// copy of the run got there first).
    ///
    /// A conflict that re-reading resolves is retried: the batch is an append that depends
    /// on no committed file, so a concurrent removal (the dedup filter's) or a lost race for
    /// the next version does not invalidate it. Each retry waits a jittered, growing pause
    /// (see [`backoff`]), re-reads the table and checks the run's position again. A commit
    /// that landed although its answer was lost shows as the run's `txn` at `version`: it
    /// is done when the table holds exactly this batch's files, and refused otherwise.
    pub async fn commit(
        &mut self,
        files: Vec<DataFileWrite>,
        app_id: &str,
        version: i64,
        metadata: HashMap<String, serde_json::Value>,
    ) -> Result<i64, StorageError> {
        self.check_txn(app_id, version).await?;
        self.commit_checked(files, app_id, version, metadata).await
    }

    /// [`Dataset::commit`] after its first check of the run's position, on the snapshot
    /// that check read.
    async fn commit_checked(
        &mut self,
        files: Vec<DataFileWrite>,
        app_id: &str,
        version: i64,
        metadata: HashMap<String, serde_json::Value>,
    ) -> Result<i64, StorageError> {
        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        let actions: Vec<Action> = files.into_iter().map(|f| Action::Add(f.add)).collect();
        let mut attempt = 1;
        loop {
            let props = commit_properties(metadata.clone())
                .with_application_transaction(Transaction::new(app_id, version));
            let result = CommitBuilder::from(props)
                .with_actions(actions.clone())
                .build(
                    Some(self.snapshot()?),
                    self.table.log_store(),
                    DeltaOperation::Write {
                        mode: SaveMode::Append,
                        partition_by: None,
                        predicate: None,
                    },
                )
                .await;
            let e = match result {
                Ok(finalized) => {
                    let table_version = finalized.version();
                    // The commit returns the new state: no need to read the log again.
                    self.table.state = Some(finalized.snapshot());
                    self.after_commit().await;
                    return Ok(table_version as i64);
                }
                Err(e) => e,
            };
            if !wait_to_retry(&e, &mut attempt).await {
                return Err(delta_err(
                    format!("committing version {version} of {app_id} (attempt {attempt})"),
                    e,
                ));
            }
            self.refresh().await?;
            if self.txn_version(app_id).await? == Some(version) {
                // A file since compacted (by `masa maintain`) is there as its slice's origin.
                let present: std::collections::HashSet<String> = self
                    .committed_files()?
                    .into_iter()
                    .flat_map(|f| [f.path, f.origin])
                    .collect();
                if paths.iter().all(|p| present.contains(p)) {
                    tracing::info!(
                        app_id,
                        version,
                        "the commit had landed; its answer was lost"
                    );
                    return Ok(self.table_version().unwrap_or(0));
                }
            }
            self.check_txn(app_id, version).await?;
        }
    }

    /// Replaces committed batches' rows with new files (written by
    /// [`Dataset::put_data_file_revision`]), or removes them where there is no new one, in
    /// one Delta commit. A compacted file some of whose batches are replaced is removed
    /// whole, its other batches rewritten as a new compacted file in the same commit. Fails,
    /// changing nothing, if one of the old files is no longer in the table's latest version
    /// (another writer removed it first; see [`Dataset::compact`] for how two rewrites are
    /// kept from both landing). The old objects stay in storage: signed batch manifests
    /// refer to them.
    pub async fn replace_files(
        &mut self,
        replacements: Vec<(CommittedFile, Option<DataFileWrite>)>,
        metadata: HashMap<String, serde_json::Value>,
        reason: &str,
    ) -> Result<i64, StorageError> {
        let old: Vec<CommittedFile> = replacements.iter().map(|(o, _)| o.clone()).collect();
        let mut adds = self.leftovers(&old).await?;
        adds.extend(
            replacements
                .into_iter()
                .filter_map(|(_, n)| n.map(|n| n.add)),
        );
        self.rewrite(
            &crate::compact::distinct_files(&old),
            adds,
            true,
            metadata,
            DeltaOperation::Delete {
                predicate: Some(reason.to_owned()),
            },
        )
        .await
    }

    /// After a commit landed at the loaded version: the history block it completes, then
    /// the checkpoint at the table's interval (Delta's `delta.checkpointInterval`, 100 by
    /// default), in that order, so a cleanup allowed by the checkpoint finds the block
    /// written. Both are derived from the log and redone by later commits or readers, so a
    /// failure is logged, not returned: the commit stands.
    pub(crate) async fn after_commit(&self) {
        use deltalake::table::config::TablePropertiesExt;
        let Some(version) = self.table_version() else {
            return;
        };
        let next = version + 1;
        if next % crate::history::HISTORY_BLOCK == 0
            && let Err(e) = self
                .write_history_block(next - crate::history::HISTORY_BLOCK)
                .await
        {
            tracing::warn!(version, error = %e, "history block not written; a later reader writes it");
        }
        let interval = match self.snapshot() {
            Ok(s) => s.table_config().checkpoint_interval().get() as i64,
            Err(_) => return,
        };
        if next % interval == 0 {
            match deltalake::checkpoints::create_checkpoint(&self.table, None).await {
                Ok(()) => tracing::debug!(version, "checkpoint written"),
                Err(e) => {
                    tracing::warn!(version, error = %e, "checkpoint not written; the next interval writes one")
                }
            }
        }
    }

    /// Writes a Delta checkpoint of the loaded version (readers then start from it rather
    /// than from the first commit file), and returns that version.
    pub async fn checkpoint(&self) -> Result<i64, StorageError> {
        let version = self.table_version().unwrap_or(0);
        deltalake::checkpoints::create_checkpoint(&self.table, None)
            .await
            .map_err(|e| delta_err(format!("writing the checkpoint of version {version}"), e))?;
        Ok(version)
    }

    /// The value of commit metadata `key` of every commit that has it, oldest first.
    pub async fn commit_metadata(&self, key: &str) -> Result<Vec<serde_json::Value>, StorageError> {
        Ok(self
            .commit_infos()
            .await?
            .into_iter()
            .filter_map(|mut i| i.remove(key))
            .collect())
    }

    /// Batch ids in the order their commits entered the table's log, oldest first: the
    /// global order in which "earliest" is meant.
    pub async fn batch_commit_order(&self) -> Result<Vec<String>, StorageError> {
        Ok(self
            .commit_metadata("masa.batch_id")
            .await?
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect())
    }

    /// Refreshes the table and checks that `app_id`'s last committed `txn` version is
    /// `version - 1` (or that it has none, for version 0).
    pub async fn check_txn(&mut self, app_id: &str, version: i64) -> Result<(), StorageError> {
        self.refresh().await?;
        let expected = (version > 0).then(|| version - 1);
        let found = self.txn_version(app_id).await?;
        if found != expected {
            return Err(StorageError::Conflict {
                app_id: app_id.into(),
                expected,
                found,
            });
        }
        Ok(())
    }

    pub(crate) fn snapshot(
        &self,
    ) -> Result<&deltalake::table::state::DeltaTableState, StorageError> {
        self.table
            .snapshot()
            .map_err(|e| delta_err("reading the table snapshot", e))
    }

    /// Reloads the table to its latest version.
    pub async fn refresh(&mut self) -> Result<(), StorageError> {
        self.table
            .update_state()
            .await
            .map_err(|e| delta_err("refreshing the table", e))
    }

    /// The table's unique id (Delta metadata `id`, fixed when the table was created): the
    /// dataset's identity wherever it is stored.
    pub fn table_id(&self) -> Result<String, StorageError> {
        Ok(self.snapshot()?.metadata().id().to_owned())
    }

    /// The table version currently loaded.
    pub fn table_version(&self) -> Option<i64> {
        self.table.version().map(|v| v as i64)
    }

    /// The batches' rows in the current snapshot, in path order: a data file each, or a
    /// slice each of a compacted file (see [`Dataset::compact`]).
    pub fn committed_files(&self) -> Result<Vec<CommittedFile>, StorageError> {
        let mut out = Vec::new();
        for f in self.snapshot()?.log_data().iter() {
            let path = format!("table/{}", f.path());
            let size = f.size() as u64;
            if crate::compact::is_compacted(&path) {
                #[allow(deprecated)] // The one public way to a file's tags.
                let tags = f.add_action().tags;
                out.extend(crate::compact::slices(&path, size, tags.as_ref())?);
            } else {
                out.push(CommittedFile::new(
                    &path,
                    size,
                    f.num_records().map(|n| n as u64),
                ));
            }
        }
        out.sort_by(|a, b| (&a.path, a.row_groups).cmp(&(&b.path, b.row_groups)));
        Ok(out)
    }

    /// Reads a committed file, all columns or the named ones, as record batches.
    pub async fn read_file(
        &self,
        file: &CommittedFile,
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>, StorageError> {
        let data_err = |e: deltalake::parquet::errors::ParquetError| StorageError::Data {
            context: format!("reading {}", file.path),
            message: e.to_string(),
        };
        #[allow(deprecated)]
        let mut reader =
            ParquetObjectReader::new(self.store.clone(), Path::from(file.path.as_str()))
                .with_file_size(file.size);
        // A compacted file is read once per batch it holds: its footer (every row group's
        // metadata) is parsed once, not once per slice, which made reading all of a
        // dataset's batches quadratic in the batches compacted together.
        let mut builder = if file.row_groups.is_some() {
            let meta = match self.footers.get(&file.path) {
                Some(m) => m,
                None => {
                    let m = ArrowReaderMetadata::load_async(&mut reader, Default::default())
                        .await
                        .map_err(data_err)?;
                    self.footers.put(&file.path, m.clone());
                    m
                }
            };
            ParquetRecordBatchStreamBuilder::new_with_metadata(reader, meta)
        } else {
            ParquetRecordBatchStreamBuilder::new(reader)
                .await
                .map_err(data_err)?
        };
        if let Some(cols) = columns {
            let mask = ProjectionMask::columns(builder.parquet_schema(), cols.iter().copied());
            builder = builder.with_projection(mask);
        }
        if let Some((start, end)) = file.row_groups {
            builder = builder.with_row_groups((start..end).collect());
        }
        builder
            .build()
            .map_err(data_err)?
            .try_collect()
            .await
            .map_err(data_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ids_round_trip_through_file_names() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            parse_name(&data_file_name(id, None)),
            Some((id.to_owned(), false))
        );
        let revised = data_file_name(id, Some("dedup-1"));
        assert_eq!(parse_name(&revised), Some((id.to_owned(), true)));
        let file = CommittedFile::new(&format!("table/{revised}"), 1, None);
        assert_eq!((file.batch_id.as_deref(), file.revised), (Some(id), true));
        assert_eq!(parse_name("part-00000-x.snappy.parquet"), None);
        assert_eq!(
            parse_name("part-00000-x.zstd.parquet"),
            None,
            "not written by masa"
        );
        assert!(!revised.contains(['~', '%', '/']), "{revised}");
    }

    fn batch(i: u32) -> String {
        format!("{i:032x}")
    }

    /// Writers starting together on a new dataset all open the one table the first of
    /// them created (before, the others failed: "a Delta Lake table already exists").
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_starting_together_on_a_new_dataset_share_one_table() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().join("new").to_str().unwrap().to_owned();
        let opened = futures::future::join_all((0..6).map(|_| {
            let loc = loc.clone();
            tokio::spawn(async move { Dataset::create_or_open(&loc, &StorageOptions::new()).await })
        }))
        .await;
        let ids: std::collections::HashSet<String> = opened
            .into_iter()
            .map(|r| r.unwrap().unwrap().table_id().unwrap())
            .collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
    }

    /// A contributor's append prepared on a snapshot that a dedup filter's remove commit
    /// then overtakes: delta-rs refuses it ("a concurrent transaction deleted data this
    /// operation read", as it counts every file of the snapshot as read), and `commit`
    /// re-reads and lands it, since the append depends on no committed file. The run's
    /// position still guards it: a second copy of the run is refused.
    #[tokio::test]
    async fn an_append_overtaken_by_a_removal_is_retried_and_lands() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().to_str().unwrap().to_owned();
        let opts = StorageOptions::new();
        let mut filter = Dataset::create_or_open(&loc, &opts).await.unwrap();
        let first = filter
            .put_data_file(&batch(1), vec![0; 8], 1)
            .await
            .unwrap();
        filter
            .commit(vec![first], "seed", 0, HashMap::new())
            .await
            .unwrap();
        // The contributor checks its position (reading the table) before the filter
        // commits, and commits after it.
        let mut writer = Dataset::open(&loc, &opts).await.unwrap();
        writer.check_txn("writer", 0).await.unwrap();
        let old = filter.committed_files().unwrap().remove(0);
        filter
            .replace_files(vec![(old, None)], HashMap::new(), "near-duplicate removal")
            .await
            .unwrap();
        let second = writer
            .put_data_file(&batch(2), vec![0; 8], 1)
            .await
            .unwrap();
        let path = second.path.clone();
        writer
            .commit_checked(vec![second], "writer", 0, HashMap::new())
            .await
            .unwrap();
        let files: Vec<String> = writer
            .committed_files()
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(files, [path]);
        assert_eq!(writer.txn_version("writer").await.unwrap(), Some(0));
        let again = writer
            .put_data_file(&batch(3), vec![0; 8], 1)
            .await
            .unwrap();
        let refused = writer
            .commit(vec![again], "writer", 0, HashMap::new())
            .await;
        assert!(
            matches!(refused, Err(StorageError::Conflict { .. })),
            "{refused:?}"
        );
    }

    /// A commit that landed on the server although its answer was lost: the run's retry
    /// commits the same files at the same `txn` version on the snapshot it read before.
    /// It is recognised as done (one commit, the files once), while a different batch
    /// claiming that version is refused.
    #[tokio::test]
    async fn a_commit_whose_answer_was_lost_is_recognised_on_retry() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().to_str().unwrap().to_owned();
        let opts = StorageOptions::new();
        let mut run = Dataset::create_or_open(&loc, &opts).await.unwrap();
        run.check_txn("run", 0).await.unwrap();
        let file = run.put_data_file(&batch(1), vec![0; 8], 1).await.unwrap();
        // The first attempt, as the server saw it: landed.
        let mut server = Dataset::open(&loc, &opts).await.unwrap();
        let landed = server
            .commit(vec![file.clone()], "run", 0, HashMap::new())
            .await
            .unwrap();
        // The retry, from the state the run had before the answer was lost.
        let retried = run
            .commit_checked(vec![file.clone()], "run", 0, HashMap::new())
            .await
            .unwrap();
        assert_eq!(retried, landed);
        run.refresh().await.unwrap();
        assert_eq!(run.table_version(), Some(landed));
        let files: Vec<String> = run
            .committed_files()
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(files, [file.path]);

        // Another batch at the version already committed is not "the same commit".
        let mut stale = Dataset::open(&loc, &opts).await.unwrap();
        stale.table.load_version(0).await.unwrap();
        let other = stale.put_data_file(&batch(2), vec![0; 8], 1).await.unwrap();
        let refused = stale
            .commit_checked(vec![other], "run", 0, HashMap::new())
            .await;
        assert!(
            matches!(refused, Err(StorageError::Conflict { .. })),
            "{refused:?}"
        );
        stale.refresh().await.unwrap();
        assert_eq!(stale.committed_files().unwrap().len(), 1);
    }

    #[test]
    fn backoff_is_jittered_below_a_growing_cap() {
        for attempt in 1..=12 {
            let cap = (25u64 << attempt).min(2_000);
            let pauses: std::collections::HashSet<u128> =
                (0..50).map(|_| backoff(attempt).as_millis()).collect();
            assert!(
                pauses.iter().all(|p| *p <= u128::from(cap)),
                "{attempt}: {pauses:?}"
            );
            assert!(
                pauses.len() > 5,
                "not jittered at attempt {attempt}: {pauses:?}"
            );
        }
    }

    /// 250 commits, then the commit files a Delta log cleanup may remove (those before the
    /// last checkpoint) deleted by hand: the table opens from its checkpoint, the runs'
    /// positions hold, and every commit's `commitInfo` is still read, from the history
    /// blocks written as the commits landed. Without the blocks the loss is an error that
    /// names the versions, never a shorter history.
    #[tokio::test]
    async fn a_table_whose_old_commit_files_are_gone_keeps_its_history() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().to_str().unwrap().to_owned();
        let opts = StorageOptions::new();
        let mut ds = Dataset::create_or_open(&loc, &opts).await.unwrap();
        for i in 0..249u32 {
            let f = ds.put_data_file(&batch(i), vec![0; 8], 1).await.unwrap();
            let meta = HashMap::from([("masa.batch_id".to_owned(), batch(i).into())]);
            ds.commit(vec![f], &format!("app-{}", i % 3), i64::from(i / 3), meta)
                .await
                .unwrap();
        }
        assert_eq!(ds.table_version(), Some(249));
        let log = dir.path().join("table/_delta_log");
        for v in [99, 199] {
            assert!(
                log.join(format!("{v:020}.checkpoint.parquet")).exists(),
                "no checkpoint at {v}"
            );
        }
        assert!(!log.join(format!("{:020}.checkpoint.parquet", 149)).exists());
        let mut blocks = ds.list("history").await.unwrap();
        blocks.sort();
        assert_eq!(
            blocks,
            [
                format!("history/{:020}.json", 0),
                format!("history/{:020}.json", crate::HISTORY_BLOCK)
            ]
        );
        let before = ds.commit_infos().await.unwrap();
        assert_eq!(before.len(), 250);
        let ids = |infos: &[crate::CommitInfo]| -> Vec<String> {
            infos
                .iter()
                .filter_map(|i| i.get("masa.batch_id")?.as_str().map(str::to_owned))
                .collect()
        };
        let expected: Vec<String> = (0..249u32).map(batch).collect();
        assert_eq!(ids(&before), expected);

        // A cleanup keeps the last checkpoint (199) and what follows it.
        for v in 0..199 {
            std::fs::remove_file(log.join(format!("{v:020}.json"))).unwrap();
        }
        let ds = Dataset::open(&loc, &opts).await.unwrap();
        assert_eq!(ds.table_version(), Some(249));
        assert_eq!(ds.committed_files().unwrap().len(), 249);
        assert_eq!(ds.txn_version("app-1").await.unwrap(), Some(82));
        let after = ds.commit_infos().await.unwrap();
        assert_eq!(ids(&after), expected);
        assert_eq!(
            after, before,
            "the blocks hold the commit files' commitInfo"
        );

        std::fs::remove_file(dir.path().join(format!("history/{:020}.json", 0))).unwrap();
        let err = ds.commit_infos().await.unwrap_err().to_string();
        assert!(err.contains("versions 0-99 are gone"), "{err}");
    }

    /// A block missing while its commit files are there (written by an older masa, or a
    /// crash before the block) is written by the next reader.
    #[tokio::test]
    async fn a_reader_writes_the_blocks_it_finds_missing() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().to_str().unwrap().to_owned();
        let mut ds = Dataset::create_or_open(&loc, &StorageOptions::new())
            .await
            .unwrap();
        for i in 0..120u32 {
            let f = ds.put_data_file(&batch(i), vec![0; 8], 1).await.unwrap();
            ds.commit(vec![f], "app", i64::from(i), HashMap::new())
                .await
                .unwrap();
        }
        let block = dir.path().join(format!("history/{:020}.json", 0));
        let written = std::fs::read(&block).unwrap();
        std::fs::remove_file(&block).unwrap();
        let infos = ds.commit_infos().await.unwrap();
        assert_eq!(infos.len(), 121);
        assert_eq!(infos[0]["operation"], "CREATE TABLE");
        assert_eq!(infos[5]["operation"], "WRITE");
        assert!(
            std::fs::read(&block).unwrap() == written,
            "the block differs"
        );
    }
}

//! The dataset sink: commits one pipeline batch as Parquet file + index split + signed
//! manifest + run record, then one Delta commit that makes them visible together.

use crate::WorkflowError;
use crate::layout::{batch_manifest_path, rejects_path, run_path, sig_path, split_dir};
use crate::log::{LogEntry, append, read_log};
use crate::runs::RunRecord;
use crate::splits::{store_split, write_manifest};
use masa_index::Manifest;
use masa_ingest::{BatchSink, CommitInfo, PendingBatch, SinkError};
use masa_provenance::{ContributorKey, leaf_hash, merkle_root};
use masa_record::{BatchManifest, DataFileRef, Record};
use masa_storage::Dataset;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub(crate) struct DatasetSink {
    pub dataset: Dataset,
    pub key: Arc<ContributorKey>,
    pub app_id: String,
    pub connector: String,
    pub next_version: i64,
    pub manifest: Manifest,
    /// Where batches' MinHash signatures go, when near-duplicate removal is on.
    pub minhash: Option<masa_dedup::MinHashParams>,
    /// The run's source configuration, kept in each run record.
    pub source: serde_json::Value,
}

/// Rejected records as Parquet: the record columns and `reject_reason`.
fn encode_rejects(rejects: Vec<(Record, String)>) -> Result<Vec<u8>, SinkError> {
    use masa_storage::arrow::array::{ArrayRef, RecordBatch, StringArray};
    use masa_storage::arrow::datatypes::{Field, Schema};
    let (records, reasons): (Vec<Record>, Vec<String>) = rejects.into_iter().unzip();
    let rb = masa_record::records_to_batch(&records)?;
    let mut fields: Vec<Field> = rb
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(
        "reject_reason",
        masa_storage::arrow::datatypes::DataType::Utf8,
        false,
    ));
    let mut columns: Vec<ArrayRef> = rb.columns().to_vec();
    columns.push(std::sync::Arc::new(StringArray::from_iter_values(
        reasons.iter().map(String::as_str),
    )));
    let rb = RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
        .map_err(|e| WorkflowError::Other(format!("rejects batch: {e}")))?;
    Ok(masa_storage::encode_parquet(&rb)?)
}

/// The CPU-heavy part of a commit, off the async runtime: Parquet encoding and split
/// building run in parallel on the two halves of the machine.
fn encode(
    batch_id: String,
    records: Vec<Record>,
) -> Result<(Vec<u8>, masa_index::BuiltSplit, [u8; 32]), SinkError> {
    std::thread::scope(|s| {
        let split = s.spawn(|| masa_index::build_split(&batch_id, &batch_id, &records));
        let leaves: Vec<[u8; 32]> = records.iter().map(|r| leaf_hash(&r.leaf_bytes())).collect();
        let root = merkle_root(&leaves);
        let rb = masa_record::records_to_batch(&records)?;
        let parquet = masa_storage::encode_parquet(&rb)?;
        let split = split.join().map_err(|_| "index split builder panicked")??;
        Ok((parquet, split, root))
    })
}

#[async_trait::async_trait]
impl BatchSink for DatasetSink {
    async fn commit(&mut self, batch: PendingBatch) -> Result<CommitInfo, SinkError> {
        let version = self.next_version;
        let batch_id = masa_record::batch_id(&self.app_id, version);
        let mut records = batch.records;
        let signatures = batch.signatures;
        for (i, r) in records.iter_mut().enumerate() {
            r.batch_id.clone_from(&batch_id);
            r.row_in_batch = i as i64;
        }
        let rows = records.len() as u64;
        let text_bytes: u64 = records.iter().map(|r| r.text.len() as u64).sum();
        let mut consent_summary: BTreeMap<String, u64> = BTreeMap::new();
        for r in &records {
            *consent_summary
                .entry(r.consent.basis.as_str().to_owned())
                .or_default() += 1;
        }

        let mut files = Vec::new();
        let mut split = None;
        let mut log_index = None;
        if !records.is_empty() {
            let id = batch_id.clone();
            let (parquet, built, root) =
                tokio::task::spawn_blocking(move || encode(id, records)).await??;
            // Refuse before writing anything when another copy of this run has moved on: its
            // objects share this batch's names. (A copy that starts between this check and
            // the commit is still caught by the commit's own check.)
            self.dataset.check_txn(&self.app_id, version).await?;
            let file = self
                .dataset
                .put_data_file(&batch_id, parquet, rows as usize)
                .await?;
            let ds = &self.dataset;
            let meta = store_split(ds, &batch_id, built).await?;
            if let Some(params) = self.minhash {
                let n_rows = rows;
                let rows = signatures
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, sketch)| {
                        Some(masa_dedup::SigRow {
                            row: i as u32,
                            sketch: sketch?,
                        })
                    })
                    .collect();
                let sigs = masa_dedup::SigFile::new(&batch_id, &file.path, n_rows, params, rows);
                ds.put(&sig_path(&params, &batch_id), sigs.encode().into())
                    .await?;
            }
            // Read once: the manifest names the checkpoint it follows, and the append starts
            // from this state.
            let log = read_log(ds).await?;
            let manifest = BatchManifest {
                batch_id: batch_id.clone(),
                app_id: self.app_id.clone(),
                sequence: version,
                contributor: self.key.public_hex(),
                connector: self.connector.clone(),
                connector_version: env!("CARGO_PKG_VERSION").into(),
                schema_version: masa_record::SCHEMA_VERSION,
                files: vec![DataFileRef {
                    path: file.path.clone(),
                    sha256: file.sha256.clone(),
                    size: file.size,
                }],
                index_split: Some(split_dir(&batch_id)),
                rows,
                text_bytes,
                rows_root: hex::encode(root),
                consent_summary,
                created_at_micros: masa_record::now_micros(),
                log_checkpoint: log
                    .checkpoint
                    .as_ref()
                    .map(|(c, _)| format!("{} {}", c.size, hex::encode(c.root))),
            };
            let signed = self.key.sign(manifest);
            let manifest_bytes = serde_json::to_vec_pretty(&signed)?;
            let manifest_sha256 = masa_record::sha256_hex(&manifest_bytes);
            ds.put(&batch_manifest_path(&batch_id), manifest_bytes.into())
                .await?;
            // The log leaf makes the manifest public; the Delta commit below makes the batch
            // count. A crash between the two leaves a leaf whose batch never committed,
            // which no audit credits (it names a batch absent from the table, or a manifest
            // that the rerun replaces).
            let entry = LogEntry::batch(&log.origin, &self.key, batch_id.clone(), manifest_sha256);
            let (index, _) = append(ds, &self.key, &entry, log).await?;
            log_index = Some(index);
            files.push(file);
            split = Some(meta);
        }

        if !batch.rejects.is_empty() {
            // Written before the commit, under a name the commit's version fixes: a rerun
            // after a crash writes the same object again.
            let bytes = encode_rejects(batch.rejects)?;
            self.dataset
                .put(&rejects_path(&self.app_id, version), bytes.into())
                .await?;
        }

        let run = RunRecord {
            app_id: self.app_id.clone(),
            version,
            batch_id: (rows > 0).then(|| batch_id.clone()),
            connector: self.connector.clone(),
            contributor: self.key.public_hex(),
            checkpoint: batch.checkpoint,
            source: Some(self.source.clone()),
            complete: batch.complete,
            rows,
            text_bytes,
            drops: batch.drops,
            created_at_micros: masa_record::now_micros(),
        };
        self.dataset
            .put(
                &run_path(&self.app_id, version),
                serde_json::to_vec_pretty(&run)?.into(),
            )
            .await?;

        // The commit names the run record it accounts for; the connector position stays in
        // that record (a crawler's frontier is too large for every Delta log entry).
        let metadata = HashMap::from([
            ("masa.app_id".to_owned(), self.app_id.clone().into()),
            ("masa.version".to_owned(), version.into()),
            ("masa.batch_id".to_owned(), run.batch_id.clone().into()),
            ("masa.rows".to_owned(), rows.into()),
            ("masa.complete".to_owned(), run.complete.into()),
            ("masa.log_index".to_owned(), log_index.into()),
        ]);
        self.dataset
            .commit(files, &self.app_id, version, metadata)
            .await?;
        self.next_version += 1;

        // The manifest is a cache of the committed splits: updated after the commit, and
        // repaired from the table if a crash comes in between.
        if let Some(meta) = split {
            self.manifest.splits.push(meta);
            if let Err(e) = write_manifest(&self.dataset, &self.manifest).await {
                // The batch is committed; readers rebuild the manifest from the table.
                tracing::warn!(error = %e, "index manifest not updated; it is repaired on the next read");
            }
        }
        Ok(CommitInfo { rows, text_bytes })
    }
}

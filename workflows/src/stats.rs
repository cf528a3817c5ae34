//! `masa stats`: what a dataset holds, and what was dropped on the way in.

use crate::WorkflowError;
use crate::layout::{batch_manifest_path, read_required_json};
use crate::runs::committed_runs;
use masa_record::SignedManifest;
use masa_storage::arrow::array::{Array, StringArray};
use masa_storage::{Dataset, StorageOptions};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize)]
pub struct DatasetStats {
    pub dataset: String,
    pub table_version: Option<i64>,
    pub records: u64,
    /// Bytes of normalized text in the records.
    pub text_bytes: u64,
    /// Bytes of Parquet data files.
    pub data_bytes: u64,
    pub data_files: u64,
    /// Records per contributor public key.
    pub contributors: BTreeMap<String, u64>,
    /// Text bytes per contributor.
    pub contributor_bytes: BTreeMap<String, u64>,
    /// Inputs dropped before they became records, by reason, over all committed runs.
    pub drops: BTreeMap<String, u64>,
    pub commits: u64,
    /// Rows removed from the table by `masa dedup`.
    pub removed_by_dedup: u64,
    /// Each committed batch with the records it committed (its signed manifest's rows), in
    /// commit order: the dataset's growth.
    pub batches: Vec<BatchCount>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchCount {
    pub batch_id: String,
    pub records: u64,
}

pub async fn dataset_stats(
    location: &str,
    storage: &StorageOptions,
) -> Result<DatasetStats, WorkflowError> {
    let ds = Dataset::open(location, storage).await?;
    let mut s = DatasetStats {
        dataset: ds.url().to_string(),
        table_version: ds.table_version(),
        ..Default::default()
    };
    let mut committed_rows = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for f in ds.committed_files()? {
        // A compacted file holds several batches: counted once.
        if seen.insert(f.path.clone()) {
            s.data_files += 1;
            s.data_bytes += f.size;
        }
        s.records += f.num_records.unwrap_or(0);
        let Some(batch) = f.batch_id.clone() else {
            continue;
        };
        let m: SignedManifest = read_required_json(
            &ds,
            &batch_manifest_path(&batch),
            "the manifest of a committed batch is missing",
        )
        .await?;
        let rows = f.num_records.unwrap_or(m.manifest.rows);
        let mut bytes = 0;
        if !f.revised {
            bytes = m.manifest.text_bytes;
        } else {
            // A file rewritten by `masa dedup`: the manifest describes the original.
            for b in ds.read_file(&f, Some(&["text"])).await? {
                if let Some(t) = b.column(0).as_any().downcast_ref::<StringArray>() {
                    bytes += t.values().len() as u64;
                }
            }
        }
        s.text_bytes += bytes;
        *s.contributor_bytes
            .entry(m.manifest.contributor.clone())
            .or_default() += bytes;
        *s.contributors.entry(m.manifest.contributor).or_default() += rows;
        committed_rows.insert(batch, m.manifest.rows);
    }
    for batch in ds.batch_commit_order().await? {
        if let Some(records) = committed_rows.remove(&batch) {
            s.batches.push(BatchCount {
                batch_id: batch,
                records,
            });
        }
    }
    s.removed_by_dedup = ds
        .commit_metadata("masa.rows_removed")
        .await?
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .sum();
    for run in committed_runs(&ds).await? {
        s.commits += 1;
        for (reason, n) in run.drops {
            *s.drops.entry(reason).or_default() += n;
        }
    }
    Ok(s)
}

//! Where workflow objects live in a dataset, and reading them back as JSON.

use crate::WorkflowError;
use masa_storage::Dataset;

/// The list of committed splits (a cache of the table; see `splits`).
pub(crate) const MANIFEST_PATH: &str = "index/manifest.json";

pub(crate) fn split_dir(batch_id: &str) -> String {
    format!("index/splits/{batch_id}")
}

pub(crate) fn batch_manifest_path(batch_id: &str) -> String {
    format!("provenance/batches/{batch_id}.json")
}

/// Records a run dropped (quality, duplicates), kept for inspection when asked: one Parquet
/// file per commit, the record columns plus `reject_reason`.
pub(crate) fn rejects_path(app_id: &str, version: i64) -> String {
    format!("rejects/{app_id}-{version:020}.zstd.parquet")
}

pub(crate) fn run_path(app_id: &str, version: i64) -> String {
    format!("runs/{app_id}/{version:020}.json")
}

/// Reads and parses `path`; `None` when there is no such object.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    ds: &Dataset,
    path: &str,
) -> Result<Option<T>, WorkflowError> {
    match ds.get(path).await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| WorkflowError::Corrupt {
                path: path.into(),
                reason: e.to_string(),
            }),
    }
}

/// Like [`read_json`], for an object that must exist; `missing` says why it should.
pub(crate) async fn read_required_json<T: serde::de::DeserializeOwned>(
    ds: &Dataset,
    path: &str,
    missing: &str,
) -> Result<T, WorkflowError> {
    read_json(ds, path)
        .await?
        .ok_or_else(|| WorkflowError::Corrupt {
            path: path.into(),
            reason: missing.into(),
        })
}

/// The MinHash signatures of a committed batch, one folder per parameter set.
pub(crate) fn sig_path(params: &masa_dedup::MinHashParams, batch_id: &str) -> String {
    format!("dedup/minhash/{}/{batch_id}.sig", params.tag())
}

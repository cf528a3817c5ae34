//! Run records (`runs/<app id>/<version>.json`): what each commit of a run accounts for, and
//! where the run stands. A record is written before the Delta commit whose `txn` names its
//! version, so only records at or below the table's `txn` version for the app are committed.

use crate::WorkflowError;
use crate::layout::{read_required_json, run_path};
use masa_storage::Dataset;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    pub app_id: String,
    pub version: i64,
    pub batch_id: Option<String>,
    pub connector: String,
    pub contributor: String,
    /// Connector checkpoint after the last input this commit accounts for.
    pub checkpoint: Option<serde_json::Value>,
    /// The source configuration the run was started with (`kind` plus options), so an
    /// interrupted run can be resumed without restating it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<serde_json::Value>,
    /// The source was exhausted at this commit.
    pub complete: bool,
    pub rows: u64,
    pub text_bytes: u64,
    pub drops: BTreeMap<String, u64>,
    pub created_at_micros: i64,
}

/// The run's Delta `txn` app id: one per (contributor, source).
pub(crate) fn app_id(kind: &str, contributor: &str, source_id: &str) -> String {
    let h = masa_record::sha256_hex(format!("{contributor}\n{source_id}").as_bytes());
    format!("{}{}", app_id_prefix(kind), &h[..16])
}

/// What every app id of connector `kind` starts with.
pub(crate) fn app_id_prefix(kind: &str) -> String {
    format!("masa-{kind}-")
}

pub(crate) async fn read_run(
    ds: &Dataset,
    app_id: &str,
    version: i64,
) -> Result<RunRecord, WorkflowError> {
    let missing =
        "the run record of a committed version is missing; the dataset was modified by hand";
    read_required_json(ds, &run_path(app_id, version), missing).await
}

/// Every committed run record in the dataset.
pub(crate) async fn committed_runs(ds: &Dataset) -> Result<Vec<RunRecord>, WorkflowError> {
    let mut by_app: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for path in ds.list("runs").await? {
        let mut parts = path.split('/').skip(1);
        let (Some(app), Some(file)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let Some(v) = file
            .strip_suffix(".json")
            .and_then(|v| v.parse::<i64>().ok())
        {
            by_app.entry(app.to_owned()).or_default().push(v);
        }
    }
    let mut out = Vec::new();
    for (app, versions) in by_app {
        let Some(committed) = ds.txn_version(&app).await? else {
            continue;
        };
        for v in versions.into_iter().filter(|v| *v <= committed) {
            out.push(read_run(ds, &app, v).await?);
        }
    }
    Ok(out)
}

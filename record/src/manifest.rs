//! The batch manifest: the signed statement a contributor makes about one committed batch.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Prefix of the signed bytes, so a manifest signature can never be replayed as a signature
/// over anything else.
pub const MANIFEST_DOMAIN: &str = "masa/batch-manifest/v1\n";

/// A data file a batch wrote, relative to the dataset root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFileRef {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// What a batch contains. Field order is the canonical order: `canonical_bytes` serializes
/// the struct as-is, and maps are `BTreeMap` so their order is fixed too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchManifest {
    pub batch_id: String,
    /// The run's Delta `txn` app id and the version this batch commits.
    pub app_id: String,
    pub sequence: i64,
    /// Hex ed25519 public key of the contributor.
    pub contributor: String,
    pub connector: String,
    pub connector_version: String,
    pub schema_version: u32,
    pub files: Vec<DataFileRef>,
    /// Index split written for this batch, relative to the dataset root.
    pub index_split: Option<String>,
    pub rows: u64,
    pub text_bytes: u64,
    /// RFC 6962 Merkle root (hex) over the batch's row hashes, in row order.
    pub rows_root: String,
    /// Number of rows per consent basis.
    pub consent_summary: BTreeMap<String, u64>,
    /// Microseconds since the Unix epoch.
    pub created_at_micros: i64,
    /// The log's signed checkpoint when the batch was made, as `<size> <root hex>`: the
    /// history this batch was contributed after. `None` for a dataset's first batch.
    #[serde(default)]
    pub log_checkpoint: Option<String>,
}

impl BatchManifest {
    /// The exact bytes that are signed: domain prefix, then compact JSON.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = MANIFEST_DOMAIN.as_bytes().to_vec();
        // Serializing a struct of strings, numbers, vectors and BTreeMaps cannot fail.
        serde_json::to_writer(&mut out, self).expect("manifest serializes");
        out
    }
}

/// A manifest with its signature, as stored under `provenance/batches/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedManifest {
    pub manifest: BatchManifest,
    /// Hex ed25519 signature over `manifest.canonical_bytes()`.
    pub signature: String,
}

//! Opening and creating a dataset, and reading and writing its non-table objects.

use bytes::Bytes;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::{PutMode, PutOptions};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError, ObjectStore, Path};
use futures::TryStreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Once};
use url::Url;

/// The marker object at the dataset root.
pub const DATASET_MARKER: &str = "masa.json";
/// Version of the folder layout described in the crate docs.
pub const LAYOUT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("bad dataset location {location:?}: {reason}")]
    BadLocation { location: String, reason: String },
    #[error(
        "unknown dataset scheme `{scheme}` in {location}: use a local path, file:///path, or s3://bucket/prefix"
    )]
    UnknownScheme { location: String, scheme: String },
    #[error(
        "{scheme}:// datasets are not supported by this build yet ({location}): use a local path or s3://bucket/prefix"
    )]
    UnsupportedScheme { location: String, scheme: String },
    #[error(
        "no Masa dataset at {location}: create one with `masa contribute --dataset {location} ...`"
    )]
    NotFound { location: String },
    #[error(
        "{location} is not a Masa dataset (it has content but no {DATASET_MARKER}): choose a new or empty location"
    )]
    NotADataset { location: String },
    #[error("{location}: {reason}")]
    Incompatible { location: String, reason: String },
    #[error("cannot access {location}: {message}{hint}")]
    Access {
        location: String,
        message: String,
        hint: &'static str,
    },
    #[error("{context}: {message}{hint}")]
    Delta {
        context: String,
        message: String,
        hint: &'static str,
    },
    #[error("{context}: {message}")]
    Data { context: String, message: String },
    /// A rewrite (compaction, dedup filter) found a file it replaces gone from the table.
    #[error("rewriting {path}: another writer removed or replaced it first; nothing was changed")]
    Gone { path: String },
    #[error(
        "another run of the same source committed version {found:?} of {app_id} while this one expected {expected:?}: run one copy of a source at a time"
    )]
    Conflict {
        app_id: String,
        expected: Option<i64>,
        found: Option<i64>,
    },
}

/// Storage options passed to the object store (`AWS_ENDPOINT_URL`, `AWS_REGION`, ...;
/// unset keys are also read from the environment).
pub type StorageOptions = HashMap<String, String>;

/// The whole error chain as one line.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// A hint for the usual causes of an object store failure.
pub(crate) fn hint(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if [
        "403",
        "invalidaccesskeyid",
        "signaturedoesnotmatch",
        "accessdenied",
        "forbidden",
    ]
    .iter()
    .any(|k| m.contains(k))
    {
        "; check the S3 credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --s3-access-key-id and --s3-secret-access-key)"
    } else if m.contains("nosuchbucket") {
        "; the bucket does not exist: create it first"
    } else if [
        "error sending request",
        "connect",
        "dns",
        "timed out",
        "timeout",
        "unreachable",
    ]
    .iter()
    .any(|k| m.contains(k))
    {
        "; cannot reach the storage endpoint: check AWS_ENDPOINT_URL (or --s3-endpoint) and that the server is running"
    } else if m.contains("permission denied") {
        "; check the folder's permissions"
    } else {
        ""
    }
}

pub(crate) fn delta_err(context: impl Into<String>, e: DeltaTableError) -> StorageError {
    let message = chain(&e);
    StorageError::Delta {
        context: context.into(),
        hint: hint(&message),
        message,
    }
}

/// An opened Masa dataset.
pub struct Dataset {
    pub(crate) url: Url,
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) table: DeltaTable,
    /// Parsed footers of compacted files, read once per slice otherwise (see
    /// [`Dataset::read_file`]).
    pub(crate) footers: crate::table::FooterCache,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("url", &self.url.as_str())
            .finish()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    format: String,
    layout_version: u32,
    schema_version: u32,
}

fn with_defaults(options: &StorageOptions) -> StorageOptions {
    let mut o = options.clone();
    // Fail in seconds, not minutes, when an endpoint is down or credentials are wrong.
    for (k, v) in [
        ("max_retries", "2"),
        ("retry_timeout", "15s"),
        ("connect_timeout", "5s"),
    ] {
        o.entry(k.to_owned()).or_insert_with(|| v.to_owned());
    }
    // A plain-http endpoint (a local S3 server) needs HTTP allowed explicitly.
    let endpoint = o
        .get("AWS_ENDPOINT_URL")
        .cloned()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    if endpoint.is_some_and(|e| e.starts_with("http://")) {
        o.entry("AWS_ALLOW_HTTP".into())
            .or_insert_with(|| "true".into());
    }
    o
}

/// The table's URL under the dataset root.
pub(crate) fn table_url(root: &Url) -> Url {
    root.join("table/")
        .expect("relative join on a directory URL")
}

/// The table handle, not loaded: the caller loads or creates it. `options` already carry
/// the defaults.
pub(crate) fn table_handle(
    root: &Url,
    options: &StorageOptions,
) -> Result<DeltaTable, StorageError> {
    let url = table_url(root);
    DeltaTableBuilder::from_url(url.clone())
        .and_then(|b| b.with_storage_options(options.clone()).build())
        .map_err(|e| delta_err(format!("cannot open table {url}"), e))
}

/// An IO failure on a local folder, as a storage error.
pub(crate) fn local_io_err(location: &str, e: std::io::Error) -> StorageError {
    let message = e.to_string();
    StorageError::Access {
        location: location.into(),
        hint: hint(&message),
        message,
    }
}

fn register_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

fn root_store(url: &Url, options: &StorageOptions) -> Result<Arc<dyn ObjectStore>, StorageError> {
    register_handlers();
    let log_store = DeltaTableBuilder::from_url(url.clone())
        .and_then(|b| b.with_storage_options(options.clone()).build_storage())
        .map_err(|e| delta_err(format!("cannot open {url}"), e))?;
    Ok(log_store.object_store(None))
}

enum Probe {
    Marker(Bytes),
    Empty,
    Foreign,
}

impl Dataset {
    fn access_err(&self, e: deltalake::ObjectStoreError) -> StorageError {
        access_err(&self.url, e)
    }

    /// What the location holds. Listed before the marker is read: a writer creating the
    /// dataset meanwhile puts its marker before anything else, so content seen without a
    /// marker is read again once (its marker may have been mid-write) before it counts as
    /// foreign.
    async fn probe(url: &Url, store: &dyn ObjectStore) -> Result<Probe, StorageError> {
        let listing = store
            .list_with_delimiter(None)
            .await
            .map_err(|e| access_err(url, e))?;
        if listing.objects.is_empty() && listing.common_prefixes.is_empty() {
            return Ok(Probe::Empty);
        }
        for attempt in 0..2 {
            match store.get(&Path::from(DATASET_MARKER)).await {
                Ok(r) => {
                    return Ok(Probe::Marker(
                        r.bytes().await.map_err(|e| access_err(url, e))?,
                    ));
                }
                Err(deltalake::ObjectStoreError::NotFound { .. }) if attempt == 0 => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(deltalake::ObjectStoreError::NotFound { .. }) => return Ok(Probe::Foreign),
                Err(e) => return Err(access_err(url, e)),
            }
        }
        unreachable!("the loop returns")
    }

    fn check_marker(url: &Url, bytes: &[u8]) -> Result<(), StorageError> {
        let m: Marker = serde_json::from_slice(bytes).map_err(|e| StorageError::Incompatible {
            location: url.to_string(),
            reason: format!(
                "{DATASET_MARKER} is unreadable ({e}); restore it or use another location"
            ),
        })?;
        if m.format != "masa-dataset" || m.layout_version != LAYOUT_VERSION {
            return Err(StorageError::Incompatible {
                location: url.to_string(),
                reason: format!(
                    "dataset format {} layout {} is not the one this masa reads (masa-dataset layout {LAYOUT_VERSION}); upgrade masa",
                    m.format, m.layout_version
                ),
            });
        }
        Ok(())
    }

    async fn load_table(
        url: &Url,
        store: &dyn ObjectStore,
        options: &StorageOptions,
    ) -> Result<Option<DeltaTable>, StorageError> {
        // Look for the log ourselves: loading a missing table makes deltalake log errors.
        let log = store
            .list_with_delimiter(Some(&Path::from("table/_delta_log")))
            .await
            .map_err(|e| access_err(url, e))?;
        if log.objects.is_empty() {
            return Ok(None);
        }
        let mut table = table_handle(url, options)?;
        match table.load().await {
            Ok(()) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(delta_err(
                format!("cannot load table {}", table_url(url)),
                e,
            )),
        }
    }

    /// Opens an existing dataset. Fails with a clear error when the location holds nothing,
    /// or something that is not a Masa dataset.
    pub async fn open(location: &str, options: &StorageOptions) -> Result<Self, StorageError> {
        let url = crate::parse_location(location)?;
        let options = &with_defaults(options);
        if let Ok(p) = url.to_file_path()
            && !p.exists()
        {
            return Err(StorageError::NotFound {
                location: location.into(),
            });
        }
        let store = root_store(&url, options)?;
        match Self::probe(&url, store.as_ref()).await? {
            Probe::Marker(b) => Self::check_marker(&url, &b)?,
            Probe::Empty => {
                return Err(StorageError::NotFound {
                    location: location.into(),
                });
            }
            Probe::Foreign => {
                return Err(StorageError::NotADataset {
                    location: location.into(),
                });
            }
        }
        let table = Self::load_table(&url, store.as_ref(), options)
            .await?
            .ok_or_else(|| StorageError::Incompatible {
                location: location.into(),
                reason: "the dataset has no table yet (an interrupted creation); run `masa contribute` to finish it".into(),
            })?;
        Ok(Dataset {
            url,
            store,
            table,
            footers: Default::default(),
        })
    }

    /// Opens a dataset, creating it when the location is new or empty.
    pub async fn create_or_open(
        location: &str,
        options: &StorageOptions,
    ) -> Result<Self, StorageError> {
        let url = crate::parse_location(location)?;
        let options = &with_defaults(options);
        if let Ok(p) = url.to_file_path() {
            std::fs::create_dir_all(&p).map_err(|e| local_io_err(location, e))?;
        }
        let store = root_store(&url, options)?;
        match Self::probe(&url, store.as_ref()).await? {
            Probe::Marker(b) => Self::check_marker(&url, &b)?,
            Probe::Foreign => {
                return Err(StorageError::NotADataset {
                    location: location.into(),
                });
            }
            Probe::Empty => {
                // The marker goes first: a crash before the table exists leaves a dataset
                // that the next run finishes creating, never a table without a marker.
                let marker = Marker {
                    format: "masa-dataset".into(),
                    layout_version: LAYOUT_VERSION,
                    schema_version: masa_record::SCHEMA_VERSION,
                };
                let bytes = serde_json::to_vec_pretty(&marker).expect("marker serializes");
                store
                    .put(&Path::from(DATASET_MARKER), Bytes::from(bytes).into())
                    .await
                    .map_err(|e| access_err(&url, e))?;
            }
        }
        let table = match Self::load_table(&url, store.as_ref(), options).await? {
            Some(t) => t,
            // Writers starting together on a new dataset race to create its table: the
            // first commit of version 0 wins (a conditional create), the others open it.
            None => match crate::table::create_table(&url, options).await {
                Ok(t) => t,
                Err(e) => match Self::load_table(&url, store.as_ref(), options).await? {
                    Some(t) => t,
                    None => return Err(e),
                },
            },
        };
        Ok(Dataset {
            url,
            store,
            table,
            footers: Default::default(),
        })
    }

    /// The dataset root URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The dataset root as a local folder, for `file://` datasets.
    pub fn local_root(&self) -> Option<std::path::PathBuf> {
        (self.url.scheme() == "file")
            .then(|| self.url.to_file_path().ok())
            .flatten()
    }

    /// Writes `bytes` at `path` (relative to the root), replacing what was there.
    pub async fn put(&self, path: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&Path::from(path), bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| self.access_err(e))
    }

    /// Writes `bytes` at `path` only if no object is there yet, atomically (a conditional
    /// put): of writers racing for one path exactly one gets `true`.
    pub async fn put_if_absent(&self, path: &str, bytes: Bytes) -> Result<bool, StorageError> {
        let opts = PutOptions::from(PutMode::Create);
        match self
            .store
            .put_opts(&Path::from(path), bytes.into(), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(deltalake::ObjectStoreError::AlreadyExists { .. })
            | Err(deltalake::ObjectStoreError::Precondition { .. }) => Ok(false),
            Err(e) => Err(self.access_err(e)),
        }
    }

    /// Reads `path`, or `None` when there is no such object.
    pub async fn get(&self, path: &str) -> Result<Option<Bytes>, StorageError> {
        match self.store.get(&Path::from(path)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.access_err(e))?)),
            Err(deltalake::ObjectStoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.access_err(e)),
        }
    }

    /// Paths (relative to the root) of every object under `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut out: Vec<String> = self
            .store
            .list(Some(&Path::from(prefix)))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(|e| self.access_err(e))?;
        out.sort();
        Ok(out)
    }
}

pub(crate) fn access_err(url: &Url, e: deltalake::ObjectStoreError) -> StorageError {
    let message = chain(&e);
    StorageError::Access {
        location: url.to_string(),
        hint: hint(&message),
        message,
    }
}

//! Index splits in a dataset: the manifest, reconciling it with the table, and gathering a
//! dataset's splits into a local cache folder for search.

use crate::WorkflowError;
use masa_index::{Manifest, SplitMeta};
use masa_storage::Dataset;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

pub(crate) const MANIFEST_PATH: &str = "index/manifest.json";

pub(crate) fn split_dir(batch_id: &str) -> String {
    format!("index/splits/{batch_id}")
}

async fn read_json<T: serde::de::DeserializeOwned>(
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

/// The splits of every committed batch. The manifest is a cache: entries for batches that
/// never committed are dropped, and committed batches it misses (a crash between commit and
/// manifest update) are found from their `split.json`. Returns whether the manifest was
/// out of date.
pub(crate) async fn committed_splits(ds: &Dataset) -> Result<(Manifest, bool), WorkflowError> {
    let committed: BTreeSet<String> = ds
        .committed_files()?
        .into_iter()
        .filter_map(|f| f.batch_id)
        .collect();
    let stored: Manifest = read_json(ds, MANIFEST_PATH).await?.unwrap_or_default();
    let before = stored.splits.len();
    let mut splits: Vec<SplitMeta> = stored
        .splits
        .into_iter()
        .filter(|s| committed.contains(&s.batch_id))
        .collect();
    let mut stale = splits.len() != before;
    let known: HashSet<String> = splits.iter().map(|s| s.batch_id.clone()).collect();
    for batch in committed.iter().filter(|b| !known.contains(*b)) {
        let path = format!("{}/split.json", split_dir(batch));
        match read_json::<SplitMeta>(ds, &path).await? {
            Some(meta) => {
                splits.push(meta);
                stale = true;
            }
            None => {
                tracing::warn!(batch = %batch, "committed batch has no index split; its records are not searchable")
            }
        }
    }
    Ok((Manifest { splits }, stale))
}

pub(crate) async fn write_manifest(ds: &Dataset, m: &Manifest) -> Result<(), WorkflowError> {
    let bytes = serde_json::to_vec(m).expect("manifest serializes");
    ds.put(MANIFEST_PATH, bytes.into()).await?;
    Ok(())
}

/// The local cache folder for a dataset's splits: `$MASA_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/masa`, else `~/.cache/masa`, then one folder per dataset URL.
pub(crate) fn cache_dir(ds: &Dataset) -> Result<PathBuf, WorkflowError> {
    let base = std::env::var_os("MASA_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(|v| PathBuf::from(v).join("masa"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/masa")))
        .ok_or_else(|| {
            WorkflowError::Other("cannot find a cache folder: set MASA_CACHE_DIR".into())
        })?;
    let key = &masa_record::sha256_hex(ds.url().as_str().as_bytes())[..16];
    Ok(base.join("splits").join(key))
}

/// Makes every file of `splits` present in `dir`: hard-linked (or copied) from a local
/// dataset, downloaded from a remote one. Files already there with the right size are kept.
pub(crate) async fn gather(
    ds: &Dataset,
    splits: &[SplitMeta],
    dir: &Path,
) -> Result<(), WorkflowError> {
    let io = |path: &Path, e: std::io::Error| {
        WorkflowError::Other(format!("split cache {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    for s in splits {
        for f in &s.files {
            let dest = dir.join(&f.name);
            if std::fs::metadata(&dest).is_ok_and(|m| m.len() == f.size) {
                continue;
            }
            let src_rel = format!("{}/{}", split_dir(&s.batch_id), f.name);
            let tmp = dir.join(format!("{}.{}.part", f.name, std::process::id()));
            if let Some(root) = ds.local_root() {
                let src = root.join(&src_rel);
                if std::fs::hard_link(&src, &tmp).is_err() {
                    std::fs::copy(&src, &tmp).map_err(|e| io(&src, e))?;
                }
            } else {
                let bytes = ds
                    .get(&src_rel)
                    .await?
                    .ok_or_else(|| WorkflowError::Corrupt {
                        path: src_rel.clone(),
                        reason: "index split file is missing".into(),
                    })?;
                std::fs::write(&tmp, &bytes).map_err(|e| io(&tmp, e))?;
            }
            std::fs::rename(&tmp, &dest).map_err(|e| io(&dest, e))?;
        }
    }
    Ok(())
}

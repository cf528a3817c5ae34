//! Index splits in a dataset: the manifest, reconciling it with the table, and gathering a
//! dataset's splits into a local cache folder for search.

use crate::WorkflowError;
use crate::layout::{MANIFEST_PATH, read_json, split_dir};
use masa_index::{INDEX_SCHEMA_VERSION, Manifest, SplitMeta};
use masa_storage::Dataset;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The splits of every committed batch, as far as they exist.
pub(crate) struct CommittedSplits {
    pub manifest: Manifest,
    /// The stored manifest was out of date.
    pub stale: bool,
    /// Committed batches with no split at all (deleted by hand): rebuilt by the next
    /// contribution, unsearchable until then.
    pub missing: Vec<String>,
}

/// The splits of every committed batch. The manifest is a cache: entries for batches that
/// never committed are dropped, and committed batches it misses (a crash between commit and
/// manifest update) are found from their `split.json`.
pub(crate) async fn committed_splits(ds: &Dataset) -> Result<CommittedSplits, WorkflowError> {
    // Each committed batch with its row count: a split indexing another number of documents
    // is outdated (its batch's file was replaced) and is rebuilt.
    let committed: BTreeMap<String, Option<u64>> = ds
        .committed_files()?
        .into_iter()
        .filter_map(|f| Some((f.batch_id?, f.num_records)))
        .collect();
    let current = |s: &SplitMeta| {
        s.schema_version == INDEX_SCHEMA_VERSION
            && committed
                .get(&s.batch_id)
                .is_some_and(|rows| rows.is_none_or(|n| n == s.num_docs))
    };
    let stored: Manifest = read_json(ds, MANIFEST_PATH).await?.unwrap_or_default();
    let before = stored.splits.len();
    let mut splits: Vec<SplitMeta> = stored.splits.into_iter().filter(|s| current(s)).collect();
    let mut stale = splits.len() != before;
    let known: HashSet<String> = splits.iter().map(|s| s.batch_id.clone()).collect();
    let mut missing = Vec::new();
    for batch in committed.keys().filter(|b| !known.contains(*b)) {
        let path = format!("{}/split.json", split_dir(batch));
        // A split of another index schema version counts as missing: it is rebuilt.
        let found = read_json::<SplitMeta>(ds, &path)
            .await?
            .filter(|m| current(m));
        match found {
            Some(meta) => {
                splits.push(meta);
                stale = true;
            }
            None => {
                tracing::warn!(batch = %batch, "committed batch has no index split; the next contribution rebuilds it");
                missing.push(batch.clone());
            }
        }
    }
    Ok(CommittedSplits {
        manifest: Manifest { splits },
        stale,
        missing,
    })
}

/// Brings the index manifest in line with the table: splits found for committed batches are
/// listed, and batches without a current split get one built from their rows.
pub(crate) async fn repair_index(ds: &Dataset) -> Result<Manifest, WorkflowError> {
    let CommittedSplits {
        mut manifest,
        mut stale,
        missing,
    } = committed_splits(ds).await?;
    for batch in &missing {
        manifest.splits.push(rebuild_split(ds, batch).await?);
        stale = true;
    }
    if stale {
        write_manifest(ds, &manifest).await?;
    }
    Ok(manifest)
}

/// Builds and stores the split of a committed batch from its Parquet rows: the table is the
/// truth, the index is derived from it.
pub(crate) async fn rebuild_split(ds: &Dataset, batch: &str) -> Result<SplitMeta, WorkflowError> {
    let mut records = Vec::new();
    for f in ds
        .committed_files()?
        .iter()
        .filter(|f| f.batch_id.as_deref() == Some(batch))
    {
        for b in ds.read_file(f, None).await? {
            records.extend(masa_record::records_from_batch(&b).map_err(|e| {
                WorkflowError::Corrupt {
                    path: f.path.clone(),
                    reason: e.to_string(),
                }
            })?);
        }
    }
    records.sort_by_key(|r| r.row_in_batch);
    let id = batch.to_owned();
    let built = tokio::task::spawn_blocking(move || masa_index::build_split(&id, &id, &records))
        .await
        .map_err(|e| WorkflowError::Other(format!("split rebuild failed: {e}")))??;
    store_split(ds, batch, built).await
}

/// Stores a built split under `index/splits/<batch>/`: its files, then its `split.json`.
pub(crate) async fn store_split(
    ds: &Dataset,
    batch: &str,
    built: masa_index::BuiltSplit,
) -> Result<SplitMeta, WorkflowError> {
    let dir = split_dir(batch);
    futures::future::try_join_all(built.files.into_iter().map(|(name, bytes)| {
        let path = format!("{dir}/{name}");
        async move { ds.put(&path, bytes.into()).await }
    }))
    .await?;
    let meta_bytes = serde_json::to_vec(&built.meta).expect("split meta serializes");
    ds.put(&format!("{dir}/split.json"), meta_bytes.into())
        .await?;
    Ok(built.meta)
}

pub(crate) async fn write_manifest(ds: &Dataset, m: &Manifest) -> Result<(), WorkflowError> {
    let bytes = serde_json::to_vec(m).expect("manifest serializes");
    ds.put(MANIFEST_PATH, bytes.into()).await?;
    Ok(())
}

/// The local cache folder for a dataset's splits: under `base`, else `$MASA_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/masa`, else `~/.cache/masa`, one folder per dataset URL.
pub(crate) fn cache_dir(ds: &Dataset, base: Option<&Path>) -> Result<PathBuf, WorkflowError> {
    let base = base
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("MASA_CACHE_DIR").map(PathBuf::from))
        .filter(|v| !v.as_os_str().is_empty())
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

/// How [`gather`] found a view's files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gathered {
    /// Files already in the cache.
    pub reused: u64,
    /// Files linked, copied or downloaded into it.
    pub fetched: u64,
    pub fetched_bytes: u64,
}

/// Makes every file of `splits` present in `dir`: hard-linked (or copied) from a local
/// dataset, downloaded from a remote one. Files already there with the right size are kept,
/// and marked as used now (their modification time), so that [`evict`] removes the least
/// recently used first.
pub(crate) async fn gather(
    ds: &Dataset,
    splits: &[SplitMeta],
    dir: &Path,
) -> Result<Gathered, WorkflowError> {
    let io = |path: &Path, e: std::io::Error| {
        WorkflowError::Other(format!("split cache {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut g = Gathered::default();
    let now = std::time::SystemTime::now();
    for s in splits {
        for f in &s.files {
            let dest = dir.join(&f.name);
            if std::fs::metadata(&dest).is_ok_and(|m| m.len() == f.size) {
                // A hard link to a local dataset's file shares its times: leave those.
                if ds.local_root().is_none()
                    && let Ok(file) = std::fs::File::options().write(true).open(&dest)
                {
                    let _ = file.set_modified(now);
                }
                g.reused += 1;
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
                if bytes.len() as u64 != f.size {
                    return Err(WorkflowError::Corrupt {
                        path: src_rel,
                        reason: format!(
                            "index split file has {} bytes where its split lists {}",
                            bytes.len(),
                            f.size
                        ),
                    });
                }
                std::fs::write(&tmp, &bytes).map_err(|e| io(&tmp, e))?;
            }
            std::fs::rename(&tmp, &dest).map_err(|e| io(&dest, e))?;
            g.fetched += 1;
            g.fetched_bytes += f.size;
        }
    }
    Ok(g)
}

/// What [`evict`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evicted {
    pub files: u64,
    pub bytes: u64,
    /// Bytes in the cache afterwards.
    pub kept_bytes: u64,
}

/// Bounds a split cache folder to `max_bytes`: removes split files, least recently used
/// first, but never one named in `in_use` (the files of the views open now; on Linux an
/// open index keeps reading a removed file anyway, but a view opened next must find it).
/// Hard links into a local dataset are counted by their size like any file; removing one
/// frees nothing but costs nothing either.
pub fn evict(dir: &Path, in_use: &HashSet<&str>, max_bytes: u64) -> Result<Evicted, WorkflowError> {
    let io =
        |e: std::io::Error| WorkflowError::Other(format!("split cache {}: {e}", dir.display()));
    let mut files = Vec::new();
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || name == "meta.json" || name.ends_with(".tmp") {
            continue;
        }
        total += meta.len();
        if !in_use.contains(name.as_str()) {
            let used = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            files.push((used, name, meta.len()));
        }
    }
    files.sort();
    let mut out = Evicted::default();
    for (_, name, len) in files {
        if total <= max_bytes {
            break;
        }
        if std::fs::remove_file(dir.join(&name)).is_ok() {
            total -= len;
            out.files += 1;
            out.bytes += len;
        }
    }
    out.kept_bytes = total;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_removes_the_least_recently_used_files_not_in_use_until_under_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        // Five files of 100 bytes, used at t0 + i seconds; "c" is in use.
        for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let path = dir.path().join(name);
            std::fs::write(&path, [0u8; 100]).unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(t0 + std::time::Duration::from_secs(i as u64))
                .unwrap();
        }
        std::fs::write(dir.path().join("meta.json"), [0u8; 1000]).unwrap();
        let in_use: HashSet<&str> = ["c"].into();
        let left = |d: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let e = evict(dir.path(), &in_use, 250).unwrap();
        // a, b, then d go (oldest first, c skipped): 200 bytes left, c and e.
        assert_eq!((e.files, e.bytes, e.kept_bytes), (3, 300, 200));
        assert_eq!(left(dir.path()), ["c", "e", "meta.json"]);
        // Under the bound: nothing more goes; the file in use never does.
        assert_eq!(evict(dir.path(), &in_use, 250).unwrap().files, 0);
        let e = evict(dir.path(), &in_use, 0).unwrap();
        assert_eq!((e.files, e.kept_bytes), (1, 100));
        assert_eq!(left(dir.path()), ["c", "meta.json"]);
    }
}

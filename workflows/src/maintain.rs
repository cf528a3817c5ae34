//! `masa maintain`: the upkeep a long-lived dataset needs, none of which changes its data.
//! Small data files are compacted into files near a target size (one commit per output
//! file, `dataChange = false`, so contributors appending meanwhile are not disturbed), the
//! log's missing history blocks are written, and a checkpoint is written of the version
//! reached. Index splits are per batch and a compacted batch keeps its rows, so the index
//! stays valid; manifests and proofs name the original objects, which stay in storage.

use crate::WorkflowError;
use masa_storage::{Dataset, StorageError, StorageOptions};
use serde::Serialize;
use std::collections::HashMap;

/// Delta's usual target size for compacted files (delta-rs's `optimize` default, 100 MiB).
pub const DEFAULT_TARGET_BYTES: u64 = 100 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct MaintainOptions {
    pub dataset: String,
    pub storage: StorageOptions,
    /// Files smaller than this are compacted, into files of at most about this size.
    pub target_bytes: u64,
    /// Plan and report, write nothing.
    pub dry_run: bool,
}

/// One output file: the files it compacts, and what became of them.
#[derive(Debug, Clone, Serialize)]
pub struct CompactedFile {
    pub files: usize,
    pub bytes_before: u64,
    pub batches: usize,
    /// The compacted file and its size; `None` in a dry run or when skipped.
    pub path: Option<String>,
    pub bytes_after: Option<u64>,
    pub table_version: Option<i64>,
    /// Why this group was left as it was (another writer replaced one of its files first).
    pub skipped: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaintainReport {
    pub dataset: String,
    pub dry_run: bool,
    pub target_bytes: u64,
    pub files_before: usize,
    pub files_after: usize,
    pub compacted: Vec<CompactedFile>,
    /// The version the checkpoint was written at (none in a dry run).
    pub checkpoint: Option<i64>,
    pub seconds: f64,
}

/// Groups the small files (under `target` bytes) into runs of at least two whose sizes add
/// up to at most `target`, in the order given (the order their batches were committed:
/// neighbours in time stay neighbours, which keeps `audit --since` reading few files).
fn plan(files: &[(String, u64)], target: u64) -> Vec<Vec<(String, u64)>> {
    let mut groups = Vec::new();
    let mut current: Vec<(String, u64)> = Vec::new();
    let mut size = 0u64;
    for (path, bytes) in files.iter().filter(|(_, b)| *b < target) {
        if size + bytes > target && !current.is_empty() {
            groups.push(std::mem::take(&mut current));
            size = 0;
        }
        size += bytes;
        current.push((path.clone(), *bytes));
    }
    groups.push(current);
    groups.retain(|g| g.len() >= 2);
    groups
}

pub async fn maintain(opts: MaintainOptions) -> Result<MaintainReport, WorkflowError> {
    let started = std::time::Instant::now();
    if opts.target_bytes == 0 {
        return Err(WorkflowError::Other(
            "the target file size must be above 0 bytes".into(),
        ));
    }
    let mut ds = Dataset::open(&opts.dataset, &opts.storage).await?;
    // Reading the history writes the blocks it finds missing.
    let order = ds.batch_commit_order().await?;
    let position: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, b)| (b.as_str(), i))
        .collect();
    let slices = ds.committed_files()?;
    // Each file once, at the log position of its earliest batch.
    let mut files: Vec<(usize, String, u64)> = Vec::new();
    for f in &slices {
        let at = f
            .batch_id
            .as_deref()
            .and_then(|b| position.get(b).copied())
            .unwrap_or(usize::MAX);
        match files.iter_mut().find(|(_, p, _)| *p == f.path) {
            Some(e) => e.0 = e.0.min(at),
            None => files.push((at, f.path.clone(), f.size)),
        }
    }
    files.sort();
    let files_before = files.len();
    let by_batches: HashMap<&str, usize> = slices.iter().fold(HashMap::new(), |mut m, f| {
        *m.entry(f.path.as_str()).or_default() += 1;
        m
    });
    let ordered: Vec<(String, u64)> = files.into_iter().map(|(_, p, s)| (p, s)).collect();
    let groups = plan(&ordered, opts.target_bytes);
    tracing::info!(
        files = files_before,
        groups = groups.len(),
        "planned compaction"
    );
    let mut compacted = Vec::with_capacity(groups.len());
    for (i, group) in groups.iter().enumerate() {
        let mut entry = CompactedFile {
            files: group.len(),
            bytes_before: group.iter().map(|(_, s)| s).sum(),
            batches: group.iter().map(|(p, _)| by_batches[p.as_str()]).sum(),
            path: None,
            bytes_after: None,
            table_version: None,
            skipped: None,
        };
        if !opts.dry_run {
            let paths: Vec<String> = group.iter().map(|(p, _)| p.clone()).collect();
            match ds.compact(&paths).await {
                Ok(c) => {
                    entry.path = Some(c.path);
                    entry.bytes_after = Some(c.size);
                    entry.table_version = Some(c.version);
                    entry.batches = c.batches;
                }
                // Another rewrite (a dedup filter, another maintain) got there first: its
                // commit stands; this group is left for the next run.
                Err(StorageError::Gone { path }) => {
                    tracing::warn!(path = %path, "replaced by another writer meanwhile; group skipped");
                    entry.skipped = Some(format!("{path} was replaced by another writer"));
                }
                Err(e) => return Err(e.into()),
            }
            tracing::info!(done = i + 1, total = groups.len(), "compacted");
        }
        compacted.push(entry);
    }
    let checkpoint = if opts.dry_run {
        None
    } else {
        ds.refresh().await?;
        Some(ds.checkpoint().await?)
    };
    let files_after = if opts.dry_run {
        files_before
            - compacted
                .iter()
                .map(|c| c.files.saturating_sub(1))
                .sum::<usize>()
    } else {
        let mut seen = std::collections::HashSet::new();
        ds.committed_files()?
            .into_iter()
            .filter(|f| seen.insert(f.path.clone()))
            .count()
    };
    Ok(MaintainReport {
        dataset: ds.url().to_string(),
        dry_run: opts.dry_run,
        target_bytes: opts.target_bytes,
        files_before,
        files_after,
        compacted,
        checkpoint,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::plan;

    fn files(sizes: &[u64]) -> Vec<(String, u64)> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("f{i}"), *s))
            .collect()
    }

    fn names(groups: &[Vec<(String, u64)>]) -> Vec<Vec<&str>> {
        groups
            .iter()
            .map(|g| g.iter().map(|(p, _)| p.as_str()).collect())
            .collect()
    }

    #[test]
    fn small_files_are_grouped_up_to_the_target_in_order() {
        // f2 is large enough to stay; a group closes before it would pass the target; a
        // group of one is no compaction.
        let g = plan(&files(&[30, 40, 100, 20, 50, 10, 95]), 100);
        assert_eq!(names(&g), [vec!["f0", "f1", "f3"], vec!["f4", "f5"]]);
        assert!(plan(&files(&[10]), 100).is_empty());
        assert!(plan(&files(&[]), 100).is_empty());
    }
}

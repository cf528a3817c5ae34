//! The table's commit history, kept cheap to read and independent of the log's JSON files.
//!
//! Masa binds each batch to its Delta commit through the commit's `commitInfo` (the
//! `masa.*` keys: batch, run position, transparency-log leaf). Delta readers reach the
//! current state from a checkpoint and need no old commit file, but `commitInfo` lives
//! only in those JSON files: reading it for 10 000 commits would mean 10 000 requests,
//! and a log cleanup (by any Delta tool) would lose it.
//!
//! So every complete block of [`HISTORY_BLOCK`] versions is also written, once, to
//! `history/<first version>.json`: the `commitInfo` of each of its commits, copied from
//! the commit files. Commit files never change once written, so a block is a pure function
//! of them and any process may write it (a conditional put: the first one wins, and every
//! writer would write the same bytes). A block is written when the commit that completes
//! it lands (before the checkpoint that would let a cleanup drop its files) and, failing
//! that, by the next reader that reads those commits.
//!
//! Policy: masa never removes commit files (its commits turn expired-log cleanup off and
//! new tables are created with `delta.enableExpiredLogCleanup = false`, so other Delta
//! writers keep them too) and never vacuums (signed manifests name the data objects a
//! dedup filter removed from the table). When commit files are gone anyway, the history
//! blocks still hold every binding; only commits that are in neither are an error.

use crate::{Dataset, StorageError};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Versions per history block: Delta's default checkpoint interval, so that the block of
/// the commits a checkpoint covers is written with it.
pub const HISTORY_BLOCK: i64 = 100;
const HISTORY_DIR: &str = "history";
const FORMAT: &str = "masa-history-1";
/// Objects fetched at once when commit files or blocks are read.
const FETCH_CONCURRENCY: usize = 32;

/// One commit's `commitInfo` (empty when the commit has none: the Delta protocol makes it
/// optional, and writers other than masa may leave it out). Ordered, so that a block's
/// bytes are a function of the commit files.
pub type CommitInfo = BTreeMap<String, serde_json::Value>;

#[derive(Serialize, Deserialize)]
struct Block {
    format: String,
    /// The first version; the block holds `HISTORY_BLOCK` consecutive ones.
    first: i64,
    commits: Vec<CommitInfo>,
}

fn block_path(first: i64) -> String {
    format!("{HISTORY_DIR}/{first:020}.json")
}

fn commit_path(version: i64) -> String {
    format!("table/_delta_log/{version:020}.json")
}

/// The `commitInfo` action of a commit file (newline-delimited JSON actions).
fn parse_commit(version: i64, bytes: &[u8]) -> Result<CommitInfo, StorageError> {
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut action: HashMap<String, serde_json::Value> =
            serde_json::from_slice(line).map_err(|e| StorageError::Data {
                context: format!("reading {}", commit_path(version)),
                message: e.to_string(),
            })?;
        if let Some(serde_json::Value::Object(info)) = action.remove("commitInfo") {
            return Ok(info.into_iter().collect());
        }
    }
    Ok(CommitInfo::new())
}

/// Versions as short ranges, for a message: `0-99, 250`.
fn ranges(versions: &[i64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < versions.len() {
        let start = versions[i];
        while i + 1 < versions.len() && versions[i + 1] == versions[i] + 1 {
            i += 1;
        }
        out.push(if start == versions[i] {
            start.to_string()
        } else {
            format!("{start}-{}", versions[i])
        });
        i += 1;
    }
    out.join(", ")
}

impl Dataset {
    /// The `commitInfo` of every commit up to the loaded version, oldest first (index =
    /// table version). Complete blocks come from `history/`, the rest from the commit
    /// files; blocks found complete in the commit files are written for the next reader
    /// (best effort: a read-only reader just reads the files again next time).
    pub async fn commit_infos(&self) -> Result<Vec<CommitInfo>, StorageError> {
        let Some(latest) = self.table_version() else {
            return Ok(Vec::new());
        };
        let mut infos: Vec<Option<CommitInfo>> = vec![None; latest as usize + 1];
        let firsts: Vec<i64> = self
            .list(HISTORY_DIR)
            .await?
            .iter()
            .filter_map(|p| {
                let name = p.strip_prefix("history/")?.strip_suffix(".json")?;
                name.parse::<i64>().ok()
            })
            .filter(|first| first % HISTORY_BLOCK == 0 && *first <= latest)
            .collect();
        let mut blocks = futures::stream::iter(firsts)
            .map(|first| self.read_block(first))
            .buffer_unordered(FETCH_CONCURRENCY);
        while let Some(block) = blocks.try_next().await? {
            for (i, info) in block.commits.into_iter().enumerate() {
                if let Some(slot) = infos.get_mut((block.first + i as i64) as usize) {
                    *slot = Some(info);
                }
            }
        }
        drop(blocks);

        let unread: Vec<i64> = (0..=latest)
            .filter(|v| infos[*v as usize].is_none())
            .collect();
        let mut gone = Vec::new();
        for (v, info) in self.read_commits(unread.iter().copied()).await? {
            match info {
                Some(info) => infos[v as usize] = Some(info),
                None => gone.push(v),
            }
        }
        if !gone.is_empty() {
            gone.sort_unstable();
            return Err(StorageError::Data {
                context: "reading the table history".into(),
                message: format!(
                    "the commit files of versions {} are gone from {}table/_delta_log and no history block holds them, so those commits cannot be bound to their batches: restore the files from a backup (masa never removes them; another Delta tool's log cleanup does)",
                    ranges(&gone),
                    self.url
                ),
            });
        }
        let infos: Vec<CommitInfo> = infos.into_iter().map(Option::unwrap_or_default).collect();

        // Blocks read whole from commit files are written for the next reader.
        let mut first = 0;
        while first + HISTORY_BLOCK - 1 <= latest {
            let from_files = unread.binary_search(&first).is_ok();
            if from_files {
                let commits = infos[first as usize..(first + HISTORY_BLOCK) as usize].to_vec();
                if let Err(e) = self.put_block(first, commits).await {
                    tracing::warn!(first, error = %e, "history block not written; the next reader reads the commit files again");
                }
            }
            first += HISTORY_BLOCK;
        }
        Ok(infos)
    }

    /// Writes the history block starting at `first` from the commit files, unless it is
    /// there already. Called when the commit completing the block lands.
    pub(crate) async fn write_history_block(&self, first: i64) -> Result<(), StorageError> {
        if self.get(&block_path(first)).await?.is_some() {
            return Ok(());
        }
        let mut commits = Vec::with_capacity(HISTORY_BLOCK as usize);
        for (v, info) in self.read_commits(first..first + HISTORY_BLOCK).await? {
            commits.push(info.ok_or_else(|| StorageError::Data {
                context: format!("writing history block {first}"),
                message: format!("{} is missing", commit_path(v)),
            })?);
        }
        self.put_block(first, commits).await
    }

    /// The `commitInfo` of each version's commit file, in the order given; `None` where
    /// the file is gone.
    async fn read_commits(
        &self,
        versions: impl Iterator<Item = i64>,
    ) -> Result<Vec<(i64, Option<CommitInfo>)>, StorageError> {
        futures::stream::iter(versions)
            .map(|v| async move {
                let info = match self.get(&commit_path(v)).await? {
                    Some(bytes) => Some(parse_commit(v, &bytes)?),
                    None => None,
                };
                Ok::<_, StorageError>((v, info))
            })
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn put_block(&self, first: i64, commits: Vec<CommitInfo>) -> Result<(), StorageError> {
        let block = Block {
            format: FORMAT.into(),
            first,
            commits,
        };
        let bytes = serde_json::to_vec(&block).expect("a history block serializes");
        self.put_if_absent(&block_path(first), Bytes::from(bytes))
            .await
            .map(|_| ())
    }

    async fn read_block(&self, first: i64) -> Result<Block, StorageError> {
        let path = block_path(first);
        let bad = |message: String| StorageError::Data {
            context: format!("reading {path}"),
            message,
        };
        let bytes = self
            .get(&path)
            .await?
            .ok_or_else(|| bad("listed but gone".into()))?;
        let block: Block = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if block.format != FORMAT
            || block.first != first
            || block.commits.len() != HISTORY_BLOCK as usize
        {
            return Err(bad(format!(
                "not a {FORMAT} block of versions {first}-{}: restore it from the commit files by deleting it",
                first + HISTORY_BLOCK - 1
            )));
        }
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_info_is_found_among_the_actions() {
        let file = br#"{"add":{"path":"a"}}
{"commitInfo":{"operation":"WRITE","masa.batch_id":"b1"}}
{"txn":{"appId":"x","version":3}}
"#;
        let info = parse_commit(7, file).unwrap();
        assert_eq!(info["masa.batch_id"], "b1");
        assert!(parse_commit(7, b"{\"add\":{}}\n").unwrap().is_empty());
        assert!(parse_commit(7, b"{not json").is_err());
    }

    #[test]
    fn versions_read_as_ranges() {
        assert_eq!(ranges(&[0, 1, 2, 3, 7, 9, 10]), "0-3, 7, 9-10");
        assert_eq!(ranges(&[5]), "5");
    }
}

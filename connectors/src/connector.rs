//! The `Connector` trait, the events it emits, and the registry of connector kinds.

use crate::ItemSender;
use masa_record::RawItem;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// What a connector emits, in order. Every input the connector looked at becomes exactly one
/// event, so nothing is dropped without a reason.
#[derive(Debug)]
pub enum SourceEvent {
    Item(RawItem),
    Skip(Skip),
}

impl SourceEvent {
    /// Bytes of item body the event holds (0 for a skip).
    pub fn body_len(&self) -> usize {
        match self {
            SourceEvent::Item(i) => i.body.len(),
            SourceEvent::Skip(_) => 0,
        }
    }
}

/// An input the connector saw but could not turn into an item.
#[derive(Debug, Clone)]
pub struct Skip {
    pub uri: String,
    /// Counted reason, `area:what` (`input:malformed_jsonl`, `type:unsupported`).
    pub reason: &'static str,
    /// Human detail for the log (line number, parse error).
    pub detail: String,
    /// The connector checkpoint after this input.
    pub checkpoint: masa_record::Checkpoint,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{path}: no such file or folder; check the path")]
    NotFound { path: PathBuf },
    #[error("{path}: cannot read: {source}; check its permissions")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: not valid UTF-8 (first bad byte at offset {offset}); convert it, e.g. `iconv -f latin1 -t utf-8`"
    )]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error(
        "{path}: {size} bytes is over the {limit}-byte limit for whole-file items; split it, or raise the limit with --max-file-bytes"
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{path}: contains no supported files ({supported}); nothing to contribute")]
    Empty {
        path: PathBuf,
        supported: &'static str,
    },
    #[error("invalid {kind} connector configuration: {message}")]
    Config { kind: &'static str, message: String },
    /// The source answered wrongly or not at all (an API error, a page that is not JSON).
    #[error("{kind} source: {message}")]
    Source { kind: &'static str, message: String },
    /// The pipeline stopped listening (it failed or was cancelled); not an error of the source.
    #[error("the pipeline stopped accepting items")]
    Closed,
}

/// What every connector gets from the run.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The contributor's declaration recorded as consent evidence for declared sources.
    pub declaration: String,
}

/// A running source of items.
#[async_trait::async_trait]
pub trait Connector: Send {
    /// The connector kind, a snake_case noun (`files`, `web`); becomes the record's `source`.
    fn kind(&self) -> &'static str;

    /// A stable identity of what this connector reads (for `files`, the canonical root path).
    /// Together with the contributor it names the run's Delta `txn` app id, so running the
    /// same source again resumes it.
    fn source_id(&self) -> String;

    /// Checks the whole source before anything is written: a source that cannot be read
    /// fails here, with the table untouched.
    async fn check(&mut self) -> Result<(), ConnectorError>;

    /// Told the final checkpoint of the previous run of this source when that run
    /// completed, so a new run can build on it (the crawler sends conditional requests).
    fn previous_run(&mut self, _last: serde_json::Value) {}

    /// Live progress beyond the pipeline's counters, if the connector has any.
    fn progress(&self) -> Option<Arc<dyn SourceProgress>> {
        None
    }

    /// Emits events in a deterministic order, starting just after `resume` (a checkpoint
    /// from an earlier event) when given.
    async fn run(
        self: Box<Self>,
        resume: Option<serde_json::Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError>;
}

/// Live progress a connector reports beside the pipeline's counters.
pub trait SourceProgress: Send + Sync {
    /// One short line for the progress display.
    fn line(&self) -> String;
    /// The end-of-run summary (the crawler's per-host statistics).
    fn summary(&self) -> serde_json::Value;
}

/// The registry: one variant per connector kind. Adding a connector is one line here and
/// one arm in [`SourceConfig::build`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    Files(crate::FilesConfig),
    Web(crate::WebConfig),
    Hackernews(crate::HackerNewsConfig),
    Arxiv(crate::ArxivConfig),
    Github(crate::GithubConfig),
}

impl SourceConfig {
    pub fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Connector>, ConnectorError> {
        match self {
            SourceConfig::Files(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Web(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Hackernews(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Arxiv(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Github(c) => Ok(Box::new(c.build(ctx)?)),
        }
    }
}

//! The workflow error: every failure a command can end with, each with a clear message.

use masa_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Connector(#[from] masa_connectors::ConnectorError),
    #[error(transparent)]
    Pipeline(#[from] masa_ingest::PipelineError),
    #[error(transparent)]
    Index(#[from] masa_index::IndexError),
    #[error(transparent)]
    Key(#[from] masa_provenance::KeyError),
    #[error("{path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("configuration {path}: {reason}")]
    Config { path: String, reason: String },
    /// The protocol's fold refuses the event (it was not appended).
    #[error("the protocol refuses this: {0}")]
    Rejected(String),
    /// What was asked for does not exist (a record id, an epoch not closed yet).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Other(String),
}

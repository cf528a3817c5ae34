//! The ingest pipeline: connector events stream through extraction, normalization, exact
//! dedup and batching into a [`BatchSink`], over bounded channels. Every dropped item is
//! counted with a reason. Ingest knows the `Connector` trait, never a connector's kind, and
//! never storage: the sink is given to it.

mod extract;
mod pipeline;
mod progress;
pub mod quality;
mod stats;

pub use extract::{
    Dropped, ExtractedText, Metadata, PageReport, QualityReport, default_quality_score, describe,
    extract_html, to_record,
};
pub use pipeline::{
    BatchSink, CommitInfo, DEFAULT_BATCH_BYTES, DEFAULT_BATCH_ROWS, PendingBatch, PipelineConfig,
    PipelineError, SinkError, run,
};
pub use progress::ProgressMode;
pub use quality::{QualityConfig, QualityThresholds};
pub use stats::{RunStats, StatsSnapshot};

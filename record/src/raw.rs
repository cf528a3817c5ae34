//! `RawItem`: what a connector hands to the pipeline, before extraction.

use crate::Consent;
use std::sync::Arc;

/// A connector's position after one event: resuming from it continues with the next event.
/// Cheap to clone. Small positions (a file and line) are values; large ones (a crawler's
/// frontier and seen-set) are built only when a commit records them, from state that only
/// grows, so building later gives the position as of the event.
#[derive(Clone)]
pub struct Checkpoint(Repr);

#[derive(Clone)]
enum Repr {
    Value(serde_json::Value),
    Lazy(Arc<dyn Fn() -> serde_json::Value + Send + Sync>),
}

impl Checkpoint {
    /// A position built when it is needed; `build` must return the same value whenever it
    /// is called.
    pub fn lazy(build: impl Fn() -> serde_json::Value + Send + Sync + 'static) -> Self {
        Checkpoint(Repr::Lazy(Arc::new(build)))
    }

    /// The position as JSON, as stored in a run record.
    pub fn to_value(&self) -> serde_json::Value {
        match &self.0 {
            Repr::Value(v) => v.clone(),
            Repr::Lazy(f) => f(),
        }
    }
}

impl From<serde_json::Value> for Checkpoint {
    fn from(v: serde_json::Value) -> Self {
        Checkpoint(Repr::Value(v))
    }
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Repr::Value(v) => write!(f, "Checkpoint({v})"),
            Repr::Lazy(_) => f.write_str("Checkpoint(lazy)"),
        }
    }
}

/// One fetched or read item with everything the pipeline needs to turn it into a record.
#[derive(Debug, Clone)]
pub struct RawItem {
    /// Where the item came from; becomes the record's `uri`.
    pub uri: String,
    /// The connector kind (`files`, `web`, ...); becomes the record's `source`.
    pub source: &'static str,
    /// When the item was read, in microseconds since the Unix epoch.
    pub fetched_at_micros: i64,
    pub http_status: Option<i32>,
    /// MIME type as far as the connector knows it: `text/html`, `text/plain`, `text/markdown`.
    pub content_type: Option<String>,
    /// A title the connector already knows (a JSONL `title` field); extraction may find one too.
    pub title: Option<String>,
    /// The item's bytes. Connectors that promise UTF-8 have validated it.
    pub body: Vec<u8>,
    pub consent: Consent,
    pub licence: Option<String>,
    /// The connector's checkpoint *after* this item: resuming from it continues with the
    /// next item. Opaque to the pipeline.
    pub checkpoint: Checkpoint,
}

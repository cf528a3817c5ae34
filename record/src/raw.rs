//! `RawItem`: what a connector hands to the pipeline, before extraction.

use crate::Consent;

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
    pub checkpoint: serde_json::Value,
}

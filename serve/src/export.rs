//! `GET /v1/export`: every record matching a search, streamed as NDJSON or Parquet.
//!
//! A blocking task walks the matches of the current view one record at a time
//! ([`masa_workflows::SearchView::for_each_match`]) and hands encoded chunks to the
//! response through a channel of [`CHANNEL_CHUNKS`] chunks; when the client reads slowly
//! the task waits, so memory is bounded by the channel and one chunk (NDJSON) or one row
//! group (Parquet), however many records match. A client that goes away stops the walk.

use super::handlers::{FILTER_FIELDS, Filters, dataset, unknown_fields};
use super::meter::{KeyId, Use};
use super::{ApiError, Shared, query_error};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use masa_index::Match;
use masa_storage::arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
    UInt64Builder,
};
use masa_storage::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Bytes of NDJSON sent at once.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks waiting to be sent, at most.
const CHANNEL_CHUNKS: usize = 8;
/// Records in one Parquet row group (a ~7 KB record makes groups of ~7 MB before
/// compression).
const ROW_GROUP: usize = 1024;

#[derive(Debug, Deserialize)]
pub(super) struct ExportParams {
    q: String,
    /// `ndjson` (the default) or `parquet`.
    format: Option<String>,
    #[serde(flatten)]
    filters: Filters,
    dataset: Option<String>,
}

pub(super) async fn export(
    State(o): State<Shared>,
    key: Option<axum::Extension<KeyId>>,
    names: Result<Query<Vec<(String, String)>>, QueryRejection>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(names) = names.map_err(query_error)?;
    // An export takes a search's filters, but no paging, sort or facets.
    unknown_fields(
        names.iter().map(|(k, _)| k.as_str()),
        &["q", "format", "dataset"],
        &FILTER_FIELDS,
    )?;
    let Query(p) = params.map_err(query_error)?;
    let parquet = match p.format.as_deref() {
        None | Some("ndjson") => false,
        Some("parquet") => true,
        Some(f) => {
            return Err(ApiError::bad(format!(
                "format {f:?} is not one of ndjson, parquet"
            )));
        }
    };
    let query = p.filters.query(p.q)?;
    let location = dataset(&o, p.dataset.as_deref())?.to_owned();
    let view = o.views(&location).current().await?;
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    let state = o.clone();
    tokio::task::spawn_blocking(move || {
        let mut sink = Sink {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK_BYTES),
            sent: 0,
            open: true,
        };
        let mut records = 0u64;
        let walked = if parquet {
            parquet_export(&view, &query, &mut sink, &mut records)
        } else {
            view.for_each_match(&query, |m| {
                serde_json::to_writer(&mut sink.buf, &m).expect("a record serializes");
                sink.buf.push(b'\n');
                records += 1;
                sink.buf.len() < CHUNK_BYTES || sink.send()
            })
            .map_err(|e| e.to_string())
        };
        match walked {
            Ok(()) => {
                sink.send();
            }
            // Headers are gone: the client sees a cut body (no final chunk), not a
            // complete-looking file.
            Err(e) => {
                tracing::warn!(error = %e, "export stopped");
                let _ = tx.blocking_send(Err(std::io::Error::other(e)));
            }
        }
        if let Some(axum::Extension(KeyId(id))) = key {
            state.add_use(
                location,
                id,
                Use {
                    queries: 0,
                    records,
                    bytes: sink.sent,
                },
            );
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let content_type = if parquet {
        "application/vnd.apache.parquet"
    } else {
        "application/x-ndjson"
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The sending end: a buffer, flushed into the channel.
struct Sink {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
    sent: u64,
    /// The client is still reading.
    open: bool,
}

impl Sink {
    /// Sends what is buffered; `false` once the client has gone.
    fn send(&mut self) -> bool {
        if self.open && !self.buf.is_empty() {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
            self.sent += chunk.len() as u64;
            self.open = self.tx.blocking_send(Ok(chunk.into())).is_ok();
        }
        self.open
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if !self.open {
            return Err(std::io::Error::other("the client went away"));
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES && !self.send() {
            return Err(std::io::Error::other("the client went away"));
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One row group's columns, a builder each, named as the NDJSON export names the fields.
#[derive(Default)]
struct Columns {
    record_id: StringBuilder,
    batch_id: StringBuilder,
    row_in_batch: UInt64Builder,
    title: StringBuilder,
    uri: StringBuilder,
    contributor: StringBuilder,
    source: StringBuilder,
    lang: StringBuilder,
    licence: StringBuilder,
    quality: Float64Builder,
    fetched_at: TimestampMicrosecondBuilder,
    text: StringBuilder,
    len: usize,
}

fn export_schema() -> Arc<Schema> {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("record_id", false),
        text("batch_id", false),
        Field::new("row_in_batch", DataType::UInt64, false),
        text("title", true),
        text("uri", false),
        text("contributor", false),
        text("source", false),
        text("lang", true),
        text("licence", true),
        Field::new("quality", DataType::Float64, true),
        Field::new(
            "fetched_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        text("text", false),
    ]))
}

impl Columns {
    fn push(&mut self, m: Match) {
        let d = m.doc;
        self.record_id.append_value(d.record_id);
        self.batch_id.append_value(d.batch_id);
        self.row_in_batch.append_value(d.row_in_batch);
        self.title.append_option(d.title);
        self.uri.append_value(d.uri);
        self.contributor.append_value(d.contributor);
        self.source.append_value(d.source);
        self.lang.append_option(d.lang);
        self.licence.append_option(d.licence);
        self.quality.append_option(d.quality);
        self.fetched_at.append_value(d.fetched_at_micros);
        self.text.append_value(m.text);
        self.len += 1;
    }

    /// The rows pushed since the last call, in [`export_schema`]'s order.
    fn finish(&mut self, schema: &Arc<Schema>) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.record_id.finish()),
            Arc::new(self.batch_id.finish()),
            Arc::new(self.row_in_batch.finish()),
            Arc::new(self.title.finish()),
            Arc::new(self.uri.finish()),
            Arc::new(self.contributor.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.lang.finish()),
            Arc::new(self.licence.finish()),
            Arc::new(self.quality.finish()),
            Arc::new(self.fetched_at.finish().with_timezone("UTC")),
            Arc::new(self.text.finish()),
        ];
        self.len = 0;
        RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema")
    }
}

fn parquet_export(
    view: &masa_workflows::SearchView,
    query: &masa_index::SearchQuery,
    sink: &mut Sink,
    records: &mut u64,
) -> Result<(), String> {
    let schema = export_schema();
    let mut out =
        masa_storage::ParquetStream::new(&mut *sink, schema.clone()).map_err(|e| e.to_string())?;
    let mut cols = Columns::default();
    let mut failed = None;
    view.for_each_match(query, |m| {
        cols.push(m);
        *records += 1;
        if cols.len == ROW_GROUP
            && let Err(e) = out.write(&cols.finish(&schema))
        {
            failed = Some(e.to_string());
            return false;
        }
        true
    })
    .map_err(|e| e.to_string())?;
    if let Some(e) = failed {
        return Err(e);
    }
    if cols.len > 0 {
        out.write(&cols.finish(&schema))
            .map_err(|e| e.to_string())?;
    }
    out.close().map_err(|e| e.to_string())?;
    Ok(())
}

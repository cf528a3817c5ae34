//! The oracle service (`masa serve`): a versioned HTTP API over one or more datasets.
//!
//! Handlers are thin: they parse and check the request, call the function the CLI calls
//! (`masa_workflows::search`, `prove`, `dataset_stats`, `log_checkpoint`, the protocol's
//! fold), and map errors to status codes in one place ([`ApiError`]). Every error is JSON
//! naming the problem; bad input is a 400, never a 500.
//!
//! This is the service's first part: search with filters, records with their proofs, the
//! log's checkpoint, stats, epoch results, health. Keys, rate limits, metering, facets,
//! cursors, tiles, export, metrics, the OpenAPI document and the explorer are still to
//! come (see the note in ARCHITECTURE.md).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use masa_index::SearchQuery;
use masa_storage::StorageOptions;
use masa_workflows::WorkflowError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// What the service serves, and its limits.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Dataset locations (a folder or `s3://bucket/prefix`); the first is the default.
    pub datasets: Vec<String>,
    pub storage: StorageOptions,
    /// The most hits one search returns.
    pub max_limit: usize,
}

/// An error answer: a status and a message naming the problem.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    status: u16,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: &self.message,
            status: self.status.as_u16(),
        };
        (self.status, Json(body)).into_response()
    }
}

/// The one place workflow errors become statuses: what does not exist is a 404; a dataset,
/// an index or a stored object that cannot be read (missing, corrupt, unreachable) is a
/// 503 for this request, never a wrong answer; anything else is a 500.
impl From<WorkflowError> for ApiError {
    fn from(e: WorkflowError) -> ApiError {
        let status = match &e {
            WorkflowError::NotFound(_) => StatusCode::NOT_FOUND,
            WorkflowError::Storage(_) | WorkflowError::Index(_) | WorkflowError::Corrupt { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

fn query_error(e: QueryRejection) -> ApiError {
    ApiError::bad(format!("bad query string: {}", e.body_text()))
}

type Shared = Arc<ServeOptions>;

/// The service's routes.
pub fn router(options: ServeOptions) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/v1/search", get(search))
        .route("/v1/records/{record_id}", get(record))
        .route("/v1/stats", get(stats))
        .route("/v1/log/checkpoint", get(checkpoint))
        .route("/v1/log/tile/{*path}", get(tile))
        .route("/v1/epochs/{n}", get(epoch))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                message: "no such route (the API is under /v1)".into(),
            }
        })
        .with_state(Arc::new(options))
}

/// Which dataset a request is about: `?dataset=` names one of the served locations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetParam {
    dataset: Option<String>,
}

fn dataset<'a>(o: &'a ServeOptions, name: Option<&str>) -> Result<&'a str, ApiError> {
    match name {
        None => Ok(&o.datasets[0]),
        Some(n) => o
            .datasets
            .iter()
            .find(|d| d.as_str() == n)
            .map(String::as_str)
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "dataset {n:?} is not served here (served: {})",
                    o.datasets.join(", ")
                ))
            }),
    }
}

async fn ready(State(o): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    for d in &o.datasets {
        masa_storage::Dataset::open(d, &o.storage)
            .await
            .map_err(|e| ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!("dataset {d}: {e}"),
            })?;
    }
    Ok(Json(serde_json::json!({ "datasets": o.datasets })))
}

/// The parameters of `GET /v1/search`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    /// Query text in tantivy's syntax.
    q: String,
    limit: Option<usize>,
    contributor: Option<String>,
    source: Option<String>,
    lang: Option<String>,
    /// Microseconds since the Unix epoch.
    since_micros: Option<i64>,
    until_micros: Option<i64>,
    dataset: Option<String>,
}

#[derive(Serialize)]
struct SearchAnswer {
    hits: Vec<masa_index::Hit>,
    took_micros: u128,
}

async fn search(
    State(o): State<Shared>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<SearchAnswer>, ApiError> {
    let started = Instant::now();
    let Query(p) = params.map_err(query_error)?;
    if p.q.trim().is_empty() {
        return Err(ApiError::bad("q (the query text) is empty"));
    }
    let limit = p.limit.unwrap_or(10);
    if limit == 0 || limit > o.max_limit {
        return Err(ApiError::bad(format!(
            "limit {limit} is out of range (1 to {})",
            o.max_limit
        )));
    }
    if let Some(l) = &p.lang
        && !(l.len() == 3 && l.bytes().all(|b| b.is_ascii_lowercase()))
    {
        return Err(ApiError::bad(format!(
            "lang {l:?} is not an ISO 639-3 code (eng, deu, fra, ...)"
        )));
    }
    let location = dataset(&o, p.dataset.as_deref())?.to_owned();
    let hits = masa_workflows::search(masa_workflows::SearchOptions {
        dataset: location,
        storage: o.storage.clone(),
        query: SearchQuery {
            text: p.q,
            limit,
            contributor: p.contributor,
            source: p.source,
            lang: p.lang,
            since_micros: p.since_micros,
            until_micros: p.until_micros,
        },
    })
    .await?;
    Ok(Json(SearchAnswer {
        hits,
        took_micros: started.elapsed().as_micros(),
    }))
}

/// `GET /v1/records/{id}`: the record's inclusion proof, as `masa proof` writes it (and
/// `masa verify-proof` checks it).
async fn record(
    State(o): State<Shared>,
    Path(record_id): Path<String>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Json<masa_workflows::RecordProof>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    if record_id.is_empty()
        || !record_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ApiError::bad(format!("{record_id:?} is not a record id")));
    }
    let location = dataset(&o, p.dataset.as_deref())?;
    Ok(Json(
        masa_workflows::prove(location, &o.storage, &record_id).await?,
    ))
}

async fn stats(
    State(o): State<Shared>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Json<masa_workflows::DatasetStats>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let location = dataset(&o, p.dataset.as_deref())?;
    Ok(Json(
        masa_workflows::dataset_stats(location, &o.storage).await?,
    ))
}

/// `GET /v1/log/checkpoint`: the log's latest signed checkpoint, the note verbatim.
async fn checkpoint(
    State(o): State<Shared>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let location = dataset(&o, p.dataset.as_deref())?;
    let info = masa_workflows::log_checkpoint(location, &o.storage).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        info.note,
    )
        .into_response())
}

/// `GET /v1/log/tile/...`: the log's tiles and entry bundles at their C2SP tlog-tiles
/// paths, so any tlog client can mirror the log from the service. Full tiles never change
/// and may be cached for good; partial ones (`.p/<W>`) are replaced as the log grows.
async fn tile(
    State(o): State<Shared>,
    Path(path): Path<String>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let location = dataset(&o, p.dataset.as_deref())?;
    let path = format!("tile/{path}");
    let bytes = masa_workflows::log_tile(location, &o.storage, &path).await?;
    let cache = if path.contains(".p/") {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /v1/epochs/{n}`: an epoch's result as the reward loop's fold gives it.
async fn epoch(
    State(o): State<Shared>,
    Path(n): Path<String>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Json<masa_workflows::RewardsView>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let n: u64 = n
        .parse()
        .map_err(|_| ApiError::bad(format!("{n:?} is not an epoch number")))?;
    let location = dataset(&o, p.dataset.as_deref())?;
    let state = masa_workflows::state_at(location, &o.storage, None).await?;
    Ok(Json(masa_workflows::rewards_view(&state, Some(n))?))
}

/// Serves `router(options)` on `listener` until `shutdown` resolves; requests in flight
/// then finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(options))
        .with_graceful_shutdown(shutdown)
        .await
}

//! The routes' handlers: parse and check, call what the CLI calls, answer JSON.

use super::meter::Returned;
use super::{ApiError, AppState, MAX_BODY, ServeOptions, Shared, query_error};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use masa_index::SearchQuery;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Which dataset a request is about: `?dataset=` names one of the served locations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DatasetParam {
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

pub(super) async fn ready(State(o): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
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
pub(super) struct SearchParams {
    /// Query text in tantivy's syntax.
    q: String,
    limit: Option<usize>,
    contributor: Option<String>,
    source: Option<String>,
    lang: Option<String>,
    /// Microseconds since the Unix epoch.
    since_micros: Option<i64>,
    until_micros: Option<i64>,
    /// Also count all matches by lang, source and contributor.
    facets: Option<bool>,
    dataset: Option<String>,
}

/// The body of `POST /v1/search`: the same fields but `dataset`, which stays in the query
/// string (where the key's datasets are checked). A copy of [`SearchParams`]' fields rather
/// than a `#[serde(flatten)]` of them: flatten cannot be combined with
/// `deny_unknown_fields`, and through a query string it would read every number as text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SearchBody {
    q: String,
    limit: Option<usize>,
    contributor: Option<String>,
    source: Option<String>,
    lang: Option<String>,
    since_micros: Option<i64>,
    until_micros: Option<i64>,
    facets: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct SearchAnswer {
    hits: Vec<masa_index::Hit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    facets: Option<masa_index::Facets>,
    took_micros: u128,
}

pub(super) async fn search_get(
    State(o): State<Shared>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    search(&o, p).await
}

pub(super) async fn search_post(
    State(o): State<Shared>,
    params: Result<Query<DatasetParam>, QueryRejection>,
    body: Result<Json<SearchBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Query(d) = params.map_err(query_error)?;
    // Every body that is not the JSON asked for is bad input: 400, whatever axum's own
    // status (413 for a body over the limit, 415, 422) would be.
    let Json(b) = body.map_err(|e| {
        ApiError::bad(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            format!("bad request body: over the limit of {MAX_BODY} bytes")
        } else {
            format!("bad request body: {}", e.body_text())
        })
    })?;
    let p = SearchParams {
        q: b.q,
        limit: b.limit,
        contributor: b.contributor,
        source: b.source,
        lang: b.lang,
        since_micros: b.since_micros,
        until_micros: b.until_micros,
        facets: b.facets,
        dataset: d.dataset,
    };
    search(&o, p).await
}

async fn search(o: &AppState, p: SearchParams) -> Result<Response, ApiError> {
    let started = Instant::now();
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
    let location = dataset(o, p.dataset.as_deref())?.to_owned();
    let (hits, facets) = masa_workflows::search_faceted(
        masa_workflows::SearchOptions {
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
        },
        p.facets.unwrap_or(false),
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    o.metrics
        .record(|| metrics::histogram!("masa_search_duration_seconds").record(secs));
    let returned = Returned(hits.len() as u64);
    let mut r = Json(SearchAnswer {
        hits,
        facets,
        took_micros: started.elapsed().as_micros(),
    })
    .into_response();
    r.extensions_mut().insert(returned);
    Ok(r)
}

/// `GET /v1/records/{id}`: the record's inclusion proof, as `masa proof` writes it (and
/// `masa verify-proof` checks it).
pub(super) async fn record(
    State(o): State<Shared>,
    Path(record_id): Path<String>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    if record_id.is_empty()
        || !record_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ApiError::bad(format!("{record_id:?} is not a record id")));
    }
    let location = dataset(&o, p.dataset.as_deref())?;
    let proof = masa_workflows::prove(location, &o.storage, &record_id).await?;
    let mut r = Json(proof).into_response();
    r.extensions_mut().insert(Returned(1));
    Ok(r)
}

pub(super) async fn stats(
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
pub(super) async fn checkpoint(
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
pub(super) async fn tile(
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

/// `GET /v1/contributors/{key}`: records and bytes in the dataset, rewards by epoch,
/// balance and stake.
pub(super) async fn contributor(
    State(o): State<Shared>,
    Path(key): Path<String>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Json<masa_workflows::ContributorView>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad(format!(
            "{key:?} is not a contributor key (64 hex characters)"
        )));
    }
    let location = dataset(&o, p.dataset.as_deref())?;
    Ok(Json(
        masa_workflows::contributor_view(location, &o.storage, &key.to_ascii_lowercase()).await?,
    ))
}

/// `GET /v1/epochs/{n}`: an epoch's result as the reward loop's fold gives it.
pub(super) async fn epoch(
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

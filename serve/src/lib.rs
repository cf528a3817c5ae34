//! The oracle service (`masa serve`): a versioned HTTP API over one or more datasets.
//!
//! Handlers are thin: they parse and check the request, call the function the CLI calls
//! (`masa_workflows::search`, `prove`, `dataset_stats`, `log_checkpoint`, the protocol's
//! fold), and map errors to status codes in one place ([`ApiError`]). Every error is JSON
//! naming the problem; bad input is a 400, never a 500.
//!
//! Data routes need a key (`keys.rs`) with the route's scope, and keep to its rate; health
//! and the log (its checkpoint and tiles, for any tlog client) are public.
//!
//! This is the service's first part: search with filters, records with their proofs, the
//! log's checkpoint and tiles, stats, epoch results, health, keys and rates. Metering,
//! facets, cursors, export, metrics, the OpenAPI document and the explorer are still to
//! come (see ARCHITECTURE.md).

pub mod keys;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use masa_index::SearchQuery;
use masa_storage::StorageOptions;
use masa_workflows::WorkflowError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

/// What the service serves, and its limits.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Dataset locations (a folder or `s3://bucket/prefix`); the first is the default.
    pub datasets: Vec<String>,
    pub storage: StorageOptions,
    /// The most hits one search returns.
    pub max_limit: usize,
    /// The keys file (`keys.json` in the masa home): requests to the data need a key of it.
    pub keys_file: std::path::PathBuf,
    /// Requests without a key are allowed at this rate per client address (per second);
    /// `None`: refused (the default).
    pub anonymous_rate: Option<u32>,
    /// Usage metering: appended to each dataset's log as signed usage events.
    pub meter: Option<Meter>,
    /// A request taking longer is answered 503.
    pub timeout: std::time::Duration,
    /// Origins allowed to call the API from a browser (CORS); none by default.
    pub cors_origins: Vec<String>,
}

/// The largest request body accepted (a search is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// How use is metered: every `interval`, each key's use of each dataset since the last
/// event becomes a `usage` protocol event signed with `signer`, paying `price_per_query`
/// a query into the reward pool.
#[derive(Debug, Clone)]
pub struct Meter {
    pub signer: std::path::PathBuf,
    pub interval: std::time::Duration,
    pub price_per_query: masa_rewards::Amount,
}

/// Use not yet on the log, by (dataset, key id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Use {
    queries: u64,
    records: u64,
    bytes: u64,
}

/// Records a handler returned, for metering (set as a response extension).
#[derive(Debug, Clone, Copy)]
struct Returned(u64);

/// The service's state: its options, the keys as last read, and a token bucket per key
/// (and per address for anonymous requests).
struct AppState {
    o: ServeOptions,
    keys: RwLock<(Option<std::time::SystemTime>, Vec<keys::KeyRecord>)>,
    limiters: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
    usage: Mutex<std::collections::BTreeMap<(String, String), Use>>,
}

impl std::ops::Deref for AppState {
    type Target = ServeOptions;
    fn deref(&self) -> &ServeOptions {
        &self.o
    }
}

impl AppState {
    /// The keys, read again when the file changed (a revocation takes effect at once).
    fn keys(&self) -> Result<Vec<keys::KeyRecord>, ApiError> {
        let mtime = std::fs::metadata(&self.o.keys_file)
            .and_then(|m| m.modified())
            .ok();
        {
            let k = self.keys.read().expect("no thread panics holding it");
            if k.0 == mtime && mtime.is_some() {
                return Ok(k.1.clone());
            }
        }
        let fresh = keys::load(&self.o.keys_file).map_err(|message| ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message,
        })?;
        *self.keys.write().expect("no thread panics holding it") = (mtime, fresh.clone());
        Ok(fresh)
    }

    fn limiter(&self, name: &str, per_second: u32) -> Arc<DefaultDirectRateLimiter> {
        let mut m = self.limiters.lock().expect("no thread panics holding it");
        m.entry(name.to_owned())
            .or_insert_with(|| {
                let n = NonZeroU32::new(per_second.max(1)).expect("at least one");
                Arc::new(RateLimiter::direct(Quota::per_second(n).allow_burst(n)))
            })
            .clone()
    }
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

type Shared = Arc<AppState>;

/// The service's routes.
pub fn router(options: ServeOptions) -> Router {
    routes(options).0
}

fn routes(options: ServeOptions) -> (Router, Shared) {
    let state = Arc::new(AppState {
        o: options,
        keys: RwLock::new((None, Vec::new())),
        limiters: Mutex::new(HashMap::new()),
        usage: Mutex::new(std::collections::BTreeMap::new()),
    });
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/v1/search", get(search_get).post(search_post))
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
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            state.o.timeout,
        ));
    let router = if state.o.cors_origins.is_empty() {
        router
    } else {
        let origins: Vec<HeaderValue> = state
            .o
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        router.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        )
    };
    (router.with_state(state.clone()), state)
}

/// The scope a route needs; `None` for what is public (health, and the log, which any
/// tlog client must be able to mirror).
fn scope_of(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/v1/")?;
    let first = rest.split('/').next().unwrap_or_default();
    keys::SCOPES.into_iter().find(|s| *s == first)
}

/// Keys, scopes and rates, before any handler runs: 401 without a valid key, 403 outside
/// its scopes or datasets, 429 with `Retry-After` over its rate.
async fn guard(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let Some(scope) = scope_of(req.uri().path()) else {
        return next.run(req).await;
    };
    let params: HashMap<String, String> = Query::try_from_uri(req.uri())
        .map(|Query(q)| q)
        .unwrap_or_default();
    let dataset = params
        .get("dataset")
        .cloned()
        .unwrap_or_else(|| s.o.datasets[0].clone());
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let mut key_id = None;
    let (bucket, rate) = match (token, s.o.anonymous_rate) {
        (None, Some(rate)) => {
            let ip = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
            (format!("ip:{ip}"), rate)
        }
        _ => {
            let keys = match s.keys() {
                Ok(k) => k,
                Err(e) => return e.into_response(),
            };
            match keys::authorize(&keys, token, scope, &dataset) {
                Ok(k) => {
                    key_id = Some(k.id.clone());
                    (format!("key:{}", k.id), k.rate_per_second)
                }
                Err(refusal) => return refused(refusal),
            }
        }
    };
    let limiter = s.limiter(&bucket, rate);
    if let Err(not_until) = limiter.check() {
        use governor::clock::Clock;
        let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut r = ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!("over the rate of {rate} requests a second: retry in {secs} s"),
        }
        .into_response();
        let h = r.headers_mut();
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        h.insert("ratelimit-limit", HeaderValue::from(rate));
        h.insert("ratelimit-remaining", HeaderValue::from(0u32));
        h.insert("ratelimit-reset", HeaderValue::from(secs));
        return r;
    }
    let mut r = next.run(req).await;
    r.headers_mut()
        .insert("ratelimit-limit", HeaderValue::from(rate));
    if let Some(id) = key_id
        && r.status().is_success()
    {
        use axum::body::HttpBody;
        let returned = r.extensions().get::<Returned>().map_or(0, |n| n.0);
        let bytes = r.body().size_hint().exact().unwrap_or(0);
        let mut usage = s.usage.lock().expect("no thread panics holding it");
        let u = usage.entry((dataset, id)).or_default();
        u.queries += 1;
        u.records += returned;
        u.bytes += bytes;
    }
    r
}

fn refused(r: keys::Refusal) -> Response {
    let (status, message) = match r {
        keys::Refusal::Unknown => (
            StatusCode::UNAUTHORIZED,
            "a key is needed: send Authorization: Bearer <key> (masa keys create)".to_owned(),
        ),
        keys::Refusal::Expired => (StatusCode::UNAUTHORIZED, "the key has expired".to_owned()),
        keys::Refusal::Revoked => (StatusCode::UNAUTHORIZED, "the key was revoked".to_owned()),
        keys::Refusal::Forbidden(m) => (StatusCode::FORBIDDEN, m),
    };
    let mut r = ApiError { status, message }.into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
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

/// The body of `POST /v1/search`: the same fields but `dataset`, which stays in the query
/// string (where the key's datasets are checked).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    q: String,
    limit: Option<usize>,
    contributor: Option<String>,
    source: Option<String>,
    lang: Option<String>,
    since_micros: Option<i64>,
    until_micros: Option<i64>,
}

#[derive(Serialize)]
struct SearchAnswer {
    hits: Vec<masa_index::Hit>,
    took_micros: u128,
}

async fn search_get(
    State(o): State<Shared>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    search(&o, p).await
}

async fn search_post(
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
    let returned = Returned(hits.len() as u64);
    let mut r = Json(SearchAnswer {
        hits,
        took_micros: started.elapsed().as_micros(),
    })
    .into_response();
    r.extensions_mut().insert(returned);
    Ok(r)
}

/// `GET /v1/records/{id}`: the record's inclusion proof, as `masa proof` writes it (and
/// `masa verify-proof` checks it).
async fn record(
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
    let (router, state) = routes(options);
    let meter = state.o.meter.clone().map(|m| {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(m.interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                flush(&state, &m).await;
            }
        })
    });
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    // What was used since the last event is metered before the service stops.
    if let (Some(task), Some(m)) = (meter, &state.o.meter) {
        task.abort();
        flush(&state, m).await;
    }
    served
}

/// Appends each (dataset, key)'s use since the last flush as a usage event. Use whose event
/// could not be appended is kept for the next flush, so none is lost.
async fn flush(state: &AppState, m: &Meter) {
    let pending = std::mem::take(&mut *state.usage.lock().expect("no thread panics holding it"));
    for ((dataset, key), u) in pending {
        let fee = masa_rewards::Amount(m.price_per_query.0.saturating_mul(u128::from(u.queries)));
        let target = masa_workflows::ProtocolTarget {
            dataset: dataset.clone(),
            storage: state.o.storage.clone(),
            key: m.signer.clone(),
        };
        let event = masa_rewards::Event::Usage {
            key: key.clone(),
            queries: u.queries,
            records: u.records,
            bytes: u.bytes,
            fee,
        };
        if let Err(e) = masa_workflows::submit_event(&target, event).await {
            tracing::warn!(dataset = %dataset, key = %key, error = %e, "usage not metered yet (kept for the next interval; --meter-interval 0 turns metering off)");
            let mut usage = state.usage.lock().expect("no thread panics holding it");
            let v = usage.entry((dataset, key)).or_default();
            v.queries += u.queries;
            v.records += u.records;
            v.bytes += u.bytes;
        }
    }
}

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
//! `handlers.rs` holds the routes' handlers, `guard.rs` the keys and rates in front of
//! them, `meter.rs` the usage metering, `observe.rs` the Prometheus metrics. This is the
//! service's first part: facets, cursors, export, the OpenAPI document and the explorer
//! are still to come (see ARCHITECTURE.md).

mod explorer;
mod export;
mod guard;
mod handlers;
pub mod keys;
mod meter;
mod observe;
mod views;

use export::export;
use guard::guard;
use handlers::{
    checkpoint, contributor, epoch, ready, record, search_get, search_post, stats, tile,
};
pub use meter::Meter;
use meter::{Use, flush};

use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use masa_storage::StorageOptions;
use masa_workflows::WorkflowError;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::{Mutex, RwLock};

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
    /// How often each table is checked for new commits (they become searchable then).
    pub follow_interval: std::time::Duration,
    /// How long a table version stays open for cursors after its last use.
    pub cursor_ttl: std::time::Duration,
    /// The split cache folder (default: the one `masa search` uses for the dataset).
    pub cache_dir: Option<std::path::PathBuf>,
    /// The split cache's bound in bytes, per dataset.
    pub cache_bytes: u64,
}

/// The largest request body accepted (a search is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// The service's state: its options, the keys as last read, and a token bucket per key
/// (and per address for anonymous requests).
struct AppState {
    o: ServeOptions,
    keys: RwLock<(Option<std::time::SystemTime>, Vec<keys::KeyRecord>)>,
    limiters: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
    usage: Mutex<std::collections::BTreeMap<(String, String), Use>>,
    metrics: observe::Metrics,
    /// Each dataset's open views, by location.
    views: HashMap<String, views::Views>,
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

    fn views(&self, location: &str) -> &views::Views {
        &self.views[location]
    }

    /// Refreshes every dataset's view.
    async fn follow(&self) {
        for (location, v) in &self.views {
            if let Err(e) = v.refresh().await {
                tracing::warn!(dataset = %location, error = %e.message, "could not follow the table");
            }
        }
    }

    /// Brings the split cache metrics up to date with every refresh so far (the
    /// follower's, and a search's that opened a first view), just before they are read.
    fn record_views(&self) {
        for (location, v) in &self.views {
            let c = v.take_counts();
            self.metrics.record(|| {
                let d = location.clone();
                metrics::counter!("masa_split_cache_hits_total", "dataset" => d.clone())
                    .increment(c.hits);
                metrics::counter!("masa_split_cache_misses_total", "dataset" => d.clone())
                    .increment(c.misses);
                metrics::counter!("masa_split_cache_fetched_bytes_total", "dataset" => d.clone())
                    .increment(c.fetched_bytes);
                metrics::counter!("masa_split_cache_evicted_bytes_total", "dataset" => d.clone())
                    .increment(c.evicted_bytes);
                if let Some(view) = v.peek() {
                    metrics::gauge!("masa_open_splits", "dataset" => d.clone())
                        .set(view.splits.len() as f64);
                    metrics::gauge!("masa_table_version", "dataset" => d)
                        .set(view.version.unwrap_or(-1) as f64);
                }
            });
        }
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

/// The OpenAPI 3.1 document of the API (`serve/openapi.json`, written by hand and checked
/// against the routes and real answers by the tests), served at `/v1/openapi.json` with
/// Swagger UI at `/v1/docs`.
pub const OPENAPI: &str = include_str!("../openapi.json");

fn openapi() -> serde_json::Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is JSON (a test reads it)")
}

/// The service's routes.
pub fn router(options: ServeOptions) -> Router {
    routes(options).0
}

fn routes(options: ServeOptions) -> (Router, Shared) {
    let views = options
        .datasets
        .iter()
        .map(|d| {
            let v = views::Views::new(
                d.clone(),
                options.storage.clone(),
                options.cache_dir.clone(),
                options.cache_bytes,
                options.cursor_ttl,
            );
            (d.clone(), v)
        })
        .collect();
    let state = Arc::new(AppState {
        views,
        o: options,
        keys: RwLock::new((None, Vec::new())),
        limiters: Mutex::new(HashMap::new()),
        usage: Mutex::new(std::collections::BTreeMap::new()),
        metrics: observe::Metrics::new(),
    });
    let docs: Router<Shared> = utoipa_swagger_ui::SwaggerUi::new("/v1/docs")
        .external_url_unchecked("/v1/openapi.json", openapi())
        .into();
    let router = Router::new()
        .merge(docs)
        .route("/", get(explorer::index))
        .route("/explorer/{file}", get(explorer::asset))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(observe::render))
        .route("/v1/search", get(search_get).post(search_post))
        .route("/v1/export", get(export))
        .route("/v1/records/{record_id}", get(record))
        .route("/v1/stats", get(stats))
        .route("/v1/log/checkpoint", get(checkpoint))
        .route("/v1/log/tile/{*path}", get(tile))
        .route("/v1/epochs/{n}", get(epoch))
        .route("/v1/contributors/{key}", get(contributor))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                message: "no such route (the API is under /v1)".into(),
            }
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
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

/// Serves `router(options)` on `listener` until `shutdown` resolves; requests in flight
/// then finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (router, state) = routes(options);
    // The tables are followed from the start: the first views open before the first
    // request needs them, and each new commit becomes searchable within an interval.
    let follower = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.o.follow_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                state.follow().await;
            }
        })
    };
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
    follower.abort();
    // What was used since the last event is metered before the service stops.
    if let (Some(task), Some(m)) = (meter, &state.o.meter) {
        task.abort();
        flush(&state, m).await;
    }
    served
}

#[cfg(test)]
mod tests {
    use super::handlers::{FILTER_FIELDS, SEARCH_FIELDS};
    use std::collections::BTreeSet;

    fn doc() -> serde_json::Value {
        super::openapi()
    }

    /// The route templates this file registers under the API (the explorer's aside).
    fn routed() -> BTreeSet<String> {
        let src = include_str!("lib.rs");
        src.split(".route(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|p| *p != "/" && !p.starts_with("/explorer/"))
            .map(|p| p.replace("{*", "{"))
            .chain(["/v1/openapi.json".to_owned()])
            .collect()
    }

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let documented: BTreeSet<String> = doc()["paths"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(documented, routed());
    }

    fn params(path: &str, method: &str) -> BTreeSet<String> {
        doc()["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_documented_parameters_are_the_ones_read() {
        let mut search: BTreeSet<String> = SEARCH_FIELDS
            .iter()
            .chain(&FILTER_FIELDS)
            .map(|s| s.to_string())
            .collect();
        search.insert("dataset".into());
        assert_eq!(params("/v1/search", "get"), search);
        let body: BTreeSet<String> = doc()["paths"]["/v1/search"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        search.remove("dataset");
        assert_eq!(body, search);
        let mut export: BTreeSet<String> = FILTER_FIELDS.iter().map(|s| s.to_string()).collect();
        export.extend(["q", "format", "dataset"].map(String::from));
        assert_eq!(params("/v1/export", "get"), export);
    }
}

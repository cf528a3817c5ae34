//! Prometheus metrics of the service, served at `/metrics`: requests by route and status,
//! their latency, and search latency. Each service has its own recorder (no global one),
//! so several can run in one process.

use super::Shared;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::time::Instant;

/// Latency buckets, in seconds: from a cached answer to a cold split read.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A recorder and the handle that renders it.
pub(super) struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Metrics {
    pub(super) fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        Metrics { recorder, handle }
    }

    /// Records with this service's recorder.
    pub(super) fn record(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(&self.recorder, f);
    }
}

/// Counts and times every request, labelled by its route's template (not its path, so the
/// labels stay few) and its status.
pub(super) async fn observe(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let started = Instant::now();
    let r = next.run(req).await;
    let secs = started.elapsed().as_secs_f64();
    let status = r.status().as_u16().to_string();
    s.metrics.record(|| {
        metrics::counter!("masa_http_requests_total", "route" => route.clone(), "status" => status)
            .increment(1);
        metrics::histogram!("masa_http_request_duration_seconds", "route" => route).record(secs);
    });
    r
}

/// `GET /metrics`: the Prometheus text format.
pub(super) async fn render(State(s): State<Shared>) -> Response {
    s.record_views();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.handle.render(),
    )
        .into_response()
}

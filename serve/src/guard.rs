//! In front of the data routes: the key, its scope and datasets, its rate.

use super::meter::{KeyId, Returned, Use};
use super::{ApiError, Shared, keys};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The scope a route needs; `None` for what is public (health, and the log, which any
/// tlog client must be able to mirror).
fn scope_of(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/v1/")?;
    match rest.split('/').next().unwrap_or_default() {
        // The log, for any tlog client; the API's own description.
        "log" | "docs" | "openapi.json" => None,
        "search" => Some("search"),
        "records" => Some("records"),
        "epochs" => Some("epochs"),
        "export" => Some("export"),
        // Stats, contributors, and anything else under /v1 (a route added without a scope
        // of its own is never public by mistake).
        _ => Some("stats"),
    }
}

/// Keys, scopes and rates, before any handler runs: 401 without a valid key, 403 outside
/// its scopes or datasets, 429 with `Retry-After` over its rate.
pub(super) async fn guard(State(s): State<Shared>, req: Request, next: Next) -> Response {
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
    let mut req = req;
    if let Some(id) = &key_id {
        req.extensions_mut().insert(KeyId(id.clone()));
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
        let u = Use {
            queries: 1,
            records: returned,
            bytes,
        };
        s.add_use(dataset, id, u);
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

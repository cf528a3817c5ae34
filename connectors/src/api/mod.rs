//! What every API connector does on the wire, in one place: credentials from the
//! environment (several keys rotated when one is limited), rate limits read from the
//! server's own headers, a cooldown per key on 429 until the server's reset time, an
//! exponential backoff with jitter on 5xx and transport errors, a 503 with `Retry-After`
//! waited out as the server asks (flow control), optional pacing (one request every N
//! seconds, for APIs that ask for it), and JSON answers checked to be JSON. GETs of other
//! formats (XML) and JSON POSTs (GraphQL) go through the same rules.
//!
//! Secrets never reach a log line, an error or a record: keys are named by the variable
//! they came from and their position in it.

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};
use url::Url;

/// A cooldown when a 429 says nothing of when to come back.
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(60);

/// How a key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `Authorization: token <key>` (GitHub's classic form).
    Token,
}

/// Why a request did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{url}: the server refused the credentials ({status}){hint}")]
    Unauthorized {
        url: String,
        status: u16,
        hint: String,
    },
    #[error("{url}: HTTP {status}: {snippet}")]
    Status {
        url: String,
        status: u16,
        snippet: String,
    },
    #[error(
        "{url}: answered {content_type} instead of JSON ({snippet:?}); check the base URL points at the API"
    )]
    NotJson {
        url: String,
        content_type: String,
        snippet: String,
    },
    #[error("{url}: the answer is not valid JSON: {message}")]
    BadJson { url: String, message: String },
    #[error(
        "{url}: rate limited for {wait_secs} s more (longer than the {max_secs} s this run waits); run again later, it resumes from its checkpoint"
    )]
    Limited {
        url: String,
        wait_secs: u64,
        max_secs: u64,
    },
    #[error("{url}: gave up after {attempts} attempts: {last}")]
    GaveUp {
        url: String,
        attempts: u32,
        last: String,
    },
}

struct Key {
    secret: String,
    /// Where it came from, for messages: `GITHUB_TOKEN[1]`.
    label: String,
    cooling_until: Option<Instant>,
}

/// Settings of an [`ApiClient`].
#[derive(Debug, Clone)]
pub struct ApiOptions {
    pub user_agent: String,
    /// Attempts of one request through 5xx answers and transport errors.
    pub attempts: u32,
    /// The first backoff pause; each retry doubles the cap, jittered below it.
    pub backoff: Duration,
    /// The longest this client waits for a rate limit to reset before giving up.
    pub max_wait: Duration,
    /// At least this long between two requests (0: no pacing).
    pub min_interval: Duration,
    pub timeout: Duration,
    /// Headers sent with every request (an API version header).
    pub headers: HeaderMap,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            user_agent: format!("masa/{} (+permissioned data)", env!("CARGO_PKG_VERSION")),
            attempts: 5,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(15 * 60),
            min_interval: Duration::ZERO,
            timeout: Duration::from_secs(30),
            headers: HeaderMap::new(),
        }
    }
}

/// An HTTP client for one API, holding its keys and their cooldowns.
pub struct ApiClient {
    http: reqwest::Client,
    opts: ApiOptions,
    auth: Auth,
    keys: Mutex<Vec<Key>>,
    last_request: tokio::sync::Mutex<Option<Instant>>,
}

/// The keys in environment variable `var`: one, or several separated by commas.
pub fn keys_from_env(var: &str) -> Vec<(String, String)> {
    std::env::var(var)
        .ok()
        .map(|v| split_keys(&v, var))
        .unwrap_or_default()
}

/// The keys for `var`: from the environment when it is set, else from the masa
/// configuration's `[credentials]` (the build context's). Labels name the variable and the
/// key's position, never the key.
pub fn keys(ctx: &crate::BuildContext, var: &str) -> Vec<(String, String)> {
    let from_env = keys_from_env(var);
    if !from_env.is_empty() {
        return from_env;
    }
    ctx.credentials
        .get(var)
        .map(|v| split_keys(v, &format!("config {var}")))
        .unwrap_or_default()
}

fn split_keys(v: &str, label: &str) -> Vec<(String, String)> {
    v.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .enumerate()
        .map(|(i, k)| (k.to_owned(), format!("{label}[{i}]")))
        .collect()
}

impl ApiClient {
    /// A client sending `keys` (secret, label) the `auth` way, rotating among them; with no
    /// key it sends no credentials.
    pub fn new(opts: ApiOptions, auth: Auth, keys: Vec<(String, String)>) -> Result<Self, String> {
        if let Some((_, label)) = keys.iter().find(|(k, _)| HeaderValue::from_str(k).is_err()) {
            return Err(format!(
                "the key in {label} holds characters a header cannot carry"
            ));
        }
        let http = reqwest::Client::builder()
            .user_agent(opts.user_agent.clone())
            .timeout(opts.timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(ApiClient {
            http,
            opts,
            auth,
            keys: Mutex::new(
                keys.into_iter()
                    .map(|(secret, label)| Key {
                        secret,
                        label,
                        cooling_until: None,
                    })
                    .collect(),
            ),
            last_request: tokio::sync::Mutex::new(None),
        })
    }

    /// The labels of the keys, for `masa connectors`.
    pub fn key_count(&self) -> usize {
        self.keys.lock().unwrap().len()
    }

    /// The key to use now (index, header value), or how long until one is free.
    fn pick(&self) -> Result<Option<(usize, HeaderValue)>, Duration> {
        let keys = self.keys.lock().unwrap();
        if keys.is_empty() {
            return Ok(None);
        }
        let now = Instant::now();
        if let Some((i, k)) = keys
            .iter()
            .enumerate()
            .find(|(_, k)| k.cooling_until.is_none_or(|t| t <= now))
        {
            let scheme = match self.auth {
                Auth::Bearer => "Bearer",
                Auth::Token => "token",
            };
            let mut v = HeaderValue::from_str(&format!("{scheme} {}", k.secret))
                .expect("checked in ApiClient::new");
            v.set_sensitive(true);
            return Ok(Some((i, v)));
        }
        let soonest = keys.iter().filter_map(|k| k.cooling_until).min().unwrap();
        Err(soonest.saturating_duration_since(now))
    }

    fn cool(&self, key: Option<usize>, wait: Duration, url: &Url) {
        if let Some(i) = key {
            let mut keys = self.keys.lock().unwrap();
            tracing::info!(key = %keys[i].label, url = %url, wait_s = wait.as_secs(), "key rate limited; cooling down");
            keys[i].cooling_until = Some(Instant::now() + wait);
        }
    }

    async fn pace(&self) {
        if self.opts.min_interval.is_zero() {
            return;
        }
        let mut last = self.last_request.lock().await;
        if let Some(t) = *last {
            let next = t + self.opts.min_interval;
            if next > Instant::now() {
                tokio::time::sleep_until(next.into()).await;
            }
        }
        *last = Some(Instant::now());
    }

    /// GETs `url` and parses its JSON answer, following the rules of the module. `Ok(None)`
    /// is a 404.
    pub async fn get_json(&self, url: &Url) -> Result<Option<serde_json::Value>, ApiError> {
        match self
            .send(Method::GET, url, "application/json", None)
            .await?
        {
            Some(a) => a.json().map(Some),
            None => Ok(None),
        }
    }

    /// GETs `url` asking for `accept` (an XML API, a text file) and gives the answer's bytes
    /// and headers as they came, under the same rules as [`ApiClient::get_json`]. `Ok(None)`
    /// is a 404.
    pub async fn get(&self, url: &Url, accept: &str) -> Result<Option<Answer>, ApiError> {
        self.send(Method::GET, url, accept, None).await
    }

    /// POSTs `body` as JSON to `url` (a GraphQL endpoint) and gives the answer, which the
    /// caller checks with [`Answer::json`]. Retried like a GET: only for requests that
    /// change nothing on the server, such as queries.
    pub async fn post_json(
        &self,
        url: &Url,
        body: &serde_json::Value,
    ) -> Result<Option<Answer>, ApiError> {
        self.send(Method::POST, url, "application/json", Some(body))
            .await
    }

    async fn send(
        &self,
        method: Method,
        url: &Url,
        accept: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Option<Answer>, ApiError> {
        let mut failures = 0u32;
        let mut limited_without_key = Duration::ZERO;
        let mut asked_to_wait = Duration::ZERO;
        loop {
            let key = match self.pick() {
                Ok(k) => k,
                Err(wait) => {
                    if wait > self.opts.max_wait {
                        return Err(ApiError::Limited {
                            url: url.to_string(),
                            wait_secs: wait.as_secs(),
                            max_secs: self.opts.max_wait.as_secs(),
                        });
                    }
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            self.pace().await;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .headers(self.opts.headers.clone())
                .header("Accept", accept);
            if let Some(body) = json {
                req = req
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            if let Some((_, v)) = &key {
                req = req.header(AUTHORIZATION, v.clone());
            }
            let index = key.as_ref().map(|(i, _)| *i);
            let last = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    // A 403 with Retry-After is GitHub's secondary rate limit.
                    let limited = status == 429
                        || (status == 403
                            && (remaining(&headers) == Some(0)
                                || headers.contains_key(RETRY_AFTER)));
                    if limited {
                        let wait = reset_after(&headers).unwrap_or(DEFAULT_COOLDOWN);
                        if index.is_none() {
                            // No key to rotate: wait for the reset ourselves.
                            limited_without_key += wait;
                            if limited_without_key > self.opts.max_wait {
                                return Err(ApiError::Limited {
                                    url: url.to_string(),
                                    wait_secs: wait.as_secs(),
                                    max_secs: self.opts.max_wait.as_secs(),
                                });
                            }
                            tracing::info!(url = %url, wait_s = wait.as_secs(), "rate limited; waiting for the reset");
                            tokio::time::sleep(wait).await;
                        } else {
                            self.cool(index, wait, url);
                        }
                        continue;
                    }
                    // A 503 with Retry-After is flow control (OAI-PMH servers use it): the
                    // server says when to come back, which is not a failure of the request.
                    if status == 503
                        && let Some(wait) = reset_after(&headers)
                    {
                        asked_to_wait += wait;
                        if asked_to_wait > self.opts.max_wait {
                            return Err(ApiError::Limited {
                                url: url.to_string(),
                                wait_secs: wait.as_secs(),
                                max_secs: self.opts.max_wait.as_secs(),
                            });
                        }
                        tracing::info!(url = %url, wait_s = wait.as_secs(), "server busy; waiting as it asked");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    if status == 401 || status == 403 {
                        let hint = match &key {
                            Some((i, _)) => format!(
                                ": check the key in {}",
                                self.keys.lock().unwrap()[*i].label
                            ),
                            None => ": this source needs a key".to_owned(),
                        };
                        return Err(ApiError::Unauthorized {
                            url: url.to_string(),
                            status,
                            hint,
                        });
                    }
                    if status == 404 {
                        return Ok(None);
                    }
                    let body = resp.bytes().await;
                    match body {
                        Ok(body) if (200..300).contains(&status) => {
                            // A key about to run out cools down before the server says 429.
                            if remaining(&headers) == Some(0)
                                && let Some(wait) = reset_after(&headers)
                            {
                                self.cool(index, wait, url);
                            }
                            return Ok(Some(Answer {
                                url: url.clone(),
                                status,
                                headers,
                                body: body.to_vec(),
                            }));
                        }
                        Ok(body) if status >= 500 => format!("HTTP {status}: {}", snippet(&body)),
                        Ok(body) => {
                            return Err(ApiError::Status {
                                url: url.to_string(),
                                status,
                                snippet: snippet(&body),
                            });
                        }
                        Err(e) => format!("reading the answer: {e}"),
                    }
                }
                Err(e) => format!("{e}"),
            };
            failures += 1;
            if failures >= self.opts.attempts {
                return Err(ApiError::GaveUp {
                    url: url.to_string(),
                    attempts: failures,
                    last,
                });
            }
            let pause = jittered(self.opts.backoff, failures);
            tracing::debug!(url = %url, attempt = failures, error = %last, pause_ms = pause.as_millis() as u64, "retrying");
            tokio::time::sleep(pause).await;
        }
    }
}

/// A successful (2xx) answer as it came.
#[derive(Debug, Clone)]
pub struct Answer {
    pub url: Url,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The media type, lowercase and without parameters (`""` when none was sent).
    pub fn media_type(&self) -> String {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// The body as JSON, refusing what is plainly not JSON.
    pub fn json(&self) -> Result<serde_json::Value, ApiError> {
        parse_json(&self.url, &self.headers, &self.body)
    }

    /// The first bytes of the body on one line, for messages.
    pub fn snippet(&self) -> String {
        snippet(&self.body)
    }
}

/// The answer as JSON, refusing what is plainly not (an HTML error page from a proxy, a
/// login page).
fn parse_json(url: &Url, headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let looks_json = matches!(
        first,
        Some(b'{' | b'[' | b'"' | b'n' | b't' | b'f' | b'-' | b'0'..=b'9')
    );
    if ct.contains("html") || (!ct.contains("json") && !looks_json) {
        return Err(ApiError::NotJson {
            url: url.to_string(),
            content_type: match ct.split(';').next().map(str::trim) {
                Some(media) if !media.is_empty() => media.to_owned(),
                _ => "no content type".into(),
            },
            snippet: snippet(body),
        });
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadJson {
        url: url.to_string(),
        message: e.to_string(),
    })
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(120)]);
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn header_u64(headers: &HeaderMap, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|n| {
        headers
            .get(*n)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Requests left in the current window, by `X-RateLimit-Remaining` or `RateLimit-Remaining`.
fn remaining(headers: &HeaderMap) -> Option<u64> {
    header_u64(headers, &["x-ratelimit-remaining", "ratelimit-remaining"])
}

/// The target of the `Link` header's entry with relation `rel` (RFC 8288:
/// `<https://x/y?max_id=1>; rel="next", <...>; rel="prev"`), as GitHub and Mastodon page.
pub fn link(headers: &HeaderMap, rel: &str) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|entry| {
            let (target, params) = entry.trim().split_once('>')?;
            let target = target.trim().strip_prefix('<')?;
            let names = params.split(';').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k.trim().eq_ignore_ascii_case("rel")).then(|| v.trim().trim_matches('"'))
            })?;
            names
                .split_whitespace()
                .any(|n| n.eq_ignore_ascii_case(rel))
                .then(|| target.to_owned())
        })
}

/// When the limit resets, from now: `Retry-After` (seconds or an HTTP date), then
/// `X-RateLimit-Reset` (Unix seconds, as GitHub sends it, seconds from now when small, or
/// an ISO 8601 time, as Mastodon sends it: `2024-05-01T12:00:00.123Z`), then
/// `RateLimit-Reset` (seconds from now, the IETF draft).
pub fn reset_after(headers: &HeaderMap) -> Option<Duration> {
    let now = SystemTime::now();
    if let Some(v) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        if let Ok(secs) = v.trim().parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(at) = httpdate::parse_http_date(v.trim()) {
            return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    if let Some(v) = header_u64(headers, &["x-ratelimit-reset"]) {
        // Unix seconds are past 2001; anything smaller is a delta.
        if v > 1_000_000_000 {
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(v);
            return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
        }
        return Some(Duration::from_secs(v));
    }
    if let Some(at) = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            time::OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339)
                .ok()
        })
    {
        let wait = at - time::OffsetDateTime::from(now);
        return Some(wait.try_into().unwrap_or(Duration::ZERO));
    }
    header_u64(headers, &["ratelimit-reset"]).map(Duration::from_secs)
}

/// Retry `attempt` (1, 2, ...) waits a uniform draw below `base` × 2^(attempt-1), capped at
/// a minute: writers that failed together do not retry together.
fn jittered(base: Duration, attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let cap = base
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(Duration::from_secs(60));
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let cap_ms = cap.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % (cap_ms + 1))
}

#[cfg(test)]
mod tests;

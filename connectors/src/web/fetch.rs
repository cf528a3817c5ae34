//! HTTP for the crawler: one GET with retries (exponential backoff with jitter, `Retry-After`
//! honoured), timeouts, a body cap that also stops decompression bombs, and an address guard
//! that refuses private, loopback and link-local addresses after DNS resolution.
//! Redirects are returned to the caller, which follows them with its own checks.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use url::Url;

/// Whether `ip` is a public address: not private, loopback, link-local, unspecified,
/// broadcast, carrier-grade NAT or unique-local.
pub fn is_public_ip(ip: IpAddr) -> bool {
    let v4_private = |v4: std::net::Ipv4Addr| {
        v4.is_private()
            || v4.is_loopback()
            || v4.is_link_local()
            || v4.is_unspecified()
            || v4.is_broadcast()
            || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
    };
    match ip {
        IpAddr::V4(v4) => !v4_private(v4),
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(v4_private))
        }
    }
}

/// The address guard's refusal, found again in reqwest's error chain.
#[derive(Debug)]
struct PrivateAddress(String);

impl std::fmt::Display for PrivateAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves only to private, loopback or link-local addresses (allow with --allow-private)",
            self.0
        )
    }
}

impl std::error::Error for PrivateAddress {}

/// A resolver that drops non-public addresses, so every connection (including each redirect
/// hop and each retry) is checked on the addresses actually dialled, not on an earlier
/// lookup that DNS could change.
struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(
                    Box::new(PrivateAddress(host)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// How the crawler talks HTTP.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Whole request, body included.
    pub timeout: Duration,
    /// Largest body kept, counted after decompression.
    pub max_body: usize,
    /// Retries after the first attempt, for 5xx, 408, 429 and network errors.
    pub retries: u32,
    /// First backoff; doubles per retry, plus up to as much again of jitter.
    pub backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one ends the retries.
    pub max_retry_after: Duration,
    pub allow_private: bool,
}

/// Why a fetch produced no usable response. `reason()` is the counted skip reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    Private(String),
    Timeout(String),
    Connect(String),
    TooLarge(String),
    Body(String),
}

impl FetchError {
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::Private(_) => "error:private_address",
            FetchError::Timeout(_) => "error:timeout",
            FetchError::Connect(_) => "error:connect",
            FetchError::TooLarge(_) => "size",
            FetchError::Body(_) => "error:body",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            FetchError::Private(d)
            | FetchError::Timeout(d)
            | FetchError::Connect(d)
            | FetchError::TooLarge(d)
            | FetchError::Body(d) => d,
        }
    }
}

/// A response with its body read (or not, when `accept` refused it).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Attempts made (1 = no retry).
    pub attempts: u32,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Location` of a redirect, resolved against `url`.
    pub fn location(&self, url: &Url) -> Option<Url> {
        if !(300..400).contains(&self.status) {
            return None;
        }
        url.join(self.header("location")?.trim()).ok()
    }
}

/// What the caller decides once it has seen the status and headers.
pub enum Accept {
    Body,
    /// Keep the status and headers, skip the body (a refused content type).
    HeadersOnly,
}

impl Accept {
    /// The body of a 2xx response only: the decision for files read whole (robots.txt,
    /// TDMRep, sitemaps).
    pub fn if_success(status: u16, _: &HeaderMap) -> Accept {
        Accept::body_if((200..300).contains(&status))
    }

    pub fn body_if(keep: bool) -> Accept {
        if keep {
            Accept::Body
        } else {
            Accept::HeadersOnly
        }
    }
}

#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    opts: Arc<HttpOptions>,
}

impl Http {
    pub fn new(opts: HttpOptions) -> Result<Http, String> {
        let mut b = reqwest::Client::builder()
            .user_agent(opts.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.timeout)
            .pool_max_idle_per_host(64)
            .gzip(true)
            .deflate(true);
        if !opts.allow_private {
            b = b.dns_resolver(Arc::new(GuardedResolver));
        }
        let client = b.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Http {
            client,
            opts: Arc::new(opts),
        })
    }

    pub fn options(&self) -> &HttpOptions {
        &self.opts
    }

    /// One GET, retried on 5xx, 408, 429 and network errors. Redirects come back as
    /// responses. `accept` sees the final status and headers and says whether to read the
    /// body.
    pub async fn get(
        &self,
        url: &Url,
        headers: &[(HeaderName, HeaderValue)],
        accept: impl Fn(u16, &HeaderMap) -> Accept,
    ) -> Result<Response, FetchError> {
        // Literal addresses never reach the resolver, so they are checked here.
        let literal: Option<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(v4.into()),
            Some(url::Host::Ipv6(v6)) => Some(v6.into()),
            _ => None,
        };
        if !self.opts.allow_private && literal.is_some_and(|ip| !is_public_ip(ip)) {
            return Err(FetchError::Private(format!(
                "{url}: a private, loopback or link-local address (allow with --allow-private)"
            )));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt > self.opts.retries;
            let mut req = self.client.get(url.as_str());
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let err = classify(url, &e);
                    if last || matches!(err, FetchError::Private(_)) {
                        return Err(err);
                    }
                    tracing::debug!(url = %url, attempt, error = %e, "fetch failed; retrying");
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            if !last && retryable(status) {
                match retry_after(resp.headers(), SystemTime::now()) {
                    Some(d) if d > self.opts.max_retry_after => {
                        // Longer than we wait: the status stands.
                    }
                    wait => {
                        tracing::debug!(url = %url, attempt, status, "retryable status; retrying");
                        tokio::time::sleep(wait.unwrap_or_else(|| self.backoff(attempt))).await;
                        continue;
                    }
                }
            }
            let headers = resp.headers().clone();
            let body = match accept(status, &headers) {
                Accept::HeadersOnly => Vec::new(),
                Accept::Body => self.read_body(url, resp).await?,
            };
            return Ok(Response {
                status,
                headers,
                body,
                attempts: attempt,
            });
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.opts.backoff * 2u32.saturating_pow(attempt.saturating_sub(1));
        let jitter = base.mul_f64(fastrand_unit());
        base + jitter
    }

    async fn read_body(
        &self,
        url: &Url,
        mut resp: reqwest::Response,
    ) -> Result<Vec<u8>, FetchError> {
        let max = self.opts.max_body;
        let too_large = |n: String| {
            FetchError::TooLarge(format!("{url}: body over the {max}-byte limit ({n})"))
        };
        if let Some(len) = resp.content_length()
            && len > max as u64
        {
            return Err(too_large(format!("Content-Length {len}")));
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if body.len() + c.len() > max {
                        return Err(too_large("decoded bytes kept coming".into()));
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => return Ok(body),
                Err(e) if e.is_timeout() => {
                    return Err(FetchError::Timeout(format!("{url}: body: {e}")));
                }
                Err(e) => return Err(FetchError::Body(format!("{url}: body: {}", chain(&e)))),
            }
        }
    }
}

/// A uniform number in [0, 1) for jitter, from the clock and a counter (no RNG crate).
fn fastrand_unit() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let x =
        xxhash_rust::xxh3::xxh3_64_with_seed(&N.fetch_add(1, Ordering::Relaxed).to_le_bytes(), t);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// `Retry-After` as seconds or an HTTP-date, as a wait from `now`.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn classify(url: &Url, e: &reqwest::Error) -> FetchError {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = src {
        if let Some(p) = c.downcast_ref::<PrivateAddress>() {
            return FetchError::Private(format!("{url}: {p}"));
        }
        src = c.source();
    }
    let msg = format!("{url}: {}", chain(e));
    if e.is_timeout() {
        FetchError::Timeout(msg)
    } else {
        FetchError::Connect(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21 07:28:00
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:30 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:27:00 GMT"),
        );
        assert_eq!(
            retry_after(&h, now),
            Some(Duration::ZERO),
            "a past date means now"
        );
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn jitter_stays_in_the_unit_interval() {
        for _ in 0..1000 {
            let x = fastrand_unit();
            assert!((0.0..1.0).contains(&x));
        }
    }
}

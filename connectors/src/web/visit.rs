//! One URL's visit: robots.txt, the host's turn, the request (redirects followed with loop,
//! limit and scope checks), then the page's own signals and the consent decision.

use super::fetch::{Accept, Http};
use super::frontier::{Next, Validators};
use super::origin::{Origins, RobotsTxt, fetch_tdmrep, origin};
use super::page::{self, PageFacts};
use super::signals::{Directives, Overrides, RobotsVerdict, Tdm, decide};
use super::urls::{Scope, normalize};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use masa_record::Consent;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// What the visits of one crawl share.
pub(crate) struct Ctx {
    pub http: Http,
    pub origins: Origins,
    pub scope: Arc<Scope>,
    pub agents: Arc<Vec<String>>,
    pub overrides: Overrides,
    pub max_redirects: usize,
    /// Minimum gap between requests to one host, before robots.txt `Crawl-delay`.
    pub rate: Option<Duration>,
    pub limiters: Mutex<HashMap<String, Option<Arc<DefaultDirectRateLimiter>>>>,
    /// Validators of the previous completed crawl, by URL.
    pub previous: HashMap<String, Validators>,
}

/// A page that passed every check.
pub(crate) struct Page {
    pub status: u16,
    pub content_type: String,
    pub text: String,
    pub title: Option<String>,
    pub consent: Consent,
    pub licence: Option<String>,
}

pub(crate) enum Outcome {
    Page(Page),
    Skip {
        reason: &'static str,
        detail: String,
    },
}

/// The result of a visit, handed back to the coordinator.
pub(crate) struct Visit {
    pub outcome: Outcome,
    /// The URL the content came from, when redirects led elsewhere.
    pub redirected_to: Option<Url>,
    pub links: Vec<Url>,
    /// A page request was made.
    pub fetched: bool,
    pub bytes: u64,
    pub validators: Validators,
}

impl Visit {
    fn skip(reason: &'static str, detail: impl Into<String>, fetched: bool) -> Visit {
        Visit {
            outcome: Outcome::Skip {
                reason,
                detail: detail.into(),
            },
            redirected_to: None,
            links: Vec::new(),
            fetched,
            bytes: 0,
            validators: Validators::default(),
        }
    }
}

fn is_html(ct: &str) -> bool {
    ct.is_empty() || ct == "text/html" || ct == "application/xhtml+xml"
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

impl Ctx {
    pub(crate) async fn robots(&self, url: &Url) -> Arc<RobotsTxt> {
        self.origins
            .robots
            .get(&origin(url), || {
                RobotsTxt::fetch(&self.http, url, &self.agents)
            })
            .await
    }

    /// Waits for the host's turn: the crawl rate, or robots.txt `Crawl-delay` if longer.
    pub(crate) async fn wait_turn(&self, url: &Url, crawl_delay: Option<Duration>) {
        let limiter = {
            let mut m = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(origin(url))
                .or_insert_with(|| {
                    let gap = match (self.rate, crawl_delay) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    }?;
                    let quota = Quota::with_period(gap.max(Duration::from_micros(1)))?;
                    Some(Arc::new(RateLimiter::direct(quota)))
                })
                .clone()
        };
        if let Some(l) = limiter {
            l.until_ready().await;
        }
    }

    pub(crate) fn conditional(&self, url: &Url) -> Vec<(HeaderName, HeaderValue)> {
        let Some(v) = self.previous.get(url.as_str()) else {
            return Vec::new();
        };
        let mut h = Vec::new();
        if let Some(e) = v
            .etag
            .as_deref()
            .and_then(|e| HeaderValue::from_str(e).ok())
        {
            h.push((reqwest::header::IF_NONE_MATCH, e));
        }
        if let Some(d) = v
            .last_modified
            .as_deref()
            .and_then(|d| HeaderValue::from_str(d).ok())
        {
            h.push((reqwest::header::IF_MODIFIED_SINCE, d));
        }
        h
    }
}

/// Visits one queued URL.
pub(super) async fn visit(ctx: Arc<Ctx>, next: Next) -> (Next, Visit) {
    let v = visit_url(&ctx, &next.url).await;
    (next, v)
}

/// Visits one URL with every check: the crawl's per-URL step, also used by the connectors
/// that get their URLs from elsewhere (feeds, sitemaps). Links are returned, not followed.
pub(crate) async fn visit_url(ctx: &Ctx, start: &Url) -> Visit {
    let mut url = start.clone();
    let mut chain = vec![url.clone()];
    loop {
        let robots = ctx.robots(&url).await;
        let verdict = robots.verdict(&url);
        if !verdict.allowed() && !ctx.overrides.robots {
            return Visit::skip(
                "robots",
                format!("{url}: robots.txt {}: {}", verdict.state, verdict.rule),
                false,
            );
        }
        ctx.wait_turn(&url, robots.crawl_delay()).await;
        let headers = ctx.conditional(&url);
        let resp = ctx
            .http
            .get(&url, &headers, |status, h| {
                let ct = media_type(h);
                Accept::body_if(
                    (200..300).contains(&status) && (is_html(&ct) || ct == "text/plain"),
                )
            })
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return Visit::skip(e.reason(), e.detail(), true),
        };
        match resp.status {
            304 => {
                return Visit::skip(
                    "unchanged",
                    format!("{url}: not modified since the last crawl"),
                    true,
                );
            }
            300..=399 => {
                let Some(to) = resp.location(&url).and_then(|u| normalize(&u)) else {
                    return Visit::skip(
                        "error:redirect",
                        format!("{url}: {} without a usable Location", resp.status),
                        true,
                    );
                };
                if chain.contains(&to) {
                    let hops: Vec<&str> = chain.iter().map(Url::as_str).collect();
                    return Visit::skip(
                        "error:redirect_loop",
                        format!("{} -> {to}", hops.join(" -> ")),
                        true,
                    );
                }
                if chain.len() > ctx.max_redirects {
                    return Visit::skip(
                        "error:redirect_limit",
                        format!("{start}: more than {} redirects", ctx.max_redirects),
                        true,
                    );
                }
                if !ctx.scope.contains(&to) {
                    return Visit::skip(
                        "scope",
                        format!("{url} redirects out of scope to {to}"),
                        true,
                    );
                }
                chain.push(to.clone());
                url = to;
                continue;
            }
            200..=299 => {}
            400..=499 => {
                return Visit::skip(
                    "error:http_4xx",
                    format!("{url}: HTTP {}", resp.status),
                    true,
                );
            }
            s => {
                return Visit::skip(
                    "error:http_5xx",
                    format!("{url}: HTTP {s} after {} attempts", resp.attempts),
                    true,
                );
            }
        }
        let ct = media_type(&resp.headers);
        if !(is_html(&ct) || ct == "text/plain") {
            return Visit::skip("type", format!("{url}: content type {ct:?}"), true);
        }
        let mut v = page_visit(ctx, &url, &verdict, resp, ct).await;
        if url != *start {
            v.redirected_to = Some(url);
        }
        return v;
    }
}

/// What the origin's TDMRep file and the response's headers (`tdm-*`, `X-Robots-Tag`) say
/// about `url`.
async fn header_signals(ctx: &Ctx, url: &Url, resp: &super::fetch::Response) -> (Tdm, Directives) {
    let tdm_file = ctx
        .origins
        .tdm
        .get(&origin(url), || fetch_tdmrep(&ctx.http, url))
        .await;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let header_reservation = resp.header("tdm-reservation").map(|v| v.trim() == "1");
    let header_policy = resp.header("tdm-policy").map(|v| v.trim().to_owned());
    let tdm = Tdm::from_file(tdm_file.lookup(&path)).statement(
        header_reservation,
        header_policy,
        "header",
    );
    let mut directives = Directives::default();
    for v in resp.headers.get_all("x-robots-tag") {
        if let Ok(v) = v.to_str() {
            directives.add_header(v, &ctx.agents);
        }
    }
    (tdm, directives)
}

/// The consent decision for a document that is not a page (a feed whose entries are
/// recorded from the feed itself): robots.txt for `url`, TDMRep and the response's headers.
/// `verdict` is the robots.txt verdict the fetch was made under.
pub(crate) async fn document_consent(
    ctx: &Ctx,
    url: &Url,
    verdict: &RobotsVerdict,
    resp: &super::fetch::Response,
) -> Result<Consent, super::signals::Refusal> {
    let (tdm, directives) = header_signals(ctx, url, resp).await;
    decide(verdict, &tdm, directives, ctx.overrides)
}

/// The largest body read on the I/O threads; a larger one is read on a blocking thread.
const INLINE_READ_MAX: usize = 256 << 10;

/// Applies the page's signals to a fetched 2xx HTML or text response.
async fn page_visit(
    ctx: &Ctx,
    url: &Url,
    verdict: &RobotsVerdict,
    resp: super::fetch::Response,
    ct: String,
) -> Visit {
    let (mut tdm, mut directives) = header_signals(ctx, url, &resp).await;
    let validators = Validators {
        etag: resp.header("etag").map(str::to_owned),
        last_modified: resp.header("last-modified").map(str::to_owned),
    };
    let bytes = resp.body.len() as u64;
    let status = resp.status;
    let charset_header = resp.header("content-type").map(str::to_owned);
    let html = is_html(&ct);
    let read = move |body: Vec<u8>, base: &Url, agents: &[String]| {
        let text = page::decode_owned(body, charset_header.as_deref());
        let facts = if html {
            page::parse(&text, base, agents)
        } else {
            PageFacts::default()
        };
        (text, facts)
    };
    // Reading a page is one scan, tens of microseconds for a usual page: done in place, as
    // a thread hand-off per page would cost more (and a thread per in-flight page, memory).
    // A large body goes off the I/O threads.
    let (text, facts) = if resp.body.len() <= INLINE_READ_MAX {
        read(resp.body, url, &ctx.agents)
    } else {
        let (base, agents) = (url.clone(), ctx.agents.clone());
        match tokio::task::spawn_blocking(move || read(resp.body, &base, &agents)).await {
            Ok(p) => p,
            Err(e) => return Visit::skip("error:parse", format!("{url}: {e}"), true),
        }
    };
    tdm = tdm.statement(facts.tdm_reservation, facts.tdm_policy.clone(), "meta");
    directives = directives.merge(facts.directives);
    let links = if directives.nofollow {
        Vec::new()
    } else {
        facts.links
    };
    let outcome = match decide(verdict, &tdm, directives, ctx.overrides) {
        Ok(consent) => Outcome::Page(Page {
            status,
            content_type: if html {
                "text/html".into()
            } else {
                "text/plain".into()
            },
            text,
            title: facts.title,
            consent,
            licence: facts.licence,
        }),
        Err(r) => Outcome::Skip {
            reason: r.reason,
            detail: format!("{url}: {}", r.detail),
        },
    };
    Visit {
        outcome,
        redirected_to: None,
        links,
        fetched: true,
        bytes,
        validators,
    }
}

/// A document that is not a page (a feed, a sitemap), fetched under robots.txt.
pub(crate) enum Document {
    /// A 2xx answer from `url` (where redirects led), with the robots.txt verdict for it.
    Fetched {
        url: Url,
        verdict: RobotsVerdict,
        resp: Box<super::fetch::Response>,
    },
    /// 304 to the conditional request made with the previous run's validators.
    NotModified,
    /// robots.txt refuses `url` (the start or a redirect's target).
    Refused { detail: String },
}

/// Why a document could not be fetched: the HTTP status when there was one, and what
/// happened.
pub(crate) struct DocumentError {
    pub status: Option<u16>,
    pub detail: String,
}

/// Fetches a document whole: robots.txt checked for every hop, the host's turn waited for,
/// the conditional headers of [`Ctx::previous`] sent, redirects followed up to the limit.
pub(crate) async fn fetch_document(ctx: &Ctx, start: &Url) -> Result<Document, DocumentError> {
    let mut url = start.clone();
    let headers = ctx.conditional(start);
    for _ in 0..=ctx.max_redirects {
        let robots = ctx.robots(&url).await;
        let verdict = robots.verdict(&url);
        if !verdict.allowed() && !ctx.overrides.robots {
            return Ok(Document::Refused {
                detail: format!("{url}: robots.txt {}: {}", verdict.state, verdict.rule),
            });
        }
        ctx.wait_turn(&url, robots.crawl_delay()).await;
        let resp = ctx
            .http
            .get(&url, &headers, Accept::if_success)
            .await
            .map_err(|e| DocumentError {
                status: None,
                detail: e.detail().to_owned(),
            })?;
        match resp.status {
            200..=299 => {
                let resp = Box::new(resp);
                return Ok(Document::Fetched { url, verdict, resp });
            }
            304 => return Ok(Document::NotModified),
            300..=399 => match resp.location(&url) {
                Some(to) => url = to,
                None => {
                    return Err(DocumentError {
                        status: Some(resp.status),
                        detail: format!("{url}: {} without a usable Location", resp.status),
                    });
                }
            },
            s => {
                return Err(DocumentError {
                    status: Some(s),
                    detail: format!("{url}: HTTP {s} after {} attempts", resp.attempts),
                });
            }
        }
    }
    Err(DocumentError {
        status: None,
        detail: format!("{start}: more than {} redirects", ctx.max_redirects),
    })
}

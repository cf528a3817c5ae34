//! `sitemap`: the pages listed by sitemaps and sitemap indexes (sitemaps.org), and only
//! those: no link is followed. Each page is visited with the web connector's checks
//! (robots.txt, TDMRep, noai and robots meta, `X-Robots-Tag`) and records the same
//! permission evidence, the publisher's signals. No credentials.
//!
//! Re-runs: a page whose `<lastmod>` is the one it had when last fetched (or refused by its
//! own signals) is an `unchanged` skip, not requested; a page without `<lastmod>` is asked for with its `ETag` and
//! `Last-Modified`. A page must be on its sitemap's host (the protocol's rule), or it is a
//! `scope` skip. A root sitemap that cannot be read or parsed fails the run before any
//! event, naming it; a nested one is a skip.
//!
//! Checkpoint: `{v, known: {url: {lastmod, etag, last_modified}}, queue: [...]}`: what was
//! fetched and when it was last modified, and the events still to emit as listed when the
//! run began; built lazily, only when a commit records it.

use crate::web::crawl::{MAX_SITEMAP_BYTES, MAX_SITEMAP_NESTING, MAX_SITEMAPS};
use crate::web::frontier::Validators;
use crate::web::visit::{self, Ctx, Document, Outcome};
use crate::web::{PageFetch, WebConnector, sitemap, urls};
use crate::{BuildContext, Connector, ConnectorError, ItemSender, Skip, SourceEvent};
use masa_record::RawItem;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use url::Url;

const KIND: &str = "sitemap";

/// A sitemap source: sitemap or sitemap index URLs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SitemapConfig {
    /// `sitemap.xml` (or `.xml.gz`) or sitemap index URLs (http or https).
    pub sitemaps: Vec<String>,
    /// How pages and sitemaps are fetched (the web connector's options).
    #[serde(default)]
    pub fetch: PageFetch,
}

fn config_err(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Config {
        kind: KIND,
        message: message.into(),
    }
}

impl SitemapConfig {
    pub fn build(&self, ctx: &BuildContext) -> Result<SitemapConnector, ConnectorError> {
        if self.sitemaps.is_empty() {
            return Err(config_err(
                "no sitemap given: `sitemaps = [\"https://example.org/sitemap.xml\"]`",
            ));
        }
        let crawler = self.fetch.crawler(KIND, self.sitemaps.clone(), ctx)?;
        Ok(SitemapConnector {
            roots: crawler.seeds().to_vec(),
            crawler,
            previous: None,
        })
    }
}

/// What is remembered of a fetched page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Known {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastmod: Option<String>,
    #[serde(flatten)]
    pub validators: Validators,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum Pending {
    Page {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lastmod: Option<String>,
    },
    Skip {
        uri: String,
        reason: String,
        detail: String,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    v: u32,
    known: BTreeMap<String, Known>,
    queue: Vec<Pending>,
}

const VERSION: u32 = 1;

/// The run's position: the listing is fixed when the run begins, `known` only grows by
/// appended updates, so a checkpoint is two lengths and built when asked for.
struct Journal {
    base: BTreeMap<String, Known>,
    listing: Vec<Pending>,
    /// `None` forgets the URL (its fetch failed or was refused: asked again next run).
    updates: Mutex<Vec<(String, Option<Known>)>>,
}

impl Journal {
    fn checkpoint(self: &Arc<Self>, next: usize) -> masa_record::Checkpoint {
        let done = self.updates.lock().unwrap_or_else(|e| e.into_inner()).len();
        let j = self.clone();
        masa_record::Checkpoint::lazy(move || {
            let mut known = j.base.clone();
            let updates = j.updates.lock().unwrap_or_else(|e| e.into_inner());
            for (url, k) in &updates[..done] {
                match k {
                    Some(k) => known.insert(url.clone(), k.clone()),
                    None => known.remove(url),
                };
            }
            let s = State {
                v: VERSION,
                known,
                queue: j.listing[next..].to_vec(),
            };
            serde_json::to_value(s).expect("the sitemap state serializes")
        })
    }

    fn update(&self, url: &str, k: Option<Known>) {
        let mut u = self.updates.lock().unwrap_or_else(|e| e.into_inner());
        u.push((url.to_owned(), k));
    }
}

/// Skip reasons are counted by name, so they are static; a checkpoint stores them as text.
fn static_reason(s: &str) -> &'static str {
    const KNOWN: [&str; 6] = [
        "sitemap:empty",
        "robots",
        "scope",
        "duplicate",
        "sitemap:unavailable",
        "sitemap:malformed",
    ];
    KNOWN
        .into_iter()
        .find(|k| *k == s)
        .unwrap_or("sitemap:other")
}

pub struct SitemapConnector {
    roots: Vec<Url>,
    crawler: WebConnector,
    previous: Option<State>,
}

fn source_err(sitemap: &Url, what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Source {
        kind: KIND,
        message: format!("sitemap {sitemap}: {what}"),
    }
}

fn skip(uri: &Url, reason: &str, detail: String) -> Pending {
    Pending::Skip {
        uri: uri.to_string(),
        reason: reason.to_owned(),
        detail,
    }
}

impl SitemapConnector {
    /// Reads every sitemap, depth first in document order, into the run's listing.
    async fn list(&self, ctx: &Ctx) -> Result<Vec<Pending>, ConnectorError> {
        let mut out = Vec::new();
        let mut read = HashSet::new();
        let mut pages = HashSet::new();
        // (sitemap, nesting), taken from the end.
        let mut todo: Vec<(Url, usize)> = self.roots.iter().rev().map(|r| (r.clone(), 0)).collect();
        while let Some((url, nesting)) = todo.pop() {
            let root = nesting == 0;
            if !read.insert(url.clone()) {
                continue;
            }
            if read.len() > MAX_SITEMAPS {
                out.push(skip(
                    &url,
                    "sitemap:other",
                    format!("{url}: over {MAX_SITEMAPS} sitemaps read"),
                ));
                continue;
            }
            let body = match visit::fetch_document(ctx, &url).await {
                Ok(Document::Fetched { resp, .. }) => resp.body,
                Ok(Document::Refused { detail }) => {
                    out.push(skip(&url, "robots", detail));
                    continue;
                }
                // Only when a sitemap is also listed as a page: its old validators were sent.
                Ok(Document::NotModified) => {
                    out.push(skip(
                        &url,
                        "sitemap:unavailable",
                        format!("{url}: 304 to a request that was not meant to be conditional"),
                    ));
                    continue;
                }
                Err(e) if root => {
                    let hint = match e.status {
                        Some(404 | 410) => "check the sitemap URL",
                        Some(401 | 403) => "the sitemap is not public",
                        _ => "try again later",
                    };
                    return Err(source_err(&url, format!("{}; {hint}", e.detail)));
                }
                Err(e) => {
                    out.push(skip(&url, "sitemap:unavailable", e.detail));
                    continue;
                }
            };
            let parsed = match sitemap::parse(&body, MAX_SITEMAP_BYTES) {
                Ok(p) => p,
                Err(e) if root => {
                    return Err(source_err(
                        &url,
                        format!("not a sitemap: {e}; check the sitemap URL"),
                    ));
                }
                Err(e) => {
                    out.push(skip(&url, "sitemap:malformed", format!("{url}: {e}")));
                    continue;
                }
            };
            if parsed.pages.is_empty() && parsed.sitemaps.is_empty() {
                out.push(skip(&url, "sitemap:empty", format!("{url} lists nothing")));
            }
            for p in parsed.pages {
                let Some(page) = url
                    .join(p.loc.trim())
                    .ok()
                    .and_then(|u| urls::normalize(&u))
                else {
                    out.push(Pending::Skip {
                        uri: p.loc.clone(),
                        reason: "sitemap:other".into(),
                        detail: format!("{url} lists {:?}, not an http(s) URL", p.loc),
                    });
                    continue;
                };
                if page.host_str() != url.host_str()
                    || page.port_or_known_default() != url.port_or_known_default()
                {
                    out.push(skip(
                        &page,
                        "scope",
                        format!("listed by {url}, not on its host"),
                    ));
                } else if !pages.insert(page.clone()) {
                    out.push(skip(&page, "duplicate", format!("listed again by {url}")));
                } else {
                    out.push(Pending::Page {
                        url: page.to_string(),
                        lastmod: p.lastmod,
                    });
                }
            }
            if nesting < MAX_SITEMAP_NESTING {
                for s in parsed.sitemaps.iter().rev() {
                    if let Ok(u) = url.join(s.loc.trim()) {
                        todo.push((u, nesting + 1));
                    }
                }
            }
        }
        Ok(out)
    }

    async fn event(&self, ctx: &Ctx, j: &Arc<Journal>, at: usize) -> SourceEvent {
        let next = at + 1;
        let (url, lastmod) = match &j.listing[at] {
            Pending::Skip {
                uri,
                reason,
                detail,
            } => {
                return SourceEvent::Skip(Skip {
                    uri: uri.clone(),
                    reason: static_reason(reason),
                    detail: detail.clone(),
                    checkpoint: j.checkpoint(next),
                });
            }
            Pending::Page { url, lastmod } => (url, lastmod),
        };
        let before = j.base.get(url);
        if let (Some(now), Some(k)) = (lastmod, before)
            && k.lastmod.as_ref() == Some(now)
        {
            return SourceEvent::Skip(Skip {
                uri: url.clone(),
                reason: "unchanged",
                detail: format!("{url}: lastmod {now} as when last fetched"),
                checkpoint: j.checkpoint(next),
            });
        }
        let start = Url::parse(url).expect("listed URLs were parsed");
        let v = visit::visit_url(ctx, &start).await;
        let uri = v.redirected_to.as_ref().unwrap_or(&start).to_string();
        match v.outcome {
            Outcome::Page(p) => {
                j.update(
                    url,
                    Some(Known {
                        lastmod: lastmod.clone(),
                        validators: v.validators,
                    }),
                );
                let host = start.host_str().unwrap_or("").to_owned();
                SourceEvent::Item(RawItem {
                    uri: uri.clone(),
                    source: KIND,
                    fetched_at_micros: masa_record::now_micros(),
                    http_status: Some(i32::from(p.status)),
                    content_type: Some(p.content_type),
                    title: p.title,
                    body: p.text.into_bytes(),
                    consent: p.consent,
                    licence: Some(p.licence.map_or_else(
                        || format!("publisher's ({host}; {uri})"),
                        |l| format!("{l} ({uri})"),
                    )),
                    checkpoint: j.checkpoint(next),
                })
            }
            Outcome::Skip { reason, detail } => {
                let keep = match (reason, before) {
                    // Not modified: what was known stands, with the new lastmod.
                    ("unchanged", Some(k)) => Some(Known {
                        lastmod: lastmod.clone(),
                        validators: k.validators.clone(),
                    }),
                    // A failed fetch is tried again, and robots.txt (no page request made)
                    // asked again, next run.
                    _ if !v.fetched || reason.starts_with("error:") => None,
                    // The page itself refused (noai, TDM, noindex): not asked again until
                    // its lastmod changes.
                    _ => Some(Known {
                        lastmod: lastmod.clone(),
                        validators: v.validators,
                    }),
                };
                j.update(url, keep);
                SourceEvent::Skip(Skip {
                    uri,
                    reason,
                    detail,
                    checkpoint: j.checkpoint(next),
                })
            }
        }
    }
}

#[async_trait::async_trait]
impl Connector for SitemapConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn source_id(&self) -> String {
        let mut roots: Vec<&str> = self.roots.iter().map(Url::as_str).collect();
        roots.sort_unstable();
        serde_json::json!({ "sitemaps": roots }).to_string()
    }

    /// Sitemap hosts must resolve, and to public addresses unless private ones are allowed.
    async fn check(&mut self) -> Result<(), ConnectorError> {
        self.crawler.check().await.map_err(|e| match e {
            ConnectorError::Config { message, .. } => {
                config_err(message.replace("seed ", "sitemap "))
            }
            e => e,
        })
    }

    fn previous_run(&mut self, last: serde_json::Value) {
        match serde_json::from_value::<State>(last) {
            Ok(s) if s.v == VERSION => self.previous = Some(s),
            Ok(s) => {
                tracing::warn!(
                    connector = KIND,
                    version = s.v,
                    "the previous run's state has another version; fetching every page"
                )
            }
            Err(e) => {
                tracing::warn!(connector = KIND, error = %e, "the previous run's state is unreadable; fetching every page")
            }
        }
    }

    async fn run(
        self: Box<Self>,
        resume: Option<serde_json::Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError> {
        let resumed = match resume {
            Some(v) => {
                let s: State = serde_json::from_value(v).map_err(|e| {
                    config_err(format!("cannot resume: unreadable sitemap checkpoint: {e}"))
                })?;
                if s.v != VERSION {
                    return Err(config_err(format!(
                        "cannot resume: checkpoint version {} (this build reads {VERSION})",
                        s.v
                    )));
                }
                Some(s)
            }
            None => None,
        };
        let base = resumed
            .as_ref()
            .or(self.previous.as_ref())
            .map(|s| s.known.clone())
            .unwrap_or_default();
        let previous: HashMap<String, Validators> = base
            .iter()
            .filter(|(_, k)| !k.validators.is_empty())
            .map(|(u, k)| (u.clone(), k.validators.clone()))
            .collect();
        let ctx = self
            .crawler
            .visit_ctx(Arc::new(urls::Scope::anywhere()), previous);
        let (base, listing) = match resumed {
            Some(s) => (s.known, s.queue),
            None => {
                let listing = self.list(&ctx).await?;
                // Pages no longer listed are forgotten.
                let listed: HashSet<&str> = listing
                    .iter()
                    .filter_map(|p| match p {
                        Pending::Page { url, .. } => Some(url.as_str()),
                        Pending::Skip { .. } => None,
                    })
                    .collect();
                let base = base
                    .into_iter()
                    .filter(|(u, _)| listed.contains(u.as_str()))
                    .collect();
                (base, listing)
            }
        };
        let j = Arc::new(Journal {
            base,
            listing,
            updates: Mutex::new(Vec::new()),
        });
        for at in 0..j.listing.len() {
            let e = self.event(&ctx, &j, at).await;
            out.send(e).await.map_err(|_| ConnectorError::Closed)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

//! The crawl engine: one coordinator owns the frontier, hands URLs to concurrent visits
//! within the global and per-host limits, and turns each finished visit into events in the
//! order visits finish. Every event carries the checkpoint after it.

use super::fetch::Accept;
use super::frontier::{CrawlState, Frontier, Next, Validators};
use super::urls::normalize;
use super::visit::{Ctx, Outcome, Visit, visit};
use super::{WebConnector, sitemap};
use crate::{ConnectorError, ItemSender, Skip, SourceEvent};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use masa_record::RawItem;
use std::collections::HashMap;
use std::sync::Arc;
use url::Url;

/// Sitemap files read per crawl, and index nesting followed.
pub(crate) const MAX_SITEMAPS: usize = 1000;
pub(crate) const MAX_SITEMAP_NESTING: usize = 3;
/// The sitemaps.org size limit.
pub(crate) const MAX_SITEMAP_BYTES: usize = 50 << 20;

pub(super) async fn run(
    c: WebConnector,
    resume: Option<serde_json::Value>,
    out: ItemSender,
) -> Result<(), ConnectorError> {
    let mut frontier =
        match resume {
            Some(v) => Frontier::restore(CrawlState::from_value(v).map_err(|e| {
                ConnectorError::Config {
                    kind: "web",
                    message: format!("cannot resume: unreadable crawl checkpoint: {e}"),
                }
            })?),
            None => {
                let mut f = Frontier::default();
                for s in &c.seeds {
                    f.add(s, 0);
                }
                // A new crawl of a completed one asks again for every page it fetched, with
                // that page's validators, so unchanged pages cost a 304.
                for d in c.previous.iter().flat_map(|p| &p.done) {
                    if let Ok(u) = Url::parse(&d.url)
                        && d.fetched
                        && c.scope.contains(&u)
                    {
                        f.add(&u, d.depth);
                    }
                }
                f
            }
        };
    let previous: HashMap<String, Validators> = c
        .previous
        .iter()
        .flat_map(|p| &p.done)
        .filter(|d| !d.validators.is_empty())
        .map(|d| (d.url.clone(), d.validators.clone()))
        .collect();
    let ctx = Arc::new(c.visit_ctx(c.scope.clone(), previous));
    if c.config.sitemaps && !frontier.is_sitemaps_done() {
        discover_sitemaps(&ctx, &c.seeds, &mut frontier).await;
        frontier.sitemaps_done();
    }
    let budget = c.config.max_pages.unwrap_or(u64::MAX);
    let max_depth = c.config.max_depth.unwrap_or(u16::MAX);
    let mut inflight = FuturesUnordered::new();
    loop {
        while inflight.len() < c.config.concurrency
            && frontier.fetched() + (inflight.len() as u64) < budget
        {
            let Some(next) = frontier.next(c.config.per_host) else {
                break;
            };
            inflight.push(visit(ctx.clone(), next));
        }
        c.stats.set_queued(frontier.queued());
        let Some((next, v)) = inflight.next().await else {
            break;
        };
        frontier.release(&next.url);
        handle(&c, &mut frontier, next, v, max_depth, &out).await?;
    }
    c.stats.set_queued(frontier.queued());
    Ok(())
}

async fn send(out: &ItemSender, e: SourceEvent) -> Result<(), ConnectorError> {
    out.send(e).await.map_err(|_| ConnectorError::Closed)
}

/// Records a finished visit: its links join the frontier (out-of-scope and too-deep ones
/// become skips), the URL is marked done, and the page or its skip is sent.
async fn handle(
    c: &WebConnector,
    frontier: &mut Frontier,
    next: Next,
    mut v: Visit,
    max_depth: u16,
    out: &ItemSender,
) -> Result<(), ConnectorError> {
    let mut uri = next.url.clone();
    if let Some(to) = v.redirected_to.take() {
        match frontier.lookup(&to) {
            None => {
                frontier.add_done(&to, next.depth);
            }
            // Queued on its own: this visit stands for it.
            Some((idx, true)) => frontier.mark_done(idx, false, Validators::default()),
            // In flight or handled on its own: that visit reports it.
            Some((_, false)) => {
                v.outcome = Outcome::Skip {
                    reason: "duplicate",
                    detail: format!(
                        "{} redirects to {to}, which the crawl fetches itself",
                        next.url
                    ),
                };
            }
        }
        uri = to;
    }
    let depth = next.depth.saturating_add(1);
    for link in v.links.drain(..) {
        if frontier.is_seen(&link) {
            continue;
        }
        let reason = if !c.scope.contains(&link) {
            "scope"
        } else if depth > max_depth {
            "depth"
        } else {
            frontier.add(&link, depth);
            continue;
        };
        frontier.add_done(&link, depth);
        c.stats
            .record(link.host_str().unwrap_or(""), false, 0, Some(reason));
        let detail = format!("linked from {uri}");
        send(
            out,
            SourceEvent::Skip(Skip {
                uri: link.to_string(),
                reason,
                detail,
                checkpoint: frontier.checkpoint(),
            }),
        )
        .await?;
    }
    frontier.mark_done(next.idx, v.fetched, v.validators);
    let host = uri.host_str().unwrap_or("").to_owned();
    let event = match v.outcome {
        Outcome::Page(p) => {
            c.stats.record(&host, v.fetched, v.bytes, None);
            SourceEvent::Item(RawItem {
                uri: uri.to_string(),
                source: "web",
                fetched_at_micros: masa_record::now_micros(),
                http_status: Some(i32::from(p.status)),
                content_type: Some(p.content_type),
                title: p.title,
                body: p.text.into_bytes(),
                consent: p.consent,
                licence: p.licence,
                checkpoint: frontier.checkpoint(),
            })
        }
        Outcome::Skip { reason, detail } => {
            c.stats.record(&host, v.fetched, v.bytes, Some(reason));
            SourceEvent::Skip(Skip {
                uri: uri.to_string(),
                reason,
                detail,
                checkpoint: frontier.checkpoint(),
            })
        }
    };
    send(out, event).await
}

/// Queues the pages listed by each seed origin's sitemaps: those named in robots.txt, or
/// `/sitemap.xml`. Indexes are followed; gzipped files are inflated.
async fn discover_sitemaps(ctx: &Ctx, seeds: &[Url], frontier: &mut Frontier) {
    let mut todo: std::collections::VecDeque<(Url, usize)> = Default::default();
    let mut origins_done = std::collections::HashSet::new();
    for seed in seeds {
        if !origins_done.insert(super::origin::origin(seed)) {
            continue;
        }
        let robots = ctx
            .origins
            .robots
            .get(&super::origin::origin(seed), || {
                super::origin::RobotsTxt::fetch(&ctx.http, seed, &ctx.agents)
            })
            .await;
        let listed: Vec<Url> = robots
            .sitemaps()
            .iter()
            // Relative locations are a common mistake; read them against the site.
            .filter_map(|s| seed.join(s.trim()).ok())
            .collect();
        if listed.is_empty() {
            if let Ok(u) = seed.join("/sitemap.xml") {
                todo.push_back((u, 0));
            }
        } else {
            todo.extend(listed.into_iter().map(|u| (u, 0)));
        }
    }
    let mut read = std::collections::HashSet::new();
    while let Some((url, nesting)) = todo.pop_front() {
        if read.len() >= MAX_SITEMAPS || !read.insert(url.clone()) {
            continue;
        }
        let resp = ctx.http.get(&url, &[], Accept::if_success).await;
        let body = match resp {
            Ok(r) if (200..300).contains(&r.status) => r.body,
            Ok(r) => {
                tracing::debug!(url = %url, status = r.status, "no sitemap");
                continue;
            }
            Err(e) => {
                tracing::warn!(url = %url, error = %e.detail(), "sitemap unreachable");
                continue;
            }
        };
        let parsed = match sitemap::parse(&body, MAX_SITEMAP_BYTES) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(url = %url, error = %e, "sitemap ignored");
                continue;
            }
        };
        for p in parsed.pages {
            if let Some(u) = url.join(p.loc.trim()).ok().and_then(|u| normalize(&u))
                && ctx.scope.contains(&u)
            {
                frontier.add(&u, 1);
            }
        }
        if nesting < MAX_SITEMAP_NESTING {
            for s in parsed.sitemaps {
                if let Ok(u) = url.join(s.loc.trim()) {
                    todo.push_back((u, nesting + 1));
                }
            }
        }
    }
}

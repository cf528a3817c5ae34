//! `feed`: RSS 2.0 and Atom feeds (parsed by `feed-rs`). Each entry is followed to its page
//! and visited with the web connector's checks (robots.txt, TDMRep, noai and robots meta,
//! `X-Robots-Tag`), or, with `follow = false`, recorded from the feed itself under the
//! feed's own robots.txt verdict, TDMRep and headers. Either way the permission recorded is
//! the publisher's signals, as the web connector records them. No credentials.
//!
//! Polling: every feed is fetched once per run, with the previous run's `ETag` and
//! `Last-Modified` (a 304 is an `unchanged` skip). An entry already seen (by guid or link)
//! in an earlier run is not fetched again. A feed that does not parse fails the run before
//! any event, naming the feed.
//!
//! Checkpoint: `{v, feeds: {url: {etag, last_modified, seen}}, queue: [...]}`: per-feed
//! state and the events still to emit, as polled when the run began; a resumed run works
//! through the queue without polling again, and a new run polls with the final one.

use crate::web::visit::{self, Ctx, Document, Outcome};
use crate::web::{PageFetch, WebConnector, urls};
use crate::{BuildContext, Connector, ConnectorError, ItemSender, Skip, SourceEvent};
use masa_record::{Consent, RawItem};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use url::Url;

const KIND: &str = "feed";
/// Guids and links remembered per feed; the oldest are forgotten first.
const MAX_SEEN: usize = 5000;
/// The largest feed document read.
const MAX_FEED_BYTES: usize = 20 << 20;

/// A feed source: one or several feed URLs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// RSS or Atom feed URLs (http or https).
    pub feeds: Vec<String>,
    /// Fetch each entry's page (default); `false` records the entry's content from the feed.
    #[serde(default = "yes")]
    pub follow: bool,
    /// New entries taken from each feed per run, in feed order; the rest wait for the
    /// next run.
    #[serde(default)]
    pub max_entries_per_feed: Option<usize>,
    /// How pages and feeds are fetched (the web connector's options).
    #[serde(default)]
    pub fetch: PageFetch,
}

fn yes() -> bool {
    true
}

fn config_err(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Config {
        kind: KIND,
        message: message.into(),
    }
}

impl FeedConfig {
    pub fn build(&self, ctx: &BuildContext) -> Result<FeedConnector, ConnectorError> {
        if self.feeds.is_empty() {
            return Err(config_err(
                "no feed given: `feeds = [\"https://example.org/feed.xml\"]`",
            ));
        }
        if self.max_entries_per_feed == Some(0) {
            return Err(config_err(
                "max_entries_per_feed = 0 would read nothing; leave it out for no limit",
            ));
        }
        let crawler = self.fetch.crawler(KIND, self.feeds.clone(), ctx)?;
        let feeds: Vec<Url> = crawler.seeds().to_vec();
        let mut unique = HashSet::new();
        if let Some(dup) = feeds.iter().find(|f| !unique.insert(f.as_str())) {
            return Err(config_err(format!("feed {dup} is listed twice")));
        }
        Ok(FeedConnector {
            feeds,
            follow: self.follow,
            max_entries: self.max_entries_per_feed.unwrap_or(usize::MAX),
            crawler,
            previous: None,
        })
    }
}

/// What the connector remembers of one feed between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Guids and links of the entries taken, oldest first.
    #[serde(default)]
    pub seen: VecDeque<String>,
}

/// An event still to emit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum Pending {
    /// Visit the entry's page.
    Page {
        feed: String,
        keys: Vec<String>,
        link: String,
        title: Option<String>,
    },
    /// Record the entry's content from the feed, with the feed's consent.
    Content {
        feed: String,
        uri: String,
        entry: Box<Entry>,
        consent: Box<Consent>,
        licence: String,
    },
    Skip {
        uri: String,
        reason: String,
        detail: String,
    },
}

/// The checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    v: u32,
    feeds: BTreeMap<String, FeedState>,
    queue: VecDeque<Pending>,
}

const VERSION: u32 = 1;

impl State {
    fn from_value(v: serde_json::Value) -> Result<State, String> {
        let s: State = serde_json::from_value(v).map_err(|e| e.to_string())?;
        if s.v != VERSION {
            return Err(format!(
                "checkpoint version {} (this build reads {VERSION})",
                s.v
            ));
        }
        Ok(s)
    }

    fn checkpoint(&self) -> masa_record::Checkpoint {
        serde_json::to_value(self)
            .expect("the feed state serializes")
            .into()
    }
}

/// One feed entry, as far as this connector needs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The guid or Atom id (feed-rs derives one from the link and title when absent).
    pub id: String,
    /// The entry's page, resolved against the feed URL.
    pub link: Option<String>,
    pub title: Option<String>,
    /// Content, or else the summary.
    pub text: String,
    pub html: bool,
    pub authors: Vec<String>,
    pub rights: Option<String>,
}

/// What a feed document holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub rights: Option<String>,
    pub entries: Vec<Entry>,
}

/// Parses an RSS or Atom document fetched from `url`. An HTML page or anything else that
/// is not a feed is an error saying so.
pub fn parse_feed(body: &[u8], url: &Url) -> Result<ParsedFeed, String> {
    let head: String = String::from_utf8_lossy(&body[..body.len().min(512)])
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    if head.is_empty() {
        return Err("the answer is empty, not a feed".into());
    }
    if head.starts_with("<!doctype html") || head.starts_with("<html") {
        return Err("an HTML page, not an RSS or Atom feed".into());
    }
    let feed = feed_rs::parser::Builder::new()
        .base_uri(Some(url.as_str()))
        .build()
        .parse(body)
        .map_err(|e| format!("not an RSS or Atom feed: {e}"))?;
    let entries = feed
        .entries
        .into_iter()
        .map(|e| {
            let link = e
                .links
                .iter()
                .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                .or(e.links.first())
                .and_then(|l| url.join(l.href.trim()).ok())
                .and_then(|u| urls::normalize(&u))
                .map(String::from);
            let (text, html) = match (
                e.content.and_then(|c| c.body.map(|b| (b, c.content_type))),
                e.summary,
            ) {
                (Some((body, ct)), _) => (body, ct.as_str().contains("html")),
                (None, Some(s)) => (s.content, s.content_type.as_str().contains("html")),
                (None, None) => (String::new(), false),
            };
            Entry {
                id: e.id,
                link,
                title: e.title.map(|t| t.content.trim().to_owned()),
                text,
                html,
                authors: e.authors.into_iter().map(|p| p.name).collect(),
                rights: e.rights.map(|r| r.content),
            }
        })
        .collect();
    Ok(ParsedFeed {
        title: feed.title.map(|t| t.content.trim().to_owned()),
        rights: feed.rights.map(|r| r.content.trim().to_owned()),
        entries,
    })
}

/// Whose text an entry is: the feed's stated rights, or its authors', or the publisher's.
fn licence(entry: &Entry, feed: &ParsedFeed, feed_url: &Url) -> String {
    if let Some(r) = entry.rights.as_ref().or(feed.rights.as_ref()) {
        return format!("{r} ({feed_url})");
    }
    let whose = if entry.authors.is_empty() {
        feed.title
            .clone()
            .unwrap_or_else(|| feed_url.host_str().unwrap_or("").to_owned())
    } else {
        entry.authors.join(", ")
    };
    format!("publisher's ({whose}; {feed_url})")
}

/// Skip reasons are counted by name, so they are static; a checkpoint stores them as text.
fn static_reason(s: &str) -> &'static str {
    const KNOWN: [&str; 10] = [
        "robots",
        "tdm",
        "noai",
        "noindex",
        "unchanged",
        "feed:empty",
        "feed:nothing_new",
        "feed:no_link",
        "feed:empty_entry",
        "duplicate",
    ];
    KNOWN.into_iter().find(|k| *k == s).unwrap_or("feed:other")
}

pub struct FeedConnector {
    feeds: Vec<Url>,
    follow: bool,
    max_entries: usize,
    crawler: WebConnector,
    previous: Option<State>,
}

fn source_err(feed: &Url, what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Source {
        kind: KIND,
        message: format!("feed {feed}: {what}"),
    }
}

impl FeedConnector {
    /// Polls every feed, in config order, into the run's queue.
    async fn poll(&self, ctx: &Ctx, mut state: State) -> Result<State, ConnectorError> {
        for feed in &self.feeds {
            let mut fs = state.feeds.remove(feed.as_str()).unwrap_or_default();
            let doc = visit::fetch_document(ctx, feed).await.map_err(|e| {
                let what = match e.status {
                    Some(401 | 403) => format!(
                        "{}; the feed is not public (this connector sends no credentials)",
                        e.detail
                    ),
                    Some(404 | 410) => format!("{}; check the feed URL", e.detail),
                    _ => format!("{}; try again later", e.detail),
                };
                source_err(feed, what)
            })?;
            let skip = |reason: &str, detail: String| Pending::Skip {
                uri: feed.to_string(),
                reason: reason.to_owned(),
                detail,
            };
            let (url, verdict, resp) = match doc {
                Document::Refused { detail } => {
                    state.queue.push_back(skip("robots", detail));
                    state.feeds.insert(feed.to_string(), fs);
                    continue;
                }
                Document::NotModified => {
                    let detail = format!("{feed}: not modified since the last poll");
                    state.queue.push_back(skip("unchanged", detail));
                    state.feeds.insert(feed.to_string(), fs);
                    continue;
                }
                Document::Fetched { url, verdict, resp } => (url, verdict, resp),
            };
            if resp.body.len() > MAX_FEED_BYTES {
                return Err(source_err(
                    feed,
                    format!("over {MAX_FEED_BYTES} bytes; is it a feed?"),
                ));
            }
            let parsed = parse_feed(&resp.body, &url)
                .map_err(|e| source_err(feed, format!("{e}; check the feed URL")))?;
            fs.etag = resp.header("etag").map(str::to_owned);
            fs.last_modified = resp.header("last-modified").map(str::to_owned);
            // Consent for content taken from the feed itself: the feed's own signals.
            let feed_consent = if self.follow {
                None
            } else {
                Some(visit::document_consent(ctx, &url, &verdict, &resp).await)
            };
            let seen: HashSet<String> = fs.seen.iter().cloned().collect();
            let mut taken = 0usize;
            let mut batch_seen = HashSet::new();
            for e in &parsed.entries {
                let mut keys = vec![e.id.clone()];
                keys.extend(e.link.clone());
                if keys
                    .iter()
                    .any(|k| seen.contains(k) || batch_seen.contains(k))
                {
                    continue;
                }
                if taken >= self.max_entries {
                    break;
                }
                taken += 1;
                batch_seen.extend(keys.iter().cloned());
                fs.seen.extend(keys.iter().cloned());
                let uri = e.link.clone().unwrap_or_else(|| format!("{url}#{}", e.id));
                let pending = match (&feed_consent, &e.link) {
                    (None, None) => Pending::Skip {
                        uri,
                        reason: "feed:no_link".into(),
                        detail: format!("entry {:?} of {feed} has no link to follow", e.id),
                    },
                    (None, Some(link)) => Pending::Page {
                        feed: feed.to_string(),
                        keys,
                        link: link.clone(),
                        title: e.title.clone(),
                    },
                    (Some(Err(refusal)), _) => Pending::Skip {
                        uri,
                        reason: refusal.reason.to_owned(),
                        detail: format!("{url}: {}", refusal.detail),
                    },
                    (Some(Ok(_)), _) if e.text.trim().is_empty() => Pending::Skip {
                        uri,
                        reason: "feed:empty_entry".into(),
                        detail: format!("entry {:?} of {feed} has no content or summary", e.id),
                    },
                    (Some(Ok(consent)), _) => Pending::Content {
                        feed: feed.to_string(),
                        uri,
                        entry: Box::new(e.clone()),
                        consent: Box::new(consent.clone()),
                        licence: licence(e, &parsed, &url),
                    },
                };
                state.queue.push_back(pending);
            }
            while fs.seen.len() > MAX_SEEN {
                fs.seen.pop_front();
            }
            if taken == 0 {
                let (reason, detail) = if parsed.entries.is_empty() {
                    ("feed:empty", format!("{feed}: the feed has no entries"))
                } else {
                    (
                        "feed:nothing_new",
                        format!("{feed}: every entry was taken by an earlier run"),
                    )
                };
                state.queue.push_back(skip(reason, detail));
            }
            state.feeds.insert(feed.to_string(), fs);
        }
        Ok(state)
    }

    /// The event for one pending entry; `state` is the position after it.
    async fn event(&self, ctx: &Ctx, p: Pending, state: &mut State) -> SourceEvent {
        match p {
            Pending::Skip {
                uri,
                reason,
                detail,
            } => SourceEvent::Skip(Skip {
                uri,
                reason: static_reason(&reason),
                detail,
                checkpoint: state.checkpoint(),
            }),
            Pending::Content {
                uri,
                entry,
                consent,
                licence,
                ..
            } => SourceEvent::Item(RawItem {
                uri,
                source: KIND,
                fetched_at_micros: masa_record::now_micros(),
                http_status: Some(200),
                content_type: Some(
                    if entry.html {
                        "text/html"
                    } else {
                        "text/plain"
                    }
                    .into(),
                ),
                title: entry.title,
                body: entry.text.into_bytes(),
                consent: *consent,
                licence: Some(licence),
                checkpoint: state.checkpoint(),
            }),
            Pending::Page {
                feed,
                keys,
                link,
                title,
            } => {
                let start = Url::parse(&link).expect("queued links were parsed");
                let v = visit::visit_url(ctx, &start).await;
                let uri = v.redirected_to.as_ref().unwrap_or(&start).to_string();
                match v.outcome {
                    Outcome::Page(p) => {
                        let host = start.host_str().unwrap_or("").to_owned();
                        SourceEvent::Item(RawItem {
                            uri: uri.clone(),
                            source: KIND,
                            fetched_at_micros: masa_record::now_micros(),
                            http_status: Some(i32::from(p.status)),
                            content_type: Some(p.content_type),
                            title: p.title.or(title),
                            body: p.text.into_bytes(),
                            consent: p.consent,
                            licence: Some(p.licence.map_or_else(
                                || format!("publisher's ({host}; {uri})"),
                                |l| format!("{l} ({uri})"),
                            )),
                            checkpoint: state.checkpoint(),
                        })
                    }
                    Outcome::Skip { reason, detail } => {
                        // A failed fetch is tried again by the next run.
                        if reason.starts_with("error:")
                            && let Some(fs) = state.feeds.get_mut(&feed)
                        {
                            fs.seen.retain(|k| !keys.contains(k));
                        }
                        SourceEvent::Skip(Skip {
                            uri,
                            reason,
                            detail,
                            checkpoint: state.checkpoint(),
                        })
                    }
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Connector for FeedConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn source_id(&self) -> String {
        let mut feeds: Vec<&str> = self.feeds.iter().map(Url::as_str).collect();
        feeds.sort_unstable();
        serde_json::json!({ "feeds": feeds, "follow": self.follow }).to_string()
    }

    /// Feed hosts must resolve, and to public addresses unless private ones are allowed.
    async fn check(&mut self) -> Result<(), ConnectorError> {
        self.crawler.check().await.map_err(|e| match e {
            ConnectorError::Config { message, .. } => config_err(message.replace("seed ", "feed ")),
            e => e,
        })
    }

    fn previous_run(&mut self, last: serde_json::Value) {
        match State::from_value(last) {
            Ok(s) => self.previous = Some(s),
            Err(e) => {
                tracing::warn!(connector = KIND, error = %e, "the previous run's feed state is unreadable; polling without it")
            }
        }
    }

    async fn run(
        self: Box<Self>,
        resume: Option<serde_json::Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError> {
        let resumed = match resume {
            Some(v) => Some(State::from_value(v).map_err(|e| {
                config_err(format!("cannot resume: unreadable feed checkpoint: {e}"))
            })?),
            None => None,
        };
        let previous: HashMap<String, crate::web::frontier::Validators> = self
            .previous
            .iter()
            .flat_map(|s| &s.feeds)
            .map(|(url, fs)| {
                let v = crate::web::frontier::Validators {
                    etag: fs.etag.clone(),
                    last_modified: fs.last_modified.clone(),
                };
                (url.clone(), v)
            })
            .collect();
        let ctx = self
            .crawler
            .visit_ctx(Arc::new(urls::Scope::anywhere()), previous);
        let mut state = match resumed {
            Some(s) => s,
            None => {
                let mut start = self.previous.clone().unwrap_or_default();
                start.v = VERSION;
                start.queue.clear();
                // Feeds no longer configured are forgotten.
                start
                    .feeds
                    .retain(|url, _| self.feeds.iter().any(|f| f.as_str() == url));
                self.poll(&ctx, start).await?
            }
        };
        while let Some(p) = state.queue.pop_front() {
            let e = self.event(&ctx, p, &mut state).await;
            out.send(e).await.map_err(|_| ConnectorError::Closed)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

//! `mastodon`: public posts of one Mastodon instance through its REST API, from the local
//! or federated public timeline (`GET /api/v1/timelines/public`, `local=true` for the
//! local one) or from a hashtag's timeline (`GET /api/v1/timelines/tag/:hashtag`). Post
//! content is HTML; the record's body is its plain text (paragraphs apart by a blank line,
//! `<br>` a line break, links as their full text), the content warning its title.
//!
//! Permission: each post is recorded with the contributor's declaration as consent evidence
//! and as its author's text (`author's (Mastodon account @user@instance)`, the instance being
//! the account's own: its `acct` domain, or its profile URL's for local accounts), and only when its
//! account opted in to being indexed. The exact rule, on the post's `account`:
//! - `indexable: true` records it; `indexable: false` skips it (`consent:not_indexable`);
//! - `indexable` absent or null (servers before 4.2): `noindex: true` skips it
//!   (`consent:noindex`), else `discoverable: true` records it, else (false, null, absent)
//!   it is skipped (`consent:not_discoverable`).
//!
//! Reblogs (`content:reblog`), posts that are not `public` (`consent:not_public`) and posts
//! with no text (`content:empty`, media only) are skipped and counted too.
//!
//! Paging and resuming: a first run walks back from the newest post, page by page with
//! `max_id`, following the answer's `Link: <...>; rel="next"` when it points at the same
//! instance (a `Link` without `next` ends the walk, as does an empty page). A run after a
//! completed one goes forward instead: `min_id` = the newest post the earlier run saw, then
//! `Link: rel="prev"`, each page emitted oldest first, so it records only what is new.
//! Every event's checkpoint is `{"direction": "older"|"newer", "at": "<post id>", "newest":
//! "<newest id seen>", "count": n}`: resuming asks for the posts beyond `at` in the run's
//! direction, so no post is repeated or lost, and `count` keeps `max_items` across resumes.
//!
//! Credentials: none by default; an access token of an account on the instance in
//! `MASA_MASTODON_TOKEN` (or the variable named by `token_env`; several comma-separated
//! tokens rotate) is sent as a bearer token, for instances that close their timelines to
//! anonymous readers. Rate limits come from `X-RateLimit-Remaining` / `X-RateLimit-Reset`
//! (an ISO 8601 time), handled by the `api` module.

use crate::api::{self, ApiClient, ApiError, ApiOptions, Auth};
use crate::{BuildContext, Connector, ConnectorError, ItemSender, Skip, SourceEvent};
use masa_record::{Consent, RawItem};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::cmp::Ordering;
use url::Url;

const KIND: &str = "mastodon";
pub const DEFAULT_TOKEN_ENV: &str = "MASA_MASTODON_TOKEN";
/// The API's largest page.
const MAX_PAGE: u32 = 40;

/// A Mastodon source: the `local` (default) or `federated` public timeline of `instance`,
/// or, with `hashtag`, that tag's timeline in the same scope.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MastodonConfig {
    /// The instance, `https://mastodon.social`.
    pub instance: String,
    /// `local` (the instance's own accounts) or `federated` (everything it knows).
    #[serde(default = "default_timeline")]
    pub timeline: String,
    /// A hashtag, with or without its `#`.
    #[serde(default)]
    pub hashtag: Option<String>,
    /// Posts per request, 1 to 40.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Stop after this many items and skips.
    #[serde(default)]
    pub max_items: Option<u64>,
    /// The environment variable holding the access token(s).
    #[serde(default = "default_token_env")]
    pub token_env: String,
}

fn default_timeline() -> String {
    "local".to_owned()
}

fn default_page_size() -> u32 {
    MAX_PAGE
}

fn default_token_env() -> String {
    DEFAULT_TOKEN_ENV.to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Back in time from the newest post, with `max_id`.
    Older,
    /// Forward from a known post, with `min_id`.
    Newer,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Older => "older",
            Direction::Newer => "newer",
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    direction: Direction,
    /// The last post emitted (`None`: start at the newest).
    at: Option<String>,
    newest: Option<String>,
    count: u64,
}

impl Position {
    fn to_value(&self) -> Value {
        json!({
            "direction": self.direction.name(),
            "at": self.at,
            "newest": self.newest,
            "count": self.count,
        })
    }

    fn from_value(v: &Value) -> Result<Position, String> {
        let direction = match v["direction"].as_str() {
            Some("older") => Direction::Older,
            Some("newer") => Direction::Newer,
            _ => return Err(format!("no direction in checkpoint {v}")),
        };
        let id = |k: &str| v[k].as_str().map(str::to_owned);
        Ok(Position {
            direction,
            at: id("at"),
            newest: id("newest"),
            count: v["count"].as_u64().unwrap_or(0),
        })
    }
}

pub struct MastodonConnector {
    /// The instance's root, ending in `/`.
    instance: Url,
    host: String,
    local: bool,
    hashtag: Option<String>,
    page_size: u32,
    max_items: Option<u64>,
    token_env: String,
    declaration: String,
    client: ApiClient,
    /// The newest post of the previous completed run.
    previous_newest: Option<String>,
}

fn config_err(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Config {
        kind: KIND,
        message: message.into(),
    }
}

impl MastodonConfig {
    pub fn build(&self, ctx: &BuildContext) -> Result<MastodonConnector, ConnectorError> {
        let mut instance = Url::parse(&self.instance)
            .map_err(|e| config_err(format!("instance {:?}: {e}", self.instance)))?;
        if !matches!(instance.scheme(), "http" | "https") {
            return Err(config_err(
                "instance must be an http:// or https:// URL, e.g. https://mastodon.social",
            ));
        }
        let host = instance
            .host_str()
            .ok_or_else(|| config_err("instance has no host"))?
            .to_owned();
        if instance.query().is_some() || !matches!(instance.path(), "" | "/") {
            return Err(config_err(format!(
                "instance {:?}: give the instance's root (https://{host}), not a page of it",
                self.instance
            )));
        }
        instance.set_path("/");
        let local = match self.timeline.as_str() {
            "local" => true,
            "federated" => false,
            other => {
                return Err(config_err(format!(
                    "unknown timeline {other:?}: use \"local\" or \"federated\""
                )));
            }
        };
        let hashtag = match &self.hashtag {
            None => None,
            Some(t) => {
                let t = t.trim().trim_start_matches('#');
                if t.is_empty() || !t.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    return Err(config_err(format!(
                        "hashtag {:?}: letters, digits and _ only, e.g. \"rustlang\"",
                        self.hashtag.as_deref().unwrap_or_default()
                    )));
                }
                Some(t.to_owned())
            }
        };
        if !(1..=MAX_PAGE).contains(&self.page_size) {
            return Err(config_err(format!(
                "page_size {} is outside 1..={MAX_PAGE}",
                self.page_size
            )));
        }
        let keys = api::keys(ctx, &self.token_env);
        let client =
            ApiClient::new(ApiOptions::default(), Auth::Bearer, keys).map_err(config_err)?;
        Ok(MastodonConnector {
            instance,
            host,
            local,
            hashtag,
            page_size: self.page_size,
            max_items: self.max_items,
            token_env: self.token_env.clone(),
            declaration: ctx.declaration.clone(),
            client,
            previous_newest: None,
        })
    }
}

/// Mastodon ids are decimal strings of growing value; compared as numbers (by length
/// first), not as text.
fn cmp_id(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Why the post's account did not opt in to being indexed, if it did not (the rule of the
/// module doc).
fn not_opted_in(account: &Value) -> Option<&'static str> {
    match account["indexable"].as_bool() {
        Some(true) => None,
        Some(false) => Some("consent:not_indexable"),
        None if account["noindex"].as_bool() == Some(true) => Some("consent:noindex"),
        None if account["discoverable"].as_bool() == Some(true) => None,
        None => Some("consent:not_discoverable"),
    }
}

/// Post HTML as plain text: paragraphs apart by a blank line, `<br>` a line break,
/// everything else its text (Mastodon hides the middle of long links in
/// `<span class="invisible">`, which is kept: the full link is the text).
pub(crate) fn plain(html: &str) -> String {
    fn walk(el: scraper::ElementRef<'_>, out: &mut String) {
        for child in el.children() {
            match child.value() {
                scraper::Node::Text(t) => out.push_str(t),
                scraper::Node::Element(e) => {
                    if e.name() == "br" {
                        out.push('\n');
                        continue;
                    }
                    if let Some(inner) = scraper::ElementRef::wrap(child) {
                        walk(inner, out);
                    }
                    if matches!(e.name(), "p" | "blockquote" | "li" | "pre") {
                        out.push_str("\n\n");
                    }
                }
                _ => {}
            }
        }
    }
    let fragment = scraper::Html::parse_fragment(html);
    let mut raw = String::new();
    walk(fragment.root_element(), &mut raw);
    let mut out = String::new();
    let mut blank = 0;
    for line in raw.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

impl MastodonConnector {
    fn timeline_url(&self, direction: Direction, at: Option<&str>, limit: u32) -> Url {
        let mut url = self.instance.clone();
        {
            let mut path = url.path_segments_mut().expect("an http URL has a path");
            path.pop_if_empty().extend(["api", "v1", "timelines"]);
            match &self.hashtag {
                Some(tag) => path.extend(["tag", tag.as_str()]),
                None => path.push("public"),
            };
        }
        {
            let mut q = url.query_pairs_mut();
            if self.local {
                q.append_pair("local", "true");
            }
            q.append_pair("limit", &limit.to_string());
            if let Some(at) = at {
                let key = match direction {
                    Direction::Older => "max_id",
                    Direction::Newer => "min_id",
                };
                q.append_pair(key, at);
            }
        }
        url
    }

    fn api_err(&self, e: ApiError) -> ConnectorError {
        let message = match &e {
            ApiError::Unauthorized { .. } => format!(
                "{e}; put an access token (read scope) of an account on {} in {}",
                self.host, self.token_env
            ),
            _ => e.to_string(),
        };
        ConnectorError::Source {
            kind: KIND,
            message,
        }
    }

    fn source_err(&self, url: &Url, what: &str) -> ConnectorError {
        ConnectorError::Source {
            kind: KIND,
            message: format!("{url}: {what}"),
        }
    }

    /// One page of the timeline, with where the server says the next one is.
    async fn page(&self, url: &Url) -> Result<(Vec<Value>, api::Answer), ConnectorError> {
        let answer = self
            .client
            .get(url, "application/json")
            .await
            .map_err(|e| self.api_err(e))?
            .ok_or_else(|| {
                self.source_err(
                    url,
                    "no such timeline (404); check `instance` and `hashtag`",
                )
            })?;
        let json = answer.json().map_err(|e| self.api_err(e))?;
        let statuses = json.as_array().cloned().ok_or_else(|| {
            self.source_err(
                url,
                "not a list of posts; check `instance` points at a Mastodon server",
            )
        })?;
        Ok((statuses, answer))
    }

    /// The next page the server's `Link` header names, when it names one on this instance;
    /// `Err(())` when it has a `Link` header saying there is no next page.
    fn linked(&self, answer: &api::Answer, direction: Direction) -> Result<Option<Url>, ()> {
        if !answer.headers.contains_key(reqwest::header::LINK) {
            return Ok(None);
        }
        let rel = match direction {
            Direction::Older => "next",
            Direction::Newer => "prev",
        };
        let Some(target) = api::link(&answer.headers, rel) else {
            return Err(());
        };
        // The token goes only to the instance itself.
        Ok(self
            .instance
            .join(&target)
            .ok()
            .filter(|u| u.origin() == self.instance.origin()))
    }

    /// The event for one post, with `checkpoint` after it.
    fn event(&self, status: &Value, checkpoint: Value) -> SourceEvent {
        let uri = status["url"]
            .as_str()
            .or(status["uri"].as_str())
            .unwrap_or_default()
            .to_owned();
        let skip = |reason: &'static str, detail: String| {
            SourceEvent::Skip(Skip {
                uri: uri.clone(),
                reason,
                detail,
                checkpoint: checkpoint.clone().into(),
            })
        };
        let account = &status["account"];
        let acct = account["acct"].as_str().unwrap_or_default();
        if !status["reblog"].is_null() {
            return skip(
                "content:reblog",
                format!("a reblog by @{acct}; the original is recorded where it appears"),
            );
        }
        if status["visibility"].as_str().is_some_and(|v| v != "public") {
            return skip(
                "consent:not_public",
                format!("visibility {}", status["visibility"]),
            );
        }
        if let Some(reason) = not_opted_in(account) {
            return skip(
                reason,
                format!(
                    "@{acct}: indexable {}, discoverable {}, noindex {}",
                    account["indexable"], account["discoverable"], account["noindex"]
                ),
            );
        }
        let body = status["content"].as_str().map(plain).unwrap_or_default();
        if body.is_empty() {
            return skip("content:empty", "no text (media only)".to_owned());
        }
        // A local account's acct has no domain: the one of its profile URL, else the API's.
        let handle = if acct.contains('@') {
            format!("@{acct}")
        } else {
            let domain = account["url"]
                .as_str()
                .and_then(|u| Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| self.host.clone());
            format!("@{acct}@{domain}")
        };
        let title = status["spoiler_text"]
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned);
        SourceEvent::Item(RawItem {
            uri,
            source: KIND,
            fetched_at_micros: masa_record::now_micros(),
            http_status: Some(200),
            content_type: Some("text/plain".into()),
            title,
            body: body.into_bytes(),
            consent: Consent::declared(self.declaration.clone()),
            // A post is its author's; Mastodon grants no licence to reuse it.
            licence: Some(format!("author's (Mastodon account {handle})")),
            checkpoint: checkpoint.into(),
        })
    }
}

#[async_trait::async_trait]
impl Connector for MastodonConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn source_id(&self) -> String {
        let scope = if self.local { "local" } else { "federated" };
        match &self.hashtag {
            Some(t) => format!("{}#tag:{}:{scope}", self.instance, t.to_lowercase()),
            None => format!("{}#public:{scope}", self.instance),
        }
    }

    /// One post of the timeline: the instance answers, the timeline exists, and it is open
    /// to us (with the token, if one is set).
    async fn check(&mut self) -> Result<(), ConnectorError> {
        let url = self.timeline_url(Direction::Older, None, 1);
        self.page(&url).await.map(|_| ())
    }

    fn previous_run(&mut self, last: Value) {
        match Position::from_value(&last) {
            Ok(p) => self.previous_newest = p.newest,
            Err(e) => {
                tracing::warn!(connector = KIND, error = %e, "the previous run's position is unreadable; reading from the newest post back")
            }
        }
    }

    async fn run(
        self: Box<Self>,
        resume: Option<Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError> {
        let mut pos = match &resume {
            Some(r) => Position::from_value(r).map_err(|e| ConnectorError::Source {
                kind: KIND,
                message: format!("cannot resume: {e}"),
            })?,
            None => match &self.previous_newest {
                Some(newest) => Position {
                    direction: Direction::Newer,
                    at: Some(newest.clone()),
                    newest: Some(newest.clone()),
                    count: 0,
                },
                None => Position {
                    direction: Direction::Older,
                    at: None,
                    newest: None,
                    count: 0,
                },
            },
        };
        let limit = self.max_items.unwrap_or(u64::MAX);
        let mut linked: Option<Url> = None;
        while pos.count < limit {
            let url = linked.take().unwrap_or_else(|| {
                self.timeline_url(pos.direction, pos.at.as_deref(), self.page_size)
            });
            let (mut statuses, answer) = self.page(&url).await?;
            let id_of = |s: &Value| s["id"].as_str().unwrap_or_default().to_owned();
            if let Some(bad) = statuses.iter().find(|s| id_of(s).is_empty()) {
                return Err(self.source_err(&url, &format!("a post without an id: {bad}")));
            }
            // Only posts beyond the position, in the run's order (the server sends newest
            // first); a server ignoring max_id/min_id cannot loop us.
            let beyond = |id: &str| match (&pos.at, pos.direction) {
                (None, _) => true,
                (Some(at), Direction::Older) => cmp_id(id, at) == Ordering::Less,
                (Some(at), Direction::Newer) => cmp_id(id, at) == Ordering::Greater,
            };
            statuses.retain(|s| beyond(&id_of(s)));
            statuses.sort_by(|a, b| {
                let o = cmp_id(&id_of(a), &id_of(b));
                match pos.direction {
                    Direction::Older => o.reverse(),
                    Direction::Newer => o,
                }
            });
            if statuses.is_empty() {
                break;
            }
            for status in &statuses {
                if pos.count >= limit {
                    break;
                }
                let id = id_of(status);
                if pos
                    .newest
                    .as_deref()
                    .is_none_or(|n| cmp_id(&id, n) == Ordering::Greater)
                {
                    pos.newest = Some(id.clone());
                }
                pos.at = Some(id);
                pos.count += 1;
                out.send(self.event(status, pos.to_value()))
                    .await
                    .map_err(|_| ConnectorError::Closed)?;
            }
            match self.linked(&answer, pos.direction) {
                Ok(next) => linked = next,
                Err(()) => break,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

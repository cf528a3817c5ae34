//! `hackernews`: stories and comments from Hacker News's public API (the Firebase one:
//! `item/<id>.json`, `maxitem.json`, `topstories.json` and the other lists), by id range or
//! from a list, with each story's comments when asked. Deleted and dead items are skipped
//! and counted, never recorded. The API needs no key; its rules (backoff, rate limits,
//! JSON checked to be JSON) are the `api` module's.
//!
//! Positions: an id range resumes at the id after the last event; a list keeps its
//! remaining queue (the list as read when the run began, with comments pushed in front of
//! it depth first), so a killed run neither repeats nor loses an item even as the live list
//! moves.

use crate::api::{ApiClient, ApiOptions, Auth};
use crate::{BuildContext, Connector, ConnectorError, ItemSender, Skip, SourceEvent};
use masa_record::{Consent, RawItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use url::Url;

const KIND: &str = "hackernews";
pub const DEFAULT_BASE_URL: &str = "https://hacker-news.firebaseio.com/v0";
const LISTS: [&str; 6] = ["top", "new", "best", "ask", "show", "job"];

/// A Hacker News source: `list` (top, new, best, ask, show, job), or an id range
/// `from_id`..=`to_id` (`to_id` defaults to the newest item when the run starts).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HackerNewsConfig {
    #[serde(default = "default_base")]
    pub base_url: String,
    #[serde(default)]
    pub list: Option<String>,
    #[serde(default)]
    pub from_id: Option<u64>,
    #[serde(default)]
    pub to_id: Option<u64>,
    /// With a list: each story's comments too, depth first.
    #[serde(default)]
    pub comments: bool,
    /// Stop after this many items and skips.
    #[serde(default)]
    pub max_items: Option<u64>,
}

fn default_base() -> String {
    DEFAULT_BASE_URL.to_owned()
}

enum Mode {
    List(String),
    Range { from: u64, to: Option<u64> },
}

pub struct HackerNewsConnector {
    base: Url,
    mode: Mode,
    comments: bool,
    max_items: Option<u64>,
    declaration: String,
    client: ApiClient,
    /// The range's end, read by `check` when not configured.
    newest: Option<u64>,
}

fn config_err(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Config {
        kind: KIND,
        message: message.into(),
    }
}

fn api_err(e: crate::api::ApiError) -> ConnectorError {
    ConnectorError::Source {
        kind: KIND,
        message: e.to_string(),
    }
}

impl HackerNewsConfig {
    pub fn build(&self, ctx: &BuildContext) -> Result<HackerNewsConnector, ConnectorError> {
        let mut base = Url::parse(self.base_url.trim_end_matches('/'))
            .map_err(|e| config_err(format!("base_url {:?}: {e}", self.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(config_err("base_url must be http:// or https://"));
        }
        // Joined paths go under it.
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mode = match (&self.list, self.from_id) {
            (Some(_), Some(_)) => {
                return Err(config_err(
                    "give either `list` or `from_id` (with an optional `to_id`), not both",
                ));
            }
            (Some(l), None) if LISTS.contains(&l.as_str()) => Mode::List(l.clone()),
            (Some(l), None) => {
                return Err(config_err(format!(
                    "unknown list {l:?}: use one of {}",
                    LISTS.join(", ")
                )));
            }
            (None, Some(from)) => {
                if self.to_id.is_some_and(|to| to < from) {
                    return Err(config_err("to_id is below from_id"));
                }
                Mode::Range {
                    from,
                    to: self.to_id,
                }
            }
            (None, None) => {
                return Err(config_err(
                    "say what to read: `list = \"top\"` (or new, best, ask, show, job), or `from_id = N`",
                ));
            }
        };
        if self.comments && matches!(mode, Mode::Range { .. }) {
            return Err(config_err(
                "`comments` goes with a list: an id range holds the comments in it already",
            ));
        }
        let client =
            ApiClient::new(ApiOptions::default(), Auth::Bearer, Vec::new()).map_err(config_err)?;
        Ok(HackerNewsConnector {
            base,
            mode,
            comments: self.comments,
            max_items: self.max_items,
            declaration: ctx.declaration.clone(),
            client,
            newest: None,
        })
    }
}

/// Hacker News text is HTML with `<p>` between paragraphs: plain text with blank lines.
fn plain(html: &str) -> String {
    let spaced = html.replace("<p>", "\n\n");
    let fragment = scraper::Html::parse_fragment(&spaced);
    fragment.root_element().text().collect::<String>()
}

impl HackerNewsConnector {
    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("a relative path joins")
    }

    async fn item(&self, id: u64) -> Result<Option<Value>, ConnectorError> {
        let v = self
            .client
            .get_json(&self.url(&format!("item/{id}.json")))
            .await
            .map_err(api_err)?;
        Ok(v.filter(|v| !v.is_null()))
    }

    /// The event for item `id` (fetched as `item`), with `checkpoint` after it.
    fn event(&self, id: u64, item: Option<&Value>, checkpoint: Value) -> SourceEvent {
        let uri = format!("https://news.ycombinator.com/item?id={id}");
        let skip = |reason: &'static str, detail: &str| {
            SourceEvent::Skip(Skip {
                uri: uri.clone(),
                reason,
                detail: detail.to_owned(),
                checkpoint: checkpoint.clone().into(),
            })
        };
        let Some(item) = item else {
            return skip("api:missing", "the API has no such item");
        };
        if item["deleted"].as_bool() == Some(true) {
            return skip("api:deleted", "deleted by its author");
        }
        if item["dead"].as_bool() == Some(true) {
            return skip("api:dead", "killed by moderators or flags");
        }
        let title = item["title"].as_str().map(str::to_owned);
        let text = item["text"].as_str().map(plain).unwrap_or_default();
        let body = match &title {
            Some(t) if text.is_empty() => t.clone(),
            Some(t) => format!("{t}\n\n{text}"),
            None => text,
        };
        if body.trim().is_empty() {
            return skip("api:empty", "no title or text");
        }
        let fetched = masa_record::now_micros();
        SourceEvent::Item(RawItem {
            uri,
            source: KIND,
            fetched_at_micros: fetched,
            http_status: Some(200),
            content_type: Some("text/plain".into()),
            title,
            body: body.into_bytes(),
            consent: Consent::declared(self.declaration.clone()),
            // Posts are their authors'; Hacker News grants no licence to reuse them.
            licence: item["by"]
                .as_str()
                .map(|by| format!("author's (Hacker News user {by})")),
            checkpoint: checkpoint.into(),
        })
    }
}

#[async_trait::async_trait]
impl Connector for HackerNewsConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn source_id(&self) -> String {
        let what = match &self.mode {
            Mode::List(l) if self.comments => format!("{l}stories+comments"),
            Mode::List(l) => format!("{l}stories"),
            Mode::Range { from, to } => format!(
                "items {from}-{}",
                to.map_or_else(|| "newest".to_owned(), |t| t.to_string())
            ),
        };
        format!("{}#{what}", self.base)
    }

    /// One cheap request: the newest item id, which also ends an open id range.
    async fn check(&mut self) -> Result<(), ConnectorError> {
        let max = self
            .client
            .get_json(&self.url("maxitem.json"))
            .await
            .map_err(api_err)?
            .and_then(|v| v.as_u64())
            .ok_or_else(|| ConnectorError::Source {
                kind: KIND,
                message: format!(
                    "{}: no item id in the answer; check base_url",
                    self.url("maxitem.json")
                ),
            })?;
        self.newest = Some(max);
        Ok(())
    }

    async fn run(
        self: Box<Self>,
        resume: Option<Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError> {
        let mut emitted = 0u64;
        let limit = self.max_items.unwrap_or(u64::MAX);
        match &self.mode {
            Mode::Range { from, to } => {
                let to = to.or(self.newest).unwrap_or(*from);
                let start = resume
                    .as_ref()
                    .and_then(|r| r["next_id"].as_u64())
                    .unwrap_or(*from);
                for id in start..=to {
                    if emitted >= limit {
                        break;
                    }
                    let item = self.item(id).await?;
                    let checkpoint = serde_json::json!({ "next_id": id + 1 });
                    out.send(self.event(id, item.as_ref(), checkpoint))
                        .await
                        .map_err(|_| ConnectorError::Closed)?;
                    emitted += 1;
                }
            }
            Mode::List(list) => {
                let mut queue: VecDeque<u64> = match resume.as_ref().map(|r| &r["queue"]) {
                    Some(Value::Array(q)) => q.iter().filter_map(Value::as_u64).collect(),
                    _ => {
                        let path = format!("{list}stories.json");
                        let ids = self
                            .client
                            .get_json(&self.url(&path))
                            .await
                            .map_err(api_err)?
                            .unwrap_or(Value::Null);
                        ids.as_array()
                            .ok_or_else(|| ConnectorError::Source {
                                kind: KIND,
                                message: format!(
                                    "{}: not a list of ids; check base_url",
                                    self.url(&path)
                                ),
                            })?
                            .iter()
                            .filter_map(Value::as_u64)
                            .collect()
                    }
                };
                while let Some(id) = queue.pop_front() {
                    if emitted >= limit {
                        break;
                    }
                    let item = self.item(id).await?;
                    if self.comments
                        && let Some(kids) = item.as_ref().and_then(|i| i["kids"].as_array())
                    {
                        for k in kids.iter().rev().filter_map(Value::as_u64) {
                            queue.push_front(k);
                        }
                    }
                    let checkpoint = serde_json::json!({ "queue": queue });
                    out.send(self.event(id, item.as_ref(), checkpoint))
                        .await
                        .map_err(|_| ConnectorError::Closed)?;
                    emitted += 1;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> BuildContext {
        BuildContext {
            declaration: "test".into(),
            credentials: Default::default(),
        }
    }

    fn config(toml_like: Value) -> Result<HackerNewsConnector, ConnectorError> {
        serde_json::from_value::<HackerNewsConfig>(toml_like)
            .unwrap()
            .build(&ctx())
    }

    #[test]
    fn a_config_says_what_to_read_and_only_once() {
        use serde_json::json;
        let err = |v: Value| match config(v) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        };
        assert!(err(json!({})).contains("say what to read"));
        assert!(err(json!({"list": "hot"})).contains("unknown list"));
        assert!(err(json!({"list": "top", "from_id": 3})).contains("not both"));
        assert!(err(json!({"from_id": 9, "to_id": 3})).contains("below"));
        assert!(err(json!({"from_id": 1, "comments": true})).contains("goes with a list"));
        assert!(err(json!({"list": "top", "base_url": "ftp://x"})).contains("http"));
        assert!(config(json!({"list": "ask", "comments": true})).is_ok());
    }

    #[test]
    fn hacker_news_html_becomes_plain_paragraphs() {
        assert_eq!(
            plain("First &amp; one.<p>Second <i>two</i>, <a href=\"x\">link</a>."),
            "First & one.\n\nSecond two, link."
        );
    }
}

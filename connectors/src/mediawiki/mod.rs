//! `mediawiki`: the pages of a MediaWiki site (Wikipedia, a Fandom wiki, a company wiki)
//! through its Action API (`api.php`), every page of a namespace (`generator=allpages`) or
//! the pages of one category (`generator=categorymembers`), each as plain text.
//!
//! Text: `prop=extracts&explaintext` (the TextExtracts extension), because the wiki itself
//! renders the page (templates expanded, markup gone) and strips it to plain text; the
//! alternative, `prop=revisions&rvprop=content&rvslots=main`, gives wikitext, which only a
//! full MediaWiki parser turns into text reliably. TextExtracts gives one whole-page extract
//! per answer, so each request asks for one page (`gaplimit=1`). A wiki without the
//! extension is a clear error, not empty records.
//!
//! Permission: the contributor's declaration is the consent evidence; the licence is the
//! wiki's own (`meta=siteinfo&siprop=rightsinfo`, read by `check`) with the attribution the
//! licence asks for: `Creative Commons Attribution-Share Alike 4.0 (Wikipedia contributors;
//! https://en.wikipedia.org/wiki/Ada_Lovelace)`.
//!
//! Politeness: every request sends `maxlag=5`; a `maxlag` error answer (HTTP 200 from
//! `api.php`, or 503) is waited out for its `Retry-After` and the request repeated.
//!
//! Paging and resuming: the API's continuation (the `continue` object of each answer, sent
//! back whole) is the position. Each event's checkpoint is `{"continue": {...} | null,
//! "skip": k, "done": bool, "count": n}`: the continuation of the answer holding the next
//! page, and how many pages of that answer were already emitted. A new run reads the wiki
//! again from the start (unchanged pages are exact duplicates, dropped by the pipeline).
//!
//! Credentials: none; public wikis are read anonymously.

use crate::api::{self, ApiClient, ApiOptions, Auth};
use crate::{BuildContext, Connector, ConnectorError, ItemSender, Skip, SourceEvent};
use masa_record::{Consent, RawItem};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::time::Duration;
use url::Url;

const KIND: &str = "mediawiki";
/// Seconds of replication lag above which the wiki should refuse us (its recommendation).
const MAXLAG: &str = "5";
/// The wait after a maxlag answer without `Retry-After` (the manual: at least 5 s).
const MAXLAG_PAUSE: Duration = Duration::from_secs(5);
/// Maxlag answers in a row before the run stops (it resumes from its checkpoint).
const MAXLAG_TRIES: u32 = 12;

/// A MediaWiki source: `api_url` (the wiki's `api.php`) and either a `category` or every
/// page of `namespace` (0, the articles, by default) from `from` on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaWikiConfig {
    /// `https://en.wikipedia.org/w/api.php`.
    pub api_url: String,
    /// `Category:Computer pioneers` (the `Category:` prefix is added when missing).
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub namespace: u32,
    /// With no category: the first title to read (alphabetical order).
    #[serde(default)]
    pub from: Option<String>,
    /// Stop after this many items and skips.
    #[serde(default)]
    pub max_items: Option<u64>,
}

enum Pages {
    All { from: Option<String> },
    Category(String),
}

/// The wiki's name and licence, from siteinfo.
#[derive(Debug, Clone)]
struct Site {
    name: String,
    licence: Option<String>,
}

pub struct MediaWikiConnector {
    api: Url,
    pages: Pages,
    namespace: u32,
    max_items: Option<u64>,
    declaration: String,
    client: ApiClient,
    site: Option<Site>,
}

/// Where a run stands: the continuation of the answer holding the next page, and how many
/// pages of that answer were emitted already.
#[derive(Debug, Clone, PartialEq)]
struct Position {
    cont: Option<Map<String, Value>>,
    skip: usize,
    done: bool,
    count: u64,
}

impl Position {
    fn to_value(&self) -> Value {
        json!({"continue": self.cont, "skip": self.skip, "done": self.done, "count": self.count})
    }

    fn from_value(v: &Value) -> Result<Position, String> {
        let cont = match &v["continue"] {
            Value::Null => None,
            Value::Object(m) => Some(m.clone()),
            other => return Err(format!("continue {other} is not an object")),
        };
        Ok(Position {
            cont,
            skip: v["skip"].as_u64().unwrap_or(0) as usize,
            done: v["done"].as_bool().unwrap_or(false),
            count: v["count"].as_u64().unwrap_or(0),
        })
    }
}

fn config_err(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Config {
        kind: KIND,
        message: message.into(),
    }
}

fn source_err(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Source {
        kind: KIND,
        message: message.into(),
    }
}

impl MediaWikiConfig {
    pub fn build(&self, ctx: &BuildContext) -> Result<MediaWikiConnector, ConnectorError> {
        let api = Url::parse(&self.api_url)
            .map_err(|e| config_err(format!("api_url {:?}: {e}", self.api_url)))?;
        if !matches!(api.scheme(), "http" | "https") || !api.path().ends_with("api.php") {
            return Err(config_err(format!(
                "api_url {:?}: point it at the wiki's api.php, e.g. https://en.wikipedia.org/w/api.php",
                self.api_url
            )));
        }
        if api.query().is_some() {
            return Err(config_err(
                "api_url takes no query; the connector adds its own parameters",
            ));
        }
        let pages = match (&self.category, &self.from) {
            (Some(_), Some(_)) => {
                return Err(config_err(
                    "`from` goes with every page of a namespace, not with a category",
                ));
            }
            (Some(c), None) => {
                let c = c.trim();
                if c.is_empty() || c.ends_with(':') {
                    return Err(config_err("category is empty"));
                }
                // Category names in other languages carry their own prefix ("Kategorie:").
                Pages::Category(if c.contains(':') {
                    c.to_owned()
                } else {
                    format!("Category:{c}")
                })
            }
            (None, from) => Pages::All { from: from.clone() },
        };
        let client =
            ApiClient::new(ApiOptions::default(), Auth::Bearer, Vec::new()).map_err(config_err)?;
        Ok(MediaWikiConnector {
            api,
            pages,
            namespace: self.namespace,
            max_items: self.max_items,
            declaration: ctx.declaration.clone(),
            client,
            site: None,
        })
    }
}

/// The site's name and licence from a siteinfo answer.
fn site_of(answer: &Value) -> Option<Site> {
    let q = &answer["query"];
    let name = q["general"]["sitename"].as_str()?.to_owned();
    let rights = &q["rightsinfo"];
    let text = rights["text"].as_str().map(str::trim).unwrap_or_default();
    let url = rights["url"].as_str().map(str::trim).unwrap_or_default();
    let licence = match (text.is_empty(), url.is_empty()) {
        (true, true) => None,
        (false, true) => Some(text.to_owned()),
        (true, false) => Some(url.to_owned()),
        (false, false) => Some(format!("{text} <{url}>")),
    };
    Some(Site { name, licence })
}

/// The record's licence: the wiki's licence with its attribution (page URL and
/// contributors).
fn licence(site: &Site, page_url: &str) -> String {
    let attribution = format!("{} contributors; {page_url}", site.name);
    match &site.licence {
        Some(l) => format!("{l} ({attribution})"),
        None => format!("not stated by the wiki ({attribution})"),
    }
}

/// Whether the answer's warnings say `prop=extracts` is unknown to the wiki.
fn lacks_extracts(answer: &Value) -> bool {
    fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Object(m) => m.values().for_each(|v| strings(v, out)),
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    strings(&answer["warnings"], &mut all);
    all.iter()
        .any(|w| w.contains("Unrecognized value") && w.contains("extracts"))
}

impl MediaWikiConnector {
    fn url(&self, params: &[(&str, String)]) -> Url {
        let mut url = self.api.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("action", "query")
                .append_pair("format", "json")
                .append_pair("formatversion", "2")
                .append_pair("maxlag", MAXLAG);
            for (k, v) in params {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// The request for the answer after continuation `cont`.
    fn pages_url(&self, cont: Option<&Map<String, Value>>) -> Url {
        let ns = self.namespace.to_string();
        let mut p: Vec<(&str, String)> = vec![
            ("prop", "extracts|info".into()),
            ("explaintext", "1".into()),
            ("exsectionformat", "plain".into()),
            ("exlimit", "1".into()),
            ("inprop", "url".into()),
        ];
        match &self.pages {
            Pages::All { from } => {
                p.extend([
                    ("generator", "allpages".into()),
                    ("gaplimit", "1".into()),
                    ("gapnamespace", ns),
                    ("gapfilterredir", "nonredirects".into()),
                ]);
                if let Some(f) = from {
                    p.push(("gapfrom", f.clone()));
                }
            }
            Pages::Category(c) => p.extend([
                ("generator", "categorymembers".into()),
                ("gcmtitle", c.clone()),
                ("gcmtype", "page".into()),
                ("gcmlimit", "1".into()),
                ("gcmnamespace", ns),
            ]),
        }
        if let Some(cont) = cont {
            for (k, v) in cont {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                p.push((k.as_str(), v));
            }
        }
        self.url(&p)
    }

    /// One API answer, waiting out `maxlag` answers; any other API error stops the run.
    async fn query(&self, url: &Url) -> Result<Value, ConnectorError> {
        for _ in 0..MAXLAG_TRIES {
            let answer = self
                .client
                .get(url, "application/json")
                .await
                .map_err(|e| source_err(e.to_string()))?
                .ok_or_else(|| {
                    source_err(format!("{url}: no api.php here (404); check api_url"))
                })?;
            let json = answer.json().map_err(|e| source_err(e.to_string()))?;
            let error = &json["error"];
            if error.is_null() {
                if !json.is_object() {
                    return Err(source_err(format!(
                        "{url}: not an API answer; check api_url points at api.php"
                    )));
                }
                return Ok(json);
            }
            let code = error["code"].as_str().unwrap_or("unknown");
            let info = error["info"].as_str().unwrap_or_default();
            if code != "maxlag" {
                return Err(source_err(format!(
                    "{url}: the wiki refused: {code}: {info}"
                )));
            }
            let wait = api::reset_after(&answer.headers).unwrap_or(MAXLAG_PAUSE);
            tracing::info!(connector = KIND, url = %url, wait_s = wait.as_secs(), info, "the wiki's database lags; waiting");
            tokio::time::sleep(wait).await;
        }
        Err(source_err(format!(
            "{url}: the wiki's database lagged more than {MAXLAG} s {MAXLAG_TRIES} times in a row; run again later, it resumes from its checkpoint"
        )))
    }

    async fn site(&self) -> Result<Site, ConnectorError> {
        let url = self.url(&[
            ("meta", "siteinfo".into()),
            ("siprop", "general|rightsinfo".into()),
        ]);
        let answer = self.query(&url).await?;
        site_of(&answer).ok_or_else(|| {
            source_err(format!(
                "{url}: no site name in the siteinfo answer; check api_url points at a MediaWiki api.php"
            ))
        })
    }

    /// The event for one page of an answer, with `checkpoint` after it.
    fn event(&self, site: &Site, page: &Value, checkpoint: Value) -> SourceEvent {
        let title = page["title"].as_str().unwrap_or_default().to_owned();
        let uri = page["canonicalurl"]
            .as_str()
            .or(page["fullurl"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let mut u = self.api.clone();
                u.set_path(&self.api.path().replace("api.php", "index.php"));
                u.query_pairs_mut().append_pair("title", &title);
                u.to_string()
            });
        let skip = |reason: &'static str, detail: String| {
            SourceEvent::Skip(Skip {
                uri: uri.clone(),
                reason,
                detail,
                checkpoint: checkpoint.clone().into(),
            })
        };
        // `"missing": true` (formatversion=2) or `"missing": ""` (formatversion=1).
        if page
            .get("missing")
            .is_some_and(|m| *m != Value::Bool(false))
        {
            return skip("api:missing", format!("{title}: no such page"));
        }
        if page.get("invalid").is_some() {
            return skip("api:invalid", format!("{title}: {}", page["invalidreason"]));
        }
        let text = page["extract"].as_str().map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return skip(
                "content:empty",
                format!("{title}: no text (only tables, images or templates)"),
            );
        }
        SourceEvent::Item(RawItem {
            licence: Some(licence(site, &uri)),
            uri,
            source: KIND,
            fetched_at_micros: masa_record::now_micros(),
            http_status: Some(200),
            content_type: Some("text/plain".into()),
            title: Some(title),
            body: text.as_bytes().to_vec(),
            consent: Consent::declared(self.declaration.clone()),
            checkpoint: checkpoint.into(),
        })
    }
}

#[async_trait::async_trait]
impl Connector for MediaWikiConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn source_id(&self) -> String {
        let what = match &self.pages {
            Pages::All { from: None } => format!("allpages:{}", self.namespace),
            Pages::All { from: Some(f) } => format!("allpages:{}:{f}", self.namespace),
            Pages::Category(c) => format!("category:{}:{c}", self.namespace),
        };
        format!("{}#{what}", self.api)
    }

    /// The siteinfo request: the wiki answers, and says its name and licence.
    async fn check(&mut self) -> Result<(), ConnectorError> {
        self.site = Some(self.site().await?);
        Ok(())
    }

    async fn run(
        self: Box<Self>,
        resume: Option<Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError> {
        let site = match &self.site {
            Some(s) => s.clone(),
            None => self.site().await?,
        };
        let mut pos = match &resume {
            Some(r) => {
                Position::from_value(r).map_err(|e| source_err(format!("cannot resume: {e}")))?
            }
            None => Position {
                cont: None,
                skip: 0,
                done: false,
                count: 0,
            },
        };
        let limit = self.max_items.unwrap_or(u64::MAX);
        while !pos.done && pos.count < limit {
            let url = self.pages_url(pos.cont.as_ref());
            let answer = self.query(&url).await?;
            if lacks_extracts(&answer) {
                return Err(source_err(format!(
                    "{url}: the wiki does not have the TextExtracts extension (prop=extracts), which this connector reads plain text with"
                )));
            }
            let next = match &answer["continue"] {
                Value::Object(m) => Some(m.clone()),
                _ => None,
            };
            let mut pages: Vec<&Value> = answer["query"]["pages"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            pages.sort_by(|a, b| a["title"].as_str().cmp(&b["title"].as_str()));
            let n = pages.len();
            for (i, page) in pages.iter().enumerate().skip(pos.skip) {
                if pos.count >= limit {
                    return Ok(());
                }
                pos.count += 1;
                if i + 1 < n {
                    pos.skip = i + 1;
                } else {
                    pos.skip = 0;
                    pos.done = next.is_none();
                    pos.cont = next.clone();
                }
                out.send(self.event(&site, page, pos.to_value()))
                    .await
                    .map_err(|_| ConnectorError::Closed)?;
            }
            if pos.skip >= n || n == 0 {
                // An answer with no pages left to emit (an empty one, or a resume at its
                // end) moves on by its own continuation.
                pos.skip = 0;
                pos.done = next.is_none();
                pos.cont = next;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

//! `arxiv`: titles and abstracts of arXiv papers through its OAI-PMH interface
//! (`ListRecords` with `metadataPrefix=arXiv`, optionally one `set` and a `from`/`until`
//! date range). Only metadata and abstracts are read: full text is not fetched (a
//! `full_text = true` is refused), so no paper body is taken whatever its licence.
//!
//! Permission: the contributor's declaration is the consent evidence, and each record's
//! `licence` names the paper's own licence from `<license>` with its URL and that the text
//! is its authors' ("CC BY 4.0 (http://creativecommons.org/licenses/by/4.0/; authors of
//! arXiv:2101.00001)"). A record without `<license>` is recorded as "arXiv non-exclusive
//! distribution licence, no reuse grant (no licence stated; ...)": papers that state no
//! licence were submitted under arXiv's distribution licence, which lets arXiv distribute
//! them and grants nobody else anything.
//!
//! Politeness: one request every `request_interval_secs` (3 s by default, as arXiv asks)
//! and one request at a time (so one connection); a 503 with `Retry-After`, OAI-PMH's flow
//! control, is waited out as the server says (the `api` module's rules). No credentials.
//!
//! Paging and resuming: the checkpoint is `{"token": <resumptionToken or null for the first
//! page>, "skip": <records of that page already emitted>}`, or `{"complete": true}` after
//! the last record. Resumption tokens expire; resuming from a stale one fails with a clear
//! message (`badResumptionToken`). Deleted records and records without metadata are skips.

mod oai;

pub use oai::{OaiAnswer, Page, Paper, Record, licence, paragraphs, parse};

use crate::api::{ApiClient, ApiOptions, Auth};
use crate::{BuildContext, Connector, ConnectorError, ItemSender, Skip, SourceEvent};
use masa_record::{Consent, RawItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use url::Url;

const KIND: &str = "arxiv";
pub const DEFAULT_BASE_URL: &str = "https://oaipmh.arxiv.org/oai";
const DEFAULT_INTERVAL_SECS: f64 = 3.0;

/// An arXiv OAI-PMH harvest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArxivConfig {
    #[serde(default = "default_base")]
    pub base_url: String,
    /// An OAI set (`cs`, `math`, `physics:hep-th`); all of arXiv when absent.
    #[serde(default)]
    pub set: Option<String>,
    /// First datestamp, `YYYY-MM-DD` (inclusive).
    #[serde(default)]
    pub from: Option<String>,
    /// Last datestamp, `YYYY-MM-DD` (inclusive).
    #[serde(default)]
    pub until: Option<String>,
    /// Seconds between two requests (arXiv asks for 3).
    #[serde(default = "default_interval")]
    pub request_interval_secs: f64,
    /// Not implemented: only abstracts are read.
    #[serde(default)]
    pub full_text: bool,
    /// Stop after this many items and skips.
    #[serde(default)]
    pub max_items: Option<u64>,
}

fn default_base() -> String {
    DEFAULT_BASE_URL.to_owned()
}

fn default_interval() -> f64 {
    DEFAULT_INTERVAL_SECS
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

/// `YYYY-MM-DD`, arXiv's datestamp granularity.
fn is_day(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0))
}

impl ArxivConfig {
    pub fn build(&self, ctx: &BuildContext) -> Result<ArxivConnector, ConnectorError> {
        let base = Url::parse(&self.base_url)
            .map_err(|e| config_err(format!("base_url {:?}: {e}", self.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(config_err("base_url must be http:// or https://"));
        }
        if base.query().is_some() {
            return Err(config_err(
                "base_url is the OAI-PMH endpoint without a query (no `?verb=...`)",
            ));
        }
        if self.full_text {
            return Err(config_err(
                "full_text is not implemented: this connector reads titles and abstracts only; remove `full_text`",
            ));
        }
        if let Some(set) = &self.set
            && (set.is_empty() || set.contains(|c: char| c.is_whitespace() || c == '&'))
        {
            return Err(config_err(format!(
                "set {set:?} is not an OAI set spec (like \"cs\" or \"physics:hep-th\")"
            )));
        }
        for (name, v) in [("from", &self.from), ("until", &self.until)] {
            if let Some(d) = v
                && !is_day(d)
            {
                return Err(config_err(format!(
                    "{name} {d:?} is not a date: use YYYY-MM-DD"
                )));
            }
        }
        if let (Some(f), Some(u)) = (&self.from, &self.until)
            && f > u
        {
            return Err(config_err(format!("from {f} is after until {u}")));
        }
        let interval = self.request_interval_secs;
        if !interval.is_finite() || !(0.0..=3600.0).contains(&interval) {
            return Err(config_err(
                "request_interval_secs must be between 0 and 3600 (arXiv asks for 3)",
            ));
        }
        let opts = ApiOptions {
            min_interval: Duration::from_secs_f64(interval),
            ..ApiOptions::default()
        };
        let client = ApiClient::new(opts, Auth::Bearer, Vec::new()).map_err(config_err)?;
        Ok(ArxivConnector {
            base,
            set: self.set.clone(),
            from: self.from.clone(),
            until: self.until.clone(),
            max_items: self.max_items,
            declaration: ctx.declaration.clone(),
            client,
        })
    }
}

pub struct ArxivConnector {
    base: Url,
    set: Option<String>,
    from: Option<String>,
    until: Option<String>,
    max_items: Option<u64>,
    declaration: String,
    client: ApiClient,
}

/// Where a harvest stands; see the module doc.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Position {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    skip: usize,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    complete: bool,
}

impl ArxivConnector {
    fn url(&self, pairs: &[(&str, &str)]) -> Url {
        let mut u = self.base.clone();
        u.query_pairs_mut().extend_pairs(pairs);
        u
    }

    fn list_url(&self, token: Option<&str>) -> Url {
        match token {
            Some(t) => self.url(&[("verb", "ListRecords"), ("resumptionToken", t)]),
            None => {
                let mut pairs = vec![("verb", "ListRecords"), ("metadataPrefix", "arXiv")];
                for (k, v) in [
                    ("set", &self.set),
                    ("from", &self.from),
                    ("until", &self.until),
                ] {
                    if let Some(v) = v {
                        pairs.push((k, v.as_str()));
                    }
                }
                self.url(&pairs)
            }
        }
    }

    /// GETs one OAI-PMH answer and parses it, with one clear error for anything else.
    async fn fetch(&self, url: &Url) -> Result<OaiAnswer, ConnectorError> {
        let answer = self
            .client
            .get(url, "text/xml, application/xml")
            .await
            .map_err(|e| source_err(e.to_string()))?
            .ok_or_else(|| source_err(format!("{url}: not found (404); check base_url")))?;
        let media = answer.media_type();
        if media.contains("html") {
            return Err(source_err(format!(
                "{url}: answered {media} instead of OAI-PMH XML ({:?}); check base_url points at the OAI-PMH endpoint",
                answer.snippet()
            )));
        }
        parse(&answer.body).map_err(|e| {
            source_err(format!(
                "{url}: not an OAI-PMH answer: {e}; check base_url points at the OAI-PMH endpoint"
            ))
        })
    }

    fn event(&self, record: &Record, checkpoint: Value) -> SourceEvent {
        let skip = |uri: &str, reason: &'static str, detail: &str| {
            SourceEvent::Skip(Skip {
                uri: uri.to_owned(),
                reason,
                detail: detail.to_owned(),
                checkpoint: checkpoint.clone().into(),
            })
        };
        let p = match record {
            Record::Deleted { identifier } => {
                return skip(identifier, "oai:deleted", "deleted from the repository");
            }
            Record::NoMetadata { identifier } => {
                return skip(identifier, "oai:no_metadata", "no arXiv metadata block");
            }
            Record::Paper(p) => p,
        };
        let uri = format!("https://arxiv.org/abs/{}", p.id);
        if p.id.is_empty() {
            return skip(&p.identifier, "oai:no_id", "the metadata has no <id>");
        }
        let body = match (p.title.is_empty(), p.abstract_text.is_empty()) {
            (_, true) => return skip(&uri, "oai:empty", "no abstract"),
            (true, false) => p.abstract_text.clone(),
            (false, false) => format!("{}\n\n{}", p.title, p.abstract_text),
        };
        SourceEvent::Item(RawItem {
            uri,
            source: KIND,
            fetched_at_micros: masa_record::now_micros(),
            http_status: Some(200),
            content_type: Some("text/plain".into()),
            title: Some(p.title.clone()).filter(|t| !t.is_empty()),
            body: body.into_bytes(),
            consent: Consent::declared(self.declaration.clone()),
            licence: Some(licence(p.license.as_deref(), &p.id)),
            checkpoint: checkpoint.into(),
        })
    }
}

#[async_trait::async_trait]
impl Connector for ArxivConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn source_id(&self) -> String {
        let or_all = |v: &Option<String>| v.clone().unwrap_or_else(|| "*".into());
        format!(
            "{}#arXiv set={} from={} until={}",
            self.base,
            or_all(&self.set),
            or_all(&self.from),
            or_all(&self.until)
        )
    }

    /// One cheap request: `Identify`, which says the endpoint speaks OAI-PMH.
    async fn check(&mut self) -> Result<(), ConnectorError> {
        let url = self.url(&[("verb", "Identify")]);
        match self.fetch(&url).await? {
            OaiAnswer::Identify { .. } => Ok(()),
            OaiAnswer::Error { code, message } => Err(source_err(format!(
                "{url}: OAI-PMH error {code}: {message}; check base_url"
            ))),
            OaiAnswer::Records(_) => Err(source_err(format!(
                "{url}: answered records to Identify; check base_url"
            ))),
        }
    }

    async fn run(
        self: Box<Self>,
        resume: Option<Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError> {
        let mut pos: Position = match resume {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| source_err(format!("checkpoint {v} is not an arxiv position: {e}")))?,
            None => Position::default(),
        };
        let limit = self.max_items.unwrap_or(u64::MAX);
        let mut emitted = 0u64;
        while !pos.complete {
            let url = self.list_url(pos.token.as_deref());
            let page = match self.fetch(&url).await? {
                OaiAnswer::Records(page) => page,
                // The harvest selects nothing: an empty run.
                OaiAnswer::Error { code, .. } if code == "noRecordsMatch" => return Ok(()),
                OaiAnswer::Error { code, message } if code == "badResumptionToken" => {
                    return Err(source_err(format!(
                        "{url}: the resumption token is no longer valid ({message}); tokens expire, so start the harvest again (a new `from` date skips what was already read)"
                    )));
                }
                OaiAnswer::Error { code, message } => {
                    return Err(source_err(format!(
                        "{url}: OAI-PMH error {code}: {message}; check set, from and until"
                    )));
                }
                OaiAnswer::Identify { .. } => {
                    return Err(source_err(format!(
                        "{url}: answered Identify to ListRecords; check base_url"
                    )));
                }
            };
            let n = page.records.len();
            if pos.skip > n {
                return Err(source_err(format!(
                    "{url}: the checkpoint is at record {} of a page of {n}; the page changed since, so start the harvest again",
                    pos.skip
                )));
            }
            let next = match &page.token {
                Some(t) => Position {
                    token: Some(t.clone()),
                    ..Position::default()
                },
                None => Position {
                    complete: true,
                    ..Position::default()
                },
            };
            for (i, record) in page.records.iter().enumerate().skip(pos.skip) {
                if emitted >= limit {
                    return Ok(());
                }
                let after = if i + 1 < n {
                    Position {
                        token: pos.token.clone(),
                        skip: i + 1,
                        complete: false,
                    }
                } else {
                    next.clone()
                };
                let checkpoint = serde_json::to_value(&after).expect("a position serialises");
                out.send(self.event(record, checkpoint))
                    .await
                    .map_err(|_| ConnectorError::Closed)?;
                emitted += 1;
            }
            pos = next;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(v: Value) -> Result<ArxivConnector, ConnectorError> {
        serde_json::from_value::<ArxivConfig>(v)
            .unwrap()
            .build(&BuildContext {
                declaration: "test".into(),
                credentials: Default::default(),
            })
    }

    #[test]
    fn a_config_is_checked_before_any_request() {
        let err = |v: Value| match build(v) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        };
        assert!(err(json!({"from": "2024-13-01"})).contains("YYYY-MM-DD"));
        assert!(err(json!({"until": "yesterday"})).contains("YYYY-MM-DD"));
        assert!(err(json!({"from": "2024-02-01", "until": "2024-01-01"})).contains("after"));
        assert!(err(json!({"set": "c s"})).contains("set spec"));
        assert!(err(json!({"full_text": true})).contains("not implemented"));
        assert!(err(json!({"request_interval_secs": -1.0})).contains("between 0"));
        assert!(err(json!({"base_url": "ftp://x"})).contains("http"));
        assert!(
            err(json!({"base_url": "https://x/oai?verb=Identify"})).contains("without a query")
        );
        assert!(
            serde_json::from_value::<ArxivConfig>(json!({"sets": "cs"})).is_err(),
            "unknown fields are refused"
        );
        let ok =
            build(json!({"set": "physics:hep-th", "from": "2024-01-01", "until": "2024-01-31"}))
                .unwrap();
        assert_eq!(
            ok.list_url(None).as_str(),
            "https://oaipmh.arxiv.org/oai?verb=ListRecords&metadataPrefix=arXiv&set=physics%3Ahep-th&from=2024-01-01&until=2024-01-31"
        );
        assert_eq!(
            ok.list_url(Some("6960524|1001")).as_str(),
            "https://oaipmh.arxiv.org/oai?verb=ListRecords&resumptionToken=6960524%7C1001"
        );
    }
}

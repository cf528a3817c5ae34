//! The `Connector` trait, the events it emits, and the registry of connector kinds.

use crate::ItemSender;
use masa_record::RawItem;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// What a connector emits, in order. Every input the connector looked at becomes exactly one
/// event, so nothing is dropped without a reason.
#[derive(Debug)]
pub enum SourceEvent {
    Item(RawItem),
    Skip(Skip),
}

impl SourceEvent {
    /// Bytes of item body the event holds (0 for a skip).
    pub fn body_len(&self) -> usize {
        match self {
            SourceEvent::Item(i) => i.body.len(),
            SourceEvent::Skip(_) => 0,
        }
    }
}

/// An input the connector saw but could not turn into an item.
#[derive(Debug, Clone)]
pub struct Skip {
    pub uri: String,
    /// Counted reason, `area:what` (`input:malformed_jsonl`, `type:unsupported`).
    pub reason: &'static str,
    /// Human detail for the log (line number, parse error).
    pub detail: String,
    /// The connector checkpoint after this input.
    pub checkpoint: masa_record::Checkpoint,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{path}: no such file or folder; check the path")]
    NotFound { path: PathBuf },
    #[error("{path}: cannot read: {source}; check its permissions")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: not valid UTF-8 (first bad byte at offset {offset}); convert it, e.g. `iconv -f latin1 -t utf-8`"
    )]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error(
        "{path}: {size} bytes is over the {limit}-byte limit for whole-file items; split it, or raise the limit with --max-file-bytes"
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{path}: contains no supported files ({supported}); nothing to contribute")]
    Empty {
        path: PathBuf,
        supported: &'static str,
    },
    #[error("invalid {kind} connector configuration: {message}")]
    Config { kind: &'static str, message: String },
    /// The source answered wrongly or not at all (an API error, a page that is not JSON).
    #[error("{kind} source: {message}")]
    Source { kind: &'static str, message: String },
    /// The pipeline stopped listening (it failed or was cancelled); not an error of the source.
    #[error("the pipeline stopped accepting items")]
    Closed,
}

/// What every connector gets from the run.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The contributor's declaration recorded as consent evidence for declared sources.
    pub declaration: String,
    /// Credentials from the masa configuration (`[credentials]` in its `config.toml`), by
    /// the environment variable they stand in for; the environment wins (see
    /// [`crate::api::keys`]).
    pub credentials: std::collections::BTreeMap<String, String>,
}

/// A running source of items.
#[async_trait::async_trait]
pub trait Connector: Send {
    /// The connector kind, a snake_case noun (`files`, `web`); becomes the record's `source`.
    fn kind(&self) -> &'static str;

    /// A stable identity of what this connector reads (for `files`, the canonical root path).
    /// Together with the contributor it names the run's Delta `txn` app id, so running the
    /// same source again resumes it.
    fn source_id(&self) -> String;

    /// Checks the whole source before anything is written: a source that cannot be read
    /// fails here, with the table untouched.
    async fn check(&mut self) -> Result<(), ConnectorError>;

    /// Told the final checkpoint of the previous run of this source when that run
    /// completed, so a new run can build on it (the crawler sends conditional requests).
    fn previous_run(&mut self, _last: serde_json::Value) {}

    /// Live progress beyond the pipeline's counters, if the connector has any.
    fn progress(&self) -> Option<Arc<dyn SourceProgress>> {
        None
    }

    /// Emits events in a deterministic order, starting just after `resume` (a checkpoint
    /// from an earlier event) when given.
    async fn run(
        self: Box<Self>,
        resume: Option<serde_json::Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError>;
}

/// Live progress a connector reports beside the pipeline's counters.
pub trait SourceProgress: Send + Sync {
    /// One short line for the progress display.
    fn line(&self) -> String;
    /// The end-of-run summary (the crawler's per-host statistics).
    fn summary(&self) -> serde_json::Value;
}

/// The registry: one variant per connector kind. Adding a connector is one line here and
/// one arm in [`SourceConfig::build`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    Files(crate::FilesConfig),
    Web(crate::WebConfig),
    Hackernews(crate::HackerNewsConfig),
    Warc(crate::WarcConfig),
    Dataset(crate::DatasetConfig),
    Mastodon(crate::MastodonConfig),
    Mediawiki(crate::MediaWikiConfig),
    Feed(crate::FeedConfig),
    Sitemap(crate::SitemapConfig),
    Arxiv(crate::ArxivConfig),
    Github(crate::GithubConfig),
}

impl SourceConfig {
    /// The connector kind (the `kind` of its TOML table).
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Files(_) => "files",
            SourceConfig::Web(_) => "web",
            SourceConfig::Hackernews(_) => "hackernews",
            SourceConfig::Warc(_) => "warc",
            SourceConfig::Dataset(_) => "dataset",
            SourceConfig::Mastodon(_) => "mastodon",
            SourceConfig::Mediawiki(_) => "mediawiki",
            SourceConfig::Feed(_) => "feed",
            SourceConfig::Sitemap(_) => "sitemap",
            SourceConfig::Arxiv(_) => "arxiv",
            SourceConfig::Github(_) => "github",
        }
    }

    pub fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Connector>, ConnectorError> {
        match self {
            SourceConfig::Files(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Web(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Hackernews(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Warc(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Dataset(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Mastodon(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Mediawiki(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Feed(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Sitemap(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Arxiv(c) => Ok(Box::new(c.build(ctx)?)),
            SourceConfig::Github(c) => Ok(Box::new(c.build(ctx)?)),
        }
    }
}

/// What `masa connectors` says of a connector kind.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KindInfo {
    pub kind: &'static str,
    /// What it fetches, in a line.
    pub fetches: &'static str,
    /// The environment variables its credentials come from (several keys separated by
    /// commas), if it takes any; the masa configuration's `[credentials]` may hold them too.
    pub credentials: &'static [&'static str],
    /// Whether it cannot run without them.
    pub credentials_required: bool,
    /// What permission each record carries.
    pub permission: &'static str,
    /// Options (TOML, beside `kind`) that make a source of this kind `masa connectors
    /// check NAME` can try on the public service; `None` when only the user's own options
    /// make sense (a local path).
    pub check_with: Option<&'static str>,
}

/// Every connector kind, in the order `masa connectors` lists them: one entry per
/// [`SourceConfig`] variant (a test holds the two together).
pub const KINDS: &[KindInfo] = &[
    KindInfo {
        kind: "files",
        fetches: "text, Markdown, HTML and JSONL files under a local folder",
        credentials: &[],
        credentials_required: false,
        permission: "the contributor's declaration",
        check_with: None,
    },
    KindInfo {
        kind: "web",
        fetches: "pages of websites, crawled from seed URLs within a scope",
        credentials: &[],
        credentials_required: false,
        permission: "robots.txt (ours and AI agents'), TDMRep, X-Robots-Tag and robots/noai meta, each checked and recorded",
        check_with: Some(r#"seeds = ["https://example.org/"]"#),
    },
    KindInfo {
        kind: "hackernews",
        fetches: "Hacker News stories and comments, by id range or from a list (top, new, best, ...)",
        credentials: &[],
        credentials_required: false,
        permission: "the contributor's declaration; the author's licence recorded",
        check_with: Some(r#"list = "top""#),
    },
    KindInfo {
        kind: "warc",
        fetches: "HTML pages from WARC files (Common Crawl .warc.gz segments included), local or on S3",
        credentials: &[],
        credentials_required: false,
        permission: "robots.txt, TDMRep, X-Robots-Tag and robots/noai meta re-checked from the archive (robots \"unknown\" when it holds no robots.txt); the contributor's declaration",
        check_with: None,
    },
    KindInfo {
        kind: "dataset",
        fetches: "rows of JSONL and Parquet files, Hugging Face dataset folders included",
        credentials: &[],
        credentials_required: false,
        permission: "the contributor's declaration; each row's licence from its column, its file, the config or the dataset card (rows without one refused)",
        check_with: None,
    },
    KindInfo {
        kind: "mastodon",
        fetches: "public posts of an instance's local or federated timeline, or of a hashtag, from accounts that opted in to indexing",
        credentials: &["MASA_MASTODON_TOKEN"],
        credentials_required: false,
        permission: "the account's opt-in (indexable, or discoverable and not noindex); the author's licence recorded",
        check_with: Some(r#"instance = "https://mastodon.social""#),
    },
    KindInfo {
        kind: "mediawiki",
        fetches: "pages of a MediaWiki namespace or category as plain text, through api.php with maxlag",
        credentials: &[],
        credentials_required: false,
        permission: "the wiki's licence (siteinfo rightsinfo) with the page's attribution",
        check_with: Some(r#"api_url = "https://en.wikipedia.org/w/api.php""#),
    },
    KindInfo {
        kind: "feed",
        fetches: "RSS and Atom entries, followed to their pages (or the entry itself), re-polled with ETag and Last-Modified",
        credentials: &[],
        credentials_required: false,
        permission: "as the web connector: robots.txt, TDMRep, X-Robots-Tag and robots/noai meta",
        check_with: Some(r#"feeds = ["https://blog.rust-lang.org/feed.xml"]"#),
    },
    KindInfo {
        kind: "sitemap",
        fetches: "pages listed by sitemaps and sitemap indexes (no link following), re-fetched when their lastmod changes",
        credentials: &[],
        credentials_required: false,
        permission: "as the web connector: robots.txt, TDMRep, X-Robots-Tag and robots/noai meta",
        check_with: Some(r#"sitemaps = ["https://www.rust-lang.org/sitemap.xml"]"#),
    },
    KindInfo {
        kind: "arxiv",
        fetches: "titles and abstracts of arXiv papers through OAI-PMH (one request every 3 s)",
        credentials: &[],
        credentials_required: false,
        permission: "the paper's own licence, or arXiv's distribution licence (no reuse grant) when it states none",
        check_with: Some(""),
    },
    KindInfo {
        kind: "github",
        fetches: "a repository's issues and their comments (REST), and its discussions (GraphQL, token required)",
        credentials: &["MASA_GITHUB_TOKEN"],
        credentials_required: false,
        permission: "the contributor's declaration; each text's licence recorded as its author's",
        check_with: Some(r#"repo = "rust-lang/rust""#),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// `KINDS` lists exactly the registry's kinds, in its order: serde names them all in the
    /// error for an unknown kind.
    #[test]
    fn every_registered_kind_is_described_once() {
        let e = serde_json::from_value::<SourceConfig>(serde_json::json!({"kind": "no-such"}))
            .unwrap_err()
            .to_string();
        let listed: Vec<&str> = e
            .split_once("expected one of ")
            .expect("serde lists the variants")
            .1
            .split(", ")
            .map(|k| k.trim_matches(|c: char| c == '`' || c.is_whitespace()))
            .collect();
        let described: Vec<&str> = KINDS.iter().map(|k| k.kind).collect();
        assert_eq!(listed, described);
    }
}

//! The `web` connector: a polite, permission-aware crawler. The engine ([`crawl`]) owns
//! fetching, politeness, robots.txt, TDMRep, retries and the frontier; what a page says
//! ([`page`]) and what the publisher's signals decide ([`signals`]) are pure functions.

pub(crate) mod crawl;
pub mod fetch;
pub mod frontier;
pub mod origin;
pub mod page;
#[cfg(test)]
mod page_tree;
mod scan;
pub mod signals;
pub mod sitemap;
mod stats;
pub mod urls;
pub(crate) mod visit;

use crate::{BuildContext, Connector, ConnectorError, ItemSender, SourceProgress};
use serde::{Deserialize, Serialize};
use signals::Overrides;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;
use urls::{Scope, ScopeKind};

pub use sitemap::Listed;
pub use stats::CrawlStats;

/// AI-training crawler tokens whose robots.txt rules we also obey: a site that disallows
/// them for a path has said it does not want that path used for AI training.
pub const DEFAULT_AI_AGENTS: [&str; 12] = [
    "GPTBot",
    "ChatGPT-User",
    "CCBot",
    "Google-Extended",
    "anthropic-ai",
    "ClaudeBot",
    "cohere-ai",
    "PerplexityBot",
    "Bytespider",
    "Applebot-Extended",
    "Meta-ExternalAgent",
    "Amazonbot",
];

/// The `web` source: where to crawl and how politely.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Start URLs (http or https).
    pub seeds: Vec<String>,
    pub scope: ScopeKind,
    /// Regular expressions a URL must match one of (when any are given).
    pub include: Vec<String>,
    /// Regular expressions that exclude a URL.
    pub exclude: Vec<String>,
    /// Page requests in the whole crawl (resumed runs included).
    pub max_pages: Option<u64>,
    /// Link hops from a seed (seeds are depth 0, sitemap URLs depth 1).
    pub max_depth: Option<u16>,
    /// Requests in flight in total.
    pub concurrency: usize,
    /// Requests in flight per host.
    pub per_host: usize,
    /// Requests per host, `N/s` or `N/m`; `0` lifts the limit. A longer robots.txt
    /// `Crawl-delay` wins.
    pub rate: String,
    /// Our robots.txt product token, also the User-Agent name.
    pub user_agent: String,
    /// Further robots.txt agents whose rules we obey ([`DEFAULT_AI_AGENTS`]).
    pub ai_agents: Vec<String>,
    /// Publisher signals overridden by explicit choice; recorded in each record's consent.
    pub overrides: Overrides,
    /// Allow private, loopback and link-local addresses (tests, intranets).
    pub allow_private: bool,
    /// Read sitemaps listed in robots.txt, or `/sitemap.xml`.
    pub sitemaps: bool,
    pub connect_timeout_ms: u64,
    pub timeout_ms: u64,
    pub max_body_bytes: usize,
    pub retries: u32,
    pub backoff_ms: u64,
    /// The longest `Retry-After` waited for, in seconds.
    pub max_retry_after_secs: u64,
    pub max_redirects: usize,
}

impl Default for WebConfig {
    /// No seed (a config must name one), polite defaults and every check on.
    fn default() -> Self {
        WebConfig {
            seeds: Vec::new(),
            scope: ScopeKind::default(),
            include: Vec::new(),
            exclude: Vec::new(),
            max_pages: None,
            max_depth: None,
            concurrency: 16,
            per_host: 2,
            rate: "2/s".into(),
            user_agent: "masa".into(),
            ai_agents: DEFAULT_AI_AGENTS.iter().map(|s| s.to_string()).collect(),
            overrides: Overrides::default(),
            allow_private: false,
            sitemaps: true,
            connect_timeout_ms: 10_000,
            timeout_ms: 30_000,
            max_body_bytes: 10 << 20,
            retries: 3,
            backoff_ms: 500,
            max_retry_after_secs: 120,
            max_redirects: 10,
        }
    }
}

impl WebConfig {
    /// A crawl of `seeds` with every default.
    pub fn new(seeds: Vec<String>) -> WebConfig {
        WebConfig {
            seeds,
            ..Default::default()
        }
    }

    pub fn build(&self, _ctx: &BuildContext) -> Result<WebConnector, ConnectorError> {
        let bad = |message: String| ConnectorError::Config {
            kind: "web",
            message,
        };
        if self.seeds.is_empty() {
            return Err(bad("no seed URL given".into()));
        }
        let seeds = self
            .seeds
            .iter()
            .map(|s| {
                let u = Url::parse(s.trim()).map_err(|e| bad(format!("seed {s:?}: {e}")))?;
                urls::normalize(&u).ok_or_else(|| {
                    bad(format!(
                        "seed {s:?}: only http and https URLs without user info can be crawled"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let scope = Scope::new(self.scope, &seeds, &self.include, &self.exclude).map_err(bad)?;
        if self.concurrency == 0 || self.per_host == 0 {
            return Err(bad("--concurrency and --per-host must be at least 1".into()));
        }
        let rate = parse_rate(&self.rate).map_err(bad)?;
        let token = self.user_agent.trim();
        if token.is_empty()
            || !token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(format!(
                "--user-agent {token:?}: a product token is letters, digits, '-' and '_'"
            )));
        }
        let mut agents = vec![token.to_ascii_lowercase()];
        for a in &self.ai_agents {
            let a = a.trim().to_ascii_lowercase();
            if !a.is_empty() && !agents.contains(&a) {
                agents.push(a);
            }
        }
        let http = fetch::Http::new(fetch::HttpOptions {
            user_agent: format!(
                "{token}/{} (Masa crawler; obeys robots.txt, TDMRep and noai)",
                env!("CARGO_PKG_VERSION")
            ),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            max_body: self.max_body_bytes,
            retries: self.retries,
            backoff: Duration::from_millis(self.backoff_ms),
            max_retry_after: Duration::from_secs(self.max_retry_after_secs),
            allow_private: self.allow_private,
        })
        .map_err(bad)?;
        Ok(WebConnector {
            config: self.clone(),
            seeds,
            scope: Arc::new(scope),
            agents: Arc::new(agents),
            rate,
            http,
            stats: Arc::new(CrawlStats::default()),
            previous: None,
        })
    }

    /// The identity of the crawl: seeds, scope and patterns (not budgets or politeness, so
    /// a resumed crawl may change those).
    fn identity(&self, seeds: &[Url]) -> String {
        let mut seeds: Vec<&str> = seeds.iter().map(Url::as_str).collect();
        seeds.sort_unstable();
        serde_json::json!({
            "seeds": seeds,
            "scope": self.scope,
            "include": self.include,
            "exclude": self.exclude,
        })
        .to_string()
    }
}

/// How pages are fetched by the connectors that visit URLs listed elsewhere (`feed`,
/// `sitemap`): the crawler's politeness and permission options, with its defaults, written
/// as a `[fetch]` table. Validation is the crawler's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageFetch {
    /// Each field is [`WebConfig`]'s of the same name.
    pub rate: String,
    pub user_agent: String,
    pub ai_agents: Vec<String>,
    pub overrides: Overrides,
    pub allow_private: bool,
    pub connect_timeout_ms: u64,
    pub timeout_ms: u64,
    pub max_body_bytes: usize,
    pub retries: u32,
    pub backoff_ms: u64,
    pub max_retry_after_secs: u64,
    pub max_redirects: usize,
}

impl Default for PageFetch {
    fn default() -> Self {
        let w = WebConfig::default();
        PageFetch {
            rate: w.rate,
            user_agent: w.user_agent,
            ai_agents: w.ai_agents,
            overrides: w.overrides,
            allow_private: w.allow_private,
            connect_timeout_ms: w.connect_timeout_ms,
            timeout_ms: w.timeout_ms,
            max_body_bytes: w.max_body_bytes,
            retries: w.retries,
            backoff_ms: w.backoff_ms,
            max_retry_after_secs: w.max_retry_after_secs,
            max_redirects: w.max_redirects,
        }
    }
}

impl PageFetch {
    /// A crawler of `seeds` with these options, built (and so validated) by the web
    /// connector; errors name `kind`. One request at a time, no sitemaps, no links followed:
    /// the caller drives the visits.
    pub(crate) fn crawler(
        &self,
        kind: &'static str,
        seeds: Vec<String>,
        ctx: &BuildContext,
    ) -> Result<WebConnector, ConnectorError> {
        let c = WebConfig {
            seeds,
            rate: self.rate.clone(),
            user_agent: self.user_agent.clone(),
            ai_agents: self.ai_agents.clone(),
            overrides: self.overrides,
            allow_private: self.allow_private,
            sitemaps: false,
            max_depth: Some(0),
            concurrency: 1,
            per_host: 1,
            connect_timeout_ms: self.connect_timeout_ms,
            timeout_ms: self.timeout_ms,
            max_body_bytes: self.max_body_bytes,
            retries: self.retries,
            backoff_ms: self.backoff_ms,
            max_retry_after_secs: self.max_retry_after_secs,
            max_redirects: self.max_redirects,
            ..WebConfig::default()
        };
        c.build(ctx).map_err(|e| match e {
            ConnectorError::Config { message, .. } => ConnectorError::Config { kind, message },
            e => e,
        })
    }
}

/// Parses `N/s`, `N/m` (or `N/min`), `N/h`, or `0` (no limit) into a minimum gap between
/// requests to one host.
pub fn parse_rate(s: &str) -> Result<Option<Duration>, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(None);
    }
    let (n, unit) = s
        .split_once('/')
        .ok_or_else(|| format!("rate {s:?}: write it as N/s, N/m or N/h (or 0 for no limit)"))?;
    let n: f64 = n
        .trim()
        .parse()
        .map_err(|_| format!("rate {s:?}: {n:?} is not a number"))?;
    let per = match unit.trim() {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        u => return Err(format!("rate {s:?}: unknown unit {u:?} (s, m or h)")),
    };
    if !(n.is_finite() && n >= 0.0) {
        return Err(format!("rate {s:?}: must be a positive number"));
    }
    if n == 0.0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs_f64(per / n)))
}

/// A running crawl.
pub struct WebConnector {
    config: WebConfig,
    seeds: Vec<Url>,
    scope: Arc<Scope>,
    /// Lower-case robots.txt agents, ours first.
    agents: Arc<Vec<String>>,
    /// Minimum gap between requests to one host.
    rate: Option<Duration>,
    http: fetch::Http,
    stats: Arc<CrawlStats>,
    /// The final position of the previous, completed crawl (for conditional GET).
    previous: Option<frontier::CrawlState>,
}

impl std::fmt::Debug for WebConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConnector")
            .field("seeds", &self.seeds)
            .finish()
    }
}

impl WebConnector {
    /// What the visits of a crawl share: the HTTP client, per-origin caches, politeness,
    /// and the previous run's validators by URL for conditional requests.
    pub(crate) fn visit_ctx(
        &self,
        scope: Arc<Scope>,
        previous: HashMap<String, frontier::Validators>,
    ) -> visit::Ctx {
        visit::Ctx {
            http: self.http.clone(),
            origins: origin::Origins::default(),
            scope,
            agents: self.agents.clone(),
            overrides: self.config.overrides,
            max_redirects: self.config.max_redirects,
            rate: self.rate,
            limiters: Mutex::new(HashMap::new()),
            previous,
        }
    }

    /// The crawl's seeds, parsed and normalized.
    pub(crate) fn seeds(&self) -> &[Url] {
        &self.seeds
    }
}

#[async_trait::async_trait]
impl Connector for WebConnector {
    fn kind(&self) -> &'static str {
        "web"
    }

    fn source_id(&self) -> String {
        self.config.identity(&self.seeds)
    }

    /// Seeds must resolve, and to public addresses unless private ones are allowed.
    async fn check(&mut self) -> Result<(), ConnectorError> {
        for seed in &self.seeds {
            let host = seed.host_str().unwrap_or_default();
            let port = seed.port_or_known_default().unwrap_or(80);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let addrs: Vec<_> = tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| ConnectorError::Config {
                    kind: "web",
                    message: format!("seed {seed}: cannot resolve {host}: {e}"),
                })?
                .collect();
            if !self.config.allow_private && !addrs.iter().any(|a| fetch::is_public_ip(a.ip())) {
                return Err(ConnectorError::Config {
                    kind: "web",
                    message: format!(
                        "seed {seed}: {host} is a private, loopback or link-local address; pass --allow-private to crawl it"
                    ),
                });
            }
        }
        Ok(())
    }

    fn previous_run(&mut self, last: serde_json::Value) {
        match frontier::CrawlState::from_value(last) {
            Ok(s) => self.previous = Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "the previous crawl's position is unreadable; crawling without conditional requests")
            }
        }
    }

    fn progress(&self) -> Option<Arc<dyn SourceProgress>> {
        Some(self.stats.clone())
    }

    async fn run(
        self: Box<Self>,
        resume: Option<serde_json::Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError> {
        crawl::run(*self, resume, out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_to_gaps_and_bad_rates_say_how_to_write_them() {
        assert_eq!(parse_rate("2/s").unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(parse_rate("30/m").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(parse_rate("0").unwrap(), None);
        assert_eq!(parse_rate("0/s").unwrap(), None);
        assert!(parse_rate("fast").unwrap_err().contains("N/s"));
        assert!(parse_rate("2/week").unwrap_err().contains("unknown unit"));
        assert!(parse_rate("-1/s").is_err());
    }

    #[test]
    fn configs_are_checked_when_built() {
        let ctx = BuildContext {
            declaration: "d".into(),
            credentials: Default::default(),
        };
        let err = |c: WebConfig| c.build(&ctx).unwrap_err().to_string();
        assert!(err(WebConfig::new(vec![])).contains("no seed"));
        assert!(err(WebConfig::new(vec!["ftp://x.test/".into()])).contains("only http"));
        assert!(err(WebConfig::new(vec!["not a url".into()])).contains("not a url"));
        let mut c = WebConfig::new(vec!["http://x.test/".into()]);
        c.include = vec!["(".into()];
        assert!(err(c).contains("pattern"));
        let mut c = WebConfig::new(vec!["http://x.test/".into()]);
        c.user_agent = "bad agent/1".into();
        assert!(err(c).contains("product token"));
        let c: Result<WebConfig, _> =
            serde_json::from_value(serde_json::json!({"seeds": ["http://x.test/"], "sped": 1}));
        assert!(c.unwrap_err().to_string().contains("sped"));
    }

    #[test]
    fn the_crawl_identity_ignores_politeness_and_budgets() {
        let ctx = BuildContext {
            declaration: "d".into(),
            credentials: Default::default(),
        };
        let a = WebConfig::new(vec!["http://x.test/".into()]);
        let mut b = a.clone();
        b.rate = "0".into();
        b.max_pages = Some(5);
        let mut c = a.clone();
        c.scope = ScopeKind::Domain;
        let id = |c: &WebConfig| c.build(&ctx).unwrap().source_id();
        assert_eq!(id(&a), id(&b));
        assert_ne!(id(&a), id(&c));
    }
}

//! What the crawler learns once per origin (scheme, host, port) and caches: robots.txt for
//! our agent and the AI-training agents (RFC 9309) and the TDMRep well-known file. Each is
//! fetched once even when many pages of the origin are in flight.

use super::fetch::{Accept, FetchError, Http};
use super::signals::{RobotsVerdict, TdmFile};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use texting_robots::Robot;
use tokio::sync::OnceCell;
use url::Url;

/// RFC 9309 asks crawlers to parse at least 500 KiB.
const ROBOTS_PARSE_BYTES: usize = 512 << 10;
/// RFC 9309 asks crawlers to follow at least five redirects for robots.txt.
const ROBOTS_REDIRECTS: usize = 5;
/// Robots.txt is cached no longer than 24 hours (RFC 9309).
const ROBOTS_TTL: Duration = Duration::from_secs(24 * 3600);

/// An origin key: `scheme://host:port`.
pub fn origin(u: &Url) -> String {
    format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str().unwrap_or(""),
        u.port_or_known_default().unwrap_or(0)
    )
}

/// A cache slot: when it was created, and its value once filled.
type Slot<T> = (Instant, Arc<OnceCell<Arc<T>>>);

/// A cache filled once per key, with at most one fill in flight per key.
pub struct PerOrigin<T> {
    cells: Mutex<HashMap<String, Slot<T>>>,
    ttl: Duration,
}

impl<T> PerOrigin<T> {
    pub fn new(ttl: Duration) -> Self {
        PerOrigin {
            cells: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    pub async fn get<F, Fut>(&self, key: &str, fill: F) -> Arc<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = {
            // A poisoned lock only means a panic elsewhere mid-insert; the map is usable.
            let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = |(at, _): &(Instant, _)| at.elapsed() < self.ttl;
            match cells.get(key) {
                Some(e) if fresh(e) => e.1.clone(),
                _ => {
                    let c = Arc::new(OnceCell::new());
                    cells.insert(key.to_owned(), (Instant::now(), c.clone()));
                    c
                }
            }
        };
        cell.get_or_init(|| async { Arc::new(fill().await) })
            .await
            .clone()
    }
}

/// robots.txt of one origin, parsed for each agent we answer to.
#[derive(Debug)]
pub enum RobotsTxt {
    /// No usable robots.txt (4xx, or too many redirects): everything is allowed.
    AllowAll(String),
    /// 5xx, a network error or an unparsable file: nothing is allowed.
    Unavailable(String),
    /// Parsed rules; the first agent is ours.
    Rules {
        agents: Vec<(String, Robot)>,
        sitemaps: Vec<String>,
    },
}

impl RobotsTxt {
    pub fn verdict(&self, url: &Url) -> RobotsVerdict {
        match self {
            RobotsTxt::AllowAll(why) => RobotsVerdict {
                state: "allowed",
                rule: why.clone(),
            },
            RobotsTxt::Unavailable(why) => RobotsVerdict {
                state: "unavailable",
                rule: why.clone(),
            },
            RobotsTxt::Rules { agents, .. } => {
                for (agent, robot) in agents {
                    if !robot.allowed(url.as_str()) {
                        return RobotsVerdict {
                            state: "disallowed",
                            rule: format!("{agent}: disallow"),
                        };
                    }
                }
                RobotsVerdict {
                    state: "allowed",
                    rule: format!("{}: allow", agents.first().map_or("*", |a| a.0.as_str())),
                }
            }
        }
    }

    /// `Crawl-delay` of our own agent's group.
    pub fn crawl_delay(&self) -> Option<Duration> {
        match self {
            RobotsTxt::Rules { agents, .. } => agents
                .first()
                .and_then(|(_, r)| r.delay)
                .filter(|d| d.is_finite() && *d > 0.0)
                .map(|d| Duration::from_secs_f32(d.min(60.0))),
            _ => None,
        }
    }

    pub fn sitemaps(&self) -> &[String] {
        match self {
            RobotsTxt::Rules { sitemaps, .. } => sitemaps,
            _ => &[],
        }
    }

    /// Parses robots.txt bytes (the first 512 KiB) for `agents` (ours first).
    pub fn parse(body: &[u8], agents: &[String]) -> RobotsTxt {
        let body = &body[..body.len().min(ROBOTS_PARSE_BYTES)];
        let mut parsed = Vec::with_capacity(agents.len());
        for a in agents {
            match Robot::new(a, body) {
                Ok(r) => parsed.push((a.clone(), r)),
                Err(e) => return RobotsTxt::Unavailable(format!("robots.txt unparsable: {e}")),
            }
        }
        let sitemaps = parsed
            .first()
            .map(|(_, r)| r.sitemaps.clone())
            .unwrap_or_default();
        RobotsTxt::Rules {
            agents: parsed,
            sitemaps,
        }
    }

    /// Fetches and parses robots.txt for the origin of `url`.
    pub async fn fetch(http: &Http, url: &Url, agents: &[String]) -> RobotsTxt {
        let Ok(mut at) = url.join("/robots.txt") else {
            return RobotsTxt::AllowAll("no robots.txt URL".into());
        };
        for _ in 0..=ROBOTS_REDIRECTS {
            let resp = http.get(&at, &[], Accept::if_success).await;
            let resp = match resp {
                Ok(r) => r,
                Err(FetchError::TooLarge(_)) => {
                    return RobotsTxt::Unavailable("robots.txt larger than the body limit".into());
                }
                Err(e) => {
                    return RobotsTxt::Unavailable(format!(
                        "robots.txt unreachable: {}",
                        e.detail()
                    ));
                }
            };
            match resp.status {
                200..=299 => return RobotsTxt::parse(&resp.body, agents),
                300..=399 => match resp.location(&at) {
                    Some(next) => at = next,
                    None => {
                        return RobotsTxt::AllowAll(format!(
                            "robots.txt {} without Location",
                            resp.status
                        ));
                    }
                },
                400..=499 => {
                    return RobotsTxt::AllowAll(format!("no robots.txt ({})", resp.status));
                }
                s => return RobotsTxt::Unavailable(format!("robots.txt unavailable ({s})")),
            }
        }
        RobotsTxt::AllowAll(format!(
            "robots.txt: more than {ROBOTS_REDIRECTS} redirects"
        ))
    }
}

/// Fetches the origin's `/.well-known/tdmrep.json`; a missing or broken file states nothing.
pub async fn fetch_tdmrep(http: &Http, url: &Url) -> TdmFile {
    let Ok(at) = url.join("/.well-known/tdmrep.json") else {
        return TdmFile::default();
    };
    let resp = http.get(&at, &[], Accept::if_success).await;
    match resp {
        Ok(r) if (200..300).contains(&r.status) => TdmFile::parse(&r.body).unwrap_or_else(|e| {
            tracing::warn!(url = %at, error = %e, "tdmrep.json ignored");
            TdmFile::default()
        }),
        Ok(_) => TdmFile::default(),
        Err(e) => {
            tracing::warn!(url = %at, error = %e.detail(), "tdmrep.json unreachable");
            TdmFile::default()
        }
    }
}

/// Per-origin caches of the crawl.
pub struct Origins {
    pub robots: PerOrigin<RobotsTxt>,
    pub tdm: PerOrigin<TdmFile>,
}

impl Default for Origins {
    fn default() -> Self {
        Origins {
            robots: PerOrigin::new(ROBOTS_TTL),
            tdm: PerOrigin::new(ROBOTS_TTL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents() -> Vec<String> {
        vec!["masa".into(), "gptbot".into(), "ccbot".into()]
    }

    #[test]
    fn a_disallow_for_any_ai_agent_refuses_and_names_the_agent() {
        let txt = b"User-agent: *\nAllow: /\n\nUser-agent: GPTBot\nDisallow: /private/\n\nSitemap: http://s.test/sitemap.xml\n";
        let r = RobotsTxt::parse(txt, &agents());
        let u = |p: &str| Url::parse(&format!("http://s.test{p}")).unwrap();
        assert_eq!(r.verdict(&u("/public")).state, "allowed");
        let v = r.verdict(&u("/private/x"));
        assert_eq!(
            (v.state, v.rule.as_str()),
            ("disallowed", "gptbot: disallow")
        );
        assert_eq!(r.sitemaps(), ["http://s.test/sitemap.xml"]);
    }

    #[test]
    fn our_group_gives_the_crawl_delay_and_star_applies_to_agents_without_a_group() {
        let txt =
            b"User-agent: masa\nCrawl-delay: 2\nDisallow: /a\n\nUser-agent: *\nDisallow: /b\n";
        let r = RobotsTxt::parse(txt, &agents());
        assert_eq!(r.crawl_delay(), Some(Duration::from_secs(2)));
        let u = |p: &str| Url::parse(&format!("http://s.test{p}")).unwrap();
        assert_eq!(r.verdict(&u("/a")).rule, "masa: disallow");
        assert_eq!(
            r.verdict(&u("/b")).rule,
            "gptbot: disallow",
            "gptbot falls under *"
        );
        assert_eq!(r.verdict(&u("/c")).state, "allowed");
    }

    #[tokio::test]
    async fn the_cache_fills_once_per_key() {
        let cache: PerOrigin<u32> = PerOrigin::new(Duration::from_secs(60));
        let calls = std::sync::atomic::AtomicU32::new(0);
        let fill = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            7
        };
        let (a, b) = tokio::join!(cache.get("k", fill), cache.get("k", fill));
        assert_eq!((*a, *b), (7, 7));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(*cache.get("other", || async { 9 }).await, 9);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_robots_files_never_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            path in "/[ -~]{0,30}",
        ) {
            let r = RobotsTxt::parse(&body, &agents());
            if let Ok(u) = Url::parse(&format!("http://s.test{path}")) {
                let v = r.verdict(&u);
                proptest::prop_assert!(matches!(v.state, "allowed" | "disallowed" | "unavailable"));
            }
            let _ = r.crawl_delay();
        }
    }
}

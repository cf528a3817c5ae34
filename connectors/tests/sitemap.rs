//! The sitemap connector against a loopback site: a sitemap index of sitemaps with
//! `<lastmod>` (fixtures in `tests/data/sitemap/`), pages stating permissions every way the
//! web connector reads them, and a second run that fetches only what changed.

mod common;

use common::site::{Reply, Server};
use masa_connectors::compliance::{assert_source_compliance, collect};
use masa_connectors::{
    BuildContext, Connector, ItemSender, SitemapConfig, SourceConfig, SourceEvent,
};

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "test".into(),
        credentials: Default::default(),
    }
}

/// A fixture with `{base}` replaced by the address the request was made to.
fn fixture(name: &str, h: &axum::http::HeaderMap, weather_lastmod: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/sitemap/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture exists");
    let host = h.get("host").and_then(|v| v.to_str().ok()).unwrap_or("");
    text.replace("{base}", &format!("http://{host}"))
        .replace("{weather_lastmod}", weather_lastmod)
        .into_bytes()
}

fn page(title: &str, head: &str) -> Reply {
    Reply::html(format!(
        "<html><head><title>{title}</title>{head}</head><body><h1>{title}</h1><p>The full text of {title}, long enough to be a page.</p><a href=\"/linked-only\">never followed</a></body></html>"
    ))
}

const ABOUT_ETAG: &str = "\"about-1\"";

/// The site. With `weather_changes`, `/posts/weather` gets a new lastmod once the posts
/// sitemap has been read once.
fn site(weather_changes: bool) -> Server {
    Server::start(move |path, h, n| {
        let xml =
            |name: &str, lastmod: &str| Reply::typed("application/xml", fixture(name, h, lastmod));
        match path {
            "/robots.txt" => Reply::typed("text/plain", fixture("robots.txt", h, "")),
            "/.well-known/tdmrep.json" => {
                Reply::typed("application/json", fixture("tdmrep.json", h, ""))
            }
            "/sitemap_index.xml" => xml("sitemap_index.xml", ""),
            // Rate limited once; the client waits as told and asks again.
            "/sitemap-posts.xml" if n == 0 => Reply::status(429).header("retry-after", "0"),
            "/sitemap-posts.xml" => {
                let changed = weather_changes && n > 1;
                xml(
                    "sitemap-posts.xml",
                    if changed { "2024-01-05" } else { "2024-01-02" },
                )
            }
            "/sitemap-pages.xml" => xml("sitemap-pages.xml", ""),
            "/sitemap-broken.xml" => xml("sitemap-broken.xml", ""),
            "/empty.xml" => xml("empty.xml", ""),
            "/down.xml" => Reply {
                status: 500,
                ..Reply::typed("text/html", fixture("error.html", h, ""))
            },
            "/posts/migration" => page("Spring migration counts", ""),
            "/posts/weather" => page("Weather", ""),
            "/private/budget" => page("Budget", ""),
            "/posts/photos" => page("Photos", r#"<meta name="robots" content="noai">"#),
            "/reserved/report" => page("Report", ""),
            "/about" => {
                if h.get("if-none-match").is_some_and(|v| v == ABOUT_ETAG) {
                    Reply::status(304)
                } else {
                    page("About", "").header("etag", ABOUT_ETAG)
                }
            }
            _ => Reply::status(404),
        }
    })
}

fn config(site: &Server, sitemaps: &[&str]) -> SitemapConfig {
    serde_json::from_value(serde_json::json!({
        "sitemaps": sitemaps.iter().map(|f| site.url(f)).collect::<Vec<_>>(),
        "fetch": {"allow_private": true, "rate": "0", "retries": 2, "backoff_ms": 10,
                  "timeout_ms": 2000, "connect_timeout_ms": 2000},
    }))
    .unwrap()
}

fn summary(site: &Server, events: &[SourceEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| match e {
            SourceEvent::Item(i) => (i.uri.replace(&site.base, ""), "item".to_owned()),
            SourceEvent::Skip(s) => (s.uri.replace(&site.base, ""), s.reason.to_owned()),
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn last_checkpoint(events: &[SourceEvent]) -> serde_json::Value {
    match events.last().expect("events") {
        SourceEvent::Item(i) => i.checkpoint.to_value(),
        SourceEvent::Skip(s) => s.checkpoint.to_value(),
    }
}

async fn rerun(c: &SitemapConfig, last: serde_json::Value) -> Vec<SourceEvent> {
    let mut again = c.build(&ctx()).unwrap();
    again.check().await.unwrap();
    again.previous_run(last);
    let (tx, mut rx) = ItemSender::channel(16, 1 << 20);
    let run = tokio::spawn(Box::new(again).run(None, tx));
    let mut out = Vec::new();
    while let Some(e) = rx.recv().await {
        out.push(e.into_event());
    }
    run.await.unwrap().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_seeds_its_sitemaps_pages_through_every_permission_check() {
    let site = site(false);
    let c = config(&site, &["/sitemap_index.xml"]);
    let events = collect(&SourceConfig::Sitemap(c), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(
        summary(&site, &events),
        pairs(&[
            ("/posts/migration", "item"),
            ("/posts/weather", "item"),
            ("/private/budget", "robots"),
            ("/posts/photos", "noai"),
            ("/reserved/report", "tdm"),
            ("/about", "item"),
            ("/posts/migration", "duplicate"),
            ("http://elsewhere.test/about", "scope"),
            ("/sitemap-broken.xml", "sitemap:malformed"),
        ])
    );
    assert_eq!(site.count("/private/budget"), 0, "robots.txt forbids it");
    assert_eq!(site.count("/linked-only"), 0, "no link is followed");
    assert_eq!(site.count("/sitemap-posts.xml"), 2, "a 429 and its retry");
    let SourceEvent::Item(m) = &events[0] else {
        unreachable!()
    };
    assert_eq!(m.source, "sitemap");
    assert_eq!(m.consent.robots.as_deref(), Some("allowed"));
    assert_eq!(m.consent.robots_rule.as_deref(), Some("masa: allow"));
    assert_eq!(m.consent.tdm_reserved, Some(false));
    assert_eq!(m.consent.noai, Some(false));
    assert_eq!(
        m.licence.as_deref(),
        Some(format!("publisher's (127.0.0.1; {}/posts/migration)", site.base).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_fetches_only_the_page_whose_lastmod_changed() {
    let site = site(true);
    let c = config(&site, &["/sitemap_index.xml"]);
    let first = collect(&SourceConfig::Sitemap(c.clone()), &ctx(), None)
        .await
        .unwrap();
    let again = rerun(&c, last_checkpoint(&first)).await;
    assert_eq!(
        summary(&site, &again),
        pairs(&[
            ("/posts/migration", "unchanged"),
            ("/posts/weather", "item"),
            ("/private/budget", "robots"),
            ("/posts/photos", "unchanged"),
            ("/reserved/report", "unchanged"),
            ("/about", "unchanged"),
            ("/posts/migration", "duplicate"),
            ("http://elsewhere.test/about", "scope"),
            ("/sitemap-broken.xml", "sitemap:malformed"),
        ])
    );
    for (p, n) in [
        ("/posts/migration", 1),
        ("/posts/weather", 2),
        ("/posts/photos", 1),
        ("/reserved/report", 1),
        ("/private/budget", 0),
    ] {
        assert_eq!(site.count(p), n, "{p}");
    }
    // Without a lastmod, the page is asked for with its validators, and answers 304.
    let about: Vec<_> = site
        .hits()
        .into_iter()
        .filter(|h| h.path == "/about")
        .collect();
    assert_eq!(about.len(), 2);
    assert_eq!(about[1].headers.get("if-none-match").unwrap(), ABOUT_ETAG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_sitemap_that_cannot_be_read_is_one_error_naming_it() {
    let site = site(false);
    for (root, says) in [
        ("/sitemap-broken.xml", "not a sitemap"),
        ("/down.xml", "HTTP 500 after 3 attempts; try again later"),
        (
            "/missing.xml",
            "HTTP 404 after 1 attempts; check the sitemap URL",
        ),
    ] {
        let c = config(&site, &[root]);
        let err = collect(&SourceConfig::Sitemap(c), &ctx(), None)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("sitemap source: sitemap {}", site.url(root))),
            "{msg}"
        );
        assert!(msg.contains(says), "{msg}");
    }
    // An empty sitemap is a counted skip, not silence.
    let c = config(&site, &["/empty.xml"]);
    let events = collect(&SourceConfig::Sitemap(c), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(
        summary(&site, &events),
        pairs(&[("/empty.xml", "sitemap:empty")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sitemap_connector_passes_the_compliance_check() {
    let site = site(false);
    let c = config(&site, &["/sitemap_index.xml"]);
    assert_source_compliance(&SourceConfig::Sitemap(c), &ctx(), "sitemap").await;
}

#[test]
fn the_example_config_builds() {
    let path = format!("{}/../examples/sitemap.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("the example exists");
    let config: SourceConfig = toml::from_str(&text).expect("the example parses");
    assert!(matches!(config, SourceConfig::Sitemap(_)));
    config.build(&ctx()).expect("the example builds");
}

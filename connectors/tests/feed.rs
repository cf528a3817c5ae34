//! The feed connector against a loopback site serving RSS 2.0 and Atom feeds (fixtures in
//! `tests/data/feed/`) and entry pages that state permissions every way the web connector
//! reads them.

mod common;

use common::site::{Reply, Server};
use masa_connectors::compliance::{assert_source_compliance, collect};
use masa_connectors::{BuildContext, Connector, FeedConfig, ItemSender, SourceConfig, SourceEvent};
use std::collections::BTreeMap;

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "test".into(),
        credentials: Default::default(),
    }
}

/// A fixture with `{base}` replaced by the address the request was made to.
fn fixture(name: &str, h: &axum::http::HeaderMap) -> Vec<u8> {
    let path = format!("{}/tests/data/feed/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture exists");
    let host = h.get("host").and_then(|v| v.to_str().ok()).unwrap_or("");
    text.replace("{base}", &format!("http://{host}"))
        .into_bytes()
}

fn page(title: &str, head: &str) -> Reply {
    Reply::html(format!(
        "<html><head><title>{title}</title>{head}</head><body><h1>{title}</h1><p>The full text of {title}, long enough to be a page.</p><a href=\"/elsewhere\">a link never followed</a></body></html>"
    ))
}

const RSS_ETAG: &str = "\"rss-v1\"";
const ATOM_DATE: &str = "Wed, 03 Jan 2024 10:00:00 GMT";

/// The field station's site: two feeds, an empty one, broken ones, and entry pages.
fn site() -> Server {
    Server::start(|path, h, n| match path {
        "/robots.txt" => Reply::typed("text/plain", fixture("robots.txt", h)),
        "/.well-known/tdmrep.json" => Reply::typed("application/json", fixture("tdmrep.json", h)),
        "/rss.xml" => {
            if h.get("if-none-match").is_some_and(|v| v == RSS_ETAG) {
                Reply::status(304).header("etag", RSS_ETAG)
            } else {
                Reply::typed("application/rss+xml; charset=utf-8", fixture("rss.xml", h))
                    .header("etag", RSS_ETAG)
            }
        }
        // The first poll is rate limited; the client waits as told and asks again.
        "/atom.xml" if n == 0 => Reply::status(429).header("retry-after", "0"),
        "/atom.xml" => {
            if h.get("if-modified-since").is_some_and(|v| v == ATOM_DATE) {
                Reply::status(304)
            } else {
                Reply::typed("application/atom+xml", fixture("atom.xml", h))
                    .header("last-modified", ATOM_DATE)
            }
        }
        "/empty.xml" => Reply::typed("application/rss+xml", fixture("empty.xml", h)),
        "/broken.xml" => Reply::typed("application/rss+xml", fixture("broken.xml", h)),
        "/down.xml" => Reply {
            status: 500,
            ..Reply::typed("text/html; charset=utf-8", fixture("error.html", h))
        },
        "/login.xml" => Reply::typed("text/html; charset=utf-8", fixture("login.html", h)),
        "/posts/migration" => page("Spring migration counts", ""),
        "/private/budget" => page("Budget", ""),
        "/posts/photos" => page(
            "Photo essay",
            r#"<meta name="robots" content="noai, noimageai">"#,
        ),
        "/reserved/report" => page("Reserved report", ""),
        "/log/weather" => page("Weather station repaired", ""),
        "/log/night" => page("Night survey", "").header("x-robots-tag", "googlebot: noindex"),
        _ => Reply::status(404),
    })
}

fn config(site: &Server, feeds: &[&str]) -> FeedConfig {
    let c: FeedConfig = serde_json::from_value(serde_json::json!({
        "feeds": feeds.iter().map(|f| site.url(f)).collect::<Vec<_>>(),
        "fetch": {"allow_private": true, "rate": "0", "retries": 2, "backoff_ms": 10,
                  "timeout_ms": 2000, "connect_timeout_ms": 2000},
    }))
    .unwrap();
    assert!(c.follow, "entries are followed by default");
    c
}

/// Events as (path, item or skip reason), in order.
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

/// Runs `c` as a new run after a completed one that ended at `last`.
async fn rerun(c: &FeedConfig, last: serde_json::Value) -> Vec<SourceEvent> {
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
async fn rss_and_atom_entries_are_followed_through_every_permission_check() {
    let site = site();
    let c = config(&site, &["/rss.xml", "/atom.xml", "/empty.xml"]);
    let events = collect(&SourceConfig::Feed(c), &ctx(), None).await.unwrap();
    assert_eq!(
        summary(&site, &events),
        pairs(&[
            ("/posts/migration", "item"),
            ("/private/budget", "robots"),
            ("/posts/photos", "noai"),
            ("/reserved/report", "tdm"),
            ("/log/weather", "item"),
            ("/log/night", "item"),
            ("/empty.xml", "feed:empty"),
        ])
    );
    assert_eq!(site.count("/private/budget"), 0, "robots.txt forbids it");
    assert_eq!(site.count("/elsewhere"), 0, "no link is followed");
    assert_eq!(site.count("/atom.xml"), 2, "a 429 and the retry it allowed");
    let items: BTreeMap<String, &masa_record::RawItem> = events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Item(i) => Some((i.uri.replace(&site.base, ""), i)),
            SourceEvent::Skip(_) => None,
        })
        .collect();
    let m = items["/posts/migration"];
    assert_eq!(m.source, "feed");
    assert_eq!(m.title.as_deref(), Some("Spring migration counts"));
    assert!(String::from_utf8_lossy(&m.body).contains("The full text of Spring migration"));
    // The same evidence the web connector records.
    assert_eq!(m.consent.robots.as_deref(), Some("allowed"));
    assert_eq!(m.consent.robots_rule.as_deref(), Some("masa: allow"));
    assert_eq!(m.consent.tdm_reserved, Some(false));
    assert_eq!(m.consent.noai, Some(false));
    assert_eq!(m.consent.declaration, None);
    assert_eq!(
        m.licence.as_deref(),
        Some(format!("publisher's (127.0.0.1; {}/posts/migration)", site.base).as_str())
    );
    let skip_detail = events
        .iter()
        .find_map(|e| match e {
            SourceEvent::Skip(s) if s.reason == "tdm" => Some(s.detail.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        skip_detail.contains("fieldnotes.test/policies/tdm.json"),
        "{skip_detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repoll_sends_validators_and_an_unchanged_feed_costs_a_304() {
    let site = site();
    let c = config(&site, &["/rss.xml", "/atom.xml", "/empty.xml"]);
    let first = collect(&SourceConfig::Feed(c.clone()), &ctx(), None)
        .await
        .unwrap();
    let again = rerun(&c, last_checkpoint(&first)).await;
    assert_eq!(
        summary(&site, &again),
        pairs(&[
            ("/rss.xml", "unchanged"),
            ("/atom.xml", "unchanged"),
            ("/empty.xml", "feed:empty"),
        ])
    );
    let polls: Vec<_> = site
        .hits()
        .into_iter()
        .filter(|h| h.path == "/rss.xml")
        .collect();
    assert_eq!(polls.len(), 2);
    assert!(polls[0].headers.get("if-none-match").is_none());
    assert_eq!(polls[1].headers.get("if-none-match").unwrap(), RSS_ETAG);
    let atom: Vec<_> = site
        .hits()
        .into_iter()
        .filter(|h| h.path == "/atom.xml")
        .collect();
    assert_eq!(
        atom.last()
            .unwrap()
            .headers
            .get("if-modified-since")
            .unwrap(),
        ATOM_DATE
    );
    for p in ["/posts/migration", "/log/weather", "/posts/photos"] {
        assert_eq!(site.count(p), 1, "{p} fetched again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_seen_in_an_earlier_run_are_not_fetched_again() {
    // A feed without validators that gains an entry between polls.
    let site = Server::start(|path, _h, n| {
        let item = |id: &str| {
            format!(
                "<item><title>{id}</title><link>/p/{id}</link><guid>{id}</guid><description>d</description></item>"
            )
        };
        match path {
            "/robots.txt" => Reply::status(404),
            "/feed" => {
                let items = if n == 0 {
                    item("a") + &item("b")
                } else {
                    item("c") + &item("a") + &item("b")
                };
                Reply::typed(
                    "application/rss+xml",
                    format!("<rss version=\"2.0\"><channel><title>t</title><link>/</link><description>d</description>{items}</channel></rss>").into_bytes(),
                )
            }
            p if p.starts_with("/p/") => page(p, ""),
            _ => Reply::status(404),
        }
    });
    let c = config(&site, &["/feed"]);
    let first = collect(&SourceConfig::Feed(c.clone()), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(
        summary(&site, &first),
        pairs(&[("/p/a", "item"), ("/p/b", "item")])
    );
    let again = rerun(&c, last_checkpoint(&first)).await;
    assert_eq!(summary(&site, &again), pairs(&[("/p/c", "item")]));
    assert_eq!((site.count("/p/a"), site.count("/p/b")), (1, 1));
    let third = rerun(&c, last_checkpoint(&again)).await;
    assert_eq!(
        summary(&site, &third),
        pairs(&[("/feed", "feed:nothing_new")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_is_not_a_feed_is_one_error_naming_it() {
    let site = site();
    for (feed, says) in [
        ("/broken.xml", "not an RSS or Atom feed"),
        ("/login.xml", "an HTML page, not an RSS or Atom feed"),
        ("/down.xml", "HTTP 500 after 3 attempts; try again later"),
        ("/gone.xml", "HTTP 404 after 1 attempts; check the feed URL"),
    ] {
        let c = config(&site, &["/rss.xml", feed]);
        let err = collect(&SourceConfig::Feed(c), &ctx(), None)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("feed source: feed {}", site.url(feed))),
            "{msg}"
        );
        assert!(msg.contains(says), "{msg}");
    }
    // The failing feed stopped the run before any entry was fetched.
    assert_eq!(site.count("/posts/migration"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_content_is_recorded_from_the_feed_under_the_feeds_own_signals() {
    let site = site();
    let mut c = config(&site, &["/atom.xml"]);
    c.follow = false;
    let events = collect(&SourceConfig::Feed(c), &ctx(), None).await.unwrap();
    assert_eq!(
        summary(&site, &events),
        pairs(&[("/log/weather", "item"), ("/log/night", "item")])
    );
    assert_eq!(site.count("/log/weather"), 0, "content comes from the feed");
    let SourceEvent::Item(i) = &events[0] else {
        unreachable!()
    };
    assert_eq!(i.content_type.as_deref(), Some("text/html"));
    assert_eq!(
        String::from_utf8_lossy(&i.body),
        "<p>The anemometer turns again after the storm.</p>"
    );
    assert_eq!(i.consent.robots.as_deref(), Some("allowed"));
    assert_eq!(i.consent.tdm_reserved, Some(false));
    assert_eq!(
        i.licence.as_deref(),
        Some(format!("CC BY 4.0 ({})", site.url("/atom.xml")).as_str())
    );

    // A feed whose response says noai gives no entry.
    let noai = Server::start(|path, h, _n| match path {
        "/robots.txt" => Reply::status(404),
        "/atom.xml" => Reply::typed("application/atom+xml", fixture("atom.xml", h))
            .header("x-robots-tag", "noai"),
        _ => Reply::status(404),
    });
    let mut c = config(&noai, &["/atom.xml"]);
    c.follow = false;
    let events = collect(&SourceConfig::Feed(c), &ctx(), None).await.unwrap();
    assert_eq!(
        summary(&noai, &events),
        pairs(&[("/log/weather", "noai"), ("/log/night", "noai")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_connector_passes_the_compliance_check() {
    let site = site();
    let c = config(&site, &["/rss.xml", "/atom.xml", "/empty.xml"]);
    assert_source_compliance(&SourceConfig::Feed(c), &ctx(), "feed").await;
}

#[test]
fn the_example_config_builds() {
    let path = format!("{}/../examples/feed.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("the example exists");
    let config: SourceConfig = toml::from_str(&text).expect("the example parses");
    assert!(matches!(config, SourceConfig::Feed(_)));
    config.build(&ctx()).expect("the example builds");
}

//! The web connector against real HTTP servers on 127.0.0.1: each test asserts exactly
//! which pages became items and which were skipped, for which reason.

mod common;

use common::site::{Reply, Server};
use masa_connectors::compliance::{assert_source_compliance, collect};
use masa_connectors::web::signals::Overrides;
use masa_connectors::{BuildContext, SourceConfig, SourceEvent, WebConfig};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "test".into(),
        credentials: Default::default(),
    }
}

/// A crawl of `seed` with politeness lifted and short timeouts, for tests.
fn config(seed: String) -> WebConfig {
    let mut c = WebConfig::new(vec![seed]);
    c.allow_private = true;
    c.rate = "0".into();
    c.concurrency = 4;
    c.per_host = 4;
    c.retries = 2;
    c.backoff_ms = 10;
    c.timeout_ms = 2_000;
    c.connect_timeout_ms = 2_000;
    c.max_body_bytes = 1 << 20;
    c
}

/// What a crawl did: items by path, and skips by path with their reason.
#[derive(Debug, Default)]
struct Outcome {
    items: BTreeMap<String, masa_record::RawItem>,
    skips: BTreeMap<String, &'static str>,
}

impl Outcome {
    fn item_paths(&self) -> Vec<&str> {
        self.items.keys().map(String::as_str).collect()
    }
    fn skip_list(&self) -> Vec<(&str, &str)> {
        self.skips.iter().map(|(p, r)| (p.as_str(), *r)).collect()
    }
}

async fn crawl(server: &Server, c: WebConfig) -> Outcome {
    let events = collect(&SourceConfig::Web(c), &ctx(), None)
        .await
        .expect("the crawl runs");
    let mut out = Outcome::default();
    for e in events {
        match e {
            SourceEvent::Item(i) => {
                let p = i
                    .uri
                    .strip_prefix(&server.base)
                    .unwrap_or(&i.uri)
                    .to_owned();
                assert!(
                    out.items.insert(p.clone(), i).is_none(),
                    "{p} emitted twice"
                );
            }
            SourceEvent::Skip(s) => {
                let p = s
                    .uri
                    .strip_prefix(&server.base)
                    .unwrap_or(&s.uri)
                    .to_owned();
                assert!(
                    out.skips.insert(p.clone(), s.reason).is_none(),
                    "{p} skipped twice"
                );
            }
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<html><head><title>{title}</title></head><body><h1>{title}</h1><p>Text of {title}, long enough to be a page.</p>{body}</body></html>"
    )
}

fn links(paths: &[&str]) -> String {
    paths
        .iter()
        .map(|p| format!("<a href=\"{p}\">{p}</a> "))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A site stating permissions every way there is.
fn permissions_site() -> Server {
    Server::start(|path, _h, _n| {
        let policy = "https://publisher.test/tdm-policy.json";
        match path {
            "/robots.txt" => Reply::typed(
                "text/plain",
                b"User-agent: *\nAllow: /\n\nUser-agent: GPTBot\nDisallow: /no-gpt/\n\nUser-agent: masa\nDisallow: /no-masa/\n\nSitemap: /sitemap_index.xml\n".to_vec(),
            ),
            "/.well-known/tdmrep.json" => Reply::typed(
                "application/json",
                format!(r#"[{{"location": "/reserved/*", "tdm-reservation": 1, "tdm-policy": "{policy}"}}, {{"location": "/", "tdm-reservation": 0}}]"#).into_bytes(),
            ),
            "/" => Reply::html(page("Home", &links(&[
                "/no-gpt/page", "/no-masa/page", "/reserved/a", "/reserved/freed", "/header-reserved",
                "/meta-reserved", "/noai", "/xrobots-noai", "/xrobots-other", "/noindex", "/nofollow",
                "/licensed", "/ld-licensed", "http://elsewhere.test/page", "/data.pdf", "/feed.xml",
                "/plain.txt", "/latin1", "/missing",
            ]))),
            "/no-gpt/page" | "/no-masa/page" | "/reserved/a" | "/xrobots-other" => Reply::html(page(path, ""))
                .header("x-robots-tag", "googlebot: noindex"),
            "/reserved/freed" => Reply::html(page("freed", "")).header("tdm-reservation", "0"),
            "/header-reserved" => Reply::html(page("hr", "")).header("tdm-reservation", "1"),
            "/meta-reserved" => Reply::html(page("mr", r#"<meta name="tdm-reservation" content="1">"#))
                .header("tdm-reservation", "0"),
            "/noai" => Reply::html(page("noai", r#"<meta name="robots" content="noai, noimageai">"#)),
            "/xrobots-noai" => Reply::html(page("xn", "")).header("x-robots-tag", "GPTBot: noai"),
            "/noindex" => Reply::html(page("noindex", &format!(r#"<meta name="robots" content="noindex">{}"#, links(&["/via-noindex"])))),
            "/via-noindex" => Reply::html(page("via noindex", "")),
            "/nofollow" => Reply::html(page("nofollow", &format!(r#"<meta name="robots" content="nofollow">{}"#, links(&["/only-via-nofollow"])))),
            "/only-via-nofollow" => Reply::html(page("never", "")),
            "/licensed" => Reply::html(page("lic", r#"<a rel="license" href="https://creativecommons.org/licenses/by/4.0/">CC BY</a>"#)),
            "/ld-licensed" => Reply::html(page("ld", r#"<script type="application/ld+json">{"@type":"Article","license":"https://creativecommons.org/publicdomain/zero/1.0/"}</script>"#)),
            "/data.pdf" => Reply::typed("application/pdf", b"%PDF-1.4".to_vec()),
            "/feed.xml" => Reply::typed("application/rss+xml", b"<rss/>".to_vec()),
            "/plain.txt" => Reply::typed("text/plain; charset=utf-8", b"Plain text page.".to_vec()),
            "/latin1" => Reply::typed("text/html; charset=ISO-8859-1", b"<title>caf\xe9</title><p>Un caf\xe9 cr\xe8me.</p>".to_vec()),
            "/sitemap_index.xml" => Reply::typed(
                "application/xml",
                b"<sitemapindex><sitemap><loc>/sitemap-pages.xml.gz</loc></sitemap></sitemapindex>".to_vec(),
            ),
            "/sitemap-pages.xml.gz" => Reply::typed(
                "application/gzip",
                gzip(b"<urlset><url><loc>/only-in-sitemap</loc></url><url><loc>http://elsewhere.test/x</loc></url></urlset>"),
            ),
            "/only-in-sitemap" => Reply::html(page("sitemap only", "")),
            _ => Reply::status(404),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_permissions_decide_which_pages_become_items() {
    let site = permissions_site();
    let out = crawl(&site, config(site.url("/"))).await;
    assert_eq!(
        out.item_paths(),
        [
            "/",
            "/latin1",
            "/ld-licensed",
            "/licensed",
            "/nofollow",
            "/only-in-sitemap",
            "/plain.txt",
            "/reserved/freed",
            "/via-noindex",
            "/xrobots-other",
        ]
    );
    assert_eq!(
        out.skip_list(),
        [
            ("/data.pdf", "type"),
            ("/feed.xml", "type"),
            ("/header-reserved", "tdm"),
            ("/meta-reserved", "tdm"),
            ("/missing", "error:http_4xx"),
            ("/no-gpt/page", "robots"),
            ("/no-masa/page", "robots"),
            ("/noai", "noai"),
            ("/noindex", "noindex"),
            ("/reserved/a", "tdm"),
            ("/xrobots-noai", "noai"),
            ("http://elsewhere.test/page", "scope"),
            ("https://creativecommons.org/licenses/by/4.0/", "scope"),
        ]
    );
    // Robots-disallowed pages are never requested; nofollow links are never followed.
    for never in ["/no-gpt/page", "/no-masa/page", "/only-via-nofollow"] {
        assert_eq!(site.count(never), 0, "{never} was requested");
    }
    // Consent evidence on an item.
    let home = &out.items["/"];
    let c = &home.consent;
    assert_eq!(c.robots.as_deref(), Some("allowed"));
    assert_eq!(
        (c.tdm_reserved, c.noai, c.overridden),
        (Some(false), Some(false), false)
    );
    assert_eq!(home.title.as_deref(), Some("Home"));
    assert_eq!(home.http_status, Some(200));
    assert_eq!(
        out.items["/licensed"].licence.as_deref(),
        Some("https://creativecommons.org/licenses/by/4.0/")
    );
    assert_eq!(
        out.items["/ld-licensed"].licence.as_deref(),
        Some("https://creativecommons.org/publicdomain/zero/1.0/")
    );
    let latin = String::from_utf8(out.items["/latin1"].body.clone()).unwrap();
    assert!(latin.contains("Un café crème"), "{latin}");
    assert_eq!(
        out.items["/plain.txt"].content_type.as_deref(),
        Some("text/plain")
    );
    // robots.txt and tdmrep.json were read once for the whole crawl.
    assert_eq!(site.count("/robots.txt"), 1);
    assert_eq!(site.count("/.well-known/tdmrep.json"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_let_refused_pages_through_and_records_say_so() {
    let site = permissions_site();
    let mut c = config(site.url("/"));
    c.overrides = Overrides {
        robots: true,
        tdm: true,
        noai: true,
    };
    let out = crawl(&site, c).await;
    for p in [
        "/no-gpt/page",
        "/reserved/a",
        "/header-reserved",
        "/meta-reserved",
        "/noai",
        "/noindex",
    ] {
        let item = out
            .items
            .get(p)
            .unwrap_or_else(|| panic!("{p} is not an item: {:?}", out.skips.get(p)));
        assert!(
            item.consent.overridden,
            "{p} does not say it was overridden"
        );
    }
    let r = &out.items["/no-gpt/page"].consent;
    assert_eq!(r.robots.as_deref(), Some("disallowed"));
    assert_eq!(r.robots_rule.as_deref(), Some("gptbot: disallow"));
    let t = &out.items["/reserved/a"].consent;
    assert_eq!(t.tdm_reserved, Some(true));
    assert_eq!(
        t.tdm_policy.as_deref(),
        Some("https://publisher.test/tdm-policy.json")
    );
    assert!(
        !out.items["/"].consent.overridden,
        "an unrefused page is not marked overridden"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sitemap_indexes_and_gzipped_sitemaps_add_pages_no_link_reaches() {
    // The sitemap is named in robots.txt; the index points at a gzipped urlset.
    let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let b = base.clone();
    let site = Server::start(move |path, _h, _n| {
        let base = b.get().expect("base set before the crawl");
        match path {
            "/robots.txt" => Reply::typed("text/plain", format!("User-agent: *\nAllow: /\nSitemap: {base}/index.xml\n").into_bytes()),
            "/index.xml" => Reply::typed(
                "application/xml",
                format!("<sitemapindex><sitemap><loc>{base}/pages.xml.gz</loc></sitemap><sitemap><loc>{base}/broken.xml</loc></sitemap></sitemapindex>").into_bytes(),
            ),
            "/pages.xml.gz" => Reply::typed(
                "application/gzip",
                gzip(format!("<urlset><url><loc>{base}/hidden</loc></url><url><loc>http://elsewhere.test/x</loc></url></urlset>").as_bytes()),
            ),
            "/broken.xml" => Reply::typed("application/xml", b"<html>not a sitemap".to_vec()),
            "/" => Reply::html(page("home", "")),
            "/hidden" => Reply::html(page("hidden", "")),
            _ => Reply::status(404),
        }
    });
    base.set(site.base.clone()).unwrap();
    let out = crawl(&site, config(site.url("/"))).await;
    assert_eq!(out.item_paths(), ["/", "/hidden"]);
    assert!(out.skips.is_empty(), "{:?}", out.skips);
    assert_eq!(site.count("/pages.xml.gz"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_backoff_retry_after_redirects_timeouts_and_size_limits() {
    let bomb = gzip(&vec![0u8; 64 << 20]);
    let site = Server::start(move |path, _h, n| match path {
        "/robots.txt" => Reply::status(404),
        "/" => Reply::html(page(
            "home",
            &links(&[
                "/flaky",
                "/rate-limited",
                "/always-500",
                "/loop-a",
                "/moved",
                "/moved-out",
                "/slow",
                "/big",
                "/bomb",
            ]),
        )),
        "/flaky" if n < 2 => Reply::status(503),
        "/flaky" => Reply::html(page("flaky", "")),
        "/rate-limited" if n == 0 => Reply::status(429).header("retry-after", "1"),
        "/rate-limited" => Reply::html(page("patient", "")),
        "/always-500" => Reply::status(500),
        "/loop-a" => Reply::redirect("/loop-b"),
        "/loop-b" => Reply::redirect("/loop-a"),
        "/moved" => Reply::redirect("/target"),
        "/target" => Reply::html(page("target", "")),
        "/moved-out" => Reply::redirect("http://elsewhere.test/"),
        "/slow" => Reply::html(page("slow", "")).delayed(Duration::from_secs(5)),
        "/big" => Reply::typed("text/html", vec![b'a'; 2 << 20]),
        "/bomb" => Reply::typed("text/html", bomb.clone()).header("content-encoding", "gzip"),
        _ => Reply::status(404),
    });
    let mut c = config(site.url("/"));
    c.retries = 2;
    c.timeout_ms = 1_000;
    let out = crawl(&site, c).await;
    assert_eq!(
        out.item_paths(),
        ["/", "/flaky", "/rate-limited", "/target"]
    );
    assert_eq!(
        out.skip_list(),
        [
            ("/always-500", "error:http_5xx"),
            ("/big", "size"),
            ("/bomb", "size"),
            ("/loop-a", "error:redirect_loop"),
            ("/moved-out", "scope"),
            ("/slow", "error:timeout"),
        ]
    );
    assert_eq!(site.count("/flaky"), 3, "two 503s, then success");
    assert_eq!(
        site.count("/always-500"),
        3,
        "first attempt and two retries"
    );
    let rl: Vec<_> = site
        .hits()
        .into_iter()
        .filter(|h| h.path == "/rate-limited")
        .collect();
    assert_eq!(rl.len(), 2);
    let waited = rl[1].at - rl[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured ({waited:?})"
    );
    // The redirect target was fetched once, through the redirect, and not again on its own.
    assert_eq!(site.count("/target"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_link_generator_stops_at_the_depth_and_page_budgets() {
    let site = Server::start(|path, _h, _n| {
        if path == "/robots.txt" {
            return Reply::status(404);
        }
        // Every page links to two deeper pages, forever.
        let here = path.trim_end_matches('/');
        Reply::html(page(
            path,
            &links(&[&format!("{here}/a"), &format!("{here}/b")]),
        ))
    });
    let mut c = config(site.url("/g"));
    c.max_depth = Some(3);
    let out = crawl(&site, c).await;
    assert_eq!(out.items.len(), 1 + 2 + 4 + 8, "depths 0..=3");
    assert_eq!(out.skips.values().filter(|r| **r == "depth").count(), 16);
    assert!(out.items.keys().all(|p| p.matches('/').count() <= 4));

    let mut c = config(site.url("/h"));
    c.max_pages = Some(10);
    let out = crawl(&site, c).await;
    assert_eq!(out.items.len(), 10, "the page budget");
    assert!(out.skips.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_unless_allowed() {
    let site = Server::start(|_, _, _| Reply::html(page("p", "")));
    let mut c = config(site.url("/"));
    c.allow_private = false;
    let err = collect(&SourceConfig::Web(c), &ctx(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--allow-private"), "{err}");
    assert_eq!(site.hits().len(), 0, "nothing was requested");
    // A public seed whose links point at a private address: refused at request time.
    // (Exercised through the fetch guard directly, since tests may not leave loopback.)
    let http = masa_connectors::web::fetch::Http::new(masa_connectors::web::fetch::HttpOptions {
        user_agent: "t".into(),
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        max_body: 1000,
        retries: 0,
        backoff: Duration::ZERO,
        max_retry_after: Duration::ZERO,
        allow_private: false,
    })
    .unwrap();
    let accept = |_: u16, _: &axum::http::HeaderMap| masa_connectors::web::fetch::Accept::Body;
    let by_name = url::Url::parse(&site.url("/").replace("127.0.0.1", "localhost")).unwrap();
    let e = http.get(&by_name, &[], accept).await.unwrap_err();
    assert_eq!(e.reason(), "error:private_address", "{e:?}");
    let by_ip = url::Url::parse(&site.url("/")).unwrap();
    let e = http.get(&by_ip, &[], accept).await.unwrap_err();
    assert_eq!(e.reason(), "error:private_address", "{e:?}");
    assert_eq!(
        site.hits().len(),
        0,
        "the guard stopped both before connecting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_delay_and_rate_space_requests_to_a_host() {
    let site = Server::start(|path, _h, _n| match path {
        "/robots.txt" => Reply::typed(
            "text/plain",
            b"User-agent: masa\nCrawl-delay: 0.3\nAllow: /\n".to_vec(),
        ),
        "/" => Reply::html(page("home", &links(&["/1", "/2", "/3"]))),
        _ => Reply::html(page(path, "")),
    });
    let mut c = config(site.url("/"));
    c.rate = "100/s".into();
    let out = crawl(&site, c).await;
    assert_eq!(out.items.len(), 4);
    let mut pages: Vec<_> = site
        .hits()
        .into_iter()
        .filter(|h| {
            h.path != "/robots.txt"
                && !h.path.starts_with("/.well-known")
                && !h.path.starts_with("/sitemap")
        })
        .collect();
    pages.sort_by_key(|h| h.at);
    for w in pages.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(
            gap >= Duration::from_millis(280),
            "requests {:?} and {:?} only {gap:?} apart",
            w[0].path,
            w[1].path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crawler_passes_the_connector_compliance_check() {
    let site = Server::start(|path, _h, _n| match path {
        "/robots.txt" => Reply::typed(
            "text/plain",
            b"User-agent: *\nDisallow: /private\n".to_vec(),
        ),
        "/" => Reply::html(page(
            "home",
            &links(&["/a", "/private", "http://elsewhere.test/"]),
        )),
        "/a" => Reply::html(page("a", &links(&["/b", "/"]))),
        "/b" => Reply::html(page("b", "")),
        _ => Reply::status(404),
    });
    let mut c = config(site.url("/"));
    // One request at a time makes the event order deterministic, which the check needs.
    c.concurrency = 1;
    assert_source_compliance(&SourceConfig::Web(c), &ctx(), "web").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recrawl_sends_validators_and_skips_unchanged_pages() {
    let site = Server::start(|path, h, _n| match path {
        "/robots.txt" => Reply::status(404),
        "/" => {
            if h.get("if-none-match").is_some_and(|v| v == "\"v1\"") {
                Reply::status(304)
            } else {
                Reply::html(page("home", &links(&["/dated"]))).header("etag", "\"v1\"")
            }
        }
        "/dated" => {
            if h.get("if-modified-since")
                .is_some_and(|v| v == "Wed, 21 Oct 2015 07:28:00 GMT")
            {
                Reply::status(304)
            } else {
                Reply::html(page("dated", ""))
                    .header("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            }
        }
        _ => Reply::status(404),
    });
    let config = SourceConfig::Web(config(site.url("/")));
    let first = collect(&config, &ctx(), None).await.unwrap();
    let last = match first.last().unwrap() {
        SourceEvent::Item(i) => i.checkpoint.to_value(),
        SourceEvent::Skip(s) => s.checkpoint.to_value(),
    };
    let mut again = config.build(&ctx()).unwrap();
    again.previous_run(last);
    let (tx, mut rx) = masa_connectors::ItemSender::channel(16, 1 << 20);
    let run = tokio::spawn(again.run(None, tx));
    let mut skips = Vec::new();
    while let Some(e) = rx.recv().await {
        match e.into_event() {
            SourceEvent::Skip(s) => skips.push((s.uri.replace(&site.base, ""), s.reason)),
            SourceEvent::Item(i) => panic!("{} was not modified but became an item", i.uri),
        }
    }
    run.await.unwrap().unwrap();
    skips.sort();
    assert_eq!(
        skips,
        [
            ("/".to_owned(), "unchanged"),
            ("/dated".to_owned(), "unchanged")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_txt_redirects_are_followed_and_a_failing_robots_txt_disallows_everything() {
    // robots.txt behind three redirects still applies.
    let site = Server::start(|path, _h, _n| match path {
        "/robots.txt" => Reply::redirect("/r1"),
        "/r1" => Reply::redirect("/r2"),
        "/r2" => Reply::redirect("/rules.txt"),
        "/rules.txt" => Reply::typed("text/plain", b"User-agent: *\nDisallow: /x\n".to_vec()),
        "/" => Reply::html(page("home", &links(&["/x", "/y"]))),
        "/y" => Reply::html(page("y", "")),
        _ => Reply::status(404),
    });
    let out = crawl(&site, config(site.url("/"))).await;
    assert_eq!(out.item_paths(), ["/", "/y"]);
    assert_eq!(out.skip_list(), [("/x", "robots")]);

    // A robots.txt that fails with 5xx (after retries) is a full disallow: nothing is
    // fetched, and the evidence says it was unavailable.
    let down = Server::start(|path, _h, _n| match path {
        "/robots.txt" => Reply::status(503),
        _ => Reply::html(page("p", "")),
    });
    let mut c = config(down.url("/"));
    c.sitemaps = false;
    let out = crawl(&down, c).await;
    assert!(out.items.is_empty());
    assert_eq!(out.skip_list(), [("/", "robots")]);
    assert_eq!(down.count("/"), 0);
    assert_eq!(
        down.count("/robots.txt"),
        3,
        "first attempt and two retries"
    );
    let mut c = config(down.url("/"));
    c.sitemaps = false;
    c.overrides.robots = true;
    let out = crawl(&down, c).await;
    let consent = &out.items["/"].consent;
    assert_eq!(
        (consent.robots.as_deref(), consent.overridden),
        (Some("unavailable"), true)
    );
}

//! The `mastodon` connector against a server on 127.0.0.1 replaying Mastodon's REST API:
//! statuses in the documented `Status`/`Account` format (`tests/data/mastodon/`), paged by
//! `max_id`/`min_id`/`limit` with a `Link` header as Mastodon sends it, with its rate-limit
//! (429 and an ISO 8601 `X-RateLimit-Reset`), bad-token, error-page and empty answers.

mod common;

use common::site::{Reply, Server};
use masa_connectors::compliance::{assert_source_compliance, collect};
use masa_connectors::{
    BuildContext, Connector, ItemSender, MastodonConfig, SourceConfig, SourceEvent,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "test".into(),
        credentials: Default::default(),
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/mastodon/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn statuses(name: &str) -> Vec<Value> {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn id_num(s: &Value) -> u128 {
    s["id"].as_str().unwrap().parse().unwrap()
}

/// What Mastodon answers for a timeline: `all` (newest first) paged by the query's
/// `limit`, `max_id` (older than) and `min_id` (the page right after it), with a `Link`
/// header naming the next and previous pages when the page is not empty.
fn timeline(base: &str, path: &str, query: &url::Url, all: &[Value], link: bool) -> Reply {
    let param = |k: &str| {
        query
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let limit: usize = param("limit").map_or(20, |l| l.parse().unwrap());
    let mut page: Vec<Value> = match (param("max_id"), param("min_id")) {
        (_, Some(min)) => {
            let min: u128 = min.parse().unwrap();
            let mut newer: Vec<Value> = all.iter().filter(|s| id_num(s) > min).cloned().collect();
            newer.sort_by_key(id_num);
            newer.truncate(limit);
            newer
        }
        (Some(max), None) => {
            let max: u128 = max.parse().unwrap();
            all.iter()
                .filter(|s| id_num(s) < max)
                .take(limit)
                .cloned()
                .collect()
        }
        (None, None) => all.iter().take(limit).cloned().collect(),
    };
    page.sort_by_key(|s| std::cmp::Reverse(id_num(s)));
    let mut reply = Reply::typed(
        "application/json; charset=utf-8",
        serde_json::to_vec(&page).unwrap(),
    )
    .header("x-ratelimit-limit", "300")
    .header("x-ratelimit-remaining", "299")
    .header("x-ratelimit-reset", "2024-05-01T12:10:00.000Z");
    if link && !page.is_empty() {
        let scope = if param("local").is_some() {
            "local=true&"
        } else {
            ""
        };
        let (newest, oldest) = (&page[0]["id"], &page[page.len() - 1]["id"]);
        let newest = newest.as_str().unwrap();
        let oldest = oldest.as_str().unwrap();
        reply = reply.header(
            "link",
            &format!(
                "<{base}{path}?{scope}limit={limit}&max_id={oldest}>; rel=\"next\", <{base}{path}?{scope}limit={limit}&min_id={newest}>; rel=\"prev\""
            ),
        );
    }
    reply
}

struct Instance {
    server: Server,
    /// Two posts arrive after the first run.
    later: Arc<AtomicBool>,
}

/// The instance on loopback; `hook` may answer a request first (errors, rate limits).
fn instance(
    link: bool,
    hook: impl Fn(&str, usize) -> Option<Reply> + Send + Sync + 'static,
) -> Instance {
    let later = Arc::new(AtomicBool::new(false));
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let server = Server::start({
        let (later, base) = (later.clone(), base.clone());
        let public = statuses("public.json");
        let newer = statuses("public_later.json");
        let tag = statuses("tag_rust.json");
        move |path, _h, n| {
            if let Some(r) = hook(path, n) {
                return r;
            }
            let base = base.get().unwrap();
            let url = url::Url::parse(&format!("{base}{path}")).unwrap();
            let mut all = public.clone();
            if later.load(Ordering::SeqCst) {
                all = newer.iter().chain(&public).cloned().collect();
            }
            match url.path() {
                p @ "/api/v1/timelines/public" => timeline(base, p, &url, &all, link),
                p @ "/api/v1/timelines/tag/rust" => timeline(base, p, &url, &tag, link),
                p @ "/api/v1/timelines/tag/nothinghere" => timeline(base, p, &url, &[], link),
                _ => Reply::typed(
                    "application/json",
                    b"{\"error\":\"Record not found\"}".to_vec(),
                )
                .status_code(404),
            }
        }
    });
    base.set(server.base.clone()).unwrap();
    Instance { server, later }
}

trait StatusCode {
    fn status_code(self, s: u16) -> Self;
}

impl StatusCode for Reply {
    fn status_code(mut self, s: u16) -> Self {
        self.status = s;
        self
    }
}

fn config(server: &Server, extra: Value) -> SourceConfig {
    let mut v = json!({"instance": server.base, "page_size": 3});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    SourceConfig::Mastodon(serde_json::from_value::<MastodonConfig>(v).unwrap())
}

/// Events as (status id, "item" or the skip reason).
fn outline(events: &[SourceEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| match e {
            SourceEvent::Item(i) => (i.uri.rsplit('/').next().unwrap().to_owned(), "item".into()),
            SourceEvent::Skip(s) => (
                s.uri.rsplit('/').next().unwrap().to_owned(),
                s.reason.to_owned(),
            ),
        })
        .collect()
}

fn checkpoint(e: &SourceEvent) -> Value {
    match e {
        SourceEvent::Item(i) => i.checkpoint.to_value(),
        SourceEvent::Skip(s) => s.checkpoint.to_value(),
    }
}

/// Builds, tells it the previous run's last checkpoint, checks and runs a connector.
async fn run_after(
    config: &SourceConfig,
    previous: Value,
    resume: Option<Value>,
) -> Vec<SourceEvent> {
    let mut c: Box<dyn Connector> = config.build(&ctx()).unwrap();
    c.previous_run(previous);
    c.check().await.unwrap();
    let (tx, mut rx) = ItemSender::channel(16, 1 << 20);
    let run = tokio::spawn(c.run(resume, tx));
    let mut out = Vec::new();
    while let Some(e) = rx.recv().await {
        out.push(e.into_event());
    }
    run.await.unwrap().unwrap();
    out
}

fn s(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_timeline_is_walked_back_recording_only_accounts_that_opted_in() {
    let inst = instance(true, |_, _| None);
    let events = collect(&config(&inst.server, json!({})), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(
        outline(&events),
        s(&[
            ("110000000000000106", "item"),
            ("110000000000000105", "consent:not_indexable"),
            ("110000000000000104", "item"),
            ("110000000000000103", "consent:noindex"),
            ("110000000000000102", "consent:not_discoverable"),
            ("110000000000000101", "content:empty"),
            ("110000000000000100", "item"),
        ])
    );
    let items: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Item(i) => Some(i),
            SourceEvent::Skip(_) => None,
        })
        .collect();
    assert_eq!(
        items[0].uri,
        "https://social.example/@amy/110000000000000106"
    );
    assert_eq!(
        String::from_utf8(items[0].body.clone()).unwrap(),
        "Shipping the new release today #rust & thanks @bob!\n\nNotes: https://example.org/releases/2024/05/notes.html\nFeedback welcome."
    );
    assert_eq!(
        items[0].licence.as_deref(),
        Some("author's (Mastodon account @amy@social.example)")
    );
    assert_eq!(items[0].consent.declaration.as_deref(), Some("test"));
    assert_eq!(items[0].title, None);
    // The remote account of an older server, recorded by `discoverable`.
    assert_eq!(
        items[1].licence.as_deref(),
        Some("author's (Mastodon account @olga@old.example)")
    );
    // A content warning is the title.
    assert_eq!(items[2].title.as_deref(), Some("Spoilers for the finale"));
    assert_eq!(
        String::from_utf8(items[2].body.clone()).unwrap(),
        "It was the butler."
    );
    // Pages of 3 through the Link header: the check, 3 pages and the empty one after them.
    let paths: Vec<String> = inst.server.hits().iter().map(|h| h.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/timelines/public?local=true&limit=1",
            "/api/v1/timelines/public?local=true&limit=3",
            "/api/v1/timelines/public?local=true&limit=3&max_id=110000000000000104",
            "/api/v1/timelines/public?local=true&limit=3&max_id=110000000000000101",
            "/api/v1/timelines/public?local=true&limit=3&max_id=110000000000000100",
        ]
    );
    assert_eq!(
        checkpoint(events.last().unwrap()),
        json!({"direction": "older", "at": "110000000000000100", "newest": "110000000000000106", "count": 7})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_link_header_pages_go_on_by_max_id_and_max_items_holds() {
    let inst = instance(false, |_, _| None);
    let events = collect(
        &config(
            &inst.server,
            json!({"timeline": "federated", "max_items": 4}),
        ),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 4);
    let paths: Vec<String> = inst.server.hits().iter().map(|h| h.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/timelines/public?limit=1",
            "/api/v1/timelines/public?limit=3",
            "/api/v1/timelines/public?limit=3&max_id=110000000000000104",
        ]
    );
    // Resumed after the third event, the count carries on: one more, then the cap.
    let rest = collect(
        &config(
            &inst.server,
            json!({"timeline": "federated", "max_items": 4}),
        ),
        &ctx(),
        Some(checkpoint(&events[2])),
    )
    .await
    .unwrap();
    assert_eq!(outline(&rest), outline(&events[3..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_after_a_completed_one_reads_only_newer_posts_oldest_first() {
    let inst = instance(true, |_, _| None);
    let c = config(&inst.server, json!({"page_size": 1}));
    let first = collect(&c, &ctx(), None).await.unwrap();
    let last = checkpoint(first.last().unwrap());
    inst.later.store(true, Ordering::SeqCst);
    let again = run_after(&c, last.clone(), None).await;
    assert_eq!(
        outline(&again),
        s(&[
            ("110000000000000107", "item"),
            ("110000000000000108", "item")
        ])
    );
    assert!(
        inst.server
            .hits()
            .iter()
            .any(|h| h.path
                == "/api/v1/timelines/public?local=true&limit=1&min_id=110000000000000106"),
        "asked for what is newer than the previous run's newest"
    );
    assert_eq!(
        checkpoint(&again[1]),
        json!({"direction": "newer", "at": "110000000000000108", "newest": "110000000000000108", "count": 2})
    );
    // Killed after the first new post, it resumes with the second only.
    let rest = run_after(&c, last, Some(checkpoint(&again[0]))).await;
    assert_eq!(outline(&rest), s(&[("110000000000000108", "item")]));
    // Nothing new since: an empty run.
    let none = run_after(&c, checkpoint(&again[1]), None).await;
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hashtag_timeline_and_an_empty_one() {
    let inst = instance(true, |_, _| None);
    let events = collect(
        &config(
            &inst.server,
            json!({"hashtag": "#rust", "timeline": "federated"}),
        ),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        outline(&events),
        s(&[
            ("110000000000000106", "item"),
            ("110000000000000099", "item")
        ])
    );
    assert_eq!(inst.server.count("/api/v1/timelines/tag/rust?limit=3"), 1);
    let none = collect(
        &config(&inst.server, json!({"hashtag": "nothinghere"})),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_passes_the_compliance_check() {
    let inst = instance(true, |_, _| None);
    for extra in [
        json!({}),
        json!({"page_size": 2, "max_items": 5}),
        json!({"hashtag": "rust"}),
    ] {
        assert_source_compliance(&config(&inst.server, extra), &ctx(), "mastodon").await;
    }
    let plain = instance(false, |_, _| None);
    assert_source_compliance(&config(&plain.server, json!({})), &ctx(), "mastodon").await;
}

fn iso_in(d: Duration) -> String {
    time::OffsetDateTime::from(SystemTime::now() + d)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_with_an_iso_reset_and_a_failing_server_are_waited_out() {
    // The second page is rate limited until a second from now (Mastodon's ISO 8601 reset);
    // the third answers Rails' error page twice before it comes back.
    let reset = iso_in(Duration::from_secs(1));
    let inst = instance(true, move |path, n| match (path, n) {
        ("/api/v1/timelines/public?local=true&limit=3&max_id=110000000000000104", 0) => Some(
            Reply::typed("application/json", fixture("rate_limited.json"))
                .status_code(429)
                .header("x-ratelimit-limit", "300")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", &reset),
        ),
        ("/api/v1/timelines/public?local=true&limit=3&max_id=110000000000000101", 0 | 1) => Some(
            Reply::html(String::from_utf8(fixture("maintenance.html")).unwrap()).status_code(503),
        ),
        _ => None,
    });
    let events = collect(&config(&inst.server, json!({})), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(events.len(), 7);
    assert_eq!(
        inst.server
            .count("/api/v1/timelines/public?local=true&limit=3&max_id=110000000000000104"),
        2
    );
    assert_eq!(
        inst.server
            .count("/api/v1/timelines/public?local=true&limit=3&max_id=110000000000000101"),
        3
    );
}

const BAD_TOKEN_VAR: &str = "MASA_TEST_MASTODON_BAD_TOKEN";

/// The token comes from the environment, which a test cannot change safely while other
/// tests run: this one runs itself again in a child process with the variable set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_refused_once_named_by_its_variable_and_never_shown() {
    if std::env::var_os(BAD_TOKEN_VAR).is_none() {
        let name = "a_bad_token_is_refused_once_named_by_its_variable_and_never_shown";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads", "1"])
            .env(BAD_TOKEN_VAR, "wr0ngt0ken")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let server = Server::start(|_, headers, _| {
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some("Bearer wr0ngt0ken") => {
                Reply::typed("application/json", fixture("bad_token.json")).status_code(401)
            }
            _ => Reply::status(500),
        }
    });
    let c = config(
        &server,
        json!({"token_env": "MASA_TEST_MASTODON_BAD_TOKEN"}),
    );
    let err = collect(&c, &ctx(), None).await.err().unwrap().to_string();
    assert!(
        err.starts_with("mastodon source:")
            && err.contains("401")
            && err.contains("MASA_TEST_MASTODON_BAD_TOKEN[0]")
            && !err.contains("wr0ngt0ken"),
        "{err}"
    );
    assert_eq!(server.hits().len(), 1, "the check failed before the run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_timeline_html_and_a_wrong_path_are_clear_errors() {
    // No token where the instance wants one: the variable to set is named.
    let server = Server::start(|_, _, _| {
        Reply::typed("application/json", fixture("needs_login.json")).status_code(401)
    });
    let err = collect(&config(&server, json!({})), &ctx(), None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("401") && err.contains("MASA_MASTODON_TOKEN"),
        "{err}"
    );

    let html = Server::start(|_, _, _| {
        Reply::html(String::from_utf8(fixture("maintenance.html")).unwrap())
    });
    let err = collect(&config(&html, json!({})), &ctx(), None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("mastodon source:") && err.contains("text/html instead of JSON"),
        "{err}"
    );

    let inst = instance(true, |_, _| None);
    let wrong = SourceConfig::Mastodon(
        serde_json::from_value(json!({"instance": inst.server.base, "hashtag": "gone"})).unwrap(),
    );
    let err = collect(&wrong, &ctx(), None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("no such timeline") && err.contains("check `instance`"),
        "{err}"
    );
}

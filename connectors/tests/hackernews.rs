//! The `hackernews` connector, and the API rules every API connector shares, against a
//! server on 127.0.0.1 replaying answers in the formats of Hacker News's Firebase API (the
//! items below follow its documented examples), with its error, rate-limit and empty cases.

mod common;

use common::site::{Reply, Server};
use masa_connectors::api::{ApiClient, ApiError, ApiOptions, Auth};
use masa_connectors::compliance::{assert_source_compliance, collect};
use masa_connectors::{BuildContext, HackerNewsConfig, SourceConfig, SourceEvent};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "test".into(),
        credentials: Default::default(),
    }
}

/// Items 1–8: a story with two comments (one deleted), a dead story, a job, an id the API
/// answers `null` for, a comment with HTML, and a story with text.
fn items() -> BTreeMap<u64, Value> {
    BTreeMap::from([
        (
            1,
            json!({"by": "dhouston", "descendants": 2, "id": 1, "kids": [2, 3], "score": 111,
                   "time": 1175714200, "title": "My YC app: Dropbox - Throw away your USB drive",
                   "type": "story", "url": "http://www.getdropbox.com/u/2/screencast.html"}),
        ),
        (
            2,
            json!({"by": "norvig", "id": 2, "kids": [7], "parent": 1, "time": 1314211127,
                   "type": "comment",
                   "text": "Aw shucks, guys ... you make me blush with your compliments.<p>Tell you what, I&#x27;ll make a deal: I&#x27;ll keep writing if you keep reading. K?"}),
        ),
        (
            3,
            json!({"deleted": true, "id": 3, "parent": 1, "time": 1314211130, "type": "comment"}),
        ),
        (
            4,
            json!({"by": "spammer", "dead": true, "id": 4, "time": 1314211140, "type": "story",
                   "title": "Buy now"}),
        ),
        (
            5,
            json!({"by": "justin", "id": 5, "score": 6, "time": 1210981217, "type": "job",
                   "title": "Justin.tv is looking for a Lead Flash Engineer!",
                   "text": "Justin.tv is the biggest live video site online.<p>We are hiring."}),
        ),
        (6, Value::Null),
        (
            7,
            json!({"by": "pg", "id": 7, "parent": 2, "time": 1314211200, "type": "comment",
                   "text": "Keep reading, <i>everyone</i>: <a href=\"https://example.org\">here</a>."}),
        ),
        (
            8,
            json!({"by": "tel", "id": 8, "score": 25, "time": 1203647620, "type": "story",
                   "title": "Ask HN: The Arc Effect", "text": "What did you learn from Arc?"}),
        ),
    ])
}

/// The API on loopback; `hook` may answer a request first (errors, rate limits).
fn api(hook: impl Fn(&str, usize) -> Option<Reply> + Send + Sync + 'static) -> Server {
    let items = items();
    Server::start(move |path, _h, n| {
        if let Some(r) = hook(path, n) {
            return r;
        }
        let json = |v: &Value| {
            Reply::typed(
                "application/json; charset=utf-8",
                v.to_string().into_bytes(),
            )
        };
        match path {
            "/v0/maxitem.json" => json(&json!(8)),
            "/v0/topstories.json" => json(&json!([8, 1, 4])),
            "/v0/askstories.json" => json(&json!([])),
            p => match p
                .strip_prefix("/v0/item/")
                .and_then(|i| i.strip_suffix(".json"))
                .and_then(|i| i.parse::<u64>().ok())
            {
                // The API answers `null` for ids it does not have.
                Some(id) => json(items.get(&id).unwrap_or(&Value::Null)),
                None => Reply::status(404),
            },
        }
    })
}

fn config(server: &Server, extra: Value) -> SourceConfig {
    let mut v = json!({"base_url": server.url("/v0")});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    SourceConfig::Hackernews(serde_json::from_value::<HackerNewsConfig>(v).unwrap())
}

/// Events as (uri id, "item" or the skip reason, body).
fn outline(events: &[SourceEvent]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| match e {
            SourceEvent::Item(i) => (
                i.uri.rsplit('=').next().unwrap().to_owned(),
                "item".to_owned(),
                String::from_utf8(i.body.clone()).unwrap(),
            ),
            SourceEvent::Skip(s) => (
                s.uri.rsplit('=').next().unwrap().to_owned(),
                s.reason.to_owned(),
                String::new(),
            ),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_range_yields_items_and_counts_deleted_dead_and_missing_ones() {
    let server = api(|_, _| None);
    let events = collect(&config(&server, json!({"from_id": 1})), &ctx(), None)
        .await
        .unwrap();
    let got = outline(&events);
    let kinds: Vec<(&str, &str)> = got
        .iter()
        .map(|(i, k, _)| (i.as_str(), k.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("1", "item"),
            ("2", "item"),
            ("3", "api:deleted"),
            ("4", "api:dead"),
            ("5", "item"),
            ("6", "api:missing"),
            ("7", "item"),
            ("8", "item"),
        ],
        "the range ends at maxitem"
    );
    assert_eq!(
        got[1].2,
        "Aw shucks, guys ... you make me blush with your compliments.\n\nTell you what, I'll make a deal: I'll keep writing if you keep reading. K?"
    );
    assert_eq!(got[6].2, "Keep reading, everyone: here.");
    assert_eq!(
        got[4].2,
        "Justin.tv is looking for a Lead Flash Engineer!\n\nJustin.tv is the biggest live video site online.\n\nWe are hiring."
    );
    let SourceEvent::Item(first) = &events[0] else {
        panic!()
    };
    assert_eq!(first.uri, "https://news.ycombinator.com/item?id=1");
    assert_eq!(
        first.title.as_deref(),
        Some("My YC app: Dropbox - Throw away your USB drive")
    );
    assert_eq!(
        first.licence.as_deref(),
        Some("author's (Hacker News user dhouston)")
    );
    assert_eq!(first.consent.declaration.as_deref(), Some("test"));
    // A bounded range stops at its end.
    let some = collect(
        &config(&server, json!({"from_id": 2, "to_id": 3})),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(some.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_with_comments_walks_each_story_depth_first() {
    let server = api(|_, _| None);
    let events = collect(
        &config(&server, json!({"list": "top", "comments": true})),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    let order: Vec<String> = outline(&events)
        .into_iter()
        .map(|(i, k, _)| format!("{i}:{k}"))
        .collect();
    assert_eq!(
        order,
        [
            "8:item",
            "1:item",
            "2:item",
            "7:item",
            "3:api:deleted",
            "4:api:dead"
        ]
    );
    // An empty list is an empty run, not an error.
    let none = collect(&config(&server, json!({"list": "ask"})), &ctx(), None)
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_passes_the_compliance_check() {
    let server = api(|_, _| None);
    for extra in [
        json!({"from_id": 1}),
        json!({"list": "top", "comments": true}),
    ] {
        assert_source_compliance(&config(&server, extra), &ctx(), "hackernews").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_waited_out() {
    // Item 2 is rate limited once (come back in 1 s); item 5 fails twice with 503.
    let server = api(|path, n| match (path, n) {
        ("/v0/item/2.json", 0) => Some(Reply::status(429).header("retry-after", "1")),
        ("/v0/item/5.json", 0 | 1) => Some(Reply::status(503)),
        _ => None,
    });
    let started = Instant::now();
    let events = collect(&config(&server, json!({"from_id": 1})), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(events.len(), 8);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(server.count("/v0/item/2.json"), 2);
    assert_eq!(server.count("/v0/item/5.json"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_answer_a_dead_end_and_a_bad_answer_are_clear_errors() {
    // A proxy's sign-in page where the API should be.
    let html = Server::start(|_, _, _| Reply::html("<html><body>Please sign in</body></html>"));
    let c = SourceConfig::Hackernews(
        serde_json::from_value(json!({"base_url": html.url("/v0"), "list": "top"})).unwrap(),
    );
    let err = collect(&c, &ctx(), None).await.err().unwrap().to_string();
    assert!(
        err.contains("hackernews") && err.contains("text/html") && err.contains("instead of JSON"),
        "{err}"
    );
    // A base URL where nothing answers with a number.
    let wrong = Server::start(|_, _, _| Reply::typed("application/json", b"{}".to_vec()));
    let c = SourceConfig::Hackernews(
        serde_json::from_value(json!({"base_url": wrong.url("/v0"), "from_id": 1})).unwrap(),
    );
    let err = collect(&c, &ctx(), None).await.err().unwrap().to_string();
    assert!(err.contains("check base_url"), "{err}");
    // A server failing for good: the run stops with the last error, after its attempts.
    let down = api(|path, _| (path == "/v0/item/3.json").then(|| Reply::status(500)));
    let err = collect(&config(&down, json!({"from_id": 1})), &ctx(), None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("gave up after 5 attempts") && err.contains("500"),
        "{err}"
    );
}

fn quick() -> ApiOptions {
    ApiOptions {
        backoff: Duration::from_millis(10),
        ..ApiOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_key_cools_down_and_the_next_one_is_used() {
    // Key "a" is out of requests until the server's reset (a minute away); key "b" is fine.
    let server = Server::start(|_, headers, _| {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match auth {
            "Bearer a" => Reply::status(429)
                .header("x-ratelimit-remaining", "0")
                .header("ratelimit-reset", "60"),
            "Bearer b" => Reply::typed("application/json", b"{\"ok\": 1}".to_vec()),
            _ => Reply::status(401),
        }
    });
    let keys = vec![
        ("a".into(), "TEST_KEYS[0]".into()),
        ("b".into(), "TEST_KEYS[1]".into()),
    ];
    let client = ApiClient::new(quick(), Auth::Bearer, keys).unwrap();
    let url = url::Url::parse(&server.url("/x")).unwrap();
    for _ in 0..3 {
        assert_eq!(client.get_json(&url).await.unwrap(), Some(json!({"ok": 1})));
    }
    let auths: Vec<String> = server
        .hits()
        .iter()
        .map(|h| h.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(auths, ["Bearer a", "Bearer b", "Bearer b", "Bearer b"]);

    // Every key limited for longer than the run waits: a clear error, no endless wait.
    let only_a = ApiClient::new(
        ApiOptions {
            max_wait: Duration::from_secs(5),
            ..quick()
        },
        Auth::Bearer,
        vec![("a".into(), "TEST_KEYS[0]".into())],
    )
    .unwrap();
    let e = only_a.get_json(&url).await.unwrap_err();
    assert!(matches!(e, ApiError::Limited { .. }), "{e}");
    assert!(e.to_string().contains("resumes from its checkpoint"), "{e}");

    // A refused key is named by where it came from; the secret is in no message.
    let bad = ApiClient::new(
        quick(),
        Auth::Token,
        vec![("s3cr3t".into(), "TEST_KEYS[0]".into())],
    )
    .unwrap();
    let e = bad.get_json(&url).await.unwrap_err().to_string();
    assert!(e.contains("TEST_KEYS[0]") && !e.contains("s3cr3t"), "{e}");
}

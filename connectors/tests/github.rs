//! The `github` connector against a server on 127.0.0.1 replaying answers written from
//! GitHub's documented REST and GraphQL formats (`tests/data/github/`): issues and comments
//! paged by `Link` headers, discussions paged by `endCursor`, rate limits (primary and
//! secondary), an empty repository, an HTML page, a 404 and a refused token.
//!
//! A test cannot set its own environment (that is `unsafe`, which the workspace denies), so
//! the tests that need tokens run again in a child process of this test binary with
//! `MASA_TEST_GITHUB_TOKEN` set: see [`with_tokens`].

mod common;

use common::site::{Reply, Req, Server};
use masa_connectors::compliance::{assert_source_compliance, collect};
use masa_connectors::{BuildContext, GithubConfig, SourceConfig, SourceEvent};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TOKEN_VAR: &str = "MASA_TEST_GITHUB_TOKEN";
const ISSUES: &str =
    "/repos/octo-org/hello-world/issues?state=all&sort=created&direction=asc&per_page=100";
const ISSUES_2: &str =
    "/repositories/1296269/issues?state=all&sort=created&direction=asc&per_page=100&page=2";
const COMMENTS_1: &str = "/repos/octo-org/hello-world/issues/1/comments?per_page=100";
const COMMENTS_1_2: &str = "/repositories/1296269/issues/1/comments?per_page=100&page=2";
const CURSOR_2: &str = "Y3Vyc29yOnYyOpK5MjAyNC0wMS0wMlQxMDowMDowMCswMDowMM4AAAAB";

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "test".into(),
        credentials: Default::default(),
    }
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/github/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn json_reply(name: &str) -> Reply {
    Reply::typed("application/json; charset=utf-8", data(name))
}

fn epoch_in(secs: u64) -> String {
    (SystemTime::now() + Duration::from_secs(secs))
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

/// The API on loopback; `hook` may answer a request first.
fn api(hook: impl Fn(&Req) -> Option<Reply> + Send + Sync + 'static) -> Server {
    let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let b = base.clone();
    let server = Server::start_req(move |r| {
        if let Some(reply) = hook(r) {
            return reply;
        }
        let base = b.get().expect("set after start");
        let link = |target: &str, rel: &str| format!("<{base}{target}>; rel=\"{rel}\"");
        match (r.method, r.path) {
            ("GET", "/repos/octo-org/hello-world" | "/repos/octo-org/empty") => {
                json_reply("repo.json")
            }
            ("GET", ISSUES) => json_reply("issues_1.json").header(
                "link",
                &format!("{}, {}", link(ISSUES_2, "next"), link(ISSUES_2, "last")),
            ),
            ("GET", ISSUES_2) => json_reply("issues_2.json").header(
                "link",
                &format!("{}, {}", link(ISSUES, "prev"), link(ISSUES, "first")),
            ),
            ("GET", COMMENTS_1) => {
                json_reply("comments_1_1.json").header("link", &link(COMMENTS_1_2, "next"))
            }
            ("GET", COMMENTS_1_2) => json_reply("comments_1_2.json"),
            ("GET", "/repos/octo-org/hello-world/issues/4/comments?per_page=100") => {
                json_reply("comments_4.json")
            }
            ("GET", p) if p.starts_with("/repos/octo-org/empty/issues?") => {
                Reply::typed("application/json", b"[]".to_vec())
            }
            ("POST", "/graphql") => {
                let body: Value = serde_json::from_slice(r.body).unwrap();
                let vars = &body["variables"];
                if vars["name"] != "hello-world" {
                    return json_reply("graphql_not_found.json");
                }
                let query = body["query"].as_str().unwrap();
                match (query.contains("discussion(number"), vars["after"].as_str()) {
                    (false, None) => json_reply("discussions_1.json"),
                    (false, Some(CURSOR_2)) => json_reply("discussions_2.json"),
                    (true, None) if vars["number"] == 1 => json_reply("discussion_comments_1.json"),
                    _ => Reply::status(400),
                }
            }
            _ => Reply::typed("application/json", data("not_found.json")).status_code(404),
        }
    });
    base.set(server.base.clone()).unwrap();
    server
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
    let mut v =
        json!({"base_url": server.base, "repo": "octo-org/hello-world", "token_env": TOKEN_VAR});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    SourceConfig::Github(serde_json::from_value::<GithubConfig>(v).unwrap())
}

/// Events as "uri-tail kind".
fn outline(events: &[SourceEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let (uri, kind) = match e {
                SourceEvent::Item(i) => (&i.uri, "item"),
                SourceEvent::Skip(s) => (&s.uri, s.reason),
            };
            let tail = uri
                .strip_prefix("https://github.com/octo-org/hello-world/")
                .unwrap();
            format!("{tail} {kind}")
        })
        .collect()
}

async fn error(c: &SourceConfig) -> String {
    match collect(c, &ctx(), None).await {
        Err(e) => e.to_string(),
        Ok(events) => panic!("no error, {} events", events.len()),
    }
}

/// Runs test `name` again in a child process with `TOKEN_VAR` set to `tokens` and asserts
/// it passed there; true when this is that child, which then runs the test's body.
fn with_tokens(name: &str, tokens: &str) -> bool {
    if std::env::var_os(TOKEN_VAR).is_some() {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1"])
        .env(TOKEN_VAR, tokens)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} with tokens:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_and_comments_follow_link_pages_and_pull_requests_are_counted_skips() {
    let server = api(|_| None);
    let events = collect(&config(&server, json!({})), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(
        outline(&events),
        [
            "issues/1 item",
            "issues/1#issuecomment-11 item",
            "issues/1#issuecomment-12 item",
            "issues/1#issuecomment-13 github:empty",
            "pull/2 github:pull_request",
            "issues/3 item",
            "issues/4 item",
            "issues/4#issuecomment-41 item",
        ]
    );
    let SourceEvent::Item(first) = &events[0] else {
        panic!()
    };
    assert_eq!(
        String::from_utf8(first.body.clone()).unwrap(),
        "Found a bug\n\nI'm having a problem with this.\n\nSteps:\n1. run it"
    );
    assert_eq!(first.title.as_deref(), Some("Found a bug"));
    assert_eq!(first.content_type.as_deref(), Some("text/markdown"));
    assert_eq!(first.consent.declaration.as_deref(), Some("test"));
    let licences: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Item(i) => i.licence.as_deref(),
            SourceEvent::Skip(_) => None,
        })
        .collect();
    assert_eq!(
        licences,
        [
            "author's (GitHub user octocat)",
            "author's (GitHub user hubot)",
            "author's (GitHub user ghost)",
            "author's (GitHub user monalisa)",
            "author's (GitHub user octocat)",
            "author's (GitHub user monalisa)",
        ],
        "each text is its author's, not under the repository's MIT licence"
    );
    // Checkpoints: in issue 1's comments, then on the Link page.
    let cp = |i: usize| match &events[i] {
        SourceEvent::Item(x) => x.checkpoint.to_value(),
        SourceEvent::Skip(s) => s.checkpoint.to_value(),
    };
    assert_eq!(
        cp(0),
        json!({"phase": "issues", "page": null, "index": 0, "children": {"page": null, "index": 0}})
    );
    assert_eq!(
        cp(2)["children"]["page"],
        json!(format!("{}{COMMENTS_1_2}", server.base))
    );
    assert_eq!(cp(4)["page"], json!(format!("{}{ISSUES_2}", server.base)));
    assert_eq!(cp(7)["phase"], "done");
    // Every request carried the API version; no token was configured, none was sent.
    for h in server.hits() {
        assert_eq!(h.headers["x-github-api-version"], "2022-11-28");
        assert!(!h.headers.contains_key("authorization"));
    }
    // With pull requests asked for, the PR is an item.
    let with_prs = collect(
        &config(&server, json!({"pull_requests": true, "comments": false})),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        outline(&with_prs),
        [
            "issues/1 item",
            "pull/2 item",
            "issues/3 item",
            "issues/4 item"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_passes_the_compliance_check() {
    let server = api(|_| None);
    assert_source_compliance(&config(&server, json!({})), &ctx(), "github").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_repository_is_an_empty_run_and_since_is_sent() {
    let server = api(|_| None);
    let c = config(
        &server,
        json!({"repo": "octo-org/empty", "since": "2024-01-01T00:00:00Z"}),
    );
    let events = collect(&c, &ctx(), None).await.unwrap();
    assert!(events.is_empty());
    assert!(
        server.hits().iter().any(|h| h.path
            == "/repos/octo-org/empty/issues?state=all&sort=created&direction=asc&per_page=100&since=2024-01-01T00%3A00%3A00Z"),
        "{:?}",
        server.hits().iter().map(|h| &h.path).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_and_secondary_rate_limits_are_waited_out() {
    // The issues page: out of requests until the reset (epoch seconds, 1 s away); issue 1's
    // comments: a secondary limit (403 with Retry-After); issue 4's: a 429.
    let server = api(|r| match (r.path, r.n) {
        (ISSUES, 0) => Some(
            json_reply("rate_limited.json")
                .status_code(403)
                .header("x-ratelimit-limit", "60")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", &epoch_in(1)),
        ),
        (COMMENTS_1, 0) => Some(
            json_reply("secondary_limit.json")
                .status_code(403)
                .header("retry-after", "1"),
        ),
        ("/repos/octo-org/hello-world/issues/4/comments?per_page=100", 0) => Some(
            json_reply("secondary_limit.json")
                .status_code(429)
                .header("retry-after", "0"),
        ),
        _ => None,
    });
    let events = collect(&config(&server, json!({})), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(events.len(), 8);
    assert_eq!(server.count(ISSUES), 2);
    assert_eq!(server.count(COMMENTS_1), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_a_missing_repository_and_a_bad_answer_are_clear_errors() {
    // A sign-in page where the API should be.
    let html = Server::start(|_, _, _| Reply::html("<html><body>Sign in to GitHub</body></html>"));
    let c = SourceConfig::Github(
        serde_json::from_value(
            json!({"base_url": html.base, "repo": "o/r", "token_env": TOKEN_VAR}),
        )
        .unwrap(),
    );
    let err = error(&c).await;
    assert!(
        err.contains("github source") && err.contains("text/html instead of JSON"),
        "{err}"
    );
    // A repository that does not exist (or the token cannot see).
    let server = api(|_| None);
    let err = error(&config(&server, json!({"repo": "octo-org/nothing"}))).await;
    assert!(
        err.contains("repository octo-org/nothing not found") && err.contains(TOKEN_VAR),
        "{err}"
    );
    // An issues "page" that is an object.
    let odd = api(|r| {
        (r.path == ISSUES)
            .then(|| Reply::typed("application/json", b"{\"message\":\"odd\"}".to_vec()))
    });
    let err = error(&config(&odd, json!({}))).await;
    assert!(err.contains("not a list of issues"), "{err}");
    // A Link to another host is not followed with the token.
    let elsewhere = api(|r| {
        (r.path == ISSUES).then(|| {
            json_reply("issues_1.json").header(
                "link",
                "<https://elsewhere.example/issues?page=2>; rel=\"next\"",
            )
        })
    });
    let err = error(&config(&elsewhere, json!({"comments": false}))).await;
    assert!(err.contains("not under base_url"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discussions_with_tokens_rotate_a_limited_key_and_pass_the_compliance_check() {
    if !with_tokens(
        "discussions_with_tokens_rotate_a_limited_key_and_pass_the_compliance_check",
        "tok-a, tok-b",
    ) {
        return;
    }
    // Key a is out of requests for a minute; the first discussions query is RATE_LIMITED
    // once, with the reset a second away.
    let server = api(|r| {
        let auth = r.headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth == Some("Bearer tok-a") {
            return Some(
                json_reply("rate_limited.json")
                    .status_code(403)
                    .header("x-ratelimit-remaining", "0")
                    .header("x-ratelimit-reset", &epoch_in(60)),
            );
        }
        let first_query = r.method == "POST"
            && r.n == 0
            && !String::from_utf8_lossy(r.body).contains("discussion(number")
            && !String::from_utf8_lossy(r.body).contains(CURSOR_2);
        first_query.then(|| {
            json_reply("graphql_rate_limited.json")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", &epoch_in(1))
        })
    });
    let c = config(&server, json!({"issues": false, "discussions": true}));
    let events = collect(&c, &ctx(), None).await.unwrap();
    assert_eq!(
        outline(&events),
        [
            "discussions/1 item",
            "discussions/1#discussioncomment-101 item",
            "discussions/1#discussioncomment-102 item",
            "discussions/1#discussioncomment-101#replies github:replies_not_fetched",
            "discussions/1#discussioncomment-103 item",
            "discussions/2 item",
        ]
    );
    let SourceEvent::Item(anon) = &events[4] else {
        panic!()
    };
    assert_eq!(
        anon.licence.as_deref(),
        Some("author's (a deleted GitHub account)")
    );
    let auths: Vec<String> = server
        .hits()
        .iter()
        .map(|h| h.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(auths[0], "Bearer tok-a", "the first key is tried first");
    assert!(auths[1..].iter().all(|a| a == "Bearer tok-b"), "{auths:?}");
    // The limited query was asked again.
    let queries = server.hits().iter().filter(|h| h.method == "POST").count();
    assert_eq!(
        queries, 4,
        "two discussion pages, one comments page, one retry"
    );

    assert_source_compliance(&c, &ctx(), "github").await;
    let both = config(&server, json!({"discussions": true, "comments": false}));
    let all = collect(&both, &ctx(), None).await.unwrap();
    assert_eq!(all.len(), 4 + 2, "issues then discussions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_or_a_graphql_error_is_one_clear_error_without_the_secret() {
    if !with_tokens(
        "a_bad_token_or_a_graphql_error_is_one_clear_error_without_the_secret",
        "ghp_not-a-real-token",
    ) {
        return;
    }
    let server = api(|r| {
        (r.headers["authorization"] == "Bearer ghp_not-a-real-token"
            && r.path == "/repos/octo-org/refused")
            .then(|| json_reply("bad_credentials.json").status_code(401))
    });
    let err = error(&config(&server, json!({"repo": "octo-org/refused"}))).await;
    assert!(
        err.contains("github source")
            && err.contains("refused the credentials (401)")
            && err.contains("MASA_TEST_GITHUB_TOKEN[0]")
            && !err.contains("ghp_not-a-real-token"),
        "{err}"
    );
    assert_eq!(server.hits().len(), 1, "the check stops the run");
    // A GraphQL error names its type and message.
    let c = config(
        &server,
        json!({"repo": "octo-org/empty", "issues": false, "discussions": true}),
    );
    let err = error(&c).await;
    assert!(
        err.contains("GraphQL error NOT_FOUND") && err.contains("Could not resolve"),
        "{err}"
    );
}

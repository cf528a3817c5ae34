//! The `mediawiki` connector against a server on 127.0.0.1 replaying a MediaWiki Action
//! API (`api.php`, `formatversion=2`): siteinfo, `generator=allpages` and
//! `generator=categorymembers` answers with TextExtracts' plain text and their `continue`
//! objects (`tests/data/mediawiki/`), and its maxlag, rate-limit, error, empty and
//! not-an-API answers.

mod common;

use common::site::{Reply, Server};
use masa_connectors::compliance::{assert_source_compliance, collect};
use masa_connectors::{BuildContext, MediaWikiConfig, SourceConfig, SourceEvent};
use serde_json::{Value, json};
use std::collections::HashMap;

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "test".into(),
        credentials: Default::default(),
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/mediawiki/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_reply(name: &str) -> Reply {
    Reply::typed("application/json; charset=utf-8", fixture(name))
}

fn with_status(mut r: Reply, status: u16) -> Reply {
    r.status = status;
    r
}

/// The query of a request path as a map.
fn params(path: &str) -> HashMap<String, String> {
    url::Url::parse(&format!("http://x{path}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Which answer of the wiki a request gets, by its parameters.
fn answer_name(path: &str) -> Option<&'static str> {
    let p = params(path);
    let get = |k: &str| p.get(k).map(String::as_str);
    if !path.starts_with("/w/api.php?") || get("action") != Some("query") {
        return None;
    }
    if get("meta") == Some("siteinfo") {
        return Some("siteinfo.json");
    }
    match (get("generator"), get("gcmtitle")) {
        (Some("allpages"), _) => match get("gapcontinue") {
            None => Some("allpages_1.json"),
            Some("Analytical_Engine") => Some("allpages_2.json"),
            Some("Charles_Babbage") => Some("allpages_3.json"),
            Some("Difference_engine") => Some("allpages_4.json"),
            Some(_) => None,
        },
        (Some("categorymembers"), Some("Category:Computer pioneers")) => match get("gcmcontinue") {
            None => Some("category_1.json"),
            Some("page|414441204c4f56454c414345|974") => Some("category_2.json"),
            Some(_) => None,
        },
        (Some("categorymembers"), Some("Category:Empty")) => Some("category_empty.json"),
        _ => None,
    }
}

/// The wiki on loopback; `hook` may answer a request first (maxlag, limits, errors), told
/// the name of the answer it would get and how many times that answer was asked for.
fn wiki(hook: impl Fn(&str, usize) -> Option<Reply> + Send + Sync + 'static) -> Server {
    let asked = std::sync::Mutex::new(HashMap::<&'static str, usize>::new());
    Server::start(move |path, _h, _n| {
        let Some(name) = answer_name(path) else {
            return Reply::status(404);
        };
        let n = {
            let mut a = asked.lock().unwrap();
            let e = a.entry(name).or_default();
            *e += 1;
            *e - 1
        };
        hook(name, n).unwrap_or_else(|| json_reply(name))
    })
}

fn config(server: &Server, extra: Value) -> SourceConfig {
    let mut v = json!({"api_url": server.url("/w/api.php")});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    SourceConfig::Mediawiki(serde_json::from_value::<MediaWikiConfig>(v).unwrap())
}

/// Events as (page URL, "item" or the skip reason).
fn outline(events: &[SourceEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| match e {
            SourceEvent::Item(i) => (i.uri.clone(), "item".to_owned()),
            SourceEvent::Skip(s) => (s.uri.clone(), s.reason.to_owned()),
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| {
            (
                format!("https://wiki.example.org/wiki/{a}"),
                (*b).to_owned(),
            )
        })
        .collect()
}

fn answers(server: &Server) -> Vec<&'static str> {
    server
        .hits()
        .iter()
        .map(|h| answer_name(&h.path).unwrap_or("404"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_of_the_namespace_is_read_through_its_continuations() {
    let server = wiki(|_, _| None);
    let events = collect(&config(&server, json!({})), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(
        outline(&events),
        pairs(&[
            ("Ada_Lovelace", "item"),
            ("Analytical_Engine", "item"),
            ("Charles_Babbage", "content:empty"),
            ("Difference_engine", "item"),
        ])
    );
    let SourceEvent::Item(ada) = &events[0] else {
        panic!("{:?}", events[0])
    };
    assert_eq!(ada.title.as_deref(), Some("Ada Lovelace"));
    assert_eq!(
        String::from_utf8(ada.body.clone()).unwrap(),
        "Ada Lovelace was a mathematician who wrote about a machine that did not yet exist.\n\n\nNotes\nHer notes describe how the machine could follow a sequence of operations."
    );
    assert_eq!(
        ada.licence.as_deref(),
        Some(
            "Creative Commons Attribution-Share Alike 4.0 <https://creativecommons.org/licenses/by-sa/4.0/> (Example Wiki contributors; https://wiki.example.org/wiki/Ada_Lovelace)"
        )
    );
    assert_eq!(ada.consent.declaration.as_deref(), Some("test"));
    assert_eq!(
        ada.checkpoint.to_value(),
        json!({"continue": {"gapcontinue": "Analytical_Engine", "continue": "gapcontinue||"},
               "skip": 0, "done": false, "count": 1})
    );
    assert_eq!(
        answers(&server),
        [
            "siteinfo.json",
            "allpages_1.json",
            "allpages_2.json",
            "allpages_3.json",
            "allpages_4.json"
        ]
    );
    // Every request asks the wiki to refuse us when its replicas lag, and for plain text.
    for h in server.hits() {
        let p = params(&h.path);
        assert_eq!(p.get("maxlag").map(String::as_str), Some("5"), "{}", h.path);
        assert_eq!(p.get("formatversion").map(String::as_str), Some("2"));
        if p.contains_key("generator") {
            assert_eq!(p.get("explaintext").map(String::as_str), Some("1"));
        }
    }
    // A finished run resumed is an empty one.
    let after = collect(
        &config(&server, json!({})),
        &ctx(),
        Some(events[3].checkpoint_value()),
    )
    .await
    .unwrap();
    assert!(after.is_empty());
}

trait CheckpointValue {
    fn checkpoint_value(&self) -> Value;
}

impl CheckpointValue for SourceEvent {
    fn checkpoint_value(&self) -> Value {
        match self {
            SourceEvent::Item(i) => i.checkpoint.to_value(),
            SourceEvent::Skip(s) => s.checkpoint.to_value(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_is_read_and_an_empty_one_is_an_empty_run() {
    let server = wiki(|_, _| None);
    let events = collect(
        &config(&server, json!({"category": "Computer pioneers"})),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        outline(&events),
        pairs(&[("Ada_Lovelace", "item"), ("Charles_Babbage", "item")])
    );
    let none = collect(
        &config(&server, json!({"category": "Category:Empty"})),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_passes_the_compliance_check() {
    let server = wiki(|_, _| None);
    for extra in [
        json!({}),
        json!({"max_items": 2}),
        json!({"category": "Computer pioneers"}),
    ] {
        assert_source_compliance(&config(&server, extra), &ctx(), "mediawiki").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxlag_answers_and_rate_limits_are_waited_out_and_retried() {
    // The second page: a maxlag answer (HTTP 200, as api.php sends it); the third: the
    // same as a 503; the fourth: Wikimedia's 429 page. Each says to come back in a second.
    let server = wiki(|name, n| {
        let lagged = || {
            json_reply("maxlag.json")
                .header("retry-after", "1")
                .header("x-database-lag", "6")
        };
        match (name, n) {
            ("allpages_2.json", 0) => Some(lagged()),
            ("allpages_3.json", 0) => Some(with_status(lagged(), 503)),
            ("allpages_4.json", 0) => Some(
                with_status(
                    Reply::html(String::from_utf8(fixture("too_many_requests.html")).unwrap()),
                    429,
                )
                .header("retry-after", "1"),
            ),
            _ => None,
        }
    });
    let events = collect(&config(&server, json!({})), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(
        answers(&server),
        [
            "siteinfo.json",
            "allpages_1.json",
            "allpages_2.json",
            "allpages_2.json",
            "allpages_3.json",
            "allpages_3.json",
            "allpages_4.json",
            "allpages_4.json"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiki_lagging_for_good_stops_the_run_resumably() {
    let server = wiki(|name, _| {
        (name == "allpages_2.json").then(|| json_reply("maxlag.json").header("retry-after", "0"))
    });
    let err = collect(&config(&server, json!({})), &ctx(), None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("mediawiki source:")
            && err.contains("lagged")
            && err.contains("resumes from its checkpoint"),
        "{err}"
    );
    let lagged = answers(&server)
        .iter()
        .filter(|a| **a == "allpages_2.json")
        .count();
    assert_eq!(lagged, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_html_a_missing_extension_and_a_wrong_url_are_clear_errors() {
    let run = |server: &Server, extra: Value| {
        let c = config(server, extra);
        async move {
            collect(&c, &ctx(), None)
                .await
                .expect_err("an error")
                .to_string()
        }
    };
    let refusing = wiki(|name, _| (name == "allpages_1.json").then(|| json_reply("badvalue.json")));
    let err = run(&refusing, json!({})).await;
    assert!(
        err.contains(
            "the wiki refused: badvalue: Unrecognized value for parameter \"gapnamespace\""
        ),
        "{err}"
    );

    let login =
        Server::start(|_, _, _| Reply::html(String::from_utf8(fixture("login.html")).unwrap()));
    let err = run(&login, json!({})).await;
    assert!(
        err.starts_with("mediawiki source:") && err.contains("text/html instead of JSON"),
        "{err}"
    );
    assert_eq!(login.hits().len(), 1, "the check (siteinfo) failed first");

    let bare = wiki(|name, _| (name == "allpages_1.json").then(|| json_reply("no_extracts.json")));
    let err = run(&bare, json!({})).await;
    assert!(err.contains("TextExtracts"), "{err}");

    let nothing = wiki(|_, _| None);
    let c = SourceConfig::Mediawiki(
        serde_json::from_value(json!({"api_url": nothing.url("/api.php")})).unwrap(),
    );
    let err = collect(&c, &ctx(), None).await.err().unwrap().to_string();
    assert!(
        err.contains("no api.php here") && err.contains("check api_url"),
        "{err}"
    );

    let not_a_wiki = wiki(|name, _| {
        (name == "siteinfo.json").then(|| Reply::typed("application/json", b"{\"ok\":1}".to_vec()))
    });
    let err = run(&not_a_wiki, json!({})).await;
    assert!(err.contains("no site name"), "{err}");
}

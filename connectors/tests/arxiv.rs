//! The `arxiv` connector against a server on 127.0.0.1 replaying OAI-PMH answers written
//! from the protocol's and arXiv's documented formats (`tests/data/arxiv/`): two pages
//! joined by a resumption token, a deleted record, OAI errors, flow control (503 with
//! Retry-After) and a maintenance page where the XML should be.

mod common;

use common::site::{Reply, Server};
use masa_connectors::compliance::{assert_source_compliance, collect};
use masa_connectors::{ArxivConfig, BuildContext, SourceConfig, SourceEvent};
use serde_json::{Value, json};
use std::time::Duration;

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "test".into(),
        credentials: Default::default(),
    }
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/arxiv/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn xml(name: &str) -> Reply {
    Reply::typed("text/xml; charset=utf-8", data(name))
}

/// The OAI-PMH endpoint at `/oai`; `hook` may answer a request first.
fn oai(hook: impl Fn(&str, usize) -> Option<Reply> + Send + Sync + 'static) -> Server {
    Server::start(move |path, _h, n| {
        if let Some(r) = hook(path, n) {
            return r;
        }
        let Some(query) = path.strip_prefix("/oai?") else {
            return Reply::status(404);
        };
        if query == "verb=Identify" {
            xml("identify.xml")
        } else if query.contains("resumptionToken=6960524%7C1001") {
            xml("page2.xml")
        } else if query.contains("resumptionToken=") {
            xml("error_badResumptionToken.xml")
        } else if query.contains("set=nothing") {
            xml("error_noRecordsMatch.xml")
        } else if query.contains("set=bad") {
            xml("error_badArgument.xml")
        } else if query.starts_with("verb=ListRecords&metadataPrefix=arXiv") {
            xml("page1.xml")
        } else {
            Reply::status(400)
        }
    })
}

fn config(server: &Server, extra: Value) -> SourceConfig {
    let mut v = json!({"base_url": server.url("/oai"), "request_interval_secs": 0.0});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    SourceConfig::Arxiv(serde_json::from_value::<ArxivConfig>(v).unwrap())
}

async fn error(c: &SourceConfig, resume: Option<Value>) -> String {
    match collect(c, &ctx(), resume).await {
        Err(e) => e.to_string(),
        Ok(events) => panic!("no error, {} events", events.len()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_harvest_follows_the_resumption_token_and_records_each_papers_licence() {
    let server = oai(|_, _| None);
    let c = config(&server, json!({"set": "cs", "from": "2024-01-01"}));
    let events = collect(&c, &ctx(), None).await.unwrap();
    let outline: Vec<(String, String)> = events
        .iter()
        .map(|e| match e {
            SourceEvent::Item(i) => (i.uri.clone(), "item".to_owned()),
            SourceEvent::Skip(s) => (s.uri.clone(), s.reason.to_owned()),
        })
        .collect();
    let want = [
        ("https://arxiv.org/abs/2401.00001", "item"),
        ("oai:arXiv.org:2401.00002", "oai:deleted"),
        ("https://arxiv.org/abs/cs/0112017", "item"),
        ("https://arxiv.org/abs/2401.00003", "item"),
        ("https://arxiv.org/abs/2401.00004", "item"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(u, k)| (u.to_string(), k.to_string()))
        .collect();
    assert_eq!(outline, want);
    let items: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Item(i) => Some(i),
            SourceEvent::Skip(_) => None,
        })
        .collect();
    assert_eq!(
        String::from_utf8(items[0].body.clone()).unwrap(),
        "Sparse Attention for Long Documents\n\nWe study sparse attention patterns for documents longer than the context window & show that a fixed budget of global tokens suffices.\n\nA second paragraph reports results on three benchmarks."
    );
    assert_eq!(
        items[0].title.as_deref(),
        Some("Sparse Attention for Long Documents")
    );
    let licences: Vec<&str> = items
        .iter()
        .map(|i| i.licence.as_deref().unwrap())
        .collect();
    assert_eq!(
        licences,
        [
            "CC BY 4.0 (http://creativecommons.org/licenses/by/4.0/; authors of arXiv:2401.00001)",
            "arXiv non-exclusive distribution licence, no reuse grant (no licence stated; authors of arXiv:cs/0112017)",
            "arXiv non-exclusive distribution licence, no reuse grant (http://arxiv.org/licenses/nonexclusive-distrib/1.0/; authors of arXiv:2401.00003)",
            "CC BY-SA 4.0 (http://creativecommons.org/licenses/by-sa/4.0/; authors of arXiv:2401.00004)",
        ]
    );
    assert!(
        items
            .iter()
            .all(|i| i.consent.declaration.as_deref() == Some("test"))
    );
    // The checkpoints: inside page 1, then at page 2's token, then complete.
    let cps: Vec<Value> = events
        .iter()
        .map(|e| match e {
            SourceEvent::Item(i) => i.checkpoint.to_value(),
            SourceEvent::Skip(s) => s.checkpoint.to_value(),
        })
        .collect();
    assert_eq!(cps[0], json!({"token": null, "skip": 1}));
    assert_eq!(cps[2], json!({"token": "6960524|1001", "skip": 0}));
    assert_eq!(cps[4], json!({"complete": true, "token": null, "skip": 0}));
    // What was asked: Identify, the selective first page, the token page.
    let paths: Vec<String> = server.hits().into_iter().map(|h| h.path).collect();
    assert_eq!(
        paths,
        [
            "/oai?verb=Identify",
            "/oai?verb=ListRecords&metadataPrefix=arXiv&set=cs&from=2024-01-01",
            "/oai?verb=ListRecords&resumptionToken=6960524%7C1001",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_paced_by_the_configured_interval() {
    let server = oai(|_, _| None);
    let c = config(&server, json!({"request_interval_secs": 0.3}));
    collect(&c, &ctx(), None).await.unwrap();
    let hits = server.hits();
    assert_eq!(hits.len(), 3);
    for pair in hits.windows(2) {
        let gap = pair[1].at - pair[0].at;
        // A lower bound the pacing guarantees, never an upper one.
        assert!(gap >= Duration::from_millis(290), "{gap:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_passes_the_compliance_check() {
    let server = oai(|_, _| None);
    assert_source_compliance(&config(&server, json!({"set": "cs"})), &ctx(), "arxiv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_control_503_with_retry_after_is_waited_out() {
    // The first page is refused with the server's flow-control answer seven times (more
    // than the five attempts a plain 5xx gets): once "come back in 1 s", then "now".
    let server = oai(|path, n| {
        (path.contains("metadataPrefix") && n < 7).then(|| {
            let wait = if n == 0 { "1" } else { "0" };
            let mut r = Reply::status(503).header("retry-after", wait);
            r.body = b"<html>Retry after 1 second</html>".to_vec();
            r
        })
    });
    let events = collect(&config(&server, json!({})), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(events.len(), 5);
    let first = "/oai?verb=ListRecords&metadataPrefix=arXiv";
    assert_eq!(server.count(first), 8, "asked again after each wait");
    let at: Vec<_> = server
        .hits()
        .into_iter()
        .filter(|h| h.path == first)
        .map(|h| h.at)
        .collect();
    assert!(
        at[1] - at[0] >= Duration::from_millis(990),
        "the 1 s was waited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_records_is_an_empty_run_and_other_oai_errors_are_clear() {
    let server = oai(|_, _| None);
    let none = collect(&config(&server, json!({"set": "nothing"})), &ctx(), None)
        .await
        .unwrap();
    assert!(none.is_empty(), "noRecordsMatch is an empty harvest");

    let err = error(&config(&server, json!({"set": "bad"})), None).await;
    assert!(
        err.contains("arxiv source")
            && err.contains("OAI-PMH error badArgument")
            && err.contains("check set"),
        "{err}"
    );

    // A checkpoint holding a token the server no longer knows.
    let stale = json!({"token": "expired|1", "skip": 0});
    let err = error(&config(&server, json!({})), Some(stale)).await;
    assert!(
        err.contains("resumption token is no longer valid")
            && err.contains("start the harvest again"),
        "{err}"
    );

    // A checkpoint that is not one.
    let err = error(&config(&server, json!({})), Some(json!({"skip": "x"}))).await;
    assert!(err.contains("not an arxiv position"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_page_or_broken_xml_is_one_clear_error() {
    let html =
        Server::start(|_, _, _| Reply::html(String::from_utf8(data("maintenance.html")).unwrap()));
    let c = SourceConfig::Arxiv(
        serde_json::from_value(json!({"base_url": html.url("/oai"), "request_interval_secs": 0.0}))
            .unwrap(),
    );
    let err = error(&c, None).await;
    assert!(
        err.contains("arxiv source") && err.contains("text/html instead of OAI-PMH XML"),
        "{err}"
    );
    assert_eq!(
        html.hits().len(),
        1,
        "the check stops it before any harvest"
    );

    // The first page cut off mid-record.
    let cut = oai(|path, _| {
        path.contains("metadataPrefix").then(|| {
            let page = data("page1.xml");
            Reply::typed("text/xml", page[..page.len() / 2].to_vec())
        })
    });
    let err = error(&config(&cut, json!({})), None).await;
    assert!(
        err.contains("not an OAI-PMH answer") && err.contains("check base_url"),
        "{err}"
    );

    // Nothing at the endpoint.
    let nothing = Server::start(|_, _, _| Reply::status(404));
    let c = SourceConfig::Arxiv(
        serde_json::from_value(
            json!({"base_url": nothing.url("/oai"), "request_interval_secs": 0.0}),
        )
        .unwrap(),
    );
    let err = error(&c, None).await;
    assert!(err.contains("not found (404); check base_url"), "{err}");
}

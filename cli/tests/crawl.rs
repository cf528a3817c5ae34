//! `masa crawl` end to end against a site served on 127.0.0.1: records with consent evidence
//! in the dataset, skips counted by reason, search over crawled pages, a workflow file, and
//! SIGKILL then `--resume` fetching nothing committed twice and losing nothing queued.

mod common;

#[path = "../../connectors/tests/common/site.rs"]
mod site;

use common::Env;
use site::{Reply, Server};
use std::collections::BTreeMap;
use std::time::Duration;

/// A site of `n` pages in a chain of sections: `/p/<i>` links to the next three pages, and
/// each page has its own words so that search can find it.
fn chain_site(n: usize, delay: Duration) -> Server {
    Server::start(move |path, _h, _n| {
        if path == "/robots.txt" {
            return Reply::typed(
                "text/plain",
                b"User-agent: *\nAllow: /\nUser-agent: CCBot\nDisallow: /p/13$\n".to_vec(),
            );
        }
        let Some(i) = path
            .strip_prefix("/p/")
            .and_then(|i| i.parse::<usize>().ok())
        else {
            return Reply::status(404);
        };
        if i >= n {
            return Reply::status(404);
        }
        let links: String = (i + 1..(i + 4).min(n))
            .map(|j| format!("<a href=\"/p/{j}\">next {j}</a> "))
            .collect();
        let words = common::random_text(i as u64, 40);
        Reply::html(format!(
            "<html><head><title>Page {i}</title></head><body><article><h1>Page {i}</h1><p>{words}</p></article><nav>{links}<a href=\"http://elsewhere.test/\">out</a></nav></body></html>"
        ))
        .delayed(delay)
    })
}

fn crawl_args<'a>(seed: &'a str, ds: &'a str) -> Vec<&'a str> {
    vec![
        "crawl",
        seed,
        "--dataset",
        ds,
        "--allow-private",
        "--rate",
        "0",
        "--no-sitemaps",
        "--quiet",
    ]
}

#[test]
fn a_crawl_lands_in_the_dataset_with_consent_evidence_and_is_searchable() {
    let env = Env::new();
    let site = chain_site(20, Duration::ZERO);
    let seed = site.url("/p/0");
    let ds = env.path("data").display().to_string();
    let summary = env.json(&crawl_args(&seed, &ds));
    let st = &summary["stats"];
    assert_eq!(st["rows_committed"], 19, "{summary}");
    assert_eq!(st["drops"]["robots"], 1, "{summary}");
    assert_eq!(st["drops"]["scope"], 1, "{summary}");
    let src = &st["source"];
    assert_eq!(src["fetched"], 19, "{summary}");
    let host = site
        .base
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(src["hosts"][&host]["records"], 19, "{summary}");
    assert_eq!(
        site.count("/p/13"),
        0,
        "CCBot's disallow keeps /p/13 unfetched"
    );

    let records = common::read_records(&ds, &Default::default());
    let by_uri: BTreeMap<String, masa_record::Record> =
        records.into_values().map(|r| (r.uri.clone(), r)).collect();
    let r = &by_uri[&site.url("/p/5")];
    assert_eq!(r.source, "web");
    assert_eq!(r.title.as_deref(), Some("Page 5"));
    assert_eq!(r.consent.basis, masa_record::ConsentBasis::PublisherSignals);
    assert_eq!(r.consent.robots.as_deref(), Some("allowed"));
    assert_eq!(r.consent.tdm_reserved, Some(false));
    assert!(!r.consent.overridden);

    let phrase = format!("\"{}\"", common::random_text(7, 6));
    let hits = env.json(&["search", &phrase, "--dataset", &ds]);
    assert_eq!(hits[0]["uri"], site.url("/p/7"), "{hits}");

    // A dry run counts the same pages and skips, and writes nothing.
    let dry_ds = env.path("dry").display().to_string();
    let mut dry = crawl_args(&seed, &dry_ds);
    dry.push("--dry-run");
    let preview = env.json(&dry);
    assert_eq!(preview["items"], 19, "{preview}");
    assert_eq!(
        preview["skips"],
        serde_json::json!({"robots": 1, "scope": 1}),
        "{preview}"
    );
    assert!(!env.path("dry").exists(), "a dry run wrote the dataset");

    // Bad input: a clear error, nothing written.
    let err = env.fails(&[
        "crawl",
        "ftp://x/",
        "--dataset",
        &env.path("bad").display().to_string(),
    ]);
    assert!(err.contains("only http and https"), "{err}");
    let err = env.fails(&[
        "crawl",
        &seed,
        "--dataset",
        &env.path("bad").display().to_string(),
    ]);
    assert!(err.contains("--allow-private"), "{err}");
    assert!(
        !env.path("bad").exists(),
        "a refused crawl created the dataset"
    );
    let err = env.fails(&["crawl", "--resume", "--dataset", &ds]);
    assert!(err.contains("no interrupted web run"), "{err}");
}

#[test]
fn a_web_source_in_a_workflow_file_crawls_like_the_command() {
    let env = Env::new();
    let site = chain_site(6, Duration::ZERO);
    let file = env.path("site.toml");
    std::fs::write(
        &file,
        format!(
            "kind = \"web\"\nseeds = [\"{}\"]\nrate = \"0\"\nallow_private = true\nsitemaps = false\nmax_depth = 1\n",
            site.url("/p/0")
        ),
    )
    .unwrap();
    let ds = env.path("data").display().to_string();
    let summary = env.json(&[
        "contribute",
        "--source",
        file.to_str().unwrap(),
        "--dataset",
        &ds,
        "--quiet",
    ]);
    // Depth 0 is /p/0; depth 1 its three links; their links are too deep.
    assert_eq!(summary["stats"]["rows_committed"], 4, "{summary}");
    assert_eq!(summary["stats"]["drops"]["depth"], 2, "{summary}");
    std::fs::write(
        &file,
        "kind = \"web\"\nseeds = [\"http://x.test/\"]\nsped = 2\n",
    )
    .unwrap();
    let err = env.fails(&[
        "contribute",
        "--source",
        file.to_str().unwrap(),
        "--dataset",
        &ds,
    ]);
    assert!(err.contains("sped"), "{err}");
}

#[test]
fn a_killed_crawl_resumes_without_refetching_committed_pages_or_losing_queued_ones() {
    let env = Env::new();
    let n = 150;
    let site = chain_site(n, Duration::from_millis(15));
    let seed = site.url("/p/0");
    let ds_path = env.path("data");
    let ds = ds_path.display().to_string();
    let mut args = crawl_args(&seed, &ds);
    args.extend(["--batch-rows", "8", "--concurrency", "2"]);
    let killed = env.kill_after_commits(&args, &ds_path, 5);
    assert!(killed, "the crawl ended before it could be killed");
    let before: Vec<String> = common::read_records(&ds, &Default::default())
        .into_values()
        .map(|r| r.uri)
        .collect();
    assert!(!before.is_empty());

    let summary = env.json(&["crawl", "--resume", "--dataset", &ds, "--quiet"]);
    assert_eq!(summary["resumed"], true, "{summary}");
    assert!(
        summary["stats"]["drops"].get("dedup:exact").is_none(),
        "{summary}"
    );

    // Nothing committed before the kill was fetched again.
    for uri in &before {
        let path = uri.strip_prefix(&site.base).unwrap();
        assert_eq!(
            site.count(path),
            1,
            "{path} was committed, then fetched again"
        );
    }
    // Nothing queued was lost: every page but the disallowed one is a record, once.
    let after: Vec<String> = common::read_records(&ds, &Default::default())
        .into_values()
        .map(|r| r.uri)
        .collect();
    assert_eq!(after.len(), n - 1);
    let unique: std::collections::HashSet<&String> = after.iter().collect();
    assert_eq!(unique.len(), n - 1);
    assert!(!after.contains(&site.url("/p/13")));
    let report = env.json(&["audit", "--dataset", &ds]);
    assert_eq!(report["findings"], serde_json::json!([]), "{report}");
}

//! The end-to-end slice on a local dataset: contribute the example corpus, read the table
//! back with our reader and with an outside one, search it, and report stats.

mod common;

use common::{Env, example_corpus};
use serde_json::Value;
use std::collections::BTreeMap;

/// Our reader: every committed row, by record id.
fn read_table(location: &str) -> BTreeMap<String, masa_record::Record> {
    common::read_records(location, &Default::default())
}

/// Contributes the example corpus to `ds`; returns the run summary.
fn contribute_corpus(env: &Env, ds: &str) -> Value {
    env.json(&[
        "contribute",
        "--files",
        example_corpus().to_str().unwrap(),
        "--dataset",
        ds,
    ])
}

fn file_text(rel: &str) -> String {
    std::fs::read_to_string(example_corpus().join(rel))
        .unwrap()
        .trim_end()
        .to_owned()
}

#[test]
fn contribute_round_trips_through_our_reader_and_an_outside_reader() {
    let env = Env::new();
    let ds = env.path("data");
    let ds_s = ds.to_str().unwrap();
    let corpus = example_corpus();
    let summary = contribute_corpus(&env, ds_s);
    // 4 notes + 2 pages + 5 JSONL lines, one of which repeats another's text.
    assert_eq!(summary["stats"]["rows_committed"], 10, "{summary}");
    assert_eq!(
        summary["stats"]["drops"],
        serde_json::json!({"dedup:exact": 1})
    );

    let rows = read_table(ds_s);
    assert_eq!(rows.len(), 10);
    let by_uri: BTreeMap<&str, &masa_record::Record> =
        rows.values().map(|r| (r.uri.as_str(), r)).collect();
    // Plain files come back with exactly their text.
    for rel in [
        "notes/sourdough.txt",
        "notes/merkle-trees.txt",
        "notes/tokio-runtime.md",
    ] {
        let path = std::fs::canonicalize(corpus.join(rel)).unwrap();
        let uri = format!("file://{}", path.display());
        let r = by_uri
            .get(uri.as_str())
            .unwrap_or_else(|| panic!("{uri} missing"));
        assert_eq!(r.text, file_text(rel));
        assert_eq!(r.source, "files");
        assert!(r.consent.declaration.is_some());
    }
    let md = rows
        .values()
        .find(|r| r.uri.ends_with("tokio-runtime.md"))
        .unwrap();
    assert_eq!(
        md.title.as_deref(),
        Some("How the Tokio runtime schedules tasks")
    );
    // HTML keeps the article and loses navigation, footer and scripts.
    let html = rows
        .values()
        .find(|r| r.uri.ends_with("tantivy-search.html"))
        .unwrap();
    assert_eq!(html.title.as_deref(), Some("Full-text search with tantivy"));
    assert!(
        html.text
            .contains("Tantivy is a search engine library written in Rust")
    );
    for gone in ["analytics", "Home | Blog", "cookie settings"] {
        assert!(
            !html.text.contains(gone),
            "{gone} leaked into {}",
            html.text
        );
    }
    // JSONL: url wins, else id, each line one record.
    assert!(by_uri.contains_key("https://forum.example.org/t/3"));
    assert!(
        rows.values()
            .any(|r| r.uri.ends_with("forum-export.jsonl#id=post-5"))
    );
    assert!(
        !rows.values().any(|r| r.uri.ends_with("#id=post-4")),
        "post-4 repeats post-1"
    );

    // The outside reader sees the same rows and the same text.
    if let Some(theirs) = common::read_with_python(ds.join("table").to_str().unwrap(), &[]) {
        assert_eq!(theirs.len(), rows.len());
        for t in &theirs {
            let ours = &rows[t["record_id"].as_str().unwrap()];
            assert_eq!(t["text"].as_str().unwrap(), ours.text);
            assert_eq!(t["uri"].as_str().unwrap(), ours.uri);
            assert_eq!(t["content_hash"].as_str().unwrap(), ours.content_hash);
            assert_eq!(t["row_in_batch"].as_i64().unwrap(), ours.row_in_batch);
        }
    }
}

fn hit_uris(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| h["uri"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn search_finds_known_documents_and_filters_work() {
    let env = Env::new();
    let ds = env.path("data");
    let ds_s = ds.to_str().unwrap();
    let summary = contribute_corpus(&env, ds_s);
    let me = summary["contributor"].as_str().unwrap().to_owned();

    let hits = env.json(&["search", "tokio runtime", "--dataset", ds_s]);
    let uris = hit_uris(&hits);
    assert!(uris[0].ends_with("tokio-runtime.md"), "{uris:?}");
    assert!(uris.iter().any(|u| u.ends_with("#id=post-1")), "{uris:?}");
    assert!(!uris.iter().any(|u| u.contains("sourdough")), "{uris:?}");
    let first = &hits[0];
    assert_eq!(first["contributor"].as_str().unwrap(), me);
    assert!(
        first["snippet"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("tokio")
    );
    assert!(!first["batch_id"].as_str().unwrap().is_empty());

    // A hit links back to its Parquet row.
    let rows = read_table(ds_s);
    let rec = &rows[first["record_id"].as_str().unwrap()];
    assert_eq!(rec.batch_id, first["batch_id"].as_str().unwrap());
    assert_eq!(rec.row_in_batch, first["row_in_batch"].as_i64().unwrap());

    let search = |extra: &[&str]| {
        let mut a = vec!["search", "sourdough bread", "--dataset", ds_s];
        a.extend_from_slice(extra);
        hit_uris(&env.json(&a))
    };
    assert_eq!(search(&[]).len(), 1);
    assert_eq!(search(&["--contributor", &me]).len(), 1);
    assert!(search(&["--contributor", &"0".repeat(64)]).is_empty());
    assert_eq!(search(&["--source", "files"]).len(), 1);
    assert!(search(&["--source", "web"]).is_empty());
    assert_eq!(search(&["--lang", "eng"]).len(), 1);
    assert!(search(&["--lang", "deu"]).is_empty());
    assert_eq!(search(&["--since", "2000-01-01"]).len(), 1);
    assert!(search(&["--until", "2000-01-01"]).is_empty());

    // Human output names title, uri and contributor.
    let text = env.ok(&["search", "delta lake transaction log", "--dataset", ds_s]);
    assert!(
        text.contains("Delta Lake in a paragraph or three"),
        "{text}"
    );
    assert!(text.contains("delta-lake.md"));
    assert!(text.contains(&me[..16]));
}

#[test]
fn stats_count_records_contributors_and_drops_across_runs() {
    let env = Env::new();
    let ds = env.path("data");
    let ds_s = ds.to_str().unwrap();
    let first = contribute_corpus(&env, ds_s);
    let me = first["contributor"].as_str().unwrap();
    let s = env.json(&["stats", "--dataset", ds_s]);
    assert_eq!(s["records"], 10);
    assert_eq!(s["contributors"], serde_json::json!({ me: 10 }));
    assert_eq!(s["drops"], serde_json::json!({"dedup:exact": 1}));
    let text_bytes: u64 = read_table(ds_s).values().map(|r| r.text.len() as u64).sum();
    assert_eq!(s["text_bytes"].as_u64().unwrap(), text_bytes);

    // Contributing the same corpus again adds nothing: every input is an exact duplicate.
    let again = contribute_corpus(&env, ds_s);
    assert_eq!(again["stats"]["rows_committed"], 0);
    assert_eq!(again["stats"]["drops"]["dedup:exact"], 11);
    let s = env.json(&["stats", "--dataset", ds_s]);
    assert_eq!(s["records"], 10);
    assert_eq!(s["drops"]["dedup:exact"], 12);

    let human = env.ok(&["stats", "--dataset", ds_s]);
    assert!(human.contains("records       10"), "{human}");
    assert!(human.contains("dedup:exact  12"), "{human}");
}

#[test]
fn a_dataset_with_no_records_answers_searches_with_no_hits() {
    let env = Env::new();
    let input = env.path("only-bad.jsonl");
    std::fs::write(&input, "{not json}\n").unwrap();
    let ds = env.path("data");
    let ds_s = ds.to_str().unwrap();
    let summary = env.json(&[
        "contribute",
        "--files",
        input.to_str().unwrap(),
        "--dataset",
        ds_s,
    ]);
    assert_eq!(summary["stats"]["rows_committed"], 0);
    let hits = env.json(&["search", "anything", "--dataset", ds_s]);
    assert_eq!(hits, serde_json::json!([]));
    assert!(
        env.ok(&["search", "anything", "--dataset", ds_s])
            .contains("no hits")
    );
    let s = env.json(&["stats", "--dataset", ds_s]);
    assert_eq!(s["records"], 0);
    assert_eq!(s["drops"], serde_json::json!({"input:malformed_jsonl": 1}));
}

#[test]
fn a_deleted_index_is_rebuilt_from_the_table_by_the_next_contribution() {
    let env = Env::new();
    let ds = env.path("data");
    let ds_s = ds.to_str().unwrap();
    let corpus = example_corpus();
    env.ok(&[
        "contribute",
        "--files",
        corpus.to_str().unwrap(),
        "--dataset",
        ds_s,
    ]);
    let query = ["search", "sourdough bread", "--dataset", ds_s];
    assert_eq!(hit_uris(&env.json(&query)).len(), 1);

    std::fs::remove_dir_all(ds.join("index")).unwrap();
    assert!(hit_uris(&env.json(&query)).is_empty(), "no split, no hit");

    // Nothing new to add, but the contribution restores the index from the Parquet rows.
    let again = contribute_corpus(&env, ds_s);
    assert_eq!(again["stats"]["rows_committed"], 0);
    let hits = env.json(&query);
    assert_eq!(hit_uris(&hits).len(), 1);
    assert!(hits[0]["uri"].as_str().unwrap().ends_with("sourdough.txt"));
}

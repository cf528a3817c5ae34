//! Precision and recall of near-duplicate removal on a labeled set built from real pages (the
//! PostgreSQL manual from Debian, fetched by `scripts/fetch-debian-docs`; `scripts/test` sets
//! MASA_TEST_DOCS_DIR). Both paths are measured: `contribute` dropping copies as they stream
//! in, and `masa dedup` removing them from a table that holds them all.

mod common;

#[path = "../benches/common/nearset.rs"]
mod nearset;

use common::Env;
use std::collections::{HashMap, HashSet};

/// The ids of the documents in a dataset (the JSONL connector puts `#id=<id>` in the uri).
fn kept_ids(ds: &str) -> HashSet<String> {
    record_labels(ds).into_values().collect()
}

/// Record id → the labeled document's id, for every record in the dataset.
fn record_labels(ds: &str) -> HashMap<String, String> {
    common::read_records(ds, &Default::default())
        .into_values()
        .map(|r| (r.record_id, r.uri.rsplit("#id=").next().unwrap().to_owned()))
        .collect()
}

/// What issue 16 asks of the default settings on both paths: recall of at least 0.9, and
/// not one unique document lost or matched into another cluster. (Measured: recall 0.98 to
/// 0.99 and precision 1.0 on the benchmark's sets, BENCHMARKS.md.)
const MIN_RECALL: f64 = 0.9;

#[test]
fn near_duplicates_of_real_pages_are_found_and_unique_pages_kept() {
    let Some(dir) = common::docs_dir() else {
        return;
    };
    let originals = nearset::distinct_pages(&dir, 150, 0.2, 300);
    assert!(originals.len() >= 250, "only {} pages", originals.len());
    let set = nearset::build(&originals, 7);
    let env = Env::new();
    let input = env.path("set.jsonl");
    nearset::write_jsonl(&set, &input);
    let input = input.to_str().unwrap();

    // Streaming: contribute drops copies of what it has already seen.
    let ds = env.path("streamed");
    let ds = ds.to_str().unwrap();
    env.ok(&["contribute", "--files", input, "--dataset", ds, "-q"]);
    let s = nearset::score(&set, &kept_ids(ds));
    let by_edit = nearset::caught_by_edit(&set, &kept_ids(ds));
    eprintln!("contribute: {s:?}\ncaught by edit: {by_edit:?}");
    assert_eq!(s.unique_lost, 0, "{s:?}");
    assert_eq!(s.false_removals, 0, "{s:?}");
    assert!(s.recall >= MIN_RECALL, "{s:?}");

    // Offline: everything committed, then `masa dedup` removes the copies.
    let ds2 = env.path("offline");
    let ds2 = ds2.to_str().unwrap();
    env.ok(&[
        "contribute",
        "--files",
        input,
        "--dataset",
        ds2,
        "-q",
        "--no-near-dup",
    ]);
    // The dry run's evidence: every removal matched a document of its own cluster.
    let labels = record_labels(ds2);
    let cluster_of: HashMap<&str, usize> = set
        .docs
        .iter()
        .map(|d| (d.id.as_str(), d.cluster))
        .collect();
    let cluster =
        |record: &serde_json::Value| cluster_of[labels[record.as_str().unwrap()].as_str()];
    let report = env.json(&["dedup", "--dataset", ds2, "--dry-run"]);
    for c in report["cluster_list"].as_array().unwrap() {
        for e in c["removed"].as_array().unwrap() {
            assert_eq!(
                cluster(&e["record_id"]),
                cluster(&e["matched"]["record_id"]),
                "{e}"
            );
            assert_eq!(
                cluster(&e["record_id"]),
                cluster(&c["kept"]["record_id"]),
                "{e}"
            );
        }
    }
    env.ok(&["dedup", "--dataset", ds2]);
    let o = nearset::score(&set, &kept_ids(ds2));
    eprintln!("masa dedup: {o:?}");
    assert_eq!(o.unique_lost, 0, "{o:?}");
    assert_eq!(o.false_removals, 0, "{o:?}");
    assert!(o.recall >= MIN_RECALL, "{o:?}");
}

//! Precision and recall of near-duplicate removal on a labeled set built from real pages (the
//! PostgreSQL manual from Debian, fetched by `scripts/fetch-debian-docs`; `scripts/test` sets
//! MASA_TEST_DOCS_DIR). Both paths are measured: `contribute` dropping copies as they stream
//! in, and `masa dedup` removing them from a table that holds them all.

mod common;

#[path = "../benches/common/nearset.rs"]
mod nearset;

use common::Env;
use std::collections::HashSet;

/// The ids of the documents in a dataset (the JSONL connector puts `#id=<id>` in the uri).
fn kept_ids(ds: &str) -> HashSet<String> {
    common::read_records(ds, &Default::default())
        .into_values()
        .map(|r| r.uri.rsplit("#id=").next().unwrap().to_owned())
        .collect()
}

/// Floors just below the measured values at the default settings (precision 1.0 on both
/// paths; recall 0.64 streaming, 0.71 offline, where transitive clusters help), so a
/// regression in either shows. Recall is bounded by the settings, not the code: 14 bands of
/// 8 rows rarely propose pairs below Jaccard 0.6, which is where 5 % and 10 % word edits
/// and a cut of 30 % land (see BENCHMARKS.md for recall per edit).
const MIN_PRECISION: f64 = 0.99;
const MIN_RECALL: f64 = 0.6;

#[test]
fn near_duplicates_of_real_pages_are_found_and_unique_pages_kept() {
    let Some(dir) = common::docs_dir() else {
        return;
    };
    let originals = nearset::distinct_pages(&dir, 150, 0.3, 300);
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
    assert!(s.precision >= MIN_PRECISION, "{s:?}");
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
    env.ok(&["dedup", "--dataset", ds2]);
    let o = nearset::score(&set, &kept_ids(ds2));
    eprintln!("masa dedup: {o:?}");
    assert_eq!(o.unique_lost, 0, "{o:?}");
    assert!(o.precision >= MIN_PRECISION, "{o:?}");
    assert!(o.recall >= MIN_RECALL, "{o:?}");
}

//! Near-duplicate removal against everything committed: within a run, across runs, across
//! contributors, on a local dataset and on S3; the signature state rebuilt when missing and
//! reported when corrupt.

mod common;

use common::{Env, doc, near_copy, random_text, write_file};
use std::path::Path;

fn contribute(env: &Env, dir: &Path, dataset: &str) -> serde_json::Value {
    let s = env.json(&[
        "contribute",
        "--files",
        dir.to_str().unwrap(),
        "--dataset",
        dataset,
    ]);
    s["stats"].clone()
}

fn near_drops(stats: &serde_json::Value) -> u64 {
    stats["drops"]["dedup:near"].as_u64().unwrap_or(0)
}

/// The scenario, run as two contributors against `dataset`.
fn across_runs_and_contributors(alice: &Env, bob: &Env, dataset: &str) {
    // Run 1: twenty unique documents, one near-copy of the first.
    let run1 = alice.path("run1");
    for i in 0..20 {
        write_file(&run1, &format!("doc{i:02}.txt"), &doc(i));
    }
    write_file(&run1, "doc00-copy.txt", &near_copy(&doc(0)));
    let stats = contribute(alice, &run1, dataset);
    assert_eq!(stats["rows_committed"], 20, "{stats}");
    assert_eq!(near_drops(&stats), 1, "{stats}");

    // Run 2, same contributor: a near-copy of a committed document, a document sharing
    // half its text with another (not a near-duplicate: it must be kept), and a new one.
    let run2 = alice.path("run2");
    write_file(&run2, "a.txt", &near_copy(&doc(5)));
    let d6 = doc(6);
    let first_half: String = d6.split(' ').take(150).collect::<Vec<_>>().join(" ");
    write_file(
        &run2,
        "b.txt",
        &format!("{first_half} {}", random_text(1000, 150)),
    );
    write_file(&run2, "c.txt", &doc(100));
    let stats = contribute(alice, &run2, dataset);
    assert_eq!(stats["rows_committed"], 2, "{stats}");
    assert_eq!(near_drops(&stats), 1, "{stats}");

    // Another contributor: a near-copy of alice's document, and a new one.
    let run3 = bob.path("run3");
    write_file(&run3, "x.txt", &near_copy(&doc(10)));
    write_file(&run3, "y.txt", &doc(200));
    let stats = contribute(bob, &run3, dataset);
    assert_eq!(stats["rows_committed"], 1, "{stats}");
    assert_eq!(near_drops(&stats), 1, "{stats}");

    let totals = alice.json(&["stats", "--dataset", dataset]);
    assert_eq!(totals["records"], 23, "{totals}");
    assert_eq!(totals["drops"]["dedup:near"], 3, "{totals}");
}

#[test]
fn near_duplicates_are_removed_across_runs_and_contributors() {
    let alice = Env::new();
    let bob = Env::new();
    let ds = alice.path("data");
    across_runs_and_contributors(&alice, &bob, ds.to_str().unwrap());
    // One signature file per committed batch.
    let sigs: Vec<_> = common::walk(&ds.join("dedup/minhash"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sig"))
        .collect();
    assert_eq!(sigs.len(), 3, "{sigs:?}");
}

#[test]
fn near_duplicates_are_removed_across_contributors_on_s3() {
    let Some(s3) = common::s3() else { return };
    let url = common::unique_s3_url(&s3, "near-dup");
    across_runs_and_contributors(&Env::for_s3(&s3), &Env::for_s3(&s3), &url);
}

#[test]
fn missing_signatures_are_rebuilt_and_corrupt_ones_are_reported() {
    let env = Env::new();
    let ds = env.path("data");
    let ds_s = ds.to_str().unwrap();
    let run1 = env.path("run1");
    for i in 0..5 {
        write_file(&run1, &format!("doc{i}.txt"), &doc(i));
    }
    assert_eq!(contribute(&env, &run1, ds_s)["rows_committed"], 5);
    let sig = common::walk(&ds.join("dedup/minhash"))
        .pop()
        .expect("a signature file");

    // Deleted: rebuilt from the table, and the near-copy is still caught.
    std::fs::remove_file(&sig).unwrap();
    let run2 = env.path("run2");
    write_file(&run2, "copy.txt", &near_copy(&doc(3)));
    let stats = contribute(&env, &run2, ds_s);
    assert_eq!(near_drops(&stats), 1, "{stats}");
    assert!(sig.exists(), "the signature file was not rebuilt");

    // Corrupted: the run stops before writing and names the object.
    let mut bytes = std::fs::read(&sig).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&sig, bytes).unwrap();
    let run3 = env.path("run3");
    write_file(&run3, "new.txt", &doc(50));
    let err = env.fails(&[
        "contribute",
        "--files",
        run3.to_str().unwrap(),
        "--dataset",
        ds_s,
    ]);
    assert!(err.contains("checksum") && err.contains(".sig"), "{err}");
}

#[test]
fn near_dup_removal_can_be_turned_off_and_bad_thresholds_are_refused() {
    let env = Env::new();
    let ds = env.path("data");
    let ds_s = ds.to_str().unwrap();
    let dir = env.path("in");
    write_file(&dir, "a.txt", &doc(1));
    write_file(&dir, "b.txt", &near_copy(&doc(1)));
    let s = env.json(&[
        "contribute",
        "--files",
        dir.to_str().unwrap(),
        "--dataset",
        ds_s,
        "--no-near-dup",
    ]);
    assert_eq!(s["stats"]["rows_committed"], 2, "{s}");
    let err = env.fails(&[
        "contribute",
        "--files",
        dir.to_str().unwrap(),
        "--dataset",
        ds_s,
        "--threshold",
        "1.5",
    ]);
    assert!(err.contains("not between 0 and 1"), "{err}");
}

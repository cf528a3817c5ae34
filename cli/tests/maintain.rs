//! `masa maintain` on a long-lived dataset: 120 one-row commits compacted into one file,
//! and everything that reads the table afterwards still right — stats, phrase search,
//! record proofs, the audit, a dedup filter removing rows from the compacted file — also
//! once the commit files the checkpoint covers are gone.

mod common;

use common::{Env, doc, near_copy, write_file};

const DOCS: u64 = 120;

fn phrase_hits(env: &Env, ds: &str, text: &str) -> Vec<serde_json::Value> {
    let phrase = text
        .split(' ')
        .skip(100)
        .take(6)
        .collect::<Vec<_>>()
        .join(" ");
    env.json(&["search", &format!("\"{phrase}\""), "--dataset", ds])
        .as_array()
        .unwrap()
        .clone()
}

fn audit_clean(env: &Env, ds: &str, records: u64) {
    let audit = env.json(&["audit", "--dataset", ds, "--no-publish"]);
    assert_eq!(audit["findings"], serde_json::json!([]), "{audit}");
    assert_eq!(audit["records_audited"], records, "{audit}");
}

fn proof_verifies(env: &Env, ds: &str, record_id: &str) {
    let proof = env.path("proof.json");
    env.ok(&[
        "proof",
        record_id,
        "--dataset",
        ds,
        "-o",
        proof.to_str().unwrap(),
    ]);
    let ok = env.json(&["verify-proof", proof.to_str().unwrap(), "--dataset", ds]);
    assert_eq!(ok["record_id"], record_id, "{ok}");
}

#[test]
fn maintain_compacts_small_files_and_every_reader_still_agrees() {
    let env = Env::new();
    let ds = env.path("data").display().to_string();
    let src = env.path("src");
    for i in 0..DOCS {
        write_file(&src, &format!("d{i:03}.txt"), &doc(i));
    }
    env.ok(&[
        "contribute",
        "--files",
        src.to_str().unwrap(),
        "--dataset",
        &ds,
        "--batch-rows",
        "1",
        "-q",
    ]);
    let before = env.json(&["stats", "--dataset", &ds]);
    assert_eq!(before["data_files"], DOCS, "{before}");
    let hit = phrase_hits(&env, &ds, &doc(42));
    assert_eq!(hit.len(), 1, "{hit:?}");
    let record = hit[0]["record_id"].as_str().unwrap().to_owned();

    // A dry run plans and changes nothing.
    let dry = env.json(&["maintain", "--dataset", &ds, "--dry-run"]);
    assert_eq!(dry["files_after"], 1, "{dry}");
    assert_eq!(dry["checkpoint"], serde_json::Value::Null, "{dry}");
    assert_eq!(env.json(&["stats", "--dataset", &ds])["data_files"], DOCS);

    let done = env.json(&["maintain", "--dataset", &ds]);
    assert_eq!(done["files_before"], DOCS, "{done}");
    assert_eq!(done["files_after"], 1, "{done}");
    assert_eq!(done["compacted"][0]["batches"], DOCS, "{done}");
    let after = env.json(&["stats", "--dataset", &ds]);
    assert_eq!(after["data_files"], 1, "{after}");
    for key in [
        "records",
        "text_bytes",
        "contributors",
        "batches",
        "commits",
    ] {
        assert_eq!(after[key], before[key], "{key}: {after}");
    }
    // Nothing small is left: a second run compacts nothing.
    let again = env.json(&["maintain", "--dataset", &ds]);
    assert_eq!(again["compacted"], serde_json::json!([]), "{again}");

    // Search, proofs and the audit read the compacted file.
    assert_eq!(phrase_hits(&env, &ds, &doc(42)), hit);
    proof_verifies(&env, &ds, &record);
    audit_clean(&env, &ds, DOCS);

    // Near copies of three documents, then a filter that rewrites the compacted file
    // without them: the other batches' rows stay, the copies go.
    let copies = env.path("copies");
    for i in 0..3u64 {
        write_file(&copies, &format!("c{i}.txt"), &near_copy(&doc(i * 10)));
    }
    env.ok(&[
        "contribute",
        "--files",
        copies.to_str().unwrap(),
        "--dataset",
        &ds,
        "--no-near-dup",
        "-q",
    ]);
    env.ok(&["maintain", "--dataset", &ds]);
    let r = env.json(&["dedup", "--dataset", &ds]);
    assert_eq!(r["rows_removed_from_table"], 3, "{r}");
    let stats = env.json(&["stats", "--dataset", &ds]);
    assert_eq!(stats["records"], DOCS, "{stats}");
    assert_eq!(phrase_hits(&env, &ds, &doc(10)).len(), 1);
    assert_eq!(phrase_hits(&env, &ds, &doc(42)), hit);
    audit_clean(&env, &ds, DOCS);

    // The commit files that the last checkpoint and a complete history block (100
    // versions) cover, gone (a tool's log cleanup, say): every reader still works.
    let checkpointed = env.json(&["maintain", "--dataset", &ds])["checkpoint"]
        .as_u64()
        .unwrap();
    let covered = checkpointed / 100 * 100;
    let log = env.path("data/table/_delta_log");
    let mut removed = 0;
    for e in std::fs::read_dir(&log).unwrap() {
        let p = e.unwrap().path();
        let version = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|v| v.parse::<u64>().ok());
        if version.is_some_and(|v| v < covered) {
            std::fs::remove_file(&p).unwrap();
            removed += 1;
        }
    }
    assert_eq!(removed, 100);
    let gone = env.json(&["stats", "--dataset", &ds]);
    for key in ["records", "batches", "commits", "removed_by_dedup"] {
        assert_eq!(gone[key], stats[key], "{key}: {gone}");
    }
    assert_eq!(phrase_hits(&env, &ds, &doc(42)), hit);
    proof_verifies(&env, &ds, &record);
    audit_clean(&env, &ds, DOCS);
    let dry = env.json(&["dedup", "--dataset", &ds, "--dry-run"]);
    assert_eq!(dry["clusters"], 0, "{dry}");
    assert_eq!(dry["documents"], DOCS, "{dry}");
}

#[test]
fn maintain_refuses_a_bad_target_size() {
    let env = Env::new();
    let ds = env.path("data").display().to_string();
    for bad in ["0", "12X", "1.5G", "99999999999G"] {
        let err = env.fails(&["maintain", "--dataset", &ds, "--target-size", bad]);
        assert!(err.contains("--target-size"), "{bad}: {err}");
    }
}

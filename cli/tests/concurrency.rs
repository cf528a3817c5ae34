//! Many processes on one dataset at once, coordinated only by Delta's optimistic commits and
//! the log's conditional creates: eight contributors, a `masa dedup` filter removing rows,
//! a `masa maintain` compacting files and a `masa audit`, started together. None may fail for a conflict that re-reading
//! resolves (before, the filter's remove commit made every contributor committing after it
//! fail with "a concurrent transaction deleted data this operation read"), every batch is
//! committed once, the log stays linear, and the audit afterwards is clean.

mod common;

use common::{Env, S3, doc, near_copy, write_file};
use std::process::{Child, Stdio};

const WRITERS: u64 = 8;
const DOCS_EACH: u64 = 12;
const ROWS_A_BATCH: &str = "3";
/// Seed documents, and how many of them have a near-copy committed with near-dup off.
const SEED: u64 = 24;
const COPIED: u64 = 18;

fn contribute(env: &Env, ds: &str, name: &str, texts: &[String], extra: &[&str]) -> Child {
    let src = env.path(name);
    for (i, t) in texts.iter().enumerate() {
        write_file(&src, &format!("d{i:03}.txt"), t);
    }
    let mut args = vec![
        "contribute",
        "--files",
        src.to_str().unwrap(),
        "--dataset",
        ds,
        "--batch-rows",
        ROWS_A_BATCH,
        "-q",
    ];
    args.extend(extra);
    env.command(&args).stdout(Stdio::null()).spawn().unwrap()
}

fn succeeds(what: &str, child: Child) {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{what}: {}", common::stderr(&out));
}

fn writers_filter_and_audit_at_once(envs: &[Env], ds: &str) {
    let (owner, copier, auditor) = (&envs[0], &envs[1], &envs[2]);
    let seed: Vec<String> = (0..SEED).map(doc).collect();
    succeeds("seed", contribute(owner, ds, "seed", &seed, &[]));
    // Near-copies committed as a contribution with near-dup off would be (or one racing the
    // originals): the filter below has rows to remove while the writers commit.
    let copies: Vec<String> = seed[..COPIED as usize]
        .iter()
        .map(|t| near_copy(t))
        .collect();
    succeeds(
        "copies",
        contribute(copier, ds, "copies", &copies, &["--no-near-dup"]),
    );
    let before = owner.json(&["log", "checkpoint", "--dataset", ds]);

    let mut racing: Vec<(String, Child)> = (0..WRITERS)
        .map(|w| {
            let texts: Vec<String> = (0..DOCS_EACH).map(|d| doc(10_000 * (w + 1) + d)).collect();
            let env = &envs[3 + w as usize];
            (
                format!("writer {w}"),
                contribute(env, ds, "src", &texts, &[]),
            )
        })
        .collect();
    racing.push((
        "dedup".into(),
        owner
            .command(&["dedup", "--dataset", ds])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    racing.push((
        "maintain".into(),
        auditor
            .command(&["maintain", "--dataset", ds, "--json"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    racing.push((
        "audit".into(),
        auditor
            .command(&["audit", "--dataset", ds])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    for (what, child) in racing {
        succeeds(&what, child);
    }

    // Compacting what the race left: every data file is small, so one remains.
    let maintained = owner.json(&["maintain", "--dataset", ds]);
    assert_eq!(maintained["files_after"], 1, "{maintained}");

    // Every writer's rows, the seed, none of the copies.
    let stats = owner.json(&["stats", "--dataset", ds]);
    assert_eq!(stats["data_files"], 1, "{stats}");
    let records = SEED + WRITERS * DOCS_EACH;
    assert_eq!(stats["records"], records, "{stats}");
    let batches: Vec<&str> = stats["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["batch_id"].as_str().unwrap())
        .collect();
    let unique: std::collections::HashSet<&&str> = batches.iter().collect();
    assert_eq!(
        unique.len(),
        batches.len(),
        "a batch committed twice: {stats}"
    );
    // One leaf per batch committed (seed, copies, the writers') and one for the audit's
    // report, appended to the checkpoint seen before the race: linear, no fork.
    let per_run = |docs: u64| docs.div_ceil(3);
    let leaves = per_run(SEED) + per_run(COPIED) + WRITERS * per_run(DOCS_EACH) + 1;
    let cp = owner.json(&["log", "checkpoint", "--dataset", ds]);
    assert_eq!(cp["size"], leaves, "{cp}");
    assert_eq!(cp["pending"], 0, "{cp}");
    let since = owner.path("before.json");
    std::fs::write(&since, before["note"].as_str().unwrap()).unwrap();
    let out = auditor.masa(&[
        "audit",
        "--dataset",
        ds,
        "--no-publish",
        "--since",
        since.to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{report}");
    assert_eq!(report["findings"], serde_json::json!([]), "{report}");
    assert_eq!(report["records_audited"], records, "{report}");
    // Search answers from the compacted table: a writer's document is found.
    let text = doc(10_000 * WRITERS + 3);
    let query: Vec<&str> = text.split(' ').take(8).collect();
    let hits = owner.json(&["search", &query.join(" "), "--dataset", ds]);
    assert!(hits.as_array().is_some_and(|h| !h.is_empty()), "{hits}");
}

fn envs(n: u64, make: impl Fn() -> Env) -> Vec<Env> {
    (0..n).map(|_| make()).collect()
}

#[test]
fn eight_writers_a_dedup_filter_and_an_audit_at_once() {
    let envs = envs(3 + WRITERS, Env::new);
    let ds = envs[0].path("data").display().to_string();
    writers_filter_and_audit_at_once(&envs, &ds);
}

#[test]
fn eight_writers_a_dedup_filter_and_an_audit_at_once_on_s3() {
    let Some(s3): Option<S3> = common::s3() else {
        return;
    };
    let url = common::unique_s3_url(&s3, "many-writers");
    let envs = envs(3 + WRITERS, || Env::for_s3(&s3));
    writers_filter_and_audit_at_once(&envs, &url);
}

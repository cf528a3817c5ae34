//! `masa dedup` over a whole dataset: the dry-run report, the filter that removes rows,
//! the staged and sharded run giving the same answer as the single-process one, and every
//! missing or corrupt intermediate stopping the job with its name.

mod common;

use common::{Env, doc, near_copy, write_file};

/// Alice commits 20 documents; Bob, with near-dup removal off (as if his run had committed
/// at the same time), commits near-copies of three of hers, a pair of near-copies of each
/// other, and four new documents. 29 records; 4 clusters; Bob's 4 copies are the later ones.
fn populate(alice: &Env, bob: &Env, dataset: &str) -> (String, String) {
    let a = alice.path("alice");
    for i in 0..20 {
        write_file(&a, &format!("a{i:02}.txt"), &doc(i));
    }
    let s = alice.json(&[
        "contribute",
        "--files",
        a.to_str().unwrap(),
        "--dataset",
        dataset,
    ]);
    assert_eq!(s["stats"]["rows_committed"], 20, "{s}");
    let b = bob.path("bob");
    for i in [2, 9, 17] {
        write_file(&b, &format!("copy{i}.txt"), &near_copy(&doc(i)));
    }
    write_file(&b, "pair1.txt", &doc(500));
    write_file(&b, "pair2.txt", &near_copy(&doc(500)));
    for i in 0..4 {
        write_file(&b, &format!("new{i}.txt"), &doc(1000 + i));
    }
    let s = bob.json(&[
        "contribute",
        "--files",
        b.to_str().unwrap(),
        "--dataset",
        dataset,
        "--no-near-dup",
    ]);
    assert_eq!(s["stats"]["rows_committed"], 9, "{s}");
    (
        s["contributor"].as_str().unwrap().to_owned(),
        alice.json(&["stats", "--dataset", dataset])["contributors"]
            .as_object()
            .unwrap()
            .keys()
            .find(|k| *k != s["contributor"].as_str().unwrap())
            .unwrap()
            .clone(),
    )
}

fn check_report(r: &serde_json::Value, bob: &str) {
    assert_eq!(r["documents"], 29, "{r}");
    assert_eq!(r["clusters"], 4, "{r}");
    assert_eq!(r["removed"], 4, "{r}");
    assert_eq!(r["removed_by_contributor"][bob], 4, "{r}");
    assert_eq!(
        r["removed_by_contributor"].as_object().unwrap().len(),
        1,
        "{r}"
    );
}

fn dry_run_then_filter(alice: &Env, bob: &Env, ds: &str) {
    let (bob_key, alice_key) = populate(alice, bob, ds);
    let r = alice.json(&["dedup", "--dataset", ds, "--dry-run"]);
    check_report(&r, &bob_key);
    // Every removal keeps the earlier document: Alice's, or the first of Bob's pair; and
    // says why: a near match (a word in a hundred changed, a header added) with the
    // document it was matched with and the estimates.
    let clusters = r["cluster_list"].as_array().unwrap();
    assert_eq!(clusters.len(), 4, "{r}");
    for c in clusters {
        let removed = c["removed"].as_array().unwrap();
        assert_eq!(removed.len(), 1, "{c}");
        let e = &removed[0];
        assert_eq!(e["kept"], c["kept"], "{c}");
        let kept = &e["kept"]["contributor"];
        assert!(
            kept == &alice_key || e["kept"]["batch_id"] == e["batch_id"],
            "{e}"
        );
        assert_eq!(e["matched"], e["kept"], "{e}");
        assert_eq!(e["kind"], "near", "{e}");
        let j = e["similarity"]["jaccard"].as_f64().unwrap();
        let contained = e["similarity"]["containment"].as_f64().unwrap();
        assert!(j > 0.8 && j <= contained && contained <= 1.0, "{e}");
    }
    assert_eq!(alice.json(&["stats", "--dataset", ds])["records"], 29);

    let r = alice.json(&["dedup", "--dataset", ds]);
    check_report(&r, &bob_key);
    assert_eq!(r["rows_removed_from_table"], 4, "{r}");
    let stats = alice.json(&["stats", "--dataset", ds]);
    assert_eq!(stats["records"], 25, "{stats}");
    assert_eq!(stats["contributors"][&bob_key], 5, "{stats}");

    // The index follows the table: a removed copy is gone, its original and Bob's new
    // documents are found.
    let search_phrase_of = |t: &str| {
        let phrase = t.split(' ').skip(100).take(6).collect::<Vec<_>>().join(" ");
        alice.json(&["search", &format!("\"{phrase}\""), "--dataset", ds])
    };
    let hits = search_phrase_of(&doc(9));
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    assert_eq!(hits[0]["contributor"], alice_key.as_str(), "{hits}");
    let hits = search_phrase_of(&doc(1002));
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");

    // A validator accepts the filtered table: each replaced file holds only rows of its
    // signed original, and the removed copies are no longer credited.
    let audit = alice.json(&["audit", "--dataset", ds, "--no-publish"]);
    assert_eq!(audit["findings"], serde_json::json!([]), "{audit}");
    assert_eq!(audit["records_audited"], 25, "{audit}");
    // Nothing left to find; the same filter again changes nothing.
    let again = alice.json(&["dedup", "--dataset", ds, "--dry-run"]);
    assert_eq!(again["clusters"], 0, "{again}");
    assert_eq!(again["documents"], 25, "{again}");
}

#[test]
fn dry_run_reports_and_filter_removes_later_copies() {
    let (alice, bob) = (Env::new(), Env::new());
    let ds = alice.path("data");
    let ds = ds.to_str().unwrap();
    dry_run_then_filter(&alice, &bob, ds);
    // An outside reader sees the filtered table.
    if let Some(rows) = common::read_with_python(&format!("{ds}/table"), &[]) {
        assert_eq!(rows.len(), 25);
    }
}

#[test]
fn dry_run_and_filter_on_s3() {
    let Some(s3) = common::s3() else { return };
    let url = common::unique_s3_url(&s3, "dedup-job");
    let alice = Env::for_s3(&s3);
    dry_run_then_filter(&alice, &Env::for_s3(&s3), &url);
    // Compacted too, into a file of masa's slices.
    let maintained = alice.json(&["maintain", "--dataset", &url]);
    assert_eq!(maintained["files_after"], 1, "{maintained}");
    // DuckDB and Polars read the filtered, compacted table from S3 as masa does: the
    // filter's and the compaction's Delta remove + add commits are all they need.
    let options = common::s3_reader_options(&s3);
    if let Some(readers) = common::read_with_duckdb_and_polars(&format!("{url}/table"), &options) {
        let ours = common::read_records(&url, &common::s3_storage(&s3));
        assert_eq!(ours.len(), 25);
        common::same_rows_as(&readers, &ours);
    }
}

#[test]
fn sharded_stages_agree_with_the_single_process_run() {
    let (alice, bob) = (Env::new(), Env::new());
    let ds = alice.path("data");
    let ds = ds.to_str().unwrap();
    let (bob_key, _) = populate(&alice, &bob, ds);

    let plan = alice.json(&["dedup", "--dataset", ds, "--stage", "plan"]);
    let job = plan["job"].as_str().unwrap().to_owned();
    let stage = |name: &str, shard: &str| {
        alice.json(&[
            "dedup",
            "--dataset",
            ds,
            "--stage",
            name,
            "--job",
            &job,
            "--shard",
            shard,
        ])
    };
    stage("signatures", "0/2");
    stage("signatures", "1/2");
    for i in 0..3 {
        stage("buckets", &format!("{i}/3"));
    }
    // Clusters before every band is bucketed would be wrong: delete one band's pairs.
    let band3 = format!("{ds}/dedup/jobs/{job}/pairs/band-003.bin");
    let saved = std::fs::read(&band3).unwrap();
    let clusters_fails_with = |what: &str| {
        let args = [
            "dedup",
            "--dataset",
            ds,
            "--stage",
            "clusters",
            "--job",
            &job,
        ];
        let err = alice.fails(&args);
        assert!(err.contains("band-003.bin") && err.contains(what), "{err}");
    };
    std::fs::remove_file(&band3).unwrap();
    clusters_fails_with("buckets stage");
    // A corrupted one is caught by its checksum.
    let mut bad = saved.clone();
    let last = bad.len() - 40;
    bad[last] ^= 0x55;
    std::fs::write(&band3, &bad).unwrap();
    clusters_fails_with("checksum");
    std::fs::write(&band3, &saved).unwrap();

    // The shard can come from a batch scheduler's environment.
    let out = alice
        .command(&[
            "dedup",
            "--dataset",
            ds,
            "--stage",
            "clusters",
            "--job",
            &job,
            "--json",
        ])
        .env("SLURM_ARRAY_TASK_ID", "0")
        .env("SLURM_ARRAY_TASK_COUNT", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let sharded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    check_report(&sharded, &bob_key);

    let whole = alice.json(&["dedup", "--dataset", ds, "--dry-run"]);
    assert_eq!(whole["job"], job.as_str());
    assert_eq!(whole["cluster_list"], sharded["cluster_list"]);
    assert_eq!(
        whole["removed_by_contributor"],
        sharded["removed_by_contributor"]
    );
}

#[test]
fn bad_invocations_are_refused_clearly() {
    let env = Env::new();
    let ds = env.path("data");
    let ds = ds.to_str().unwrap();
    let dir = env.path("in");
    write_file(&dir, "a.txt", &doc(1));
    env.ok(&[
        "contribute",
        "--files",
        dir.to_str().unwrap(),
        "--dataset",
        ds,
    ]);
    let err = env.fails(&["dedup", "--dataset", ds, "--stage", "buckets"]);
    assert!(err.contains("needs --job"), "{err}");
    let err = env.fails(&[
        "dedup",
        "--dataset",
        ds,
        "--stage",
        "buckets",
        "--job",
        "nope",
    ]);
    assert!(err.contains("no such job") && err.contains("plan"), "{err}");
    let err = env.fails(&["dedup", "--dataset", ds, "--shard", "2/2"]);
    assert!(err.contains("0 ≤ i < N"), "{err}");
    let err = env.fails(&["dedup", "--dataset", ds, "--shard", "x"]);
    assert!(err.contains("i/N"), "{err}");
    let err = env.fails(&[
        "dedup",
        "--dataset",
        ds,
        "--dry-run",
        "--stage",
        "filter",
        "--job",
        "j",
    ]);
    assert!(err.contains("contradict"), "{err}");
    let err = env.fails(&[
        "dedup",
        "--dataset",
        &env.path("nothing").display().to_string(),
    ]);
    assert!(err.contains("nothing"), "{err}");
}

/// The report says how each removal matched: a cut copy is `contained` in its source
/// (Jaccard below the threshold, containment above), while a later text that includes an
/// earlier one and adds as much again is not a copy of it and stays.
#[test]
fn dry_run_reports_the_kind_of_match_and_containment_is_directional() {
    let (alice, bob) = (Env::new(), Env::new());
    let ds = alice.path("ds");
    let ds = ds.to_str().unwrap();
    let a = alice.path("alice");
    for i in 0..6 {
        write_file(&a, &format!("a{i}.txt"), &doc(i));
    }
    alice.ok(&[
        "contribute",
        "--files",
        a.to_str().unwrap(),
        "--dataset",
        ds,
    ]);
    let b = bob.path("bob");
    let words: Vec<String> = doc(1).split(' ').map(str::to_owned).collect();
    write_file(&b, "cut.txt", &words[..words.len() * 11 / 20].join(" "));
    write_file(&b, "longer.txt", &format!("{}\n\n{}", doc(2), doc(700)));
    bob.ok(&[
        "contribute",
        "--files",
        b.to_str().unwrap(),
        "--dataset",
        ds,
        "--no-near-dup",
    ]);
    let r = alice.json(&["dedup", "--dataset", ds, "--dry-run"]);
    assert_eq!(r["removed"], 1, "{r}");
    let e = &r["cluster_list"][0]["removed"][0];
    assert_eq!(e["kind"], "contained", "{e}");
    let j = e["similarity"]["jaccard"].as_f64().unwrap();
    let c = e["similarity"]["containment"].as_f64().unwrap();
    assert!(j < 0.6 && c >= 0.6 && c > j, "{e}");
    let text = alice.ok(&["dedup", "--dataset", ds, "--dry-run"]);
    assert!(text.contains("contained match of"), "{text}");
    assert!(text.contains("containment ≈ "), "{text}");
}

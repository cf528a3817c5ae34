//! SIGKILL in the middle of a contribution, then the same command again: nothing committed
//! is lost, nothing is committed twice, and the rerun resumes rather than starting over.

mod common;

use common::Env;
use std::io::Write;

#[test]
fn killed_contribution_resumes_without_loss_or_duplicates() {
    let env = Env::new();
    let input = env.path("posts.jsonl");
    let n = 30_000;
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    for i in 0..n {
        let text = common::random_text(i as u64, 8);
        writeln!(f, "{{\"id\": {i}, \"text\": \"post {i}: {text}\"}}").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let ds = env.path("data");
    let ds_s = ds.display().to_string();
    let args = [
        "contribute",
        "--files",
        input.to_str().unwrap(),
        "--dataset",
        &ds_s,
        "--batch-rows",
        "500",
    ];

    // Kill once a few batches are committed.
    let killed = env.kill_after_commits(&args, &ds, 4);
    assert!(
        killed,
        "the run ended before it could be killed; make the input larger"
    );
    let committed_before = common::commits(&ds.join("table"));

    let summary = env.json(&args);
    assert_eq!(summary["resumed"], true, "{summary}");
    // Resuming from the checkpoint re-reads nothing that was committed: no exact duplicates.
    assert!(
        summary["stats"]["drops"].get("dedup:exact").is_none(),
        "{summary}"
    );
    assert!(common::commits(&ds.join("table")) > committed_before);

    let stats = env.json(&["stats", "--dataset", &ds_s]);
    assert_eq!(stats["records"], n);
    // Every input once: each id appears exactly once among the committed rows.
    // Our reader panics on a repeated record id; the uris show no input is lost.
    let uris: Vec<String> = common::read_records(&ds_s, &Default::default())
        .into_values()
        .map(|r| r.uri)
        .collect();
    assert_eq!(uris.len(), n);
    let unique: std::collections::HashSet<&String> = uris.iter().collect();
    assert_eq!(unique.len(), n);
    for i in [0, n / 2, n - 1] {
        assert!(
            uris.iter().any(|u| u.ends_with(&format!("#id={i}"))),
            "id {i} lost"
        );
    }
    // A validator accepts the result: the kill left nothing that fails an audit (a leaf of
    // the batch in flight, if any, is simply not credited).
    let report = env.json(&["audit", "--dataset", &ds_s]);
    assert_eq!(report["records_audited"], n as u64, "{report}");
    assert_eq!(report["findings"], serde_json::json!([]), "{report}");
    // Search sees every committed batch, including the ones before the kill.
    let phrase = format!("\"{}\"", common::random_text(7, 8));
    let hits = env.json(&["search", &phrase, "--dataset", &ds_s]);
    assert_eq!(
        hits[0]["uri"].as_str().unwrap().rsplit('=').next(),
        Some("7")
    );
}

//! Provenance a validator can check: record proofs verified offline, the log's consistency
//! across checkpoints, `masa audit` naming each kind of tampering precisely, and concurrent
//! writers appending to one log without forking it (local and S3).

mod common;

use common::{Env, S3};
use masa_provenance::{Checkpoint, ContributorKey, Tree, changed_tiles, encode_entries, leaf_hash};
use std::path::{Path, PathBuf};

/// A dataset of 12 documents in 3 batches of 4.
fn dataset(env: &Env) -> String {
    let src = env.path("docs");
    common::write_docs(&src, 12);
    let ds = env.path("data").display().to_string();
    env.ok(&[
        "contribute",
        "--files",
        src.to_str().unwrap(),
        "--dataset",
        &ds,
        "--batch-rows",
        "4",
        "-q",
    ]);
    ds
}

fn some_record(ds: &str) -> masa_record::Record {
    common::read_records(ds, &Default::default())
        .into_values()
        .next()
        .unwrap()
}

/// Runs `masa audit --json`; returns its exit success and report.
fn audit(env: &Env, ds: &str) -> (bool, serde_json::Value) {
    let out = env.masa(&["audit", "--dataset", ds, "--json"]);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("audit printed no report ({e}): {}", common::stderr(&out)));
    (out.status.success(), report)
}

fn findings(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["findings"].as_array().unwrap().clone()
}

#[test]
fn proofs_verify_offline_and_bad_proofs_are_refused() {
    let env = Env::new();
    let ds = dataset(&env);
    let rec = some_record(&ds);
    let proof = env.path("proof.json");
    env.ok(&[
        "proof",
        &rec.record_id,
        "--dataset",
        &ds,
        "-o",
        proof.to_str().unwrap(),
    ]);
    let ok = env.json(&["verify-proof", proof.to_str().unwrap(), "--dataset", &ds]);
    assert_eq!(ok["record_id"], rec.record_id.as_str());
    assert_eq!(ok["batch_id"], rec.batch_id.as_str());
    assert_eq!(ok["row"], rec.row_in_batch);
    assert_eq!(ok["log_size"], 3);

    let text = std::fs::read_to_string(&proof).unwrap();
    let check_fails = |name: &str, body: &str, extra: &[&str], want: &str| {
        let p = env.path(name);
        std::fs::write(&p, body).unwrap();
        let mut args = vec!["verify-proof", p.to_str().unwrap()];
        args.extend(extra);
        let err = env.fails(&args);
        assert!(err.contains(want), "{name}: {err}");
    };
    check_fails("truncated.json", &text[..text.len() / 2], &[], "truncated");
    check_fails(
        "format.json",
        &text.replace("masa-proof/v1", "masa-proof/v9"),
        &[],
        "unknown format",
    );
    // One hash of the log path altered.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let h = v["log_path"][0].as_str().unwrap().to_owned();
    let flipped = format!("{}{}", if h.starts_with('0') { '1' } else { '0' }, &h[1..]);
    v["log_path"][0] = flipped.into();
    check_fails("path.json", &v.to_string(), &[], "log path");
    // A proof checked against another dataset.
    let other = Env::new();
    let other_ds = dataset(&other);
    check_fails(
        "mine.json",
        &text,
        &["--dataset", &other_ds],
        "not \"masa/dataset/",
    );
    let _ = other_ds;

    // A missing tile: the log cannot be read, and says which object is missing.
    let tiles = PathBuf::from(&ds).join("log/tile/0");
    let tile = common::walk(&tiles)
        .into_iter()
        .find(|p| p.ends_with("000.p/3"))
        .unwrap();
    std::fs::remove_file(&tile).unwrap();
    let err = env.fails(&["log", "checkpoint", "--dataset", &ds]);
    assert!(
        err.contains("log/tile/0/000.p/3") && err.contains("missing tile"),
        "{err}"
    );
}

/// Replaces leaf 0 of the log and recomputes everything after it, as an operator rewriting
/// history would: tiles, entry bundle, claim objects and a freshly signed checkpoint.
fn rewrite_first_leaf(ds: &str) {
    let root = PathBuf::from(ds).join("log");
    let size = common::walk(&root.join("seq")).len() as u64;
    let mut entries: Vec<Vec<u8>> = (0..size)
        .map(|i| std::fs::read(root.join(format!("seq/{i:020}"))).unwrap())
        .collect();
    entries[0] =
        br#"{"kind":"batch","batch_id":"forged","contributor":"x","manifest_sha256":"y"}"#.to_vec();
    std::fs::write(root.join(format!("seq/{:020}", 0)), &entries[0]).unwrap();
    let mut tree = Tree::new();
    for e in &entries {
        tree.push(leaf_hash(e));
    }
    for (path, bytes) in changed_tiles(&tree, 0) {
        std::fs::write(root.join(path), bytes).unwrap();
    }
    let bundle = encode_entries(entries.iter().map(Vec::as_slice));
    std::fs::write(root.join(format!("tile/entries/000.p/{size}")), bundle).unwrap();
    let note = std::fs::read_to_string(root.join("checkpoint")).unwrap();
    let (cp, _) = Checkpoint::open(&note).unwrap();
    let forged = Checkpoint {
        root: tree.root(),
        ..cp
    };
    std::fs::write(
        root.join("checkpoint"),
        forged.sign(&ContributorKey::from_seed([66; 32])),
    )
    .unwrap();
}

#[test]
fn the_log_only_grows_and_a_rewritten_history_is_caught() {
    let env = Env::new();
    let ds = dataset(&env);
    let cp1 = env.path("cp1.json");
    std::fs::write(
        &cp1,
        env.ok(&["log", "checkpoint", "--dataset", &ds, "--json"]),
    )
    .unwrap();
    // A first audit: clean, and the validator remembers the checkpoint.
    let (ok, report) = audit(&env, &ds);
    assert!(ok, "{report}");
    assert_eq!(report["records_audited"], 12);
    assert!(findings(&report).is_empty(), "{report}");

    let more = env.path("more");
    common::write_file(&more, "new.txt", &common::doc(77));
    env.ok(&[
        "contribute",
        "--files",
        more.to_str().unwrap(),
        "--dataset",
        &ds,
        "-q",
    ]);
    let c = env.json(&[
        "log",
        "verify",
        "--dataset",
        &ds,
        "--since",
        cp1.to_str().unwrap(),
    ]);
    assert_eq!(c["old_size"], 3);
    assert_eq!(
        c["new_size"], 5,
        "3 batches, the audit report, and 1 batch: {c}"
    );

    rewrite_first_leaf(&ds);
    let err = env.fails(&[
        "log",
        "verify",
        "--dataset",
        &ds,
        "--since",
        cp1.to_str().unwrap(),
    ]);
    assert!(
        err.contains("not consistent with the checkpoint at size 3"),
        "{err}"
    );
    // The validator's saved checkpoint catches it without being told.
    let (ok, report) = audit(&env, &ds);
    assert!(!ok);
    let f = findings(&report);
    assert!(
        f.iter().any(|f| f["check"] == "log consistency"),
        "{report}"
    );
    // And the batch whose leaf was replaced is no longer in the log.
    assert!(f.iter().any(|f| f["check"] == "log inclusion"), "{report}");
}

#[test]
fn a_forged_checkpoint_signature_is_refused() {
    let env = Env::new();
    let ds = dataset(&env);
    let path = PathBuf::from(&ds).join("log/checkpoint");
    let note = std::fs::read_to_string(&path).unwrap();
    // Change one base64 character of the signature.
    let (head, sig) = note.trim_end().rsplit_once(' ').unwrap();
    let c = if sig.starts_with('A') { 'B' } else { 'A' };
    std::fs::write(&path, format!("{head} {c}{}\n", &sig[1..])).unwrap();
    let err = env.fails(&["log", "checkpoint", "--dataset", &ds]);
    assert!(err.contains("does not verify"), "{err}");
    let err = env.fails(&["audit", "--dataset", &ds]);
    assert!(
        err.contains("log/checkpoint") && err.contains("does not verify"),
        "{err}"
    );
}

/// The rows of the dataset's first batch file, and that file's path.
fn first_batch(ds: &str) -> (PathBuf, Vec<masa_record::Record>) {
    let table = PathBuf::from(ds).join("table");
    let mut files: Vec<PathBuf> = common::walk(&table)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let file = files.remove(0);
    let bytes = std::fs::read(&file).unwrap();
    let mut rows = Vec::new();
    for b in masa_storage::decode_parquet(bytes.into()).unwrap() {
        rows.extend(masa_record::records_from_batch(&b).unwrap());
    }
    rows.sort_by_key(|r| r.row_in_batch);
    (file, rows)
}

fn rewrite(file: &Path, rows: &[masa_record::Record]) {
    let rb = masa_record::records_to_batch(rows).unwrap();
    std::fs::write(file, masa_storage::encode_parquet(&rb).unwrap()).unwrap();
}

#[test]
fn audit_names_each_kind_of_tampering() {
    type Tamper = fn(&str, &Path);
    let cases: [(&str, Tamper, &str, Option<u64>); 6] = [
        (
            "byte changed",
            |ds, _| {
                let (file, _) = first_batch(ds);
                let mut b = std::fs::read(&file).unwrap();
                let mid = b.len() / 2;
                b[mid] ^= 0x01;
                std::fs::write(&file, b).unwrap();
            },
            "file sha256",
            None,
        ),
        (
            "row deleted",
            |ds, _| {
                let (file, mut rows) = first_batch(ds);
                rows.remove(1);
                rewrite(&file, &rows);
            },
            "row order",
            Some(1),
        ),
        (
            "rows reordered",
            |ds, _| {
                let (file, mut rows) = first_batch(ds);
                rows.swap(0, 2);
                rewrite(&file, &rows);
            },
            "row order",
            Some(0),
        ),
        (
            "text edited, content hash recomputed",
            |ds, _| {
                let (file, mut rows) = first_batch(ds);
                rows[2].text.push_str(" and one sentence more");
                rows[2].content_hash =
                    masa_record::content_hash(&masa_record::normalize_text(&rows[2].text));
                rewrite(&file, &rows);
            },
            "record id",
            Some(2),
        ),
        (
            "manifest signed by another key",
            |ds, _| {
                let dir = PathBuf::from(ds).join("provenance/batches");
                let path = common::walk(&dir).remove(0);
                let signed: masa_record::SignedManifest =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let forged = ContributorKey::from_seed([9; 32]).sign(signed.manifest);
                std::fs::write(&path, serde_json::to_vec_pretty(&forged).unwrap()).unwrap();
            },
            "manifest signature",
            None,
        ),
        (
            "file and manifest replaced, re-signed by the contributor after logging",
            |ds, home| {
                let (file, mut rows) = first_batch(ds);
                let r = &mut rows[2];
                r.text.push_str(" and one sentence more");
                r.content_hash = masa_record::content_hash(&r.text);
                r.record_id = masa_record::record_id(&r.contributor, &r.uri, &r.content_hash);
                rewrite(&file, &rows);
                let bytes = std::fs::read(&file).unwrap();
                let path =
                    PathBuf::from(ds).join(format!("provenance/batches/{}.json", rows[0].batch_id));
                let signed: masa_record::SignedManifest =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let mut m = signed.manifest;
                m.files[0].sha256 = masa_record::sha256_hex(&bytes);
                m.files[0].size = bytes.len() as u64;
                let leaves: Vec<[u8; 32]> =
                    rows.iter().map(|r| leaf_hash(&r.leaf_bytes())).collect();
                m.rows_root = hex::encode(masa_provenance::merkle_root(&leaves));
                let key = ContributorKey::load(&home.join("contributor.key")).unwrap();
                let resigned = key.sign(m);
                std::fs::write(&path, serde_json::to_vec_pretty(&resigned).unwrap()).unwrap();
            },
            "log inclusion",
            None,
        ),
    ];
    for (name, tamper, check, row) in cases {
        let env = Env::new();
        let ds = dataset(&env);
        tamper(&ds, &env.path("home"));
        let (ok, report) = audit(&env, &ds);
        assert!(!ok, "{name}: the audit passed");
        let f = findings(&report);
        let hit = f.iter().find(|f| f["check"] == check);
        let hit = hit.unwrap_or_else(|| panic!("{name}: no {check} finding in {report}"));
        assert!(
            hit["batch_id"].is_string() && hit["file"].is_string(),
            "{name}: {hit}"
        );
        if let Some(r) = row {
            assert_eq!(hit["row"], r, "{name}: {hit}");
        }
        // Nothing tampered is credited.
        let credited: u64 = report["credited"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(
            credited, 8,
            "{name}: only the two untouched batches count: {report}"
        );
    }
}

/// Four contributions at once into a dataset holding one batch: one linear log holding
/// every batch once (1 + 4 × 3 leaves).
fn concurrent_appends(envs: &[Env], ds: &str) {
    let children: Vec<_> = envs
        .iter()
        .enumerate()
        .map(|(i, env)| {
            let src = env.path(&format!("src{i}"));
            for d in 0..6 {
                common::write_file(
                    &src,
                    &format!("d{d}.txt"),
                    &common::doc(1000 * i as u64 + d),
                );
            }
            env.command(&[
                "contribute",
                "--files",
                src.to_str().unwrap(),
                "--dataset",
                ds,
                "--batch-rows",
                "2",
                "-q",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let cp = envs[0].json(&["log", "checkpoint", "--dataset", ds]);
    assert_eq!(cp["size"], 13, "{cp}");
    assert_eq!(cp["pending"], 0, "{cp}");
    let (ok, report) = audit(&envs[0], ds);
    assert!(ok, "{report}");
    assert_eq!(report["batches_audited"], 13);
    assert_eq!(report["records_audited"], 25);
}

#[test]
fn concurrent_writers_never_fork_the_log() {
    let envs: Vec<Env> = (0..4).map(|_| Env::new()).collect();
    let ds = envs[0].path("data").display().to_string();
    // The dataset exists before the race, as it would for contributors joining one.
    let seed = envs[0].path("seed");
    common::write_file(&seed, "s.txt", &common::doc(999_999));
    envs[0].ok(&[
        "contribute",
        "--files",
        seed.to_str().unwrap(),
        "--dataset",
        &ds,
        "-q",
    ]);
    let first = envs[0].json(&["log", "checkpoint", "--dataset", &ds]);
    assert_eq!(first["size"], 1);
    concurrent_appends(&envs, &ds);
}

#[test]
fn concurrent_writers_never_fork_the_log_on_s3() {
    let Some(s3): Option<S3> = common::s3() else {
        return;
    };
    let url = common::unique_s3_url(&s3, "log-race");
    let envs: Vec<Env> = (0..4).map(|_| Env::for_s3(&s3)).collect();
    let seed = envs[0].path("seed");
    common::write_file(&seed, "s.txt", &common::doc(999_999));
    envs[0].ok(&[
        "contribute",
        "--files",
        seed.to_str().unwrap(),
        "--dataset",
        &url,
        "-q",
    ]);
    concurrent_appends(&envs, &url);
}

/// The log's claim on an index is a conditional create: the second create of a path must
/// lose, on every store the log runs on (or concurrent appends could overwrite a leaf).
fn conditional_create_is_exclusive(location: &str, options: &masa_storage::StorageOptions) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ds = masa_storage::Dataset::open(location, options)
            .await
            .unwrap();
        assert!(
            ds.put_if_absent("log/test-claim", "first".into())
                .await
                .unwrap()
        );
        assert!(
            !ds.put_if_absent("log/test-claim", "second".into())
                .await
                .unwrap()
        );
        assert_eq!(ds.get("log/test-claim").await.unwrap().unwrap(), "first");
    });
}

#[test]
fn claims_are_exclusive_locally_and_on_s3() {
    let env = Env::new();
    let ds = dataset(&env);
    conditional_create_is_exclusive(&ds, &Default::default());
    let Some(s3) = common::s3() else { return };
    let url = common::unique_s3_url(&s3, "claims");
    let s3env = Env::for_s3(&s3);
    let src = s3env.path("docs");
    common::write_docs(&src, 1);
    s3env.ok(&[
        "contribute",
        "--files",
        src.to_str().unwrap(),
        "--dataset",
        &url,
        "-q",
    ]);
    let options: masa_storage::StorageOptions = [
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", s3.key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret.as_str()),
        ("AWS_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    conditional_create_is_exclusive(&url, &options);
}

#[test]
fn sharded_audits_cover_every_batch_once_and_bad_checkpoints_are_refused() {
    let env = Env::new();
    let ds = dataset(&env);
    let shard = |s: &str| {
        env.json(&["audit", "--dataset", &ds, "--shard", s, "--no-publish"])["batches_audited"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(shard("0/2") + shard("1/2"), 3);
    // The shard can come from a Slurm array task.
    let out = env
        .command(&["audit", "--dataset", &ds, "--no-publish", "--json"])
        .env("SLURM_ARRAY_TASK_ID", "2")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["shard"], "2/3");
    assert_eq!(r["batches_audited"], 1);

    for (name, body, want) in [
        (
            "junk.txt",
            "not a checkpoint at all",
            "not a checkpoint note",
        ),
        ("other.json", "{\"size\": 3}", "without a \"note\" field"),
        (
            "unsigned.txt",
            "masa/dataset/x\n3\nAAAA\n\n",
            "not a checkpoint note",
        ),
    ] {
        let p = env.path(name);
        std::fs::write(&p, body).unwrap();
        let err = env.fails(&[
            "log",
            "verify",
            "--dataset",
            &ds,
            "--since",
            p.to_str().unwrap(),
        ]);
        assert!(err.contains(want), "{name}: {err}");
    }
}

/// A tiny HTTP server on 127.0.0.1 serving fixed plain-text pages; 404 for anything else.
fn serve(pages: Vec<(&'static str, String)>) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Drain the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split(' ').nth(1).unwrap_or("/");
            let mut stream = stream;
            let (status, body) = match pages.iter().find(|(p, _)| *p == path) {
                Some((_, b)) => ("200 OK", b.clone()),
                None => ("404 Not Found", "not here".to_owned()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn refetching_flags_records_whose_pages_say_otherwise() {
    let honest = common::doc(31);
    let port = serve(vec![
        ("/honest", honest.clone()),
        (
            "/fabricated",
            "The page really says something else entirely.".to_owned(),
        ),
    ]);
    let env = Env::new();
    let input = env.path("web.jsonl");
    let line = |path: &str, text: &str| {
        serde_json::json!({"url": format!("http://127.0.0.1:{port}{path}"), "text": text})
            .to_string()
    };
    std::fs::write(
        &input,
        [
            line("/honest", &honest),
            line("/fabricated", &common::doc(32)),
            line("/gone", &common::doc(33)),
        ]
        .join("\n"),
    )
    .unwrap();
    let ds = env.path("data").display().to_string();
    env.ok(&[
        "contribute",
        "--files",
        input.to_str().unwrap(),
        "--dataset",
        &ds,
        "-q",
    ]);
    // Loopback is refused unless allowed: the dataset chose these addresses.
    let refused = env.masa(&["audit", "--dataset", &ds, "--refetch", "10", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(report["refetched"], 0, "{report}");
    assert_eq!(
        report["refetch_unreachable"].as_array().unwrap().len(),
        3,
        "{report}"
    );
    assert!(
        report["refetch_unreachable"][0]
            .as_str()
            .unwrap()
            .contains("--allow-private")
    );
    let out = env.masa(&[
        "audit",
        "--dataset",
        &ds,
        "--refetch",
        "10",
        "--allow-private",
        "--json",
    ]);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["refetched"], 2, "{report}");
    assert_eq!(
        report["refetch_unreachable"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    let f = findings(&report);
    assert_eq!(f.len(), 1, "{report}");
    assert_eq!(f[0]["check"], "refetch");
    assert!(
        f[0]["file"].as_str().unwrap().ends_with("/fabricated"),
        "{report}"
    );
}

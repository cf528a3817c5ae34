//! The same slice against a real S3 server on loopback (SeaweedFS, started by
//! `scripts/test`), and the S3 failure modes: wrong credentials, unreachable endpoint.

mod common;

use common::{Env, S3, example_corpus};
use std::time::{Duration, Instant};

fn unique_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn with_s3(env: &Env, s3: &S3, args: &[&str]) -> std::process::Command {
    let mut c = env.command(args);
    c.env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env("AWS_ACCESS_KEY_ID", &s3.key_id)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret)
        .env("AWS_REGION", "us-east-1");
    c
}

/// Runs masa against the test S3 server with `--json` and requires success.
fn json(env: &Env, s3: &S3, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let o = with_s3(env, s3, &a).output().unwrap();
    assert!(
        o.status.success(),
        "masa {args:?} failed: {}\n{}",
        common::stdout(&o),
        common::stderr(&o)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("masa {args:?}: {e}"))
}

#[test]
fn contribute_search_and_stats_on_s3() {
    let Some(s3) = common::s3() else { return };
    let env = Env::new();
    let url = format!("s3://{}/{}", s3.bucket, unique_prefix("slice"));
    let corpus = example_corpus();
    let contribute = [
        "contribute",
        "--files",
        corpus.to_str().unwrap(),
        "--dataset",
        &url,
    ];
    let summary = json(&env, &s3, &contribute);
    assert_eq!(summary["stats"]["rows_committed"], 10, "{summary}");

    let hits = json(&env, &s3, &["search", "tokio runtime", "--dataset", &url]);
    let first = hits[0]["uri"].as_str().unwrap();
    assert!(first.ends_with("tokio-runtime.md"), "{hits}");

    let stats = json(&env, &s3, &["stats", "--dataset", &url]);
    assert_eq!(stats["records"], 10);
    assert_eq!(stats["drops"]["dedup:exact"], 1);

    // Contributing again to the same S3 dataset adds nothing.
    let again = json(&env, &s3, &contribute);
    assert_eq!(again["stats"]["rows_committed"], 0);

    // Outside readers read the table on S3: Python's deltalake, DuckDB and Polars.
    let options = common::s3_reader_options(&s3);
    if let Some(theirs) = common::read_with_python(&format!("{url}/table"), &options) {
        // Same rows, same text as our own reader sees on S3.
        let ours = common::read_records(&url, &common::s3_storage(&s3));
        assert_eq!(theirs.len(), 10);
        assert_eq!(ours.len(), 10);
        for t in &theirs {
            let o = &ours[t["record_id"].as_str().unwrap()];
            assert_eq!(t["text"].as_str().unwrap(), o.text);
            assert_eq!(t["uri"].as_str().unwrap(), o.uri);
            assert_eq!(t["content_hash"].as_str().unwrap(), o.content_hash);
        }
        let readers = common::read_with_duckdb_and_polars(&format!("{url}/table"), &options)
            .expect("the venv that has deltalake has DuckDB and Polars");
        common::same_rows_as(&readers, &ours);
    }
}

#[test]
fn wrong_s3_credentials_fail_with_a_hint_and_write_nothing() {
    let Some(s3) = common::s3() else { return };
    let env = Env::new();
    let url = format!("s3://{}/{}", s3.bucket, unique_prefix("badcreds"));
    let corpus = example_corpus();
    let out = with_s3(
        &env,
        &s3,
        &[
            "contribute",
            "--files",
            corpus.to_str().unwrap(),
            "--dataset",
            &url,
        ],
    )
    .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("check the S3 credentials"), "{err}");
    // Nothing was created: with the right credentials the location is still not a dataset.
    let out = with_s3(&env, &s3, &["stats", "--dataset", &url])
        .output()
        .unwrap();
    assert!(
        common::stderr(&out).contains("no Masa dataset at"),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn unreachable_endpoint_fails_quickly_with_a_hint() {
    // Port 9 on loopback (discard) has no listener here: connections are refused.
    let env = Env::new();
    let corpus = example_corpus();
    let started = Instant::now();
    let out = env
        .command(&[
            "contribute",
            "--files",
            corpus.to_str().unwrap(),
            "--dataset",
            "s3://bucket/x",
        ])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "k")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("cannot reach the storage endpoint"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

/// One WARC 1.1 record with its mandatory fields.
fn warc_record(kind: &str, uri: &str, n: u32, block: &str) -> Vec<u8> {
    let mut r = format!(
        "WARC/1.1\r\nWARC-Type: {kind}\r\nWARC-Date: 2024-03-0{n}T10:00:00Z\r\nWARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-{n:012}>\r\nWARC-Target-URI: {uri}\r\nContent-Type: application/http; msgtype=response\r\nContent-Length: {}\r\n\r\n",
        block.len()
    )
    .into_bytes();
    r.extend_from_slice(block.as_bytes());
    r.extend_from_slice(b"\r\n\r\n");
    r
}

fn gzip_member(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn html_response(title: &str, seed: u64) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<!DOCTYPE html><html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>{}</p><p>{}</p></article></body></html>",
        common::random_text(seed, 80),
        common::random_text(seed + 1, 80)
    )
}

/// WARC files on S3 (a Common Crawl-like `.warc.gz` of one gzip member per record, and a
/// plain `.warc` under a sub-prefix) are contributed from their bucket, with the archived
/// robots.txt applied; again, nothing new; an empty prefix is a clear error.
#[test]
fn warc_files_are_read_from_s3() {
    use object_store::ObjectStoreExt;
    let Some(s3) = common::s3() else { return };
    let env = Env::new();
    let prefix = unique_prefix("warc");
    let robots = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nUser-agent: *\r\nDisallow: /private/\r\n";
    let mut segment = Vec::new();
    for rec in [
        warc_record("response", "https://a.example/robots.txt", 1, robots),
        warc_record(
            "response",
            "https://a.example/one",
            2,
            &html_response("One", 10),
        ),
        warc_record(
            "response",
            "https://a.example/private/two",
            3,
            &html_response("Two", 20),
        ),
    ] {
        segment.extend(gzip_member(&rec));
    }
    let plain = warc_record(
        "response",
        "https://b.example/three",
        4,
        &html_response("Three", 30),
    );
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&s3.endpoint)
        .with_allow_http(true)
        .with_bucket_name(&s3.bucket)
        .with_access_key_id(&s3.key_id)
        .with_secret_access_key(&s3.secret)
        .with_region("us-east-1")
        .build()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for (name, bytes) in [
            ("CC-MAIN-0001.warc.gz", segment),
            ("more/b.warc", plain),
            ("notes.txt", b"not an archive".to_vec()),
        ] {
            let key = object_store::path::Path::from(format!("{prefix}/{name}"));
            store.put(&key, bytes.into()).await.unwrap();
        }
    });
    let source = env.path("warc.toml");
    std::fs::write(
        &source,
        format!("kind = \"warc\"\npath = \"s3://{}/{prefix}\"\n", s3.bucket),
    )
    .unwrap();
    let ds = env.path("data").display().to_string();
    let args = [
        "contribute",
        "--source",
        source.to_str().unwrap(),
        "--dataset",
        &ds,
    ];
    let summary = json(&env, &s3, &args);
    assert_eq!(summary["stats"]["rows_committed"], 2, "{summary}");
    let drops = &summary["stats"]["drops"];
    assert_eq!(drops["robots"], 1, "{summary}");
    assert_eq!(drops["warc:robots_txt"], 1, "{summary}");
    let hits = json(&env, &s3, &["search", "Three", "--dataset", &ds]);
    assert_eq!(hits[0]["uri"], "https://b.example/three", "{hits}");
    let again = json(&env, &s3, &args);
    assert_eq!(again["stats"]["rows_committed"], 0, "{again}");

    std::fs::write(
        &source,
        format!(
            "kind = \"warc\"\npath = \"s3://{}/{prefix}-none\"\n",
            s3.bucket
        ),
    )
    .unwrap();
    let out = with_s3(&env, &s3, &args).output().unwrap();
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("no .warc or .warc.gz objects"), "{err}");
}

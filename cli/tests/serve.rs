//! `masa serve` on loopback over a real dataset (the shipped corpus): search with filters,
//! a record's proof that `masa verify-proof` accepts, the checkpoint, stats, epochs, bad
//! input answered 400 with a JSON error naming the problem, and a clean stop on SIGTERM.

mod common;

use common::serve::*;
use common::*;
use serde_json::Value;

/// GETs with one key.
struct Api {
    key: Option<String>,
}

impl Api {
    async fn get(&self, url: &str) -> (u16, String) {
        let r = get_as(url, self.key.as_deref()).await;
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    /// GETs `url` and checks it is refused with `status` and a JSON error (as the API's
    /// document has it) whose message contains `want`.
    async fn refuses(&self, url: &str, status: u16, want: &str) {
        let (got, body) = self.get(url).await;
        assert_refused(got, &body, status, want, url);
    }

    async fn get_json(&self, url: &str) -> (u16, Value) {
        let (s, body) = self.get(url).await;
        let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
        (s, v)
    }
}

/// An answer `got`/`body` is the refusal `status` with an error message containing `want`.
fn assert_refused(got: u16, body: &str, status: u16, want: &str, what: &str) {
    assert_eq!(got, status, "{what}: {body}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: {body}"));
    conforms(&v, "Error");
    assert!(
        v["error"].as_str().unwrap().contains(want),
        "{what}: {body}"
    );
    assert_eq!(v["status"], status, "{what}: {body}");
}

/// A tlog client written from the specifications (RFC 6962's tree hash, C2SP's tile
/// paths), independent of masa's own: fetches the level-0 tiles the checkpoint covers and
/// recomputes the root, hex.
async fn mirrored_root(base: &str, note: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut lines = note.lines();
    let _origin = lines.next().unwrap();
    let size: u64 = lines.next().unwrap().parse().unwrap();
    let root = base64::engine::general_purpose::STANDARD
        .decode(lines.next().unwrap())
        .unwrap();
    // Tile index N as C2SP writes it: groups of three digits, all but the last with x.
    let index = |mut n: u64| {
        let mut parts = vec![format!("{:03}", n % 1000)];
        n /= 1000;
        while n > 0 {
            parts.push(format!("x{:03}", n % 1000));
            n /= 1000;
        }
        parts.reverse();
        parts.join("/")
    };
    let mut leaves: Vec<[u8; 32]> = Vec::new();
    for t in 0..size.div_ceil(256) {
        let width = (size - t * 256).min(256);
        let partial = if width < 256 {
            format!(".p/{width}")
        } else {
            String::new()
        };
        let url = format!("{base}/v1/log/tile/0/{}{partial}", index(t));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let bytes = client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.len() as u64, width * 32, "{url}");
        leaves.extend(bytes.chunks(32).map(|c| <[u8; 32]>::try_from(c).unwrap()));
    }
    fn mth(h: &[[u8; 32]]) -> [u8; 32] {
        if h.len() == 1 {
            return h[0];
        }
        let k = (h.len() as u64 - 1).ilog2();
        let split = 1usize << k;
        let mut d = Sha256::new();
        d.update([1u8]);
        d.update(mth(&h[..split]));
        d.update(mth(&h[split..]));
        d.finalize().into()
    }
    let computed = mth(&leaves);
    assert_eq!(
        computed.as_slice(),
        root.as_slice(),
        "the served tiles do not hash to the checkpoint"
    );
    computed.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn search_records_proofs_and_errors_over_http() {
    let env = Env::new();
    let ds = env.path("ds").display().to_string();
    let corpus = example_corpus();
    env.ok(&[
        "contribute",
        "--files",
        corpus.to_str().unwrap(),
        "--dataset",
        &ds,
    ]);
    let key = create_key(
        &env,
        &["--scope", "search,records,stats,epochs", "--rate", "1000/s"],
    );
    let api = Api { key: Some(key) };
    let server = Server::start(&env, &ds, &["--meter-interval", "0"]);
    let base = server.base.clone();

    let (s, body) = api.get(&format!("{base}/healthz")).await;
    assert_eq!((s, body.as_str()), (200, "ok\n"));
    let (s, _) = api.get_json(&format!("{base}/readyz")).await;
    assert_eq!(s, 200);

    // Search: the same hits as the CLI, with the time it took.
    let (s, v) = api
        .get_json(&format!("{base}/v1/search?q=tokio+runtime&limit=5"))
        .await;
    assert_eq!(s, 200, "{v}");
    let hits = v["hits"].as_array().unwrap();
    assert!(!hits.is_empty(), "{v}");
    assert!(v["took_micros"].is_u64(), "{v}");
    conforms(&v, "SearchAnswer");
    let cli: Value = serde_json::from_str(&env.ok(&[
        "search",
        "tokio runtime",
        "--dataset",
        &ds,
        "--limit",
        "5",
        "--json",
    ]))
    .unwrap();
    let ids = |a: &Value| -> Vec<String> {
        a.as_array()
            .unwrap()
            .iter()
            .map(|h| h["record_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&v["hits"]), ids(&cli));
    // Filters reach the index: a language nobody wrote in finds nothing, the hits'
    // own language finds them, and another contributor's key finds nothing.
    let lang = hits[0]["lang"].as_str().unwrap();
    let (_, v) = api
        .get_json(&format!("{base}/v1/search?q=tokio+runtime&lang={lang}"))
        .await;
    assert!(!v["hits"].as_array().unwrap().is_empty());
    let (_, v) = api
        .get_json(&format!("{base}/v1/search?q=tokio+runtime&lang=zul"))
        .await;
    assert!(v["hits"].as_array().unwrap().is_empty(), "{v}");
    let other = "00".repeat(32);
    let (_, v) = api
        .get_json(&format!("{base}/v1/search?q=tokio&contributor={other}"))
        .await;
    assert!(v["hits"].as_array().unwrap().is_empty(), "{v}");

    // Facets count every match, not only the hits returned.
    let (_, v) = api
        .get_json(&format!("{base}/v1/search?q=tokio&limit=1&facets=true"))
        .await;
    let by_lang = v["facets"]["lang"].as_array().unwrap();
    let counted: u64 = by_lang.iter().map(|c| c["count"].as_u64().unwrap()).sum();
    let (_, all) = api
        .get_json(&format!("{base}/v1/search?q=tokio&limit=1000"))
        .await;
    assert_eq!(counted, all["hits"].as_array().unwrap().len() as u64, "{v}");
    assert_eq!(v["hits"].as_array().unwrap().len(), 1);
    assert!(
        v["facets"]["contributor"].as_array().unwrap().len() == 1,
        "{v}"
    );
    let (_, plain) = api.get_json(&format!("{base}/v1/search?q=tokio")).await;
    assert!(plain.get("facets").is_none(), "{plain}");

    // A record with its proof, checked offline by `masa verify-proof`.
    let id = hits[0]["record_id"].as_str().unwrap();
    let (s, answer) = api.get_json(&format!("{base}/v1/records/{id}")).await;
    assert_eq!(s, 200, "{answer}");
    conforms(&answer, "RecordAnswer");
    let record = &answer["record"];
    assert_eq!(record["record_id"], id);
    assert_eq!(record["uri"], hits[0]["uri"]);
    assert!(
        record["text"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("tokio"),
        "{record}"
    );
    assert!(record["consent"].is_object(), "{record}");
    assert!(record["quality_score"].is_f64(), "{record}");
    let file = env.path("proof.json");
    std::fs::write(&file, answer["proof"].to_string()).unwrap();
    let ok = env.json(&["verify-proof", file.to_str().unwrap(), "--dataset", &ds]);
    assert_eq!(ok["record_id"], id);

    // A contributor: its records and bytes as the stats count them; no protocol, no
    // rewards.
    let me = hits[0]["contributor"].as_str().unwrap();
    let (s, c) = api.get_json(&format!("{base}/v1/contributors/{me}")).await;
    assert_eq!(s, 200, "{c}");
    conforms(&c, "ContributorView");
    let cli_stats = env.json(&["stats", "--dataset", &ds]);
    assert_eq!(c["records"], cli_stats["contributors"][me], "{c}");
    assert_eq!(c["text_bytes"], cli_stats["text_bytes"], "{c}");
    assert_eq!(c["rewards"], "0");
    assert!(c["epochs"].as_array().unwrap().is_empty());

    // The checkpoint is the log's signed note; stats match the CLI's.
    let (s, note) = api.get(&format!("{base}/v1/log/checkpoint")).await;
    assert_eq!(s, 200);
    let cp = env.json(&["log", "checkpoint", "--dataset", &ds]);
    assert_eq!(note, cp["note"].as_str().unwrap());
    assert_eq!(
        mirrored_root(&base, &note).await,
        cp["root"].as_str().unwrap()
    );
    let (s, st) = api.get_json(&format!("{base}/v1/stats")).await;
    assert_eq!(s, 200);
    conforms(&st, "DatasetStats");
    assert_eq!(
        st["records"],
        env.json(&["stats", "--dataset", &ds])["records"]
    );

    // Bad input: 400 (or 404) with a JSON error naming the problem, never a 500.
    let cases = [
        ("/v1/search?q=", 400, "q (the query text) is empty"),
        ("/v1/search", 400, "missing field `q`"),
        (
            "/v1/search?q=x&limit=1000000",
            400,
            "limit 1000000 is out of range",
        ),
        ("/v1/search?q=x&limit=many", 400, "limit"),
        ("/v1/search?q=x&colour=red", 400, "unknown field `colour`"),
        ("/v1/search?q=x&lang=english", 400, "not an ISO 639-3 code"),
        (
            "/v1/search?q=x&dataset=elsewhere",
            400,
            "is not served here",
        ),
        ("/v1/search?q=%22unbalanced", 200, ""),
        ("/v1/records/nope", 404, "no record nope"),
        ("/v1/records/..%2Fetc", 400, "is not a record id"),
        ("/v1/epochs/0", 404, "not closed"),
        ("/v1/epochs/first", 400, "not an epoch number"),
        ("/v1/contributors/abc", 400, "is not a contributor key"),
        (
            "/v1/contributors/1111111111111111111111111111111111111111111111111111111111111111",
            404,
            "has contributed nothing",
        ),
        ("/v2/anything", 404, "the API is under /v1"),
        ("/v1/log/tile/0/999", 404, "the log has no tile/0/999"),
        ("/v1/log/tile/..%2F..%2Fkeys", 404, "is not a tile path"),
    ];
    for (path, status, want) in cases {
        let url = format!("{base}{path}");
        if status == 200 {
            assert_eq!(api.get(&url).await.0, 200, "{path}");
        } else {
            api.refuses(&url, status, want).await;
        }
    }

    // POST takes the same search as JSON; its body is checked like the query string.
    let post = |body: String| {
        let url = format!("{base}/v1/search");
        let key = api.key.clone().unwrap();
        async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let r = client
                .post(url)
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (s, body) = post(r#"{"q":"tokio runtime","limit":5}"#.into()).await;
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ids(&v["hits"]), ids(&cli));
    for (body, status, want) in [
        (
            r#"{"q":"x","colour":"red"}"#.to_owned(),
            400,
            "unknown field `colour`",
        ),
        (
            r#"{"q":"x","dataset":"elsewhere"}"#.to_owned(),
            400,
            "unknown field `dataset`",
        ),
        ("{not json".to_owned(), 400, "bad request body"),
        (
            format!(r#"{{"q":"{}"}}"#, "a".repeat(100_000)),
            400,
            "over the limit of 65536 bytes",
        ),
    ] {
        let (s, got) = post(body).await;
        assert_refused(s, &got, status, want, "POST /v1/search");
    }
    // The OpenAPI document and its interactive page, public.
    let (s, doc) = Api { key: None }
        .get_json(&format!("{base}/v1/openapi.json"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    // The check the answers pass above is one that can fail.
    for wrong in [
        serde_json::json!({"error": 1, "status": 400}),
        serde_json::json!({"error": "x"}),
        serde_json::json!({"error": "x", "status": 400, "extra": true}),
    ] {
        let failed = std::panic::catch_unwind(|| conforms(&wrong, "Error")).is_err();
        assert!(failed, "{wrong} passed");
    }
    let (s, page) = Api { key: None }.get(&format!("{base}/v1/docs/")).await;
    assert_eq!(s, 200);
    assert!(page.contains("swagger-ui"), "{page}");

    // Prometheus metrics: requests by route template and status, latency histograms.
    let (s, m) = api.get(&format!("{base}/metrics")).await;
    assert_eq!(s, 200);
    for want in [
        r#"masa_http_requests_total{route="/v1/search",status="200"}"#,
        r#"masa_http_requests_total{route="/v1/search",status="400"}"#,
        r#"masa_http_requests_total{route="/v1/records/{record_id}",status="404"}"#,
        r#"masa_http_request_duration_seconds_bucket{route="/v1/search",le="0.5"}"#,
        "masa_search_duration_seconds_count",
    ] {
        assert!(m.contains(want), "{want} missing from\n{m}");
    }
    // No CORS unless asked for.
    let cors = |base: String| async move {
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("{base}/healthz"))
            .header("origin", "https://explorer.example")
            .send()
            .await
            .unwrap();
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(cors(base.clone()).await, None);

    let status = server.stop();
    assert!(status.success(), "{status:?}");

    let server = Server::start(&env, &ds, &["--cors-origin", "https://explorer.example"]);
    assert_eq!(
        cors(server.base.clone()).await.as_deref(),
        Some("https://explorer.example")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn keys_scopes_expiry_revocation_and_rates() {
    let env = Env::new();
    let ds = env.path("ds").display().to_string();
    let corpus = example_corpus();
    env.ok(&[
        "contribute",
        "--files",
        corpus.to_str().unwrap(),
        "--dataset",
        &ds,
    ]);
    let search_only = create_key(&env, &["--scope", "search", "--rate", "3/s"]);
    let elsewhere = create_key(&env, &["--scope", "search", "--dataset", "s3://other/ds"]);
    let expired = create_key(&env, &["--scope", "search", "--expires", "0m"]);
    let revoked = create_key(&env, &["--scope", "search"]);
    let err = env.fails(&["keys", "create", "--scope", "admin"]);
    assert!(err.contains("unknown scope \"admin\""), "{err}");
    let err = env.fails(&["keys", "create", "--scope", "search", "--rate", "fast"]);
    assert!(err.contains("write N/s"), "{err}");
    let server = Server::start(&env, &ds, &[]);
    let url = format!("{}/v1/search?q=tokio", server.base);

    let status = |r: &reqwest::Response| r.status().as_u16();
    let r = get_as(&url, None).await;
    assert_eq!(status(&r), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert!(r.text().await.unwrap().contains("a key is needed"));
    let r = get_as(&url, Some("masa_00000000_not-a-key")).await;
    assert_eq!(status(&r), 401);
    let r = get_as(&url, Some(&expired)).await;
    assert_eq!(status(&r), 401);
    assert!(r.text().await.unwrap().contains("expired"));
    let r = get_as(&url, Some(&elsewhere)).await;
    assert_eq!(status(&r), 403);
    assert!(r.text().await.unwrap().contains("may not read dataset"));
    let r = get_as(&format!("{}/v1/stats", server.base), Some(&search_only)).await;
    assert_eq!(status(&r), 403);
    assert!(r.text().await.unwrap().contains("has no stats scope"));
    // Public: health and the log, for any tlog client.
    assert_eq!(
        status(&get_as(&format!("{}/healthz", server.base), None).await),
        200
    );
    assert_eq!(
        status(&get_as(&format!("{}/v1/log/checkpoint", server.base), None).await),
        200
    );

    // A revocation takes effect at the next request, without a restart.
    assert_eq!(status(&get_as(&url, Some(&revoked)).await), 200);
    let id = &revoked[5..13];
    env.ok(&["keys", "revoke", id]);
    let r = get_as(&url, Some(&revoked)).await;
    assert_eq!(status(&r), 401);
    assert!(r.text().await.unwrap().contains("revoked"));
    let list = env.json(&["keys", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert!(
        !list.to_string().contains(&revoked[14..]),
        "a key is stored in the clear"
    );

    // A burst over 3 a second: the fourth is refused with when to come back. The burst's
    // requests are bad ones (an empty q), answered at once after the guard took their
    // token, so the burst is fast however slow a search is on this machine.
    let fast = format!("{}/v1/search?q=", server.base);
    let mut codes = Vec::new();
    let mut retry = None;
    for _ in 0..6 {
        let r = get_as(&fast, Some(&search_only)).await;
        if status(&r) == 429 {
            retry = Some((
                r.headers()["retry-after"].to_str().unwrap().to_owned(),
                r.headers()["ratelimit-limit"].to_str().unwrap().to_owned(),
            ));
        }
        codes.push(status(&r));
    }
    assert_eq!(&codes[..3], &[400, 400, 400], "{codes:?}");
    assert!(codes[3..].contains(&429), "{codes:?}");
    let (after, limit) = retry.unwrap();
    assert!(after.parse::<u64>().unwrap() >= 1, "{after}");
    assert_eq!(limit, "3");
    drop(server);

    // Anonymous access, when turned on, has its own rate per address.
    let server = Server::start(&env, &ds, &["--anonymous-rate", "2"]);
    let url = format!("{}/v1/search?q=tokio", server.base);
    assert_eq!(get_as(&url, None).await.status().as_u16(), 200);
    let fast = format!("{}/v1/search?q=", server.base);
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(get_as(&fast, None).await.status().as_u16());
    }
    assert!(codes.contains(&429), "{codes:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn use_is_metered_into_the_log_and_its_fees_reach_the_reward_pool() {
    let net = common::net::Net::new(&["oracle"]);
    let corpus = example_corpus();
    net.contribute("oracle", &corpus, &[]);
    let me = net.key("oracle");
    net.ok(
        "oracle",
        &["init-protocol", "--allocate", &format!("{me}=1000")],
    );
    let env = &net.envs["oracle"].0;
    let key = create_key(env, &["--scope", "search", "--rate", "100/s"]);
    let id = key[5..13].to_owned();
    let server = Server::start(
        env,
        &net.ds,
        &["--meter-interval", "1", "--price-per-query", "0.5"],
    );
    for _ in 0..3 {
        let r = get_as(&format!("{}/v1/search?q=tokio", server.base), Some(&key)).await;
        assert_eq!(r.status().as_u16(), 200);
    }
    // Within a few intervals the use is on the log (polled: no fixed wait).
    let mut usage = Value::Null;
    for _ in 0..100 {
        let s = net.json("oracle", &["state"]);
        usage = s["usage"][&me][&id].clone();
        if usage["queries"] == 3 {
            assert_eq!(common::net::num(&s["fees"]), 1_500_000_000, "{s}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(usage["queries"], 3, "{usage}");
    assert!(usage["records"].as_u64().unwrap() > 0, "{usage}");
    assert!(usage["bytes"].as_u64().unwrap() > 0, "{usage}");
    assert_eq!(usage["fees"], "1500000000");
    // Use after the last interval is metered when the service stops.
    let r = get_as(&format!("{}/v1/search?q=tokio", server.base), Some(&key)).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(server.stop().success());
    let s = net.json("oracle", &["state"]);
    assert_eq!(s["usage"][&me][&id]["queries"], 4, "{}", s["usage"]);
}

/// A web page about harbours: 200 words of its own, under a licence when `licensed`.
fn harbour_page(i: u64, licensed: bool) -> String {
    let licence = if licensed {
        r#"<link rel="license" href="https://creativecommons.org/licenses/by/4.0/">"#
    } else {
        ""
    };
    format!(
        "<html><head><title>Harbour notes {i}</title>{licence}</head><body><main><p>harbour {}</p></main></body></html>",
        random_text(1000 + i, 200)
    )
}

fn ids_of(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|h| h["record_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The hits of every page after the one that gave `cursor`, following each `next_cursor`
/// of the search `url`; every page must be of table version `version`.
async fn later_pages(api: &Api, url: &str, mut cursor: String, version: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let (s, page) = api.get_json(&format!("{url}&cursor={cursor}")).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["table_version"], *version, "{page}");
        ids.extend(ids_of(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return ids,
        }
    }
}

const CC_BY: &str = "https://creativecommons.org/licenses/by/4.0/";

#[tokio::test(flavor = "current_thread")]
async fn cursors_keep_their_version_while_the_service_follows_new_commits() {
    let env = Env::new();
    let ds = env.path("ds").display().to_string();
    let first = env.path("first");
    for i in 0..60 {
        write_file(
            &first,
            &format!("p{i:03}.html"),
            &harbour_page(i, i % 3 == 0),
        );
    }
    env.ok(&[
        "contribute",
        "--files",
        first.to_str().unwrap(),
        "--dataset",
        &ds,
    ]);
    let key = create_key(&env, &["--scope", "search,export", "--rate", "1000/s"]);
    let api = Api { key: Some(key) };
    let server = Server::start(
        &env,
        &ds,
        &["--meter-interval", "0", "--follow-interval", "1"],
    );
    let base = server.base.clone();
    let search = |q: &str| format!("{base}/v1/search?q=harbour{q}");

    let (s, all) = api.get_json(&search("&limit=1000")).await;
    assert_eq!(s, 200, "{all}");
    let before = ids_of(&all);
    assert_eq!(before.len(), 60, "{all}");
    let version = all["table_version"].clone();
    assert!(version.is_i64(), "{all}");
    assert!(
        all.get("next_cursor").is_none(),
        "one page holds all: {all}"
    );

    // The first page of 25, then a commit lands while the client pages on.
    let (_, page) = api.get_json(&search("&limit=25")).await;
    assert_eq!(page["table_version"], version);
    let mut paged = ids_of(&page);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();

    let second = env.path("second");
    for i in 60..90 {
        write_file(
            &second,
            &format!("p{i:03}.html"),
            &harbour_page(i, i % 3 == 0),
        );
    }
    env.ok(&[
        "contribute",
        "--files",
        second.to_str().unwrap(),
        "--dataset",
        &ds,
    ]);
    // The service follows the table: the new records become searchable without a restart
    // (polled: no fixed wait).
    let mut now = Value::Null;
    for _ in 0..200 {
        now = api.get_json(&search("&limit=1000")).await.1;
        if now["table_version"] != version {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_ne!(now["table_version"], version, "the commit never showed");
    assert_eq!(ids_of(&now).len(), 90, "{now}");

    // The cursor still pages the version it came from: the pages are the one-shot
    // answer of that version, in order, each hit once.
    paged.extend(later_pages(&api, &search("&limit=25"), cursor, &version).await);
    assert_eq!(paged, before);

    // A cursor is good only for its own search, and only as made.
    let (_, page) = api.get_json(&search("&limit=5")).await;
    let c = page["next_cursor"].as_str().unwrap();
    for (url, want) in [
        (
            search(&format!("&limit=5&lang=deu&cursor={c}")),
            "another search",
        ),
        (
            search(&format!("&limit=5&sort=newest&cursor={c}")),
            "another search",
        ),
        (search("&cursor=bm90LWEtY3Vyc29y"), "not a cursor"),
        (search("&cursor=%%%"), "not a cursor"),
        (search("&sort=random"), "not one of score, newest, oldest"),
        (search("&min_quality=2"), "out of range"),
        (search("&min_quality=high"), "not a number"),
        (search("&since_micros=5&until_micros=5"), "not before"),
    ] {
        api.refuses(&url, 400, want).await;
    }

    // Sorted by time, newest first, and paged the same way.
    let (_, newest) = api.get_json(&search("&limit=1000&sort=newest")).await;
    let times: Vec<i64> = newest["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["fetched_at_micros"].as_i64().unwrap())
        .collect();
    assert_eq!(times.len(), 90);
    assert!(times.is_sorted_by(|a, b| a >= b), "{times:?}");

    // Source and time filters: every page came from files; a window past the newest
    // fetch, or before the oldest, holds nothing; one from the oldest holds all.
    let (_, files) = api.get_json(&search("&limit=1000&source=files")).await;
    assert_eq!(ids_of(&files).len(), 90);
    let (_, web) = api.get_json(&search("&limit=1000&source=web")).await;
    assert!(ids_of(&web).is_empty());
    let (oldest, newest_t) = (*times.last().unwrap(), times[0]);
    for (window, n) in [
        (format!("&since_micros={}", newest_t + 1), 0),
        (format!("&until_micros={oldest}"), 0),
        (format!("&since_micros={oldest}"), 90),
        (
            format!("&since_micros={oldest}&until_micros={}", newest_t + 1),
            90,
        ),
    ] {
        let (_, v) = api.get_json(&search(&format!("&limit=1000{window}"))).await;
        assert_eq!(ids_of(&v).len(), n, "{window}");
    }

    // The licence: a filter and a facet. The pages written with a licence link are the
    // ones found, and counted, under it.
    let licensed: Vec<String> = (0..90)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("p{i:03}.html"))
        .collect();
    let (_, lic) = api
        .get_json(&search(&format!("&limit=1000&licence={CC_BY}&facets=true")))
        .await;
    let mut found: Vec<String> = lic["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            assert_eq!(h["licence"], CC_BY);
            h["uri"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    found.sort();
    assert_eq!(found, licensed);
    let (_, faceted) = api.get_json(&search("&limit=1&facets=true")).await;
    conforms(&faceted, "SearchAnswer");
    let by_licence = faceted["facets"]["licence"].as_array().unwrap();
    assert_eq!(by_licence.len(), 1, "{faceted}");
    assert_eq!(by_licence[0]["value"], CC_BY);
    assert_eq!(by_licence[0]["count"], 30);

    // A quality floor keeps exactly the hits scored at or above it.
    let scores: Vec<f64> = now["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["quality"].as_f64().unwrap())
        .collect();
    let mut sorted = scores.clone();
    sorted.sort_by(f64::total_cmp);
    let floor = sorted[sorted.len() / 2];
    let (_, good) = api
        .get_json(&search(&format!("&limit=1000&min_quality={floor}")))
        .await;
    let kept = good["hits"].as_array().unwrap();
    assert!(kept.iter().all(|h| h["quality"].as_f64().unwrap() >= floor));
    assert_eq!(
        kept.len(),
        scores.iter().filter(|s| **s >= floor).count(),
        "{floor}: {good}"
    );

    // Export: every match, with its text, as NDJSON and as Parquet.
    let (s, body) = api.get(&format!("{base}/v1/export?q=harbour")).await;
    assert_eq!(s, 200, "{body}");
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 90);
    for l in &lines {
        conforms(l, "ExportRecord");
    }
    assert!(
        lines
            .iter()
            .all(|l| l["text"].as_str().unwrap().starts_with("harbour "))
    );
    let mut exported: Vec<&str> = lines
        .iter()
        .map(|l| l["record_id"].as_str().unwrap())
        .collect();
    exported.sort();
    let mut searched = ids_of(&now);
    searched.sort();
    assert_eq!(exported, searched);
    let (_, body) = api
        .get(&format!("{base}/v1/export?q=harbour&licence={CC_BY}"))
        .await;
    assert_eq!(body.lines().count(), 30);
    let r = get_as(
        &format!("{base}/v1/export?q=harbour&format=parquet"),
        api.key.as_deref(),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.apache.parquet"
    );
    let bytes = r.bytes().await.unwrap();
    let batches = masa_storage::decode_parquet(bytes).unwrap();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 90);
    let schema = batches[0].schema();
    for column in ["record_id", "text", "licence", "quality", "fetched_at"] {
        assert!(
            schema.field_with_name(column).is_ok(),
            "{column}: {schema:?}"
        );
    }
    for (url, status, want) in [
        (
            "/v1/export?q=harbour&format=xml",
            400,
            "not one of ndjson, parquet",
        ),
        ("/v1/export?q=harbour&limit=5", 400, "unknown field `limit`"),
        ("/v1/export?q=", 400, "is empty"),
    ] {
        api.refuses(&format!("{base}{url}"), status, want).await;
    }
    let search_only = create_key(&env, &["--scope", "search"]);
    let r = get_as(&format!("{base}/v1/export?q=harbour"), Some(&search_only)).await;
    assert_eq!(r.status().as_u16(), 403);

    // The cache and the followed table show in the metrics: the splits fetched count
    // whichever opened the first view, the follower or a search.
    let (_, m) = api.get(&format!("{base}/metrics")).await;
    for want in [
        "masa_open_splits",
        "masa_table_version",
        "masa_split_cache_hits_total",
    ] {
        assert!(m.contains(want), "{want} missing from\n{m}");
    }
    let misses = m
        .lines()
        .find(|l| l.starts_with("masa_split_cache_misses_total"))
        .unwrap_or_else(|| panic!("{m}"));
    assert!(!misses.ends_with(" 0"), "{misses}");
}

/// The page at `url` as headless Chromium leaves it once its scripts have run (its virtual
/// clock runs the fetches and promises; no fixed wait).
async fn rendered(chromium: &str, url: &str) -> String {
    let (chromium, url) = (chromium.to_owned(), url.to_owned());
    tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-proxy-server",
                &format!("--user-data-dir={}", profile.path().display()),
                "--virtual-time-budget=20000",
                "--dump-dom",
                &url,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap()
}

/// What a tampering proxy changes in the record answers it relays.
#[derive(Clone, Copy)]
enum Tamper {
    /// The row's leaf: the proof no longer leads to the batch's root.
    Row,
    /// A byte of the checkpoint's signature.
    Signature,
}

/// A loopback proxy in front of `base` that relays every GET as it is, but the proofs of
/// `/v1/records/*`, which it alters by `tamper`. Returns its base URL.
async fn tampering_proxy(base: String, tamper: Tamper) -> String {
    use axum::extract::Request;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let relay = move |req: Request| {
        let base = base.clone();
        async move {
            let path = req.uri().path_and_query().unwrap().as_str().to_owned();
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let r = client.get(format!("{base}{path}")).send().await.unwrap();
            let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
            let mut body = r.bytes().await.unwrap().to_vec();
            if path.starts_with("/v1/records/") {
                let mut v: Value = serde_json::from_slice(&body).unwrap();
                let p = &mut v["proof"];
                match tamper {
                    Tamper::Row => {
                        let leaf = p["row_leaf_data"].as_str().unwrap();
                        let last = if leaf.ends_with('0') { "1" } else { "0" };
                        p["row_leaf_data"] = format!("{}{last}", &leaf[..leaf.len() - 1]).into();
                    }
                    Tamper::Signature => {
                        let note = p["checkpoint"].as_str().unwrap().to_owned();
                        let at = note.rfind(' ').unwrap() + 40;
                        let c = if &note[at..=at] == "A" { "B" } else { "A" };
                        p["checkpoint"] = format!("{}{c}{}", &note[..at], &note[at + 1..]).into();
                    }
                }
                body = serde_json::to_vec(&v).unwrap();
            }
            ([("content-type", kind)], body)
        }
    };
    let app = axum::Router::new().fallback(relay);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_searches_and_verifies_a_proof_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let env = Env::new();
    let ds = env.path("ds").display().to_string();
    let corpus = example_corpus();
    env.ok(&[
        "contribute",
        "--files",
        corpus.to_str().unwrap(),
        "--dataset",
        &ds,
    ]);
    let server = Server::start(
        &env,
        &ds,
        &["--meter-interval", "0", "--anonymous-rate", "1000"],
    );
    let base = server.base.clone();

    // Search: the hits and the facets, as the API gives them.
    let (_, answer) = Api { key: None }
        .get_json(&format!("{base}/v1/search?q=tokio&limit=20"))
        .await;
    let page = rendered(&chromium, &format!("{base}/#/search?q=tokio")).await;
    let shown = page.matches(r#"<li class="hit">"#).count();
    assert_eq!(shown, answer["hits"].as_array().unwrap().len(), "{page}");
    let first = answer["hits"][0]["record_id"].as_str().unwrap().to_owned();
    assert!(page.contains(&format!("#/record/{first}")), "{page}");
    assert!(page.contains("<mark>"), "highlights are marked: {page}");
    assert!(page.contains(r#"<aside id="facets">"#), "{page}");
    assert!(page.contains("<h3>lang</h3>"), "{page}");

    // A record: its text, and its proof verified in the page.
    let page = rendered(&chromium, &format!("{base}/#/record/{first}?verify=1")).await;
    assert!(
        page.contains(r#"<span id="verify-result" class="ok">verified: "#),
        "{page}"
    );
    assert!(page.contains(r#"<pre class="text" id="text">"#), "{page}");

    // The same page through a proxy that alters the proof: the check fails, and says where.
    for (tamper, want) in [
        (Tamper::Row, "does not lead to its batch's rows_root"),
        (Tamper::Signature, "signature"),
    ] {
        let proxy = tampering_proxy(base.clone(), tamper).await;
        let page = rendered(&chromium, &format!("{proxy}/#/record/{first}?verify=1")).await;
        let at = page
            .find(r#"<span id="verify-result" class="fail">verification failed: "#)
            .unwrap_or_else(|| panic!("{page}"));
        assert!(
            page[at..].split("</span>").next().unwrap().contains(want),
            "{page}"
        );
    }

    // The dataset page: its growth and its drops.
    let page = rendered(&chromium, &format!("{base}/#/stats")).await;
    assert!(page.contains(r#"id="growth""#), "{page}");
    let stats = Api { key: None }
        .get_json(&format!("{base}/v1/stats"))
        .await
        .1;
    let records = stats["records"].as_u64().unwrap();
    assert!(
        page.contains(&format!("{records} records after 1 batches")),
        "{page}"
    );
}

/// Polls a search until its table version differs from `version` (a new commit followed).
async fn next_version(api: &Api, url: &str, version: &Value) -> Value {
    for _ in 0..300 {
        let (_, now) = api.get_json(url).await;
        if now["table_version"] != *version {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the service never showed a version after {version}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_dataset_on_s3_is_served_from_the_split_cache_and_followed() {
    let Some(s3) = common::s3() else { return };
    let env = Env::for_s3(&s3);
    let url = unique_s3_url(&s3, "serve");
    let pages = env.path("pages");
    for i in 0..30 {
        write_file(
            &pages,
            &format!("p{i:03}.html"),
            &harbour_page(i, i % 2 == 0),
        );
    }
    env.ok(&[
        "contribute",
        "--files",
        pages.to_str().unwrap(),
        "--dataset",
        &url,
    ]);
    let key = create_key(
        &env,
        &["--scope", "search,records,export,stats", "--rate", "1000/s"],
    );
    let api = Api { key: Some(key) };
    let cache = env.path("cache");
    let server = Server::start(
        &env,
        &url,
        &[
            "--meter-interval",
            "0",
            "--follow-interval",
            "1",
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    );
    let base = server.base.clone();
    let all = format!("{base}/v1/search?q=harbour&limit=1000");
    let (s, first) = api.get_json(&all).await;
    assert_eq!(s, 200, "{first}");
    conforms(&first, "SearchAnswer");
    assert_eq!(ids_of(&first).len(), 30);
    // The splits were downloaded into the cache given, once.
    let cached = common::walk(&cache);
    assert!(!cached.is_empty());
    let (_, m) = api.get(&format!("{base}/metrics")).await;
    let misses = m
        .lines()
        .find(|l| l.starts_with("masa_split_cache_misses_total"))
        .unwrap_or_else(|| panic!("{m}"));
    assert!(!misses.ends_with(" 0"), "{misses}");

    // A record and its proof, accepted by `masa verify-proof` against the dataset on S3.
    let id = first["hits"][0]["record_id"].as_str().unwrap();
    let (s, answer) = api.get_json(&format!("{base}/v1/records/{id}")).await;
    assert_eq!(s, 200, "{answer}");
    let file = env.path("proof.json");
    std::fs::write(&file, answer["proof"].to_string()).unwrap();
    let ok = env.json(&["verify-proof", file.to_str().unwrap(), "--dataset", &url]);
    assert_eq!(ok["record_id"], id);
    // The log's tiles, mirrored by an independent client, hash to the checkpoint.
    let (_, note) = api.get(&format!("{base}/v1/log/checkpoint")).await;
    let cp = env.json(&["log", "checkpoint", "--dataset", &url]);
    assert_eq!(
        mirrored_root(&base, &note).await,
        cp["root"].as_str().unwrap()
    );

    // Paging across a commit on S3: the cursor keeps its version, a new search sees more.
    let (_, page) = api
        .get_json(&format!("{base}/v1/search?q=harbour&limit=10"))
        .await;
    let version = page["table_version"].clone();
    let mut paged = ids_of(&page);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let more = env.path("more");
    for i in 30..40 {
        write_file(&more, &format!("p{i:03}.html"), &harbour_page(i, false));
    }
    env.ok(&[
        "contribute",
        "--files",
        more.to_str().unwrap(),
        "--dataset",
        &url,
    ]);
    let now = next_version(&api, &all, &version).await;
    assert_eq!(ids_of(&now).len(), 40);
    let url = format!("{base}/v1/search?q=harbour&limit=10");
    paged.extend(later_pages(&api, &url, cursor, &version).await);
    assert_eq!(paged, ids_of(&first));

    // Export from S3, every match.
    let (s, body) = api.get(&format!("{base}/v1/export?q=harbour")).await;
    assert_eq!(s, 200);
    assert_eq!(body.lines().count(), 40);
    assert!(server.stop().success());
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_split_is_a_503_naming_it_never_a_partial_answer() {
    let env = Env::new();
    let ds = env.path("ds");
    for (name, range) in [("a", 0..10), ("b", 10..20)] {
        let dir = env.path(name);
        for i in range {
            write_file(&dir, &format!("p{i:03}.html"), &harbour_page(i, false));
        }
        env.ok(&[
            "contribute",
            "--files",
            dir.to_str().unwrap(),
            "--dataset",
            ds.to_str().unwrap(),
        ]);
    }
    // One batch's split is deleted by hand (and the manifest that lists it).
    let splits = ds.join("index/splits");
    let gone = std::fs::read_dir(&splits).unwrap().next().unwrap().unwrap();
    let batch = gone.file_name().to_string_lossy().into_owned();
    std::fs::remove_dir_all(gone.path()).unwrap();
    std::fs::remove_file(ds.join("index/manifest.json")).unwrap();
    let key = create_key(&env, &["--scope", "search,records", "--rate", "1000/s"]);
    let api = Api { key: Some(key) };
    let cache = env.path("cache");
    let server = Server::start(
        &env,
        ds.to_str().unwrap(),
        &[
            "--meter-interval",
            "0",
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    );
    let (s, v) = api
        .get_json(&format!("{}/v1/search?q=harbour", server.base))
        .await;
    assert_eq!(s, 503, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains(&batch) && e.contains("split"), "{v}");
    // What does not need the index still answers.
    let (s, _) = api.get(&format!("{}/v1/log/checkpoint", server.base)).await;
    assert_eq!(s, 200);
}

#[test]
fn the_serve_example_runs() {
    let text = run_example("serve.sh");
    assert!(
        text.contains("== the next page, at the same table version"),
        "{text}"
    );
    assert!(text.contains("valid: record"), "{text}");
    assert!(text.contains(" records exported"), "{text}");
}

/// The service's anonymous resident memory now (heap and the like, not the mapped index
/// files), in bytes.
fn rss_anon(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_larger_than_the_service_holds_streams_in_bounded_memory() {
    let env = Env::new();
    let ds = env.path("ds").display().to_string();
    // 6000 distinct texts of about 8.5 KB: 50 MB to export.
    let dir = env.path("big");
    std::fs::create_dir_all(&dir).unwrap();
    let mut lines = String::new();
    for i in 0..6000u64 {
        let v =
            serde_json::json!({"id": i, "text": format!("bulk {}", random_text(50_000 + i, 2000))});
        lines.push_str(&v.to_string());
        lines.push('\n');
    }
    std::fs::write(dir.join("big.jsonl"), &lines).unwrap();
    env.ok(&[
        "contribute",
        "--files",
        dir.to_str().unwrap(),
        "--dataset",
        &ds,
    ]);
    let key = create_key(&env, &["--scope", "search,export", "--rate", "1000/s"]);
    let server = Server::start(&env, &ds, &["--meter-interval", "0"]);
    // Warm: the view is open and a search has run.
    let r = get_as(&format!("{}/v1/search?q=bulk", server.base), Some(&key)).await;
    assert_eq!(r.status().as_u16(), 200);
    let pid = server.pid();
    let before = rss_anon(pid);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss_anon(pid), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let mut r = get_as(&format!("{}/v1/export?q=bulk", server.base), Some(&key)).await;
    assert_eq!(r.status().as_u16(), 200);
    let (mut bytes, mut records) = (0u64, 0u64);
    while let Some(chunk) = r.chunk().await.unwrap() {
        bytes += chunk.len() as u64;
        records += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    let grew = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    assert_eq!(records, 6000);
    assert!(bytes > 45_000_000, "{bytes}");
    // Holding the export would take at least its size; streaming holds a few chunks and
    // the index's read buffers.
    eprintln!("anonymous memory grew by {grew} bytes to export {bytes}");
    assert!(
        grew < bytes / 4,
        "the service grew by {grew} bytes to export {bytes}"
    );
}

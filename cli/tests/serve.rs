//! `masa serve` on loopback over a real dataset (the shipped corpus): search with filters,
//! a record's proof that `masa verify-proof` accepts, the checkpoint, stats, epochs, bad
//! input answered 400 with a JSON error naming the problem, and a clean stop on SIGTERM.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(env: &Env, dataset: &str) -> Server {
        let mut child = env
            .command(&["serve", "--dataset", dataset, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The first line says where it listens, once the socket is bound.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        Server { child, base }
    }

    fn stop(mut self) -> std::process::ExitStatus {
        // SIGTERM: requests in flight finish, then the process exits.
        terminate(self.child.id());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn terminate(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

async fn get(url: &str) -> (u16, String) {
    // Straight to the loopback server, whatever proxy the environment names.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

async fn get_json(url: &str) -> (u16, Value) {
    let (s, body) = get(url).await;
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
    (s, v)
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

#[tokio::test]
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
    let server = Server::start(&env, &ds);
    let base = server.base.clone();

    let (s, body) = get(&format!("{base}/healthz")).await;
    assert_eq!((s, body.as_str()), (200, "ok\n"));
    let (s, _) = get_json(&format!("{base}/readyz")).await;
    assert_eq!(s, 200);

    // Search: the same hits as the CLI, with the time it took.
    let (s, v) = get_json(&format!("{base}/v1/search?q=tokio+runtime&limit=5")).await;
    assert_eq!(s, 200, "{v}");
    let hits = v["hits"].as_array().unwrap();
    assert!(!hits.is_empty(), "{v}");
    assert!(v["took_micros"].is_u64(), "{v}");
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
    let (_, v) = get_json(&format!("{base}/v1/search?q=tokio+runtime&lang={lang}")).await;
    assert!(!v["hits"].as_array().unwrap().is_empty());
    let (_, v) = get_json(&format!("{base}/v1/search?q=tokio+runtime&lang=zul")).await;
    assert!(v["hits"].as_array().unwrap().is_empty(), "{v}");
    let other = "00".repeat(32);
    let (_, v) = get_json(&format!("{base}/v1/search?q=tokio&contributor={other}")).await;
    assert!(v["hits"].as_array().unwrap().is_empty(), "{v}");

    // A record's proof, checked offline by `masa verify-proof`.
    let id = hits[0]["record_id"].as_str().unwrap();
    let (s, proof) = get(&format!("{base}/v1/records/{id}")).await;
    assert_eq!(s, 200, "{proof}");
    let file = env.path("proof.json");
    std::fs::write(&file, &proof).unwrap();
    let ok = env.json(&["verify-proof", file.to_str().unwrap(), "--dataset", &ds]);
    assert_eq!(ok["record_id"], id);

    // The checkpoint is the log's signed note; stats match the CLI's.
    let (s, note) = get(&format!("{base}/v1/log/checkpoint")).await;
    assert_eq!(s, 200);
    let cp = env.json(&["log", "checkpoint", "--dataset", &ds]);
    assert_eq!(note, cp["note"].as_str().unwrap());
    assert_eq!(
        mirrored_root(&base, &note).await,
        cp["root"].as_str().unwrap()
    );
    let (s, st) = get_json(&format!("{base}/v1/stats")).await;
    assert_eq!(s, 200);
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
        ("/v2/anything", 404, "the API is under /v1"),
        ("/v1/log/tile/0/999", 404, "the log has no tile/0/999"),
        ("/v1/log/tile/..%2F..%2Fkeys", 404, "is not a tile path"),
    ];
    for (path, status, want) in cases {
        let (s, body) = get(&format!("{base}{path}")).await;
        assert_eq!(s, status, "{path}: {body}");
        if status != 200 {
            let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: {body}"));
            assert!(
                v["error"].as_str().unwrap().contains(want),
                "{path}: {body}"
            );
            assert_eq!(v["status"], status);
        }
    }

    let status = server.stop();
    assert!(status.success(), "{status:?}");
}

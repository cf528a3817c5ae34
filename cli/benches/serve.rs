//! `masa serve` over HTTP against tantivy in-process on the same index: latency (p50, p99)
//! and throughput on a fixed mix of queries, at 1M documents by default; and, when the test
//! S3 server's variables are set (as `scripts/test` sets them), the cold start of a dataset
//! on S3 (time to the first answer with an empty split cache).
//!
//! Run: `cargo bench -p masa-cli --bench serve` (MASA_BENCH_SERVE_DOCS, default 1000000;
//! MASA_BENCH_SERVE_SECONDS of load per measure, default 10; MASA_BENCH_SERVE_CLIENTS, default
//! 4; MASA_BENCH_SERVE_CORPUS, `zipf` (default) or `uniform`). The generated dataset is kept
//! in target/bench-data/ and reused by the next run.
//!
//! The `zipf` corpus draws each word from a 50 000-word vocabulary with probability
//! proportional to 1/rank, as words in natural text are distributed: a query's terms are
//! in few or many documents by their rank. `uniform` is the contribute benchmark's 60-word
//! vocabulary, where every term is in nearly every document: a worst case for ranking.

mod common;

use common::Corpus;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: a number")))
        .unwrap_or(default)
}

/// The query mix of the `uniform` corpus, as query strings of /v1/search (every one also
/// run in-process).
const UNIFORM_MIX: [&str; 10] = [
    "q=merkle+proof",
    "q=%22merkle+proof%22",
    "q=crawler+AND+robots",
    "q=validator&source=files",
    "q=123456",
    "q=stake+reward&limit=20",
    "q=licence+consent+quality",
    "q=epoch&sort=newest",
    "q=%22training+model%22+parquet",
    "q=stake+reward&facets=true",
];

/// The `zipf` mix: words of ranks from 20 to 20 000 (`w<rank>` is spelled by
/// [`zipf_word`]), alone, in pairs, as a phrase, filtered, sorted by time and faceted.
const ZIPF_MIX: [&str; 10] = [
    "q=w2000",
    "q=w300+w4000",
    "q=%22w20+w21%22",
    "q=w150+AND+w900",
    "q=w20000",
    "q=w500&source=files",
    "q=w60+w700+w8000&limit=20",
    "q=w1000&sort=newest",
    "q=w50+w5000",
    "q=w3000&facets=true",
];

const VOCABULARY: usize = 50_000;

/// The word of a rank: letters spelling it, so the tokenizer keeps it whole.
fn zipf_word(mut rank: usize) -> String {
    let mut w = String::from("w");
    loop {
        w.push((b'a' + (rank % 26) as u8) as char);
        rank /= 26;
        if rank == 0 {
            return w;
        }
    }
}

/// A mix entry with its `w<rank>` words spelled as the corpus spells them.
fn spelled(entry: &str) -> String {
    let mut out = String::new();
    let mut rest = entry;
    while let Some(at) = rest.find('w') {
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            continue;
        }
        out.push_str(&rest[..at]);
        out.push_str(&zipf_word(rest[at + 1..at + 1 + digits].parse().unwrap()));
        rest = &rest[at + 1 + digits..];
    }
    out + rest
}

fn write_corpus(path: &Path, n: usize, zipf: bool) {
    let mut c = Corpus::new();
    // Cumulative 1/rank weights, for drawing ranks by binary search.
    let mut cdf = Vec::with_capacity(VOCABULARY);
    let mut total = 0.0;
    for r in 1..=VOCABULARY {
        total += 1.0 / r as f64;
        cdf.push(total);
    }
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        let text = if zipf {
            let mut s = format!("Document {i}.");
            while s.len() < 1000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let u = (state >> 11) as f64 / (1u64 << 53) as f64 * total;
                let rank = cdf.partition_point(|c| *c < u) + 1;
                s.push(' ');
                s.push_str(&zipf_word(rank));
            }
            s
        } else {
            c.doc(i, 1000)
        };
        writeln!(f, "{}", serde_json::json!({"id": i, "text": text})).unwrap();
    }
    f.flush().unwrap();
}

fn masa(home: &Path, cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_masa"));
    c.env("MASA_HOME", home).env("MASA_CACHE_DIR", cache);
    c
}

/// A dataset of `n` generated documents, made once and kept.
fn dataset(n: usize, zipf: bool) -> (PathBuf, PathBuf) {
    let kind = if zipf { "zipf" } else { "uniform" };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../target/bench-data/serve-{kind}-{n}"));
    let (ds, home) = (root.join("ds"), root.join("home"));
    if !root.join("done").exists() {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let corpus = root.join("corpus.jsonl");
        write_corpus(&corpus, n, zipf);
        let ok = |c: &mut Command| assert!(c.stdout(Stdio::null()).status().unwrap().success());
        ok(masa(&home, &root.join("cache")).arg("init"));
        let started = Instant::now();
        ok(masa(&home, &root.join("cache")).args([
            "contribute",
            "--files",
            corpus.to_str().unwrap(),
            "--dataset",
            ds.to_str().unwrap(),
        ]));
        eprintln!(
            "contributed {n} documents in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        std::fs::remove_file(&corpus).unwrap();
        std::fs::write(root.join("done"), "").unwrap();
    }
    (ds, home)
}

struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(home: &Path, cache: &Path, dataset: &str, envs: &[(&str, &str)]) -> Served {
    let mut c = masa(home, cache);
    c.args([
        "serve",
        "--dataset",
        dataset,
        "--listen",
        "127.0.0.1:0",
        "--meter-interval",
        "0",
        "--anonymous-rate",
        "1000000",
    ]);
    for (k, v) in envs {
        c.env(k, v);
    }
    let mut child = c.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    Served { child, base }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Latencies (ms) of `f` called over `mix` for `secs` seconds, one at a time.
fn sequential(mix: &[String], secs: f64, mut f: impl FnMut(&str)) -> Vec<f64> {
    let mut out = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed().as_secs_f64() < secs {
        let t = Instant::now();
        f(&mix[i % mix.len()]);
        out.push(t.elapsed().as_secs_f64() * 1e3);
        i += 1;
    }
    out.sort_by(f64::total_cmp);
    out
}

fn row(name: &str, lat: &[f64], secs: f64) {
    println!(
        "| {name} | {} | {:.2} | {:.2} | {:.0} |",
        lat.len(),
        percentile(lat, 0.5),
        percentile(lat, 0.99),
        lat.len() as f64 / secs
    );
}

/// The in-process search of a mix entry: its query string as a `SearchQuery`.
fn in_process_query(mix: &str) -> (masa_index::SearchQuery, bool) {
    let mut q = masa_index::SearchQuery {
        limit: 10,
        ..Default::default()
    };
    let mut facets = false;
    for (k, v) in url_pairs(mix) {
        match k.as_str() {
            "q" => q.text = v,
            "source" => q.source = Some(v),
            "limit" => q.limit = v.parse().unwrap(),
            "sort" => q.sort = masa_index::Sort::Newest,
            "facets" => facets = true,
            other => panic!("{other}"),
        }
    }
    (q, facets)
}

fn url_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            let v = v.replace('+', " ").replace("%22", "\"");
            (k.to_owned(), v)
        })
        .collect()
}

fn main() {
    let n = env_num("MASA_BENCH_SERVE_DOCS", 1_000_000);
    let secs = env_num("MASA_BENCH_SERVE_SECONDS", 10) as f64;
    let clients = env_num("MASA_BENCH_SERVE_CLIENTS", 4);
    let zipf = match std::env::var("MASA_BENCH_SERVE_CORPUS").as_deref() {
        Err(_) | Ok("zipf") => true,
        Ok("uniform") => false,
        Ok(other) => panic!("MASA_BENCH_SERVE_CORPUS: zipf or uniform, not {other}"),
    };
    let mix: Vec<String> = if zipf {
        ZIPF_MIX.iter().map(|m| spelled(m)).collect()
    } else {
        UNIFORM_MIX.iter().map(|m| m.to_string()).collect()
    };
    let (ds, home) = dataset(n, zipf);
    let cache = ds.parent().unwrap().join("cache");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let started = Instant::now();
    let server = serve(&home, &cache, ds.to_str().unwrap(), &[]);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = move |path: String| {
        let client = client.clone();
        async move {
            let r = client.get(path).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.bytes().await.unwrap()
        }
    };
    rt.block_on(get(format!("{}/v1/search?q=merkle", server.base)));
    eprintln!(
        "first answer {:.2} s after start (local, warm cache)",
        started.elapsed().as_secs_f64()
    );
    // Warm: every query once.
    for m in &mix {
        rt.block_on(get(format!("{}/v1/search?{m}", server.base)));
    }

    // tantivy alone, in this process, on the same splits: parse, rank the top 10, read their
    // stored documents; the facet entry also runs the same terms aggregations.
    let manifest: masa_index::Manifest =
        serde_json::from_slice(&std::fs::read(ds.join("index/manifest.json")).unwrap()).unwrap();
    let split_dir = std::fs::read_dir(cache.join("splits"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let index = masa_index::SearchIndex::open(&split_dir, &manifest.splits)
        .unwrap()
        .unwrap();
    println!(
        "{} documents ({} corpus) in {} splits; {clients} HTTP clients; {secs} s a measure\n",
        index.num_docs(),
        if zipf { "zipf" } else { "uniform" },
        manifest.splits.len()
    );
    // The very index masa opened (the splits' segments as one tantivy index).
    let raw = index.tantivy();
    let reader = raw.reader().unwrap();
    let schema = raw.schema();
    let fields = ["title", "text"].map(|f| schema.get_field(f).unwrap());
    let parser = tantivy::query::QueryParser::for_index(raw, fields.to_vec());
    println!("| path | requests | p50 ms | p99 ms | requests/s |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let raw_search = |m: &str| {
        let (q, facets) = in_process_query(m);
        let searcher = reader.searcher();
        let (query, _) = parser.parse_query_lenient(&q.text);
        let top = tantivy::collector::TopDocs::with_limit(q.limit).order_by_score();
        let hits = if facets {
            let aggs: tantivy::aggregation::agg_req::Aggregations =
                serde_json::from_value(serde_json::json!({
                    "lang": {"terms": {"field": "lang", "size": 50}},
                    "source": {"terms": {"field": "source", "size": 50}},
                    "contributor": {"terms": {"field": "contributor", "size": 50}},
                    "licence": {"terms": {"field": "licence", "size": 50}},
                }))
                .unwrap();
            let agg =
                tantivy::aggregation::AggregationCollector::from_aggs(aggs, Default::default());
            searcher.search(&query, &(top, agg)).unwrap().0
        } else {
            searcher.search(&query, &top).unwrap()
        };
        for (_, addr) in hits {
            let _: tantivy::TantivyDocument = searcher.doc(addr).unwrap();
        }
    };
    let lat = sequential(&mix, secs, raw_search);
    row("tantivy alone, in-process (query text only)", &lat, secs);
    let lat = sequential(&mix, secs, |m| {
        let (q, facets) = in_process_query(m);
        index.search_faceted(&q, facets).unwrap();
    });
    row("masa-index in-process (filters, snippets)", &lat, secs);
    let lat = sequential(&mix, secs, |_| {
        rt.block_on(get(format!("{}/healthz", server.base)));
    });
    row("HTTP /healthz, 1 client (the HTTP overhead)", &lat, secs);
    let lat = sequential(&mix, secs, |m| {
        rt.block_on(get(format!("{}/v1/search?{m}", server.base)));
    });
    row("masa serve /v1/search, 1 client", &lat, secs);
    // Concurrent clients, each looping over the mix from its own offset.
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut lat: Vec<f64> = rt.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let get = get.clone();
                let base = server.base.clone();
                let mix = mix.clone();
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    let mut i = c;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        get(format!("{base}/v1/search?{}", mix[i % mix.len()])).await;
                        out.push(t.elapsed().as_secs_f64() * 1e3);
                        i += 1;
                    }
                    out
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    lat.sort_by(f64::total_cmp);
    row(
        &format!("masa serve /v1/search, {clients} clients"),
        &lat,
        secs,
    );

    // Each entry of the mix alone: its matches, and the median of 21 runs of each path.
    println!(
        "\n| query | matches | tantivy alone ms | masa serve ms |\n| --- | ---: | ---: | ---: |"
    );
    for m in &mix {
        let median = |f: &mut dyn FnMut()| {
            let mut v: Vec<f64> = (0..21)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            v.sort_by(f64::total_cmp);
            v[10]
        };
        let raw_ms = median(&mut || raw_search(m));
        let http_ms = median(&mut || {
            rt.block_on(get(format!("{}/v1/search?{m}", server.base)));
        });
        let (query, _) = parser.parse_query_lenient(&in_process_query(m).0.text);
        let matches = reader
            .searcher()
            .search(&query, &tantivy::collector::Count)
            .unwrap();
        println!("| `{m}` | {matches} | {raw_ms:.2} | {http_ms:.2} |");
    }
    drop(server);

    cold_start_on_s3(&rt);
}

/// The cold start of a dataset on S3: a fresh service with an empty split cache, timed to
/// its first answer. Needs the test S3 server (`MASA_TEST_S3_*`, as `scripts/test` sets).
fn cold_start_on_s3(rt: &tokio::runtime::Runtime) {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(endpoint), Some(bucket), Some(key), Some(secret)) = (
        get("MASA_TEST_S3_ENDPOINT"),
        get("MASA_TEST_S3_BUCKET"),
        get("MASA_TEST_S3_ACCESS_KEY_ID"),
        get("MASA_TEST_S3_SECRET_ACCESS_KEY"),
    ) else {
        println!("\ncold start on S3: skipped (no MASA_TEST_S3_* variables)");
        return;
    };
    let n = env_num("MASA_BENCH_SERVE_S3_DOCS", 100_000);
    if n == 0 {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (home, cache) = (tmp.path().join("home"), tmp.path().join("cache"));
    let envs = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_REGION", "us-east-1"),
    ];
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let url = format!("s3://{bucket}/bench-serve-{nanos}");
    let corpus = tmp.path().join("corpus.jsonl");
    write_corpus(&corpus, n, true);
    let run = |args: &[&str]| {
        let mut c = masa(&home, &cache);
        c.args(args).envs(envs).stdout(Stdio::null());
        assert!(c.status().unwrap().success(), "masa {args:?}");
    };
    run(&["init"]);
    run(&[
        "contribute",
        "--files",
        corpus.to_str().unwrap(),
        "--dataset",
        &url,
    ]);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    println!("\n| cold start on S3 ({n} documents) | seconds |\n| --- | ---: |");
    for attempt in ["empty split cache", "split cache kept"] {
        if attempt == "empty split cache" {
            let _ = std::fs::remove_dir_all(&cache);
        }
        let started = Instant::now();
        let server = serve(&home, &cache, &url, &envs);
        let listening = started.elapsed().as_secs_f64();
        let r = rt.block_on(
            client
                .get(format!("{}/v1/search?q=merkle", server.base))
                .send(),
        );
        assert!(r.unwrap().status().is_success());
        println!("| listening, {attempt} | {listening:.2} |");
        println!(
            "| first answer, {attempt} | {:.2} |",
            started.elapsed().as_secs_f64()
        );
    }
}

//! A crash campaign: `contribute`, `crawl`, `dedup` (whole, or one of its stages run
//! sharded), `maintain` and `audit` are killed (SIGKILL) at random moments, each rerun to
//! completion, and after every rerun the dataset must hold exactly
//! what was contributed (nothing lost, nothing twice, no removed copy back), the log must be
//! consistent with the checkpoint seen before (so, by transitivity, with every earlier one),
//! a fresh audit must be clean, and search must answer.
//!
//! `MASA_TEST_CRASH_KILLS` sets the number of kills (the default suite runs 6 locally and
//! 4 on S3, each kind once locally, in an order the seed draws; the long mode
//! `MASA_TEST_CRASH_KILLS=100`). `MASA_TEST_CRASH_SEED` replays a
//! campaign: the seed is printed when a check fails.

mod common;

#[path = "../../connectors/tests/common/site.rs"]
mod site;

use common::{Env, S3, near_copy, random_text, write_file};
use site::{Reply, Server};
use std::process::Stdio;
use std::time::Duration;

/// xorshift64*, seeded: the campaign's kill points and targets.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

const DOCS_A_RUN: u64 = 240;
/// Pages of each crawled site.
const PAGES: u64 = 60;
/// What a kill hits: contribute, crawl, whole dedup, a dedup stage, maintain, audit.
const KINDS: u64 = 6;

/// A site of [`PAGES`] pages, each linking to the next three, with words of its own drawn
/// from `base`.
fn site(base: u64) -> Server {
    Server::start(move |path, _h, _n| {
        if path == "/robots.txt" {
            return Reply::typed("text/plain", b"User-agent: *\nAllow: /\n".to_vec());
        }
        let Some(i) = path
            .strip_prefix("/p/")
            .and_then(|i| i.parse::<u64>().ok())
            .filter(|i| *i < PAGES)
        else {
            return Reply::status(404);
        };
        let links: String = (i + 1..(i + 4).min(PAGES))
            .map(|j| format!("<a href=\"/p/{j}\">next {j}</a> "))
            .collect();
        let words = random_text(base + i, 60);
        Reply::html(format!(
            "<html><head><title>Page {i}</title></head><body><article><h1>Page {i}</h1>\
             <p>{words}</p></article><nav>{links}</nav></body></html>"
        ))
    })
}

/// Originals and near-copies of them, committed with near-dup off: rows for a dedup to
/// remove. Returns how many stay.
fn copies(copier: &Env, ds: &str, kill: u64, base: u64) -> u64 {
    let src = copier.path(&format!("copies{kill}"));
    for d in 0..40 {
        let original = random_text(base + d, 60);
        write_file(&src, &format!("o{d:03}.txt"), &original);
        write_file(&src, &format!("c{d:03}.txt"), &near_copy(&original));
    }
    copier.ok(&[
        "contribute",
        "--files",
        src.to_str().unwrap(),
        "--dataset",
        ds,
        "--no-near-dup",
        "--batch-rows",
        "10",
        "-q",
    ]);
    40
}

/// A dedup job run stage by stage, two shards a stage where it shards, with one stage
/// (drawn) killed and rerun.
fn staged_dedup(owner: &Env, ds: &str, rng: &mut Rng, seed: u64) {
    let plan = owner.json(&["dedup", "--dataset", ds, "--stage", "plan"]);
    let job = plan["job"].as_str().unwrap().to_owned();
    let stages = [
        ("signatures", Some("0/2")),
        ("signatures", Some("1/2")),
        ("buckets", Some("0/2")),
        ("buckets", Some("1/2")),
        ("clusters", None),
        ("filter", Some("0/2")),
        ("filter", Some("1/2")),
    ];
    let killed = rng.below(stages.len() as u64) as usize;
    for (i, (stage, shard)) in stages.into_iter().enumerate() {
        let mut args = vec!["dedup", "--dataset", ds, "--stage", stage, "--job", &job];
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        if i == killed {
            kill_then_rerun(owner, &args, rng, seed);
        } else {
            owner.ok(&args);
        }
    }
}

fn kills(default: u64) -> u64 {
    std::env::var("MASA_TEST_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `args`, kills it after a random pause (it may have finished already), then runs
/// it again to completion.
fn kill_then_rerun(env: &Env, args: &[&str], rng: &mut Rng, seed: u64) {
    let mut child = env
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20 + rng.below(1500)));
    let _ = child.kill(); // SIGKILL; an error only means it had exited
    child.wait().unwrap();
    let out = env.masa(args);
    assert!(
        out.status.success(),
        "rerun of {args:?} failed (MASA_TEST_CRASH_SEED={seed}): {}",
        common::stderr(&out)
    );
}

fn campaign(envs: &[Env], ds: &str, storage: &masa_storage::StorageOptions, default_kills: u64) {
    let seed = std::env::var("MASA_TEST_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let mut rng = Rng(seed | 1);
    let (owner, copier, auditor) = (&envs[0], &envs[1], &envs[2]);
    // The dataset exists before the first kill (an audit of nothing is refused).
    let first = owner.path("first");
    for d in 0..DOCS_A_RUN {
        write_file(&first, &format!("d{d:04}.txt"), &random_text(d, 60));
    }
    owner.ok(&[
        "contribute",
        "--files",
        first.to_str().unwrap(),
        "--dataset",
        ds,
        "-q",
    ]);
    let mut expected = DOCS_A_RUN;
    let mut previous: Option<std::path::PathBuf> = None;
    // Each kind once in every run of KINDS kills, in an order the seed draws.
    let offset = rng.below(KINDS);
    for kill in 0..kills(default_kills) {
        let base = 1_000_000 * (kill + 1);
        match (offset + kill) % KINDS {
            // A contribution of new documents, killed mid-way.
            0 => {
                let src = owner.path(&format!("run{kill}"));
                for d in 0..DOCS_A_RUN {
                    write_file(&src, &format!("d{d:04}.txt"), &random_text(base + d, 60));
                }
                let src = src.to_str().unwrap().to_owned();
                let args = [
                    "contribute",
                    "--files",
                    &src,
                    "--dataset",
                    ds,
                    "--batch-rows",
                    "40",
                    "-q",
                ];
                kill_then_rerun(owner, &args, &mut rng, seed);
                expected += DOCS_A_RUN;
            }
            // A crawl of a site of new pages, killed mid-way; the same command again
            // resumes it.
            1 => {
                let server = site(base);
                let seed_url = server.url("/p/0");
                let args = [
                    "crawl",
                    &seed_url,
                    "--dataset",
                    ds,
                    "--allow-private",
                    "--rate",
                    "0",
                    "--no-sitemaps",
                    "--concurrency",
                    "2",
                    "--batch-rows",
                    "8",
                    "--quiet",
                ];
                kill_then_rerun(copier, &args, &mut rng, seed);
                expected += PAGES;
            }
            // Near-copies, then a dedup killed mid-way.
            2 => {
                expected += copies(copier, ds, kill, base);
                kill_then_rerun(owner, &["dedup", "--dataset", ds], &mut rng, seed);
            }
            // Near-copies, then a dedup run stage by stage, sharded, one stage killed.
            3 => {
                expected += copies(copier, ds, kill, base);
                staged_dedup(owner, ds, &mut rng, seed);
            }
            // Compaction of the small files, killed mid-way.
            4 => kill_then_rerun(owner, &["maintain", "--dataset", ds], &mut rng, seed),
            // An audit that publishes its report, killed mid-way.
            _ => kill_then_rerun(auditor, &["audit", "--dataset", ds], &mut rng, seed),
        }

        // Nothing lost, nothing twice (our reader panics on a repeated record id), no
        // removed copy back.
        let records = common::read_records(ds, storage);
        assert_eq!(
            records.len() as u64,
            expected,
            "MASA_TEST_CRASH_SEED={seed}"
        );
        let stats = owner.json(&["stats", "--dataset", ds]);
        assert_eq!(
            stats["records"], expected,
            "MASA_TEST_CRASH_SEED={seed}: {stats}"
        );
        let dry = owner.json(&["dedup", "--dataset", ds, "--dry-run"]);
        assert_eq!(dry["removed"], 0, "MASA_TEST_CRASH_SEED={seed}: {dry}");
        // The log grew from the checkpoint seen before, and a fresh audit is clean.
        let cp = owner.json(&["log", "checkpoint", "--dataset", ds]);
        let mut audit = vec!["audit", "--dataset", ds, "--no-publish", "--json"];
        let since;
        if let Some(p) = &previous {
            since = p.to_str().unwrap().to_owned();
            audit.extend(["--since", &since]);
        }
        let out = owner.masa(&audit);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            out.status.success(),
            "MASA_TEST_CRASH_SEED={seed}: {report}"
        );
        assert_eq!(
            report["findings"],
            serde_json::json!([]),
            "MASA_TEST_CRASH_SEED={seed}: {report}"
        );
        assert_eq!(report["records_audited"], expected, "{report}");
        let saved = owner.path(&format!("checkpoint-{kill}.txt"));
        std::fs::write(&saved, cp["note"].as_str().unwrap()).unwrap();
        previous = Some(saved);
        // Search answers, and finds a word of a committed document.
        let any = records
            .values()
            .next()
            .map(|r| r.text.split(' ').nth(3).unwrap().to_owned());
        if let Some(word) = any {
            let hits = owner.json(&["search", &word, "--dataset", ds]);
            assert!(!hits.as_array().unwrap().is_empty(), "no hit for {word}");
        }
    }
}

#[test]
fn killed_contributions_dedups_and_audits_leave_a_consistent_dataset() {
    let envs: Vec<Env> = (0..3).map(|_| Env::new()).collect();
    let ds = envs[0].path("data").display().to_string();
    campaign(&envs, &ds, &Default::default(), 6);
}

#[test]
fn killed_contributions_dedups_and_audits_leave_a_consistent_dataset_on_s3() {
    let Some(s3): Option<S3> = common::s3() else {
        return;
    };
    let url = common::unique_s3_url(&s3, "crash-campaign");
    let envs: Vec<Env> = (0..3).map(|_| Env::for_s3(&s3)).collect();
    campaign(&envs, &url, &common::s3_storage(&s3), 4);
}

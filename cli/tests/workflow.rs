//! `masa run` and `masa connectors`: a workflow of several sources, one of them an unknown
//! kind and one failing its check, runs the others and exits 1 naming the failures; a
//! second run resumes each source from its own checkpoint; a daemon on a per-second
//! schedule runs its sources and stops after --max-runs; `masa connectors` lists every kind
//! with the credentials present (environment or configuration, never shown), and `check`
//! tries a workflow's sources against a server on 127.0.0.1.

mod common;

#[path = "../../connectors/tests/common/site.rs"]
mod site;

use common::{Env, random_text, stderr, stdout, write_docs, write_file};
use serde_json::json;
use site::{Reply, Server};

fn hacker_news() -> Server {
    Server::start(|path, _h, _n| {
        let json =
            |v: serde_json::Value| Reply::typed("application/json", v.to_string().into_bytes());
        match path {
            "/v0/maxitem.json" => json(json!(3)),
            "/v0/item/1.json" | "/v0/item/2.json" | "/v0/item/3.json" => {
                let id: u64 = path[9..10].parse().unwrap();
                json(
                    json!({"by": format!("user{id}"), "id": id, "type": "comment",
                            "text": random_text(500 + id, 50), "time": 1314211127}),
                )
            }
            _ => Reply::status(404),
        }
    })
}

fn workflow(env: &Env, hn: &Server, extra: &str) -> std::path::PathBuf {
    write_docs(&env.path("docs"), 5);
    write_file(
        &env.path("notes"),
        "a.txt",
        &format!("Notes: {}.", random_text(900, 40)),
    );
    let text = format!(
        r#"
dataset = "{ds}"

[pipeline]
batch_rows = 2

[[source]]
name = "docs"
kind = "files"
path = "{docs}"

[[source]]
name = "typo"
kind = "rss"
url = "https://example.org/feed.xml"

[[source]]
name = "missing"
kind = "files"
path = "{missing}"

[[source]]
name = "hn"
kind = "hackernews"
base_url = "{hn}"
from_id = 1
to_id = 3

[[source]]
name = "notes"
kind = "files"
path = "{notes}"
{extra}"#,
        ds = env.path("data").display(),
        docs = env.path("docs").display(),
        missing = env.path("no-such-folder").display(),
        notes = env.path("notes").display(),
        hn = hn.url("/v0"),
    );
    let path = env.path("workflow.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn a_workflow_runs_every_good_source_and_names_the_ones_that_failed() {
    let env = Env::new();
    let hn = hacker_news();
    let wf = workflow(&env, &hn, "");
    let wf = wf.to_str().unwrap();
    let out = env.masa(&["run", "--json", wf]);
    assert!(!out.status.success(), "a failed source must fail the run");
    let runs = lines(&stdout(&out));
    let names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["docs", "typo", "missing", "hn", "notes"],
        "in file order"
    );
    let by = |n: &str| runs.iter().find(|r| r["name"] == n).unwrap();
    assert_eq!(by("docs")["summary"]["stats"]["rows_committed"], 5);
    assert_eq!(by("hn")["summary"]["stats"]["rows_committed"], 3);
    assert_eq!(by("notes")["summary"]["stats"]["rows_committed"], 1);
    let typo = by("typo");
    assert!(
        typo["error"]
            .as_str()
            .unwrap()
            .contains("unknown connector kind \"rss\""),
        "{typo}"
    );
    assert_eq!(typo["permanent"], true);
    let missing = by("missing")["error"].as_str().unwrap();
    assert!(
        missing.contains("\"missing\"") && missing.contains("no such file or folder"),
        "{missing}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("2 of 5 sources failed: typo, missing"),
        "{err}"
    );
    let ds = env.path("data").display().to_string();
    assert_eq!(env.json(&["stats", "--dataset", &ds])["records"], 9);

    // Again: every good source resumes from its own finished run and adds nothing; only the
    // chosen sources run with --source.
    let out = env.masa(&["run", "--json", "--source", "docs", "--source", "hn", wf]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs = lines(&stdout(&out));
    assert_eq!(runs.len(), 2);
    for r in &runs {
        assert_eq!(r["summary"]["stats"]["rows_committed"], 0, "{r}");
    }
    assert_eq!(env.json(&["stats", "--dataset", &ds])["records"], 9);
    // New files in one source's folder: only they are added.
    write_file(
        &env.path("notes"),
        "b.txt",
        &format!("More notes: {}.", random_text(901, 40)),
    );
    let out = env.masa(&["run", "--source", "notes", wf]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("ok    notes (files): 1 records"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.json(&["stats", "--dataset", &ds])["records"], 10);

    let err = env.fails(&["run", "--source", "nope", wf]);
    assert!(err.contains("no source named \"nope\""), "{err}");
}

#[test]
fn a_daemon_runs_its_sources_on_their_schedules() {
    let env = Env::new();
    let hn = hacker_news();
    // Every second for the workflow; the notes source has its own schedule. The bad ones
    // are left out for good, the missing folder fails at each of its times.
    let wf = workflow(&env, &hn, "schedule = \"*/2 * * * * *\"\n");
    let text = std::fs::read_to_string(&wf).unwrap();
    std::fs::write(
        &wf,
        text.replacen(
            "\n[pipeline]",
            "schedule = \"* * * * * *\"\n\n[pipeline]",
            1,
        ),
    )
    .unwrap();
    let wf = wf.to_str().unwrap();
    let out = env.masa(&["run", "--daemon", "--max-runs", "6", "--json", wf]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs = lines(&stdout(&out));
    assert_eq!(runs.len(), 6, "{runs:?}");
    let names: std::collections::BTreeSet<&str> =
        runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(
        !names.contains("typo"),
        "a source that cannot run is not retried"
    );
    assert!(names.contains("docs") && names.contains("hn"), "{names:?}");
    let err = stderr(&out);
    assert!(err.contains("left out for good: typo"), "{err}");
    assert!(err.contains("next: "), "{err}");
    let ds = env.path("data").display().to_string();
    let records = env.json(&["stats", "--dataset", &ds])["records"]
        .as_u64()
        .unwrap();
    assert!(records >= 5, "{records}");

    // A source without any schedule cannot be run by a daemon.
    let plain = workflow(&env, &hn, "");
    let err = env.fails(&["run", "--daemon", plain.to_str().unwrap()]);
    assert!(err.contains("has no schedule"), "{err}");
}

#[test]
fn connectors_are_listed_with_the_credentials_present_and_checked() {
    let env = Env::new();
    let kinds = env.json(&["connectors"]);
    let kinds = kinds.as_array().unwrap();
    let names: Vec<&str> = kinds.iter().map(|k| k["kind"].as_str().unwrap()).collect();
    for k in [
        "files",
        "web",
        "hackernews",
        "feed",
        "sitemap",
        "warc",
        "dataset",
        "mastodon",
        "mediawiki",
        "arxiv",
        "github",
    ] {
        assert!(names.contains(&k), "{k} missing from {names:?}");
    }
    let github = |v: &serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|k| k["kind"] == "github")
            .unwrap()["keys"][0][1]
            .as_u64()
            .unwrap()
    };
    assert_eq!(github(&serde_json::Value::Array(kinds.clone())), 0);
    // Keys from the environment are counted, never shown.
    let out = env
        .command(&["connectors", "--json"])
        .env("MASA_GITHUB_TOKEN", "ghp_secret1,ghp_secret2")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(!text.contains("ghp_secret"), "{text}");
    assert_eq!(github(&serde_json::from_str(&text).unwrap()), 2);
    // ... and from the configuration.
    let config = env.path("home/config.toml");
    let mut c = std::fs::read_to_string(&config).unwrap();
    c.push_str("\n[credentials]\nMASA_GITHUB_TOKEN = \"ghp_fromconfig\"\n");
    std::fs::write(&config, c).unwrap();
    assert_eq!(github(&env.json(&["connectors"])), 1);
    let plain = env.ok(&["connectors"]);
    assert!(
        plain.contains("MASA_GITHUB_TOKEN set") && !plain.contains("ghp_"),
        "{plain}"
    );

    // A workflow's sources checked with one cheap request each, nothing written.
    let hn = hacker_news();
    let wf = workflow(&env, &hn, "");
    let out = env.masa(&["connectors", "check", wf.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("ok    docs") && text.contains("ok    hn"),
        "{text}"
    );
    assert!(
        text.contains("FAIL  typo") && text.contains("FAIL  missing"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("the check failed for typo, missing"),
        "{}",
        stderr(&out)
    );
    assert!(!env.path("data").exists(), "a check wrote the dataset");
    // One source file; a source that answers HTML is named with what to do.
    let html = Server::start(|_, _, _| Reply::html("<html>sign in</html>"));
    let src = env.path("hn.toml");
    std::fs::write(
        &src,
        format!(
            "kind = \"hackernews\"\nbase_url = \"{}\"\nlist = \"top\"\n",
            html.url("/v0")
        ),
    )
    .unwrap();
    let out = env.masa(&["connectors", "check", src.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stdout(&out).contains("instead of JSON"), "{}", stdout(&out));
    // A kind that reads local files needs the user's own options.
    let err = env.fails(&["connectors", "check", "warc"]);
    assert!(err.contains("examples/warc.toml"), "{err}");
    let err = env.fails(&["connectors", "check", "gopher"]);
    assert!(err.contains("neither a file nor a connector kind"), "{err}");
}

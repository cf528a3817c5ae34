//! `masa simulate` end to end: the shipped scenarios run, the results folder holds the
//! long table, the summary and the plots, one and two threads write the same bytes, sweeps
//! reach the protocol's parameters, `report` reads a finished run back, and bad input gets
//! a message naming what is wrong.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/simulate")
        .join(name)
        .display()
        .to_string()
}

/// Every file under `dir`, with its bytes, in path order.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn one_and_two_threads_write_the_same_results_and_report_reads_them_back() {
    let env = Env::new();
    let base = scenario("baseline.toml");
    let (a, b) = (env.path("a"), env.path("b"));
    let args = |threads: &'static str, out: &Path| {
        let out = out.display().to_string();
        vec![
            "simulate".to_owned(),
            base.clone(),
            "--runs".into(),
            "3".into(),
            "--sweep".into(),
            "epochs=5".into(),
            "--threads".into(),
            threads.into(),
            "--out".into(),
            out,
        ]
    };
    let run = |threads, out: &Path| {
        let a = args(threads, out);
        env.ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let printed = run("1", &a);
    run("2", &b);
    let (fa, fb) = (files(&a), files(&b));
    let names: Vec<String> = fa.iter().map(|(p, _)| p.display().to_string()).collect();
    for want in [
        "series.parquet",
        "series.csv",
        "summary.json",
        "scenario.toml",
        "plots/0-rewards.svg",
        "plots/0-validator-rewards.svg",
        "plots/0-concentration.svg",
        "plots/0-dataset.svg",
        "plots/0-agreement.svg",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    assert_eq!(fa, fb, "one and two threads wrote different results");

    let csv = std::fs::read_to_string(a.join("series.csv")).unwrap();
    assert!(
        csv.starts_with("run,point,time,epoch,metric,value\n"),
        "{csv:.200}"
    );
    // Three runs of five epochs, each epoch close with its records metric.
    let records = csv.lines().filter(|l| l.contains(",records,")).count();
    assert_eq!(records, 15, "{csv:.400}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("summary.json")).unwrap()).unwrap();
    let strategies = summary["points"][0]["strategies"].as_array().unwrap();
    for s in [
        "honest",
        "copier",
        "padder",
        "sybil",
        "low_quality",
        "validator_lazy",
    ] {
        assert!(
            strategies.iter().any(|r| r["strategy"] == s),
            "{s} missing from the summary"
        );
    }
    assert_eq!(
        summary["points"][0]["state_hashes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(printed.contains("gain over honest"), "{printed}");

    // `report` prints the same tables and draws the plots again.
    std::fs::remove_dir_all(a.join("plots")).unwrap();
    let again = env.ok(&["simulate", "report", &a.display().to_string()]);
    assert_eq!(again, printed);
    assert!(a.join("plots/0-rewards.svg").exists());
    let missing = env.fails(&[
        "simulate",
        "report",
        &env.path("nowhere").display().to_string(),
    ]);
    assert!(missing.contains("summary.json"), "{missing}");
}

#[test]
fn sweeps_reach_the_protocol_parameters() {
    let env = Env::new();
    let out = env.path("sweep");
    let text = env.ok(&[
        "simulate",
        &scenario("cabal.toml"),
        "--runs",
        "2",
        "--sweep",
        "epochs=3",
        "--sweep",
        "kappa=0.4,0.6",
        "--sweep",
        "emission=500,1000",
        "--out",
        &out.display().to_string(),
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let points = summary["points"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    assert_eq!(points[3]["values"]["kappa"], 0.6);
    assert_eq!(points[3]["values"]["emission"], 1000.0);
    // The κ the fold ran with, as each epoch result recorded it, and the emission it minted.
    let csv = std::fs::read_to_string(out.join("series.csv")).unwrap();
    let values = |point: u32, metric: &str| -> Vec<f64> {
        csv.lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f[1] == point.to_string() && f[4] == metric)
            .map(|f| f[5].parse().unwrap())
            .collect()
    };
    assert!(values(0, "kappa").iter().all(|k| *k == 0.4));
    assert!(values(3, "kappa").iter().all(|k| *k == 0.6));
    let minted = |p| values(p, "emission").iter().sum::<f64>();
    assert!(
        minted(1) > 1.5 * minted(0),
        "{} vs {}",
        minted(1),
        minted(0)
    );
}

#[test]
fn bad_scenarios_and_sweeps_are_refused_naming_the_field() {
    let env = Env::new();
    let bad = env.path("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nepochs = 3\n[contributors.strategies]\nhonest = 0.7\nforger = 0.3\n[validators]\n",
    )
    .unwrap();
    let out = env.path("out");
    let err = env.fails(&[
        "simulate",
        &bad.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert!(
        err.contains("contributors.strategies.forger: unknown strategy \"forger\""),
        "{err}"
    );
    assert!(!out.exists(), "a refused scenario wrote results");
    let err = env.fails(&[
        "simulate",
        &scenario("baseline.toml"),
        "--sweep",
        "kappa=0.7:0.3:0.1",
        "--out",
        &out.display().to_string(),
    ]);
    assert!(err.contains("sweep kappa"), "{err}");
    let err = env.fails(&[
        "simulate",
        &scenario("baseline.toml"),
        "--sweep",
        "kappa=1.5",
        "--out",
        &out.display().to_string(),
    ]);
    assert!(
        err.contains("params.kappa: kappa=1.5: a fraction between 0 and 1"),
        "{err}"
    );
    let err = env.fails(&["simulate", &scenario("baseline.toml")]);
    assert!(err.contains("--out"), "{err}");
}

//! The reward loop end to end with the real `masa` binary, several masa homes sharing one
//! dataset: stake, audit with weights, epoch close, rewards, state; the anti-gaming
//! scenarios on real pages (Debian's PostgreSQL manual, from scripts/test); slashing with
//! evidence gathered from the dataset; bad input.

mod common;

use common::Env;
use common::net::{MASA, Net, num, payout};
use serde_json::Value;

#[test]
fn reward_loop_two_contributors_three_validators() {
    let net = Net::new(&["creator", "alice", "bob", "v1", "v2", "v3"]);
    let corpus = common::example_corpus();
    net.contribute("alice", &corpus.join("notes"), &[]);
    net.contribute("bob", &corpus.join("pages"), &[]);
    // Before the protocol starts, nothing can be staked and no epoch closes.
    let err = net.fails("alice", &["stake", "50", "--role", "worker"]);
    assert!(err.contains("no genesis yet"), "{err}");
    net.start(&["alice", "bob"], &[("v1", 500), ("v2", 300), ("v3", 200)]);

    let reports = net.audit(&["v1", "v2", "v3"]);
    for r in &reports {
        assert_eq!(r["epoch"], 0, "{r}");
        assert!(r["findings"].as_array().unwrap().is_empty());
        let w = r["weights"].as_object().unwrap();
        assert!(
            num(&w[&net.key("alice")]) > 0 && num(&w[&net.key("bob")]) > 0,
            "{r}"
        );
    }
    // Honest validators running the same rules on the same data agree exactly.
    assert_eq!(reports[0]["weights"], reports[1]["weights"]);
    assert_eq!(reports[1]["weights"], reports[2]["weights"]);

    // An oracle's fee waits in the reward pool for the close.
    net.ok("creator", &["fee", "100"]);
    assert_eq!(num(&net.json("alice", &["state"])["fees"]), 100 * MASA);
    let err = net.fails("creator", &["fee", "5000"]);
    assert!(err.contains("cannot pay a fee of 5000"), "{err}");

    let rewards = net.close();
    let r = &rewards["result"];
    assert_eq!(r["epoch"], 0);
    assert_eq!(r["reports"], 3);
    let (a, b) = (
        payout(&rewards, &net.key("alice")),
        payout(&rewards, &net.key("bob")),
    );
    let incentive = num(&a["incentive"]) + num(&b["incentive"]);
    assert!((999_998..=1_000_002).contains(&incentive), "{rewards}");
    // 41 % of the pool (the 1000 MASA emission and the 100 of fees) goes to contributors,
    // less rounding dust; the fees are paid first, so only the rest is minted.
    let to_contributors = num(&a["emission"]) + num(&b["emission"]);
    assert!(
        to_contributors <= 451 * MASA && to_contributors > 450 * MASA,
        "{rewards}"
    );
    assert_eq!(num(&r["fees"]), 100 * MASA, "{rewards}");
    assert!(num(&r["minted"]) <= 1000 * MASA && num(&r["minted"]) > 999 * MASA);
    let mut dividends = 0;
    for v in ["v1", "v2", "v3"] {
        let p = payout(&rewards, &net.key(v));
        assert!(num(&p["emission"]) > 0, "{p}");
        dividends += num(&p["dividends"]);
    }
    assert!((999_997..=1_000_003).contains(&dividends));
    // Balances: 1000 - 50 staked + the emission.
    assert_eq!(
        num(&rewards["balances"][&net.key("alice")]),
        950 * MASA + num(&a["emission"])
    );

    // The oracle service shows the same rewards for a contributor.
    let env = &net.envs["alice"].0;
    let key = common::serve::create_key(env, &["--scope", "stats"]);
    let server = common::serve::Server::start(env, &net.ds, &["--meter-interval", "0"]);
    let url = format!("{}/v1/contributors/{}", server.base, net.key("alice"));
    let view: Value = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = common::serve::get_as(&url, Some(&key)).await;
        assert_eq!(r.status().as_u16(), 200);
        serde_json::from_str::<Value>(&r.text().await.unwrap()).unwrap()
    });
    assert_eq!(view["rewards"], a["emission"], "{view}");
    assert_eq!(
        view["epochs"],
        serde_json::json!([[0, a["emission"]]]),
        "{view}"
    );
    assert_eq!(num(&view["stake"]["worker"]), 50 * MASA, "{view}");
    assert!(server.stop().success());

    // Closing again does nothing: epoch 1 has not ended, and the log stays as it is.
    let leaves = net.json("alice", &["state"])["leaves"].clone();
    for _ in 0..2 {
        let again = net.json("creator", &["epoch", "close"]);
        assert_eq!(again["status"], "not_yet", "{again}");
        assert_eq!(again["epoch"], 1);
    }
    assert_eq!(net.json("alice", &["state"])["leaves"], leaves);

    // The state: conserved supply, no rejection, the same hash for every reader.
    let s = net.json("alice", &["state"]);
    assert_eq!(
        num(&s["supply"]),
        num(&s["genesis_supply"]) + num(&s["minted"]) - num(&s["burned"])
    );
    assert_eq!(num(&s["genesis_supply"]), 6000 * MASA);
    assert_eq!(num(&s["fees"]), 0);
    assert!(s["rejections"].as_array().unwrap().is_empty(), "{s}");
    assert_eq!(s["state_hash"], net.json("v3", &["state"])["state_hash"]);
    // An earlier state is a prefix's fold: before the close its hash differs.
    let leaves = s["leaves"].as_u64().unwrap();
    let before = net.json("bob", &["state", "--at", &(leaves - 1).to_string()]);
    assert_eq!(before["leaves"], leaves - 1);
    assert_ne!(before["state_hash"], s["state_hash"]);
    assert_eq!(before["epochs_closed"], 0);
    let err = net.fails("bob", &["state", "--at", &(leaves + 1).to_string()]);
    assert!(err.contains("past the end of the log"), "{err}");

    // Weights for the chain: u16, summing to 65535, by uid.
    let uids = net.envs["creator"].0.path("uids.txt");
    std::fs::write(
        &uids,
        format!("7 {}\n3 {}\n", net.key("alice"), net.key("bob")),
    )
    .unwrap();
    let out = net.ok(
        "creator",
        &[
            "rewards",
            "weights",
            "--format",
            "bittensor",
            "--uids",
            uids.to_str().unwrap(),
        ],
    );
    let w: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(w["uids"], serde_json::json!([3, 7]));
    let sum: u64 = w["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(sum, 65535);

    // Text output names every participant.
    let table = net.ok("creator", &["rewards"]);
    for who in ["alice", "bob", "v1", "v2", "v3"] {
        assert!(table.contains(&net.key(who)[..8]), "{table}");
    }
}

#[test]
fn bad_protocol_input_is_refused_with_one_message_and_the_log_untouched() {
    let net = Net::new(&["creator", "alice"]);
    net.contribute("alice", &common::example_corpus().join("notes"), &[]);
    let size = || net.json("alice", &["state"])["leaves"].as_u64().unwrap();
    let s0 = size();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["init-protocol", "--allocate", "nothex=5"], "not a key"),
        (
            vec!["init-protocol", "--allocate", "abc"],
            "expected KEY=AMOUNT",
        ),
        (
            vec!["init-protocol", "--epoch-length", "0"],
            "epoch_length must be between 1 and",
        ),
        (
            vec!["init-protocol", "--emission", "1.2.3"],
            "not an amount",
        ),
        (vec!["epoch", "close"], "no genesis yet"),
        (vec!["rewards"], "no epoch is closed yet"),
    ];
    for (args, want) in &cases {
        let err = net.fails("creator", args);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{err}"
        );
    }
    assert_eq!(size(), s0);
    let alice = net.key("alice");
    net.ok(
        "creator",
        &[
            "init-protocol",
            "--epoch-length",
            "4",
            "--allocate",
            &format!("{alice}=100"),
        ],
    );
    let s1 = size();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["stake", "101", "--role", "worker"],
            "its balance is 100",
        ),
        (vec!["stake", "1", "--role", "miner"], "unknown role"),
        (vec!["stake", "1e3", "--role", "worker"], "not an amount"),
        (vec!["stake", "0", "--role", "worker"], "more than zero"),
        (
            vec!["unstake", "5", "--role", "validator"],
            "its stake is 0",
        ),
        (
            vec!["transfer", "500", "--to", &alice],
            "a transfer to oneself",
        ),
        (vec!["init-protocol"], "already has its genesis"),
        (
            vec![
                "slash",
                "equivocation",
                "--validator",
                &alice,
                "--epoch",
                "0",
            ],
            "no two different reports",
        ),
        (vec!["slash", "fabrication"], "needs --batch"),
        (vec!["rewards", "--epoch", "3"], "epoch 3 is not closed"),
    ];
    for (args, want) in &cases {
        let err = net.fails("alice", args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(size(), s1, "a refused command wrote to the log");
    let input = net.envs["alice"].0.path("bad.json");
    std::fs::write(&input, r#"{"stake":[1,2],"weights":[[1,0,0]]}"#).unwrap();
    let err =
        net.envs["alice"]
            .0
            .fails(&["rewards", "consensus", "--input", input.to_str().unwrap()]);
    assert!(err.contains("weights has 1 rows, expected 2"), "{err}");
}

#[test]
fn consensus_command_runs_the_epochs_consensus_on_given_numbers() {
    let env = Env::new();
    let input = env.path("in.json");
    // Three validators; the third (20 % of stake) puts everything on miner 1.
    std::fs::write(
        &input,
        r#"{"stake":[50,30,20],"weights":[[1,0],[1,0],[0,1]],"kappa":0.5,"bond_alpha":0.1}"#,
    )
    .unwrap();
    let out: Value = serde_json::from_str(&env.ok(&[
        "rewards",
        "consensus",
        "--input",
        input.to_str().unwrap(),
    ]))
    .unwrap();
    let c = out["consensus"].as_array().unwrap();
    assert!((c[0].as_f64().unwrap() - 1.0).abs() < 1e-9, "{out}");
    assert_eq!(c[1].as_f64().unwrap(), 0.0);
    let inc = out["incentive"].as_array().unwrap();
    assert!((inc[0].as_f64().unwrap() - 1.0).abs() < 1e-9);
    let d = out["dividends"].as_array().unwrap();
    assert_eq!(
        d[2].as_f64().unwrap(),
        0.0,
        "the outlier earns no dividends: {out}"
    );
    assert_eq!(out["bonds"].as_array().unwrap().len(), 3);
    // Fed back, the bonds give the same incentive.
    let mut next: Value = serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
    next["bonds_prev"] = out["bonds"].clone();
    std::fs::write(&input, next.to_string()).unwrap();
    let out2: Value = serde_json::from_str(&env.ok(&[
        "rewards",
        "consensus",
        "--input",
        input.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(out2["incentive"], out["incentive"]);
}

#[test]
fn the_reward_loop_example_runs_end_to_end() {
    let text = common::run_example("reward-loop.sh");
    assert!(text.contains("closed epoch 0"), "{text}");
    assert!(text.contains("nothing to close"), "{text}");
    assert!(text.contains("\"weights\""), "{text}");
    assert_eq!(
        text.matches("weights    epoch 0, 2 contributors").count(),
        3,
        "{text}"
    );
    assert!(text.contains("rejected   none"), "{text}");
}

/// Contributions, stakes and audits from concurrent processes, then two independent folds.
fn concurrent_writers_agree(net: &Net) {
    let corpus = common::example_corpus();
    net.contribute("alice", &corpus.join("notes"), &[]);
    // Leaf 0 the batch, 1 the genesis, 2..=7 the six writes below: epoch 0 ends at 8.
    let allocs: Vec<String> = ["alice", "bob", "v1", "v2", "v3"]
        .iter()
        .map(|w| format!("{}=1000", net.key(w)))
        .collect();
    let mut a = vec!["init-protocol", "--epoch-length", "7"];
    for x in &allocs {
        a.extend(["--allocate", x.as_str()]);
    }
    net.ok("creator", &a);
    // Five stakes and a contribution at once: the log takes them in some order, and that
    // order is the protocol's.
    let mut children = vec![net.spawn(
        "bob",
        &[
            "contribute",
            "--files",
            corpus.join("pages").to_str().unwrap(),
        ],
    )];
    for (who, role) in [
        ("alice", "worker"),
        ("bob", "worker"),
        ("v1", "validator"),
        ("v2", "validator"),
        ("v3", "validator"),
    ] {
        children.push(net.spawn(who, &["stake", "200", "--role", role]));
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let reports = net.audit(&["v1", "v2", "v3"]);
    assert!(reports.iter().all(|r| r["epoch"] == 0), "{reports:?}");
    net.close();
    let a = net.json("alice", &["state"]);
    let b = net.json("v3", &["state"]);
    assert_eq!(a["state_hash"], b["state_hash"]);
    assert!(a["rejections"].as_array().unwrap().is_empty(), "{a}");
    for who in ["alice", "bob", "v1", "v2", "v3"] {
        let acct = a["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["key"] == net.key(who).as_str())
            .unwrap();
        assert_eq!(acct["nonce"], 1, "{who}: {acct}");
    }
}

#[test]
fn concurrent_writers_fold_to_one_state_hash() {
    concurrent_writers_agree(&Net::new(&["creator", "alice", "bob", "v1", "v2", "v3"]));
}

#[test]
fn concurrent_writers_fold_to_one_state_hash_on_s3() {
    let Some(s3) = common::s3() else { return };
    concurrent_writers_agree(&Net::on_s3(
        &["creator", "alice", "bob", "v1", "v2", "v3"],
        &s3,
    ));
}

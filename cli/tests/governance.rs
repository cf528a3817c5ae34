//! Governance end to end with the real binary: a κ change proposed, voted (a delegate
//! voting for its delegators, one delegator overriding directly), enacted for the epoch
//! after its decision while the deciding epoch keeps the old κ; a proposal below quorum
//! failing; a conviction lock refusing an unstake; bounds and bad input refused with the
//! log untouched.

mod common;

use common::net::Net;
use serde_json::Value;

fn state(net: &Net) -> Value {
    net.json("creator", &["state"])
}

fn leaves(net: &Net) -> u64 {
    state(net)["leaves"].as_u64().unwrap()
}

/// Closes the oldest ended epoch (filling the log with transfers until it has ended).
fn close(net: &Net, filler: &str) -> Value {
    loop {
        let out = net.json("creator", &["epoch", "close"]);
        if out["status"] == "closed" {
            return out["result"].clone();
        }
        let to = net.key("creator");
        net.ok(filler, &["transfer", "1", "--to", &to]);
    }
}

#[test]
fn a_kappa_change_is_voted_through_delegation_and_holds_from_the_next_epoch() {
    let net = Net::new(&["creator", "alice", "v1", "v2", "v3"]);
    net.contribute("alice", &common::example_corpus().join("notes"), &[]);
    let params = net.envs["creator"].0.path("params.toml");
    std::fs::write(&params, "[governance]\ndecision_epochs = 1\n").unwrap();
    net.start_with(
        &["alice"],
        &[("v1", 500), ("v2", 300), ("v3", 200)],
        &["--params", params.to_str().unwrap()],
    );
    // Epoch 0 has ended; the proposal is made in epoch 1 and decided at its close.
    let out = net.ok(
        "v1",
        &["propose", "--set", "kappa=0.55", "--title", "raise kappa"],
    );
    let id: String = out.trim().strip_prefix("proposal ").unwrap().to_owned();
    net.ok("v1", &["vote", &id, "yes", "--conviction", "2"]);
    net.ok("v2", &["delegate", &net.key("v1")]);
    // v3 delegates its params weight to v1, then votes no itself: the direct vote wins.
    net.ok("v3", &["delegate", &net.key("v1"), "--scope", "params"]);
    net.ok("v3", &["vote", &id, "no"]);
    // A second proposal that only alice (50 of 1050 staked) votes for: below quorum.
    let out = net.ok(
        "alice",
        &["propose", "--set", "emission=1200", "--title", "more"],
    );
    let low: String = out.trim().strip_prefix("proposal ").unwrap().to_owned();
    net.ok("alice", &["vote", &low, "yes"]);

    let open = net.json("creator", &["proposals"]);
    let live = &open[0]["live_tally"];
    assert!(live["yes"].as_str().is_some(), "{open}");

    // The conviction lock: v1's stake is held until two epochs after the decision.
    let err = net.fails("v1", &["unstake", "10", "--role", "validator"]);
    assert!(err.contains("locked by its votes"), "{err}");

    let e0 = close(&net, "alice");
    assert_eq!(e0["epoch"], 0);
    assert_eq!(e0["kappa_ppm"], 500_000);
    let before = leaves(&net);
    let e1 = close(&net, "alice");
    assert_eq!(e1["epoch"], 1);
    // The epoch that decided the proposal kept the old κ...
    assert_eq!(e1["kappa_ppm"], 500_000);
    let e2 = close(&net, "alice");
    // ...and the next one uses the new.
    assert_eq!(e2["kappa_ppm"], 550_000);

    let s = state(&net);
    assert_eq!(s["params"]["kappa_ppm"], 550_000);
    // `masa state --at` shows what was in force before.
    let then = net.json("creator", &["state", "--at", &before.to_string()]);
    assert_eq!(then["params"]["kappa_ppm"], 500_000);

    let t = net.json("creator", &["tally", &id]);
    assert_eq!(t["status"]["enacted"]["from_epoch"], 2, "{t}");
    let flows = t["flows"].as_array().unwrap();
    let flow = |who: &str| {
        flows
            .iter()
            .find(|f| f["key"] == net.key(who).as_str())
            .unwrap()
            .clone()
    };
    assert_eq!(flow("v2")["outcome"], "delegated");
    assert_eq!(flow("v2")["voter"], net.key("v1").as_str());
    assert_eq!(flow("v3")["outcome"], "voted");
    assert_eq!(flow("v3")["choice"], "no");
    let tally = &t["tally"];
    let n = |v: &Value| v.as_str().unwrap().parse::<u128>().unwrap();
    assert_eq!(
        n(&tally["resolved"])
            + n(&tally["lost_cycles"])
            + n(&tally["lost_decay"])
            + n(&tally["abstained"])
            + n(&tally["capped_back"]),
        n(&tally["eligible"])
    );
    let text = net.ok("creator", &["tally", &id]);
    assert!(text.contains("Gini") && text.contains("Nakamoto"), "{text}");

    let low_t = net.json("creator", &["tally", &low]);
    assert_eq!(low_t["status"], "rejected", "{low_t}");
    assert!(low_t["tally"]["participation_bps"].as_u64().unwrap() < 2000);

    let listed = net.ok("creator", &["proposals"]);
    assert!(
        listed.contains("enacted from epoch 2") && listed.contains("rejected"),
        "{listed}"
    );
}

#[test]
fn bad_governance_input_gets_one_message_and_leaves_the_log_untouched() {
    let net = Net::new(&["creator", "v1"]);
    net.contribute("v1", &common::example_corpus().join("notes"), &[]);
    let params = net.envs["creator"].0.path("params.toml");
    std::fs::write(&params, "[governance]\ndecision_epochs = 1\n").unwrap();
    net.start_with(&[], &[("v1", 500)], &["--params", params.to_str().unwrap()]);
    let out = net.ok("v1", &["propose", "--set", "kappa=0.6", "--title", "t"]);
    let id: String = out.trim().strip_prefix("proposal ").unwrap().to_owned();
    net.ok("v1", &["vote", &id, "yes"]);
    close(&net, "v1");
    close(&net, "v1"); // decides the proposal
    let out = net.ok(
        "v1",
        &["propose", "--set", "emission=900", "--title", "open"],
    );
    let open: String = out.trim().strip_prefix("proposal ").unwrap().to_owned();
    let size = leaves(&net);
    let me = net.key("v1");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["propose", "--set", "kappa=1.5", "--title", "t"],
            "between 0 and 1",
        ),
        (
            vec!["propose", "--set", "kappa_ppm=1500000", "--title", "t"],
            "strictly between 0 and 1",
        ),
        (
            vec!["propose", "--set", "kapa=1", "--title", "t"],
            "kapa is not a parameter",
        ),
        (
            vec!["propose", "--set", "epoch_length=abc", "--title", "t"],
            "wrong type",
        ),
        (
            vec!["propose", "--set", "kappa", "--title", "t"],
            "expected NAME=VALUE",
        ),
        (vec!["vote", "999", "yes"], "there is no proposal 999"),
        (vec!["vote", &id, "yes"], "decision period is over"),
        (vec!["vote", &id, "maybe"], "invalid value"),
        (
            vec!["vote", &open, "yes", "--conviction", "9"],
            "conviction 9 is not in the table",
        ),
        (vec!["delegate", &me], "a delegation to oneself"),
        (vec!["delegate", "nothex"], "not a key"),
        (vec!["delegate", &me, "--scope", "money"], "unknown scope"),
        (vec!["undelegate"], "no delegation for scope all"),
        (vec!["tally", "999"], "there is no proposal 999"),
    ];
    for (args, want) in &cases {
        let err = net.fails("v1", args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(leaves(&net), size, "a refused command wrote to the log");
}

#[test]
fn the_governance_example_runs_end_to_end() {
    let text = common::run_example("governance.sh");
    assert!(text.contains("enacted from epoch 2"), "{text}");
    assert!(text.contains("κ 0.55"), "{text}");
    assert!(text.contains("capped back"), "{text}");
}

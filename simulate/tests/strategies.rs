//! The economic claims, shown by simulation under the default parameters: copying, padding
//! and splitting into sybils earn no more per unit of cost than honest contribution; a
//! cabal below κ of the stake does not raise its members' consensus (and one above κ does,
//! so the check can tell). Also determinism over thread counts, and bad scenarios.

use masa_simulate::report::{self, Summary};
use masa_simulate::run::{Sweep, points, run_all};
use masa_simulate::scenario::Scenario;
use std::path::PathBuf;

fn example(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/simulate")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    Scenario::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn simulate(s: &Scenario, sweeps: &[Sweep], runs: u32, threads: usize) -> Summary {
    let pts = points(s, sweeps).unwrap();
    let outs = run_all(&pts, runs, s.seed, threads, &|_, _| {});
    for o in &outs {
        assert_eq!(
            o.rejected, 0,
            "the simulation made invalid events: {:?}",
            o.rejections
        );
    }
    report::summarise(&s.name, s.seed, runs, &pts, &outs)
}

fn row<'a>(s: &'a Summary, point: usize, strategy: &str) -> &'a report::StrategyRow {
    s.points[point]
        .strategies
        .iter()
        .find(|r| r.strategy == strategy)
        .unwrap_or_else(|| panic!("no {strategy} in {:?}", s.points[point].strategies))
}

#[test]
fn copiers_padders_and_sybils_earn_no_more_than_honest_contributors() {
    let mut s = example("baseline.toml");
    s.epochs = 16;
    let summary = simulate(&s, &[], 12, 2);
    let text = report::render(&summary);
    for strategy in ["copier", "padder", "sybil", "low_quality"] {
        let r = row(&summary, 0, strategy);
        let gain = r.gain.expect("compared with honest");
        assert!(gain.n >= 10, "{strategy}: too few paired runs\n{text}");
        assert_ne!(
            r.verdict.as_deref(),
            Some("beats honest"),
            "{strategy} beats honest play\n{text}"
        );
        // The interval is narrow enough to have told a winner from a loser.
        assert!(
            gain.hi - gain.lo < 0.5 * row(&summary, 0, "honest").per_cost.mean,
            "{strategy}: the interval is too wide to conclude\n{text}"
        );
    }
    // Copying and padding are strictly worse: the copies score zero, the padding once.
    for strategy in ["copier", "padder"] {
        assert_eq!(
            row(&summary, 0, strategy).verdict.as_deref(),
            Some("worse than honest"),
            "{strategy}\n{text}"
        );
    }
    // A sybil earns what one honest key earns for the same content, over all its keys.
    let (sybil, honest) = (row(&summary, 0, "sybil"), row(&summary, 0, "honest"));
    let per_word = |r: &report::StrategyRow| r.reward / r.cost;
    assert!(
        per_word(sybil) < 1.25 * per_word(honest),
        "sybil {} vs honest {}\n{text}",
        per_word(sybil),
        per_word(honest)
    );
}

#[test]
fn a_cabal_below_kappa_does_not_raise_its_members_consensus_and_one_above_does() {
    let s = example("cabal.toml");
    let sweep = Sweep::parse("cabal.stake_share=0.3,0.6").unwrap();
    let mut s = s;
    s.epochs = 12;
    // Consensus alone: no proposal to lower κ (the governance test below has that).
    s.governance.proposal_rate = 0.0;
    let summary = simulate(&s, &[sweep], 8, 2);
    let text = report::render(&summary);
    let below = summary.points[0].cabal.as_ref().expect("a cabal");
    let above = summary.points[1].cabal.as_ref().expect("a cabal");
    assert!((below.stake_share - 0.3).abs() < 1e-9, "{text}");
    let ratio = below.consensus_ratio.expect("members were weighted");
    // Consensus is rounded to ppm per member: 1 + 1e-3 allows for that, not for a gain.
    assert!(
        ratio.hi <= 1.001,
        "below κ the cabal raised consensus: {ratio:?}\n{text}"
    );
    let ratio = above.consensus_ratio.expect("members were weighted");
    assert!(
        ratio.lo > 1.5,
        "above κ the boost should pass: {ratio:?}\n{text}"
    );
    assert_eq!(
        row(&summary, 1, "cabal_member").verdict.as_deref(),
        Some("beats honest"),
        "{text}"
    );
}

#[test]
fn a_cabal_cannot_vote_kappa_below_its_stake_but_a_majority_can_lower_it() {
    let mut s = example("cabal.toml");
    s.epochs = 10;
    let pts = points(
        &s,
        &[Sweep::parse("governance.support.validator_honest=0.1,1").unwrap()],
    )
    .unwrap();
    let outs = run_all(&pts, 3, s.seed, 2, &|_, _| {});
    let last = |o: &masa_simulate::model::RunOutput, metric: &str| {
        o.rows
            .iter()
            .rev()
            .find(|r| r.metric == metric)
            .map(|r| r.value)
    };
    for o in &outs {
        assert_eq!(o.rejected, 0, "{:?}", o.rejections);
        assert_eq!(
            last(o, "proposals_decided"),
            Some(1.0),
            "the proposal was not decided"
        );
    }
    // The honest majority votes no (the cabal's 30 % plus a fifth of the rest is short of
    // a majority): κ stays 0.5.
    for o in &outs[..3] {
        assert_eq!(last(o, "proposals_passed"), Some(0.0));
        assert_eq!(last(o, "kappa"), Some(0.5));
    }
    // When the honest validators (most of the stake) vote yes too, it passes and the fold closes later epochs with κ 0.25.
    for o in &outs[3..] {
        assert_eq!(last(o, "proposals_passed"), Some(1.0));
        assert_eq!(last(o, "kappa"), Some(0.25));
    }
}

#[test]
fn the_same_seed_gives_the_same_results_on_one_and_two_threads() {
    let mut s = example("baseline.toml");
    s.epochs = 6;
    let pts = points(&s, &[Sweep::parse("kappa=0.4,0.6").unwrap()]).unwrap();
    let one = run_all(&pts, 3, 5, 1, &|_, _| {});
    let two = run_all(&pts, 3, 5, 2, &|_, _| {});
    assert_eq!(one, two);
    let hashes: Vec<&str> = one.iter().map(|o| o.state_hash.as_str()).collect();
    // Different runs are different draws.
    assert_ne!(hashes[0], hashes[1]);
    let other = run_all(&pts, 3, 6, 2, &|_, _| {});
    assert_ne!(one[0].state_hash, other[0].state_hash);
}

fn error_of(text: &str) -> String {
    match Scenario::parse(text).and_then(|s| s.compile().map(|_| ())) {
        Ok(()) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = r#"
name = "t"
epochs = 2
[contributors]
[validators]
"#;

#[test]
fn bad_scenarios_get_one_message_naming_the_field() {
    assert!(Scenario::parse(MINIMAL).unwrap().compile().is_ok());
    let cases = [
        (
            "[contributors.strategies]\nhonest = 0.5\nforger = 0.5\n",
            "contributors.strategies.forger: unknown strategy \"forger\" (known: honest, low_quality, copier, padder, sybil, cabal_member)",
        ),
        (
            "[validators.lifecycle]\narrival_rate = -1.0\n",
            "validators.lifecycle.arrival_rate: must be a finite number ≥ 0, not -1",
        ),
        (
            "[contributors.strategies]\nhonest = 0.5\ncopier = 0.4\n",
            "contributors.strategies: the shares must sum to 1, they sum to 0.9",
        ),
        (
            "[params]\nkapa = 0.5\n",
            "params.kapa: not a protocol parameter",
        ),
        (
            "[params]\nkappa = 0.4\nkappa_ppm = 300000\n",
            "params.kappa_ppm: kappa_ppm is set twice",
        ),
        (
            "[params]\nkappa = 1.5\n",
            "params.kappa: kappa=1.5: a fraction between 0 and 1",
        ),
        ("[params]\nkappa_ppm = 2000000\n", "params: kappa_ppm"),
        (
            "[contributors]\nwords = { dist = \"beta\", alpha = 0, beta = 1 }\n",
            "contributors.words.alpha: must be a finite number > 0, not 0",
        ),
        ("[oracles]\nqueries = 3\n", "unknown field `queries`"),
        (
            "[governance]\nconviction = 9\n",
            "governance.conviction: conviction 9 is not in the table (0 to 6)",
        ),
        (
            "[[governance.proposals]]\ntitle = \"x\"\nchanges = { kapa_ppm = 1 }\n",
            "governance.proposals[0].changes.kapa_ppm: not a protocol parameter",
        ),
    ];
    for (extra, expected) in cases {
        // Tables in `extra` replace the minimal ones of the same name.
        let mut base: toml::Table = toml::from_str(MINIMAL).unwrap();
        let add: toml::Table = toml::from_str(extra).unwrap();
        for (k, v) in add {
            match (base.get_mut(&k), v) {
                (Some(toml::Value::Table(t)), toml::Value::Table(v)) => t.extend(v),
                (_, v) => {
                    base.insert(k, v);
                }
            }
        }
        let got = error_of(&toml::to_string(&base).unwrap());
        assert!(
            got.contains(expected),
            "{extra}\n got: {got}\nwant: {expected}"
        );
    }
}

#[test]
fn a_scenario_whose_log_cannot_grow_stops_and_says_so() {
    // Oracles alone: their queries add nothing to the log, so no epoch can ever end.
    let text = format!("{MINIMAL}[oracles.lifecycle]\ninitial = 2\n");
    let s = Scenario::parse(&text).unwrap();
    let summary = simulate(&s, &[], 2, 1);
    let p = &summary.points[0];
    assert_eq!(p.stalled, 2);
    assert_eq!(p.projection.epochs.mean, 0.0);
    assert!(report::render(&summary).contains("2 runs stopped early"));
}

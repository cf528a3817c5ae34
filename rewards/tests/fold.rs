//! The fold: determinism, the invariants over random event sequences, rejections that
//! change nothing, replays, unbonding, epochs and slashing evidence.

mod common;

use common::*;
use masa_rewards::{Amount, Entry, Event, Evidence, Key, Offence, Outcome, Role, State, fold};
use proptest::prelude::*;

fn stake(role: Role, masa: u64) -> Event {
    Event::Stake {
        role,
        amount: Amount::masa(masa),
    }
}

/// A state that applied nothing but a rejected leaf at `leaf` with `reason`.
fn as_if_rejected(before: &State, reason: &str) -> State {
    let mut s = before.clone();
    let out = s.apply(&Entry::Unknown {
        reason: reason.into(),
    });
    assert!(matches!(out, Outcome::Rejected(_)));
    s
}

#[test]
fn genesis_then_stake_unstake_transfer() {
    let (mut g, mut a, b) = (Actor::new(1), Actor::new(2), Actor::new(3));
    let mut s = State::new(ORIGIN);
    assert_eq!(
        s.apply(&genesis(&mut g, params(8), &[(a.key, 1000)])),
        Outcome::Applied
    );
    assert_eq!(
        s.apply(&a.event(stake(Role::Validator, 600))),
        Outcome::Applied
    );
    assert_eq!(
        s.apply(&a.event(Event::Unstake {
            role: Role::Validator,
            amount: Amount::masa(100)
        })),
        Outcome::Applied
    );
    assert_eq!(
        s.apply(&a.event(Event::Transfer {
            to: b.key,
            amount: Amount::masa(50)
        })),
        Outcome::Applied
    );
    let acct = s.account(&a.key).unwrap();
    assert_eq!(acct.balance, Amount::masa(350));
    assert_eq!(acct.staked(Role::Validator), Amount::masa(500));
    assert_eq!(acct.unbonding_total(), Amount::masa(100));
    assert_eq!(acct.unbonding[0].release_epoch, 2);
    assert_eq!(s.account(&b.key).unwrap().balance, Amount::masa(50));
    s.check_invariants().unwrap();
}

#[test]
fn every_invalid_event_is_rejected_with_its_reason_and_changes_nothing() {
    let (mut g, a, b) = (Actor::new(1), Actor::new(2), Actor::new(3));
    let mut s = State::new(ORIGIN);
    // Before genesis, nothing but genesis is accepted.
    let before = s.clone();
    let out = s.apply(&a.at_nonce(1, stake(Role::Worker, 1)));
    assert_eq!(
        out,
        Outcome::Rejected("the protocol has no genesis yet (masa init-protocol)".into())
    );
    assert_eq!(
        s,
        as_if_rejected(
            &before,
            "the protocol has no genesis yet (masa init-protocol)"
        )
    );
    s.apply(&genesis(&mut g, params(8), &[(a.key, 100)]));

    let cases: Vec<(Entry, &str)> = vec![
        (
            a.at_nonce(1, stake(Role::Worker, 101)),
            "cannot stake 101: its balance is 100",
        ),
        (
            a.at_nonce(
                1,
                Event::Unstake {
                    role: Role::Validator,
                    amount: Amount::masa(1),
                },
            ),
            "cannot unstake 1 as validator: its stake is 0",
        ),
        (a.at_nonce(1, stake(Role::Worker, 0)), "more than zero"),
        (
            a.at_nonce(
                1,
                Event::Transfer {
                    to: b.key,
                    amount: Amount::masa(1000),
                },
            ),
            "cannot transfer 1000",
        ),
        (a.at_nonce(2, stake(Role::Worker, 1)), "nonce 2 of"),
        (
            a.at_nonce(1, Event::CloseEpoch { epoch: 0 }),
            "has not ended",
        ),
        (
            a.at_nonce(1, Event::CloseEpoch { epoch: 3 }),
            "cannot close before epoch 0",
        ),
        (
            a.at_nonce(
                1,
                Event::Genesis {
                    params: Box::new(params(8)),
                    allocations: Default::default(),
                },
            ),
            "already has its genesis",
        ),
        (
            Entry::Event(Err("bad signature: not x's signature".into())),
            "bad signature",
        ),
        (
            Entry::Unknown {
                reason: "unknown log entry kind \"vote\"".into(),
            },
            "unknown log entry kind",
        ),
        (
            a.at_nonce(
                1,
                Event::Slash {
                    offender: b.key,
                    offence: Offence::Equivocation,
                    evidence: Evidence::Reports {
                        first: 0,
                        second: 1,
                    },
                },
            ),
            "is not an audit report",
        ),
        (
            a.at_nonce(
                1,
                Event::Slash {
                    offender: b.key,
                    offence: Offence::Fabrication,
                    evidence: Evidence::Reports {
                        first: 0,
                        second: 1,
                    },
                },
            ),
            "cannot be shown by reports evidence",
        ),
    ];
    for (entry, want) in cases {
        let before = s.clone();
        match s.apply(&entry) {
            Outcome::Rejected(reason) => {
                assert!(reason.contains(want), "{reason:?} lacks {want:?}");
                assert_eq!(s, as_if_rejected(&before, &reason));
            }
            Outcome::Applied => panic!("{entry:?} was applied"),
        }
    }
    // The valid event at nonce 1 is still accepted after all that.
    assert_eq!(
        s.apply(&a.at_nonce(1, stake(Role::Worker, 10))),
        Outcome::Applied
    );
    // And replaying it is not.
    let out = s.apply(&a.at_nonce(1, stake(Role::Worker, 10)));
    assert!(matches!(out, Outcome::Rejected(r) if r.contains("already used (replay)")));
}

#[test]
fn an_event_signed_for_another_log_is_refused() {
    let (mut g, a) = (Actor::new(1), Actor::new(2));
    let mut s = State::new("masa/dataset/other");
    let out = s.apply(&genesis(&mut g, params(8), &[(a.key, 100)]));
    assert!(matches!(out, Outcome::Rejected(r) if r.contains("signed for log")));
}

#[test]
fn epochs_close_in_order_with_emission_conserved_and_unbonding_released() {
    let (mut g, mut v, mut c) = (Actor::new(1), Actor::new(2), Actor::new(3));
    let mut p = params(4);
    p.unbonding_epochs = 1;
    let mut log = vec![
        genesis(&mut g, p, &[(v.key, 1000), (c.key, 100)]), // leaf 0; epoch 0 = [0, 4)
        v.event(stake(Role::Validator, 500)),
        c.event(stake(Role::Worker, 20)),
        c.batch("b1"),
        v.report(0, &[(c.key, 10)]), // leaf 4: epoch 0 has ended
        v.event(Event::Unstake {
            role: Role::Validator,
            amount: Amount::masa(100),
        }), // released at the close of epoch 2 (current 1 + 1)
        g.event(Event::CloseEpoch { epoch: 0 }),
    ];
    let s = fold(ORIGIN, &log);
    assert!(s.rejections.is_empty(), "{:?}", s.rejections);
    s.check_invariants().unwrap();
    let r = &s.results[0];
    assert_eq!(r.reports, 1);
    // One contributor and one validator: each gets its whole share.
    let c_pay = r.payouts.iter().find(|p| p.key == c.key).unwrap();
    let v_pay = r.payouts.iter().find(|p| p.key == v.key).unwrap();
    assert_eq!(c_pay.emission, Amount::masa(410));
    assert_eq!(v_pay.emission, Amount::masa(410));
    assert_eq!(r.to_treasury, Amount::masa(180));
    assert_eq!(s.minted, Amount::masa(1000));
    assert_eq!(s.account(&c.key).unwrap().balance, Amount::masa(80 + 410));
    // Closing again is refused; the next epoch cannot close before it ends.
    log.push(g.rejected(Event::CloseEpoch { epoch: 0 }));
    let s = fold(ORIGIN, &log);
    assert!(s.rejections[0].reason.contains("already closed"));
    // Epoch 1 = [4, 8), epoch 2 = [8, 12): fill to 12 and close both.
    while log.len() < 12 {
        log.push(filler());
    }
    log.push(g.event(Event::CloseEpoch { epoch: 1 }));
    log.push(g.event(Event::CloseEpoch { epoch: 2 }));
    let s = fold(ORIGIN, &log);
    s.check_invariants().unwrap();
    assert_eq!(s.closed, 3);
    let acct = s.account(&v.key).unwrap();
    assert!(acct.unbonding.is_empty());
    assert_eq!(s.results[2].released, Amount::masa(100));
    // No reports in epochs 1 and 2 but bonds carry dividends; the contributor share follows
    // the bonded consensus only through reports, so nothing is minted for contributors.
    assert_eq!(s.minted, s.supply().saturating_sub(s.genesis_supply));
}

#[test]
fn fees_are_paid_out_with_the_emission_and_only_the_rest_is_minted() {
    let (mut g, mut v, mut c, mut o) = (Actor::new(1), Actor::new(2), Actor::new(3), Actor::new(5));
    let log = vec![
        genesis(
            &mut g,
            params(5),
            &[(v.key, 1000), (c.key, 100), (o.key, 300)],
        ),
        v.event(stake(Role::Validator, 500)),
        c.event(stake(Role::Worker, 20)),
        // Fees before anyone can be paid wait in the pool.
        o.event(Event::Fee {
            amount: Amount::masa(200),
        }),
        c.batch("b1"),
        v.report(0, &[(c.key, 10)]), // leaf 5: epoch 0 = [0, 5) has ended
        g.event(Event::CloseEpoch { epoch: 0 }),
    ];
    let s = fold(ORIGIN, &log);
    assert!(s.rejections.is_empty(), "{:?}", s.rejections);
    s.check_invariants().unwrap();
    let r = &s.results[0];
    // The pool of 1 000 + 200 is split 41 / 41 / 18; the fees are paid first.
    let c_pay = r.payouts.iter().find(|p| p.key == c.key).unwrap();
    assert_eq!(c_pay.emission, Amount::masa(492));
    assert_eq!(r.to_treasury, Amount::masa(216));
    assert_eq!(r.fees, Amount::masa(200));
    assert_eq!(s.minted, Amount::masa(1000));
    assert_eq!(s.fees, Amount::ZERO);
    assert_eq!(s.account(&o.key).unwrap().balance, Amount::masa(100));

    // A fee beyond the balance is refused and changes nothing.
    let mut t = s.clone();
    let out = t.apply(&o.rejected(Event::Fee {
        amount: Amount::masa(101),
    }));
    let Outcome::Rejected(reason) = out else {
        panic!("an unfunded fee was applied")
    };
    assert!(reason.contains("cannot pay a fee of 101"), "{reason}");
    assert_eq!(t, as_if_rejected(&s, &reason));

    // Metered use: on record per service and key, its fee paid like a fee.
    let usage = |fee: u64| Event::Usage {
        key: "k1".into(),
        queries: 10,
        records: 3,
        bytes: 4096,
        fee: Amount::masa(fee),
    };
    let mut u = s.clone();
    assert_eq!(u.apply(&o.event(usage(0))), Outcome::Applied);
    assert_eq!(u.apply(&o.event(usage(40))), Outcome::Applied);
    let k = &u.usage[&o.key]["k1"];
    assert_eq!((k.events, k.queries, k.records, k.bytes), (2, 20, 6, 8192));
    assert_eq!(k.fees, Amount::masa(40));
    assert_eq!(u.fees, Amount::masa(40));
    assert_eq!(u.account(&o.key).unwrap().balance, Amount::masa(60));
    u.check_invariants().unwrap();
    let before = u.clone();
    let Outcome::Rejected(reason) = u.apply(&o.rejected(usage(61))) else {
        panic!("an unfunded usage fee was applied")
    };
    assert_eq!(u, as_if_rejected(&before, &reason));
}

#[test]
fn unbonding_stake_is_still_slashed() {
    let (mut g, mut v, mut x) = (Actor::new(1), Actor::new(2), Actor::new(4));
    let mut log = vec![
        genesis(&mut g, params(3), &[(v.key, 1000), (x.key, 1000)]),
        v.event(stake(Role::Validator, 400)),
        x.event(stake(Role::Validator, 400)),
        filler(),
        // Epoch 0 ended at leaf 3: two different reports of v for it.
        v.report(0, &[(x.key, 1)]),
        v.report(0, &[(x.key, 2)]),
        v.event(Event::Unstake {
            role: Role::Validator,
            amount: Amount::masa(400),
        }),
    ];
    let s = fold(ORIGIN, &log);
    assert!(s.reports.get(&0).is_none_or(|r| !r.contains_key(&v.key)));
    log.push(x.event(Event::Slash {
        offender: v.key,
        offence: Offence::Equivocation,
        evidence: Evidence::Reports {
            first: 4,
            second: 5,
        },
    }));
    let s = fold(ORIGIN, &log);
    assert!(
        s.rejections.iter().all(|r| r.reason == "filler"),
        "{:?}",
        s.rejections
    );
    let acct = s.account(&v.key).unwrap();
    // 10 % of the 400 unbonding is burned.
    assert_eq!(acct.unbonding_total(), Amount::masa(360));
    assert_eq!(s.burned, Amount::masa(40));
    s.check_invariants().unwrap();
    // The same evidence cannot slash twice.
    log.push(x.rejected(Event::Slash {
        offender: v.key,
        offence: Offence::Equivocation,
        evidence: Evidence::Reports {
            first: 4,
            second: 5,
        },
    }));
    let s = fold(ORIGIN, &log);
    assert!(
        s.rejections
            .last()
            .unwrap()
            .reason
            .contains("already slashed")
    );
}

#[test]
fn attested_offences_need_kappa_of_stake() {
    let (mut g, mut v1, mut v2, c) = (Actor::new(1), Actor::new(2), Actor::new(3), Actor::new(5));
    let mut log = vec![
        genesis(&mut g, params(64), &[(v1.key, 1000), (v2.key, 1000)]),
        v1.event(stake(Role::Validator, 300)),
        v2.event(stake(Role::Validator, 700)),
        c.batch("b1"), // leaf 3
    ];
    let finding = |v: &Actor| Entry::Audit {
        validator: v.key,
        report: Ok(masa_rewards::AuditClaims {
            epoch: None,
            weights: Default::default(),
            findings: vec![("refetch".into(), "b1".into())],
        }),
    };
    log.push(finding(&v1)); // leaf 4: 30 % of stake
    let slash = |a: &Actor, reports: Vec<u64>| {
        a.rejected(Event::Slash {
            offender: c.key,
            offence: Offence::Fabrication,
            evidence: Evidence::Attested {
                batch_leaf: 3,
                reports,
            },
        })
    };
    log.push(slash(&v1, vec![4]));
    let s = fold(ORIGIN, &log);
    assert!(
        s.rejections[0].reason.contains("below κ"),
        "{:?}",
        s.rejections
    );
    log.push(finding(&v2)); // leaf 6: now 100 %
    log.push(slash(&v1, vec![4, 6]));
    let s = fold(ORIGIN, &log);
    assert_eq!(s.rejections.len(), 1, "{:?}", s.rejections);
    assert!(s.slashed_batches.contains(&3));
}

/// One random step of a protocol run over four actors.
#[derive(Debug, Clone)]
enum Step {
    Stake(usize, u8, u64),
    Unstake(usize, u8, u64),
    Transfer(usize, usize, u64),
    Fee(usize, u64),
    Usage(usize, u64),
    Close(usize, u64),
    Batch(usize),
    Report(usize, u64, Vec<(usize, u64)>),
    Replay(usize),
    Garbage,
    Slash(usize, usize, u64, u64),
}

fn step() -> impl Strategy<Value = Step> {
    let actor = 0usize..4;
    let role = 0u8..3;
    prop_oneof![
        (actor.clone(), role.clone(), 0u64..600).prop_map(|(a, r, x)| Step::Stake(a, r, x)),
        (actor.clone(), role, 0u64..600).prop_map(|(a, r, x)| Step::Unstake(a, r, x)),
        (actor.clone(), actor.clone(), 0u64..600).prop_map(|(a, b, x)| Step::Transfer(a, b, x)),
        (actor.clone(), 0u64..600).prop_map(|(a, x)| Step::Fee(a, x)),
        (actor.clone(), 0u64..600).prop_map(|(a, x)| Step::Usage(a, x)),
        (actor.clone(), 0u64..6).prop_map(|(a, e)| Step::Close(a, e)),
        actor.clone().prop_map(Step::Batch),
        (
            actor.clone(),
            0u64..6,
            proptest::collection::vec((0usize..4, 0u64..100), 0..4)
        )
            .prop_map(|(a, e, w)| Step::Report(a, e, w)),
        actor.clone().prop_map(Step::Replay),
        Just(Step::Garbage),
        (actor.clone(), actor, 0u64..40, 0u64..40).prop_map(|(a, b, l, m)| Step::Slash(a, b, l, m)),
    ]
}

fn build(steps: &[Step]) -> Vec<Entry> {
    let mut actors: Vec<Actor> = (10..14).map(Actor::new).collect();
    let keys: Vec<Key> = actors.iter().map(|a| a.key).collect();
    let mut p = params(5);
    p.unbonding_epochs = 1;
    p.min_stake.validator = Amount::masa(50);
    let balances: Vec<(Key, u64)> = keys.iter().map(|k| (*k, 1000)).collect();
    let mut log = vec![genesis(&mut actors[0], p, &balances)];
    let role = |r: u8| [Role::Validator, Role::Worker, Role::Oracle][r as usize];
    for s in steps {
        let e = match s.clone() {
            Step::Stake(a, r, x) => actors[a].event(stake(role(r), x)),
            Step::Unstake(a, r, x) => actors[a].event(Event::Unstake {
                role: role(r),
                amount: Amount::masa(x),
            }),
            Step::Transfer(a, b, x) => actors[a].event(Event::Transfer {
                to: keys[b],
                amount: Amount::masa(x),
            }),
            Step::Fee(a, x) => actors[a].event(Event::Fee {
                amount: Amount::masa(x),
            }),
            Step::Usage(a, x) => actors[a].event(Event::Usage {
                key: format!("k{}", x % 3),
                queries: x,
                records: x / 2,
                bytes: x * 100,
                fee: Amount::masa(x / 4),
            }),
            Step::Close(a, e) => actors[a].event(Event::CloseEpoch { epoch: e }),
            Step::Batch(a) => actors[a].batch(&format!("b{}", log.len())),
            Step::Report(a, e, w) => actors[a].report(
                e,
                &w.iter().map(|(i, x)| (keys[*i], *x)).collect::<Vec<_>>(),
            ),
            Step::Replay(a) => actors[a].at_nonce(1, stake(Role::Worker, 1)),
            Step::Garbage => Entry::Event(Err("malformed event: garbage".into())),
            Step::Slash(a, b, l, m) => actors[a].event(Event::Slash {
                offender: keys[b],
                offence: Offence::Equivocation,
                evidence: Evidence::Reports {
                    first: l,
                    second: m,
                },
            }),
        };
        log.push(e);
    }
    log
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_hold_after_every_step_and_rejections_change_nothing(
        steps in proptest::collection::vec(step(), 0..80)
    ) {
        let log = build(&steps);
        let mut s = State::new(ORIGIN);
        for e in &log {
            let before = s.clone();
            match s.apply(e) {
                Outcome::Applied => {}
                Outcome::Rejected(reason) => prop_assert_eq!(&s, &as_if_rejected(&before, &reason)),
            }
            prop_assert!(s.check_invariants().is_ok(), "{:?}", s.check_invariants());
            // Unbonding stays slashable: it is counted in the supply until released.
            prop_assert_eq!(s.supply(), Amount(s.genesis_supply.0 + s.minted.0 - s.burned.0));
        }
    }

    #[test]
    fn the_same_log_folds_to_the_same_hash_anywhere(steps in proptest::collection::vec(step(), 0..60)) {
        let log = build(&steps);
        let here = fold(ORIGIN, &log).hash();
        let log2 = log.clone();
        let there = std::thread::spawn(move || fold(ORIGIN, &log2).hash()).join().unwrap();
        prop_assert_eq!(here, there);
    }

}

#[test]
fn order_decides_between_conflicting_events() {
    // A pays B, then B stakes what it received: valid. B staking first has nothing to stake.
    let (mut g, a, b) = (Actor::new(1), Actor::new(2), Actor::new(3));
    let start = genesis(&mut g, params(8), &[(a.key, 100)]);
    let pay = a.at_nonce(
        1,
        Event::Transfer {
            to: b.key,
            amount: Amount::masa(100),
        },
    );
    let st = b.at_nonce(1, stake(Role::Worker, 100));
    let ok = fold(ORIGIN, &[start.clone(), pay.clone(), st.clone()]);
    let bad = fold(ORIGIN, &[start, st, pay]);
    assert!(ok.rejections.is_empty());
    assert_eq!(bad.rejections.len(), 1);
    assert!(bad.rejections[0].reason.contains("its balance is 0"));
    assert_ne!(ok.hash(), bad.hash());
}

#[test]
fn numbers_at_their_limits_are_refused_or_saturate_and_never_panic() {
    let (mut g, mut v, c) = (Actor::new(1), Actor::new(2), Actor::new(3));
    // A genesis past the maximum supply is refused.
    let mut s = State::new(ORIGIN);
    let too_much = g.rejected(Event::Genesis {
        params: Box::new(params(4)),
        allocations: [
            (v.key, Amount(masa_rewards::MAX_SUPPLY)),
            (c.key, Amount(1)),
        ]
        .into_iter()
        .collect(),
    });
    assert!(matches!(s.apply(&too_much), Outcome::Rejected(r) if r.contains("maximum supply")));
    // Parameters out of their bounds are refused.
    for edit in [
        (|p: &mut masa_rewards::Params| p.epoch_length = u64::MAX) as fn(&mut masa_rewards::Params),
        |p| p.unbonding_epochs = u64::MAX,
        |p| p.emission_per_epoch = Amount(u128::MAX),
        |p| p.governance.decision_epochs = u64::MAX,
        |p| p.governance.conviction[6].multiplier_tenths = u32::MAX,
    ] {
        let mut p = params(4);
        edit(&mut p);
        assert!(p.validate().is_err());
    }
    // Weights of u64::MAX from a validator do not stop the epoch from closing.
    let log = vec![
        genesis(&mut g, params(3), &[(v.key, 1000), (c.key, 1000)]),
        v.event(stake(Role::Validator, 500)),
        filler(),
        v.report(0, &[(c.key, u64::MAX), (g.key, u64::MAX)]),
        g.event(Event::CloseEpoch { epoch: 0 }),
    ];
    let s = fold(ORIGIN, &log);
    assert_eq!(s.closed, 1, "{:?}", s.rejections);
    s.check_invariants().unwrap();
}

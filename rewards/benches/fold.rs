//! The fold's speed: 1M mixed protocol events folded on one core, event decoding with
//! signature checks, and closing an epoch of 256 validators × 10,000 contributors.
//!
//! Run: `cargo bench -p masa-rewards --bench fold` (MASA_BENCH_EVENTS sets the event count,
//! MASA_BENCH_VALIDATORS and MASA_BENCH_CONTRIBUTORS the epoch's size).

use ed25519_dalek::{Signer, SigningKey};
use masa_rewards::event::{Body, EVENT_VERSION, decode_event};
use masa_rewards::{Amount, AuditClaims, Entry, Event, Key, Outcome, Params, Role, State};
use std::collections::BTreeMap;
use std::time::Instant;

const ORIGIN: &str = "masa/dataset/bench";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(i: u64) -> Key {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&i.to_be_bytes());
    k[8] = 1;
    Key(k)
}

fn body(actor: Key, nonce: u64, event: Event) -> Entry {
    Entry::Event(Ok(Body {
        v: EVENT_VERSION,
        origin: ORIGIN.into(),
        actor,
        nonce,
        event,
    }))
}

/// xorshift, so the event mix is the same every run.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn main() {
    let n = env("MASA_BENCH_EVENTS", 1_000_000);
    let actors = 10_000u64;
    let params = Params {
        epoch_length: 10_000,
        ..Params::default()
    };
    let allocations: BTreeMap<Key, Amount> = (0..actors)
        .map(|i| (key(i), Amount::masa(1_000_000)))
        .collect();
    let mut nonces = vec![0u64; actors as usize];
    let mut log = Vec::with_capacity(n);
    log.push(body(
        key(0),
        1,
        Event::Genesis {
            params: Box::new(params),
            allocations,
        },
    ));
    nonces[0] = 1;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut closable = 0;
    // The log is generated against a scratch fold, so that an event the fold rejects does
    // not consume its actor's nonce (and leave all its later events rejected too).
    let mut scratch = State::new(ORIGIN);
    scratch.apply(&log[0]);
    while log.len() < n {
        let r = next(&mut x);
        let a = (r % actors) as usize;
        let kind = (r >> 32) % 100;
        let leaf = log.len() as u64;
        let entry = match kind {
            // Batches and audits are the log's everyday leaves.
            0..=29 => Entry::Batch {
                batch_id: format!("b{leaf}"),
                contributor: key(a as u64),
                manifest_sha256: String::new(),
                signed: true,
            },
            30..=31 => Entry::Audit {
                validator: key(a as u64),
                report: Ok(AuditClaims::default()),
            },
            _ if leaf / 10_000 > closable && kind == 99 => {
                nonces[a] += 1;
                closable += 1;
                body(
                    key(a as u64),
                    nonces[a],
                    Event::CloseEpoch {
                        epoch: closable - 1,
                    },
                )
            }
            _ => {
                nonces[a] += 1;
                let amount = Amount::masa(1 + (r >> 40) % 10);
                let event = match kind {
                    32..=59 => Event::Stake {
                        role: Role::Worker,
                        amount,
                    },
                    60..=74 => Event::Unstake {
                        role: Role::Worker,
                        amount,
                    },
                    _ => Event::Transfer {
                        to: key((r >> 20) % actors),
                        amount,
                    },
                };
                body(key(a as u64), nonces[a], event)
            }
        };
        if let (Outcome::Rejected(_), Entry::Event(Ok(b))) = (scratch.apply(&entry), &entry) {
            nonces[a] = b.nonce - 1;
            if matches!(b.event, Event::CloseEpoch { .. }) {
                closable -= 1;
            }
        }
        log.push(entry);
    }

    let started = Instant::now();
    let mut s = State::new(ORIGIN);
    let mut rejected = 0;
    for e in &log {
        if let Outcome::Rejected(_) = s.apply(e) {
            rejected += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let hash_started = Instant::now();
    let hash = s.hash_hex();
    let hash_secs = hash_started.elapsed().as_secs_f64();
    println!(
        "fold: {n} events ({rejected} rejected, {} epochs closed) in {secs:.2} s: {:.0} events/s on one core; state hash {} in {:.3} s",
        s.closed,
        n as f64 / secs,
        &hash[..16],
        hash_secs
    );

    // Decoding with the signature check, which readers do once per leaf before folding.
    let sk = SigningKey::from_bytes(&[7; 32]);
    let actor = Key(sk.verifying_key().to_bytes());
    let signed: Vec<(String, String)> = (1..=20_000u64)
        .map(|nonce| {
            let b = Body {
                v: EVENT_VERSION,
                origin: ORIGIN.into(),
                actor,
                nonce,
                event: Event::Stake {
                    role: Role::Validator,
                    amount: Amount::masa(nonce),
                },
            };
            let text = b.encode();
            let sig = hex::encode(sk.sign(&Body::signing_bytes(&text)).to_bytes());
            (text, sig)
        })
        .collect();
    let started = Instant::now();
    let ok = signed
        .iter()
        .filter(|(t, s)| decode_event(t, s).is_ok())
        .count();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "decode + verify: {ok} events in {secs:.2} s: {:.0} events/s on one core",
        ok as f64 / secs
    );

    // One epoch close: every validator weights every contributor.
    let v = env("MASA_BENCH_VALIDATORS", 256) as u64;
    let m = env("MASA_BENCH_CONTRIBUTORS", 10_000) as u64;
    let params = Params {
        epoch_length: 1,
        ..Params::default()
    };
    let everyone: BTreeMap<Key, Amount> =
        (0..v + m).map(|i| (key(i), Amount::masa(1000))).collect();
    let mut s = State::new(ORIGIN);
    s.apply(&body(
        key(0),
        1,
        Event::Genesis {
            params: Box::new(params),
            allocations: everyone,
        },
    ));
    for i in 0..v + m {
        let role = if i < v { Role::Validator } else { Role::Worker };
        // key(0) signed the genesis with its nonce 1.
        let n = if i == 0 { 2 } else { 1 };
        assert_eq!(
            s.apply(&body(
                key(i),
                n,
                Event::Stake {
                    role,
                    amount: Amount::masa(100 + i % 900)
                }
            )),
            Outcome::Applied
        );
    }
    let mut y = 12345u64;
    for i in 0..v {
        let weights: BTreeMap<Key, u64> =
            (v..v + m).map(|j| (key(j), next(&mut y) % 1000)).collect();
        let out = s.apply(&Entry::Audit {
            validator: key(i),
            report: Ok(AuditClaims {
                epoch: Some(0),
                weights,
                findings: vec![],
            }),
        });
        assert_eq!(out, Outcome::Applied);
    }
    for round in 0..2 {
        let epoch = s.closed;
        let closer = key(v + 1);
        let n = s.account(&closer).unwrap().nonce + 1;
        let started = Instant::now();
        let out = s.apply(&body(closer, n, Event::CloseEpoch { epoch }));
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(out, Outcome::Applied);
        println!(
            "epoch close {round} ({}): {v} validators x {m} contributors in {secs:.3} s",
            if round == 0 {
                "no bonds yet"
            } else {
                "with bonds, no new reports"
            }
        );
    }
}

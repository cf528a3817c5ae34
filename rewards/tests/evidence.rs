//! Slashing evidence the fold re-checks on its own: a consent violation proven by a row of
//! a really signed batch (its leaf bytes and Merkle path under the signed root), and an
//! invalid manifest; and evidence that does not hold is rejected with its reason.

mod common;

use common::*;
use masa_provenance::{ContributorKey, Tree, leaf_hash};
use masa_record::{BatchManifest, Consent, Record};
use masa_rewards::{Amount, Entry, Event, Evidence, Offence, Outcome, Role, State};

fn record(i: i64, contributor: &str, consent: Consent) -> Record {
    let text = format!("page number {i} of a crawled site");
    let hash = masa_record::content_hash(&text);
    let uri = format!("https://example.org/{i}");
    Record {
        record_id: masa_record::record_id(contributor, &uri, &hash),
        content_hash: hash,
        source: "web".into(),
        uri,
        fetched_at_micros: 1_700_000_000_000_000 + i,
        http_status: Some(200),
        content_type: Some("text/html".into()),
        title: None,
        text,
        lang: None,
        lang_score: None,
        quality_score: None,
        quality_signals: None,
        licence: None,
        consent,
        contributor: contributor.into(),
        batch_id: "batch-1".into(),
        row_in_batch: i,
        near_dup_of: None,
    }
}

fn web(robots: &str, overridden: bool) -> Consent {
    Consent {
        basis: masa_record::ConsentBasis::PublisherSignals,
        robots: Some(robots.into()),
        robots_rule: Some("Disallow: /".into()),
        tdm_reserved: None,
        tdm_policy: None,
        noai: None,
        declaration: None,
        overridden,
    }
}

struct Batch {
    manifest: String,
    rows: Vec<Record>,
    tree: Tree,
}

/// A batch of four rows signed by `key`: row 1 was refused by robots.txt without an
/// override, row 2 with one.
fn signed_batch(key: &ContributorKey, tamper: bool) -> Batch {
    let c = key.public_hex();
    let rows = vec![
        record(0, &c, web("allowed", false)),
        record(1, &c, web("disallowed", false)),
        record(2, &c, web("disallowed", true)),
        record(3, &c, web("allowed", false)),
    ];
    let mut tree = Tree::new();
    for r in &rows {
        tree.push(leaf_hash(&r.leaf_bytes()));
    }
    let m = BatchManifest {
        batch_id: "batch-1".into(),
        app_id: "app".into(),
        sequence: 1,
        contributor: c,
        connector: "web".into(),
        connector_version: "0".into(),
        schema_version: 1,
        files: vec![],
        index_split: None,
        rows: rows.len() as u64,
        text_bytes: 0,
        rows_root: hex::encode(tree.root()),
        consent_summary: Default::default(),
        created_at_micros: 1,
        log_checkpoint: None,
    };
    let mut signed = key.sign(m);
    if tamper {
        signed.manifest.rows = 5;
    }
    Batch {
        manifest: serde_json::to_string_pretty(&signed).unwrap(),
        rows,
        tree,
    }
}

fn row_evidence(b: &Batch, row: usize) -> Evidence {
    let proof = b
        .tree
        .inclusion_proof(row as u64, b.rows.len() as u64)
        .unwrap();
    Evidence::Row {
        batch_leaf: 3,
        manifest: b.manifest.clone(),
        row_leaf: hex::encode(b.rows[row].leaf_bytes()),
        proof: proof.iter().map(hex::encode).collect(),
    }
}

/// genesis, the contributor's stake, a validator's stake, then the batch leaf (leaf 3).
fn setup(batch: &Batch) -> (State, Actor, Actor) {
    let (mut g, mut c, mut v) = (Actor::new(1), Actor::new(5), Actor::new(6));
    let mut s = State::new(ORIGIN);
    for e in [
        genesis(&mut g, params(64), &[(c.key, 100), (v.key, 1000)]),
        c.event(Event::Stake {
            role: Role::Worker,
            amount: Amount::masa(100),
        }),
        v.event(Event::Stake {
            role: Role::Validator,
            amount: Amount::masa(500),
        }),
    ] {
        assert_eq!(s.apply(&e), Outcome::Applied);
    }
    let entry = match c.batch("batch-1") {
        Entry::Batch {
            batch_id,
            contributor,
            signed,
            ..
        } => Entry::Batch {
            batch_id,
            contributor,
            manifest_sha256: masa_record::sha256_hex(batch.manifest.as_bytes()),
            signed,
        },
        _ => unreachable!(),
    };
    assert_eq!(s.apply(&entry), Outcome::Applied);
    (s, c, v)
}

fn slash(v: &mut Actor, c: &Actor, offence: Offence, evidence: Evidence) -> Entry {
    v.event(Event::Slash {
        offender: c.key,
        offence,
        evidence,
    })
}

#[test]
fn a_refused_row_of_a_signed_batch_is_slashed_for_consent() {
    let key = ContributorKey::from_seed([5; 32]);
    let b = signed_batch(&key, false);
    let (mut s, c, mut v) = setup(&b);
    let out = s.apply(&slash(
        &mut v,
        &c,
        Offence::ConsentViolation,
        row_evidence(&b, 1),
    ));
    assert_eq!(out, Outcome::Applied);
    // 20 % of the 100 staked is burned; the batch earns nothing from now on.
    assert_eq!(
        s.account(&c.key).unwrap().staked(Role::Worker),
        Amount::masa(80)
    );
    assert_eq!(s.burned, Amount::masa(20));
    assert!(s.slashed_batches.contains(&3));
    s.check_invariants().unwrap();
}

#[test]
fn consent_evidence_that_does_not_hold_is_rejected() {
    let key = ContributorKey::from_seed([5; 32]);
    let b = signed_batch(&key, false);
    let (s, c, v) = setup(&b);
    let try_slash = |evidence: Evidence| {
        let mut s = s.clone();
        let mut v = Actor {
            nonce: v.nonce,
            ..Actor::new(6)
        };
        match s.apply(&slash(&mut v, &c, Offence::ConsentViolation, evidence)) {
            Outcome::Rejected(r) => r,
            Outcome::Applied => panic!("applied"),
        }
    };
    assert!(try_slash(row_evidence(&b, 0)).contains("records no refusal"));
    assert!(try_slash(row_evidence(&b, 2)).contains("records no refusal"));
    // Row 1's bytes with row 0's path.
    let mut wrong = row_evidence(&b, 1);
    if let (Evidence::Row { proof, .. }, Evidence::Row { proof: p0, .. }) =
        (&mut wrong, row_evidence(&b, 0))
    {
        *proof = p0;
    }
    assert!(try_slash(wrong).contains("not under the manifest's signed root"));
    // Another manifest than the leaf names.
    let mut other = row_evidence(&b, 1);
    if let Evidence::Row { manifest, .. } = &mut other {
        manifest.push(' ');
    }
    assert!(try_slash(other).contains("not the one the leaf"));
    // The wrong offence for the evidence.
    let mut s2 = s.clone();
    let mut v2 = Actor {
        nonce: v.nonce,
        ..Actor::new(6)
    };
    let out = s2.apply(&slash(
        &mut v2,
        &c,
        Offence::Fabrication,
        row_evidence(&b, 1),
    ));
    assert!(matches!(out, Outcome::Rejected(r) if r.contains("cannot be shown by row evidence")));
}

#[test]
fn an_invalid_manifest_is_slashed_and_a_valid_one_is_not() {
    let key = ContributorKey::from_seed([5; 32]);
    let bad = signed_batch(&key, true);
    let (mut s, c, mut v) = setup(&bad);
    let evidence = |b: &Batch| Evidence::Manifest {
        batch_leaf: 3,
        manifest: b.manifest.clone(),
    };
    assert_eq!(
        s.apply(&slash(&mut v, &c, Offence::InvalidManifest, evidence(&bad))),
        Outcome::Applied
    );
    assert_eq!(
        s.account(&c.key).unwrap().staked(Role::Worker),
        Amount::masa(90)
    );

    let good = signed_batch(&key, false);
    let (mut s, c, mut v) = setup(&good);
    let out = s.apply(&slash(
        &mut v,
        &c,
        Offence::InvalidManifest,
        evidence(&good),
    ));
    assert!(matches!(out, Outcome::Rejected(r) if r.contains("validly signed: no offence")));
    // A consent slash needs a valid manifest: a broken one is another offence.
    let (mut s, c, mut v) = setup(&bad);
    let out = s.apply(&slash(
        &mut v,
        &c,
        Offence::ConsentViolation,
        row_evidence(&bad, 1),
    ));
    assert!(matches!(out, Outcome::Rejected(r) if r.contains("use invalid_manifest")));
}

//! The fold: one entry point, [`State::apply`], that takes the next log leaf and either
//! applies it or records why it was rejected. No clock, no randomness, no IO; every map is
//! ordered. Each event is fully validated before anything is written, so a rejected leaf
//! changes nothing but the leaf count and the record of its rejection. (`apply` takes
//! `&mut State` rather than returning a new state: copying the state per event would cost
//! more than the event.)

use crate::event::{Body, Entry, Event, Evidence};
use crate::state::{AuditRef, BatchRef, Rejection, Report, Span, State, Unbonding};
use crate::{Amount, Key, Offence, Role};

/// What one leaf did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Rejected(String),
}

/// The checks that count as a content mismatch when validators attest them.
pub const CONTENT_CHECKS: [&str; 6] = [
    "content hash",
    "file sha256",
    "batch root",
    "record id",
    "row count",
    "row identity",
];
/// The check that counts as fabrication when validators attest it.
pub const FABRICATION_CHECK: &str = "refetch";

impl State {
    /// Folds the next leaf of the log.
    pub fn apply(&mut self, entry: &Entry) -> Outcome {
        let leaf = self.leaves;
        self.roll_spans(leaf);
        let result = match entry {
            Entry::Batch {
                batch_id,
                contributor,
                manifest_sha256,
                signed,
            } => {
                if *signed {
                    let epoch = self.current_epoch();
                    self.batches.insert(
                        leaf,
                        BatchRef {
                            batch_id: batch_id.clone(),
                            contributor: *contributor,
                            manifest_sha256: manifest_sha256.clone(),
                            epoch,
                        },
                    );
                    Ok(())
                } else {
                    Err(format!(
                        "batch {batch_id}: the leaf is not signed by its contributor {}, so it earns nothing",
                        contributor.short()
                    ))
                }
            }
            Entry::Audit { validator, report } => match report {
                Err(reason) => Err(format!("audit report of {}: {reason}", validator.short())),
                Ok(claims) => self.audit(leaf, *validator, claims),
            },
            Entry::Event(Err(reason)) => Err(reason.clone()),
            Entry::Event(Ok(body)) => self.event(leaf, body),
            Entry::Unknown { reason } => Err(reason.clone()),
        };
        self.leaves += 1;
        match result {
            Ok(()) => Outcome::Applied,
            Err(reason) => {
                self.rejections.push(Rejection {
                    leaf,
                    reason: reason.clone(),
                });
                Outcome::Rejected(reason)
            }
        }
    }

    /// Starts the next epoch when `leaf` is past the current one's end. Epochs follow each
    /// other whether or not the previous one is closed: their spans are fixed by the log.
    fn roll_spans(&mut self, leaf: u64) {
        let Some(params) = &self.params else { return };
        if let Some(last) = self.spans.last().copied()
            && leaf >= last.end
        {
            self.spans.push(Span {
                start: last.end,
                end: last.end + params.epoch_length,
            });
        }
    }

    fn audit(
        &mut self,
        leaf: u64,
        validator: Key,
        claims: &crate::event::AuditClaims,
    ) -> Result<(), String> {
        let digest = claims.weights_digest();
        let mut count_weights = false;
        if let Some(n) = claims.epoch {
            if self.params.is_none() {
                return Err("weights before the genesis event are not counted".into());
            }
            let span = self
                .spans
                .get(n as usize)
                .ok_or_else(|| format!("weights for epoch {n}, which has not started"))?;
            if span.end > leaf {
                return Err(format!(
                    "weights for epoch {n}, which has not ended (it ends at leaf {})",
                    span.end
                ));
            }
            if n < self.closed {
                return Err(format!("weights for epoch {n}, which is already closed"));
            }
            match self.reports.get(&n).and_then(|r| r.get(&validator)) {
                Some(earlier) => {
                    let same =
                        self.audits.get(&earlier.leaf).map(|a| a.weights_digest) == Some(digest);
                    if same {
                        return Err(format!(
                            "the same weights of {} for epoch {n} are already counted (leaf {})",
                            validator.short(),
                            earlier.leaf
                        ));
                    }
                    // A second, different report for one epoch: equivocation. Neither
                    // counts; the two leaves are the evidence for a slash.
                    self.reports
                        .get_mut(&n)
                        .expect("just read")
                        .remove(&validator);
                    self.equivocated.insert((validator, n));
                }
                None => count_weights = !self.equivocated.contains(&(validator, n)),
            }
        }
        self.audits.insert(
            leaf,
            AuditRef {
                validator,
                epoch: claims.epoch,
                weights_digest: digest,
                findings: claims.findings.iter().cloned().collect(),
            },
        );
        if count_weights && let Some(n) = claims.epoch {
            self.reports.entry(n).or_default().insert(
                validator,
                Report {
                    leaf,
                    weights: claims.weights.clone(),
                },
            );
        }
        Ok(())
    }

    fn event(&mut self, leaf: u64, body: &Body) -> Result<(), String> {
        if body.origin != self.origin {
            return Err(format!(
                "the event is signed for log {:?}, not this one ({:?})",
                body.origin, self.origin
            ));
        }
        let actor = body.actor;
        let last = self.accounts.get(&actor).map_or(0, |a| a.nonce);
        if body.nonce != last + 1 {
            return Err(if body.nonce <= last {
                format!(
                    "nonce {} of {} was already used (replay): the next is {}",
                    body.nonce,
                    actor.short(),
                    last + 1
                )
            } else {
                format!(
                    "nonce {} of {} skips ahead: the next is {}",
                    body.nonce,
                    actor.short(),
                    last + 1
                )
            });
        }
        if let Event::Genesis {
            params,
            allocations,
        } = &body.event
        {
            if let Some(g) = self.genesis_leaf {
                return Err(format!("the protocol already has its genesis (leaf {g})"));
            }
            params.validate()?;
            let mut total = Amount::ZERO;
            for a in allocations.values() {
                total = total
                    .checked_add(*a)
                    .ok_or("the genesis allocations overflow")?;
            }
            for (k, a) in allocations {
                self.accounts.entry(*k).or_default().balance = *a;
            }
            self.genesis_supply = total;
            self.spans = vec![Span {
                start: 0,
                end: leaf + params.epoch_length,
            }];
            self.params = Some(params.clone());
            self.genesis_leaf = Some(leaf);
            self.bump(actor);
            return Ok(());
        }
        let Some(params) = &self.params else {
            return Err("the protocol has no genesis yet (masa init-protocol)".into());
        };
        match &body.event {
            Event::Genesis { .. } => unreachable!("handled above"),
            Event::Stake { role, amount } => {
                positive(*amount)?;
                let balance = self
                    .accounts
                    .get(&actor)
                    .map_or(Amount::ZERO, |a| a.balance);
                let rest = balance.checked_sub(*amount).ok_or_else(|| {
                    format!(
                        "{} cannot stake {amount}: its balance is {balance}",
                        actor.short()
                    )
                })?;
                let a = self.accounts.entry(actor).or_default();
                a.balance = rest;
                let s = a.stake.entry(*role).or_default();
                *s = s.checked_add(*amount).ok_or("stake overflows")?;
            }
            Event::Unstake { role, amount } => {
                positive(*amount)?;
                let staked = self
                    .accounts
                    .get(&actor)
                    .map_or(Amount::ZERO, |a| a.staked(*role));
                let rest = staked.checked_sub(*amount).ok_or_else(|| {
                    format!(
                        "{} cannot unstake {amount} as {}: its stake is {staked}",
                        actor.short(),
                        role.name()
                    )
                })?;
                let release_epoch = self.current_epoch() + params.unbonding_epochs;
                let a = self.accounts.get_mut(&actor).expect("has stake");
                set_stake(a, *role, rest);
                a.unbonding.push(Unbonding {
                    role: *role,
                    amount: *amount,
                    release_epoch,
                });
            }
            Event::Transfer { to, amount } => {
                positive(*amount)?;
                if *to == actor {
                    return Err("a transfer to oneself".into());
                }
                let balance = self
                    .accounts
                    .get(&actor)
                    .map_or(Amount::ZERO, |a| a.balance);
                let rest = balance.checked_sub(*amount).ok_or_else(|| {
                    format!(
                        "{} cannot transfer {amount}: its balance is {balance}",
                        actor.short()
                    )
                })?;
                let to_balance = self.accounts.get(to).map_or(Amount::ZERO, |a| a.balance);
                let credited = to_balance.checked_add(*amount).ok_or("balance overflows")?;
                self.accounts
                    .get_mut(&actor)
                    .expect("has a balance")
                    .balance = rest;
                self.accounts.entry(*to).or_default().balance = credited;
            }
            Event::CloseEpoch { epoch } => {
                let n = *epoch;
                if n < self.closed {
                    return Err(format!("epoch {n} is already closed"));
                }
                if n > self.closed {
                    return Err(format!(
                        "epoch {n} cannot close before epoch {}",
                        self.closed
                    ));
                }
                let span = self.spans[n as usize];
                if span.end > leaf {
                    return Err(format!(
                        "epoch {n} has not ended: it ends at leaf {}, this is leaf {leaf}",
                        span.end
                    ));
                }
                let result = crate::epoch::close(self, n, leaf)?;
                crate::epoch::commit(self, result);
            }
            Event::Slash {
                offender,
                offence,
                evidence,
            } => {
                let subject = self.check_evidence(*offender, *offence, evidence)?;
                self.slash(*offender, *offence, subject);
            }
        }
        self.bump(actor);
        Ok(())
    }

    fn bump(&mut self, actor: Key) {
        self.accounts.entry(actor).or_default().nonce += 1;
    }

    fn batch(&self, leaf: u64, offender: Key) -> Result<&BatchRef, String> {
        let b = self
            .batches
            .get(&leaf)
            .ok_or_else(|| format!("leaf {leaf} is not a signed batch leaf"))?;
        if b.contributor != offender {
            return Err(format!(
                "batch {} was logged by {}, not by the offender {}",
                b.batch_id,
                b.contributor.short(),
                offender.short()
            ));
        }
        Ok(b)
    }

    /// Re-checks the evidence of an offence; returns the subject it slashes (so the same
    /// evidence is used once).
    fn check_evidence(
        &self,
        offender: Key,
        offence: Offence,
        evidence: &Evidence,
    ) -> Result<String, String> {
        let subject = match (offence, evidence) {
            (
                Offence::InvalidManifest,
                Evidence::Manifest {
                    batch_leaf,
                    manifest,
                },
            ) => {
                let b = self.batch(*batch_leaf, offender)?;
                same_manifest(b, manifest)?;
                if let Ok(signed) = serde_json::from_str::<masa_record::SignedManifest>(manifest)
                    && signed.manifest.contributor == offender.hex()
                    && signed.manifest.batch_id == b.batch_id
                    && masa_provenance::verify_manifest(&signed).is_ok()
                {
                    return Err(format!(
                        "the manifest of batch {} is validly signed: no offence",
                        b.batch_id
                    ));
                }
                b.batch_id.clone()
            }
            (
                Offence::ConsentViolation,
                Evidence::Row {
                    batch_leaf,
                    manifest,
                    row_leaf,
                    proof,
                },
            ) => {
                let b = self.batch(*batch_leaf, offender)?;
                same_manifest(b, manifest)?;
                let signed: masa_record::SignedManifest =
                    serde_json::from_str(manifest).map_err(|e| {
                        format!("the manifest is not readable ({e}): use invalid_manifest")
                    })?;
                masa_provenance::verify_manifest(&signed).map_err(|_| {
                    "the manifest's signature does not verify: use invalid_manifest".to_string()
                })?;
                let m = &signed.manifest;
                let bytes = hex::decode(row_leaf).map_err(|_| "row_leaf is not hex".to_string())?;
                let fields = masa_record::LeafFields::parse(&bytes)
                    .ok_or("row_leaf is not a row leaf's bytes")?;
                if fields.batch_id != b.batch_id || fields.contributor != offender.hex() {
                    return Err("the row is not of this batch and contributor".into());
                }
                let proof: Vec<[u8; 32]> = proof
                    .iter()
                    .map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
                    .collect::<Option<_>>()
                    .ok_or("a proof hash is not 32 bytes of hex")?;
                let root: [u8; 32] = hex::decode(&m.rows_root)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or("the manifest's rows_root is not a hash")?;
                let index = u64::try_from(fields.row_in_batch).map_err(|_| "negative row")?;
                masa_provenance::verify_inclusion(
                    &masa_provenance::leaf_hash(&bytes),
                    index,
                    m.rows,
                    &proof,
                    &root,
                )
                .map_err(|_| "the row is not under the manifest's signed root".to_string())?;
                let consent: masa_record::Consent = serde_json::from_str(&fields.consent_json)
                    .map_err(|e| format!("the row's consent is not readable: {e}"))?;
                let refused = consent.robots.as_deref() == Some("disallowed")
                    || consent.tdm_reserved == Some(true)
                    || consent.noai == Some(true);
                if !refused || consent.overridden {
                    return Err(format!(
                        "row {} records no refusal without an override: no offence",
                        fields.row_in_batch
                    ));
                }
                format!("{}:{}", b.batch_id, fields.row_in_batch)
            }
            (
                Offence::ContentMismatch | Offence::Fabrication,
                Evidence::Attested {
                    batch_leaf,
                    reports,
                },
            ) => {
                let b = self.batch(*batch_leaf, offender)?;
                let checks: &[&str] = if offence == Offence::Fabrication {
                    &[FABRICATION_CHECK]
                } else {
                    &CONTENT_CHECKS
                };
                let params = self.params.as_ref().expect("checked by the caller");
                let min = params.min_stake.validator;
                let permitted = |k: &Key| {
                    let s = self
                        .accounts
                        .get(k)
                        .map_or(Amount::ZERO, |a| a.staked(Role::Validator));
                    if s >= min { s } else { Amount::ZERO }
                };
                let mut seen = std::collections::BTreeSet::new();
                let mut attested = 0u128;
                for leaf in reports {
                    let a = self
                        .audits
                        .get(leaf)
                        .ok_or_else(|| format!("leaf {leaf} is not an audit report"))?;
                    if !checks
                        .iter()
                        .any(|c| a.findings.contains(&((*c).to_owned(), b.batch_id.clone())))
                    {
                        return Err(format!(
                            "the report at leaf {leaf} has no {} finding for batch {}",
                            checks.join("/"),
                            b.batch_id
                        ));
                    }
                    if seen.insert(a.validator) {
                        attested += permitted(&a.validator).0;
                    }
                }
                let total: u128 = self.accounts.keys().map(|k| permitted(k).0).sum();
                // attested / total ≥ κ, in integers.
                if total == 0 || attested * 1_000_000 < u128::from(params.kappa_ppm) * total {
                    return Err(format!(
                        "the attesting validators hold {attested} of {total} permitted stake, below κ"
                    ));
                }
                b.batch_id.clone()
            }
            (Offence::Equivocation, Evidence::Reports { first, second }) => {
                let get = |l: &u64| {
                    self.audits
                        .get(l)
                        .ok_or_else(|| format!("leaf {l} is not an audit report"))
                };
                let (a, b) = (get(first)?, get(second)?);
                if first == second || a.validator != offender || b.validator != offender {
                    return Err("the two reports must be different leaves of the offender".into());
                }
                let Some(n) = a.epoch.filter(|n| b.epoch == Some(*n)) else {
                    return Err("the two reports are not for the same epoch".into());
                };
                if a.weights_digest == b.weights_digest {
                    return Err("the two reports carry the same weights: no offence".into());
                }
                format!("epoch {n}")
            }
            (o, e) => {
                return Err(format!(
                    "{o:?} cannot be shown by {} evidence",
                    match e {
                        Evidence::Manifest { .. } => "manifest",
                        Evidence::Row { .. } => "row",
                        Evidence::Attested { .. } => "attested",
                        Evidence::Reports { .. } => "reports",
                    }
                ));
            }
        };
        if self.slashes.contains(&(offender, offence, subject.clone())) {
            return Err(format!(
                "{offence:?} of {} for {subject} is already slashed",
                offender.short()
            ));
        }
        Ok(subject)
    }

    /// Takes the offence's fraction of every stake and unbonding amount of `offender`.
    fn slash(&mut self, offender: Key, offence: Offence, subject: String) {
        let params = self.params.as_ref().expect("checked by the caller");
        let bps = params.slash_bps.get(offence);
        let to_treasury = params.slash_destination == crate::SlashDestination::Treasury;
        let mut taken = Amount::ZERO;
        if let Some(a) = self.accounts.get_mut(&offender) {
            for role in Role::ALL {
                let s = a.staked(role);
                let cut = s.bps(bps);
                taken.0 += cut.0;
                set_stake(a, role, s.saturating_sub(cut));
            }
            for u in &mut a.unbonding {
                let cut = u.amount.bps(bps);
                taken.0 += cut.0;
                u.amount = u.amount.saturating_sub(cut);
            }
            a.unbonding.retain(|u| !u.amount.is_zero());
        }
        if to_treasury {
            self.treasury.0 += taken.0;
        } else {
            self.burned.0 += taken.0;
        }
        if offence != Offence::Equivocation {
            let batch = subject.split(':').next().unwrap_or_default().to_owned();
            self.slashed_batches.insert(batch);
        }
        self.slashes.insert((offender, offence, subject));
    }
}

fn positive(a: Amount) -> Result<(), String> {
    if a.is_zero() {
        Err("the amount must be more than zero".into())
    } else {
        Ok(())
    }
}

fn same_manifest(b: &BatchRef, manifest: &str) -> Result<(), String> {
    if masa_record::sha256_hex(manifest.as_bytes()) != b.manifest_sha256 {
        return Err(format!(
            "the manifest given is not the one the leaf of batch {} names",
            b.batch_id
        ));
    }
    Ok(())
}

/// Sets a role's stake, dropping the entry at zero (so equal states hash equal).
pub(crate) fn set_stake(a: &mut crate::state::Account, role: Role, amount: Amount) {
    if amount.is_zero() {
        a.stake.remove(&role);
    } else {
        a.stake.insert(role, amount);
    }
}

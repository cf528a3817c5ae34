//! Slashing: re-checking the evidence of an offence as far as the log allows, and taking
//! the offence's fraction of the offender's stake.

use crate::event::Evidence;
use crate::fold::set_stake;
use crate::state::{BatchRef, State};
use crate::{Amount, Key, Offence, Role};

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

    /// Re-checks the evidence of an offence; returns the subject it slashes (so one offence
    /// is slashed once: per batch leaf, or per epoch for equivocation) and the batch leaf it
    /// is about.
    pub(crate) fn check_evidence(
        &self,
        offender: Key,
        offence: Offence,
        evidence: &Evidence,
    ) -> Result<(String, Option<u64>), String> {
        let batch_leaf = match evidence {
            Evidence::Manifest { batch_leaf, .. }
            | Evidence::Row { batch_leaf, .. }
            | Evidence::Attested { batch_leaf, .. } => Some(*batch_leaf),
            Evidence::Reports { .. } => None,
        };
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
                format!("leaf {batch_leaf}")
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
                // One slash per batch, however many of its rows were refused.
                format!("leaf {batch_leaf}")
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
                format!("leaf {batch_leaf}")
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
        Ok((subject, batch_leaf))
    }

    /// Takes the offence's fraction of every stake and unbonding amount of `offender`.
    pub(crate) fn slash(
        &mut self,
        offender: Key,
        offence: Offence,
        subject: String,
        batch_leaf: Option<u64>,
    ) {
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
        if let Some(leaf) = batch_leaf {
            self.slashed_batches.insert(leaf);
        }
        self.slashes.insert((offender, offence, subject));
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

//! Checkpoints as C2SP signed notes, so any tlog tooling can read them.
//!
//! A checkpoint's body is three lines: the log's origin, the tree size in decimal, and the
//! root hash in standard base64. A blank line follows, then one signature line per signer:
//! `— <name> <base64(key hash ‖ signature)>`. The key hash is the first four bytes of
//! SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key), 0x01 marking Ed25519; the signature is Ed25519
//! over the body, verified strictly. Masa names a signer `masa+<hex public key>`, so the
//! name alone says which key to check.

use crate::ContributorKey;
use crate::tree::Hash;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoteError {
    #[error("not a checkpoint note: {0}")]
    Format(String),
    #[error("no signature by a masa key on the checkpoint")]
    Unsigned,
    #[error("the signature of {name} does not verify: the checkpoint was altered or forged")]
    BadSignature { name: String },
}

/// The prefix of masa signer names; the rest is the hex public key.
const SIGNER_PREFIX: &str = "masa+";

impl Checkpoint {
    /// The note body the signatures cover.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// The signed note: body, blank line, `key`'s signature line.
    pub fn sign(&self, key: &ContributorKey) -> String {
        let body = self.body();
        let name = format!("{SIGNER_PREFIX}{}", key.public_hex());
        let mut blob = key_hash(&name, &key.public_bytes()).to_vec();
        blob.extend_from_slice(&key.sign_bytes(body.as_bytes()));
        format!("{body}\n\u{2014} {name} {}\n", B64.encode(blob))
    }

    /// Parses a signed note and verifies every masa signature on it; returns the checkpoint
    /// and the signers' public keys (hex). At least one masa signature is required; lines
    /// of other signers are kept but not checked (their keys are unknown here).
    pub fn open(note: &str) -> Result<(Checkpoint, Vec<String>), NoteError> {
        let fmt = |m: &str| NoteError::Format(m.to_owned());
        let (body, sigs) = note
            .split_once("\n\n")
            .ok_or_else(|| fmt("no blank line between the body and the signatures"))?;
        let body = format!("{body}\n");
        let mut lines = body.lines();
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| fmt("no origin line"))?;
        // Plain decimal: no sign, no leading zeros (one spelling per size).
        let size: u64 = lines
            .next()
            .filter(|l| l.bytes().all(|b| b.is_ascii_digit()) && (*l == "0" || !l.starts_with('0')))
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| fmt("the second line is not a tree size"))?;
        let root: Hash = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| fmt("the third line is not a base64 SHA-256 root hash"))?;
        let mut signers = Vec::new();
        for line in sigs.lines().filter(|l| !l.is_empty()) {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or_else(|| fmt("a signature line does not start with an em dash"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| fmt("a signature line has no signature"))?;
            let Some(hex_key) = name.strip_prefix(SIGNER_PREFIX) else {
                continue;
            };
            let bad = || NoteError::BadSignature {
                name: name.to_owned(),
            };
            let pk: [u8; 32] = hex::decode(hex_key)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(bad)?;
            let blob = B64.decode(b64).map_err(|_| bad())?;
            if blob.len() != 4 + 64 || blob[..4] != key_hash(name, &pk) {
                return Err(bad());
            }
            let sig: [u8; 64] = blob[4..].try_into().expect("64 bytes");
            let key = VerifyingKey::from_bytes(&pk).map_err(|_| bad())?;
            key.verify_strict(body.as_bytes(), &Signature::from_bytes(&sig))
                .map_err(|_| bad())?;
            signers.push(hex_key.to_owned());
        }
        if signers.is_empty() {
            return Err(NoteError::Unsigned);
        }
        Ok((
            Checkpoint {
                origin: origin.to_owned(),
                size,
                root,
            },
            signers,
        ))
    }
}

fn key_hash(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n\x01");
    h.update(public);
    h.finalize()[..4].try_into().expect("4 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "masa/dataset/1234".into(),
            size: 42,
            root: [9; 32],
        }
    }

    #[test]
    fn signed_checkpoints_open_and_name_their_signer() {
        let key = ContributorKey::from_seed([1; 32]);
        let note = cp().sign(&key);
        assert!(note.starts_with("masa/dataset/1234\n42\n"), "{note}");
        let (back, signers) = Checkpoint::open(&note).unwrap();
        assert_eq!(back, cp());
        assert_eq!(signers, [key.public_hex()]);
    }

    #[test]
    fn altered_forged_and_malformed_notes_are_refused() {
        let key = ContributorKey::from_seed([1; 32]);
        let note = cp().sign(&key);
        // Another size under the same signature.
        let altered = note.replacen("\n42\n", "\n43\n", 1);
        assert!(matches!(
            Checkpoint::open(&altered),
            Err(NoteError::BadSignature { .. })
        ));
        // A signature made by another key under this key's name.
        let other = ContributorKey::from_seed([2; 32]);
        let forged_sig = cp().sign(&other);
        let their_blob = forged_sig.rsplit(' ').next().unwrap();
        let mine = note.rsplit_once(' ').unwrap().0;
        let forged = format!("{mine} {their_blob}");
        assert!(matches!(
            Checkpoint::open(&forged),
            Err(NoteError::BadSignature { .. })
        ));
        // Unsigned, and not a checkpoint at all.
        let body = cp().body();
        assert_eq!(
            Checkpoint::open(&format!("{body}\n")),
            Err(NoteError::Unsigned)
        );
        for junk in [
            "",
            "hello",
            "a\nb\nc\n\n",
            "origin\n12\nnot base64!\n\n\u{2014} x y\n",
            "origin\n+12\nAAAA\n\n",
            "origin\n012\nAAAA\n\n",
        ] {
            assert!(
                matches!(Checkpoint::open(junk), Err(NoteError::Format(_))),
                "{junk:?}"
            );
        }
    }
}

//! Contributor keys (ed25519) on disk, and manifest signing and verification.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use masa_record::{BatchManifest, SignedManifest};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no contributor key at {path}: run `masa init` first")]
    Missing { path: PathBuf },
    #[error("cannot read contributor key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "contributor key {path} is malformed (expected 64 hex characters): restore it from a backup or create a new one with `masa init --force`"
    )]
    Malformed { path: PathBuf },
    #[error(
        "contributor key {path} already exists; pass --force to replace it (the old identity is lost)"
    )]
    Exists { path: PathBuf },
    #[error("cannot write contributor key {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error("bad signature on batch {batch_id}: {reason}")]
    BadSignature { batch_id: String, reason: String },
}

/// A contributor's signing key.
pub struct ContributorKey {
    signing: SigningKey,
}

impl std::fmt::Debug for ContributorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("ContributorKey")
            .field("public", &self.public_hex())
            .finish()
    }
}

impl ContributorKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::from_seed(seed))
    }

    pub fn from_seed(seed: [u8; 32]) -> Self {
        ContributorKey {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// Hex of the 32-byte public key: the contributor's identity in every record.
    pub fn public_hex(&self) -> String {
        hex::encode(self.signing.verifying_key().as_bytes())
    }

    /// Loads a key written by [`ContributorKey::save`].
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                KeyError::Missing { path: path.into() }
            } else {
                KeyError::Read {
                    path: path.into(),
                    source,
                }
            }
        })?;
        let bytes =
            hex::decode(text.trim()).map_err(|_| KeyError::Malformed { path: path.into() })?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Malformed { path: path.into() })?;
        Ok(Self::from_seed(seed))
    }

    /// Writes the secret seed as hex, readable by the owner only (0600). Refuses to overwrite
    /// an existing key unless `force`.
    pub fn save(&self, path: &Path, force: bool) -> Result<(), KeyError> {
        use std::os::unix::fs::OpenOptionsExt;
        if path.exists() && !force {
            return Err(KeyError::Exists { path: path.into() });
        }
        let write_err = |source| KeyError::Write {
            path: path.into(),
            source,
        };
        // Write to a sibling temp file and rename, so a crash never leaves half a key.
        let tmp = path.with_extension("key.tmp");
        // A leftover temp file would keep its old mode: `mode` applies only on creation.
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(write_err(e)),
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(write_err)?;
        writeln!(f, "{}", hex::encode(self.signing.to_bytes())).map_err(write_err)?;
        f.sync_all().map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(write_err)
    }

    pub fn public_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Signs arbitrary bytes (a checkpoint note's text, an audit report).
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// Signs a manifest's canonical bytes.
    pub fn sign(&self, manifest: BatchManifest) -> SignedManifest {
        let sig = self.signing.sign(&manifest.canonical_bytes());
        SignedManifest {
            manifest,
            signature: hex::encode(sig.to_bytes()),
        }
    }
}

/// Checks that `signed.signature` is the manifest contributor's signature over its canonical
/// bytes.
pub fn verify_manifest(signed: &SignedManifest) -> Result<(), KeyError> {
    let m = &signed.manifest;
    let bad = |reason: &str| KeyError::BadSignature {
        batch_id: m.batch_id.clone(),
        reason: reason.to_owned(),
    };
    let pk: [u8; 32] = hex::decode(&m.contributor)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("contributor is not a 32-byte hex public key"))?;
    let key = VerifyingKey::from_bytes(&pk).map_err(|_| bad("contributor key is invalid"))?;
    let sig: [u8; 64] = hex::decode(&signed.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("signature is not 64 hex bytes"))?;
    // Strict: refuses weak keys and non-canonical signatures, so a signature has one form.
    key.verify_strict(&m.canonical_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| bad("signature does not match the manifest"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn manifest(contributor: String) -> BatchManifest {
        BatchManifest {
            batch_id: "b1".into(),
            app_id: "app".into(),
            sequence: 1,
            contributor,
            connector: "files".into(),
            connector_version: "0.1.0".into(),
            schema_version: 1,
            files: vec![],
            index_split: None,
            rows: 3,
            text_bytes: 10,
            rows_root: "00".into(),
            consent_summary: BTreeMap::new(),
            created_at_micros: 1,
            log_checkpoint: None,
        }
    }

    #[test]
    fn signed_manifest_verifies_and_any_change_fails() {
        let key = ContributorKey::from_seed([7; 32]);
        let signed = key.sign(manifest(key.public_hex()));
        verify_manifest(&signed).unwrap();

        let mut tampered = signed.clone();
        tampered.manifest.rows = 4;
        assert!(verify_manifest(&tampered).is_err());

        let other = ContributorKey::from_seed([8; 32]);
        let mut wrong_key = signed.clone();
        wrong_key.manifest.contributor = other.public_hex();
        assert!(verify_manifest(&wrong_key).is_err());
    }

    #[test]
    fn save_load_round_trip_with_owner_only_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contributor.key");
        let key = ContributorKey::generate().unwrap();
        key.save(&path, false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            ContributorKey::load(&path).unwrap().public_hex(),
            key.public_hex()
        );
        assert!(matches!(
            key.save(&path, false),
            Err(KeyError::Exists { .. })
        ));
    }

    #[test]
    fn malformed_and_missing_keys_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        assert!(matches!(
            ContributorKey::load(&path),
            Err(KeyError::Missing { .. })
        ));
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            ContributorKey::load(&path),
            Err(KeyError::Malformed { .. })
        ));
    }
}

//! Provenance: contributor keys, signed batch manifests and the Merkle hashing they use.
//!
//! For now a batch carries its contributor's public key and a signature over its canonical
//! manifest; the append-only transparency log builds on the same hashing later.

mod keys;
mod merkle;
mod tree;

pub use keys::{ContributorKey, KeyError, verify_manifest};
pub use merkle::{leaf_hash, merkle_root, node_hash};
pub use tree::{Hash, ProofError, Tree, verify_consistency, verify_inclusion};

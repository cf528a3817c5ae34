//! Provenance: contributor keys, signed batch manifests and the Merkle hashing they use.
//!
//! For now a batch carries its contributor's public key and a signature over its canonical
//! manifest; the append-only transparency log builds on the same hashing later.

mod keys;
mod merkle;
mod note;
mod tiles;
mod tree;

pub use keys::{ContributorKey, KeyError, verify_manifest};
pub use merkle::{leaf_hash, merkle_root, node_hash};
pub use note::{Checkpoint, NoteError};
pub use tiles::{
    TILE_WIDTH, changed_tiles, decode_entries, encode_entries, entries_path, leaf_tile,
    tile_hashes, tile_path,
};
pub use tree::{Hash, ProofError, Tree, verify_consistency, verify_inclusion};

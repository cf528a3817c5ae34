//! The Masa record model: what one contributed item looks like at rest, how it is
//! identified, normalized and hashed, and the consent and provenance types that travel with it.
//!
//! This crate does no IO and has no async runtime: every other crate depends on it.

mod consent;
mod ids;
mod manifest;
mod normalize;
mod raw;
mod schema;

pub use consent::{Consent, ConsentBasis};
pub use ids::{batch_id, now_micros, record_id, sha256_hex};
pub use manifest::{BatchManifest, DataFileRef, MANIFEST_DOMAIN, SignedManifest};
pub use normalize::{content_hash, normalize_text};
pub use raw::{Checkpoint, RawItem};
pub use schema::{
    LeafFields, ROW_LEAF_DOMAIN, Record, RecordError, SCHEMA_VERSION, arrow_schema, column,
    records_from_batch, records_to_batch,
};

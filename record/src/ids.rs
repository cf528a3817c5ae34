//! Deterministic identifiers. Ids derive from content, never from clocks or randomness, so a
//! re-run of the same input produces the same ids (which is what makes resume idempotent).

use sha2::{Digest, Sha256};

/// The current time in microseconds since the Unix epoch (0 if the clock is before it).
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn tagged_hash(domain: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    for p in parts {
        // Length-prefix every part so that ("ab","c") and ("a","bc") never collide.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// A record's id: 128 bits of a domain-separated hash of who contributed what from where.
pub fn record_id(contributor: &str, uri: &str, content_hash: &str) -> String {
    let d = tagged_hash(
        "masa/record-id/v1",
        &[
            contributor.as_bytes(),
            uri.as_bytes(),
            content_hash.as_bytes(),
        ],
    );
    hex::encode(&d[..16])
}

/// A batch's id, from the run (app id) and its commit sequence number. A batch that was
/// written but never committed is rewritten under the same id when the run resumes.
pub fn batch_id(app_id: &str, version: i64) -> String {
    let d = tagged_hash(
        "masa/batch-id/v1",
        &[app_id.as_bytes(), &version.to_be_bytes()],
    );
    hex::encode(&d[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_id_depends_on_every_part() {
        let base = record_id("k", "u", "h");
        assert_eq!(base.len(), 32);
        assert_ne!(base, record_id("k2", "u", "h"));
        assert_ne!(base, record_id("k", "u2", "h"));
        assert_ne!(base, record_id("k", "u", "h2"));
        assert_eq!(base, record_id("k", "u", "h"));
    }

    #[test]
    fn parts_are_length_prefixed_against_boundary_collisions() {
        assert_ne!(record_id("ab", "c", "h"), record_id("a", "bc", "h"));
    }

    #[test]
    fn batch_id_differs_by_version() {
        assert_ne!(batch_id("app", 1), batch_id("app", 2));
        assert_ne!(batch_id("app", 1), batch_id("app2", 1));
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

//! Exact dedup: a set of the 32-byte content hashes already seen.

use std::collections::HashSet;

#[derive(Debug, thiserror::Error)]
#[error("content hash {0:?} is not 64 hex characters")]
pub struct HashError(pub String);

/// Remembers every content hash seen (from the table and from this run) and answers whether
/// a new one is a duplicate. 32 bytes a record plus the set's overhead: about 50 MB for a
/// million records.
#[derive(Debug, Default)]
pub struct ExactDedup {
    seen: HashSet<[u8; 32]>,
}

fn decode(hex_hash: &str) -> Result<[u8; 32], HashError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut out).map_err(|_| HashError(hex_hash.to_owned()))?;
    Ok(out)
}

impl ExactDedup {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `hex_hash` as seen. Returns `true` if it was new, `false` for a duplicate.
    pub fn insert(&mut self, hex_hash: &str) -> Result<bool, HashError> {
        Ok(self.seen.insert(decode(hex_hash)?))
    }

    pub fn contains(&self, hex_hash: &str) -> Result<bool, HashError> {
        Ok(self.seen.contains(&decode(hex_hash)?))
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_insert_of_a_hash_is_a_duplicate() {
        let mut d = ExactDedup::new();
        let h = masa_record::content_hash("hello");
        assert!(d.insert(&h).unwrap());
        assert!(!d.insert(&h).unwrap());
        assert!(d.contains(&h).unwrap());
        assert!(d.insert(&masa_record::content_hash("world")).unwrap());
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn malformed_hash_is_an_error_not_a_panic() {
        let mut d = ExactDedup::new();
        assert!(d.insert("xyz").is_err());
        assert!(d.insert(&"0".repeat(63)).is_err());
    }
}

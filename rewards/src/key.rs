//! `Key`: a participant's identity, its 32-byte ed25519 public key. Ordered by bytes, so
//! every map keyed by it iterates in the same order on every machine.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

impl Ord for Key {
    /// Byte order, compared as four big-endian words: the same order as the bytes', without
    /// a call to `memcmp` for every step of a map lookup (the fold's hottest operation).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let word = |k: &Key, i: usize| {
            u64::from_be_bytes(k.0[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
        };
        (0..4)
            .map(|i| word(self, i).cmp(&word(other, i)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Key {
    /// Parses 64 lowercase hex characters (the form every record and manifest uses).
    pub fn parse(hex_text: &str) -> Result<Key, String> {
        if hex_text.len() != 64 || hex_text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "{hex_text:?} is not a key (64 lowercase hex characters of an ed25519 public key)"
            ));
        }
        let bytes = hex::decode(hex_text).map_err(|_| format!("{hex_text:?} is not hex"))?;
        Ok(Key(bytes
            .try_into()
            .expect("64 hex characters are 32 bytes")))
    }

    pub fn hex(&self) -> String {
        String::from_utf8(self.hex_bytes().to_vec()).expect("hex digits are ASCII")
    }

    /// The key in lowercase hex, without allocating: keys are serialized wherever the state
    /// is hashed, so this is on the fold's path.
    fn hex_bytes(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 15)];
        }
        out
    }

    /// The first 8 hex characters, for tables.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.short())
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex = self.hex_bytes();
        s.serialize_str(std::str::from_utf8(&hex).expect("hex digits are ASCII"))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Key::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn orders_as_its_bytes(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            prop_assert_eq!(Key(a).cmp(&Key(b)), a.cmp(&b));
        }
    }

    #[test]
    fn parses_lowercase_hex_only() {
        let k = Key([0xab; 32]);
        assert_eq!(Key::parse(&k.hex()).unwrap(), k);
        assert!(Key::parse(&k.hex().to_uppercase()).is_err());
        assert!(Key::parse("ab").is_err());
        assert!(Key::parse(&"zz".repeat(32)).is_err());
    }
}

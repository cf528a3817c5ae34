//! `Key`: a participant's identity, its 32-byte ed25519 public key. Ordered by bytes, so
//! every map keyed by it iterates in the same order on every machine.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub [u8; 32]);

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
        hex::encode(self.0)
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
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Key::parse(&s).map_err(serde::de::Error::custom)
    }
}

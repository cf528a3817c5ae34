//! API keys: created once and shown once, stored hashed (`keys.json` in the masa home),
//! each with scopes, datasets, a rate and an expiry; revoked by id.
//!
//! A key reads `masa_<id>_<secret>`: the id (8 hex) names it in lists and logs, the
//! secret (64 hex, 256 random bits) is never stored, only the SHA-256 of the whole key.

use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// What a key may do.
pub const SCOPES: [&str; 5] = ["search", "records", "stats", "epochs", "export"];

/// A stored key (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub id: String,
    /// SHA-256 of the whole key, hex.
    pub sha256: String,
    pub scopes: Vec<String>,
    /// Dataset locations it may read; empty: every served dataset.
    pub datasets: Vec<String>,
    /// Requests per second it may make (a token bucket with this burst).
    pub rate_per_second: u32,
    pub burst: u32,
    pub created: u64,
    /// Unix seconds after which it is refused.
    pub expires: Option<u64>,
    pub revoked: bool,
}

/// Why a key is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no key, or one that is not a key of this service.
    Unknown,
    Expired,
    Revoked,
    /// 403: a real key without the scope or the dataset.
    Forbidden(String),
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn digest(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// The keys file of a masa home.
pub fn keys_path(home: &Path) -> PathBuf {
    home.join("keys.json")
}

/// Reads the keys (none when the file does not exist).
pub fn load(path: &Path) -> Result<Vec<KeyRecord>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a keys file: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn save(path: &Path, keys: &[KeyRecord]) -> Result<(), String> {
    let text = serde_json::to_string_pretty(keys).expect("keys serialize");
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text + "\n").map_err(|e| format!("{}: {e}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a rate: `10/s`, `600/min`, `36000/h` (at least one request a second).
pub fn parse_rate(text: &str) -> Result<u32, String> {
    let bad = || format!("rate {text:?}: write N/s, N/min or N/h (10/s)");
    let (n, unit) = text.split_once('/').ok_or_else(bad)?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    let per = match unit.trim() {
        "s" => 1,
        "min" => 60,
        "h" => 3600,
        _ => return Err(bad()),
    };
    let r = n / per;
    if r == 0 || r > 1_000_000 {
        return Err(format!(
            "rate {text:?} is {r} a second: it must be 1 to 1 000 000 a second"
        ));
    }
    Ok(r as u32)
}

/// Parses an expiry: `30d`, `12h`, `90m` from now.
pub fn parse_expiry(text: &str) -> Result<u64, String> {
    let bad = || format!("expiry {text:?}: write a duration from now, like 30d, 12h or 90m");
    let (n, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "d" => 86_400,
        "h" => 3600,
        "m" => 60,
        _ => return Err(bad()),
    };
    Ok(now() + n * secs)
}

/// The options of a new key.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub scopes: Vec<String>,
    pub datasets: Vec<String>,
    pub rate_per_second: u32,
    pub expires: Option<u64>,
}

/// Creates a key, stores its hash, and returns the key (the only time it is seen).
pub fn create(path: &Path, new: NewKey) -> Result<(KeyRecord, String), String> {
    for s in &new.scopes {
        if !SCOPES.contains(&s.as_str()) {
            return Err(format!(
                "unknown scope {s:?} (scopes: {})",
                SCOPES.join(", ")
            ));
        }
    }
    if new.scopes.is_empty() {
        return Err(format!("a key needs a scope ({})", SCOPES.join(", ")));
    }
    let mut bytes = [0u8; 36];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a key: {e}"))?;
    let id = hex::encode(&bytes[..4]);
    let key = format!("masa_{id}_{}", hex::encode(&bytes[4..]));
    let mut keys = load(path)?;
    let record = KeyRecord {
        id,
        sha256: digest(&key),
        scopes: new.scopes,
        datasets: new.datasets,
        rate_per_second: new.rate_per_second,
        burst: new.rate_per_second,
        created: now(),
        expires: new.expires,
        revoked: false,
    };
    keys.push(record.clone());
    save(path, &keys)?;
    Ok((record, key))
}

/// Marks a key revoked (it stays listed).
pub fn revoke(path: &Path, id: &str) -> Result<KeyRecord, String> {
    let mut keys = load(path)?;
    let k = keys
        .iter_mut()
        .find(|k| k.id == id)
        .ok_or_else(|| format!("no key {id} in {}", path.display()))?;
    k.revoked = true;
    let out = k.clone();
    save(path, &keys)?;
    Ok(out)
}

/// The key a bearer token is, if it may use `scope` on `dataset` now.
pub fn authorize<'a>(
    keys: &'a [KeyRecord],
    token: Option<&str>,
    scope: &str,
    dataset: &str,
) -> Result<&'a KeyRecord, Refusal> {
    let token = token.ok_or(Refusal::Unknown)?;
    let d = digest(token);
    let k = keys
        .iter()
        .find(|k| k.sha256 == d)
        .ok_or(Refusal::Unknown)?;
    if k.revoked {
        return Err(Refusal::Revoked);
    }
    if k.expires.is_some_and(|e| e <= now()) {
        return Err(Refusal::Expired);
    }
    if !k.scopes.iter().any(|s| s == scope) {
        return Err(Refusal::Forbidden(format!(
            "key {} has no {scope} scope (it has: {})",
            k.id,
            k.scopes.join(", ")
        )));
    }
    if !k.datasets.is_empty() && !k.datasets.iter().any(|x| x == dataset) {
        return Err(Refusal::Forbidden(format!(
            "key {} may not read dataset {dataset}",
            k.id
        )));
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_expiries_parse_or_say_how_to_write_them() {
        assert_eq!(parse_rate("10/s"), Ok(10));
        assert_eq!(parse_rate("600/min"), Ok(10));
        assert_eq!(parse_rate("7200/h"), Ok(2));
        for bad in ["10", "x/s", "10/day", "30/min"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert!(parse_expiry("30d").unwrap() > now() + 29 * 86_400);
        assert!(parse_expiry("soon").is_err());
    }

    #[test]
    fn a_created_key_authorizes_only_its_scopes_and_datasets_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let path = keys_path(dir.path());
        let (rec, key) = create(
            &path,
            NewKey {
                scopes: vec!["search".into()],
                datasets: vec!["ds".into()],
                rate_per_second: 5,
                expires: None,
            },
        )
        .unwrap();
        // Only the hash is stored.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&key[10..]), "{text}");
        let keys = load(&path).unwrap();
        assert_eq!(
            authorize(&keys, Some(&key), "search", "ds").unwrap().id,
            rec.id
        );
        assert!(matches!(
            authorize(&keys, Some(&key), "records", "ds"),
            Err(Refusal::Forbidden(_))
        ));
        assert!(matches!(
            authorize(&keys, Some(&key), "search", "other"),
            Err(Refusal::Forbidden(_))
        ));
        assert_eq!(
            authorize(&keys, Some("masa_00000000_00"), "search", "ds"),
            Err(Refusal::Unknown)
        );
        assert_eq!(
            authorize(&keys, None, "search", "ds"),
            Err(Refusal::Unknown)
        );
        revoke(&path, &rec.id).unwrap();
        let keys = load(&path).unwrap();
        assert_eq!(
            authorize(&keys, Some(&key), "search", "ds"),
            Err(Refusal::Revoked)
        );
        assert!(
            create(
                &path,
                NewKey {
                    scopes: vec!["admin".into()],
                    datasets: vec![],
                    rate_per_second: 1,
                    expires: None
                }
            )
            .is_err()
        );
    }
}

//! Helpers of the extraction tests: a saved page, and the check of what its text keeps.

/// A page under `tests/data/extract/`, decoded as the crawler decodes it.
pub fn page(path: &str) -> String {
    let path = format!("{}/tests/data/extract/{path}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    masa_connectors::web::page::decode(&bytes, None)
}

/// Checks that `text` holds every `keep` and none of `drop`.
pub fn check(text: &str, keep: &[&str], drop: &[&str]) {
    for k in keep {
        assert!(text.contains(k), "missing {k:?} in:\n{text}");
    }
    for d in drop {
        assert!(!text.contains(d), "boilerplate {d:?} kept in:\n{text}");
    }
}

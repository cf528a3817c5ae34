//! Local folders as the file-reading connectors walk them (`dataset`, `warc`).

use crate::ConnectorError;
use std::path::{Path, PathBuf};

/// An IO error on `path` as the connector error a user can act on.
pub(crate) fn unreadable(path: &Path, source: std::io::Error) -> ConnectorError {
    if source.kind() == std::io::ErrorKind::NotFound {
        ConnectorError::NotFound { path: path.into() }
    } else {
        ConnectorError::Unreadable {
            path: path.into(),
            source,
        }
    }
}

/// The files under `dir` (recursively, hidden entries skipped, symlinks followed) whose
/// name `keep` accepts, as (`/`-separated path relative to `dir`, path), in no order.
pub(crate) fn files_under(
    dir: &Path,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<(String, PathBuf)>, ConnectorError> {
    let mut out = Vec::new();
    walk(dir, "", keep, &mut out)?;
    Ok(out)
}

fn walk(
    dir: &Path,
    rel: &str,
    keep: &dyn Fn(&str) -> bool,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), ConnectorError> {
    let entries = std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| unreadable(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let abs = entry.path();
        let rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let meta = std::fs::metadata(&abs).map_err(|e| unreadable(&abs, e))?;
        if meta.is_dir() {
            walk(&abs, &rel, keep, out)?;
        } else if meta.is_file() && keep(&name) {
            out.push((rel, abs));
        }
    }
    Ok(())
}

//! `dataset`: rows of JSONL (`.jsonl`, `.ndjson`) and Parquet files, one file or a folder,
//! including a Hugging Face dataset folder: a `README.md` card whose YAML front matter gives
//! `license:` and `configs[*].data_files` (without `configs`, every JSONL and Parquet file
//! under the folder is read, hidden entries skipped, in path order).
//!
//! Every row needs a licence: the row's `licence_column` cell when configured and not
//! empty, else the file's entry in `file_licences`, else `licence` (the contributor's, for
//! all files), else the card's `license`. A file for which none of them can give one fails
//! `check`, before anything is emitted; a row whose licence cell is empty, with nothing to
//! fall back on, is a `licence:missing` skip. The record's licence says where it came from.
//! Consent is the contributor's declaration (they declare the rights to contribute the
//! dataset under its licence).
//!
//! Columns: `text_column` (default `text`) is the body; `id_column`, `url_column` and
//! `title_column` are optional. A row without text is an `input:no_text` skip. Parquet is
//! read with the arrow reader, projected to those columns, a batch at a time.
//!
//! Position: `{"file": i, "path": ..., "row": r}` (and `"offset"`, the byte offset of row
//! `r`, for JSONL): the next row of file `i` in the sorted set. No credentials.

mod card;
mod parquet_rows;

use crate::lines::{Line, read_bounded_line};
use crate::local::unreadable;
use crate::{BuildContext, Connector, ConnectorError, ItemSender, Skip, SourceEvent};
use masa_record::{Consent, RawItem};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use url::Url;

const KIND: &str = "dataset";
/// Largest JSONL row: 16 MiB; longer rows are skipped and counted.
pub const DEFAULT_MAX_ROW_BYTES: usize = 16 << 20;

/// A dataset source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// A `.jsonl`/`.parquet` file, or a folder (a Hugging Face dataset layout included).
    pub path: PathBuf,
    /// The licence of every row, declared by the contributor.
    #[serde(default)]
    pub licence: Option<String>,
    /// Licences of single files (paths relative to `path`), declared by the contributor.
    #[serde(default)]
    pub file_licences: BTreeMap<String, String>,
    /// A column holding each row's licence.
    #[serde(default)]
    pub licence_column: Option<String>,
    #[serde(default = "default_text_column")]
    pub text_column: String,
    #[serde(default)]
    pub id_column: Option<String>,
    #[serde(default)]
    pub url_column: Option<String>,
    #[serde(default)]
    pub title_column: Option<String>,
    #[serde(default = "default_max_row_bytes")]
    pub max_row_bytes: usize,
}

fn default_text_column() -> String {
    "text".into()
}
fn default_max_row_bytes() -> usize {
    DEFAULT_MAX_ROW_BYTES
}

fn config_err(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Config {
        kind: KIND,
        message: message.into(),
    }
}

fn source_err(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Source {
        kind: KIND,
        message: message.into(),
    }
}

impl DatasetConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DatasetConfig {
            path: path.into(),
            licence: None,
            file_licences: BTreeMap::new(),
            licence_column: None,
            text_column: default_text_column(),
            id_column: None,
            url_column: None,
            title_column: None,
            max_row_bytes: DEFAULT_MAX_ROW_BYTES,
        }
    }

    pub fn build(&self, ctx: &BuildContext) -> Result<DatasetConnector, ConnectorError> {
        let blank = |o: &Option<String>| o.as_ref().is_some_and(|s| s.trim().is_empty());
        if self.text_column.trim().is_empty() {
            return Err(config_err("text_column must name a column"));
        }
        for (name, v) in [
            ("licence", &self.licence),
            ("licence_column", &self.licence_column),
            ("id_column", &self.id_column),
            ("url_column", &self.url_column),
            ("title_column", &self.title_column),
        ] {
            if blank(v) {
                return Err(config_err(format!(
                    "{name} is empty: give a value or leave it out"
                )));
            }
        }
        if let Some((f, _)) = self.file_licences.iter().find(|(_, l)| l.trim().is_empty()) {
            return Err(config_err(format!(
                "file_licences: the licence of {f:?} is empty"
            )));
        }
        if self.max_row_bytes == 0 {
            return Err(config_err("max_row_bytes must be greater than zero"));
        }
        Ok(DatasetConnector {
            config: self.clone(),
            declaration: ctx.declaration.clone(),
            files: Vec::new(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jsonl,
    Parquet,
}

impl Format {
    fn of(name: &str) -> Option<Format> {
        let n = name.to_ascii_lowercase();
        if n.ends_with(".jsonl") || n.ends_with(".ndjson") {
            Some(Format::Jsonl)
        } else if n.ends_with(".parquet") {
            Some(Format::Parquet)
        } else {
            None
        }
    }
}

/// A file to read and the licence it falls back on.
#[derive(Debug, Clone)]
struct DataFile {
    rel: String,
    abs: PathBuf,
    format: Format,
    /// The file's licence, already worded with its origin, when one applies to all its rows.
    licence: Option<String>,
}

pub struct DatasetConnector {
    config: DatasetConfig,
    declaration: String,
    files: Vec<DataFile>,
}

fn file_uri(path: &Path) -> String {
    Url::from_file_path(path)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// One row's named cells, as text (`None`: absent, null or not text).
#[derive(Debug, Default)]
pub(crate) struct Row {
    pub text: Option<String>,
    pub licence: Option<String>,
    pub id: Option<String>,
    pub url: Option<String>,
    pub title: Option<String>,
}

impl DatasetConnector {
    fn checkpoint(&self, file: usize, row: u64, offset: Option<u64>) -> Value {
        let mut v = json!({
            "file": file,
            "path": self.files.get(file).map(|f| f.rel.as_str()),
            "row": row,
        });
        if let Some(o) = offset {
            v["offset"] = json!(o);
        }
        v
    }

    /// The event for row `row` of `f`.
    fn event(&self, f: &DataFile, row: u64, cells: Row, checkpoint: Value) -> SourceEvent {
        let at = format!("{}#row={row}", file_uri(&f.abs));
        let skip = |uri: String, reason: &'static str, detail: String| {
            SourceEvent::Skip(Skip {
                uri,
                reason,
                detail,
                checkpoint: checkpoint.clone().into(),
            })
        };
        let uri = match (&cells.url, &cells.id) {
            (Some(u), _) if !u.trim().is_empty() => u.trim().to_owned(),
            (_, Some(id)) if !id.trim().is_empty() => {
                format!("{}#id={}", file_uri(&f.abs), id.trim())
            }
            _ => at,
        };
        let licence = match (&self.config.licence_column, cells.licence) {
            (Some(col), Some(l)) if !l.trim().is_empty() => {
                Some(format!("{} (the row's {col} column, {})", l.trim(), f.rel))
            }
            _ => f.licence.clone(),
        };
        let Some(licence) = licence else {
            return skip(
                uri,
                "licence:missing",
                format!(
                    "{} row {row}: the {} cell is empty and nothing else gives a licence",
                    f.rel,
                    self.config.licence_column.as_deref().unwrap_or("licence")
                ),
            );
        };
        let Some(text) = cells.text.filter(|t| !t.trim().is_empty()) else {
            return skip(
                uri,
                "input:no_text",
                format!(
                    "{} row {row}: no text in column {:?}",
                    f.rel, self.config.text_column
                ),
            );
        };
        SourceEvent::Item(RawItem {
            uri,
            source: KIND,
            fetched_at_micros: masa_record::now_micros(),
            http_status: None,
            content_type: Some("text/plain".into()),
            title: cells.title.filter(|t| !t.trim().is_empty()),
            body: text.into_bytes(),
            consent: Consent::declared(self.declaration.clone()),
            licence: Some(licence),
            checkpoint: checkpoint.into(),
        })
    }

    fn jsonl_cells(&self, v: &Value) -> Row {
        let s = |col: &Option<String>| -> Option<String> {
            match col.as_ref().map(|c| &v[c.as_str()]) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            }
        };
        Row {
            text: v[self.config.text_column.as_str()]
                .as_str()
                .map(str::to_owned),
            licence: s(&self.config.licence_column),
            id: s(&self.config.id_column),
            url: s(&self.config.url_column),
            title: s(&self.config.title_column),
        }
    }

    fn run_jsonl(
        &self,
        index: usize,
        row: u64,
        offset: u64,
        out: &ItemSender,
    ) -> Result<(), ConnectorError> {
        let f = &self.files[index];
        let mut file = File::open(&f.abs).map_err(|e| unreadable(&f.abs, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| unreadable(&f.abs, e))?;
        let mut r = BufReader::with_capacity(1 << 16, file);
        let (mut row, mut offset) = (row, offset);
        let mut buf = Vec::new();
        loop {
            let (line, n) = read_bounded_line(&mut r, &mut buf, self.config.max_row_bytes)
                .map_err(|e| unreadable(&f.abs, e))?;
            let this = row;
            row += 1;
            offset += n;
            let cp = self.checkpoint(index, row, Some(offset));
            let at = format!("{}#row={this}", file_uri(&f.abs));
            let skip = |reason: &'static str, detail: String| {
                SourceEvent::Skip(Skip {
                    uri: at.clone(),
                    reason,
                    detail,
                    checkpoint: cp.clone().into(),
                })
            };
            let event = match line {
                Line::Eof => return Ok(()),
                Line::TooLong { len } => skip(
                    "input:row_too_long",
                    format!("{} row {this}: {len} bytes, over max_row_bytes", f.rel),
                ),
                Line::Complete if buf.iter().all(u8::is_ascii_whitespace) => {
                    skip("input:blank_line", format!("{} row {this}: blank", f.rel))
                }
                Line::Complete => match serde_json::from_slice::<Value>(&buf) {
                    Ok(v) if v.is_object() => {
                        let cells = self.jsonl_cells(&v);
                        self.event(f, this, cells, cp.clone())
                    }
                    Ok(_) => skip(
                        "input:malformed_jsonl",
                        format!("{} row {this}: not a JSON object", f.rel),
                    ),
                    Err(e) => skip(
                        "input:malformed_jsonl",
                        format!("{} row {this}: {e}", f.rel),
                    ),
                },
            };
            out.blocking_send(event)
                .map_err(|_| ConnectorError::Closed)?;
        }
    }

    fn run_blocking(self, resume: Option<Value>, out: ItemSender) -> Result<(), ConnectorError> {
        let (mut file, mut row, mut offset) = match &resume {
            Some(r) => {
                let file = r["file"].as_u64().ok_or_else(|| {
                    source_err(format!("checkpoint {r} has no file index; start afresh"))
                })? as usize;
                if let (Some(p), Some(f)) = (r["path"].as_str(), self.files.get(file))
                    && p != f.rel
                {
                    return Err(source_err(format!(
                        "the checkpoint is in {p:?} but file {file} is now {:?}: the file set changed; restore it or start afresh",
                        f.rel
                    )));
                }
                (
                    file,
                    r["row"].as_u64().unwrap_or(0),
                    r["offset"].as_u64().unwrap_or(0),
                )
            }
            None => (0, 0, 0),
        };
        while let Some(f) = self.files.get(file) {
            match f.format {
                Format::Jsonl => self.run_jsonl(file, row, offset, &out)?,
                Format::Parquet => {
                    parquet_rows::read(&f.abs, &self.columns(), row, |this, cells| {
                        let cp = self.checkpoint(file, this + 1, None);
                        out.blocking_send(self.event(f, this, cells, cp))
                            .map_err(|_| ConnectorError::Closed)
                    })?
                }
            }
            file += 1;
            row = 0;
            offset = 0;
        }
        Ok(())
    }

    fn columns(&self) -> parquet_rows::Columns {
        parquet_rows::Columns {
            text: self.config.text_column.clone(),
            licence: self.config.licence_column.clone(),
            id: self.config.id_column.clone(),
            url: self.config.url_column.clone(),
            title: self.config.title_column.clone(),
        }
    }

    /// The files to read: the card's data files when it names them, else every supported
    /// file, with the licence each falls back on.
    fn list(&self) -> Result<Vec<DataFile>, ConnectorError> {
        let path = &self.config.path;
        let meta = std::fs::metadata(path).map_err(|e| unreadable(path, e))?;
        let (found, card, root) = if meta.is_dir() {
            let mut found =
                crate::local::files_under(path, &|name: &str| Format::of(name).is_some())?;
            found.sort();
            let readme = path.join("README.md");
            let card = match std::fs::read_to_string(&readme) {
                Ok(t) => Some((card::parse(&t), readme)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(unreadable(&readme, e)),
            };
            (found, card, path.clone())
        } else {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if Format::of(&name).is_none() {
                return Err(config_err(format!(
                    "{}: not a .jsonl, .ndjson or .parquet file",
                    path.display()
                )));
            }
            let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (vec![(name, path.clone())], None, root)
        };
        let patterns = card
            .as_ref()
            .map(|(c, _)| c.data_files.clone())
            .unwrap_or_default();
        let mut chosen: Vec<(String, PathBuf)> = Vec::new();
        for p in &patterns {
            for (rel, abs) in &found {
                if card::glob_matches(p, rel) && !chosen.iter().any(|(r, _)| r == rel) {
                    chosen.push((rel.clone(), abs.clone()));
                }
            }
            if !found.iter().any(|(r, _)| card::glob_matches(p, r)) {
                return Err(source_err(format!(
                    "{}: the dataset card's data_files {p:?} matches no .jsonl or .parquet file; fix the card or the layout",
                    root.display()
                )));
            }
        }
        if patterns.is_empty() {
            chosen = found;
        }
        chosen.sort();
        if chosen.is_empty() {
            return Err(ConnectorError::Empty {
                path: path.clone(),
                supported: ".jsonl, .ndjson, .parquet",
            });
        }
        for f in self.config.file_licences.keys() {
            if !chosen.iter().any(|(r, _)| r == f) {
                return Err(config_err(format!(
                    "file_licences names {f:?}, which is not one of the files read"
                )));
            }
        }
        let card_licence = card.as_ref().and_then(|(c, readme)| {
            c.licence
                .as_ref()
                .map(|l| format!("{l} (the dataset card {})", file_uri(readme)))
        });
        Ok(chosen
            .into_iter()
            .map(|(rel, abs)| {
                let licence = self
                    .config
                    .file_licences
                    .get(&rel)
                    .map(|l| format!("{} (declared by the contributor for {rel})", l.trim()))
                    .or_else(|| {
                        self.config
                            .licence
                            .as_ref()
                            .map(|l| format!("{} (declared by the contributor)", l.trim()))
                    })
                    .or_else(|| card_licence.clone());
                DataFile {
                    format: Format::of(&rel).unwrap_or(Format::Jsonl),
                    rel,
                    abs,
                    licence,
                }
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl Connector for DatasetConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn source_id(&self) -> String {
        let p =
            std::fs::canonicalize(&self.config.path).unwrap_or_else(|_| self.config.path.clone());
        file_uri(&p)
    }

    /// Lists the files, refuses any that nothing gives a licence, and checks each Parquet
    /// file's schema for the configured columns.
    async fn check(&mut self) -> Result<(), ConnectorError> {
        let files = self.list()?;
        for f in &files {
            if f.licence.is_none() && self.config.licence_column.is_none() {
                return Err(config_err(format!(
                    "{}: no licence for its rows: set `licence` (for all files), `file_licences`, or `licence_column`, or give the dataset a README.md card with `license:`",
                    f.abs.display()
                )));
            }
            if f.format == Format::Parquet {
                parquet_rows::check(&f.abs, &self.columns(), f.licence.is_some())?;
            }
        }
        self.files = files;
        Ok(())
    }

    async fn run(
        self: Box<Self>,
        resume: Option<Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError> {
        tokio::task::spawn_blocking(move || self.run_blocking(resume, out))
            .await
            .map_err(|e| source_err(format!("reader task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests;

//! The `files` connector: a local folder (or one file) of `.txt`, `.md`, `.html` and `.jsonl`.
//!
//! Whole-file items (`.txt`, `.md`, `.html`) are read whole and so have a size limit
//! ([`DEFAULT_MAX_FILE_BYTES`]); `.jsonl` files are streamed line by line, whatever their size,
//! with a per-line limit ([`DEFAULT_MAX_LINE_BYTES`]). Consent is the contributor's declaration.

use crate::lines::{Line, read_bounded_line};
use crate::local::unreadable;
use crate::{BuildContext, Connector, ConnectorError, ItemSender, Skip, SourceEvent};
use masa_record::{Consent, RawItem};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Largest `.txt`/`.md`/`.html` file taken as one item: 64 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;
/// Largest single `.jsonl` line: 16 MiB. Longer lines are skipped and reported.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;

const SUPPORTED: &str = ".txt, .md, .html, .jsonl";
const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// A folder (walked recursively, hidden entries skipped) or a single file.
    pub path: PathBuf,
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

fn default_max_file_bytes() -> u64 {
    DEFAULT_MAX_FILE_BYTES
}
fn default_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
}

impl FilesConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FilesConfig {
            path: path.into(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }

    pub fn build(&self, ctx: &BuildContext) -> Result<FilesConnector, ConnectorError> {
        if self.max_line_bytes == 0 || self.max_file_bytes == 0 {
            return Err(ConnectorError::Config {
                kind: "files",
                message: "size limits must be greater than zero".into(),
            });
        }
        Ok(FilesConnector {
            config: self.clone(),
            declaration: ctx.declaration.clone(),
            root: None,
            entries: Vec::new(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Markdown,
    Html,
    Jsonl,
    Unsupported,
    NotAFile,
}

impl Kind {
    fn of(path: &Path) -> Kind {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("txt") => Kind::Text,
            Some("md" | "markdown") => Kind::Markdown,
            Some("html" | "htm") => Kind::Html,
            Some("jsonl" | "ndjson") => Kind::Jsonl,
            _ => Kind::Unsupported,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Kind::Markdown => "text/markdown",
            Kind::Html => "text/html",
            _ => "text/plain",
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    /// Path relative to the root, `/`-separated: the sort key and the checkpoint key.
    rel: String,
    abs: PathBuf,
    kind: Kind,
}

/// A checked `files` source, ready to run.
#[derive(Debug)]
pub struct FilesConnector {
    config: FilesConfig,
    declaration: String,
    root: Option<PathBuf>,
    entries: Vec<Entry>,
}

/// Where a run stands: the last input fully or partly handled.
#[derive(Debug, Deserialize)]
struct Checkpoint {
    path: String,
    /// The whole file is handled.
    done: bool,
    /// For `.jsonl`: bytes consumed and lines read so far.
    #[serde(default)]
    offset: u64,
    #[serde(default)]
    line: u64,
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<Entry>) -> Result<(), ConnectorError> {
    let rd = std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| unreadable(dir, e))?;
        // A non-UTF-8 name is kept lossily in the sort key; the URI is built from the real
        // path, percent-encoded.
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let abs = entry.path();
        let ft = entry.file_type().map_err(|e| unreadable(&abs, e))?;
        let child = format!("{rel}{name}");
        if ft.is_dir() {
            walk(&abs, &format!("{child}/"), out)?;
            continue;
        }
        // Symlinks to files are followed; symlinks to folders are not (no cycles). Broken
        // links, links to folders, FIFOs and sockets are reported, not silently passed over.
        let kind = if ft.is_file() || (ft.is_symlink() && abs.is_file()) {
            Kind::of(&abs)
        } else {
            Kind::NotAFile
        };
        out.push(Entry {
            kind,
            rel: child,
            abs,
        });
    }
    Ok(())
}

fn file_uri(path: &Path) -> String {
    url::Url::from_file_path(path)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| format!("file://{}", path.display()))
}

/// The first Markdown heading, as a title.
fn markdown_title(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().to_owned())
        .filter(|t| !t.is_empty())
}

#[derive(Deserialize)]
struct JsonlLine {
    text: Option<serde_json::Value>,
    url: Option<String>,
    id: Option<serde_json::Value>,
    title: Option<String>,
}

impl FilesConnector {
    fn item(
        &self,
        uri: String,
        kind: Kind,
        title: Option<String>,
        body: Vec<u8>,
        cp: serde_json::Value,
    ) -> RawItem {
        RawItem {
            uri,
            source: "files",
            fetched_at_micros: masa_record::now_micros(),
            http_status: None,
            content_type: Some(kind.content_type().to_owned()),
            title,
            body,
            consent: Consent::declared(self.declaration.clone()),
            licence: None,
            checkpoint: cp.into(),
        }
    }

    fn read_whole(&self, e: &Entry) -> Result<String, ConnectorError> {
        let size = std::fs::metadata(&e.abs)
            .map_err(|err| unreadable(&e.abs, err))?
            .len();
        if size > self.config.max_file_bytes {
            return Err(ConnectorError::TooLarge {
                path: e.abs.clone(),
                size,
                limit: self.config.max_file_bytes,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        File::open(&e.abs)
            .and_then(|f| {
                f.take(self.config.max_file_bytes + 1)
                    .read_to_end(&mut bytes)
            })
            .map_err(|err| unreadable(&e.abs, err))?;
        if bytes.len() as u64 > self.config.max_file_bytes {
            // The file grew after we looked at it.
            return Err(ConnectorError::TooLarge {
                path: e.abs.clone(),
                size: bytes.len() as u64,
                limit: self.config.max_file_bytes,
            });
        }
        if e.kind == Kind::Html {
            // A page states its own charset (`<meta charset>`, or a byte-order mark) and is
            // decoded as a browser would; it never fails.
            return Ok(crate::web::page::decode(&bytes, None));
        }
        if bytes.starts_with(BOM) {
            // A byte-order mark is not text: it must not change the hash or hide a title.
            bytes.drain(..BOM.len());
        }
        String::from_utf8(bytes).map_err(|err| ConnectorError::NotUtf8 {
            path: e.abs.clone(),
            offset: err.utf8_error().valid_up_to(),
        })
    }

    /// Streams one `.jsonl` file from byte `offset` (line number `line`).
    fn run_jsonl(
        &self,
        e: &Entry,
        offset: u64,
        mut line: u64,
        out: &ItemSender,
    ) -> Result<(), ConnectorError> {
        let mut f = File::open(&e.abs).map_err(|err| unreadable(&e.abs, err))?;
        if offset > 0 {
            f.seek(SeekFrom::Start(offset))
                .map_err(|err| unreadable(&e.abs, err))?;
        }
        let mut r = BufReader::with_capacity(256 << 10, f);
        let mut buf = Vec::new();
        let mut pos = offset;
        let file_uri = file_uri(&e.abs);
        loop {
            let (outcome, consumed) =
                read_bounded_line(&mut r, &mut buf, self.config.max_line_bytes)
                    .map_err(|err| unreadable(&e.abs, err))?;
            if outcome == Line::Eof {
                return Ok(());
            }
            pos += consumed;
            line += 1;
            if line == 1 && buf.starts_with(BOM) {
                buf.drain(..BOM.len());
            }
            let cp = json!({"path": e.rel, "done": false, "offset": pos, "line": line});
            let skip = |reason, detail: String| {
                SourceEvent::Skip(Skip {
                    uri: format!("{file_uri}#line={line}"),
                    reason,
                    detail,
                    checkpoint: cp.clone().into(),
                })
            };
            let event = match outcome {
                Line::TooLong { len } => skip(
                    "input:line_too_long",
                    format!(
                        "{}:{line}: line of {len} bytes is over the {}-byte limit",
                        e.abs.display(),
                        self.config.max_line_bytes
                    ),
                ),
                _ if buf.iter().all(u8::is_ascii_whitespace) => continue,
                _ => match serde_json::from_slice::<JsonlLine>(&buf) {
                    Err(err) => skip(
                        "input:malformed_jsonl",
                        format!("{}:{line}: {err}", e.abs.display()),
                    ),
                    Ok(JsonlLine {
                        text: Some(serde_json::Value::String(text)),
                        url,
                        id,
                        title,
                    }) => {
                        let uri = match (url, id) {
                            (Some(u), _) if !u.is_empty() => u,
                            (_, Some(serde_json::Value::String(id))) => {
                                format!("{file_uri}#id={id}")
                            }
                            (_, Some(id)) if !id.is_null() => format!("{file_uri}#id={id}"),
                            _ => format!("{file_uri}#line={line}"),
                        };
                        SourceEvent::Item(self.item(
                            uri,
                            Kind::Jsonl,
                            title,
                            text.into_bytes(),
                            cp.clone(),
                        ))
                    }
                    Ok(_) => skip(
                        "input:malformed_jsonl",
                        format!("{}:{line}: missing string field `text`", e.abs.display()),
                    ),
                },
            };
            out.blocking_send(event)
                .map_err(|_| ConnectorError::Closed)?;
        }
    }

    fn run_blocking(
        &self,
        resume: Option<Checkpoint>,
        out: ItemSender,
    ) -> Result<(), ConnectorError> {
        for e in &self.entries {
            let mut start = (0u64, 0u64);
            if let Some(cp) = &resume {
                match e.rel.as_str().cmp(cp.path.as_str()) {
                    std::cmp::Ordering::Less => continue,
                    std::cmp::Ordering::Equal if cp.done => continue,
                    std::cmp::Ordering::Equal => start = (cp.offset, cp.line),
                    std::cmp::Ordering::Greater => {}
                }
            }
            let done = json!({"path": e.rel, "done": true});
            let event = match e.kind {
                Kind::Jsonl => {
                    self.run_jsonl(e, start.0, start.1, &out)?;
                    continue;
                }
                Kind::Unsupported => SourceEvent::Skip(Skip {
                    uri: file_uri(&e.abs),
                    reason: "type:unsupported",
                    detail: format!("{}: not one of {SUPPORTED}", e.abs.display()),
                    checkpoint: done.clone().into(),
                }),
                Kind::NotAFile => SourceEvent::Skip(Skip {
                    uri: file_uri(&e.abs),
                    reason: "type:not_a_file",
                    detail: format!(
                        "{}: not a regular file (a broken link, a link to a folder, a FIFO or a socket)",
                        e.abs.display()
                    ),
                    checkpoint: done.clone().into(),
                }),
                kind => {
                    let text = self.read_whole(e)?;
                    let title = (kind == Kind::Markdown)
                        .then(|| markdown_title(&text))
                        .flatten();
                    SourceEvent::Item(self.item(
                        file_uri(&e.abs),
                        kind,
                        title,
                        text.into_bytes(),
                        done,
                    ))
                }
            };
            out.blocking_send(event)
                .map_err(|_| ConnectorError::Closed)?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Connector for FilesConnector {
    fn kind(&self) -> &'static str {
        "files"
    }

    fn source_id(&self) -> String {
        let root = self.root.as_ref().unwrap_or(&self.config.path);
        format!("files:{}", root.display())
    }

    async fn check(&mut self) -> Result<(), ConnectorError> {
        let path = self.config.path.clone();
        let root = std::fs::canonicalize(&path).map_err(|e| unreadable(&path, e))?;
        let mut entries = Vec::new();
        if root.is_dir() {
            walk(&root, "", &mut entries)?;
        } else {
            let name = root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            entries.push(Entry {
                kind: Kind::of(&root),
                rel: name,
                abs: root.clone(),
            });
        }
        entries.sort_by(|a, b| a.rel.cmp(&b.rel));
        if entries
            .iter()
            .all(|e| matches!(e.kind, Kind::Unsupported | Kind::NotAFile))
        {
            return Err(ConnectorError::Empty {
                path: path.clone(),
                supported: SUPPORTED,
            });
        }
        // Every whole-file item is read and validated now, so a bad file fails the run
        // before anything is committed. `.jsonl` files are only opened: they are streamed,
        // and a bad line is reported and skipped, not fatal.
        let this = &*self;
        for e in &entries {
            match e.kind {
                Kind::Unsupported | Kind::NotAFile => {}
                Kind::Jsonl => {
                    File::open(&e.abs).map_err(|err| unreadable(&e.abs, err))?;
                }
                _ => {
                    this.read_whole(e)?;
                }
            }
        }
        self.root = Some(root);
        self.entries = entries;
        Ok(())
    }

    async fn run(
        mut self: Box<Self>,
        resume: Option<serde_json::Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError> {
        if self.root.is_none() {
            self.check().await?;
        }
        let resume = match resume {
            None => None,
            Some(v) => Some(
                serde_json::from_value::<Checkpoint>(v.clone()).map_err(|e| {
                    ConnectorError::Config {
                        kind: "files",
                        message: format!("unreadable checkpoint {v}: {e}"),
                    }
                })?,
            ),
        };
        tokio::task::spawn_blocking(move || self.run_blocking(resume, out))
            .await
            .map_err(|e| ConnectorError::Config {
                kind: "files",
                message: format!("reader task failed: {e}"),
            })?
    }
}

#[cfg(test)]
mod tests;

//! `warc`: pages from WARC archives (`.warc`, and `.warc.gz` made of one gzip member per
//! record, as Common Crawl segments are), from one local file or a folder of them (walked
//! recursively, hidden entries skipped, in path order).
//!
//! Each `response` record holding a 2xx HTML page becomes an item whose body is the page
//! (decoded to UTF-8, `text/html`, for the pipeline to extract). The permission checks that
//! can be redone from the archive are redone, with the crawler's own rules
//! (`web::signals`, `web::page`): `X-Robots-Tag` and `tdm-*` headers, robots and TDMRep
//! meta tags, and robots.txt and `/.well-known/tdmrep.json` *as archived*: a response for
//! the origin's file anywhere in the file set (found by a first pass over it), the capture
//! nearest before the page, else the nearest after. Without one, robots.txt is recorded
//! `unknown` (never `allowed`) and the record's basis is the contributor's declaration,
//! which every record also carries; a page the archived robots.txt disallows (or a TDM
//! reservation, `noai`, `noindex`) is skipped unless `overrides` says otherwise.
//!
//! Everything else is a counted skip: `record:warcinfo`, `record:request`,
//! `record:metadata`, `record:revisit` (and the other types), `type:unsupported` for
//! non-HTML responses, `http:status` for non-2xx ones, `warc:robots_txt` and `warc:tdmrep`
//! for the evidence records themselves.
//!
//! Damage: a record cut short by the end of its file is a `warc:truncated` skip naming the
//! file and offset, and the run goes on with the next file; a gzip member that inflates but
//! is not a WARC record is a `warc:malformed` skip (the next member is a known boundary).
//! A gzip stream that does not inflate, or a malformed header in a plain `.warc`, leaves
//! no known next boundary: the run stops with one error naming the file and the offset.
//!
//! Position: `{"file": i, "path": ..., "offset": o, "skip": k}`: the file's index in the
//! sorted set, its path (checked on resume), and the byte offset of the next record (a gzip
//! member boundary), `skip` counting records already handled in a member that holds more
//! than one. No credentials for local files; `path = "s3://bucket/prefix"` reads the WARC
//! objects under a prefix (or one object) with the standard AWS environment (see `s3.rs`),
//! each from its checkpoint's offset with one ranged GET.

mod evidence;
pub mod http;
pub mod reader;
mod s3;

use crate::local::unreadable;
use crate::web::page;
use crate::web::signals::{Directives, Overrides, Tdm, decide};
use crate::{BuildContext, Connector, ConnectorError, ItemSender, Skip, SourceEvent};
use evidence::{Archived, WellKnown, warc_date_micros};
use masa_record::{ConsentBasis, RawItem};
use reader::{Next, Position, Record, WarcReader};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use url::Url;

const KIND: &str = "warc";
/// Largest record read: 64 MiB (Common Crawl truncates its records at 1 MiB).
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 64 << 20;

/// A WARC source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarcConfig {
    /// A `.warc`/`.warc.gz` file, or a folder of them.
    pub path: PathBuf,
    /// Our robots.txt product token: its group in an archived robots.txt applies.
    #[serde(default = "default_agent")]
    pub user_agent: String,
    /// Further robots.txt agents whose rules apply (the crawler's AI-training agents).
    #[serde(default = "default_ai_agents")]
    pub ai_agents: Vec<String>,
    /// Archived publisher signals overridden by explicit choice; recorded when used.
    #[serde(default)]
    pub overrides: Overrides,
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: u64,
}

fn default_agent() -> String {
    "masa".into()
}
fn default_ai_agents() -> Vec<String> {
    crate::web::DEFAULT_AI_AGENTS
        .iter()
        .map(|s| s.to_string())
        .collect()
}
fn default_max_record_bytes() -> u64 {
    DEFAULT_MAX_RECORD_BYTES
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

impl WarcConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        WarcConfig {
            path: path.into(),
            user_agent: default_agent(),
            ai_agents: default_ai_agents(),
            overrides: Overrides::default(),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }

    pub fn build(&self, ctx: &BuildContext) -> Result<WarcConnector, ConnectorError> {
        if self.max_record_bytes == 0 {
            return Err(config_err("max_record_bytes must be greater than zero"));
        }
        let token = self.user_agent.trim();
        if token.is_empty()
            || !token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(config_err(format!(
                "user_agent {token:?}: a product token is letters, digits, '-' and '_'"
            )));
        }
        let mut agents = vec![token.to_ascii_lowercase()];
        for a in &self.ai_agents {
            let a = a.trim().to_ascii_lowercase();
            if !a.is_empty() && !agents.contains(&a) {
                agents.push(a);
            }
        }
        Ok(WarcConnector {
            path: self.path.clone(),
            agents,
            overrides: self.overrides,
            max_record_bytes: self.max_record_bytes,
            declaration: ctx.declaration.clone(),
            files: Vec::new(),
            bucket: None,
        })
    }
}

#[derive(Debug, Clone)]
struct WarcFile {
    /// Path relative to the root (the file name for a single file), `/`-separated.
    rel: String,
    /// The local path, or the object's `s3://` URL.
    abs: PathBuf,
    /// The object, for a source on S3.
    object: Option<s3::Object>,
}

pub struct WarcConnector {
    path: PathBuf,
    agents: Vec<String>,
    overrides: Overrides,
    max_record_bytes: u64,
    declaration: String,
    files: Vec<WarcFile>,
    /// The bucket, for a source on S3 (opened by `check`).
    bucket: Option<s3::Bucket>,
}

/// A file's first bytes are gzip or a WARC record (an empty file is an archive of none).
fn looks_like_warc(head: &[u8]) -> bool {
    head.is_empty() || head.starts_with(&[0x1f, 0x8b]) || head.starts_with(b"WARC/")
}

fn is_warc_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".warc") || n.ends_with(".warc.gz")
}

fn file_uri(path: &Path) -> String {
    Url::from_file_path(path)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// The checkpoint after an event: the next record of file `file` starts at `at`.
fn position(files: &[WarcFile], file: usize, at: Position) -> Value {
    json!({
        "file": file,
        "path": files.get(file).map(|f| f.rel.as_str()),
        "offset": at.offset,
        "skip": at.skip,
    })
}

/// Content that is HTML: declared so, or undeclared and looking like it.
fn html_page(media_type: &str, body: &[u8]) -> bool {
    match media_type {
        "text/html" | "application/xhtml+xml" => true,
        "" => {
            let head = body[..body.len().min(1024)].to_ascii_lowercase();
            memchr::memmem::find(&head, b"<html").is_some()
                || memchr::memmem::find(&head, b"<!doctype html").is_some()
        }
        _ => false,
    }
}

/// The counted reason for a record that is not a response.
fn record_reason(warc_type: &str) -> &'static str {
    match warc_type {
        "warcinfo" => "record:warcinfo",
        "request" => "record:request",
        "metadata" => "record:metadata",
        "revisit" => "record:revisit",
        "resource" => "record:resource",
        "conversion" => "record:conversion",
        "continuation" => "record:continuation",
        _ => "record:other",
    }
}

/// One record's outcome, before its checkpoint is attached.
enum Outcome {
    Item(Box<RawItem>),
    Skip {
        uri: String,
        reason: &'static str,
        detail: String,
    },
}

impl WarcConnector {
    fn open(
        &self,
        f: &WarcFile,
        offset: u64,
    ) -> Result<BufReader<Box<dyn Read + Send>>, ConnectorError> {
        let input: Box<dyn Read + Send> = match (&self.bucket, &f.object) {
            (Some(bucket), Some(o)) => Box::new(bucket.open_at(o, offset).map_err(source_err)?),
            _ => {
                let mut file = File::open(&f.abs).map_err(|e| unreadable(&f.abs, e))?;
                if offset > 0 {
                    file.seek(SeekFrom::Start(offset))
                        .map_err(|e| unreadable(&f.abs, e))?;
                }
                Box::new(file)
            }
        };
        Ok(BufReader::with_capacity(1 << 16, input))
    }

    /// Lists the WARC objects under an `s3://` path and checks each starts as a WARC.
    async fn check_s3(&mut self) -> Result<(), ConnectorError> {
        let path = self.path.to_string_lossy().into_owned();
        let bucket = s3::bucket(&path).map_err(source_err)?;
        let mut objects = bucket.list(is_warc_name).await.map_err(source_err)?;
        objects.sort_by(|a, b| a.rel.cmp(&b.rel));
        if objects.is_empty() {
            return Err(source_err(format!(
                "{path}: no .warc or .warc.gz objects there; check the bucket and prefix"
            )));
        }
        let mut files = Vec::with_capacity(objects.len());
        for o in objects {
            let head = bucket.head_bytes(&o, 5).await.map_err(source_err)?;
            let abs = PathBuf::from(bucket.object_url(&o.key));
            if !looks_like_warc(&head) {
                return Err(source_err(format!(
                    "{}: neither gzip nor a WARC record at its start; give .warc or .warc.gz files",
                    abs.display()
                )));
            }
            files.push(WarcFile {
                rel: o.rel.clone(),
                abs,
                object: Some(o),
            });
        }
        self.files = files;
        self.bucket = Some(bucket);
        Ok(())
    }

    fn corrupt(f: &WarcFile, e: reader::Corrupt) -> ConnectorError {
        source_err(format!(
            "{}: {e}; the file is damaged there and no next record can be found: repair or remove it",
            f.abs.display()
        ))
    }

    /// The first pass: every archived robots.txt and TDMRep file in the set.
    fn evidence(&self) -> Result<Archived, ConnectorError> {
        let mut archived = Archived::default();
        for f in &self.files {
            let mut r =
                WarcReader::new(self.open(f, 0)?, Position::default(), self.max_record_bytes);
            loop {
                match r.next_record().map_err(|e| Self::corrupt(f, e))? {
                    Next::Record(rec, _) => archived.add(&rec, self.max_record_bytes),
                    Next::End | Next::Truncated { .. } => break,
                    _ => {}
                }
            }
        }
        Ok(archived)
    }

    fn outcome(&self, f: &WarcFile, rec: &Record, archived: &mut Archived) -> Outcome {
        let at_uri = || format!("{}#offset={}", file_uri(&f.abs), rec.offset);
        let skip = |uri: String, reason: &'static str, detail: String| Outcome::Skip {
            uri,
            reason,
            detail,
        };
        let kind = rec.warc_type();
        let uri = rec.target_uri().map(str::to_owned);
        if kind != "response" {
            return skip(
                uri.unwrap_or_else(at_uri),
                record_reason(kind),
                format!("{} at offset {}: a {kind:?} record", f.rel, rec.offset),
            );
        }
        let Some(uri) = uri else {
            return skip(
                at_uri(),
                "warc:no_uri",
                format!(
                    "{} at offset {}: a response without WARC-Target-URI",
                    f.rel, rec.offset
                ),
            );
        };
        let Ok(url) = Url::parse(&uri) else {
            return skip(uri.clone(), "warc:bad_uri", format!("{uri:?} is not a URL"));
        };
        let resp = match http::parse(&rec.block, self.max_record_bytes) {
            Ok(r) => r,
            Err(e) => {
                return skip(
                    uri,
                    "warc:malformed_http",
                    format!("{} at offset {}: {e}", f.rel, rec.offset),
                );
            }
        };
        match WellKnown::of(&url) {
            Some(WellKnown::Robots) => {
                return skip(uri, "warc:robots_txt", "kept as permission evidence".into());
            }
            Some(WellKnown::TdmRep) => {
                return skip(uri, "warc:tdmrep", "kept as permission evidence".into());
            }
            None => {}
        }
        if !(200..300).contains(&resp.status) {
            return skip(uri, "http:status", format!("archived HTTP {}", resp.status));
        }
        let ct = resp.media_type();
        if !html_page(&ct, &resp.body) {
            return skip(uri, "type:unsupported", format!("content type {ct:?}"));
        }
        let date = rec.field("WARC-Date").unwrap_or("");
        let at = warc_date_micros(date);
        let captured = at.unwrap_or(0);
        let verdict = archived.robots(&url, captured, &self.agents);
        let header_reservation = resp.header("tdm-reservation").map(|v| v.trim() == "1");
        let header_policy = resp.header("tdm-policy").map(|v| v.trim().to_owned());
        let mut tdm: Tdm =
            archived
                .tdm(&url, captured)
                .statement(header_reservation, header_policy, "header");
        let mut directives = Directives::default();
        for v in resp.headers("x-robots-tag") {
            directives.add_header(v, &self.agents);
        }
        let text = page::decode(&resp.body, resp.header("content-type"));
        let facts = page::parse(&text, &url, &self.agents);
        tdm = tdm.statement(facts.tdm_reservation, facts.tdm_policy.clone(), "meta");
        directives = directives.merge(facts.directives);
        let mut consent = match decide(&verdict, &tdm, directives, self.overrides) {
            Ok(c) => c,
            Err(r) => return skip(uri, r.reason, format!("archived {date}: {}", r.detail)),
        };
        if !verdict.allowed() {
            consent.basis = ConsentBasis::ContributorDeclaration;
        }
        consent.declaration = Some(self.declaration.clone());
        let licence = match facts.licence {
            Some(l) => format!("{l} (declared by the page {uri})"),
            None => format!(
                "publisher's ({}; the page declares no licence)",
                url.host_str().unwrap_or("unknown host")
            ),
        };
        Outcome::Item(Box::new(RawItem {
            uri,
            source: KIND,
            fetched_at_micros: at
                .filter(|t| *t > 0)
                .unwrap_or_else(masa_record::now_micros),
            http_status: Some(i32::from(resp.status)),
            content_type: Some("text/html".into()),
            title: facts.title,
            body: text.into_bytes(),
            consent,
            licence: Some(licence),
            checkpoint: Value::Null.into(),
        }))
    }

    fn run_blocking(self, resume: Option<Value>, out: ItemSender) -> Result<(), ConnectorError> {
        let (mut file, mut at) = match &resume {
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
                let at = Position {
                    offset: r["offset"].as_u64().unwrap_or(0),
                    skip: r["skip"].as_u64().unwrap_or(0) as u32,
                };
                (file, at)
            }
            None => (0, Position::default()),
        };
        let mut archived = self.evidence()?;
        let send =
            |event: SourceEvent| out.blocking_send(event).map_err(|_| ConnectorError::Closed);
        while let Some(f) = self.files.get(file) {
            let mut r = WarcReader::new(self.open(f, at.offset)?, at, self.max_record_bytes);
            loop {
                let next = r.next_record().map_err(|e| Self::corrupt(f, e))?;
                let (outcome, next_at) = match next {
                    Next::End => break,
                    Next::Record(rec, next) => (self.outcome(f, &rec, &mut archived), next),
                    Next::TooLarge { offset, len, next } => (
                        Outcome::Skip {
                            uri: format!("{}#offset={offset}", file_uri(&f.abs)),
                            reason: "warc:too_large",
                            detail: format!(
                                "{} at offset {offset}: a {len}-byte record, over max_record_bytes",
                                f.rel
                            ),
                        },
                        next,
                    ),
                    Next::Malformed {
                        offset,
                        detail,
                        next,
                    } => (
                        Outcome::Skip {
                            uri: format!("{}#offset={offset}", file_uri(&f.abs)),
                            reason: "warc:malformed",
                            detail: format!("{} at offset {offset}: {detail}", f.abs.display()),
                        },
                        next,
                    ),
                    Next::Truncated { offset, detail } => {
                        let cp = position(&self.files, file + 1, Position::default());
                        send(SourceEvent::Skip(Skip {
                            uri: format!("{}#offset={offset}", file_uri(&f.abs)),
                            reason: "warc:truncated",
                            detail: format!("{} at offset {offset}: {detail}", f.abs.display()),
                            checkpoint: cp.into(),
                        }))?;
                        break;
                    }
                };
                let cp = position(&self.files, file, next_at);
                let event = match outcome {
                    Outcome::Item(mut item) => {
                        item.checkpoint = cp.into();
                        SourceEvent::Item(*item)
                    }
                    Outcome::Skip {
                        uri,
                        reason,
                        detail,
                    } => SourceEvent::Skip(Skip {
                        uri,
                        reason,
                        detail,
                        checkpoint: cp.into(),
                    }),
                };
                send(event)?;
            }
            file += 1;
            at = Position::default();
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Connector for WarcConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn source_id(&self) -> String {
        if s3::is_s3(&self.path) {
            return self.path.to_string_lossy().trim_end_matches('/').to_owned();
        }
        let p = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        file_uri(&p)
    }

    /// Lists the files and checks that each opens as a WARC (gzip or `WARC/`).
    async fn check(&mut self) -> Result<(), ConnectorError> {
        if s3::is_s3(&self.path) {
            return self.check_s3().await;
        }
        let path = self.path.clone();
        let meta = std::fs::metadata(&path).map_err(|e| unreadable(&path, e))?;
        let mut files = Vec::new();
        if meta.is_dir() {
            files = crate::local::files_under(&path, &is_warc_name)?
                .into_iter()
                .map(|(rel, abs)| WarcFile {
                    rel,
                    abs,
                    object: None,
                })
                .collect();
        } else {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push(WarcFile {
                rel: name,
                abs: path.clone(),
                object: None,
            });
        }
        files.sort_by(|a, b| a.rel.cmp(&b.rel));
        if files.is_empty() {
            return Err(ConnectorError::Empty {
                path,
                supported: ".warc, .warc.gz",
            });
        }
        for f in &files {
            let mut head = [0u8; 5];
            let mut file = File::open(&f.abs).map_err(|e| unreadable(&f.abs, e))?;
            let n = file.read(&mut head).map_err(|e| unreadable(&f.abs, e))?;
            let head = &head[..n];
            if !looks_like_warc(head) {
                return Err(source_err(format!(
                    "{}: neither gzip nor a WARC record at its start; give .warc or .warc.gz files",
                    f.abs.display()
                )));
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

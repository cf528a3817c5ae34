//! `github`: a repository's issues with their comments (REST `GET
//! /repos/{owner}/{repo}/issues?state=all`, oldest first, pull requests skipped unless
//! `pull_requests = true`) and its discussions with their comments and replies (GraphQL
//! `POST /graphql`, when `discussions = true`).
//!
//! Permission: the contributor's declaration is the consent evidence. The repository's
//! licence covers its code, not what people write in issues and discussions, so each
//! record's `licence` is its author's: "author's (GitHub user X)".
//!
//! Credentials: tokens from `MASA_GITHUB_TOKEN` (several separated by commas, rotated when
//! one is limited; see `api::keys_from_env`); `token_env` names another variable. Issues
//! can be read without a token (60 requests an hour); discussions need one. Rate limits come
//! from `X-RateLimit-Remaining`/`X-RateLimit-Reset` and secondary limits (403 or 429 with
//! `Retry-After`) are waited out, by the `api` module's rules.
//!
//! Paging and resuming: REST pages follow the `Link: rel="next"` URL, GraphQL pages the
//! `endCursor`. The checkpoint says where the next event is: `{"phase": "issues" |
//! "discussions" | "done", "page": <page URL or cursor, null for the first page>,
//! "index": <entry on that page>, "children": null | {"page": ..., "index": ...}}`, where
//! `children` means the entry itself was emitted and its comments continue there.

mod config;
mod parse;

pub use config::GithubConfig;

pub use parse::{Entry, Listing};

use crate::api::ApiClient;
use crate::{Connector, ConnectorError, ItemSender, Skip, SourceEvent};
use masa_record::{Consent, RawItem};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

const KIND: &str = "github";

fn source_err(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Source {
        kind: KIND,
        message: message.into(),
    }
}

fn api_err(e: crate::api::ApiError) -> ConnectorError {
    source_err(e.to_string())
}

pub struct GithubConnector {
    pub(super) base: Url,
    pub(super) graphql: Url,
    pub(super) owner: String,
    pub(super) name: String,
    pub(super) cfg: GithubConfig,
    pub(super) declaration: String,
    pub(super) client: ApiClient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    Issues,
    Discussions,
    Done,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChildPos {
    page: Option<String>,
    index: usize,
}

/// Where the next event is; see the module doc.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Position {
    phase: Phase,
    page: Option<String>,
    index: usize,
    children: Option<ChildPos>,
}

impl Position {
    fn start(phase: Phase) -> Position {
        Position {
            phase,
            page: None,
            index: 0,
            children: None,
        }
    }
}

const DISCUSSIONS: &str = "query($owner: String!, $name: String!, $after: String) {
  repository(owner: $owner, name: $name) {
    discussions(first: 50, after: $after, orderBy: {field: CREATED_AT, direction: ASC}) {
      pageInfo { hasNextPage endCursor }
      nodes { number url title body author { login } comments { totalCount } }
    }
  }
}";

const DISCUSSION_COMMENTS: &str =
    "query($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    discussion(number: $number) {
      comments(first: 50, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          url body author { login }
          replies(first: 50) { totalCount nodes { url body author { login } } }
        }
      }
    }
  }
}";

impl GithubConnector {
    pub(super) fn rest(&self, path: &str) -> Url {
        let mut u = self.base.clone();
        u.set_path(&format!(
            "{}/{path}",
            self.base.path().trim_end_matches('/')
        ));
        u
    }

    fn next_phase(&self, phase: Phase) -> Phase {
        match phase {
            Phase::Issues if self.cfg.discussions => Phase::Discussions,
            _ => Phase::Done,
        }
    }

    /// A page URL from a `Link` header or a checkpoint, refused unless it is under
    /// `base_url`: the token goes nowhere else.
    pub(super) fn page_url(&self, s: &str) -> Result<Url, ConnectorError> {
        let base = self.base.as_str().trim_end_matches('/');
        let under = s
            .strip_prefix(base)
            .is_some_and(|r| r.starts_with(['/', '?']));
        match Url::parse(s) {
            Ok(u) if under => Ok(u),
            _ => Err(source_err(format!(
                "page {s:?} is not under base_url {base}; refusing to send the token there"
            ))),
        }
    }

    async fn rest_page(&self, url: &Url) -> Result<(Value, Option<String>), ConnectorError> {
        let answer = self
            .client
            .get(url, "application/vnd.github+json")
            .await
            .map_err(api_err)?
            .ok_or_else(|| {
                source_err(format!(
                    "{url}: not found (404); check repo, and that the token can see it"
                ))
            })?;
        let v = answer.json().map_err(api_err)?;
        Ok((v, crate::api::link(&answer.headers, "next")))
    }

    /// A GraphQL query's `data`; a `RATE_LIMITED` answer is asked again (the client's key
    /// cooldown, set from the answer's rate-limit headers, paces the retry).
    async fn graphql(&self, query: &str, vars: Value) -> Result<Value, ConnectorError> {
        let body = json!({ "query": query, "variables": vars });
        let url = &self.graphql;
        for attempt in 1..=3 {
            let answer = self
                .client
                .post_json(url, &body)
                .await
                .map_err(api_err)?
                .ok_or_else(|| {
                    source_err(format!("{url}: no GraphQL endpoint (404); set graphql_url"))
                })?;
            let v = answer.json().map_err(api_err)?;
            let errors = v["errors"].as_array().cloned().unwrap_or_default();
            if errors.is_empty() {
                return Ok(v["data"].clone());
            }
            let limited = errors.iter().any(|e| e["type"] == "RATE_LIMITED");
            if limited && attempt < 3 {
                continue;
            }
            let first = &errors[0];
            return Err(source_err(format!(
                "{url}: GraphQL error {}: {}{}",
                first["type"].as_str().unwrap_or("(no type)"),
                first["message"].as_str().unwrap_or("(no message)"),
                if limited {
                    "; run again later, it resumes from its checkpoint"
                } else {
                    ""
                }
            )));
        }
        unreachable!("the last attempt returns")
    }

    /// The page of issues or discussions at `page` (None: the first).
    async fn parents(&self, phase: Phase, page: Option<&str>) -> Result<Listing, ConnectorError> {
        let malformed = |url: &str, e: String| {
            source_err(format!(
                "{url}: {e}; check base_url points at the GitHub API"
            ))
        };
        match phase {
            Phase::Issues => {
                let url = match page {
                    Some(p) => self.page_url(p)?,
                    None => {
                        let mut u =
                            self.rest(&format!("repos/{}/{}/issues", self.owner, self.name));
                        u.query_pairs_mut()
                            .append_pair("state", "all")
                            .append_pair("sort", "created")
                            .append_pair("direction", "asc")
                            .append_pair("per_page", "100");
                        if let Some(s) = &self.cfg.since {
                            u.query_pairs_mut().append_pair("since", s);
                        }
                        u
                    }
                };
                let (v, next) = self.rest_page(&url).await?;
                let entries = parse::rest_issues(&v, self.cfg.pull_requests, self.cfg.comments)
                    .map_err(|e| malformed(url.as_str(), e))?;
                Ok(Listing { entries, next })
            }
            Phase::Discussions => {
                let vars = json!({"owner": self.owner, "name": self.name, "after": page});
                let data = self.graphql(DISCUSSIONS, vars).await?;
                parse::discussions(&data, self.cfg.comments)
                    .map_err(|e| malformed(self.graphql.as_str(), e))
            }
            Phase::Done => Ok(Listing::default()),
        }
    }

    /// The page of comments of issue or discussion `number` at `page`.
    async fn children(
        &self,
        phase: Phase,
        number: u64,
        page: Option<&str>,
    ) -> Result<Listing, ConnectorError> {
        if phase == Phase::Discussions {
            let vars =
                json!({"owner": self.owner, "name": self.name, "number": number, "after": page});
            let data = self.graphql(DISCUSSION_COMMENTS, vars).await?;
            return parse::discussion_comments(&data)
                .map_err(|e| source_err(format!("{}: {e}", self.graphql)));
        }
        let url = match page {
            Some(p) => self.page_url(p)?,
            None => {
                let mut u = self.rest(&format!(
                    "repos/{}/{}/issues/{number}/comments",
                    self.owner, self.name
                ));
                u.query_pairs_mut().append_pair("per_page", "100");
                u
            }
        };
        let (v, next) = self.rest_page(&url).await?;
        let entries = parse::rest_comments(&v).map_err(|e| source_err(format!("{url}: {e}")))?;
        Ok(Listing { entries, next })
    }

    fn event(&self, e: &Entry, after: &Position) -> SourceEvent {
        let checkpoint = serde_json::to_value(after).expect("a position serialises");
        if let Some((reason, detail)) = &e.skip {
            return SourceEvent::Skip(Skip {
                uri: e.uri.clone(),
                reason,
                detail: detail.clone(),
                checkpoint: checkpoint.into(),
            });
        }
        let licence = match &e.author {
            Some(login) => format!("author's (GitHub user {login})"),
            None => "author's (a deleted GitHub account)".to_owned(),
        };
        SourceEvent::Item(RawItem {
            uri: e.uri.clone(),
            source: KIND,
            fetched_at_micros: masa_record::now_micros(),
            http_status: Some(200),
            content_type: Some("text/markdown".into()),
            title: e.title.clone(),
            body: e.body.clone().into_bytes(),
            consent: Consent::declared(self.declaration.clone()),
            licence: Some(licence),
            checkpoint: checkpoint.into(),
        })
    }
}

/// The position after entry `i` of `listing` (at `page` of `phase`) and all its comments.
fn after_entry(
    c: &GithubConnector,
    phase: Phase,
    page: &Option<String>,
    i: usize,
    listing: &Listing,
) -> Position {
    if i + 1 < listing.entries.len() {
        return Position {
            phase,
            page: page.clone(),
            index: i + 1,
            children: None,
        };
    }
    match &listing.next {
        Some(next) => Position {
            phase,
            page: Some(next.clone()),
            index: 0,
            children: None,
        },
        None => Position::start(c.next_phase(phase)),
    }
}

#[async_trait::async_trait]
impl Connector for GithubConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn source_id(&self) -> String {
        let mut what = Vec::new();
        if self.cfg.issues {
            what.push(if self.cfg.pull_requests {
                "issues+pulls"
            } else {
                "issues"
            });
        }
        if self.cfg.discussions {
            what.push("discussions");
        }
        if self.cfg.comments {
            what.push("comments");
        }
        format!(
            "{}#{}/{} {} since={}",
            self.base,
            self.owner,
            self.name,
            what.join("+"),
            self.cfg.since.as_deref().unwrap_or("*")
        )
    }

    /// One cheap request: `GET /repos/{owner}/{repo}`, which says whether the repository
    /// exists and the token works.
    async fn check(&mut self) -> Result<(), ConnectorError> {
        let url = self.rest(&format!("repos/{}/{}", self.owner, self.name));
        let v = self
            .client
            .get_json(&url)
            .await
            .map_err(api_err)?
            .ok_or_else(|| {
                source_err(format!(
                    "{url}: repository {}/{} not found; check repo, or give a token that can see it in {}",
                    self.owner, self.name, self.cfg.token_env
                ))
            })?;
        if v["full_name"].as_str().is_none() {
            return Err(source_err(format!(
                "{url}: not a repository in the answer; check base_url points at the GitHub API"
            )));
        }
        Ok(())
    }

    async fn run(
        self: Box<Self>,
        resume: Option<Value>,
        out: ItemSender,
    ) -> Result<(), ConnectorError> {
        let first = if self.cfg.issues {
            Phase::Issues
        } else {
            Phase::Discussions
        };
        let mut pos: Position = match resume {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| source_err(format!("checkpoint {v} is not a github position: {e}")))?,
            None => Position::start(first),
        };
        let limit = self.cfg.max_items.unwrap_or(u64::MAX);
        let mut emitted = 0u64;
        macro_rules! emit {
            ($entry:expr, $after:expr) => {{
                if emitted >= limit {
                    return Ok(());
                }
                out.send(self.event($entry, $after))
                    .await
                    .map_err(|_| ConnectorError::Closed)?;
                emitted += 1;
            }};
        }
        while pos.phase != Phase::Done {
            let phase = pos.phase;
            let page = pos.page.clone();
            let listing = self.parents(phase, page.as_deref()).await?;
            // Where the comments of the first entry resume, when its checkpoint says so.
            let mut children = pos.children.take();
            let start = pos.index;
            for (i, entry) in listing.entries.iter().enumerate().skip(start) {
                let done = after_entry(&self, phase, &page, i, &listing);
                let Some(number) = entry.children.filter(|_| entry.skip.is_none()) else {
                    emit!(entry, &done);
                    continue;
                };
                let resumed = if i == start { children.take() } else { None };
                let mut at = match resumed {
                    Some(c) => c,
                    None => {
                        let at = ChildPos {
                            page: None,
                            index: 0,
                        };
                        let after = Position {
                            phase,
                            page: page.clone(),
                            index: i,
                            children: Some(at.clone()),
                        };
                        emit!(entry, &after);
                        at
                    }
                };
                loop {
                    let kids = self.children(phase, number, at.page.as_deref()).await?;
                    for (j, kid) in kids.entries.iter().enumerate().skip(at.index) {
                        let next = if j + 1 < kids.entries.len() {
                            Some(ChildPos {
                                page: at.page.clone(),
                                index: j + 1,
                            })
                        } else {
                            kids.next.clone().map(|p| ChildPos {
                                page: Some(p),
                                index: 0,
                            })
                        };
                        let after = match next {
                            Some(c) => Position {
                                phase,
                                page: page.clone(),
                                index: i,
                                children: Some(c),
                            },
                            None => done.clone(),
                        };
                        emit!(kid, &after);
                    }
                    match kids.next {
                        Some(p) => {
                            at = ChildPos {
                                page: Some(p),
                                index: 0,
                            }
                        }
                        None => break,
                    }
                }
            }
            pos = match &listing.next {
                Some(next) => Position {
                    phase,
                    page: Some(next.clone()),
                    index: 0,
                    children: None,
                },
                None => Position::start(self.next_phase(phase)),
            };
        }
        Ok(())
    }
}

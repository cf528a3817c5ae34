//! The `github` connector's configuration and its checks: everything is validated before
//! a request is made.

use super::{GithubConnector, KIND};
use crate::api::{ApiClient, ApiOptions, Auth};
use crate::{BuildContext, ConnectorError};
use reqwest::header::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://api.github.com";
pub const TOKEN_ENV: &str = "MASA_GITHUB_TOKEN";

/// A GitHub repository's issues and discussions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// The REST API root: `https://api.github.com`, or `https://HOST/api/v3` for GitHub
    /// Enterprise Server.
    #[serde(default = "default_base")]
    pub base_url: String,
    /// The GraphQL endpoint; by default `{base_url}/graphql`, or `https://HOST/api/graphql`
    /// when `base_url` ends in `/api/v3`.
    #[serde(default)]
    pub graphql_url: Option<String>,
    /// `owner/name`.
    pub repo: String,
    #[serde(default = "yes")]
    pub issues: bool,
    /// Pull requests too (the issues list holds them; skipped and counted otherwise).
    #[serde(default)]
    pub pull_requests: bool,
    /// Each issue's and discussion's comments.
    #[serde(default = "yes")]
    pub comments: bool,
    #[serde(default)]
    pub discussions: bool,
    /// Only issues updated at or after this time (ISO 8601, `2024-01-01T00:00:00Z`).
    #[serde(default)]
    pub since: Option<String>,
    /// The environment variable holding the tokens.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Stop after this many items and skips.
    #[serde(default)]
    pub max_items: Option<u64>,
}

fn default_base() -> String {
    DEFAULT_BASE_URL.to_owned()
}

fn default_token_env() -> String {
    TOKEN_ENV.to_owned()
}

fn yes() -> bool {
    true
}

fn config_err(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Config {
        kind: KIND,
        message: message.into(),
    }
}

fn http_url(what: &str, s: &str) -> Result<Url, ConnectorError> {
    let u = Url::parse(s.trim_end_matches('/'))
        .map_err(|e| config_err(format!("{what} {s:?}: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(config_err(format!("{what} must be http:// or https://")));
    }
    Ok(u)
}

/// `2024-01-01T00:00:00Z` or with an offset: digits where digits go.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19]
            .into_iter()
            .all(|r| b[r].iter().all(u8::is_ascii_digit))
}

impl GithubConfig {
    pub fn build(&self, ctx: &BuildContext) -> Result<GithubConnector, ConnectorError> {
        let base = http_url("base_url", &self.base_url)?;
        let graphql = match &self.graphql_url {
            Some(g) => http_url("graphql_url", g)?,
            None => {
                let mut g = base.clone();
                let path = base.path().trim_end_matches('/');
                g.set_path(&match path.strip_suffix("/api/v3") {
                    Some(root) => format!("{root}/api/graphql"),
                    None => format!("{path}/graphql"),
                });
                g
            }
        };
        let (owner, name) = self
            .repo
            .split_once('/')
            .filter(|(o, n)| {
                let ok = |s: &str| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                };
                ok(o) && ok(n)
            })
            .ok_or_else(|| {
                config_err(format!(
                    "repo {:?} is not `owner/name` (like \"rust-lang/rust\")",
                    self.repo
                ))
            })?;
        if !self.issues && !self.discussions {
            return Err(config_err(
                "nothing to read: set issues = true or discussions = true",
            ));
        }
        if self.pull_requests && !self.issues {
            return Err(config_err("pull_requests goes with issues = true"));
        }
        if let Some(s) = &self.since
            && !is_timestamp(s)
        {
            return Err(config_err(format!(
                "since {s:?} is not an ISO 8601 time like 2024-01-01T00:00:00Z"
            )));
        }
        let keys = crate::api::keys(ctx, &self.token_env);
        if self.discussions && keys.is_empty() {
            return Err(config_err(format!(
                "discussions are read through GitHub's GraphQL API, which needs a token: set {}",
                self.token_env
            )));
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static("2022-11-28"),
        );
        let opts = ApiOptions {
            headers,
            ..ApiOptions::default()
        };
        let client = ApiClient::new(opts, Auth::Bearer, keys).map_err(config_err)?;
        Ok(GithubConnector {
            base,
            graphql,
            owner: owner.to_owned(),
            name: name.to_owned(),
            cfg: self.clone(),
            declaration: ctx.declaration.clone(),
            client,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn build(v: Value) -> Result<GithubConnector, ConnectorError> {
        let mut v = v;
        // A variable no one sets, so the tests never see a real token.
        v["token_env"] = json!("MASA_TEST_UNSET_GITHUB_TOKEN");
        serde_json::from_value::<GithubConfig>(v)
            .unwrap()
            .build(&BuildContext {
                declaration: "test".into(),
                credentials: Default::default(),
            })
    }

    #[test]
    fn a_config_is_checked_before_any_request() {
        let err = |v: Value| match build(v) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        };
        assert!(err(json!({"repo": "rust-lang"})).contains("owner/name"));
        assert!(err(json!({"repo": "a/b/c"})).contains("owner/name"));
        assert!(err(json!({"repo": "a/b", "issues": false})).contains("nothing to read"));
        assert!(err(json!({"repo": "a/b", "since": "2024-01-01"})).contains("ISO 8601"));
        assert!(err(json!({"repo": "a/b", "discussions": true})).contains("needs a token"));
        assert!(err(json!({"repo": "a/b", "base_url": "ftp://x"})).contains("http"));
        let c = build(json!({"repo": "a/b", "since": "2024-01-01T00:00:00Z"})).unwrap();
        assert_eq!(c.graphql.as_str(), "https://api.github.com/graphql");
        let ghe =
            build(json!({"repo": "a/b", "base_url": "https://ghe.example.com/api/v3/"})).unwrap();
        assert_eq!(ghe.graphql.as_str(), "https://ghe.example.com/api/graphql");
        assert_eq!(
            ghe.rest("repos/a/b").as_str(),
            "https://ghe.example.com/api/v3/repos/a/b"
        );
        // Pages from elsewhere never get the token.
        assert!(
            ghe.page_url("https://ghe.example.com/api/v3/repositories/1/issues?page=2")
                .is_ok()
        );
        assert!(ghe.page_url("https://evil.example.com/api/v3/x").is_err());
        assert!(ghe.page_url("https://ghe.example.com/api/v3x/y").is_err());
    }
}

//! The GitHub answers the `github` connector reads, turned into entries to emit: REST issue
//! and comment lists (paged by the `Link` header) and GraphQL discussion and comment pages
//! (paged by `endCursor`). Pure functions over the answers, tested on saved ones.

use serde_json::Value;

/// One thing in a listing, ready to become an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub uri: String,
    pub title: Option<String>,
    /// Markdown.
    pub body: String,
    /// The author's login; `None` for a deleted account.
    pub author: Option<String>,
    /// Why this is a skip rather than an item.
    pub skip: Option<(&'static str, String)>,
    /// Comments to walk after it: the issue or discussion number.
    pub children: Option<u64>,
}

/// One page of a listing and where the next one is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub entries: Vec<Entry>,
    /// The next page: a URL for REST, an `after` cursor for GraphQL.
    pub next: Option<String>,
}

fn author(v: &Value, field: &str) -> Option<String> {
    v[field]["login"].as_str().map(str::to_owned)
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").trim().to_owned()
}

/// An issue (or pull request) of the REST issues list.
pub fn issue(v: &Value, pull_requests: bool, comments: bool) -> Entry {
    let number = v["number"].as_u64();
    let title = text(&v["title"]);
    let body = text(&v["body"]);
    let mut e = Entry {
        uri: v["html_url"].as_str().unwrap_or("").to_owned(),
        title: Some(title.clone()).filter(|t| !t.is_empty()),
        body: match (title.is_empty(), body.is_empty()) {
            (false, false) => format!("{title}\n\n{body}"),
            (false, true) => title,
            (true, _) => body,
        },
        author: author(v, "user"),
        skip: None,
        children: number.filter(|_| comments && v["comments"].as_u64().unwrap_or(0) > 0),
    };
    if v.get("pull_request").is_some_and(|p| !p.is_null()) && !pull_requests {
        e.skip = Some((
            "github:pull_request",
            "a pull request; set pull_requests = true to read them".into(),
        ));
        e.children = None;
    } else if e.uri.is_empty() || number.is_none() {
        e.skip = Some(("github:malformed", format!("no html_url or number in {v}")));
        e.children = None;
    } else if e.body.is_empty() {
        e.skip = Some(("github:empty", "no title or body".into()));
    }
    e
}

/// A comment: REST issue comments and GraphQL discussion comments and replies share these
/// fields (`html_url`/`url`, `body`, `user`/`author`).
fn comment(v: &Value) -> Entry {
    let uri = v["html_url"].as_str().or(v["url"].as_str()).unwrap_or("");
    let body = text(&v["body"]);
    Entry {
        uri: uri.to_owned(),
        title: None,
        skip: if uri.is_empty() {
            Some(("github:malformed", format!("a comment without a URL: {v}")))
        } else if body.is_empty() {
            Some(("github:empty", "an empty comment".into()))
        } else {
            None
        },
        body,
        author: author(v, "user").or_else(|| author(v, "author")),
        children: None,
    }
}

/// A REST comments page (a JSON array).
pub fn rest_comments(v: &Value) -> Result<Vec<Entry>, String> {
    Ok(v.as_array()
        .ok_or("not a list of comments")?
        .iter()
        .map(comment)
        .collect())
}

/// A REST issues page (a JSON array).
pub fn rest_issues(v: &Value, pull_requests: bool, comments: bool) -> Result<Vec<Entry>, String> {
    Ok(v.as_array()
        .ok_or("not a list of issues")?
        .iter()
        .map(|i| issue(i, pull_requests, comments))
        .collect())
}

fn connection<'a>(v: &'a Value, what: &str) -> Result<(&'a Vec<Value>, Option<String>), String> {
    let nodes = v["nodes"]
        .as_array()
        .ok_or_else(|| format!("no {what} nodes in the answer"))?;
    let next = (v["pageInfo"]["hasNextPage"].as_bool() == Some(true))
        .then(|| v["pageInfo"]["endCursor"].as_str().map(str::to_owned))
        .flatten();
    Ok((nodes, next))
}

/// A GraphQL page of `repository.discussions`.
pub fn discussions(data: &Value, comments: bool) -> Result<Listing, String> {
    let (nodes, next) = connection(&data["repository"]["discussions"], "discussion")?;
    let entries = nodes
        .iter()
        .map(|d| {
            let mut e = issue(
                &serde_json::json!({
                    "number": d["number"], "html_url": d["url"], "title": d["title"],
                    "body": d["body"], "user": d["author"],
                    "comments": d["comments"]["totalCount"],
                }),
                false,
                comments,
            );
            if e.author.is_none() {
                e.author = author(d, "author");
            }
            e
        })
        .collect();
    Ok(Listing { entries, next })
}

/// A GraphQL page of one discussion's comments, each followed by its replies; replies past
/// those the page carries become one skip, so none goes uncounted.
pub fn discussion_comments(data: &Value) -> Result<Listing, String> {
    let (nodes, next) = connection(
        &data["repository"]["discussion"]["comments"],
        "discussion comment",
    )?;
    let mut entries = Vec::new();
    for c in nodes {
        let e = comment(c);
        let uri = e.uri.clone();
        entries.push(e);
        let replies = c["replies"]["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        entries.extend(replies.iter().map(comment));
        let total = c["replies"]["totalCount"].as_u64().unwrap_or(0);
        if total > replies.len() as u64 {
            entries.push(Entry {
                uri: format!("{uri}#replies"),
                title: None,
                body: String::new(),
                author: None,
                skip: Some((
                    "github:replies_not_fetched",
                    format!(
                        "{} of {total} replies not read (only the first {} per comment are)",
                        total - replies.len() as u64,
                        replies.len()
                    ),
                )),
                children: None,
            });
        }
    }
    Ok(Listing { entries, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, LINK};
    use serde_json::json;

    #[test]
    fn the_next_page_comes_from_the_link_header() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(
                "<https://api.github.com/repositories/1300192/issues?page=1>; rel=\"prev\", <https://api.github.com/repositories/1300192/issues?page=3>; rel=\"next\", <https://api.github.com/repositories/1300192/issues?page=5>; rel=\"last\"",
            ),
        );
        assert_eq!(
            crate::api::link(&h, "next").as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=3")
        );
        let mut last = HeaderMap::new();
        last.insert(
            LINK,
            HeaderValue::from_static("<https://x/issues?page=1>; rel=\"first\""),
        );
        assert_eq!(crate::api::link(&last, "next"), None);
        assert_eq!(crate::api::link(&HeaderMap::new(), "next"), None);
    }

    #[test]
    fn pull_requests_empty_and_deleted_authors_are_told_apart() {
        let pr = json!({"number": 2, "html_url": "https://github.com/o/r/pull/2", "title": "Fix",
                        "body": null, "user": {"login": "a"}, "comments": 3,
                        "pull_request": {"url": "https://api.github.com/repos/o/r/pulls/2"}});
        let e = issue(&pr, false, true);
        assert_eq!(e.skip.map(|s| s.0), Some("github:pull_request"));
        assert_eq!(e.children, None);
        let e = issue(&pr, true, true);
        assert_eq!(
            (e.skip, e.children, e.body.as_str()),
            (None, Some(2), "Fix")
        );
        let ghost = json!({"number": 3, "html_url": "u", "title": "", "body": "  ", "user": null,
                           "comments": 0});
        let e = issue(&ghost, false, true);
        assert_eq!(e.skip.map(|s| s.0), Some("github:empty"));
        assert_eq!(e.author, None);
        assert!(rest_issues(&json!({"message": "x"}), false, true).is_err());
    }
}

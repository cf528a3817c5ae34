//! Page metadata: title, canonical URL, description, author, publication date, declared
//! language and licence, from `<head>` tags, JSON-LD and a few in-page conventions.

use scraper::{Html, Node};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metadata {
    pub title: Option<String>,
    pub canonical: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    /// As the page states it (ISO 8601 in most pages).
    pub published: Option<String>,
    /// The `lang` attribute of `<html>`.
    pub declared_lang: Option<String>,
    pub licence: Option<String>,
}

fn clean(s: &str) -> Option<String> {
    let t = s.split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then_some(t)
}

fn text_of(node: ego_tree::NodeRef<'_, Node>) -> String {
    node.descendants()
        .filter_map(|n| n.value().as_text().map(|t| t.to_string()))
        .collect()
}

/// Reads the metadata of a parsed page.
pub fn read(doc: &Html) -> Metadata {
    let mut m = Metadata::default();
    let mut og_title = None;
    let mut h1 = None;
    let mut ld = Vec::new();
    let mut time = None;
    let mut cc = None;
    for node in doc.tree.nodes() {
        let Node::Element(el) = node.value() else {
            continue;
        };
        let attr = |k: &str| el.attr(k).and_then(clean);
        let rel_has = |w: &str| {
            el.attr("rel").is_some_and(|r| {
                r.split_ascii_whitespace()
                    .any(|x| x.eq_ignore_ascii_case(w))
            })
        };
        match el.name() {
            "html" => m.declared_lang = m.declared_lang.take().or_else(|| attr("lang")),
            "title" if m.title.is_none() => m.title = clean(&text_of(node)),
            "h1" if h1.is_none() => h1 = clean(&text_of(node)),
            "meta" => {
                let key = el
                    .attr("name")
                    .or_else(|| el.attr("property"))
                    .or_else(|| el.attr("itemprop"))
                    .map(|k| k.trim().to_ascii_lowercase());
                let (Some(key), Some(content)) = (key, attr("content")) else {
                    continue;
                };
                let slot = match key.as_str() {
                    "description" | "og:description" => &mut m.description,
                    "author" | "article:author" | "dc.creator" | "dcterms.creator" => &mut m.author,
                    "article:published_time"
                    | "date"
                    | "dc.date"
                    | "dcterms.created"
                    | "dcterms.date"
                    | "pubdate"
                    | "publish-date"
                    | "datepublished" => &mut m.published,
                    "og:title" => &mut og_title,
                    _ => continue,
                };
                slot.get_or_insert(content);
            }
            "link" if rel_has("canonical") => {
                m.canonical = m.canonical.take().or_else(|| attr("href"))
            }
            "link" | "a" if rel_has("license") => {
                m.licence = m.licence.take().or_else(|| attr("href"))
            }
            "a" if rel_has("author") && m.author.is_none() => m.author = clean(&text_of(node)),
            "a" if cc.is_none() => {
                if let Some(h) = el.attr("href")
                    && h.contains("creativecommons.org/licenses/")
                {
                    cc = clean(h);
                }
            }
            "time" if time.is_none() => time = attr("datetime"),
            "script"
                if el
                    .attr("type")
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json")) =>
            {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text_of(node)) {
                    ld.push(v);
                }
            }
            _ => {}
        }
    }
    for v in &ld {
        m.author = m.author.take().or_else(|| ld_field(v, "author"));
        m.published = m.published.take().or_else(|| ld_field(v, "datePublished"));
        m.licence = m.licence.take().or_else(|| ld_field(v, "license"));
    }
    m.title = m.title.or(og_title).or(h1);
    m.published = m.published.or(time);
    m.licence = m.licence.or(cc);
    m
}

/// A JSON-LD field at any depth: a string, or an object's `name`/`url`/`@id`, or the first
/// of an array.
fn ld_field(v: &serde_json::Value, key: &str) -> Option<String> {
    use serde_json::Value;
    fn value(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => clean(s),
            Value::Object(o) => ["name", "url", "@id"]
                .iter()
                .find_map(|k| o.get(*k).and_then(value)),
            Value::Array(a) => a.iter().find_map(value),
            _ => None,
        }
    }
    match v {
        Value::Object(o) => o
            .get(key)
            .and_then(value)
            .or_else(|| o.values().find_map(|x| ld_field(x, key))),
        Value::Array(a) => a.iter().find_map(|x| ld_field(x, key)),
        _ => None,
    }
}

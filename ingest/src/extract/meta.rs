//! Page metadata: title, canonical URL, description, author, publication date, declared
//! language and licence, from `<head>` tags, JSON-LD and a few in-page conventions.

use super::attr;
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
    let mut site_name = None;
    let mut og_url = None;
    let mut h1s: Vec<String> = Vec::new();
    let mut byline = None;
    let mut ld = Vec::new();
    let mut time = None;
    let mut cc = None;
    for node in doc.tree.nodes() {
        let Node::Element(el) = node.value() else {
            continue;
        };
        let value = |k: &str| attr(el, k).and_then(clean);
        let rel_has = |w: &str| {
            attr(el, "rel").is_some_and(|r| {
                r.split_ascii_whitespace()
                    .any(|x| x.eq_ignore_ascii_case(w))
            })
        };
        match el.name() {
            "html" => m.declared_lang = m.declared_lang.take().or_else(|| value("lang")),
            "title" if m.title.is_none() => m.title = clean(&text_of(node)),
            "h1" if h1s.len() < 4 => h1s.extend(clean(&text_of(node))),
            "meta" => {
                let key = attr(el, "name")
                    .or_else(|| attr(el, "property"))
                    .or_else(|| attr(el, "itemprop"))
                    .map(|k| k.trim().to_ascii_lowercase());
                let (Some(key), Some(content)) = (key, value("content")) else {
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
                    "og:site_name" | "application-name" => &mut site_name,
                    "og:url" => &mut og_url,
                    _ => continue,
                };
                slot.get_or_insert(content);
            }
            "link" if rel_has("canonical") => {
                m.canonical = m.canonical.take().or_else(|| value("href"))
            }
            "link" | "a" if rel_has("license") => {
                m.licence = m.licence.take().or_else(|| value("href"))
            }
            "a" if rel_has("author") && m.author.is_none() => m.author = clean(&text_of(node)),
            _ if byline.is_none() && names_byline(el) => byline = clean(&text_of(node)),
            "a" if cc.is_none() => {
                if let Some(h) = attr(el, "href")
                    && h.contains("creativecommons.org/licenses/")
                {
                    cc = clean(h);
                }
            }
            "time" if time.is_none() => time = value("datetime"),
            "script"
                if attr(el, "type")
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json")) =>
            {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text_of(node)) {
                    ld.push(v);
                }
            }
            _ => {}
        }
    }
    let ids = ld_names(&ld);
    let mut ld_author = None;
    for v in &ld {
        ld_author = ld_author.or_else(|| ld_person(v, &ids));
        m.published = m.published.take().or_else(|| ld_field(v, "datePublished"));
        m.licence = m.licence.take().or_else(|| ld_field(v, "license"));
        site_name = site_name.or_else(|| ld_publisher(v));
    }
    let headline = ld.iter().find_map(|v| ld_field(v, "headline"));
    let host = m
        .canonical
        .as_deref()
        .or(og_url.as_deref())
        .and_then(host_label);
    let site = Site {
        name: site_name.as_deref().map(squash),
        host,
    };
    // The author the page names as a person: JSON-LD first (it says what it is), then the
    // meta tags, the author link and the byline; never the site itself or a URL.
    m.author = [
        ld_author,
        m.author.take(),
        byline.as_deref().map(strip_by).and_then(|b| clean(&b)),
    ]
    .into_iter()
    .flatten()
    .map(|a| unescape(&a))
    .find(|a| is_person(a, &site));
    // The visible headline: the page's `<h1>` that the metadata titles agree with, else the
    // metadata title without the site's name.
    let titles: Vec<&str> = [headline.as_deref(), og_title.as_deref(), m.title.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let agreed = h1s.iter().find(|h| {
        let h = squash(h);
        h.len() >= 8 && titles.iter().any(|t| squash(t).starts_with(&h))
    });
    m.title = agreed
        .cloned()
        .or_else(|| titles.first().map(|t| strip_site(t, &site)))
        .or_else(|| h1s.first().cloned());
    m.published = m.published.or(time);
    m.licence = m.licence.or(cc);
    m
}

/// What names the site, to tell it from an author or a headline.
struct Site {
    /// `og:site_name` or the JSON-LD publisher, squashed.
    name: Option<String>,
    /// The canonical host's main label (`badische-zeitung` of `www.badische-zeitung.de`),
    /// squashed.
    host: Option<String>,
}

impl Site {
    fn is(&self, s: &str) -> bool {
        let s = squash(s);
        !s.is_empty()
            && (self
                .name
                .as_deref()
                .is_some_and(|n| !n.is_empty() && (s.contains(n) || n.contains(&s)))
                || self
                    .host
                    .as_deref()
                    .is_some_and(|h| h.len() >= 3 && s.contains(h)))
    }
}

/// Lowercase letters and digits only: how names are compared.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn host_label(url: &str) -> Option<String> {
    let host = url
        .split("://")
        .nth(1)?
        .split(['/', '?', '#', ':'])
        .next()?;
    let labels: Vec<&str> = host.split('.').collect();
    let main = labels.len().checked_sub(2).map(|i| labels[i])?;
    Some(squash(main))
}

/// A title without the site's name: `Headline | Site` and `Headline - Site` lose the
/// segments that name the site (or, when none does, a last segment much shorter than the
/// rest).
fn strip_site(title: &str, site: &Site) -> String {
    const SEPARATORS: &[&str] = &[" | ", " - ", " – ", " — ", " · ", " :: ", " » ", " • "];
    let mut t = title.trim().to_owned();
    while let Some((at, sep)) = SEPARATORS
        .iter()
        .filter_map(|s| t.rfind(s).map(|i| (i, *s)))
        .max_by_key(|(i, _)| *i)
    {
        let (head, tail) = (t[..at].trim(), t[at + sep.len()..].trim());
        if head.is_empty() || !(site.is(tail) || tail.is_empty()) {
            break;
        }
        t = head.to_owned();
    }
    t.trim_end_matches(['|', '-', '–', '—', ' ']).to_owned()
}

/// Whether an element's class or id says it holds the byline.
fn names_byline(el: &scraper::node::Element) -> bool {
    attr(el, "class")
        .into_iter()
        .chain(attr(el, "id"))
        .flat_map(|v| v.split_ascii_whitespace())
        .any(|w| {
            // Asked of every element until one is found: compared in place, not lowercased.
            w.as_bytes()
                .windows(6)
                .any(|x| x.eq_ignore_ascii_case(b"byline"))
                || w.split(['-', '_'])
                    .any(|p| p.eq_ignore_ascii_case("author") || p.eq_ignore_ascii_case("autor"))
        })
}

/// A byline without its "By"/"Von"/"Par"/"Por"/"Author:" and the like.
fn strip_by(s: &str) -> String {
    let t = s.trim();
    let lower = t.to_lowercase();
    for p in [
        "by ", "von ", "par ", "por ", "autor:", "author:", "autorin:", "text:", "di ",
    ] {
        if lower.starts_with(p) {
            return t[p.len()..].trim().to_owned();
        }
    }
    t.to_owned()
}

/// Whether a name reads as a person's (or agency's) name: not a URL, not the site, a few
/// words without digits.
fn is_person(a: &str, site: &Site) -> bool {
    let words = a.split_whitespace().count();
    !a.contains("://")
        && !a.contains(".com")
        && !a.contains('/')
        && !a.contains('@')
        && !a.chars().any(|c| c.is_ascii_digit())
        && (1..=8).contains(&words)
        && a.chars().count() <= 80
        && !site.is(a)
}

/// HTML character references left in a value by a double escape (`O&#039;Donnell`).
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            match name {
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "lt" => Some('<'),
                "gt" => Some('>'),
                _ => {
                    let n = name.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The names of the JSON-LD nodes that have an `@id`, so that a reference
/// (`"author": {"@id": "…#/schema/person/…"}`) resolves to the person it points to.
fn ld_names(ld: &[serde_json::Value]) -> std::collections::HashMap<String, String> {
    use serde_json::Value;
    fn walk(v: &Value, out: &mut std::collections::HashMap<String, String>) {
        match v {
            Value::Object(o) => {
                if let (Some(Value::String(id)), Some(Value::String(name))) =
                    (o.get("@id"), o.get("name"))
                {
                    out.insert(id.clone(), name.clone());
                }
                o.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = std::collections::HashMap::new();
    ld.iter().for_each(|v| walk(v, &mut out));
    out
}

/// The JSON-LD `author` at any depth as names: a string, a person's `name` or the name
/// its `@id` points to; several authors joined by commas.
fn ld_person(
    v: &serde_json::Value,
    ids: &std::collections::HashMap<String, String>,
) -> Option<String> {
    use serde_json::Value;
    fn name(v: &Value, ids: &std::collections::HashMap<String, String>) -> Option<String> {
        match v {
            Value::String(s) => clean(s),
            Value::Object(o) => o
                .get("name")
                .and_then(|n| n.as_str())
                .and_then(clean)
                .or_else(|| {
                    o.get("@id")
                        .and_then(|i| i.as_str())
                        .and_then(|i| ids.get(i))
                        .and_then(|n| clean(n))
                }),
            _ => None,
        }
    }
    match v {
        Value::Object(o) => match o.get("author") {
            Some(Value::Array(a)) => {
                let names: Vec<String> = a.iter().filter_map(|x| name(x, ids)).collect();
                (!names.is_empty()).then(|| names.join(", "))
            }
            Some(x) => name(x, ids),
            None => o.values().find_map(|x| ld_person(x, ids)),
        },
        Value::Array(a) => a.iter().find_map(|x| ld_person(x, ids)),
        _ => None,
    }
}

/// The JSON-LD publisher's name, which names the site.
fn ld_publisher(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::Object(o) => o
            .get("publisher")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .and_then(clean)
            .or_else(|| o.values().find_map(ld_publisher)),
        Value::Array(a) => a.iter().find_map(ld_publisher),
        _ => None,
    }
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

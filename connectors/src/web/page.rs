//! What the crawler reads from a fetched page, as a pure function of its bytes: the text
//! decoded to UTF-8, the links to follow, the page's own permission signals (robots meta,
//! TDMRep meta) and its licence.

use super::signals::Directives;
use super::urls::resolve;
use scraper::{Html, Node};
use url::Url;

/// The facts of one page.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PageFacts {
    pub title: Option<String>,
    /// Links to follow, resolved and normalized, in document order, without repeats and
    /// without `rel="nofollow"` links.
    pub links: Vec<Url>,
    /// `<meta name="robots">` and `<meta name="<agent>">` directives that apply to us.
    pub directives: Directives,
    /// `<meta name="tdm-reservation">`: `Some(true)` for `1`.
    pub tdm_reservation: Option<bool>,
    /// `<meta name="tdm-policy">`.
    pub tdm_policy: Option<String>,
    /// The licence the page declares (`rel="license"`, a Creative Commons link, JSON-LD
    /// `license`), as an absolute URL or the declared text.
    pub licence: Option<String>,
}

/// Decodes a page body to UTF-8: a byte-order mark first, then the `charset` of the
/// Content-Type header, then a `<meta charset>` in the first 1,024 bytes, then UTF-8, and
/// windows-1252 when the bytes are not UTF-8 (what browsers do). Never fails.
pub fn decode(body: &[u8], content_type: Option<&str>) -> String {
    let from_header = content_type.and_then(charset_param);
    let enc = encoding_rs::Encoding::for_bom(body)
        .map(|(e, _)| e)
        .or_else(|| from_header.and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes())))
        .or_else(|| meta_charset(&body[..body.len().min(1024)]));
    let enc = match enc {
        Some(e) => e,
        None if std::str::from_utf8(body).is_ok() => encoding_rs::UTF_8,
        None => encoding_rs::WINDOWS_1252,
    };
    enc.decode(body).0.into_owned()
}

fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']))
    })
}

/// `<meta charset="x">` or `<meta http-equiv="Content-Type" content="...; charset=x">`.
fn meta_charset(head: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let lower = head.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = memchr::memmem::find(&lower[at..], b"charset=") {
        let start = at + i + b"charset=".len();
        let rest = &lower[start..];
        let rest = rest
            .strip_prefix(b"\"")
            .or_else(|| rest.strip_prefix(b"'"))
            .unwrap_or(rest);
        let end = rest
            .iter()
            .position(|b| matches!(b, b'"' | b'\'' | b';' | b'>' | b' ' | b'/'))
            .unwrap_or(rest.len());
        if let Some(e) = encoding_rs::Encoding::for_label(&rest[..end]) {
            // A page that says it is UTF-16 in ASCII bytes is not UTF-16 (HTML spec).
            return Some(
                if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE {
                    encoding_rs::UTF_8
                } else {
                    e
                },
            );
        }
        at = start;
    }
    None
}

/// Reads the facts of an HTML page fetched from `url`. `agents` are the lower-case product
/// tokens whose `<meta name>` directives apply (ours and the AI-training agents).
pub fn parse(html: &str, url: &Url, agents: &[String]) -> PageFacts {
    let doc = Html::parse_document(html);
    let mut facts = PageFacts::default();
    let mut base = url.clone();
    let mut hrefs: Vec<(String, bool)> = Vec::new();
    let mut cc_link = None;
    let mut ld_json = Vec::new();
    for node in doc.tree.nodes() {
        let Node::Element(el) = node.value() else {
            continue;
        };
        let attr = |n: &str| el.attr(n);
        let rel_has = |word: &str| {
            attr("rel").is_some_and(|r| {
                r.split_ascii_whitespace()
                    .any(|w| w.eq_ignore_ascii_case(word))
            })
        };
        match el.name() {
            "base" => {
                if let Some(b) = attr("href").and_then(|h| url.join(h).ok()) {
                    base = b;
                }
            }
            "a" | "area" | "link" => {
                let Some(href) = attr("href") else { continue };
                if rel_has("license") && facts.licence.is_none() {
                    facts.licence = Some(href.trim().to_owned());
                }
                if cc_link.is_none() && is_creative_commons(href) {
                    cc_link = Some(href.trim().to_owned());
                }
                if el.name() != "link" {
                    hrefs.push((href.to_owned(), rel_has("nofollow")));
                }
            }
            "meta" => {
                let (Some(name), Some(content)) = (attr("name"), attr("content")) else {
                    continue;
                };
                let name = name.trim().to_ascii_lowercase();
                if name == "robots" || agents.contains(&name) {
                    facts.directives.add_list(content);
                } else if name == "tdm-reservation" {
                    facts.tdm_reservation = Some(content.trim() == "1");
                } else if name == "tdm-policy" {
                    facts.tdm_policy = Some(content.trim().to_owned());
                }
            }
            "title" if facts.title.is_none() => {
                let t: String = node
                    .children()
                    .filter_map(|c| c.value().as_text().map(|t| t.to_string()))
                    .collect();
                let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
                if !t.is_empty() {
                    facts.title = Some(t);
                }
            }
            "script"
                if attr("type")
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json")) =>
            {
                let t: String = node
                    .children()
                    .filter_map(|c| c.value().as_text().map(|t| t.to_string()))
                    .collect();
                ld_json.push(t);
            }
            _ => {}
        }
    }
    if !facts.directives.nofollow {
        let mut seen = std::collections::HashSet::new();
        for (href, nofollow) in hrefs {
            if nofollow {
                continue;
            }
            if let Some(u) = resolve(&base, &href)
                && seen.insert(u.as_str().to_owned())
            {
                facts.links.push(u);
            }
        }
    }
    facts.licence = facts
        .licence
        .or(cc_link)
        .or_else(|| ld_json.iter().find_map(|t| json_ld_licence(t)))
        .map(|l| match base.join(&l) {
            Ok(u) if l.contains('/') => u.to_string(),
            _ => l,
        });
    facts
}

fn is_creative_commons(href: &str) -> bool {
    let h = href.to_ascii_lowercase();
    h.contains("creativecommons.org/licenses/") || h.contains("creativecommons.org/publicdomain/")
}

/// The `license` of a JSON-LD block: a string, or an object's `url`/`@id`, found at any depth.
fn json_ld_licence(text: &str) -> Option<String> {
    fn find(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(l) = m.get("license") {
                    match l {
                        serde_json::Value::String(s) if !s.trim().is_empty() => {
                            return Some(s.trim().to_owned());
                        }
                        serde_json::Value::Object(o) => {
                            for k in ["url", "@id", "name"] {
                                if let Some(s) = o.get(k).and_then(|s| s.as_str()) {
                                    return Some(s.trim().to_owned());
                                }
                            }
                        }
                        _ => {}
                    }
                }
                m.values().find_map(find)
            }
            serde_json::Value::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    find(&serde_json::from_str(text).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents() -> Vec<String> {
        vec!["masa".into(), "gptbot".into()]
    }

    fn page(html: &str) -> PageFacts {
        parse(
            html,
            &Url::parse("http://site.test/dir/page.html").unwrap(),
            &agents(),
        )
    }

    #[test]
    fn links_are_resolved_deduplicated_and_nofollow_links_are_left_out() {
        let f = page(
            r#"<html><head><title> A   page </title></head><body>
            <a href="b.html">b</a><a href="/c#x">c</a><a href="b.html#y">b again</a>
            <a href="mailto:x@y.z">mail</a><a rel="nofollow" href="/secret">no</a>
            <a href="http://other.test/">other</a></body></html>"#,
        );
        let links: Vec<&str> = f.links.iter().map(Url::as_str).collect();
        assert_eq!(
            links,
            [
                "http://site.test/dir/b.html",
                "http://site.test/c",
                "http://other.test/"
            ]
        );
        assert_eq!(f.title.as_deref(), Some("A page"));
    }

    #[test]
    fn base_href_changes_where_relative_links_point() {
        let f = page(r#"<head><base href="/root/"></head><a href="x">x</a>"#);
        assert_eq!(f.links[0].as_str(), "http://site.test/root/x");
    }

    #[test]
    fn meta_robots_for_us_or_everyone_applies_and_for_others_does_not() {
        let f = page(r#"<meta name="robots" content="noindex, NOFOLLOW"><a href="x">x</a>"#);
        assert!(f.directives.noindex && f.directives.nofollow);
        assert!(f.links.is_empty(), "nofollow stops link following");
        let f = page(r#"<meta name="GPTBot" content="noai">"#);
        assert!(f.directives.noai);
        let f = page(r#"<meta name="googlebot" content="noindex">"#);
        assert_eq!(f.directives, Directives::default());
        let f = page(r#"<meta name="robots" content="none">"#);
        assert!(f.directives.noindex && f.directives.nofollow);
    }

    #[test]
    fn tdm_meta_is_read() {
        let f = page(
            r#"<meta name="tdm-reservation" content="1"><meta name="tdm-policy" content="https://site.test/policy.json">"#,
        );
        assert_eq!(f.tdm_reservation, Some(true));
        assert_eq!(
            f.tdm_policy.as_deref(),
            Some("https://site.test/policy.json")
        );
        assert_eq!(
            page(r#"<meta name="tdm-reservation" content="0">"#).tdm_reservation,
            Some(false)
        );
    }

    #[test]
    fn licence_from_rel_license_creative_commons_link_or_json_ld() {
        let f = page(r#"<a rel="license" href="/licence.html">licence</a>"#);
        assert_eq!(f.licence.as_deref(), Some("http://site.test/licence.html"));
        let f = page(
            r#"<p>Text under <a href="https://creativecommons.org/licenses/by-sa/4.0/">CC BY-SA</a></p>"#,
        );
        assert_eq!(
            f.licence.as_deref(),
            Some("https://creativecommons.org/licenses/by-sa/4.0/")
        );
        let f = page(
            r#"<script type="application/ld+json">{"@graph":[{"@type":"Article","license":{"url":"https://creativecommons.org/publicdomain/zero/1.0/"}}]}</script>"#,
        );
        assert_eq!(
            f.licence.as_deref(),
            Some("https://creativecommons.org/publicdomain/zero/1.0/")
        );
        let f = page(r#"<script type="application/ld+json">{"license": "MIT"}</script>"#);
        assert_eq!(f.licence.as_deref(), Some("MIT"));
        assert_eq!(page("<p>no licence</p>").licence, None);
        assert_eq!(
            page(r#"<script type="application/ld+json">{not json</script>"#).licence,
            None
        );
    }

    #[test]
    fn bodies_decode_by_bom_header_meta_or_fallback() {
        // "café" in ISO-8859-1 declared in the header.
        assert_eq!(
            decode(b"caf\xe9", Some("text/html; charset=ISO-8859-1")),
            "café"
        );
        // Declared in a meta tag.
        let html = b"<meta charset=\"windows-1251\"><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>";
        assert!(decode(html, Some("text/html")).contains("Привет"));
        let html = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=shift_jis\">\x93\xfa\x96\x7b";
        assert!(decode(html, None).ends_with("日本"));
        // A BOM wins over the header.
        assert_eq!(
            decode(b"\xef\xbb\xbfok", Some("text/html; charset=latin1")),
            "ok"
        );
        // Undeclared and not UTF-8: windows-1252, never a panic.
        assert_eq!(decode(b"\x93hi\x94", None), "\u{201c}hi\u{201d}");
        assert_eq!(decode(b"", None), "");
    }

    proptest::proptest! {
        /// Untrusted bytes never panic the decoder or the parser, and parsing is
        /// deterministic.
        #[test]
        fn arbitrary_bytes_decode_and_parse_without_panicking(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            ct in proptest::option::of("[ -~]{0,40}"),
        ) {
            let text = decode(&body, ct.as_deref());
            let url = Url::parse("http://site.test/a/b").unwrap();
            let a = parse(&text, &url, &agents());
            proptest::prop_assert_eq!(a, parse(&text, &url, &agents()));
        }

        #[test]
        fn tag_soup_never_panics(html in "(<[a-z]{1,6}( [a-z]{1,5}=\"[^\"]{0,12}\")*>|</[a-z]{1,6}>|[^<]{0,12}){0,40}") {
            let url = Url::parse("http://site.test/").unwrap();
            let f = parse(&html, &url, &agents());
            for l in &f.links {
                proptest::prop_assert!(matches!(l.scheme(), "http" | "https"));
            }
        }
    }
}

//! What the crawler reads from a fetched page, as a pure function of its bytes: the text
//! decoded to UTF-8, the links to follow, the page's own permission signals (robots meta,
//! TDMRep meta) and its licence.

use super::scan::{Event, scan};
use super::signals::Directives;
use super::urls::resolve;
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
    encoding_of(body, content_type).decode(body).0.into_owned()
}

/// [`decode`] of a body the caller gives up: a UTF-8 body without a byte-order mark becomes
/// the string without a copy.
pub fn decode_owned(body: Vec<u8>, content_type: Option<&str>) -> String {
    let enc = encoding_of(&body, content_type);
    let body = if enc == encoding_rs::UTF_8 && !body.starts_with(b"\xef\xbb\xbf") {
        match String::from_utf8(body) {
            Ok(s) => return s,
            Err(e) => e.into_bytes(),
        }
    } else {
        body
    };
    enc.decode(&body).0.into_owned()
}

fn encoding_of(body: &[u8], content_type: Option<&str>) -> &'static encoding_rs::Encoding {
    let from_header = content_type.and_then(charset_param);
    let enc = encoding_rs::Encoding::for_bom(body)
        .map(|(e, _)| e)
        .or_else(|| from_header.and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes())))
        .or_else(|| meta_charset(&body[..body.len().min(1024)]));
    match enc {
        Some(e) => e,
        None if std::str::from_utf8(body).is_ok() => encoding_rs::UTF_8,
        None => encoding_rs::WINDOWS_1252,
    }
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
///
/// One pass of [`scan`], no document tree: every fact is a start tag's attributes or a
/// raw-text element's text (`<title>`, a JSON-LD `<script>`). What looks like a tag inside
/// a script, a style or a comment is text here as in a browser. Elements the tree builder
/// would drop (an `<a>` inside `<select>`) are seen, so a page's permission signals are
/// never missed.
pub fn parse(html: &str, url: &Url, agents: &[String]) -> PageFacts {
    let mut facts = PageFacts::default();
    let mut base: Option<Url> = None;
    let mut hrefs: Vec<String> = Vec::new();
    let mut cc_link = None;
    let mut ld_json = Vec::new();
    // The raw-text element whose text comes next, when it is one we keep.
    let mut reading = None;
    scan(html, |e| match e {
        Event::Start { name, attrs } => {
            let attr = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| &**v);
            let rel_has = |word: &str| {
                attr("rel").is_some_and(|r| {
                    r.split_ascii_whitespace()
                        .any(|w| w.eq_ignore_ascii_case(word))
                })
            };
            reading = None;
            match name {
                "base" => {
                    if let Some(b) = attr("href").and_then(|h| url.join(h).ok()) {
                        base = Some(b);
                    }
                }
                "a" | "area" | "link" => {
                    if let Some(href) = attr("href") {
                        if rel_has("license") && facts.licence.is_none() {
                            facts.licence = Some(href.trim().to_owned());
                        }
                        if cc_link.is_none() && is_creative_commons(href) {
                            cc_link = Some(href.trim().to_owned());
                        }
                        if name != "link" && !rel_has("nofollow") {
                            hrefs.push(href.to_owned());
                        }
                    }
                }
                "meta" => {
                    if let (Some(name), Some(content)) = (attr("name"), attr("content")) {
                        read_meta(&mut facts, agents, name, content);
                    }
                }
                "title" if facts.title.is_none() => reading = Some(Reading::Title),
                "script"
                    if attr("type")
                        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json")) =>
                {
                    reading = Some(Reading::LdJson);
                }
                _ => {}
            }
            reading.is_some()
        }
        Event::Text(t) => {
            match reading.take() {
                Some(Reading::Title) => {
                    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !t.is_empty() {
                        facts.title = Some(t);
                    }
                }
                Some(Reading::LdJson) => ld_json.push(t.into_owned()),
                None => {}
            }
            false
        }
    });
    let base = base.unwrap_or_else(|| url.clone());
    finish(facts, &base, hrefs, cc_link, &ld_json)
}

/// What a `<meta name=… content=…>` says: robots and AI-agent directives, TDMRep.
pub(super) fn read_meta(facts: &mut PageFacts, agents: &[String], name: &str, content: &str) {
    let name = name.trim().to_ascii_lowercase();
    if name == "robots" || agents.contains(&name) {
        facts.directives.add_list(content);
    } else if name == "tdm-reservation" {
        facts.tdm_reservation = Some(content.trim() == "1");
    } else if name == "tdm-policy" {
        facts.tdm_policy = Some(content.trim().to_owned());
    }
}

/// The page's facts once it is read: its followable links resolved against `base` (none
/// under a nofollow directive), and its licence (declared, else a Creative Commons link,
/// else JSON-LD) made absolute.
pub(super) fn finish(
    mut facts: PageFacts,
    base: &Url,
    hrefs: Vec<String>,
    cc_link: Option<String>,
    ld_json: &[String],
) -> PageFacts {
    if !facts.directives.nofollow {
        let mut seen = std::collections::HashSet::new();
        for href in hrefs {
            if let Some(u) = resolve(base, &href)
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

#[derive(Clone, Copy)]
enum Reading {
    Title,
    LdJson,
}

pub(super) fn is_creative_commons(href: &str) -> bool {
    let h = href.to_ascii_lowercase();
    h.contains("creativecommons.org/licenses/") || h.contains("creativecommons.org/publicdomain/")
}

/// The `license` of a JSON-LD block: a string, or an object's `url`/`@id`, found at any depth.
pub(super) fn json_ld_licence(text: &str) -> Option<String> {
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
    use proptest::prelude::Strategy;

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
    fn tags_inside_raw_text_elements_are_text_not_links() {
        let html = r#"<head><title>T <a href="/t">x</a></title>
            <script>document.write('<a href="/in-script">');</script>
            <style>a[href="/in-style"] {}</style>
            <noscript><a href="/in-noscript">n</a></noscript></head>
            <body><textarea><a href="/in-textarea"></textarea><xmp><a href="/in-xmp"></xmp>
            <a href="/real">r</a><plaintext><a href="/after-plaintext">"#;
        let f = page(html);
        let links: Vec<&str> = f.links.iter().map(Url::as_str).collect();
        assert_eq!(links, ["http://site.test/real"]);
        assert_eq!(f.title.as_deref(), Some(r#"T <a href="/t">x</a>"#));
        assert_eq!(f, tree(html), "as the document tree reads it");
    }

    #[test]
    fn an_svg_title_is_not_the_page_title_and_svg_links_are_followed() {
        let f = page(
            r#"<body><svg><title>icon</title><style><a href="/in-svg-style"></style></svg>
            <p>text</p><title>Real</title><script><a href="/in-script"></script>"#,
        );
        assert_eq!(f.title.as_deref(), Some("Real"));
        let links: Vec<&str> = f.links.iter().map(Url::as_str).collect();
        assert_eq!(links, ["http://site.test/in-svg-style"]);
    }

    #[test]
    fn an_unclosed_title_or_json_ld_block_still_counts() {
        assert_eq!(page("<title>Cut short").title.as_deref(), Some("Cut short"));
        let f = page(r#"<script type="application/ld+json">{"license": "MIT"}"#);
        assert_eq!(f.licence.as_deref(), Some("MIT"));
    }

    fn tree(html: &str) -> PageFacts {
        super::super::page_tree::parse_tree(
            html,
            &Url::parse("http://site.test/dir/page.html").unwrap(),
            &agents(),
        )
    }

    #[test]
    fn saved_pages_read_as_their_document_tree_reads_them() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/web");
        let (mut n, mut links) = (0, 0);
        for e in std::fs::read_dir(dir).unwrap() {
            let html = decode(&std::fs::read(e.unwrap().path()).unwrap(), None);
            let f = page(&html);
            links += f.links.len();
            assert_eq!(f, tree(&html));
            n += 1;
        }
        assert!(n >= 4 && links > 0, "the saved pages are there");
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
        // The owned variant decodes alike, with or without a copy.
        for (body, ct) in [
            (&b"caf\xe9"[..], Some("text/html; charset=ISO-8859-1")),
            (&b"\xef\xbb\xbfok"[..], None),
            (&b"plain \xc3\xa9"[..], Some("text/html")),
            (&b"bad \xff utf-8"[..], Some("text/html; charset=utf-8")),
        ] {
            assert_eq!(decode_owned(body.to_vec(), ct), decode(body, ct));
        }
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
            proptest::prop_assert_eq!(&decode_owned(body.clone(), ct.as_deref()), &text);
            let url = Url::parse("http://site.test/a/b").unwrap();
            let a = parse(&text, &url, &agents());
            proptest::prop_assert_eq!(a, parse(&text, &url, &agents()));
        }

        /// On documents made of the elements the scan reads (links with and without
        /// nofollow, base, meta, licences, title, JSON-LD and the raw-text elements around
        /// look-alike tags), the one-pass scan finds exactly what the document tree holds.
        #[test]
        fn generated_documents_read_as_their_document_tree_reads_them(
            parts in proptest::collection::vec(proptest::prop_oneof![
                "[a-z/#.]{0,8}".prop_map(|h| format!(r#"<a href="{h}">x</a>"#)),
                "[a-z/]{0,8}".prop_map(|h| format!(r#"<A HREF='{h}' rel="NoFollow">n</A>"#)),
                "[a-z/]{0,8}".prop_map(|h| format!(r#"<area href="{h}&amp;q=1">"#)),
                "[a-z/]{0,8}".prop_map(|h| format!(r#"<base href="/{h}/">"#)),
                "[a-z/]{0,8}".prop_map(|h| format!(r#"<link rel="license stylesheet" href="{h}">"#)),
                proptest::prelude::Just(r#"<a href="https://creativecommons.org/licenses/by/4.0/">cc</a>"#.to_owned()),
                "(robots|gptbot|googlebot|tdm-reservation|tdm-policy)".prop_flat_map(|n| {
                    "(noai|nofollow|noindex|1|0|none)".prop_map(move |c| format!(r#"<meta name="{n}" content="{c}">"#))
                }),
                "[a-zA-Z <>&;]{0,12}".prop_map(|t| format!("<title>{t}</title>")),
                "[a-zA-Z ]{0,8}".prop_map(|t| format!(r#"<script type="application/ld+json">{{"license": "{t}"}}</script>"#)),
                "(script|style|noscript|textarea|xmp|iframe|noembed|noframes)".prop_map(|e| format!(r#"<{e}><a href="/hidden">h</a></{e}>"#)),
                "[a-z ]{0,12}".prop_map(|t| format!("<p>{t}<span>{t}</span></p>")),
                proptest::prelude::Just("<div><ul><li><a href=\"li\">l</a></ul></div>".to_owned()),
                proptest::prelude::Just("<!-- <a href=\"/commented\"> -->".to_owned()),
            ], 0..24),
            doctype in proptest::bool::ANY,
        ) {
            let mut html = String::new();
            if doctype {
                html.push_str("<!DOCTYPE html>");
            }
            html.push_str(&parts.concat());
            proptest::prop_assert_eq!(page(&html), tree(&html));
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

//! A one-pass scanner of HTML for the few things the crawler reads: the start tags with
//! their attributes (character references decoded) and the text of raw-text elements.
//! It follows the HTML tokenizer's states where they change what is a tag: comments,
//! bogus comments (`<!...>`, `<?...>`), quoted attribute values, and the raw-text elements
//! (script, style, title, textarea, noscript... whose content is text up to their end tag),
//! except inside `<svg>` and `<math>` (foreign content), where those are plain elements.
//! Text between tags is skipped with `memchr`, never looked at byte by byte: that is what
//! makes it several times cheaper than a general tokenizer on a page where the tags of
//! interest are a small part of the bytes.
//!
//! Not followed: the script-data "double escaped" state (`<!--<script>` inside a script),
//! and integration points inside foreign content (`<svg><foreignObject>`); both only
//! decide whether some text is markup or not.

use std::borrow::Cow;

/// What [`scan`] reports.
pub(super) enum Event<'a> {
    /// A start tag: lower-case name, attributes in order (lower-case names, the first of
    /// each name only, values decoded).
    Start {
        name: &'a str,
        attrs: &'a [(Cow<'a, str>, Cow<'a, str>)],
    },
    /// The text of a raw-text element whose [`Raw`] the caller asked for, up to its end tag
    /// or the input's end (RCDATA text decoded).
    Text(Cow<'a, str>),
}

/// How a start tag's content is read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Raw {
    /// Markup as usual.
    No,
    /// Text up to the end tag, character references decoded (title, textarea).
    Rcdata,
    /// Text up to the end tag as is (script, style, noscript, ...).
    Rawtext,
    /// Text to the end of the input.
    Plaintext,
}

fn raw_kind(name: &str) -> Raw {
    match name {
        "title" | "textarea" => Raw::Rcdata,
        "script" | "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => Raw::Rawtext,
        "plaintext" => Raw::Plaintext,
        _ => Raw::No,
    }
}

/// HTML start tags that end foreign content (the HTML spec's "breakout" list; `font` only
/// with `color`, `face` or `size`).
const BREAKOUT: &str = "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 \
    h4 h5 h6 head hr i img li listing menu meta nobr ol p pre ruby s small span strong strike \
    sub sup table tt u ul var";

fn breaks_out_of_foreign(name: &str, attrs: &[(Cow<'_, str>, Cow<'_, str>)]) -> bool {
    BREAKOUT.split_ascii_whitespace().any(|t| t == name)
        || (name == "font"
            && attrs
                .iter()
                .any(|(k, _)| matches!(&**k, "color" | "face" | "size")))
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// Scans `html`, calling `on` for every start tag and, when `on` answers `true` for a
/// raw-text start tag, once more with its text. `on`'s answer for other events is ignored.
pub(super) fn scan(html: &str, mut on: impl FnMut(Event<'_>) -> bool) {
    let b = html.as_bytes();
    let mut pos = 0;
    let mut foreign: u32 = 0;
    let mut attrs: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    while let Some(off) = memchr::memchr(b'<', &b[pos..]) {
        let lt = pos + off;
        let Some(&c) = b.get(lt + 1) else { return };
        if c == b'!' {
            pos = if b[lt + 2..].starts_with(b"--") {
                comment_end(b, lt + 4)
            } else if foreign > 0 && b[lt + 2..].starts_with(b"[CDATA[") {
                memchr::memmem::find(&b[lt + 9..], b"]]>").map_or(b.len(), |i| lt + 9 + i + 3)
            } else {
                bogus_end(b, lt + 2)
            };
            continue;
        }
        if c == b'?' {
            pos = bogus_end(b, lt + 1);
            continue;
        }
        if c == b'/' {
            match b.get(lt + 2) {
                Some(x) if x.is_ascii_alphabetic() => {
                    attrs.clear();
                    let Some((name, end, _)) = tag(html, lt + 2, &mut attrs) else {
                        return;
                    };
                    if foreign > 0 && (name == "svg" || name == "math") {
                        foreign -= 1;
                    }
                    pos = end;
                }
                Some(b'>') => pos = lt + 3,
                Some(_) => pos = bogus_end(b, lt + 2),
                None => return,
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            pos = lt + 1;
            continue;
        }
        attrs.clear();
        let Some((name, end, self_closing)) = tag(html, lt + 1, &mut attrs) else {
            return;
        };
        pos = end;
        if foreign > 0 && breaks_out_of_foreign(&name, &attrs) {
            foreign = 0;
        }
        let want_text = on(Event::Start {
            name: &name,
            attrs: &attrs,
        });
        if foreign > 0 {
            if (name == "svg" || name == "math") && !self_closing {
                foreign += 1;
            }
            continue;
        }
        if (name == "svg" || name == "math") && !self_closing {
            foreign = 1;
            continue;
        }
        // In HTML content a start tag's self-closing flag is ignored: `<title/>` opens one.
        let raw = raw_kind(&name);
        if raw == Raw::No {
            continue;
        }
        let (text_end, next) = if raw == Raw::Plaintext {
            (b.len(), b.len())
        } else {
            raw_end(b, pos, &name)
        };
        if want_text {
            let text = &html[pos..text_end];
            on(Event::Text(if raw == Raw::Rcdata {
                decode_refs(text, false)
            } else {
                Cow::Borrowed(text)
            }));
        }
        pos = next;
    }
}

/// Where a comment whose text starts at `i` ends (just past `-->`, `--!>`, or the `<!-->`
/// and `<!--->` forms); the input's end when unclosed.
fn comment_end(b: &[u8], i: usize) -> usize {
    if b.get(i) == Some(&b'>') {
        return i + 1;
    }
    if b[i.min(b.len())..].starts_with(b"->") {
        return i + 2;
    }
    let mut at = i;
    while let Some(k) = memchr::memmem::find(&b[at.min(b.len())..], b"--") {
        let mut j = at + k + 2;
        while b.get(j) == Some(&b'-') {
            j += 1;
        }
        match b.get(j) {
            Some(b'>') => return j + 1,
            Some(b'!') if b.get(j + 1) == Some(&b'>') => return j + 2,
            None => return b.len(),
            _ => at = j,
        }
    }
    b.len()
}

/// Just past the `>` that ends a bogus comment or declaration starting at `i`.
fn bogus_end(b: &[u8], i: usize) -> usize {
    memchr::memchr(b'>', &b[i.min(b.len())..]).map_or(b.len(), |k| i + k + 1)
}

/// Where the text of raw-text element `name` starting at `i` ends (at its `</name` followed
/// by a space, `/` or `>`) and where scanning goes on (past that end tag's `>`).
fn raw_end(b: &[u8], i: usize, name: &str) -> (usize, usize) {
    let n = name.len();
    let mut at = i;
    while let Some(k) = memchr::memmem::find(&b[at..], b"</") {
        let s = at + k;
        let after = s + 2 + n;
        if after <= b.len()
            && b[s + 2..after].eq_ignore_ascii_case(name.as_bytes())
            && b.get(after)
                .is_some_and(|&c| is_space(c) || c == b'/' || c == b'>')
        {
            // The end tag's attributes, if any, are read as a tag's (quotes count).
            let next = end_of_tag(b, after).unwrap_or(b.len());
            return (s, next);
        }
        at = s + 2;
    }
    (b.len(), b.len())
}

/// Just past the `>` of a tag whose attributes start at `i`, or `None` at the input's end.
fn end_of_tag(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        while b.get(i).is_some_and(|&c| is_space(c) || c == b'/') {
            i += 1;
        }
        match b.get(i)? {
            b'>' => return Some(i + 1),
            _ => i = attribute(b, i)?.next,
        }
    }
}

/// Where one attribute's name and value are in the input, and where the tag goes on.
struct Attr {
    name: (usize, usize),
    value: Option<(usize, usize)>,
    next: usize,
}

/// One attribute starting at `i` (not a space, `/` or `>`). `None` at the input's end.
fn attribute(b: &[u8], i: usize) -> Option<Attr> {
    // A name runs to a space, `/`, `>` or `=`; a `=` first is part of the name.
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        if is_space(c) || c == b'/' || c == b'>' || c == b'=' {
            break;
        }
        j += 1;
    }
    let name = (i, j);
    let mut k = j;
    while b.get(k).is_some_and(|&c| is_space(c)) {
        k += 1;
    }
    if b.get(k) != Some(&b'=') {
        b.get(k)?;
        return Some(Attr {
            name,
            value: None,
            next: k,
        });
    }
    k += 1;
    while b.get(k).is_some_and(|&c| is_space(c)) {
        k += 1;
    }
    match *b.get(k)? {
        q @ (b'"' | b'\'') => {
            let close = memchr::memchr(q, &b[k + 1..])?;
            Some(Attr {
                name,
                value: Some((k + 1, k + 1 + close)),
                next: k + 2 + close,
            })
        }
        b'>' => Some(Attr {
            name,
            value: Some((k, k)),
            next: k,
        }),
        _ => {
            let mut e = k;
            while b.get(e).is_some_and(|&c| !is_space(c) && c != b'>') {
                e += 1;
            }
            b.get(e)?;
            Some(Attr {
                name,
                value: Some((k, e)),
                next: e,
            })
        }
    }
}

/// Reads a tag whose name starts at `i`: the lower-case name, its attributes into `attrs`,
/// just past its `>`, and its self-closing flag. `None` when the input ends inside it (the
/// tokenizer drops such a tag).
fn tag<'a>(
    html: &'a str,
    i: usize,
    attrs: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
) -> Option<(Cow<'a, str>, usize, bool)> {
    let b = html.as_bytes();
    let mut j = i;
    while b
        .get(j)
        .is_some_and(|&c| !is_space(c) && c != b'/' && c != b'>')
    {
        j += 1;
    }
    let name = lower(&html[i..j]);
    let mut self_closing = false;
    loop {
        while b.get(j).is_some_and(|&c| is_space(c)) {
            j += 1;
        }
        match *b.get(j)? {
            b'>' => return Some((name, j + 1, self_closing)),
            b'/' => {
                j += 1;
                self_closing = b.get(j) == Some(&b'>');
                continue;
            }
            _ => {}
        }
        let Attr {
            name: (ns, ne),
            value,
            next,
        } = attribute(b, j)?;
        let key = lower(&html[ns..ne]);
        if !attrs.iter().any(|(k, _)| *k == key) {
            let value = match value {
                Some((vs, ve)) => decode_refs(&html[vs..ve], true),
                None => Cow::Borrowed(""),
            };
            attrs.push((key, value));
        }
        j = next;
        self_closing = false;
    }
}

fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|c| c.is_ascii_uppercase() || c == 0) {
        Cow::Owned(s.to_ascii_lowercase().replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Decodes character references (`&amp;`, `&#38;`, `&#x26;`, the legacy `&amp` without its
/// semicolon) as the HTML tokenizer does; `in_attribute` keeps a legacy reference followed by
/// `=` or an alphanumeric as written. NUL becomes U+FFFD.
pub(super) fn decode_refs(s: &str, in_attribute: bool) -> Cow<'_, str> {
    if !s.bytes().any(|c| c == b'&' || c == 0) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == 0 {
            out.push('\u{fffd}');
            i += 1;
            continue;
        }
        if c != b'&' {
            let next = b[i..]
                .iter()
                .position(|&x| x == b'&' || x == 0)
                .map_or(b.len(), |k| i + k);
            out.push_str(&s[i..next]);
            i = next;
            continue;
        }
        match reference(b, i + 1, in_attribute) {
            Some((chars, next)) => {
                out.extend(chars.into_iter().flatten());
                i = next;
            }
            None => {
                out.push('&');
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// The characters of a reference whose text starts at `i` (just past `&`) and where it
/// ends, or `None` when it is not one.
fn reference(b: &[u8], i: usize, in_attribute: bool) -> Option<([Option<char>; 2], usize)> {
    if b.get(i) == Some(&b'#') {
        let (hex, start) = match b.get(i + 1) {
            Some(b'x' | b'X') => (true, i + 2),
            _ => (false, i + 1),
        };
        let mut j = start;
        let mut n: u32 = 0;
        while let Some(&c) = b.get(j) {
            let d = match (hex, c) {
                (_, b'0'..=b'9') => u32::from(c - b'0'),
                (true, b'a'..=b'f') => u32::from(c - b'a' + 10),
                (true, b'A'..=b'F') => u32::from(c - b'A' + 10),
                _ => break,
            };
            n = n
                .saturating_mul(if hex { 16 } else { 10 })
                .saturating_add(d);
            j += 1;
        }
        if j == start {
            return None;
        }
        if b.get(j) == Some(&b';') {
            j += 1;
        }
        let ch = match n {
            0 | 0xd800..=0xdfff | 0x11_0000.. => '\u{fffd}',
            0x80..=0x9f => html5ever::data::C1_REPLACEMENTS[(n - 0x80) as usize]
                .or_else(|| char::from_u32(n))
                .unwrap_or('\u{fffd}'),
            _ => char::from_u32(n).unwrap_or('\u{fffd}'),
        };
        return Some(([Some(ch), None], j));
    }
    let mut j = i;
    while b.get(j).is_some_and(|c| c.is_ascii_alphanumeric()) && j - i < 40 {
        j += 1;
    }
    if j == i {
        return None;
    }
    let name = std::str::from_utf8(&b[i..j]).ok()?;
    let ents = &html5ever::data::NAMED_ENTITIES;
    // The table also holds every prefix of a name, as (0, 0): not a reference itself.
    let entity = |k: &str| ents.get(k).filter(|v| v.0 != 0);
    if b.get(j) == Some(&b';')
        && let Some(v) = entity(&format!("{name};"))
    {
        return Some((chars(*v), j + 1));
    }
    // The longest legacy name (no semicolon) that starts the run.
    for len in (1..=name.len()).rev() {
        if let Some(v) = entity(&name[..len]) {
            let next = b.get(i + len).copied();
            if in_attribute && next.is_some_and(|c| c == b'=' || c.is_ascii_alphanumeric()) {
                return None;
            }
            return Some((chars(*v), i + len));
        }
    }
    None
}

fn chars((a, b): (u32, u32)) -> [Option<char>; 2] {
    [
        char::from_u32(a),
        (b != 0).then(|| char::from_u32(b)).flatten(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(html: &str) -> Vec<String> {
        let mut out = Vec::new();
        scan(html, |e| {
            match e {
                Event::Start { name, attrs } => {
                    let a: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    out.push(format!("{name}[{}]", a.join(",")));
                }
                Event::Text(t) => out.push(format!("text:{t}")),
            }
            true
        });
        out
    }

    #[test]
    fn attributes_quoted_unquoted_bare_duplicate_and_decoded() {
        assert_eq!(
            starts(r#"<A HREF="x&amp;y" Rel=NoFollow data-x='a>b' checked href="dup">"#),
            ["a[href=x&y,rel=NoFollow,data-x=a>b,checked=]"]
        );
        assert_eq!(
            starts("<a href=\"?a=1&copy=2&lt;&#x41;&#66;&#0;&#x80;\">"),
            ["a[href=?a=1&copy=2<AB\u{fffd}\u{20ac}]"]
        );
        assert_eq!(starts("<br/><p/ class=x>"), ["br[]", "p[class=x]"]);
    }

    #[test]
    fn comments_declarations_and_stray_brackets_hide_no_tags_they_should_not() {
        assert_eq!(
            starts("<!DOCTYPE html><!-- <a href=1> --><!--><b><!---><i>a < b <3 <?php x ?><u>"),
            ["b[]", "i[]", "u[]"]
        );
        assert_eq!(starts("<!-- a --!><p>"), ["p[]"]);
        assert_eq!(starts("<!-- a --- b ---><p>"), ["p[]"]);
        assert_eq!(starts("</x title='>'><p></>"), ["p[]"]);
        assert!(
            starts("<a href='unclosed").is_empty(),
            "a cut tag is dropped"
        );
    }

    #[test]
    fn raw_text_ends_only_at_its_own_end_tag() {
        assert_eq!(
            starts("<script>if (a</b) x('</scriptx>')</SCRIPT ><p><title>a &amp; <b>b</title>"),
            [
                "script[]",
                "text:if (a</b) x('</scriptx>')",
                "p[]",
                "title[]",
                "text:a & <b>b"
            ]
        );
        assert_eq!(starts("<style>a<b>"), ["style[]", "text:a<b>"]);
        assert_eq!(
            starts("<plaintext></plaintext><a>"),
            ["plaintext[]", "text:</plaintext><a>"]
        );
    }

    #[test]
    fn inside_svg_script_and_title_are_elements_until_a_breakout_tag() {
        assert_eq!(
            starts("<svg><title>t</title><script><a></script></svg><script><a></script>"),
            [
                "svg[]", "title[]", "script[]", "a[]", "script[]", "text:<a>"
            ]
        );
        assert_eq!(
            starts("<svg><![CDATA[<a>]]><p><style><i></style>"),
            ["svg[]", "p[]", "style[]", "text:<i>"]
        );
    }
}

//! The page prepared for parsing: a nesting limit, and script and style bodies emptied.
//!
//! The nesting limit: html5ever scans its stack of open elements for
//! many start tags, so a page of 100,000 nested `<div>`s costs minutes to parse (30,000
//! took 4.5 s here). Browsers cap the tree depth for the same reason (Blink's parser adds
//! elements past depth 512 as siblings); masa drops the markup of elements opened past
//! [`MAX_DEPTH`] and keeps their text, so such a page parses in linear time and still
//! yields its words.
//!
//! The depth is estimated by a light scan of the tags, not by the HTML tree-construction
//! rules: void elements and self-closing tags do not nest, raw-text elements are skipped
//! whole, an element that closes itself implicitly (`<p>`, `<li>`, ...) closes an open one
//! of its own name, and an end tag closes the nearest open element of its name among the
//! innermost few. The estimate can only overcount real nesting of well-formed pages by
//! the implicitly closed elements it misses, which no real page has by the hundred.

/// Elements opened deeper than this lose their markup (their text stays).
pub const MAX_DEPTH: usize = 1024;

const VOID: &[&[u8]] = &[
    b"area",
    b"base",
    b"br",
    b"col",
    b"embed",
    b"hr",
    b"img",
    b"input",
    b"link",
    b"meta",
    b"param",
    b"source",
    b"track",
    b"wbr",
    b"keygen",
    b"frame",
    b"basefont",
    b"bgsound",
];

/// Elements whose content is raw text up to their end tag.
const RAW: &[&[u8]] = &[
    b"script",
    b"style",
    b"textarea",
    b"title",
    b"xmp",
    b"noembed",
    b"noframes",
    b"plaintext",
];

/// Elements that a start tag of the same name closes.
const SELF_CLOSING: &[&[u8]] = &[
    b"p",
    b"li",
    b"dt",
    b"dd",
    b"option",
    b"tr",
    b"td",
    b"th",
    b"rt",
    b"rp",
    b"optgroup",
];

/// How many open elements an end tag looks through for its own.
const END_TAG_REACH: usize = 16;

/// The page with the markup of elements nested past [`MAX_DEPTH`] removed and the bodies
/// of its scripts (JSON-LD aside) and style sheets emptied, or `None` when there is nothing
/// to remove. Scripts and styles are never text; emptying them spares the parser most of a
/// modern page's bytes.
pub fn prepare(html: &str) -> Option<String> {
    let b = html.as_bytes();
    // Open elements: (name, whether its tags are dropped).
    let mut stack: Vec<(&[u8], bool)> = Vec::new();
    // Byte ranges of tags to drop.
    let mut cut: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'<', &b[i..]) {
        let start = i + off;
        let rest = &b[start..];
        if rest.starts_with(b"<!--") {
            i = find(b, start + 4, b"-->").map_or(b.len(), |e| e + 3);
            continue;
        }
        if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            i = memchr::memchr(b'>', &b[start..]).map_or(b.len(), |e| start + e + 1);
            continue;
        }
        let end_tag = rest.get(1) == Some(&b'/');
        let name_at = start + if end_tag { 2 } else { 1 };
        let name_len = b[name_at..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-')
            .count();
        if name_len == 0 || !b[name_at].is_ascii_alphabetic() {
            i = start + 1;
            continue;
        }
        let name = &b[name_at..name_at + name_len];
        let Some(close) = tag_end(b, name_at + name_len) else {
            break;
        };
        let tag_end = close + 1;
        i = tag_end;
        if end_tag {
            let reach = stack.len().saturating_sub(END_TAG_REACH);
            if let Some(k) = (reach..stack.len())
                .rev()
                .find(|&k| stack[k].0.eq_ignore_ascii_case(name))
            {
                if stack[k].1 {
                    cut.push((start, tag_end));
                }
                stack.truncate(k);
            }
            continue;
        }
        // The name lowercased once (the sets hold no name longer than 16 bytes).
        let mut lower = [0u8; 16];
        let short = &mut lower[..name.len().min(16)];
        short.copy_from_slice(&name[..short.len()]);
        short.make_ascii_lowercase();
        let lname: &[u8] = if name.len() <= 16 { short } else { b"" };
        let is = |set: &[&[u8]]| set.contains(&lname);
        if is(RAW) {
            // Skip to the raw text's end tag; the element does not nest.
            let mut j = tag_end;
            let body_start = tag_end;
            i = loop {
                match find(b, j, b"</") {
                    Some(e)
                        if b[e + 2..].len() >= name.len()
                            && b[e + 2..e + 2 + name.len()].eq_ignore_ascii_case(name) =>
                    {
                        break e;
                    }
                    Some(e) => j = e + 2,
                    None => break b.len(),
                }
            };
            // Scripts and style sheets are never text: their bodies are emptied so the
            // parser does not tokenize them (most of a modern page's bytes). JSON-LD stays,
            // it carries the metadata.
            let script = lname == b"script";
            let json_ld = script
                && b[start..tag_end]
                    .windows(7)
                    .any(|w| w.eq_ignore_ascii_case(b"ld+json"));
            if ((script && !json_ld) || lname == b"style") && i > body_start {
                cut.push((body_start, i));
            }
            continue;
        }
        if is(VOID) || b[close - 1] == b'/' {
            continue;
        }
        if is(SELF_CLOSING)
            && stack
                .last()
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            let (_, dropped) = stack.pop().unwrap_or_default();
            if dropped {
                cut.push((start, tag_end));
                stack.push((name, true));
                continue;
            }
        }
        let dropped = stack.len() >= MAX_DEPTH;
        if dropped {
            cut.push((start, tag_end));
        }
        stack.push((name, dropped));
    }
    if cut.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(html.len());
    let mut at = 0;
    for (s, e) in cut {
        out.push_str(&html[at..s]);
        at = e;
    }
    out.push_str(&html[at..]);
    Some(out)
}

/// The `>` that ends a tag whose name ends at `from`, outside quoted attribute values.
fn tag_end(b: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let k = at + memchr::memchr3(b'>', b'"', b'\'', &b[at..])?;
        if b[k] == b'>' {
            return Some(k);
        }
        at = k + 1 + memchr::memchr(b[k], &b[k + 1..])? + 1;
    }
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(&b[from.min(b.len())..], needle).map(|k| from + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(html: &str) -> usize {
        let doc = scraper::Html::parse_document(html);
        doc.tree
            .nodes()
            .map(|n| n.ancestors().count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn ordinary_pages_lose_only_their_script_and_style_bodies() {
        let plain = "<html><body><div><p>one<p>two<ul><li>a<li>b</ul><br><img src='x>y'></div>\
            <!-- <div> --></body></html>";
        assert_eq!(prepare(plain), None);
        let html = "<html><head><script>if (a<b) { x = '</div>'; }</script>\
            <style>p { color: red }</style>\
            <script type=\"application/LD+JSON\">{\"headline\": \"kept\"}</script></head>\
            <body><p>text</p></body></html>";
        assert_eq!(
            prepare(html).as_deref(),
            Some(
                "<html><head><script></script><style></style>\
                <script type=\"application/LD+JSON\">{\"headline\": \"kept\"}</script></head>\
                <body><p>text</p></body></html>"
            )
        );
    }

    #[test]
    fn markup_past_the_limit_is_dropped_and_its_text_kept() {
        let n = MAX_DEPTH * 3;
        let html = format!(
            "{}<b>deep</b> text{}<p>after</p>",
            "<div class='x'>".repeat(n),
            "</div>".repeat(n)
        );
        let flat = prepare(&html).expect("nested past the limit");
        assert!(depth(&flat) <= MAX_DEPTH + 8, "depth {}", depth(&flat));
        let doc = scraper::Html::parse_document(&flat);
        let text: String = doc.root_element().text().collect();
        assert_eq!(text, "deep textafter");
    }

    #[test]
    fn a_hundred_thousand_nested_elements_extract_their_text() {
        // Extracted in well under a second (the `extract_web` benchmark times it); without
        // the limit html5ever takes minutes on this page.
        let html = format!(
            "{}deep text{}",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        assert!(crate::extract_html(&html).text.contains("deep text"));
    }

    #[test]
    fn implicitly_closed_elements_do_not_count_as_nesting() {
        let html = format!("<ul>{}</ul>", "<li>item".repeat(5 * MAX_DEPTH));
        assert_eq!(prepare(&html), None);
    }
}

//! A nesting limit applied before parsing. html5ever scans its stack of open elements for
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

/// The page with the markup of elements nested past [`MAX_DEPTH`] removed, or `None` when
/// it nests no deeper (the common case: nothing is copied).
pub fn limit_depth(html: &str) -> Option<String> {
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
        let is = |set: &[&[u8]]| set.iter().any(|n| n.eq_ignore_ascii_case(name));
        if is(RAW) {
            // Skip to the raw text's end tag; the element does not nest.
            let mut j = tag_end;
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
    let mut quote = None;
    for (k, &c) in b[from..].iter().enumerate() {
        match (quote, c) {
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'>') => return Some(from + k),
            _ => {}
        }
    }
    None
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
    fn ordinary_pages_are_left_alone() {
        let html = "<html><head><script>if (a<b) { x = '</div>'; }</script></head><body>\
            <div><p>one<p>two<ul><li>a<li>b</ul><br><img src='x>y'></div><!-- <div> --></body></html>";
        assert_eq!(limit_depth(html), None);
    }

    #[test]
    fn markup_past_the_limit_is_dropped_and_its_text_kept() {
        let n = MAX_DEPTH * 3;
        let html = format!(
            "{}<b>deep</b> text{}<p>after</p>",
            "<div class='x'>".repeat(n),
            "</div>".repeat(n)
        );
        let flat = limit_depth(&html).expect("nested past the limit");
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
        assert_eq!(limit_depth(&html), None);
    }
}

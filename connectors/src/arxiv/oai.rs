//! OAI-PMH 2.0 answers carrying arXiv's own metadata format (`metadataPrefix=arXiv`), parsed
//! into what the `arxiv` connector needs. Pure functions over the answer's bytes, tested on
//! answers written from the protocol's and arXiv's documented formats.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// What one OAI-PMH answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OaiAnswer {
    /// A `ListRecords` page.
    Records(Page),
    /// An `Identify` answer: the repository's name.
    Identify { repository_name: String },
    /// An OAI-PMH `<error code="...">` (the first one, when there are several).
    Error { code: String, message: String },
}

/// One page of `ListRecords`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub records: Vec<Record>,
    /// The token of the next page; `None` on the last page (an empty `<resumptionToken/>`).
    pub token: Option<String>,
    pub complete_list_size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Paper(Paper),
    /// `<header status="deleted">`: withdrawn from the repository.
    Deleted {
        identifier: String,
    },
    /// A record with no `arXiv` metadata block.
    NoMetadata {
        identifier: String,
    },
}

/// A paper's metadata, whitespace already normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paper {
    /// The OAI identifier, `oai:arXiv.org:0704.0001`.
    pub identifier: String,
    /// The arXiv id, `0704.0001` or `math/0406594`.
    pub id: String,
    pub title: String,
    /// Paragraphs separated by a blank line.
    pub abstract_text: String,
    /// The licence URL from `<license>`, when the record has one.
    pub license: Option<String>,
    /// `Forenames Keyname` per author.
    pub authors: Vec<String>,
    pub categories: String,
}

/// A minimal element tree: local names, attributes and the element's own text.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn child_text(&self, name: &str) -> String {
        self.child(name).map(|c| c.text.clone()).unwrap_or_default()
    }
}

fn start(e: &BytesStart) -> Result<Element, String> {
    let mut el = Element {
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        ..Element::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| format!("XML attribute: {e}"))?;
        let v = a
            .unescape_value()
            .map_err(|e| format!("XML attribute: {e}"))?;
        el.attrs.push((
            String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
            v.into_owned(),
        ));
    }
    Ok(el)
}

fn tree(xml: &[u8]) -> Result<Element, String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    // The open elements, outermost first; the document root collects the top element.
    let mut stack = vec![Element::default()];
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => stack.push(start(&e)?),
            Event::Empty(e) => {
                let el = start(&e)?;
                stack.last_mut().expect("the root").children.push(el);
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    return Err("XML: an end tag closes nothing".into());
                }
                let el = stack.pop().expect("checked above");
                stack.last_mut().expect("the root").children.push(el);
            }
            Event::Text(t) => {
                let t = t.decode().map_err(|e| format!("XML text: {e}"))?;
                stack.last_mut().expect("the root").text.push_str(&t);
            }
            Event::CData(t) => {
                let t = String::from_utf8_lossy(&t).into_owned();
                stack.last_mut().expect("the root").text.push_str(&t);
            }
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r.decode().map_err(|e| format!("XML text: {e}"))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("XML: unknown entity &{name};"))?
                            .to_owned()
                    }
                    Err(e) => return Err(format!("XML character reference: {e}")),
                };
                stack.last_mut().expect("the root").text.push_str(&text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err("XML: the answer ends inside an element (truncated?)".into());
    }
    stack
        .pop()
        .expect("the root")
        .children
        .into_iter()
        .next()
        .ok_or_else(|| "empty document".to_owned())
}

/// Runs of whitespace become one space.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// arXiv abstracts are wrapped at ~80 columns; a line indented by two spaces (or a tab)
/// begins a new paragraph, as does a blank line. Paragraphs come out on one line each, separated by a blank line.
pub fn paragraphs(s: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in s.trim_matches(['\n', '\r']).lines() {
        let starts_paragraph =
            line.starts_with("  ") || line.starts_with('\t') || line.trim().is_empty();
        if starts_paragraph && !current.trim().is_empty() {
            out.push(one_line(&current));
            current.clear();
        }
        current.push(' ');
        current.push_str(line);
    }
    if !current.trim().is_empty() {
        out.push(one_line(&current));
    }
    out.join("\n\n")
}

fn record(r: &Element) -> Record {
    let header = r.child("header");
    let identifier = header
        .map(|h| one_line(&h.child_text("identifier")))
        .unwrap_or_default();
    if header.and_then(|h| h.attr("status")) == Some("deleted") {
        return Record::Deleted { identifier };
    }
    let Some(m) = r.child("metadata").and_then(|m| m.child("arXiv")) else {
        return Record::NoMetadata { identifier };
    };
    let authors = m
        .child("authors")
        .map(|a| {
            a.children("author")
                .map(|au| {
                    one_line(&format!(
                        "{} {}",
                        au.child_text("forenames"),
                        au.child_text("keyname")
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let license = Some(one_line(&m.child_text("license"))).filter(|l| !l.is_empty());
    Record::Paper(Paper {
        id: one_line(&m.child_text("id")),
        identifier,
        title: one_line(&m.child_text("title")),
        abstract_text: paragraphs(&m.child_text("abstract")),
        license,
        authors,
        categories: one_line(&m.child_text("categories")),
    })
}

/// Parses one OAI-PMH answer.
pub fn parse(xml: &[u8]) -> Result<OaiAnswer, String> {
    let root = tree(xml)?;
    if root.name != "OAI-PMH" {
        return Err(format!(
            "the root element is <{}>, not <OAI-PMH>",
            root.name
        ));
    }
    if let Some(e) = root.child("error") {
        return Ok(OaiAnswer::Error {
            code: e.attr("code").unwrap_or("").to_owned(),
            message: one_line(&e.text),
        });
    }
    if let Some(i) = root.child("Identify") {
        return Ok(OaiAnswer::Identify {
            repository_name: one_line(&i.child_text("repositoryName")),
        });
    }
    let Some(list) = root.child("ListRecords") else {
        return Err("neither <ListRecords>, <Identify> nor <error> in the answer".into());
    };
    let token = list.child("resumptionToken");
    Ok(OaiAnswer::Records(Page {
        records: list.children("record").map(record).collect(),
        token: token
            .map(|t| t.text.trim().to_owned())
            .filter(|t| !t.is_empty()),
        complete_list_size: token
            .and_then(|t| t.attr("completeListSize"))
            .and_then(|s| s.parse().ok()),
    }))
}

/// What the record's `licence` says: the licence named, its URL, and whose the text is.
/// Without a `<license>` element, arXiv's terms apply: the authors granted arXiv a
/// non-exclusive licence to distribute, which grants nobody else any reuse.
pub fn licence(license: Option<&str>, id: &str) -> String {
    let whose = format!("authors of arXiv:{id}");
    let Some(url) = license else {
        return format!(
            "arXiv non-exclusive distribution licence, no reuse grant (no licence stated; {whose})"
        );
    };
    let lower = url.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('/').filter(|p| !p.is_empty()).collect();
    let after = |marker: &str| {
        parts
            .iter()
            .position(|p| *p == marker)
            .map(|i| &parts[i + 1..])
    };
    let name = if lower.contains("arxiv.org/licenses/nonexclusive-distrib") {
        "arXiv non-exclusive distribution licence, no reuse grant".to_owned()
    } else if lower.contains("arxiv.org/licenses/assumed-1991-2003") {
        "arXiv assumed non-exclusive distribution licence (1991-2003), no reuse grant".to_owned()
    } else if let Some([code, version, ..]) =
        after("licenses").filter(|_| lower.contains("creativecommons.org"))
    {
        format!("CC {} {version}", code.to_ascii_uppercase())
    } else if let Some(["zero", version, ..]) = after("publicdomain") {
        format!("CC0 {version}")
    } else {
        "licence".to_owned()
    };
    format!("{name} ({url}; {whose})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abstracts_keep_their_paragraphs_and_lose_their_wrapping() {
        let raw =
            "  A fully differential calculation is\npresented here.\n  We also\n discuss it.\n";
        assert_eq!(
            paragraphs(raw),
            "A fully differential calculation is presented here.\n\nWe also discuss it."
        );
        assert_eq!(paragraphs("\n  One line only. \n"), "One line only.");
        assert_eq!(paragraphs(""), "");
    }

    #[test]
    fn licences_are_named_with_their_url_and_whose_the_text_is() {
        assert_eq!(
            licence(
                Some("http://creativecommons.org/licenses/by/4.0/"),
                "2101.00001"
            ),
            "CC BY 4.0 (http://creativecommons.org/licenses/by/4.0/; authors of arXiv:2101.00001)"
        );
        assert_eq!(
            licence(
                Some("http://creativecommons.org/licenses/by-nc-sa/4.0/"),
                "x"
            ),
            "CC BY-NC-SA 4.0 (http://creativecommons.org/licenses/by-nc-sa/4.0/; authors of arXiv:x)"
        );
        assert_eq!(
            licence(
                Some("http://creativecommons.org/publicdomain/zero/1.0/"),
                "x"
            ),
            "CC0 1.0 (http://creativecommons.org/publicdomain/zero/1.0/; authors of arXiv:x)"
        );
        assert!(
            licence(Some("http://arxiv.org/licenses/nonexclusive-distrib/1.0/"), "x")
                .starts_with("arXiv non-exclusive distribution licence, no reuse grant (http://arxiv.org/licenses/nonexclusive-distrib/1.0/;")
        );
        assert_eq!(
            licence(None, "math/0406594"),
            "arXiv non-exclusive distribution licence, no reuse grant (no licence stated; authors of arXiv:math/0406594)"
        );
        assert_eq!(
            licence(Some("https://example.org/terms"), "x"),
            "licence (https://example.org/terms; authors of arXiv:x)"
        );
    }

    #[test]
    fn errors_identify_and_broken_answers_are_told_apart() {
        let err = br#"<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2024-01-01T00:00:00Z</responseDate>
<request verb="ListRecords">http://export.arxiv.org/oai2</request>
<error code="badResumptionToken">The value of the resumptionToken argument is invalid or expired.</error></OAI-PMH>"#;
        assert_eq!(
            parse(err).unwrap(),
            OaiAnswer::Error {
                code: "badResumptionToken".into(),
                message: "The value of the resumptionToken argument is invalid or expired.".into()
            }
        );
        assert!(
            parse(b"<html><body>hi</body></html>")
                .unwrap_err()
                .contains("<html>")
        );
        assert!(
            parse(b"<OAI-PMH><ListRecords><record>")
                .unwrap_err()
                .contains("truncated")
        );
        assert!(parse(b"").is_err());
        let entity = br#"<OAI-PMH><ListRecords><record><header><identifier>oai:arXiv.org:1</identifier></header>
<metadata><arXiv><id>1</id><title>Caf&#233; &amp; B&#xE4;r</title><abstract>x</abstract></arXiv></metadata></record>
<resumptionToken cursor="0" completeListSize="1"></resumptionToken></ListRecords></OAI-PMH>"#;
        let OaiAnswer::Records(page) = parse(entity).unwrap() else {
            panic!("not a page")
        };
        assert_eq!(page.token, None);
        assert_eq!(page.complete_list_size, Some(1));
        let Record::Paper(p) = &page.records[0] else {
            panic!("not a paper")
        };
        assert_eq!(p.title, "Café & Bär");
        assert_eq!(p.license, None);
    }
}

//! The crawler's page scan as it was before the one-pass tokenizer: a whole document tree
//! built with `scraper` and walked. Kept for the tests only, as the oracle the tokenizer
//! pass is compared with on real pages and generated documents.

use super::page::{PageFacts, finish, is_creative_commons, read_meta};
use scraper::{Html, Node};
use url::Url;

/// The facts of an HTML page, read from its document tree.
pub(super) fn parse_tree(html: &str, url: &Url, agents: &[String]) -> PageFacts {
    let doc = Html::parse_document(html);
    let mut facts = PageFacts::default();
    let mut base = url.clone();
    let mut hrefs: Vec<String> = Vec::new();
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
                if el.name() != "link" && !rel_has("nofollow") {
                    hrefs.push(href.to_owned());
                }
            }
            "meta" => {
                let (Some(name), Some(content)) = (attr("name"), attr("content")) else {
                    continue;
                };
                read_meta(&mut facts, agents, name, content);
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
    finish(facts, &base, hrefs, cc_link, &ld_json)
}

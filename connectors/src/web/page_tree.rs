//! The crawler's page scan as it was before the one-pass tokenizer: a whole document tree
//! built with `scraper` and walked. Kept for the tests only, as the oracle the tokenizer
//! pass is compared with on real pages and generated documents.

use super::page::{PageFacts, is_creative_commons, json_ld_licence};
use super::urls::resolve;
use scraper::{Html, Node};
use url::Url;

/// The facts of an HTML page, read from its document tree.
pub(super) fn parse_tree(html: &str, url: &Url, agents: &[String]) -> PageFacts {
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

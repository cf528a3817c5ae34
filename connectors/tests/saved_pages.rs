//! The consent decision and link extraction on saved real-world-like pages
//! (`tests/data/web/*.html`): what a crawl would keep, skip and follow for each.

use masa_connectors::web::page::{decode, parse};
use masa_connectors::web::signals::{Directives, Overrides, RobotsVerdict, Tdm, decide};
use url::Url;

fn agents() -> Vec<String> {
    ["masa", "gptbot", "ccbot"].map(String::from).to_vec()
}

fn allowed() -> RobotsVerdict {
    RobotsVerdict {
        state: "allowed",
        rule: "masa: allow".into(),
    }
}

struct Saved {
    text: String,
    facts: masa_connectors::web::page::PageFacts,
}

fn load(name: &str, url: &str, content_type: &str) -> Saved {
    let path = format!("{}/tests/data/web/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    let text = decode(&bytes, Some(content_type));
    let facts = parse(&text, &Url::parse(url).unwrap(), &agents());
    Saved { text, facts }
}

fn verdict(s: &Saved, headers: Directives) -> Result<masa_record::Consent, &'static str> {
    let tdm = Tdm::default().statement(s.facts.tdm_reservation, s.facts.tdm_policy.clone(), "meta");
    decide(
        &allowed(),
        &tdm,
        headers.merge(s.facts.directives),
        Overrides::default(),
    )
    .map_err(|r| r.reason)
}

fn links(s: &Saved) -> Vec<&str> {
    s.facts.links.iter().map(Url::as_str).collect()
}

#[test]
fn news_article_marked_noai_for_gptbot_is_skipped_but_its_links_are_followed() {
    let s = load(
        "news-article.html",
        "https://news.example/2024/06/bike-lanes",
        "text/html",
    );
    assert_eq!(
        s.facts.title.as_deref(),
        Some("City council approves new bike lanes | The Daily Example")
    );
    assert_eq!(verdict(&s, Directives::default()), Err("noai"));
    assert_eq!(
        links(&s),
        [
            "https://news.example/",
            "https://news.example/politics/",
            "https://news.example/sport/",
            "https://news.example/2024/05/budget",
            "https://news.example/terms",
        ],
        "the sponsored nofollow link is left out"
    );
    assert_eq!(s.facts.licence, None);
}

#[test]
fn docs_page_in_latin1_reserving_tdm_rights_is_skipped_with_its_policy() {
    let s = load(
        "docs-page.html",
        "https://docs.example/manual/config.html",
        "text/html",
    );
    assert!(
        s.text.contains("Paramètres"),
        "the meta charset was not honoured"
    );
    assert_eq!(s.facts.tdm_reservation, Some(true));
    assert_eq!(
        s.facts.tdm_policy.as_deref(),
        Some("https://docs.example/tdm-policy.json")
    );
    assert_eq!(verdict(&s, Directives::default()), Err("tdm"));
    assert_eq!(
        links(&s),
        [
            "https://docs.example/manual/index.html",
            "https://docs.example/manual/install.html",
            "https://docs.example/manual/tuning.html",
            "https://docs.example/faq/",
        ],
        "links resolve against <base href>"
    );
}

#[test]
fn forum_thread_under_cc_by_sa_is_kept_and_nofollow_stops_its_links() {
    let s = load(
        "forum-thread.html",
        "https://forum.example/thread/42",
        "text/html; charset=utf-8",
    );
    let consent = verdict(&s, Directives::default()).expect("kept");
    assert_eq!(consent.noai, Some(false));
    assert_eq!(consent.tdm_reserved, Some(false));
    assert!(!consent.overridden);
    assert_eq!(
        s.facts.licence.as_deref(),
        Some("https://creativecommons.org/licenses/by-sa/4.0/")
    );
    assert!(links(&s).is_empty());
}

#[test]
fn product_page_marked_noindex_is_skipped_and_a_header_can_refuse_a_kept_page() {
    let s = load(
        "product-page.html",
        "https://shop.example/bottles/steel-750",
        "text/html",
    );
    assert_eq!(verdict(&s, Directives::default()), Err("noindex"));
    assert_eq!(
        links(&s),
        [
            "https://shop.example/cart?add=123",
            "https://shop.example/bottles/"
        ]
    );
    // The forum thread is kept, until an X-Robots-Tag scoped to CCBot says noai.
    let forum = load(
        "forum-thread.html",
        "https://forum.example/thread/42",
        "text/html",
    );
    let mut header = Directives::default();
    header.add_header("CCBot: noai", &agents());
    assert_eq!(verdict(&forum, header), Err("noai"));
    let mut other = Directives::default();
    other.add_header("bingbot: noai", &agents());
    assert!(verdict(&forum, other).is_ok());
}

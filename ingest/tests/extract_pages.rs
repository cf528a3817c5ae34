//! Extraction on saved real-world-like pages (`tests/data/extract/`): for each, the main
//! content is kept with its structure as light Markdown, the page furniture around it is
//! not, and the metadata is read. Expectations are written by hand from the pages.

mod common;

use common::{check, page};
use masa_ingest::{QualityConfig, describe, extract_html};

#[test]
fn news_article_keeps_the_story_and_drops_banners_menus_comments_and_sidebars() {
    let e = extract_html(&page("news.html"));
    check(
        &e.text,
        &[
            "The Harbour Bridge reopened to traffic on Saturday morning",
            "## What changes for commuters",
            "- Route 4 resumes its old timetable.",
            "> We are proud to give the city its bridge back",
        ],
        &[
            "cookies",
            "Accept all",
            "Weather",
            "Most read",
            "Great news",
            "morning briefing",
            "All rights reserved",
            "Share",
            "dataLayer",
        ],
    );
    let m = &e.meta;
    // The visible headline: the page's title without the site's name.
    assert_eq!(
        e.meta.title.as_deref(),
        Some("Harbour bridge reopens after two-year repair")
    );
    assert_eq!(
        m.canonical.as_deref(),
        Some("https://coastal.example/news/2024/05/bridge-reopens")
    );
    assert_eq!(m.author.as_deref(), Some("Maria Lopez"));
    assert_eq!(m.published.as_deref(), Some("2024-05-18T09:30:00Z"));
    assert_eq!(
        m.description.as_deref(),
        Some("The bridge reopened to traffic on Saturday.")
    );
    assert_eq!(m.declared_lang.as_deref(), Some("en"));
}

#[test]
fn docs_page_keeps_headings_code_and_inline_code_and_drops_navigation() {
    let e = extract_html(&page("docs.html"));
    check(
        &e.text,
        &[
            "# Connection pooling",
            "## Configuration",
            "```\n[pool]\nmax_connections = 20\npool_timeout = 30\n```",
            "The pool size is set with `max_connections`",
            "Restart the service after changing these values.",
        ],
        &[
            "Administration",
            "Table of contents",
            "Copyright",
            "documentation generator",
        ],
    );
}

#[test]
fn forum_thread_keeps_every_post_and_drops_the_site_chrome() {
    let e = extract_html(&page("forum.html"));
    check(
        &e.text,
        &[
            "the fan on my laptop runs at full speed",
            "Check whether the new kernel loaded the thermal driver",
            "updating the firmware from the vendor's page fixed the fan curve",
        ],
        &["Log in", "Register", "Hardware", "Next", "Powered by"],
    );
}

#[test]
fn product_page_keeps_the_description_and_its_table() {
    let e = extract_html(&page("product.html"));
    check(
        &e.text,
        &[
            "The X2 is a lightweight trail running shoe",
            "| Weight | Drop | Sole |\n| --- | --- | --- |\n| 280 g | 6 mm | Rubber, 5 mm lugs |",
        ],
        &["Cart (0)", "You may also like", "Free delivery", "Sale"],
    );
    assert_eq!(
        e.meta.description.as_deref(),
        Some("Lightweight trail running shoe with a grippy sole.")
    );
}

#[test]
fn tables_and_code_keep_their_structure_and_the_licence_is_read() {
    let e = extract_html(&page("tables-code.html"));
    check(
        &e.text,
        &[
            "| Algorithm | Average | Worst | Memory |\n| --- | --- | --- | --- |\n| Quicksort | n log n | n squared | log n |",
            "```\nfn insertion_sort(v: &mut [i32]) {\n    for i in 1..v.len() {",
            "        while j > 0 && v[j - 1] > v[j] {",
            "1. Take the next element.\n2. Move it left past every larger element.",
        ],
        &["Overview"],
    );
    assert_eq!(
        e.meta.licence.as_deref(),
        Some("https://creativecommons.org/licenses/by/4.0/")
    );
}

#[test]
fn a_windows_1252_page_is_decoded_and_identified_as_french() {
    let html = page("latin1.html");
    let r = describe(&html, &QualityConfig::default());
    check(
        &r.text,
        &[
            "Épluchez six pommes",
            "pâte brisée",
            "crème fraîche",
            "jusqu’à",
        ],
        &["Accueil", "Cuisine de famille"],
    );
    assert_eq!(r.lang.as_deref(), Some("fra"));
    assert!(r.lang_score.unwrap() > 0.5);
    // Gopher's stop words are English: the French text has none of them, and the rule
    // does not judge it.
    assert_eq!(r.quality.signals.stop_words, 0);
    assert_ne!(r.quality.failed, Some("gopher_stop_words"));
    assert!(r.quality.signals.words > 40);
}

#[test]
fn empty_broken_and_huge_pages_do_not_panic() {
    assert_eq!(extract_html("").text, "");
    assert_eq!(extract_html("<html><body></body></html>").text, "");
    let broken = extract_html(
        "<body><div><p>Unclosed paragraph with enough words to count as a text block here<table><tr><td>cell",
    );
    assert!(broken.text.contains("Unclosed paragraph"));
    // A 10 MB page of repeated paragraphs.
    let huge = format!(
        "<body>{}</body>",
        "<p>A paragraph of ordinary text, repeated many times over.</p>".repeat(150_000)
    );
    let e = extract_html(&huge);
    assert!(e.text.len() > 5_000_000);
    // Tables nested 2,000 deep.
    let nested = format!(
        "{}deep cell text{}",
        "<table><tr><td>".repeat(2000),
        "</td></tr></table>".repeat(2000)
    );
    assert!(extract_html(&nested).text.contains("deep cell text"));
}

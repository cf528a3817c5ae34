//! One page a rule of the main-text extractor (`tests/data/extract/rules/`): each page is
//! built so that the rule it is named after decides what is kept, and each rule is a
//! general property of web pages, not of one site. Expectations are written by hand.

mod common;

use common::check;
use masa_ingest::extract_html;

/// A page of `tests/data/extract/rules/`.
fn page(name: &str) -> String {
    common::page(&format!("rules/{name}"))
}

const STORY_START: &str = "The city council voted on Tuesday";
const STORY_END: &str = "the mayor said after the vote.";

#[test]
fn a_wrapper_named_like_furniture_that_holds_most_of_the_page_is_the_page() {
    let e = extract_html(&page("named-wrapper.html"));
    check(&e.text, &[STORY_START, STORY_END], &["Our service desk"]);
}

#[test]
fn a_content_word_counts_only_as_the_last_part_of_a_name() {
    let e = extract_html(&page("content-word-last.html"));
    check(
        &e.text,
        &[STORY_START, "since the last extension opened."],
        &["Posted on", "Tags: trams"],
    );
}

#[test]
fn bylines_times_captions_credits_paywalls_disclaimers_copyright_and_teasers_are_furniture() {
    let e = extract_html(&page("furniture-names.html"));
    check(
        &e.text,
        &[STORY_START, STORY_END],
        &[
            "Sign in to your account",
            "By Jane Doe",
            "14:05",
            "The current terminus",
            "Photo: John Smith",
            "Subscribe for one euro",
            "The views expressed",
            "All rights reserved",
            "Bus drivers strike",
        ],
    );
}

#[test]
fn figure_captions_and_ruby_readings_are_not_text_but_quotes_in_figures_are() {
    let e = extract_html(&page("captions-and-ruby.html"));
    check(
        &e.text,
        &[
            STORY_START,
            "We have waited for this line for twelve years",
            "漢字の読み方を学ぶ",
        ],
        &["Photo: City Archive", "かん", "(よ)"],
    );
}

#[test]
fn short_link_paragraphs_and_headings_that_head_nothing_are_left_out() {
    let e = extract_html(&page("link-paragraphs.html"));
    check(
        &e.text,
        &[
            STORY_START,
            "which the planning office published in March, lists eleven new stops",
        ],
        &["Read more", "More on this topic", "Bus fares rise"],
    );
}

#[test]
fn a_list_made_only_of_links_is_left_out_however_long() {
    let e = extract_html(&page("link-lists.html"));
    check(
        &e.text,
        &[
            STORY_START,
            "where the line meets the ferries",
            "four thousand residents",
            STORY_END,
        ],
        &["Bus drivers strike", "Ticket prices for students"],
    );
}

#[test]
fn page_builder_widgets_that_read_as_prose_are_content() {
    let e = extract_html(&page("page-builder.html"));
    check(
        &e.text,
        &[STORY_START, "Construction is to begin", STORY_END],
        &["Recent posts", "We are hiring"],
    );
}

#[test]
fn an_articles_lead_before_its_body_is_kept_and_its_byline_is_not() {
    let e = extract_html(&page("article-lead.html"));
    check(
        &e.text,
        &["After a decade of debate", STORY_START, STORY_END],
        &["By Jane Doe"],
    );
}

#[test]
fn a_hidden_class_is_a_scripts_toggle_but_the_hidden_attribute_hides() {
    let e = extract_html(&page("hidden-class.html"));
    check(
        &e.text,
        &[STORY_START, "The second slide shows the planned stop"],
        &["Template for the lightbox"],
    );
}

#[test]
fn a_page_whose_names_hide_all_its_text_is_read_again_without_them() {
    let e = extract_html(&page("names-everywhere.html"));
    check(&e.text, &[STORY_START, STORY_END], &[]);
}

#[test]
fn the_title_is_the_visible_headline_and_the_author_the_person_jsonld_points_to() {
    let e = extract_html(&page("meta-news.html"));
    assert_eq!(
        e.meta.title.as_deref(),
        Some("Tram line to be extended to the north")
    );
    assert_eq!(e.meta.author.as_deref(), Some("Jane O'Doe"));
    assert_eq!(
        e.meta.published.as_deref(),
        Some("2024-03-12T14:05:00+01:00")
    );
}

#[test]
fn a_title_loses_the_sites_name_and_an_author_that_is_a_url_gives_way_to_the_byline() {
    let e = extract_html(&page("meta-title-only.html"));
    assert_eq!(
        e.meta.title.as_deref(),
        Some("Straßenbahn fährt bald bis in den Norden")
    );
    assert_eq!(e.meta.author.as_deref(), Some("Anna Beispiel"));
}

#[test]
fn a_wrapper_named_like_furniture_that_holds_the_main_element_is_the_page() {
    let e = extract_html(&page("main-in-named-wrapper.html"));
    check(
        &e.text,
        &[STORY_START, STORY_END],
        &["Libraries, museums, the zoo"],
    );
}

#[test]
fn a_form_or_aside_that_wraps_the_main_content_is_content() {
    let e = extract_html(&page("wrapping-form-and-aside.html"));
    check(
        &e.text,
        &[STORY_START, "although residents along the route", STORY_END],
        &["Fact box", "We want more direct democracy", "Our programme"],
    );
}

#[test]
fn a_furniture_word_counts_only_at_an_edge_of_the_class_word() {
    let e = extract_html(&page("furniture-word-edges.html"));
    check(
        &e.text,
        &[STORY_START, STORY_END],
        &[
            "the council's committees",
            "small files on your device",
            "I have waited for this line",
        ],
    );
}

#[test]
fn a_block_named_like_furniture_that_holds_most_of_the_main_element_is_content() {
    let e = extract_html(&page("named-in-main.html"));
    check(&e.text, &[STORY_START, STORY_END], &["Libraries, museums"]);
}

#[test]
fn a_block_named_as_the_lead_before_the_content_opens_it() {
    let e = extract_html(&page("lead-named.html"));
    check(
        &e.text,
        &["Twenty years after the first plans", STORY_START, STORY_END],
        &["Our newsroom is open"],
    );
    let lead = e.text.find("Twenty years").expect("lead kept");
    assert!(lead < e.text.find(STORY_START).expect("story kept"));
}

#[test]
fn an_element_with_the_id_sidebar_is_the_site_sidebar_whatever_prose_it_holds() {
    let e = extract_html(&page("sidebar-id.html"));
    check(
        &e.text,
        &[
            STORY_START,
            "the first tram ran in the city in 1895",
            STORY_END,
        ],
        &["Copyright notice", "This blog links to other sites"],
    );
}

#[test]
fn publishers_notes_at_the_end_of_the_text_are_dropped() {
    let e = extract_html(&page("closing-notes.html"));
    check(
        &e.text,
        &[STORY_START, "Residents can subscribe", STORY_END],
        &[
            "Subscribe now to our print edition",
            "logged in to post a comment",
            "Sign up here",
            "Donate",
            "copyrighted property",
        ],
    );
}

#[test]
fn credit_lines_of_pictures_sources_bylines_and_filing_are_furniture() {
    let e = extract_html(&page("credit-lines.html"));
    check(
        &e.text,
        &[
            STORY_START,
            "Photo opportunities were few",
            STORY_END,
            "By the end of the decade",
        ],
        &[
            "Ann Example",
            "Ann Roe",
            "Tags:",
            "Jane Smith",
            "Getty Images",
            "John Roe",
            "Source: planning office",
        ],
    );
}

#[test]
fn a_newsletter_prompt_is_furniture_wherever_it_stands() {
    let e = extract_html(&page("newsletter-prompt.html"));
    check(
        &e.text,
        &[STORY_START, "newsletter first reported the plan", STORY_END],
        &["Never miss the latest news"],
    );
}

#[test]
fn blocks_labeled_as_advertising_are_furniture() {
    let e = extract_html(&page("advertising-label.html"));
    check(
        &e.text,
        &[
            "Der Stadtrat hat am Dienstag",
            "Werbung nervt.",
            "sagte der Bürgermeister",
        ],
        &["Fahrradhändler", "Jahresabo"],
    );
}

#[test]
fn a_closing_box_of_reading_tips_is_left_out() {
    let e = extract_html(&page("related-end.html"));
    check(
        &e.text,
        &[STORY_START, "What comes next", STORY_END],
        &[
            "More on this topic",
            "Bus drivers strike",
            "night trams",
            "Most read",
            "bakery",
        ],
    );
}

#[test]
fn a_reading_tips_heading_left_empty_leaves_the_sections_after_it() {
    let e = extract_html(&page("related-empty.html"));
    check(
        &e.text,
        &[
            STORY_START,
            "What comes next",
            "Construction is to begin",
            STORY_END,
        ],
        &["Bus drivers strike"],
    );
}

#[test]
fn controls_are_not_text() {
    let e = extract_html(&page("controls.html"));
    check(
        &e.text,
        &[
            STORY_START,
            "Planning office, report",
            "press the button",
            "the buttons that open them",
            STORY_END,
        ],
        &["Show sources", "Order your annual pass", "Hide all details"],
    );
}

#[test]
fn a_short_link_standing_as_a_block_is_navigation() {
    let e = extract_html(&page("standalone-link.html"));
    check(
        &e.text,
        &[STORY_START, "planning office's report", STORY_END],
        &["Back to the list"],
    );
}

#[test]
fn a_block_repeating_the_pictures_description_is_its_caption() {
    let e = extract_html(&page("alt-caption.html"));
    check(
        &e.text,
        &[STORY_START, "Construction is to begin", STORY_END],
        &["low-floor tram"],
    );
}

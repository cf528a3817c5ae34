//! Turning a raw item into a record: HTML to main text (light Markdown) and metadata,
//! normalization, language identification, hashing.

mod content;
mod markdown;
mod meta;
mod prepare;

use crate::quality::{Quality, QualityConfig};
use masa_record::{RawItem, Record, content_hash, normalize_text, record_id};
use scraper::{ElementRef, Html};

pub use meta::Metadata;

/// What the extractor keeps of an HTML page.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractedText {
    /// The main content as light Markdown.
    pub text: String,
    /// Title, canonical URL, description, author, date, declared language, licence.
    pub meta: Metadata,
}

/// Extracts the main content of an HTML document as light Markdown, with its metadata.
/// Navigation, headers, footers, sidebars, cookie banners, comments and ads are pruned by
/// what they say they are; of the rest, the container whose text blocks score best (long,
/// with commas, few links) is kept with its content-bearing siblings. A page with no text
/// block keeps its whole (pruned) body.
pub fn extract_html(html: &str) -> ExtractedText {
    // Markup nested past a documented depth is dropped first (its text stays: parsing it
    // would take minutes), and so are the bodies of scripts and style sheets.
    let flat = prepare::prepare(html);
    let doc = Html::parse_document(flat.as_deref().unwrap_or(html));
    let meta = meta::read(&doc);
    let render = |trust_names: bool| {
        let analysis = content::analyse(&doc, trust_names);
        let roots: Vec<ElementRef<'_>> = match content::main_content(&doc, &analysis) {
            Some(r) => r,
            None => vec![doc.root_element()],
        };
        markdown::render(&roots, &analysis)
    };
    let mut text = render(true);
    // Class and id names are hints, and some templates name everything like furniture: a
    // page that yields almost nothing is read again without trusting them.
    if text.len() < SHORT_TEXT_BYTES {
        let again = render(false);
        if again.len() > text.len() * 2 {
            text = again;
        }
    }
    ExtractedText { text, meta }
}

/// An element's attribute by name. scraper's `Element::attr` makes an interned atom of the
/// name on each call; comparing the names as strings over the few attributes an element has
/// is cheaper, and this is asked for every element of every page.
fn attr<'a>(el: &'a scraper::node::Element, name: &str) -> Option<&'a str> {
    el.attrs().find_map(|(k, v)| (k == name).then_some(v))
}

/// Below this many bytes of main text, a page is read a second time without trusting its
/// class and id names.
const SHORT_TEXT_BYTES: usize = 250;

/// A text's language as an ISO 639-3 code, with whatlang's confidence.
fn detect_lang(text: &str) -> (Option<String>, Option<f64>) {
    match whatlang::detect(prefix(text, LANG_SAMPLE_BYTES)) {
        Some(info) => (Some(info.lang().code().to_owned()), Some(info.confidence())),
        None => (None, None),
    }
}

/// Everything masa keeps and measures of one HTML page: what `masa extract` shows a
/// contributor so they can see why a page scored as it did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PageReport {
    /// The main content as light Markdown.
    pub text: String,
    /// Title, canonical URL, description, author, date, declared language, licence.
    #[serde(flatten)]
    pub meta: Metadata,
    pub lang: Option<String>,
    pub lang_score: Option<f64>,
    pub quality: QualityReport,
}

/// A text's quality as a keep/drop decision, a score and its signals.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QualityReport {
    pub keep: bool,
    /// The first rule the text fails.
    pub failed: Option<&'static str>,
    pub score: f64,
    pub signals: crate::quality::QualitySignals,
}

/// A normalized text's language (with its confidence) and its quality under the
/// thresholds for that language.
fn judge(text: &str, quality: &QualityConfig) -> (Option<String>, Option<f64>, Quality) {
    let (lang, lang_score) = detect_lang(text);
    let q = crate::quality::assess(text, &quality.thresholds(lang.as_deref()));
    (lang, lang_score, q)
}

/// The quality score of a normalized text under the default thresholds for its language:
/// what a validator computes for itself, since a record's `quality_score` column is the
/// contributor's own claim (made with thresholds the contributor may have changed).
pub fn default_quality_score(text: &str) -> f64 {
    judge(text, &QualityConfig::default()).2.score
}

/// Extracts, identifies the language of and scores one HTML page.
pub fn describe(html: &str, quality: &QualityConfig) -> PageReport {
    let e = extract_html(html);
    let text = normalize_text(&e.text);
    let (lang, lang_score, q) = judge(&text, quality);
    PageReport {
        text,
        meta: e.meta,
        lang,
        lang_score,
        quality: QualityReport {
            keep: q.failed.is_none(),
            failed: q.failed,
            score: q.score,
            signals: q.signals,
        },
    }
}

/// At most this many bytes of text are looked at to identify the language.
const LANG_SAMPLE_BYTES: usize = 512;

fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An item that does not become a record: why, and the record when it got that far (a text
/// that failed a quality rule).
#[derive(Debug)]
pub struct Dropped {
    pub reason: String,
    pub record: Option<Box<Record>>,
}

impl Dropped {
    fn early(reason: &str) -> Dropped {
        Dropped {
            reason: reason.to_owned(),
            record: None,
        }
    }
}

/// Turns a raw item into a record for `contributor`, or why it is dropped (`extract:empty`,
/// `quality:<rule>` when `quality` drops failing texts). The record's `batch_id` and
/// `row_in_batch` are filled in when its batch is committed.
pub fn to_record(
    item: RawItem,
    contributor: &str,
    quality: &QualityConfig,
) -> Result<Record, Dropped> {
    let is_html = item
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("text/html") || c.starts_with("application/xhtml"));
    let raw = String::from_utf8(item.body).map_err(|_| Dropped::early("extract:not_utf8"))?;
    // A licence the source recorded comes first; else the one the page declares
    // (`rel=license`, JSON-LD `license`, a Creative Commons link).
    let (title, text, licence) = if is_html {
        let e = extract_html(&raw);
        (
            item.title.or(e.meta.title),
            e.text,
            item.licence.or(e.meta.licence),
        )
    } else {
        (item.title, raw, item.licence)
    };
    let text = normalize_text(&text);
    if text.is_empty() {
        return Err(Dropped::early("extract:empty"));
    }
    let (lang, lang_score, q) = judge(&text, quality);
    let signals = serde_json::to_string(&q.signals).expect("signals serialize");
    let hash = content_hash(&text);
    let record = Record {
        record_id: record_id(contributor, &item.uri, &hash),
        content_hash: hash,
        source: item.source.to_owned(),
        uri: item.uri,
        fetched_at_micros: item.fetched_at_micros,
        http_status: item.http_status,
        content_type: item.content_type,
        title,
        text,
        lang,
        lang_score,
        quality_score: Some(q.score),
        quality_signals: Some(signals),
        licence,
        consent: item.consent,
        contributor: contributor.to_owned(),
        batch_id: String::new(),
        row_in_batch: 0,
        near_dup_of: None,
    };
    match q.failed {
        Some(rule) if quality.drop => Err(Dropped {
            reason: format!("quality:{rule}"),
            record: Some(Box::new(record)),
        }),
        _ => Ok(record),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_body_text_and_drops_boilerplate() {
        let html = r#"<html><head><title> The  Page </title><style>p{}</style></head>
            <body><nav>Home | About</nav><header>Site header</header>
            <article><h1>Heading</h1><p>First <b>bold</b> paragraph.</p>
            <ul><li>one</li><li>two</li></ul><script>var x=1;</script>
            <pre>  code  line
  two</pre></article><footer>(c) footer</footer></body></html>"#;
        let e = extract_html(html);
        assert_eq!(e.meta.title.as_deref(), Some("The Page"));
        assert_eq!(
            e.text,
            "# Heading\n\nFirst bold paragraph.\n\n- one\n- two\n\n```\n  code  line\n  two\n```"
        );
        for gone in ["Home", "Site header", "var x", "footer", "p{}"] {
            assert!(!e.text.contains(gone), "{gone} should be removed");
        }
    }

    #[test]
    fn deeply_nested_markup_does_not_overflow_the_stack() {
        // Deep enough that one stack frame per level would not fit in the thread's 256 KiB;
        // html5ever's own cost grows quickly with depth, so not deeper.
        let depth = 5_000;
        let html = format!(
            "{}deep text{}",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        // Run on a thread with a small stack: recursion would overflow it.
        let text = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || extract_html(&html).text)
            .unwrap()
            .join()
            .unwrap();
        assert!(text.contains("deep text"));
    }

    #[test]
    fn title_falls_back_to_first_h1_and_broken_markup_does_not_panic() {
        let e = extract_html("<body><h1>Only <i>heading</i></h1><p>text <div>unclosed");
        assert_eq!(e.meta.title.as_deref(), Some("Only heading"));
        assert!(e.text.contains("unclosed"));
        assert_eq!(extract_html("").text, "");
    }

    fn item(body: &str, ct: &str) -> RawItem {
        RawItem {
            uri: "file:///x".into(),
            source: "files",
            fetched_at_micros: 5,
            http_status: None,
            content_type: Some(ct.into()),
            title: None,
            body: body.as_bytes().to_vec(),
            consent: masa_record::Consent::declared("mine"),
            licence: None,
            checkpoint: serde_json::Value::Null.into(),
        }
    }

    const ENGLISH_CRLF: &str = "This is a short paragraph written in plain English, so that the  \r\n\
        language identifier has enough words to be confident about what it is reading.  \r\n";

    #[test]
    fn record_carries_hash_id_lang_and_consent() {
        let r = to_record(
            item(ENGLISH_CRLF, "text/plain"),
            "key",
            &QualityConfig::default(),
        )
        .unwrap();
        assert_eq!(r.text, ENGLISH_CRLF.replace("  \r\n", "\n").trim_end());
        assert_eq!(r.content_hash, masa_record::content_hash(&r.text));
        assert_eq!(
            r.record_id,
            masa_record::record_id("key", "file:///x", &r.content_hash)
        );
        assert_eq!(r.lang.as_deref(), Some("eng"));
        assert_eq!(r.consent.declaration.as_deref(), Some("mine"));
    }

    #[test]
    fn empty_text_is_dropped_with_a_reason() {
        assert_eq!(
            to_record(item("  \n ", "text/plain"), "k", &QualityConfig::default())
                .unwrap_err()
                .reason,
            "extract:empty"
        );
        assert_eq!(
            to_record(
                item("<script>x</script>", "text/html"),
                "k",
                &QualityConfig::default()
            )
            .unwrap_err()
            .reason,
            "extract:empty"
        );
    }

    #[test]
    fn a_failing_text_is_scored_kept_or_dropped_with_its_record() {
        let short = item("Too short to be a document.", "text/plain");
        let kept = to_record(short.clone(), "k", &QualityConfig::default()).unwrap();
        assert!(kept.quality_score.unwrap() < 1.0);
        let signals: serde_json::Value =
            serde_json::from_str(kept.quality_signals.as_deref().unwrap()).unwrap();
        assert_eq!(signals["words"], 6);
        let strict = QualityConfig {
            drop: true,
            ..Default::default()
        };
        let d = to_record(short, "k", &strict).unwrap_err();
        assert_eq!(d.reason, "quality:gopher_word_count");
        assert_eq!(d.record.unwrap().text, "Too short to be a document.");
    }

    proptest::proptest! {
        /// Extraction of arbitrary tag soup never panics and is deterministic.
        #[test]
        fn tag_soup_extracts_deterministically(html in "(<(p|div|a|ul|li|table|tr|td|pre|h1|nav|article|code)( class=\"(nav|content|post|footer|sidebar|x)\")?>|</(p|div|a|ul|li|table|tr|td|pre|h1|nav|article|code)>|[a-z ,.]{0,20}){0,60}") {
            let a = extract_html(&html);
            proptest::prop_assert_eq!(&a, &extract_html(&html));
            let r = describe(&html, &QualityConfig::default());
            proptest::prop_assert!((0.0..=1.0).contains(&r.quality.score));
        }

        #[test]
        fn arbitrary_text_never_panics(html in "\\PC{0,300}") {
            let _ = extract_html(&html);
        }
    }
}

//! Unit tests of the `mastodon` connector's pure parts: config validation, the rules that
//! decide a record, text and position handling.

use super::*;

fn build(v: Value) -> Result<MastodonConnector, ConnectorError> {
    let ctx = BuildContext {
        declaration: "test".into(),
        credentials: Default::default(),
    };
    serde_json::from_value::<MastodonConfig>(v)
        .unwrap()
        .build(&ctx)
}

fn err(v: Value) -> String {
    match build(v) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn a_config_names_an_instance_root_a_known_timeline_and_a_plain_hashtag() {
    assert!(err(json!({"instance": "ftp://m.example"})).contains("http"));
    assert!(err(json!({"instance": "https://m.example/@gargron"})).contains("root"));
    assert!(
        err(json!({"instance": "https://m.example", "timeline": "home"}))
            .contains("unknown timeline")
    );
    assert!(
        err(json!({"instance": "https://m.example", "hashtag": "rust lang"})).contains("letters")
    );
    assert!(err(json!({"instance": "https://m.example", "hashtag": "#"})).contains("letters"));
    assert!(err(json!({"instance": "https://m.example", "page_size": 41})).contains("1..=40"));
    assert!(err(json!({"instance": "https://m.example", "page_size": 0})).contains("1..=40"));
    let c = build(json!({"instance": "https://m.example/", "hashtag": "#Rust"})).unwrap();
    assert_eq!(c.source_id(), "https://m.example/#tag:rust:local");
    assert_eq!(
        c.timeline_url(Direction::Older, Some("110"), 40).as_str(),
        "https://m.example/api/v1/timelines/tag/Rust?local=true&limit=40&max_id=110"
    );
    let c = build(json!({"instance": "https://m.example", "timeline": "federated"})).unwrap();
    assert_eq!(c.source_id(), "https://m.example/#public:federated");
    assert_eq!(
        c.timeline_url(Direction::Newer, Some("7"), 20).as_str(),
        "https://m.example/api/v1/timelines/public?limit=20&min_id=7"
    );
}

#[test]
fn only_accounts_that_opted_in_are_recorded() {
    let case = |a: Value| not_opted_in(&a);
    assert_eq!(case(json!({"indexable": true})), None);
    // indexable decides when present, whatever the older flags say.
    assert_eq!(case(json!({"indexable": true, "noindex": true})), None);
    assert_eq!(
        case(json!({"indexable": false, "discoverable": true})),
        Some("consent:not_indexable")
    );
    // Older servers: discoverable and not noindex.
    assert_eq!(case(json!({"discoverable": true})), None);
    assert_eq!(
        case(json!({"indexable": null, "discoverable": true, "noindex": false})),
        None
    );
    assert_eq!(
        case(json!({"discoverable": true, "noindex": true})),
        Some("consent:noindex")
    );
    assert_eq!(
        case(json!({"discoverable": false})),
        Some("consent:not_discoverable")
    );
    assert_eq!(
        case(json!({"discoverable": null})),
        Some("consent:not_discoverable")
    );
    assert_eq!(case(json!({})), Some("consent:not_discoverable"));
}

#[test]
fn post_html_becomes_plain_text() {
    assert_eq!(
        plain(
            "<p>Hello <span class=\"h-card\"><a href=\"https://m.example/@amy\" class=\"u-url mention\">@<span>amy</span></a></span> &amp; all!</p><p>Line one<br>line two<br/>see <a href=\"https://example.org/a/long/path\"><span class=\"invisible\">https://</span><span class=\"ellipsis\">example.org/a/lon</span><span class=\"invisible\">g/path</span></a></p>"
        ),
        "Hello @amy & all!\n\nLine one\nline two\nsee https://example.org/a/long/path"
    );
    assert_eq!(plain("<p></p>"), "");
    assert_eq!(plain("just text"), "just text");
}

#[test]
fn ids_compare_as_numbers() {
    assert_eq!(cmp_id("99", "100"), Ordering::Less);
    assert_eq!(
        cmp_id("110000000000000002", "110000000000000001"),
        Ordering::Greater
    );
    assert_eq!(cmp_id("7", "7"), Ordering::Equal);
}

#[test]
fn a_position_round_trips_through_its_checkpoint() {
    let p = Position {
        direction: Direction::Newer,
        at: Some("12".into()),
        newest: Some("12".into()),
        count: 3,
    };
    assert_eq!(Position::from_value(&p.to_value()).unwrap(), p);
    assert!(Position::from_value(&json!({"at": "1"})).is_err());
}

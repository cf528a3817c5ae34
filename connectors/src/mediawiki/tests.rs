//! Unit tests of the `mediawiki` connector's pure parts: config validation, the rules that
//! decide a record, text and position handling.

use super::*;

fn build(v: Value) -> Result<MediaWikiConnector, ConnectorError> {
    let ctx = BuildContext {
        declaration: "test".into(),
        credentials: Default::default(),
    };
    serde_json::from_value::<MediaWikiConfig>(v)
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
fn a_config_points_at_api_php_and_reads_one_set_of_pages() {
    assert!(err(json!({"api_url": "https://en.wikipedia.org/wiki/Main_Page"})).contains("api.php"));
    assert!(err(json!({"api_url": "ftp://w.example/api.php"})).contains("api.php"));
    assert!(err(json!({"api_url": "https://w.example/api.php?action=query"})).contains("no query"));
    assert!(
        err(json!({"api_url": "https://w.example/api.php", "category": "X", "from": "A"}))
            .contains("not with a category")
    );
    assert!(
        err(json!({"api_url": "https://w.example/api.php", "category": "Category:"}))
            .contains("empty")
    );
    let c =
        build(json!({"api_url": "https://w.example/w/api.php", "category": "Computer pioneers"}))
            .unwrap();
    assert_eq!(
        c.source_id(),
        "https://w.example/w/api.php#category:0:Category:Computer pioneers"
    );
    let url = c.pages_url(Some(
        &json!({"gcmcontinue": "page|41|12", "continue": "gcmcontinue||"})
            .as_object()
            .unwrap()
            .clone(),
    ));
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    for want in [
        ("maxlag", "5"),
        ("generator", "categorymembers"),
        ("gcmtitle", "Category:Computer pioneers"),
        ("gcmcontinue", "page|41|12"),
        ("continue", "gcmcontinue||"),
        ("explaintext", "1"),
    ] {
        assert!(
            q.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {url}"
        );
    }
    let c =
        build(json!({"api_url": "https://w.example/w/api.php", "category": "Kategorie:Physik"}))
            .unwrap();
    assert!(c.source_id().ends_with("category:0:Kategorie:Physik"));
}

#[test]
fn the_licence_names_the_wikis_licence_and_its_contributors() {
    let site = site_of(&json!({"query": {
        "general": {"sitename": "Wikipedia"},
        "rightsinfo": {"url": "https://creativecommons.org/licenses/by-sa/4.0/",
                       "text": "Creative Commons Attribution-Share Alike 4.0"}}}))
    .unwrap();
    assert_eq!(
        licence(&site, "https://en.wikipedia.org/wiki/Ada_Lovelace"),
        "Creative Commons Attribution-Share Alike 4.0 <https://creativecommons.org/licenses/by-sa/4.0/> (Wikipedia contributors; https://en.wikipedia.org/wiki/Ada_Lovelace)"
    );
    let none = site_of(&json!({"query": {"general": {"sitename": "Intranet"}, "rightsinfo": {"url": "", "text": ""}}})).unwrap();
    assert_eq!(
        licence(&none, "u"),
        "not stated by the wiki (Intranet contributors; u)"
    );
    assert!(site_of(&json!({"batchcomplete": true})).is_none());
}

#[test]
fn a_wiki_without_textextracts_is_recognised_by_its_warning() {
    assert!(lacks_extracts(
        &json!({"warnings": {"main": {"warnings": "Unrecognized value for parameter \"prop\": extracts."}}})
    ));
    // formatversion=1 puts the text under "*"; several unknown values in one warning.
    assert!(lacks_extracts(
        &json!({"warnings": {"main": {"*": "Unrecognized values for parameter \"prop\": extracts, pageimages."}}})
    ));
    assert!(!lacks_extracts(
        &json!({"warnings": {"extracts": {"warnings": "HTML may be malformed"}}})
    ));
    assert!(!lacks_extracts(&json!({"batchcomplete": true})));
}

#[test]
fn a_position_round_trips_through_its_checkpoint() {
    let p = Position {
        cont: json!({"gapcontinue": "B", "continue": "gapcontinue||"})
            .as_object()
            .cloned(),
        skip: 1,
        done: false,
        count: 4,
    };
    assert_eq!(Position::from_value(&p.to_value()).unwrap(), p);
    assert!(Position::from_value(&json!({"continue": 3})).is_err());
}

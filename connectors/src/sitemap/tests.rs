use super::*;
use serde_json::json;

#[test]
fn configs_name_a_sitemap_and_unknown_fields_are_refused() {
    let ctx = BuildContext {
        declaration: "d".into(),
        credentials: Default::default(),
    };
    let err = |v: serde_json::Value| match serde_json::from_value::<SitemapConfig>(v)
        .unwrap()
        .build(&ctx)
    {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    };
    assert!(err(json!({"sitemaps": []})).contains("no sitemap given"));
    assert!(err(json!({"sitemaps": ["not a url"]})).starts_with("invalid sitemap"));
    let unknown = serde_json::from_value::<SitemapConfig>(json!({"sitemaps": [], "seeds": []}));
    assert!(unknown.unwrap_err().to_string().contains("seeds"));
}

#[test]
fn a_checkpoint_is_the_position_as_of_its_event() {
    let listing = vec![
        Pending::Page {
            url: "http://s.test/a".into(),
            lastmod: Some("2024-01-01".into()),
        },
        Pending::Page {
            url: "http://s.test/b".into(),
            lastmod: None,
        },
    ];
    let mut base = BTreeMap::new();
    base.insert("http://s.test/b".to_owned(), Known::default());
    let j = Arc::new(Journal {
        base,
        listing,
        updates: Mutex::new(Vec::new()),
    });
    let known = Known {
        lastmod: Some("2024-01-01".into()),
        validators: Validators::default(),
    };
    j.update("http://s.test/a", Some(known.clone()));
    let first = j.checkpoint(1);
    j.update("http://s.test/b", None);
    let second = j.checkpoint(2);
    let s: State = serde_json::from_value(first.to_value()).unwrap();
    assert_eq!(s.known.len(), 2);
    assert_eq!(s.known["http://s.test/a"], known);
    assert_eq!(s.queue.len(), 1);
    let s: State = serde_json::from_value(second.to_value()).unwrap();
    assert_eq!(s.known.keys().collect::<Vec<_>>(), ["http://s.test/a"]);
    assert!(s.queue.is_empty());
    assert_eq!(static_reason("sitemap:malformed"), "sitemap:malformed");
    assert_eq!(static_reason("?"), "sitemap:other");
}

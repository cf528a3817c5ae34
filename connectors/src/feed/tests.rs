use super::*;
use serde_json::json;

fn build(v: serde_json::Value) -> Result<FeedConnector, ConnectorError> {
    let ctx = BuildContext {
        declaration: "d".into(),
        credentials: Default::default(),
    };
    serde_json::from_value::<FeedConfig>(v).unwrap().build(&ctx)
}

fn err(v: serde_json::Value) -> String {
    match build(v) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn configs_name_feeds_once_and_sane_limits() {
    assert!(err(json!({"feeds": []})).contains("no feed given"));
    assert!(err(json!({"feeds": ["ftp://x.test/f"]})).contains("only http"));
    assert!(err(json!({"feeds": ["http://x.test/f", "http://x.test/f"]})).contains("twice"));
    assert!(
        err(json!({"feeds": ["http://x.test/f"], "max_entries_per_feed": 0}))
            .contains("read nothing")
    );
    assert!(err(json!({"feeds": ["http://x.test/f"], "fetch": {"rate": "fast"}})).contains("N/s"));
    let rate = err(json!({"feeds": ["http://x.test/f"], "fetch": {"rate": "fast"}}));
    assert!(rate.starts_with("invalid feed connector"), "{rate}");
    let c = build(json!({"feeds": ["http://x.test/f"]})).unwrap();
    assert!(c.follow, "entries are followed by default");
    let unknown = serde_json::from_value::<FeedConfig>(json!({"feeds": [], "folow": false}));
    assert!(unknown.unwrap_err().to_string().contains("folow"));
}

#[test]
fn rss_items_and_atom_entries_parse_with_links_resolved() {
    let base = Url::parse("http://s.test/blog/feed.xml").unwrap();
    let rss = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>
<link>http://s.test/</link><description>d</description><copyright>CC BY 4.0</copyright>
<item><title>One</title><link>/blog/one</link><guid>g-1</guid><description>&lt;p&gt;Hi&lt;/p&gt;</description></item>
<item><title>Two</title><guid isPermaLink="false">g-2</guid><description>plain</description></item>
</channel></rss>"#;
    let f = parse_feed(rss, &base).unwrap();
    assert_eq!(f.title.as_deref(), Some("Blog"));
    assert_eq!(f.rights.as_deref(), Some("CC BY 4.0"));
    assert_eq!(f.entries.len(), 2);
    assert_eq!(f.entries[0].id, "g-1");
    assert_eq!(f.entries[0].link.as_deref(), Some("http://s.test/blog/one"));
    assert_eq!(f.entries[0].text, "<p>Hi</p>");
    assert_eq!(f.entries[1].link, None);
    let atom = br#"<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Notes</title><id>urn:n</id><updated>2024-01-01T00:00:00Z</updated>
<entry><title>A</title><id>urn:a</id><updated>2024-01-01T00:00:00Z</updated>
<link rel="alternate" href="http://s.test/a"/><author><name>Ann</name></author>
<content type="html">&lt;b&gt;A&lt;/b&gt; text</content></entry></feed>"#;
    let f = parse_feed(atom, &base).unwrap();
    let e = &f.entries[0];
    assert_eq!(
        (e.id.as_str(), e.link.as_deref(), e.html),
        ("urn:a", Some("http://s.test/a"), true)
    );
    assert_eq!(e.authors, ["Ann"]);
    assert_eq!(
        licence(e, &f, &base),
        "publisher's (Ann; http://s.test/blog/feed.xml)"
    );
}

#[test]
fn html_pages_empty_answers_and_broken_xml_are_not_feeds() {
    let base = Url::parse("http://s.test/feed").unwrap();
    let html = parse_feed(b"\n<!DOCTYPE html><html><body>Log in</body></html>", &base);
    assert!(html.unwrap_err().contains("HTML page"));
    assert!(parse_feed(b"  ", &base).unwrap_err().contains("empty"));
    assert!(
        parse_feed(b"<rss><channel><item><title>x</item>", &base)
            .unwrap_err()
            .contains("not an RSS or Atom feed")
    );
}

#[test]
fn checkpoint_reasons_come_back_as_the_counted_names() {
    assert_eq!(static_reason("robots"), "robots");
    assert_eq!(static_reason("feed:nothing_new"), "feed:nothing_new");
    assert_eq!(static_reason("made-up"), "feed:other");
    let bad = State::from_value(json!({"v": 9, "feeds": {}, "queue": []}));
    assert!(bad.unwrap_err().contains("version 9"));
}

//! Tests of the `files` connector on real folders.

use super::*;

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "mine".into(),
        credentials: Default::default(),
    }
}

async fn collect(
    cfg: &FilesConfig,
    resume: Option<serde_json::Value>,
) -> Result<Vec<SourceEvent>, ConnectorError> {
    let cfg = crate::SourceConfig::Files(cfg.clone());
    crate::compliance::collect(&cfg, &ctx(), resume).await
}

fn uri(e: &SourceEvent) -> &str {
    match e {
        SourceEvent::Item(i) => &i.uri,
        SourceEvent::Skip(s) => &s.uri,
    }
}

#[tokio::test]
async fn reads_every_kind_in_path_order_with_declared_consent() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    std::fs::write(d.path().join("b.md"), "# Title B\n\nbody").unwrap();
    std::fs::write(d.path().join("a.txt"), "plain").unwrap();
    std::fs::write(d.path().join("sub/c.html"), "<p>x</p>").unwrap();
    std::fs::write(d.path().join("image.png"), [0u8, 1]).unwrap();
    std::fs::write(d.path().join(".hidden.txt"), "no").unwrap();
    std::fs::write(
        d.path().join("d.jsonl"),
        "{\"text\":\"one\",\"url\":\"https://e.org/1\"}\n{\"text\":\"two\",\"id\":7}\n\n{\"text\":\"three\"}\n",
    )
    .unwrap();
    let events = collect(&FilesConfig::new(d.path()), None).await.unwrap();
    let uris: Vec<String> = events
        .iter()
        .map(|e| uri(e).rsplit('/').next().unwrap().to_owned())
        .collect();
    // The first JSONL line has a url, so its last segment is "1".
    let want = [
        "a.txt",
        "b.md",
        "1",
        "d.jsonl#id=7",
        "d.jsonl#line=4",
        "image.png",
        "c.html",
    ];
    assert_eq!(uris, want);
    let SourceEvent::Item(b) = &events[1] else {
        panic!("b.md is an item")
    };
    assert_eq!(b.title.as_deref(), Some("Title B"));
    assert_eq!(b.consent.declaration.as_deref(), Some("mine"));
    assert!(matches!(&events[5], SourceEvent::Skip(s) if s.reason == "type:unsupported"));
}

#[tokio::test]
async fn byte_order_marks_are_stripped_and_non_files_are_reported() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.md"), "\u{feff}# Titled\n\nbody").unwrap();
    std::fs::write(d.path().join("b.jsonl"), "\u{feff}{\"text\":\"x\"}\n").unwrap();
    std::os::unix::fs::symlink(d.path().join("missing"), d.path().join("c.txt")).unwrap();
    let events = collect(&FilesConfig::new(d.path()), None).await.unwrap();
    assert_eq!(events.len(), 3);
    let SourceEvent::Item(a) = &events[0] else {
        panic!("a.md is an item")
    };
    assert_eq!(a.title.as_deref(), Some("Titled"));
    assert!(a.body.starts_with(b"# Titled"));
    let SourceEvent::Item(b) = &events[1] else {
        panic!("the BOM-prefixed line parses")
    };
    assert_eq!(b.body, b"x");
    assert!(matches!(&events[2], SourceEvent::Skip(s) if s.reason == "type:not_a_file"));
}

#[tokio::test]
async fn files_connector_passes_the_compliance_check() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    std::fs::write(d.path().join("a.txt"), "a").unwrap();
    std::fs::write(
        d.path().join("b.jsonl"),
        "{\"text\":\"1\"}\nbad\n{\"text\":\"3\"}\n",
    )
    .unwrap();
    std::fs::write(d.path().join("sub/c.html"), "<p>c</p>").unwrap();
    std::fs::write(d.path().join("sub/d.bin"), [0u8]).unwrap();
    let cfg = crate::SourceConfig::Files(FilesConfig::new(d.path()));
    crate::compliance::assert_source_compliance(&cfg, &ctx(), "files").await;
}

#[tokio::test]
async fn malformed_jsonl_lines_are_skipped_with_their_line_number() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("x.jsonl");
    std::fs::write(
        &f,
        b"{\"text\":\"ok\"}\n{broken\n{\"title\":\"no text\"}\n\xff\xfe\n{\"text\":\"ok2\"}\n",
    )
    .unwrap();
    let events = collect(&FilesConfig::new(&f), None).await.unwrap();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e {
            SourceEvent::Item(i) => String::from_utf8(i.body.clone()).unwrap(),
            SourceEvent::Skip(s) => {
                format!("{}@{}", s.reason, s.uri.rsplit('=').next().unwrap())
            }
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "ok",
            "input:malformed_jsonl@2",
            "input:malformed_jsonl@3",
            "input:malformed_jsonl@4",
            "ok2"
        ]
    );
}

#[tokio::test]
async fn bad_sources_fail_the_check_with_the_path_named() {
    let d = tempfile::tempdir().unwrap();
    let missing = collect(&FilesConfig::new(d.path().join("nope")), None)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, ConnectorError::NotFound { .. }),
        "{missing}"
    );

    let empty = collect(&FilesConfig::new(d.path()), None)
        .await
        .unwrap_err();
    assert!(matches!(empty, ConnectorError::Empty { .. }), "{empty}");

    std::fs::write(d.path().join("ok.txt"), "fine").unwrap();
    std::fs::write(d.path().join("latin1.txt"), b"caf\xe9").unwrap();
    let err = collect(&FilesConfig::new(d.path()), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::NotUtf8 { offset: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("latin1.txt"));

    std::fs::remove_file(d.path().join("latin1.txt")).unwrap();
    std::fs::write(d.path().join("big.html"), vec![b'a'; 101]).unwrap();
    let mut cfg = FilesConfig::new(d.path());
    cfg.max_file_bytes = 100;
    let err = collect(&cfg, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::TooLarge {
                size: 101,
                limit: 100,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn html_files_are_decoded_by_their_declared_charset_and_text_files_must_be_utf8() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("page.html"),
        b"<meta charset=\"windows-1252\"><p>Caf\xe9 cr\xe8me</p>",
    )
    .unwrap();
    let events = collect(&FilesConfig::new(d.path()), None).await.unwrap();
    let SourceEvent::Item(i) = &events[0] else {
        panic!("the page is an item")
    };
    assert!(
        String::from_utf8(i.body.clone())
            .unwrap()
            .contains("Café crème")
    );
    std::fs::write(d.path().join("notes.txt"), b"caf\xe9").unwrap();
    let err = collect(&FilesConfig::new(d.path()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotUtf8 { .. }), "{err}");
}

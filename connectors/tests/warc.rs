//! The `warc` connector on archives the test writes in the formats WARC 1.1 specifies
//! (one gzip member per record, as Common Crawl writes them; and a plain `.warc`): a
//! warcinfo, a request, HTML responses, a robots.txt capture that disallows one path, a
//! page with `X-Robots-Tag: noai`, a PDF, an error page, metadata and revisit records, and a
//! truncated last record. Nothing touches the network.

use flate2::{Compression, write::GzEncoder};
use masa_connectors::compliance::{assert_source_compliance, collect};
use masa_connectors::{BuildContext, ConnectorError, SourceConfig, SourceEvent, WarcConfig};
use masa_record::ConsentBasis;
use std::io::Write;
use std::path::Path;

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "I hold these archives and may contribute them".into(),
        credentials: Default::default(),
    }
}

/// One WARC 1.1 record with its mandatory fields.
fn record(kind: &str, uri: Option<&str>, date: &str, content_type: &str, block: &[u8]) -> Vec<u8> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut head = format!(
        "WARC/1.1\r\nWARC-Type: {kind}\r\nWARC-Date: {date}\r\nWARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-{id:012}>\r\n"
    );
    if let Some(u) = uri {
        head.push_str(&format!("WARC-Target-URI: {u}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        block.len()
    ));
    let mut r = head.into_bytes();
    r.extend_from_slice(block);
    r.extend_from_slice(b"\r\n\r\n");
    r
}

fn response(uri: &str, date: &str, http: &str) -> Vec<u8> {
    record(
        "response",
        Some(uri),
        date,
        "application/http; msgtype=response",
        http.as_bytes(),
    )
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const PAGE_A: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\nServer: nginx\r\n\r\n<!DOCTYPE html><html><head><title>Site A</title></head><body><p>Archived words.</p><a rel=\"license\" href=\"https://creativecommons.org/licenses/by/4.0/\">CC BY</a></body></html>";

/// The Common Crawl-like segment: each record its own gzip member, the last cut short.
/// Returns the bytes and the offset of the truncated member.
fn segment() -> (Vec<u8>, u64) {
    let info = record(
        "warcinfo",
        None,
        "2024-01-15T09:59:00Z",
        "application/warc-fields",
        b"software: test-writer/1.0\r\nformat: WARC File Format 1.1\r\n",
    );
    let request = record(
        "request",
        Some("http://site.test/a.html"),
        "2024-01-15T10:00:00Z",
        "application/http; msgtype=request",
        b"GET /a.html HTTP/1.1\r\nHost: site.test\r\nUser-Agent: test\r\n\r\n",
    );
    let records = [
        info,
        request,
        response("http://site.test/a.html", "2024-01-15T10:00:00Z", PAGE_A),
        // Captured after the pages: the archive's robots.txt applies wherever it is.
        response(
            "http://site.test/robots.txt",
            "2024-01-15T10:05:00Z",
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nUser-agent: *\nDisallow: /private/\n",
        ),
        response(
            "http://site.test/private/b.html",
            "2024-01-15T10:01:00Z",
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body>private</body></html>",
        ),
        response(
            "http://site.test/noai.html",
            "2024-01-15T10:02:00Z",
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Robots-Tag: noai\r\n\r\n<html><body>no ai please</body></html>",
        ),
        response(
            "http://other.test/page.html",
            "2024-01-15T10:03:00Z",
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\n<html><body>Other origin, \r\n15\r\nno robots.txt.</body>\r\n7\r\n</html>\r\n0\r\n\r\n",
        ),
        response(
            "http://site.test/doc.pdf",
            "2024-01-15T10:04:00Z",
            "HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\n%âãÏÓ\n1 0 obj\n<< >>\nendobj\n",
        ),
        response(
            "http://site.test/missing.html",
            "2024-01-15T10:04:30Z",
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n<html><body>Not Found</body></html>",
        ),
        record(
            "metadata",
            Some("http://site.test/a.html"),
            "2024-01-15T10:00:00Z",
            "application/warc-fields",
            b"fetchTimeMs: 120\r\n",
        ),
        record(
            "revisit",
            Some("http://site.test/a.html"),
            "2024-01-16T10:00:00Z",
            "application/http; msgtype=response",
            b"HTTP/1.1 304 Not Modified\r\n\r\n",
        ),
    ];
    let mut out = Vec::new();
    for r in &records {
        out.extend(gz(r));
    }
    let cut = out.len() as u64;
    let last = gz(&response(
        "http://site.test/last.html",
        "2024-01-15T10:06:00Z",
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body>cut short</body></html>",
    ));
    out.extend(&last[..last.len() / 2]);
    (out, cut)
}

/// A plain `.warc` file: a page of site.test with a TDM reservation in its meta, and one
/// without.
fn plain() -> Vec<u8> {
    let mut out = response(
        "http://site.test/reserved.html",
        "2024-01-15T11:00:00Z",
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><head><meta name=\"tdm-reservation\" content=\"1\"></head><body>reserved</body></html>",
    );
    out.extend(response(
        "http://site.test/c.html",
        "2024-01-15T11:01:00Z",
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><head><title>C</title></head><body>plain warc page</body></html>",
    ));
    out
}

/// The archives in a folder, with an empty file; returns the truncated member's offset.
fn archives(dir: &Path) -> u64 {
    let (seg, cut) = segment();
    std::fs::write(dir.join("a-segment.warc.gz"), seg).unwrap();
    std::fs::write(dir.join("b-plain.warc"), plain()).unwrap();
    std::fs::write(dir.join("c-empty.warc.gz"), b"").unwrap();
    std::fs::write(dir.join("notes.txt"), b"not an archive").unwrap();
    cut
}

fn config(path: &Path) -> SourceConfig {
    SourceConfig::Warc(WarcConfig::new(path))
}

fn outline(events: &[SourceEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            SourceEvent::Item(i) => format!("item {}", i.uri),
            SourceEvent::Skip(s) => {
                let uri = s.uri.split('#').next_back().unwrap_or("");
                let uri = if s.uri.starts_with("file:") {
                    uri
                } else {
                    &s.uri
                };
                format!("skip {} {uri}", s.reason)
            }
        })
        .collect()
}

#[tokio::test]
async fn pages_become_items_and_every_other_record_a_counted_skip() {
    let dir = tempfile::tempdir().unwrap();
    let cut = archives(dir.path());
    let events = collect(&config(dir.path()), &ctx(), None).await.unwrap();
    let truncated = format!("skip warc:truncated offset={cut}");
    assert_eq!(
        outline(&events),
        [
            "skip record:warcinfo offset=0",
            "skip record:request http://site.test/a.html",
            "item http://site.test/a.html",
            "skip warc:robots_txt http://site.test/robots.txt",
            "skip robots http://site.test/private/b.html",
            "skip noai http://site.test/noai.html",
            "item http://other.test/page.html",
            "skip type:unsupported http://site.test/doc.pdf",
            "skip http:status http://site.test/missing.html",
            "skip record:metadata http://site.test/a.html",
            "skip record:revisit http://site.test/a.html",
            truncated.as_str(),
            "skip tdm http://site.test/reserved.html",
            "item http://site.test/c.html",
        ]
    );
    let SourceEvent::Skip(t) = &events[11] else {
        unreachable!()
    };
    assert!(
        t.detail.contains("a-segment.warc.gz") && t.detail.contains(&format!("offset {cut}")),
        "the truncation names the file and offset: {}",
        t.detail
    );
    let SourceEvent::Skip(r) = &events[4] else {
        unreachable!()
    };
    assert!(r.detail.contains("disallow"), "{}", r.detail);
}

#[tokio::test]
async fn consent_is_redone_from_the_archive_and_unknown_robots_is_never_allowed() {
    let dir = tempfile::tempdir().unwrap();
    archives(dir.path());
    let events = collect(&config(dir.path()), &ctx(), None).await.unwrap();
    let items: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Item(i) => Some(i),
            _ => None,
        })
        .collect();
    let a = items[0];
    assert_eq!(a.content_type.as_deref(), Some("text/html"));
    assert_eq!(a.http_status, Some(200));
    assert_eq!(a.title.as_deref(), Some("Site A"));
    assert!(String::from_utf8_lossy(&a.body).contains("<p>Archived words.</p>"));
    // 2024-01-15T10:00:00Z, the capture time.
    assert_eq!(a.fetched_at_micros, 1_705_312_800_000_000);
    assert_eq!(a.consent.basis, ConsentBasis::PublisherSignals);
    assert_eq!(a.consent.robots.as_deref(), Some("allowed"));
    let rule = a.consent.robots_rule.as_deref().unwrap();
    assert!(
        rule.contains("robots.txt archived 2024-01-15T10:05:00Z"),
        "{rule}"
    );
    assert_eq!(a.consent.noai, Some(false));
    assert_eq!(a.consent.tdm_reserved, Some(false));
    assert_eq!(
        a.consent.declaration.as_deref(),
        Some(ctx().declaration.as_str())
    );
    assert_eq!(
        a.licence.as_deref(),
        Some(
            "https://creativecommons.org/licenses/by/4.0/ (declared by the page http://site.test/a.html)"
        )
    );

    let other = items[1];
    assert_eq!(other.consent.robots.as_deref(), Some("unknown"));
    assert_eq!(other.consent.basis, ConsentBasis::ContributorDeclaration);
    assert!(
        String::from_utf8_lossy(&other.body).contains("<body>Other origin, no robots.txt.</body>"),
        "the chunked body is joined"
    );
    assert_eq!(
        other.licence.as_deref(),
        Some("publisher's (other.test; the page declares no licence)")
    );
    // The plain file's page falls under site.test's archived robots.txt, from the other file.
    assert_eq!(items[2].consent.robots.as_deref(), Some("allowed"));
}

#[tokio::test]
async fn overridden_signals_let_pages_through_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    archives(dir.path());
    let mut c = WarcConfig::new(dir.path());
    c.overrides.robots = true;
    c.overrides.noai = true;
    let events = collect(&SourceConfig::Warc(c), &ctx(), None).await.unwrap();
    let forced: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Item(i) if i.consent.overridden => Some(i.uri.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        forced,
        [
            "http://site.test/private/b.html",
            "http://site.test/noai.html"
        ]
    );
}

#[tokio::test]
async fn the_warc_source_passes_the_compliance_check() {
    let dir = tempfile::tempdir().unwrap();
    archives(dir.path());
    assert_source_compliance(&config(dir.path()), &ctx(), "warc").await;
    // One file on its own too.
    assert_source_compliance(&config(&dir.path().join("b-plain.warc")), &ctx(), "warc").await;
}

#[tokio::test]
async fn a_killed_run_resumes_at_the_member_after_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    archives(dir.path());
    let all = collect(&config(dir.path()), &ctx(), None).await.unwrap();
    let SourceEvent::Item(a) = &all[2] else {
        unreachable!()
    };
    let cp = a.checkpoint.to_value();
    assert_eq!(cp["file"], 0);
    assert_eq!(cp["path"], "a-segment.warc.gz");
    assert_eq!(cp["skip"], 0);
    let seg = std::fs::read(dir.path().join("a-segment.warc.gz")).unwrap();
    let offset = cp["offset"].as_u64().unwrap() as usize;
    assert_eq!(
        &seg[offset..offset + 2],
        [0x1f, 0x8b],
        "a gzip member starts there"
    );
    let rest = collect(&config(dir.path()), &ctx(), Some(cp))
        .await
        .unwrap();
    assert_eq!(outline(&rest), outline(&all[3..]));
}

#[tokio::test]
async fn corrupt_gzip_stops_the_run_naming_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let first = gz(&response("http://x.test/", "2024-01-15T10:00:00Z", PAGE_A));
    let mut second = gz(&response("http://x.test/2", "2024-01-15T10:00:00Z", PAGE_A));
    for b in &mut second[12..20] {
        *b ^= 0x5a;
    }
    let mut file = first.clone();
    file.extend(second);
    let path = dir.path().join("bad.warc.gz");
    std::fs::write(&path, file).unwrap();
    let err = collect(&config(&path), &ctx(), None).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ConnectorError::Source { kind: "warc", .. }),
        "{msg}"
    );
    assert!(
        msg.contains("bad.warc.gz") && msg.contains(&format!("offset {}", first.len())),
        "{msg}"
    );
}

#[tokio::test]
async fn what_is_not_an_archive_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("page.warc");
    std::fs::write(&html, "<html>not a warc</html>").unwrap();
    let err = collect(&config(&html), &ctx(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("page.warc") && err.contains("neither gzip nor a WARC"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("readme.txt"), "x").unwrap();
    let err = collect(&config(empty.path()), &ctx(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Empty { .. }), "{err}");
    let err = collect(&config(&dir.path().join("gone.warc")), &ctx(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn an_unavailable_archived_robots_txt_refuses_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = gz(&response(
        "http://down.test/robots.txt",
        "2024-01-15T09:00:00Z",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\n\r\n<html>busy</html>",
    ));
    file.extend(gz(&response(
        "http://down.test/page.html",
        "2024-01-15T10:00:00Z",
        PAGE_A,
    )));
    let path = dir.path().join("down.warc.gz");
    std::fs::write(&path, file).unwrap();
    let events = collect(&config(&path), &ctx(), None).await.unwrap();
    assert_eq!(
        outline(&events),
        [
            "skip warc:robots_txt http://down.test/robots.txt",
            "skip robots http://down.test/page.html"
        ]
    );
}

use super::*;
use flate2::{Compression, write::GzEncoder};
use std::io::Write;

fn record(kind: &str, uri: &str, block: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "WARC/1.1\r\nWARC-Type: {kind}\r\nWARC-Target-URI: {uri}\r\nContent-Length: {}\r\n\r\n",
        block.len()
    )
    .into_bytes();
    r.extend_from_slice(block);
    r.extend_from_slice(b"\r\n\r\n");
    r
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn read_all(bytes: &[u8], at: Position) -> Result<Vec<Next>, Corrupt> {
    let start = at.offset as usize;
    let mut r = WarcReader::new(&bytes[start..], at, 1 << 20);
    let mut out = Vec::new();
    loop {
        match r.next_record()? {
            Next::End => return Ok(out),
            n => out.push(n),
        }
    }
}

fn summary(events: &[Next]) -> Vec<String> {
    events
        .iter()
        .map(|n| match n {
            Next::Record(r, p) => format!(
                "{}@{} {} -> {}/{}",
                r.warc_type(),
                r.offset,
                String::from_utf8_lossy(&r.block),
                p.offset,
                p.skip
            ),
            Next::TooLarge { offset, len, next } => {
                format!("too large@{offset} {len} -> {}", next.offset)
            }
            Next::Malformed { offset, next, .. } => {
                format!("malformed@{offset} -> {}", next.offset)
            }
            Next::Truncated { offset, .. } => format!("truncated@{offset}"),
            Next::End => "end".into(),
        })
        .collect()
}

#[test]
fn gzip_members_give_their_offsets_and_resume_at_each_boundary() {
    let a = gz(&record("warcinfo", "", b"info"));
    let b = gz(&record("response", "http://a.test/", b"page"));
    let mut file = a.clone();
    file.extend(&b);
    let (m1, m2) = (a.len() as u64, (a.len() + b.len()) as u64);
    let all = read_all(&file, Position::default()).unwrap();
    assert_eq!(
        summary(&all),
        [
            format!("warcinfo@0 info -> {m1}/0"),
            format!("response@{m1} page -> {m2}/0")
        ]
    );
    let rest = read_all(
        &file,
        Position {
            offset: m1,
            skip: 0,
        },
    )
    .unwrap();
    assert_eq!(summary(&rest), summary(&all[1..]));
    assert!(
        read_all(
            &file,
            Position {
                offset: m2,
                skip: 0
            }
        )
        .unwrap()
        .is_empty()
    );
}

#[test]
fn a_member_with_two_records_resumes_inside_the_member() {
    let mut two = record("request", "http://a.test/", b"GET");
    two.extend(record("response", "http://a.test/", b"page"));
    let file = gz(&two);
    let n = file.len() as u64;
    let all = read_all(&file, Position::default()).unwrap();
    assert_eq!(
        summary(&all),
        ["request@0 GET -> 0/1", &format!("response@0 page -> {n}/0")]
    );
    let rest = read_all(&file, Position { offset: 0, skip: 1 }).unwrap();
    assert_eq!(summary(&rest), summary(&all[1..]));
}

#[test]
fn plain_warc_records_and_their_offsets() {
    let a = record("warcinfo", "", b"info");
    let mut file = a.clone();
    file.extend(record("response", "<http://a.test/x>", b"page"));
    let all = read_all(&file, Position::default()).unwrap();
    let m1 = a.len() as u64;
    assert_eq!(
        summary(&all),
        [
            format!("warcinfo@0 info -> {m1}/0"),
            format!("response@{m1} page -> {}/0", file.len())
        ]
    );
    let Next::Record(r, _) = &all[1] else {
        unreachable!()
    };
    assert_eq!(r.target_uri(), Some("http://a.test/x"));
    assert_eq!(r.field("warc-type"), Some("response"));
}

#[test]
fn a_truncated_last_member_or_record_is_reported_at_its_offset() {
    let a = gz(&record("warcinfo", "", b"info"));
    let b = gz(&record("response", "http://a.test/", b"page"));
    let mut file = a.clone();
    file.extend(&b[..b.len() - 5]);
    let all = read_all(&file, Position::default()).unwrap();
    assert_eq!(summary(&all)[1], format!("truncated@{}", a.len()));
    let plain = record("response", "http://a.test/", b"page");
    let all = read_all(&plain[..plain.len() - 6], Position::default()).unwrap();
    assert_eq!(summary(&all), ["truncated@0"]);
}

#[test]
fn a_member_that_is_not_a_record_is_skipped_and_reading_goes_on() {
    let a = gz(b"this is not a WARC record\r\n\r\n");
    let b = gz(&record("response", "http://a.test/", b"page"));
    let mut file = a.clone();
    file.extend(&b);
    let all = read_all(&file, Position::default()).unwrap();
    let s = summary(&all);
    assert_eq!(s[0], format!("malformed@0 -> {}", a.len()));
    assert!(s[1].starts_with("response@"));
}

#[test]
fn corrupt_gzip_and_a_malformed_plain_header_are_errors_with_the_offset() {
    let a = gz(&record("warcinfo", "", b"info"));
    let mut b = gz(&record("response", "http://a.test/", b"page"));
    b[12] ^= 0xff; // inside the deflate stream
    b[13] ^= 0xff;
    let mut file = a.clone();
    file.extend(&b);
    let err = read_all(&file, Position::default()).unwrap_err();
    assert_eq!(err.offset, a.len() as u64);
    let err = read_all(b"HTTP/1.1 200 OK\r\n\r\n", Position::default()).unwrap_err();
    assert!(err.detail.contains("WARC/1.x"), "{}", err.detail);
}

#[test]
fn an_oversized_record_is_passed_over() {
    let big = gz(&record("response", "http://a.test/", &[b'x'; 2000]));
    let small = gz(&record("response", "http://a.test/", b"ok"));
    let mut file = big.clone();
    file.extend(&small);
    let mut r = WarcReader::new(&file[..], Position::default(), 1000);
    assert!(
        matches!(r.next_record().unwrap(), Next::TooLarge { next, .. } if next.offset == big.len() as u64)
    );
    assert!(matches!(r.next_record().unwrap(), Next::Record(..)));
}

proptest::proptest! {
    /// Untrusted bytes never panic the reader, and it always finishes.
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048), zip in proptest::prelude::any::<bool>()) {
        let bytes = if zip { gz(&body) } else { body };
        let mut r = WarcReader::new(&bytes[..], Position::default(), 1 << 16);
        for _ in 0..4096 {
            match r.next_record() {
                Ok(Next::End) | Ok(Next::Truncated { .. }) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

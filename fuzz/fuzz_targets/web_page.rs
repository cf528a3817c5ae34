//! A fetched page: charset decoding, then links, directives, TDM meta and licence.
#![no_main]

use libfuzzer_sys::fuzz_target;
use masa_connectors::web::page::{decode, parse};

fuzz_target!(|data: &[u8]| {
    // The first bytes, up to a newline, play the Content-Type header.
    let (ct, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (std::str::from_utf8(&data[..i]).ok(), &data[i + 1..]),
        None => (None, data),
    };
    let text = decode(body, ct);
    let url = url::Url::parse("http://fuzz.test/dir/page.html").unwrap();
    let facts = parse(&text, &url, &["masa".to_owned(), "gptbot".to_owned()]);
    for l in &facts.links {
        assert!(matches!(l.scheme(), "http" | "https"));
        assert!(l.fragment().is_none());
    }
});

//! Main-text extraction and quality scoring of arbitrary bytes, decoded as the crawler does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let html = masa_connectors::web::page::decode(data, None);
    let report = masa_ingest::describe(&html, &masa_ingest::QualityConfig::default());
    assert!((0.0..=1.0).contains(&report.quality.score));
});

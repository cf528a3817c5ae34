//! A sitemap or sitemap index, plain or gzipped.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = masa_connectors::web::sitemap::parse(data, 1 << 20);
});

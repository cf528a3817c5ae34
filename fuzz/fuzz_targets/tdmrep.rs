//! A TDMRep well-known file and a lookup in it; X-Robots-Tag values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use masa_connectors::web::signals::{Directives, TdmFile};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = TdmFile::parse(data) {
        let _ = f.lookup("/a/b.html?x=1");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let mut d = Directives::default();
        d.add_header(s, &["masa".to_owned()]);
    }
});

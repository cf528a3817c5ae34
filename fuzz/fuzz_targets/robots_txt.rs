//! robots.txt for our agent and the AI agents, then a verdict for a path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use masa_connectors::web::origin::RobotsTxt;

fuzz_target!(|data: &[u8]| {
    let r = RobotsTxt::parse(data, &["masa".to_owned(), "gptbot".to_owned()]);
    let url = url::Url::parse("http://fuzz.test/a/b?c=d").unwrap();
    let v = r.verdict(&url);
    assert!(matches!(v.state, "allowed" | "disallowed" | "unavailable"));
    let _ = r.crawl_delay();
});

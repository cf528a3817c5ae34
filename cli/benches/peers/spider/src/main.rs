//! Crawls one site with the `spider` crate (robots.txt respected, no delay, the given
//! concurrency) and prints `{"pages": N}`: the pages it visited. The crawl benchmark runs it
//! as a child process and measures its wall time, CPU time and peak RSS as it does masa's.
//!
//! Usage: `spider-peer URL CONCURRENCY`

use spider::tokio;
use spider::website::Website;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(concurrency)) = (args.next(), args.next()) else {
        eprintln!("usage: spider-peer URL CONCURRENCY");
        std::process::exit(2);
    };
    let concurrency: usize = match concurrency.parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("spider-peer: concurrency {concurrency:?}: {e}");
            std::process::exit(2);
        }
    };
    let mut website = Website::new(&url);
    website
        .with_respect_robots_txt(true)
        .with_concurrency_limit(Some(concurrency))
        .with_delay(0);
    website.crawl().await;
    let pages = website.get_all_links_visited().await.len();
    println!("{{\"pages\": {pages}}}");
}

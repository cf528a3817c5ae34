//! Main-text extraction: quality against ground truth on real pages, and speed.
//!
//! The pages are three real documentation sites as Debian packages them, each with its own
//! page template: the PostgreSQL 15 manual (DocBook), the Python 3.11 manual (Sphinx) and
//! the Debian Administrator's Handbook (publican; English, French, German and Japanese).
//! The ground truth of a page is the text of the template's content element minus its
//! navigation (tables of contents, prev/next bars), chosen by hand once per template
//! (below), never by an extractor. Each candidate's output and the
//! truth are compared as multisets of word shingles (1 and 3 words), giving precision,
//! recall and F1 per page, averaged per site. Candidates: masa's extractor (alone, and with
//! normalization, language identification and quality scoring: `masa+quality`), `dom_smoothie`
//! (a Rust port of Mozilla's Readability), and trafilatura (Python, when installed in
//! `.venv`; its CPU time is measured inside Python, around extraction alone).
//!
//! Run: `cargo bench -p masa-ingest --bench extract` (`MASA_EXTRACT_LIMIT` caps pages per
//! site; `.venv/bin/pip install trafilatura==2.0.0` adds the reference).

#![allow(unsafe_code)] // getrusage, for CPU time and peak memory

mod common;

use common::{cpu_now, trafilatura};
use scraper::{Html, Selector};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

struct Site {
    name: &'static str,
    dir: PathBuf,
    /// The content element, and elements inside it that are not content.
    content: &'static str,
    remove: &'static str,
}

fn script(name: &str) -> String {
    let path = format!("{}/../scripts/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(&path)
        .output()
        .expect("run fetch script");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn sites() -> Vec<Site> {
    let pg = PathBuf::from(script("fetch-debian-docs"));
    let set = PathBuf::from(script("fetch-extract-set")).join("root/usr/share/doc");
    let mut v = vec![
        Site {
            name: "postgresql (DocBook)",
            dir: pg,
            content: "body",
            remove: "div.navheader, div.navfooter, div.toc",
        },
        Site {
            name: "python (Sphinx)",
            dir: set.join("python3.11/html/library"),
            content: "div.body",
            remove: "a.headerlink, div.toctree-wrapper",
        },
    ];
    for lang in ["en-US", "fr-FR", "de-DE", "ja-JP"] {
        v.push(Site {
            name: match lang {
                "en-US" => "handbook en (publican)",
                "fr-FR" => "handbook fr (publican)",
                "de-DE" => "handbook de (publican)",
                _ => "handbook ja (publican)",
            },
            dir: set.join(format!("debian-handbook/html/{lang}")),
            content: "body",
            remove: "#banner, #title, ul.docnav, #site_footer, div.toc",
        });
    }
    v
}

fn pages(dir: &Path, limit: usize) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect();
    v.sort();
    v.truncate(limit);
    v
}

/// The template's content text: every text node under the content element, minus script,
/// style and the removed elements.
fn truth(html: &str, site: &Site) -> String {
    let doc = Html::parse_document(html);
    let content = Selector::parse(site.content).unwrap();
    let remove = Selector::parse(&format!("{}, script, style", site.remove)).unwrap();
    let Some(root) = doc.select(&content).next() else {
        return String::new();
    };
    let removed: std::collections::HashSet<_> = root.select(&remove).map(|e| e.id()).collect();
    let mut out = String::new();
    for n in root.descendants() {
        if let Some(t) = n.value().as_text()
            && !n.ancestors().any(|a| removed.contains(&a.id()))
        {
            out.push_str(t);
            out.push(' ');
        }
    }
    out
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Precision, recall and F1 of `got` against `want` as multisets of `n`-word shingles.
fn prf(got: &[String], want: &[String], n: usize) -> (f64, f64, f64) {
    fn bag(w: &[String], n: usize) -> HashMap<&[String], i64> {
        let mut m: HashMap<&[String], i64> = HashMap::new();
        for s in w.windows(n) {
            *m.entry(s).or_default() += 1;
        }
        m
    }
    let (g, t) = (bag(got, n), bag(want, n));
    let (gn, tn): (i64, i64) = (g.values().sum(), t.values().sum());
    let common: i64 = g
        .iter()
        .map(|(k, c)| (*c).min(*t.get(k).unwrap_or(&0)))
        .sum();
    if gn == 0 && tn == 0 {
        return (1.0, 1.0, 1.0);
    }
    let p = if gn == 0 {
        0.0
    } else {
        common as f64 / gn as f64
    };
    let r = if tn == 0 {
        0.0
    } else {
        common as f64 / tn as f64
    };
    let f = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    (p, r, f)
}

#[derive(Default, Clone, Copy)]
struct Score {
    p1: f64,
    r1: f64,
    f1: f64,
    f3: f64,
    n: usize,
}

impl Score {
    fn add(&mut self, got: &str, want: &[String]) {
        let g = words(got);
        let (p, r, f) = prf(&g, want, 1);
        let (_, _, f3) = prf(&g, want, 3);
        self.p1 += p;
        self.r1 += r;
        self.f1 += f;
        self.f3 += f3;
        self.n += 1;
    }
    fn merge(&mut self, o: &Score) {
        self.p1 += o.p1;
        self.r1 += o.r1;
        self.f1 += o.f1;
        self.f3 += o.f3;
        self.n += o.n;
    }
    fn line(&self) -> String {
        let n = self.n.max(1) as f64;
        format!(
            "P {:.3} R {:.3} F1 {:.3} (3-shingle F1 {:.3})",
            self.p1 / n,
            self.r1 / n,
            self.f1 / n,
            self.f3 / n
        )
    }
}

fn masa(html: &str) -> String {
    masa_ingest::extract_html(html).text
}

fn smoothie(html: &str) -> String {
    match dom_smoothie::Readability::new(html, None, None).and_then(|mut r| r.parse()) {
        Ok(a) => a.text_content.to_string(),
        Err(_) => String::new(),
    }
}

fn main() {
    let limit: usize = std::env::var("MASA_EXTRACT_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let mut totals: HashMap<&str, Score> = HashMap::new();
    let mut cpu: HashMap<&str, f64> = HashMap::new();
    let mut all_pages = 0usize;
    let mut all_bytes = 0usize;
    for site in sites() {
        let paths = pages(&site.dir, limit);
        let htmls: Vec<String> = paths
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
            .collect();
        let truths: Vec<Vec<String>> = htmls.iter().map(|h| words(&truth(h, &site))).collect();
        all_pages += htmls.len();
        all_bytes += htmls.iter().map(String::len).sum::<usize>();
        println!("{} ({} pages)", site.name, htmls.len());
        let mut run = |name: &'static str, f: &dyn Fn(&str) -> String| {
            let mut score = Score::default();
            let started = cpu_now();
            let outs: Vec<String> = htmls.iter().map(|h| f(h)).collect();
            *cpu.entry(name).or_default() += cpu_now() - started;
            for (o, t) in outs.iter().zip(&truths) {
                score.add(o, t);
            }
            println!("  {name:<12} {}", score.line());
            totals.entry(name).or_default().merge(&score);
        };
        run("masa", &masa);
        if std::env::var("MASA_EXTRACT_DEBUG").is_ok() {
            // The pages masa does worst on, with words of the truth it missed.
            let mut worst: Vec<(f64, usize)> = htmls
                .iter()
                .zip(&truths)
                .enumerate()
                .map(|(i, (h, t))| (prf(&words(&masa(h)), t, 1).2, i))
                .collect();
            worst.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (f, i) in worst.iter().take(4) {
                let got = words(&masa(&htmls[*i]));
                let got: std::collections::HashSet<&String> = got.iter().collect();
                let missed: Vec<&String> = truths[*i]
                    .iter()
                    .filter(|w| !got.contains(w))
                    .take(30)
                    .collect();
                println!("    F1 {f:.2} {}: missed {missed:?}", paths[*i].display());
            }
        }
        run("masa+quality", &|h: &str| {
            masa_ingest::describe(h, &masa_ingest::QualityConfig::default()).text
        });
        run("dom_smoothie", &smoothie);
        if let Some((texts, secs)) = trafilatura(&paths) {
            let mut score = Score::default();
            for (o, t) in texts.iter().zip(&truths) {
                score.add(o, t);
            }
            println!("  {:<12} {}", "trafilatura", score.line());
            totals.entry("trafilatura").or_default().merge(&score);
            *cpu.entry("trafilatura").or_default() += secs;
        }
    }
    println!(
        "all sites ({all_pages} pages, {:.1} MB of HTML), mean over pages:",
        all_bytes as f64 / 1e6
    );
    for name in ["masa", "masa+quality", "dom_smoothie", "trafilatura"] {
        if let (Some(s), Some(c)) = (totals.get(name), cpu.get(name)) {
            println!(
                "  {name:<12} {}; {:.0} pages/s, {:.1} MB/s of HTML per core",
                s.line(),
                all_pages as f64 / c,
                all_bytes as f64 / 1e6 / c
            );
        }
    }
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    println!(
        "peak RSS of the benchmark process: {} MB",
        u.ru_maxrss / 1024
    );
}

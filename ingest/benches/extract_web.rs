//! Main-text extraction scored on the open web: the 990 real pages of the extraction
//! development set (news, magazines, blogs, government, party, association and company
//! pages, forums and shops; `../shared/data/extraction-dev/`, see its README), each with
//! `with` snippets of its main text and `without` snippets of boilerplate.
//!
//! A `with` snippet found in the output is a true positive, missing a false negative; a
//! `without` snippet found is a false positive (trafilatura's own evaluation), after
//! collapsing whitespace. Pages are split by site (a hash of the host) into a `tune` half,
//! the only one whose failures `MASA_EXTRACT_DEBUG=1` prints, and a `check` half, so that
//! rules fitted to the tuning pages show as a gap between the two. Scores are also given
//! by site type (`benches/data/extraction-dev-sites.tsv`, labeled by hand from the pages),
//! and metadata (title, author, date, language) is scored on 100 news pages labeled by hand
//! (`benches/data/extraction-dev-meta.jsonl`).
//!
//! trafilatura runs beside masa in the same command when `.venv/bin/python` has it
//! (`.venv/bin/pip install trafilatura==2.3.1`): same pages, same scoring, CPU time measured
//! inside Python around `extract()` alone.
//!
//! Run: `cargo bench -p masa-ingest --bench extract_web` (`MASA_EXTRACTION_DEV=DIR` for a
//! folder holding `pages.tar.xz` or its unpacked `evaldata.json`; `MASA_EXTRACT_PAGES=N`
//! for the first N pages only, as under `valgrind --tool=callgrind`, whose instruction
//! counts do not depend on what else the machine runs; `MASA_EXTRACT_DUMP=FILE` appends
//! one JSON line per page and extractor: its text and the snippets it missed and kept).
//! Without the set it says so and measures nothing; it never downloads.

#![allow(unsafe_code)] // getrusage, for CPU time

mod common;

use common::{cpu_now, trafilatura};
use masa_ingest::quality::QualityConfig;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

struct Page {
    url: String,
    host: String,
    path: PathBuf,
    html: String,
    with: Vec<String>,
    without: Vec<String>,
    tune: bool,
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.to_ascii_lowercase();
    host.strip_prefix("www.").unwrap_or(&host).to_owned()
}

/// The set's folder, unpacked into `.cache/extraction-dev` when only the archive is there.
fn set_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let src = std::env::var("MASA_EXTRACTION_DEV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared/data/extraction-dev"));
    if src.join("evaldata.json").exists() {
        return Some(src);
    }
    let cache = root.join(".cache/extraction-dev");
    if cache.join("evaldata.json").exists() {
        return Some(cache);
    }
    let archive = src.join("pages.tar.xz");
    if !archive.exists() {
        eprintln!(
            "extract_web: no development set at {} (pages.tar.xz or evaldata.json); nothing measured",
            src.display()
        );
        return None;
    }
    std::fs::create_dir_all(&cache).ok()?;
    eprintln!(
        "extract_web: unpacking {} into {}",
        archive.display(),
        cache.display()
    );
    let ok = std::process::Command::new("tar")
        .arg("xJf")
        .arg(&archive)
        .arg("-C")
        .arg(&cache)
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(cache)
}

/// The first absolute URL after `og:url` or `canonical` in a page: enough to name its site.
fn own_url(html: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(html);
    ["og:url", "canonical"].iter().find_map(|key| {
        let at = text.find(key)?;
        let rest = &text[at..];
        let start = rest.find("http")?;
        let url: String = rest[start..]
            .chars()
            .take_while(|c| !matches!(c, '"' | '\'' | ' ' | '>'))
            .collect();
        (start < 200).then_some(url)
    })
}

fn load(dir: &Path) -> Vec<Page> {
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("evaldata.json")).unwrap()).unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str()).map(collapse).collect())
            .unwrap_or_default()
    };
    let mut pages: Vec<Page> = eval
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(url, e)| {
            let file = e["file"].as_str()?;
            let path = ["eval", "cache"]
                .iter()
                .map(|d| dir.join(d).join(file))
                .find(|p| p.exists())?;
            let bytes = std::fs::read(&path).ok()?;
            // 36 keys are not URLs (`hard::NAME.html`): their site is the page's own URL.
            let host = if url.contains("://") {
                host_of(url)
            } else {
                own_url(&bytes).map_or_else(|| file.to_owned(), |u| host_of(&u))
            };
            Some(Page {
                url: url.clone(),
                tune: xxhash_rust::xxh3::xxh3_64(host.as_bytes()).is_multiple_of(2),
                host,
                html: masa_connectors::web::page::decode(&bytes, None),
                path,
                with: strings(&e["with"]),
                without: strings(&e["without"]),
            })
        })
        .collect();
    pages.sort_by(|a, b| a.url.cmp(&b.url));
    if let Some(n) = std::env::var("MASA_EXTRACT_PAGES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        pages.truncate(n);
    }
    pages
}

#[derive(Default, Clone, Copy)]
struct Score {
    tp: u32,
    fn_: u32,
    fp: u32,
    tn: u32,
    pages: u32,
}

impl Score {
    fn add(&mut self, text: &str, p: &Page) -> (Vec<usize>, Vec<usize>) {
        let t = collapse(text);
        let missed: Vec<usize> = (0..p.with.len())
            .filter(|&i| !t.contains(&p.with[i]))
            .collect();
        let kept: Vec<usize> = (0..p.without.len())
            .filter(|&i| t.contains(&p.without[i]))
            .collect();
        self.tp += (p.with.len() - missed.len()) as u32;
        self.fn_ += missed.len() as u32;
        self.fp += kept.len() as u32;
        self.tn += (p.without.len() - kept.len()) as u32;
        self.pages += 1;
        (missed, kept)
    }

    fn merge(&mut self, o: &Score) {
        self.tp += o.tp;
        self.fn_ += o.fn_;
        self.fp += o.fp;
        self.tn += o.tn;
        self.pages += o.pages;
    }

    fn prf(&self) -> (f64, f64, f64) {
        let p = self.tp as f64 / (self.tp + self.fp).max(1) as f64;
        let r = self.tp as f64 / (self.tp + self.fn_).max(1) as f64;
        let f = if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        };
        (p, r, f)
    }

    fn cells(&self) -> String {
        let (p, r, f) = self.prf();
        format!("{p:.3} | {r:.3} | **{f:.3}**")
    }
}

/// Host → site type, from the hand-made labels.
fn site_types() -> HashMap<String, String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/data/extraction-dev-sites.tsv"
    );
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once('\t'))
        .map(|(h, t)| (h.to_owned(), t.trim().to_owned()))
        .collect()
}

/// Scores one extractor's outputs: by half and by site type; prints the tune half's worst
/// pages when debugging.
fn report(name: &str, pages: &[Page], texts: &[String], types: &HashMap<String, String>) {
    let debug = std::env::var("MASA_EXTRACT_DEBUG").is_ok() && name == "masa";
    let mut dump = std::env::var_os("MASA_EXTRACT_DUMP").map(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("MASA_EXTRACT_DUMP {}: {e}", path.display()))
    });
    let (mut tune, mut check) = (Score::default(), Score::default());
    let mut by_type: BTreeMap<String, Score> = BTreeMap::new();
    let mut worst = Vec::new();
    for (p, t) in pages.iter().zip(texts) {
        let mut s = Score::default();
        let (missed, kept) = s.add(t, p);
        if let Some(f) = dump.as_mut() {
            use std::io::Write;
            let row = serde_json::json!({
                "extractor": name,
                "url": p.url,
                "file": p.path,
                "tune": p.tune,
                "missed": missed.iter().map(|&i| &p.with[i]).collect::<Vec<_>>(),
                "kept": kept.iter().map(|&i| &p.without[i]).collect::<Vec<_>>(),
                "text": t,
            });
            writeln!(f, "{row}").expect("dump row written");
        }
        if p.tune {
            tune.merge(&s);
            if !missed.is_empty() || !kept.is_empty() {
                worst.push((missed.len() + kept.len(), p, missed, kept, t));
            }
        } else {
            check.merge(&s);
        }
        let ty = types.get(&p.host).map_or("unlabeled", String::as_str);
        by_type.entry(ty.to_owned()).or_default().merge(&s);
    }
    let mut all = tune;
    all.merge(&check);
    println!("| {name} | all | {} | {} |", all.pages, all.cells());
    println!("| {name} | tune | {} | {} |", tune.pages, tune.cells());
    println!("| {name} | check | {} | {} |", check.pages, check.cells());
    for (ty, s) in &by_type {
        println!("| {name} | {ty} | {} | {} |", s.pages, s.cells());
    }
    if debug {
        worst.sort_by_key(|w| std::cmp::Reverse(w.0));
        let n: usize = std::env::var("MASA_EXTRACT_DEBUG")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40);
        for (_, p, missed, kept, t) in worst.into_iter().take(n) {
            eprintln!("--- {} ({})", p.url, p.path.display());
            for i in missed {
                eprintln!("  missed: {}", p.with[i]);
            }
            for i in kept {
                eprintln!("  kept:   {}", p.without[i]);
            }
            let c = collapse(t);
            let head: String = c.chars().take(300).collect();
            let tail: String = {
                let v: Vec<char> = c.chars().collect();
                v[v.len().saturating_sub(300)..].iter().collect()
            };
            eprintln!("  text:   {head} … {tail}");
        }
    }
}

/// Metadata on the hand-labeled news pages: right when title and author match after
/// collapsing whitespace and case (the label contained in the output or the output in the
/// label, for names given with or without a role), the date is the same calendar day, and
/// the language's primary subtag is the same.
fn metadata(pages: &[Page]) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/data/extraction-dev-meta.jsonl"
    );
    let Ok(labels) = std::fs::read_to_string(path) else {
        eprintln!("extract_web: no metadata labels at {path}");
        return;
    };
    let by_url: HashMap<&str, &Page> = pages.iter().map(|p| (p.url.as_str(), p)).collect();
    let norm = |s: &str| collapse(s).to_lowercase();
    let mut right = BTreeMap::<&str, (u32, u32)>::new();
    let debug = std::env::var("MASA_META_DEBUG").is_ok();
    for line in labels.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let Some(p) = by_url.get(v["url"].as_str().unwrap_or("")) else {
            continue;
        };
        let r = masa_ingest::describe(&p.html, &QualityConfig::default());
        let want = |k: &str| v[k].as_str().map(norm);
        let got_title = r.meta.title.as_deref().map(norm);
        let got_author = r.meta.author.as_deref().map(norm);
        let got_date = r.meta.published.as_deref().and_then(day);
        let lang = r
            .meta
            .declared_lang
            .as_deref()
            .map(|l| l.to_ascii_lowercase())
            .map(|l| l.split(['-', '_']).next().unwrap_or("").to_owned())
            .filter(|l| !l.is_empty())
            .or_else(|| r.lang.as_deref().map(iso1));
        let close = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a == b || (!b.is_empty() && (a.contains(b.as_str()) || b.contains(a.as_str())))
            }
            _ => false,
        };
        let checks = [
            ("title", got_title == want("title")),
            ("author", close(&want("author"), &got_author)),
            ("published", got_date == want("published")),
            ("lang", lang == want("lang")),
        ];
        for (k, ok) in checks {
            let e = right.entry(k).or_default();
            e.1 += 1;
            if ok {
                e.0 += 1;
            } else if debug {
                eprintln!(
                    "meta {k} wrong on {}: want {:?}, got {:?}",
                    p.url,
                    v[k],
                    match k {
                        "title" => r.meta.title.clone(),
                        "author" => r.meta.author.clone(),
                        "published" => r.meta.published.clone(),
                        _ => lang.clone(),
                    }
                );
            }
        }
    }
    for (k, (ok, n)) in right {
        println!(
            "| metadata | {k} | {n} | {:.2} |",
            ok as f64 / n.max(1) as f64
        );
    }
}

/// The calendar day at the start of a date as pages state it (`2019-05-03T10:00+02:00`).
fn day(s: &str) -> Option<String> {
    let d: String = s.trim().chars().take(10).collect();
    let b = d.as_bytes();
    (b.len() == 10 && b[4] == b'-' && b[7] == b'-').then_some(d)
}

/// ISO 639-3 codes of whatlang to 639-1 for the languages of the set.
fn iso1(code: &str) -> String {
    let m = [
        ("deu", "de"),
        ("eng", "en"),
        ("fra", "fr"),
        ("spa", "es"),
        ("ita", "it"),
        ("pol", "pl"),
        ("por", "pt"),
        ("nld", "nl"),
        ("rus", "ru"),
        ("cmn", "zh"),
        ("jpn", "ja"),
        ("tur", "tr"),
        ("swe", "sv"),
        ("ces", "cs"),
        ("dan", "da"),
        ("fin", "fi"),
        ("ukr", "uk"),
        ("hun", "hu"),
        ("ell", "el"),
    ];
    m.iter()
        .find(|(a, _)| *a == code)
        .map_or(code, |(_, b)| *b)
        .to_owned()
}

fn main() {
    let Some(dir) = set_dir() else {
        return;
    };
    let pages = load(&dir);
    let bytes: usize = pages.iter().map(|p| p.html.len()).sum();
    let types = site_types();
    println!(
        "{} pages ({} tune, {} check), {:.0} MB of HTML, {} site types labeled",
        pages.len(),
        pages.iter().filter(|p| p.tune).count(),
        pages.iter().filter(|p| !p.tune).count(),
        bytes as f64 / 1e6,
        types.len()
    );
    println!("| extractor | pages | n | precision | recall | F1 |");
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    let start = cpu_now();
    let texts: Vec<String> = pages
        .iter()
        .map(|p| masa_ingest::extract_html(&p.html).text)
        .collect();
    let extract_cpu = cpu_now() - start;
    let quality = QualityConfig::default();
    let start = cpu_now();
    let full: Vec<String> = pages
        .iter()
        .map(|p| masa_ingest::describe(&p.html, &quality).text)
        .collect();
    let full_cpu = cpu_now() - start;
    // What `masa extract` prints and a record stores is the normalized text (Unicode NFC,
    // as trafilatura's output is too): it is the one scored.
    report("masa", &pages, &full, &types);
    let mut speeds = vec![
        ("masa (extraction)", pages.len() as f64 / extract_cpu),
        (
            "masa (extraction + normalization + language + quality)",
            pages.len() as f64 / full_cpu,
        ),
    ];
    // The extraction's own text, before normalization, when it scores differently.
    let mut a = Score::default();
    let mut b = Score::default();
    for ((p, t), f) in pages.iter().zip(&texts).zip(&full) {
        a.add(t, p);
        b.add(f, p);
    }
    if (a.prf().2 - b.prf().2).abs() > 1e-9 {
        println!(
            "| masa, extraction before normalization | all | {} | {} |",
            a.pages,
            a.cells()
        );
    }
    let paths: Vec<&Path> = pages.iter().map(|p| p.path.as_path()).collect();
    if let Some((traf, cpu)) = trafilatura(&paths) {
        report("trafilatura", &pages, &traf, &types);
        speeds.push(("trafilatura", pages.len() as f64 / cpu));
    }
    println!();
    println!("| extractor | pages per CPU second |");
    println!("| --- | ---: |");
    for (n, s) in speeds {
        println!("| {n} | {s:.0} |");
    }
    println!();
    metadata(&pages);
    hostile();
}

/// Hostile input: 100,000 nested elements of one kind, extracted whole (wall time of one
/// call). Past the documented depth limit their markup is dropped before parsing.
fn hostile() {
    println!();
    println!("| 100,000 nested | wall | text kept |");
    println!("| --- | ---: | --- |");
    for tag in ["div", "span", "table", "p", "li"] {
        let html = format!(
            "{}deep text{}",
            format!("<{tag}>").repeat(100_000),
            format!("</{tag}>").repeat(100_000)
        );
        let t = std::time::Instant::now();
        let text = masa_ingest::extract_html(&html).text;
        println!(
            "| `<{tag}>` | {:.0} ms | {} |",
            t.elapsed().as_secs_f64() * 1e3,
            text.contains("deep text")
        );
    }
}

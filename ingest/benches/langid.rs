//! Language identification compared on a labeled set: accuracy on short (40–140 bytes) and
//! long (400–800 bytes) texts of 25 languages, and speed, for `whatlang` (what masa uses),
//! `whichlang` and, with `--features lingua-compare`, `lingua` (all 75 of its languages,
//! high-accuracy mode and low-accuracy mode).
//!
//! The set is built by `scripts/fetch-lang-set` from Debian's translated manual pages
//! (one sample a paragraph, labeled by the package's language; pages split by name into a
//! `tune` and a `check` half). Without it the benchmark says so and measures nothing.
//!
//! Run: `scripts/fetch-lang-set && cargo bench -p masa-ingest --bench langid [--features lingua-compare]`

use std::collections::BTreeMap;
use std::time::Instant;

struct Sample {
    lang: String,
    long: bool,
    tune: bool,
    text: String,
}

fn load() -> Option<Vec<Sample>> {
    let path = std::env::var("MASA_LANG_SET").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/lang-set/set.jsonl").to_owned()
    });
    let text = std::fs::read_to_string(&path).ok()?;
    Some(
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                Sample {
                    lang: v["lang"].as_str().unwrap().to_owned(),
                    long: v["kind"] == "long",
                    tune: v["half"] == "tune",
                    text: v["text"].as_str().unwrap().to_owned(),
                }
            })
            .collect(),
    )
}

type Identify<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

fn main() {
    let Some(set) = load() else {
        println!("no labeled set: run scripts/fetch-lang-set first (nothing measured)");
        return;
    };
    let whichlang_langs: Vec<&str> = whichlang::LANGUAGES
        .iter()
        .map(|l| l.three_letter_code())
        .collect();
    let whatlang = |t: &str| whatlang::detect(t).map(|i| i.lang().code().to_owned());
    // A text's first `n` bytes, cut at a character boundary (masa identifies a record by
    // its first 512).
    fn prefix(t: &str, n: usize) -> &str {
        &t[..t.floor_char_boundary(n)]
    }
    #[cfg_attr(not(feature = "lingua-compare"), allow(unused_mut))]
    let mut identifiers: Vec<(&str, Identify)> = vec![
        ("whatlang 0.18", Box::new(whatlang)),
        (
            "whatlang 0.18, first 256 bytes",
            Box::new(move |t: &str| whatlang(prefix(t, 256))),
        ),
        (
            "whatlang 0.18, first 128 bytes",
            Box::new(move |t: &str| whatlang(prefix(t, 128))),
        ),
        (
            "whichlang 0.1",
            Box::new(|t: &str| Some(whichlang::detect_language(t).three_letter_code().to_owned())),
        ),
    ];
    #[cfg(feature = "lingua-compare")]
    {
        use lingua::LanguageDetectorBuilder;
        let code = |l: lingua::Language| {
            // lingua names Chinese by its macrolanguage; the set (and whatlang) by Mandarin.
            match l.iso_code_639_3().to_string().as_str() {
                "zho" => "cmn".to_owned(),
                c => c.to_owned(),
            }
        };
        let high = LanguageDetectorBuilder::from_all_languages()
            .with_preloaded_language_models()
            .build();
        let low = LanguageDetectorBuilder::from_all_languages()
            .with_low_accuracy_mode()
            .with_preloaded_language_models()
            .build();
        identifiers.push((
            "lingua 1.8 (high accuracy)",
            Box::new(move |t: &str| high.detect_language_of(t).map(code)),
        ));
        identifiers.push((
            "lingua 1.8 (low accuracy)",
            Box::new(move |t: &str| low.detect_language_of(t).map(code)),
        ));
    }
    let langs: std::collections::BTreeSet<&str> = set.iter().map(|s| s.lang.as_str()).collect();
    let bytes: usize = set.iter().map(|s| s.text.len()).sum();
    println!(
        "{} samples, {} languages, {:.1} MB\n",
        set.len(),
        langs.len(),
        bytes as f64 / 1e6
    );
    println!(
        "| identifier | short, tune | short, check | long, tune | long, check | all, on whichlang's 16 | MB/s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut per_lang: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, identify) in &identifiers {
        // Warm (lingua loads its models), then time one pass over the set.
        identify("warm up the models");
        let started = Instant::now();
        let answers: Vec<Option<String>> = set.iter().map(|s| identify(&s.text)).collect();
        let secs = started.elapsed().as_secs_f64();
        let acc = |keep: &dyn Fn(&Sample) -> bool| {
            let (mut right, mut n) = (0, 0);
            for (s, a) in set.iter().zip(&answers) {
                if keep(s) {
                    n += 1;
                    right += usize::from(a.as_deref() == Some(s.lang.as_str()));
                }
            }
            right as f64 / n.max(1) as f64
        };
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} |",
            acc(&|s| !s.long && s.tune),
            acc(&|s| !s.long && !s.tune),
            acc(&|s| s.long && s.tune),
            acc(&|s| s.long && !s.tune),
            acc(&|s| whichlang_langs.contains(&s.lang.as_str())),
            bytes as f64 / 1e6 / secs
        );
        for lang in &langs {
            let (mut right, mut n) = (0, 0);
            for (s, a) in set.iter().zip(&answers) {
                if s.lang == *lang && !s.long {
                    n += 1;
                    right += usize::from(a.as_deref() == Some(*lang));
                }
            }
            per_lang
                .entry(lang)
                .or_default()
                .push(format!("{:.2}", right as f64 / n.max(1) as f64));
        }
    }
    println!(
        "\nShort texts by language ({}):\n",
        identifiers
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(" / ")
    );
    println!("| language | accuracy |\n| --- | --- |");
    for (lang, accs) in per_lang {
        println!("| {lang} | {} |", accs.join(" / "));
    }
}

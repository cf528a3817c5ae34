//! `masa extract` on files, standard input and JSON lines; quality scores on every record;
//! `--drop-low-quality` counting drops by rule, and `--keep-rejects` keeping them.

mod common;

use common::Env;
use std::io::Write;
use std::process::Stdio;

const PAGE: &str = r#"<html lang="en"><head><title>Tide tables</title>
<meta name="author" content="Harbour Office"></head><body>
<nav><a href="/">Home</a> <a href="/maps">Maps</a></nav>
<article><h1>Reading tide tables</h1>
<p>A tide table lists the times and heights of high and low water for each day, so that boats can plan when to leave and return to the harbour safely.</p>
<p>Heights are given in metres above chart datum, which is the lowest level the tide is expected to reach under average weather conditions.</p>
</article><footer>Copyright Harbour Office</footer></body></html>"#;

fn run_with_stdin(env: &Env, args: &[&str], input: &str) -> std::process::Output {
    let mut child = env
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn extract_shows_text_metadata_language_and_quality() {
    let env = Env::new();
    let file = env.path("page.html");
    std::fs::write(&file, PAGE).unwrap();
    let text = env.ok(&["extract", file.to_str().unwrap()]);
    assert!(
        text.starts_with("# Reading tide tables\n\nA tide table lists"),
        "{text}"
    );
    assert!(
        !text.contains("Maps") && !text.contains("Copyright"),
        "{text}"
    );

    let raw = env.ok(&["extract", file.to_str().unwrap(), "--json"]);
    assert_eq!(raw.matches("\"title\"").count(), 1, "one title key: {raw}");
    let v = env.json(&["extract", file.to_str().unwrap()]);
    assert_eq!(v["title"], "Tide tables");
    assert_eq!(v["author"], "Harbour Office");
    assert_eq!(v["declared_lang"], "en");
    assert_eq!(v["lang"], "eng");
    assert!(v["lang_score"].as_f64().unwrap() > 0.5);
    assert_eq!(v["quality"]["keep"], false, "{v}");
    // 57 words pass Gopher's minimum of 50, but two sentences miss C4's minimum of three.
    assert_eq!(v["quality"]["failed"], "c4_min_sentences", "{v}");
    assert!(v["quality"]["signals"]["words"].as_u64().unwrap() > 40);

    // The same page on standard input; a windows-1252 page is decoded.
    let out = run_with_stdin(&env, &["extract", "-"], PAGE);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim_end(),
        text.trim_end()
    );
    let latin = env.path("latin.html");
    std::fs::write(&latin, b"<meta charset=\"windows-1252\"><p>Un caf\xe9 cr\xe8me, s'il vous pla\xeet, avec un croissant chaud.</p>").unwrap();
    assert!(
        env.ok(&["extract", latin.to_str().unwrap()])
            .contains("Un café crème, s'il vous plaît")
    );

    // A missing file is a clear error.
    let err = env.fails(&["extract", env.path("nope.html").to_str().unwrap()]);
    assert!(
        err.contains("nope.html") && err.contains("cannot read"),
        "{err}"
    );
}

/// A reader that stops early (`masa extract page.html | head -c 10`) ends the output, not
/// the program with a panic: exit 0, nothing on standard error.
#[test]
fn extract_stops_quietly_when_its_reader_is_gone() {
    let env = Env::new();
    let file = env.path("big.html");
    // Far more text than a pipe buffers, so the writes meet the closed pipe.
    let big = format!(
        "<html><body><article>{}</article></body></html>",
        "<p>A tide table lists the times and heights of high and low water for each day, so that boats can plan.</p>"
            .repeat(20_000)
    );
    std::fs::write(&file, big).unwrap();
    for args in [
        vec!["extract", file.to_str().unwrap()],
        vec!["extract", file.to_str().unwrap(), "--json"],
    ] {
        let mut child = env
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn extract_jsonl_answers_every_line_in_order_and_names_bad_lines() {
    let env = Env::new();
    let mut input = String::new();
    for i in 0..5 {
        let html = format!("<p>Page number {i} has its own paragraph of text to extract here.</p>");
        input.push_str(&serde_json::json!({"id": i, "html": html}).to_string());
        input.push('\n');
    }
    input.push_str("{\"id\": \"bad\"}\nnot json\n");
    let out = run_with_stdin(&env, &["extract", "--jsonl"], &input);
    assert!(!out.status.success(), "bad lines make the exit status fail");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7);
    for (i, l) in lines.iter().take(5).enumerate() {
        assert_eq!(l["id"], i);
        assert!(
            l["text"]
                .as_str()
                .unwrap()
                .contains(&format!("Page number {i}"))
        );
    }
    assert_eq!(lines[5]["id"], "bad");
    assert!(lines[5]["error"].as_str().unwrap().contains("line 6"));
    assert!(lines[6]["error"].as_str().unwrap().contains("line 7"));
}

/// Ordinary English prose that passes every default rule.
const GOOD: &str = "The harbour office publishes the tide tables every spring, and most of the fishing crews keep a printed copy on board. \
Each table lists the times of high and low water for every day of the year, with the expected height of the water above chart datum. \
Skippers use these numbers to decide when it is safe to cross the sand bar at the mouth of the river. \
When strong winds blow from the west, the water can rise higher than the tables predict, so the office also broadcasts warnings on the radio. \
Visitors who sail into the harbour for the first time are advised to ask the harbour master for local advice before they leave.";

const OTHER: &str = "The old lighthouse on the northern cliff was built in the eighteenth century and guided ships for more than two hundred years. \
Its lamp burned whale oil at first, then paraffin, and finally electricity after the war. \
A small museum now occupies the keeper's cottage, where children can try on oilskins and climb the narrow spiral stairs to the gallery. \
On clear evenings the volunteers who run the museum open the lantern room so that visitors can watch the sun set over the bay. \
The building is closed in winter, when storms make the path along the cliff too dangerous to walk.";

#[test]
fn quality_is_scored_on_every_record_and_drops_are_opt_in_counted_and_kept() {
    let env = Env::new();
    let dir = env.path("docs");
    std::fs::create_dir_all(&dir).unwrap();
    common::write_file(&dir, "good.txt", GOOD);
    common::write_file(&dir, "short.txt", "Buy now. Click here.");
    common::write_file(
        &dir,
        "lorem.txt",
        &format!("{OTHER} Lorem ipsum dolor sit amet."),
    );
    let ds = env.path("data").display().to_string();

    // Default: every record is scored, none dropped.
    let s = env.json(&[
        "contribute",
        "--files",
        dir.to_str().unwrap(),
        "--dataset",
        &ds,
        "--no-near-dup",
        "-q",
    ]);
    assert_eq!(s["stats"]["rows_committed"], 3, "{s}");
    let records = common::read_records(&ds, &Default::default());
    for r in records.values() {
        let score = r.quality_score.unwrap();
        assert!((0.0..=1.0).contains(&score));
        let signals: serde_json::Value =
            serde_json::from_str(r.quality_signals.as_deref().unwrap()).unwrap();
        assert!(signals["words"].as_u64().unwrap() > 0);
    }
    let good = records
        .values()
        .find(|r| r.uri.ends_with("good.txt"))
        .unwrap();
    assert_eq!(good.quality_score, Some(1.0));

    // Opt in: failing texts are dropped by rule and kept as rejects.
    let ds2 = env.path("strict").display().to_string();
    let s = env.json(&[
        "contribute",
        "--files",
        dir.to_str().unwrap(),
        "--dataset",
        &ds2,
        "--no-near-dup",
        "-q",
        "--drop-low-quality",
        "--keep-rejects",
    ]);
    assert_eq!(s["stats"]["rows_committed"], 1, "{s}");
    assert_eq!(s["stats"]["drops"]["quality:gopher_word_count"], 1, "{s}");
    assert_eq!(s["stats"]["drops"]["quality:c4_lorem_ipsum"], 1, "{s}");
    let rejects: Vec<_> = common::walk(&env.path("strict/rejects"));
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    let bytes = std::fs::read(&rejects[0]).unwrap();
    let batches = masa_storage::decode_parquet(bytes.into()).unwrap();
    let mut reasons: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let c =
                masa_record::column::<masa_storage::arrow::array::StringArray>(b, "reject_reason")
                    .unwrap();
            c.iter().map(|v| v.unwrap().to_owned()).collect::<Vec<_>>()
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        ["quality:c4_lorem_ipsum", "quality:gopher_word_count"]
    );

    // Thresholds from a file (per-language tables are covered by the unit tests).
    let q = env.path("quality.toml");
    std::fs::write(&q, "drop = true\n[thresholds]\nmin_words = 2\nmin_stop_words = 0\nmin_sentences = 1\nmax_short_line_ratio = 1.0\nmin_terminal_punct_line_ratio = 0.0\n").unwrap();
    let ds3 = env.path("lenient").display().to_string();
    let s = env.json(&[
        "contribute",
        "--files",
        dir.to_str().unwrap(),
        "--dataset",
        &ds3,
        "--no-near-dup",
        "-q",
        "--quality",
        q.to_str().unwrap(),
    ]);
    assert!(
        s["stats"]["drops"]
            .get("quality:gopher_word_count")
            .is_none(),
        "{s}"
    );
    std::fs::write(&q, "[thresholds]\nmin_wordz = 2\n").unwrap();
    let err = env.fails(&[
        "contribute",
        "--files",
        dir.to_str().unwrap(),
        "--dataset",
        &ds3,
        "--quality",
        q.to_str().unwrap(),
    ]);
    assert!(err.contains("min_wordz"), "{err}");
}

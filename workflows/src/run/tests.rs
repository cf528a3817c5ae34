use super::*;

fn parse(text: &str) -> Result<Workflow, String> {
    Workflow::parse(Path::new("w.toml"), text).map_err(|e| e.to_string())
}

#[test]
fn a_workflow_names_a_dataset_and_sources() {
    let wf = parse(
        r#"
            dataset = "./d"
            schedule = "0 */6 * * *"
            [pipeline]
            batch_rows = 10
            near_dup = false
            [pipeline.quality]
            drop = true
            [[source]]
            name = "docs"
            kind = "files"
            path = "./docs"
            [[source]]
            name = "hn"
            kind = "hackernews"
            list = "top"
            schedule = "*/30 * * * *"
            "#,
    )
    .unwrap();
    assert_eq!(wf.dataset, "./d");
    assert_eq!(wf.pipeline.batch_rows, Some(10));
    assert_eq!(wf.pipeline.near_dup, Some(false));
    assert!(wf.pipeline.quality.as_ref().unwrap().drop);
    assert_eq!(wf.sources.len(), 2);
    assert!(matches!(wf.sources[0].config, Ok(SourceConfig::Files(_))));
    assert_eq!(wf.schedule_of(&wf.sources[0]).unwrap().expr, "0 */6 * * *");
    assert_eq!(wf.schedule_of(&wf.sources[1]).unwrap().expr, "*/30 * * * *");
}

#[test]
fn a_bad_source_is_kept_with_its_error_and_the_file_still_parses() {
    let wf = parse(
        r#"
            dataset = "./d"
            [[source]]
            name = "good"
            kind = "files"
            path = "./docs"
            [[source]]
            name = "typo"
            kind = "rss"
            [[source]]
            name = "nokind"
            path = "./x"
            [[source]]
            name = "badopt"
            kind = "files"
            path = "./docs"
            colour = "blue"
            "#,
    )
    .unwrap();
    assert!(wf.sources[0].config.is_ok());
    let e = wf.sources[1].config.as_ref().unwrap_err();
    assert!(
        e.contains("\"typo\"") && e.contains("unknown connector kind \"rss\""),
        "{e}"
    );
    assert!(e.contains("files") && e.contains("hackernews"), "{e}");
    let e = wf.sources[2].config.as_ref().unwrap_err();
    assert!(e.contains("no `kind`"), "{e}");
    let e = wf.sources[3].config.as_ref().unwrap_err();
    assert!(e.contains("\"badopt\"") && e.contains("colour"), "{e}");
}

#[test]
fn errors_of_the_whole_file_say_what_to_write() {
    let e = parse("[[source]]\nname = \"a\"\nkind = \"files\"\npath = \".\"").unwrap_err();
    assert!(e.contains("no `dataset`"), "{e}");
    assert!(parse("dataset = \"d\"").unwrap_err().contains("no sources"));
    let e = parse("dataset = \"d\"\nschedule = \"every day\"\n[[source]]\nname = \"a\"\nkind = \"files\"\npath = \".\"").unwrap_err();
    assert!(e.contains("not a cron expression"), "{e}");
    let two = "dataset = \"d\"\n[[source]]\nname = \"a\"\nkind = \"files\"\npath = \".\"\n[[source]]\nname = \"a\"\nkind = \"files\"\npath = \".\"";
    assert!(
        parse(two)
            .unwrap_err()
            .contains("two sources are named \"a\"")
    );
    let e = parse(
        "dataset = \"d\"\nsources = 1\n[[source]]\nname = \"a\"\nkind = \"files\"\npath = \".\"",
    )
    .unwrap_err();
    assert!(e.contains("unknown key `sources`"), "{e}");
    assert!(
        parse("dataset = ")
            .unwrap_err()
            .contains("not a TOML workflow")
    );
}

#[test]
fn schedules_are_five_field_cron_with_optional_seconds_in_utc() {
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let every_6h = Schedule::parse("0 */6 * * *").unwrap();
    assert_eq!(
        every_6h.next_after(t("2026-12-03T07:10:00Z")),
        Some(t("2026-12-03T12:00:00Z"))
    );
    // Strictly after: a time on the schedule gives the next one.
    assert_eq!(
        every_6h.next_after(t("2026-12-03T12:00:00Z")),
        Some(t("2026-12-03T18:00:00Z"))
    );
    let weekdays = Schedule::parse("30 9 * * MON-FRI").unwrap();
    // 2026-12-05 is a Saturday.
    assert_eq!(
        weekdays.next_after(t("2026-12-04T10:00:00Z")),
        Some(t("2026-12-07T09:30:00Z"))
    );
    let seconds = Schedule::parse("*/15 * * * * *").unwrap();
    assert_eq!(
        seconds.next_after(t("2026-12-03T07:10:01Z")),
        Some(t("2026-12-03T07:10:15Z"))
    );
    assert!(Schedule::parse("61 * * * *").is_err());
}

/// Every example in `examples/` parses: the workflows with all their sources, the
/// source files as sources (building them may need credentials or a network; parsing
/// holds their options to the connectors' own, unknown keys refused).
#[test]
fn every_example_workflow_and_source_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut workflows = 0;
    let mut sources = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("[[source]]") {
            let wf = Workflow::parse(&path, &text).unwrap();
            for s in &wf.sources {
                assert!(s.config.is_ok(), "{}: {:?}", path.display(), s.config);
            }
            workflows += 1;
        } else {
            toml::from_str::<SourceConfig>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            sources += 1;
        }
    }
    assert!(
        workflows >= 2 && sources >= 9,
        "{workflows} workflows, {sources} sources"
    );
}

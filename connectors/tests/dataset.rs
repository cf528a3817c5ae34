//! The `dataset` connector on files the test writes: JSONL, Parquet (through arrow), and a
//! Hugging Face dataset folder whose `README.md` card gives `license:` and `configs`
//! `data_files`; licences from the config, a column (with an empty cell) and the card, and a
//! file nothing gives a licence refused before anything is emitted.

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use masa_connectors::compliance::{assert_source_compliance, collect};
use masa_connectors::{BuildContext, ConnectorError, DatasetConfig, SourceConfig, SourceEvent};
use masa_record::ConsentBasis;
use parquet::arrow::ArrowWriter;
use std::path::Path;
use std::sync::Arc;

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "I may contribute this dataset under its licence".into(),
        credentials: Default::default(),
    }
}

/// Writes a Parquet file of nullable string columns (and an `id` Int64 column when given),
/// in row groups of two rows so reading crosses row groups.
fn parquet(path: &Path, ids: Option<Vec<i64>>, columns: &[(&str, Vec<Option<&str>>)]) {
    let mut cols: Vec<(String, ArrayRef)> = Vec::new();
    if let Some(ids) = ids {
        cols.push(("id".into(), Arc::new(Int64Array::from(ids))));
    }
    for (name, values) in columns {
        cols.push((
            name.to_string(),
            Arc::new(StringArray::from(values.clone())),
        ));
    }
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(2))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn outline(events: &[SourceEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            SourceEvent::Item(i) => format!(
                "item {} | {} | {}",
                i.uri.rsplit('/').next().unwrap_or(""),
                String::from_utf8_lossy(&i.body),
                i.licence.as_deref().unwrap_or("-")
            ),
            SourceEvent::Skip(s) => {
                format!(
                    "skip {} {}",
                    s.reason,
                    s.uri.rsplit('/').next().unwrap_or("")
                )
            }
        })
        .collect()
}

fn cfg(f: impl FnOnce(&mut DatasetConfig)) -> impl FnOnce(&Path) -> SourceConfig {
    move |p| {
        let mut c = DatasetConfig::new(p);
        f(&mut c);
        SourceConfig::Dataset(c)
    }
}

/// A folder of a JSONL file and a Parquet file with a licence column.
fn mixed(dir: &Path) {
    std::fs::write(
        dir.join("a.jsonl"),
        concat!(
            "{\"id\": \"r1\", \"text\": \"First row.\", \"title\": \"One\", \"lic\": \"MIT\"}\n",
            "{\"text\": \"Second row, no licence cell.\"}\n",
            "{not json\n",
            "\n",
            "{\"id\": 4, \"body\": \"no text column\", \"lic\": \"MIT\"}\n",
            "{\"url\": \"https://example.test/doc/5\", \"text\": \"Fifth.\", \"lic\": \"CC0-1.0\"}\n",
        ),
    )
    .unwrap();
    parquet(
        &dir.join("b.parquet"),
        Some(vec![10, 11, 12, 13, 14]),
        &[
            (
                "text",
                vec![
                    Some("Parquet one."),
                    Some("Parquet two."),
                    Some("Parquet three."),
                    None,
                    Some("Parquet five."),
                ],
            ),
            (
                "licence",
                vec![
                    Some("CC-BY-4.0"),
                    Some(""),
                    Some("Apache-2.0"),
                    Some("MIT"),
                    None,
                ],
            ),
        ],
    );
}

#[tokio::test]
async fn rows_take_their_licence_from_the_row_and_an_empty_cell_is_a_skip() {
    let dir = tempfile::tempdir().unwrap();
    mixed(dir.path());
    // The JSONL file calls its column `lic`, the Parquet file `licence`: one config each.
    let jsonl = cfg(|c| {
        c.licence_column = Some("lic".into());
        c.id_column = Some("id".into());
        c.url_column = Some("url".into());
        c.title_column = Some("title".into());
    })(&dir.path().join("a.jsonl"));
    let events = collect(&jsonl, &ctx(), None).await.unwrap();
    assert_eq!(
        outline(&events),
        [
            "item a.jsonl#id=r1 | First row. | MIT (the row's lic column, a.jsonl)",
            "skip licence:missing a.jsonl#row=1",
            "skip input:malformed_jsonl a.jsonl#row=2",
            "skip input:blank_line a.jsonl#row=3",
            "skip input:no_text a.jsonl#id=4",
            "item 5 | Fifth. | CC0-1.0 (the row's lic column, a.jsonl)",
        ]
    );
    let SourceEvent::Item(first) = &events[0] else {
        unreachable!()
    };
    assert_eq!(first.title.as_deref(), Some("One"));
    assert_eq!(first.consent.basis, ConsentBasis::ContributorDeclaration);
    assert_eq!(first.content_type.as_deref(), Some("text/plain"));
    let SourceEvent::Item(fifth) = &events[5] else {
        unreachable!()
    };
    assert_eq!(fifth.uri, "https://example.test/doc/5");

    let pq = cfg(|c| {
        c.licence_column = Some("licence".into());
        c.id_column = Some("id".into());
    })(&dir.path().join("b.parquet"));
    let events = collect(&pq, &ctx(), None).await.unwrap();
    assert_eq!(
        outline(&events),
        [
            "item b.parquet#id=10 | Parquet one. | CC-BY-4.0 (the row's licence column, b.parquet)",
            "skip licence:missing b.parquet#id=11",
            "item b.parquet#id=12 | Parquet three. | Apache-2.0 (the row's licence column, b.parquet)",
            "skip input:no_text b.parquet#id=13",
            "skip licence:missing b.parquet#id=14",
        ]
    );
    assert_eq!(
        events[4].checkpoint_value(),
        serde_json::json!({"file": 0, "path": "b.parquet", "row": 5})
    );
}

trait Cp {
    fn checkpoint_value(&self) -> serde_json::Value;
}
impl Cp for SourceEvent {
    fn checkpoint_value(&self) -> serde_json::Value {
        match self {
            SourceEvent::Item(i) => i.checkpoint.to_value(),
            SourceEvent::Skip(s) => s.checkpoint.to_value(),
        }
    }
}

#[tokio::test]
async fn a_declared_licence_fills_empty_cells_and_per_file_licences_win() {
    let dir = tempfile::tempdir().unwrap();
    mixed(dir.path());
    std::fs::remove_file(dir.path().join("a.jsonl")).unwrap();
    std::fs::write(dir.path().join("c.jsonl"), "{\"text\": \"C row.\"}\n").unwrap();
    let c = cfg(|c| {
        c.licence = Some("CC-BY-SA-4.0".into());
        c.licence_column = Some("licence".into());
        c.file_licences
            .insert("c.jsonl".into(), "ODC-By-1.0".into());
    })(dir.path());
    let events = collect(&c, &ctx(), None).await.unwrap();
    assert_eq!(
        outline(&events),
        [
            "item b.parquet#row=0 | Parquet one. | CC-BY-4.0 (the row's licence column, b.parquet)",
            "item b.parquet#row=1 | Parquet two. | CC-BY-SA-4.0 (declared by the contributor)",
            "item b.parquet#row=2 | Parquet three. | Apache-2.0 (the row's licence column, b.parquet)",
            "skip input:no_text b.parquet#row=3",
            "item b.parquet#row=4 | Parquet five. | CC-BY-SA-4.0 (declared by the contributor)",
            "item c.jsonl#row=0 | C row. | ODC-By-1.0 (declared by the contributor for c.jsonl)",
        ]
    );
    assert_source_compliance(&c, &ctx(), "dataset").await;
}

/// A Hugging Face dataset folder: card, `data/` Parquet shards named by `configs`, and a
/// file the card does not name.
fn hf(dir: &Path) {
    std::fs::write(
        dir.join("README.md"),
        "---\nlicense: cc-by-sa-4.0\nlanguage:\n- en\npretty_name: Tiny Wiki\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n  - split: test\n    path: data/test-*\n---\n\n# Tiny Wiki\n\nA few articles.\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    parquet(
        &dir.join("data/train-00000-of-00001.parquet"),
        None,
        &[
            (
                "text",
                vec![
                    Some("Alpha article."),
                    Some("Beta article."),
                    Some("Gamma article."),
                ],
            ),
            (
                "url",
                vec![
                    Some("https://wiki.test/Alpha"),
                    Some("https://wiki.test/Beta"),
                    None,
                ],
            ),
        ],
    );
    std::fs::write(
        dir.join("data/test-00000-of-00001.jsonl"),
        "{\"text\": \"Delta article.\", \"url\": \"https://wiki.test/Delta\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("data/scratch.jsonl"),
        "{\"text\": \"not in the card\"}\n",
    )
    .unwrap();
}

#[tokio::test]
async fn a_hugging_face_folder_reads_the_cards_files_under_the_cards_licence() {
    let dir = tempfile::tempdir().unwrap();
    hf(dir.path());
    let c = cfg(|c| c.url_column = Some("url".into()))(dir.path());
    let events = collect(&c, &ctx(), None).await.unwrap();
    let readme = url::Url::from_file_path(dir.path().join("README.md")).unwrap();
    let lic = format!("cc-by-sa-4.0 (the dataset card {readme})");
    assert_eq!(
        outline(&events),
        [
            format!("item Delta | Delta article. | {lic}"),
            format!("item Alpha | Alpha article. | {lic}"),
            format!("item Beta | Beta article. | {lic}"),
            format!("item train-00000-of-00001.parquet#row=2 | Gamma article. | {lic}"),
        ]
    );
    assert_source_compliance(&c, &ctx(), "dataset").await;
}

#[tokio::test]
async fn a_file_nothing_gives_a_licence_is_refused_before_anything_is_emitted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rows.jsonl"), "{\"text\": \"x\"}\n").unwrap();
    let err = collect(&cfg(|_| {})(dir.path()), &ctx(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Config {
                kind: "dataset",
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("rows.jsonl") && msg.contains("no licence"),
        "{msg}"
    );
    // A card that says `unknown` gives none either.
    std::fs::write(dir.path().join("README.md"), "---\nlicense: unknown\n---\n").unwrap();
    let err = collect(&cfg(|_| {})(dir.path()), &ctx(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no licence"), "{err}");
}

#[tokio::test]
async fn wrong_columns_and_card_patterns_fail_the_check_with_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    parquet(
        &dir.path().join("p.parquet"),
        None,
        &[("content", vec![Some("x")])],
    );
    let err = collect(
        &cfg(|c| c.licence = Some("MIT".into()))(dir.path()),
        &ctx(),
        None,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("no column \"text\"") && err.contains("content"),
        "{err}"
    );
    // A licence column the file lacks, with nothing to fall back on.
    let err = collect(
        &cfg(|c| {
            c.text_column = "content".into();
            c.licence_column = Some("lic".into());
        })(dir.path()),
        &ctx(),
        None,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("no column \"lic\""), "{err}");
    std::fs::write(
        dir.path().join("README.md"),
        "---\nlicense: mit\nconfigs:\n- config_name: default\n  data_files: data/*.parquet\n---\n",
    )
    .unwrap();
    let err = collect(&cfg(|_| {})(dir.path()), &ctx(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data/*.parquet") && err.contains("matches no"),
        "{err}"
    );
    let bad = dir.path().join("broken.parquet");
    std::fs::write(&bad, b"PAR1 not really").unwrap();
    let err = collect(&cfg(|c| c.licence = Some("MIT".into()))(&bad), &ctx(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("broken.parquet") && err.contains("not a readable Parquet"),
        "{err}"
    );
}

#[tokio::test]
async fn an_empty_file_emits_nothing_and_an_empty_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.jsonl"), "").unwrap();
    let c = cfg(|c| c.licence = Some("MIT".into()))(dir.path());
    assert!(collect(&c, &ctx(), None).await.unwrap().is_empty());
    let none = tempfile::tempdir().unwrap();
    let err = collect(&cfg(|_| {})(none.path()), &ctx(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Empty { .. }), "{err}");
}

#[tokio::test]
async fn the_mixed_folder_passes_the_compliance_check_across_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    mixed(dir.path());
    let c = cfg(|c| {
        c.licence = Some("MIT".into());
        c.id_column = Some("id".into());
    })(dir.path());
    assert_source_compliance(&c, &ctx(), "dataset").await;
}

use super::*;

fn ctx() -> BuildContext {
    BuildContext {
        declaration: "d".into(),
        credentials: Default::default(),
    }
}

#[test]
fn empty_names_and_limits_are_refused() {
    let mut c = DatasetConfig::new("x");
    assert!(c.build(&ctx()).is_ok());
    c.licence_column = Some(" ".into());
    assert!(
        c.build(&ctx())
            .err()
            .unwrap()
            .to_string()
            .contains("licence_column is empty")
    );
    let mut c = DatasetConfig::new("x");
    c.text_column = String::new();
    assert!(c.build(&ctx()).is_err());
    let mut c = DatasetConfig::new("x");
    c.file_licences.insert("a.jsonl".into(), "".into());
    assert!(
        c.build(&ctx())
            .err()
            .unwrap()
            .to_string()
            .contains("a.jsonl")
    );
    let unknown = serde_json::from_value::<DatasetConfig>(json!({"path": "x", "license": "mit"}));
    assert!(unknown.is_err(), "a misspelt option is refused");
}

#[test]
fn jsonl_cells_take_strings_and_numbers() {
    let mut c = DatasetConfig::new("x");
    c.id_column = Some("id".into());
    c.licence_column = Some("lic".into());
    let conn = c.build(&ctx()).unwrap();
    let row = conn.jsonl_cells(&json!({"text": "t", "id": 7, "lic": null}));
    assert_eq!(row.text.as_deref(), Some("t"));
    assert_eq!(row.id.as_deref(), Some("7"));
    assert_eq!(row.licence, None);
    assert_eq!(conn.jsonl_cells(&json!({"text": 5})).text, None);
}

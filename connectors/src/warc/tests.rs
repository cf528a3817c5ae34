use super::*;

#[test]
fn a_config_needs_a_product_token_and_a_record_limit() {
    let ctx = BuildContext {
        declaration: "d".into(),
        credentials: Default::default(),
    };
    let mut c = WarcConfig::new("/nowhere");
    assert!(c.build(&ctx).is_ok());
    c.user_agent = "bad agent".into();
    assert!(
        c.build(&ctx)
            .err()
            .unwrap()
            .to_string()
            .contains("product token")
    );
    let mut c = WarcConfig::new("/nowhere");
    c.max_record_bytes = 0;
    assert!(
        c.build(&ctx)
            .err()
            .unwrap()
            .to_string()
            .contains("max_record_bytes")
    );
    let unknown = serde_json::from_value::<WarcConfig>(json!({"path": "x", "depth": 1}));
    assert!(unknown.is_err());
}

#[test]
fn html_is_declared_or_sniffed() {
    assert!(html_page("text/html", b""));
    assert!(html_page("", b"<!DOCTYPE html><p>"));
    assert!(!html_page("", b"%PDF-1.7"));
    assert!(!html_page("application/pdf", b"<html>"));
    assert_eq!(record_reason("revisit"), "record:revisit");
    assert_eq!(record_reason("x-custom"), "record:other");
}

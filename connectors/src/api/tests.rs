use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn reset_times_come_from_the_servers_headers() {
    assert_eq!(
        reset_after(&headers(&[("retry-after", "7")])),
        Some(Duration::from_secs(7))
    );
    let later = SystemTime::now() + Duration::from_secs(120);
    let date = httpdate::fmt_http_date(later);
    let d = reset_after(&headers(&[("retry-after", &date)])).unwrap();
    assert!((110..=120).contains(&d.as_secs()), "{d:?}");
    let unix = (SystemTime::now() + Duration::from_secs(300))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let d = reset_after(&headers(&[("x-ratelimit-reset", &unix.to_string())])).unwrap();
    assert!((295..=300).contains(&d.as_secs()), "{d:?}");
    assert_eq!(
        reset_after(&headers(&[("ratelimit-reset", "30")])),
        Some(Duration::from_secs(30))
    );
    // Retry-After wins over the others; nothing known is None.
    assert_eq!(
        reset_after(&headers(&[("retry-after", "2"), ("ratelimit-reset", "30")])),
        Some(Duration::from_secs(2))
    );
    assert_eq!(reset_after(&headers(&[])), None);
    // Mastodon's form: an ISO 8601 time, fractional seconds and all; a past one is now.
    let iso = time::OffsetDateTime::from(SystemTime::now() + Duration::from_secs(90))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(iso.contains('.'), "{iso}");
    let d = reset_after(&headers(&[("x-ratelimit-reset", &iso)])).unwrap();
    assert!((85..=90).contains(&d.as_secs()), "{iso}: {d:?}");
    assert_eq!(
        reset_after(&headers(&[(
            "x-ratelimit-reset",
            "2017-04-17T18:09:34.128Z"
        )])),
        Some(Duration::ZERO)
    );
    assert_eq!(
        reset_after(&headers(&[("x-ratelimit-reset", "soon")])),
        None
    );
    assert_eq!(
        remaining(&headers(&[("ratelimit-remaining", "0")])),
        Some(0)
    );
}

#[test]
fn link_headers_name_their_pages_by_relation() {
    let h = headers(&[(
        "link",
        "<https://m.example/api/v1/timelines/public?max_id=1093>; rel=\"next\", <https://m.example/api/v1/timelines/public?min_id=1100>; rel=\"prev\"",
    )]);
    assert_eq!(
        link(&h, "next").as_deref(),
        Some("https://m.example/api/v1/timelines/public?max_id=1093")
    );
    assert_eq!(
        link(&h, "prev").as_deref(),
        Some("https://m.example/api/v1/timelines/public?min_id=1100")
    );
    assert_eq!(link(&h, "last"), None);
    assert_eq!(link(&headers(&[]), "next"), None);
    // Unquoted and multi-valued relations count too.
    let h = headers(&[(
        "link",
        "</p?page=2>; rel=next, </p?page=9>; rel=\"last end\"",
    )]);
    assert_eq!(link(&h, "next").as_deref(), Some("/p?page=2"));
    assert_eq!(link(&h, "end").as_deref(), Some("/p?page=9"));
}

#[test]
fn backoff_is_jittered_below_a_doubling_cap() {
    let base = Duration::from_millis(100);
    for attempt in 1..8 {
        let cap = base * (1 << (attempt - 1));
        let draws: Vec<Duration> = (0..50).map(|_| jittered(base, attempt)).collect();
        assert!(draws.iter().all(|d| *d <= cap), "{attempt}: {draws:?}");
        assert!(draws.iter().any(|d| *d != draws[0]), "not jittered");
    }
    assert!(jittered(base, 30) <= Duration::from_secs(60));
}

#[test]
fn an_html_page_is_not_taken_for_json() {
    let url = Url::parse("http://127.0.0.1/x").unwrap();
    let html = headers(&[("content-type", "text/html; charset=utf-8")]);
    let e = parse_json(&url, &html, b"<html><body>Sign in</body></html>").unwrap_err();
    assert!(e.to_string().contains("text/html instead of JSON"), "{e}");
    let none = headers(&[]);
    assert!(parse_json(&url, &none, b"<!doctype html>").is_err());
    assert_eq!(
        parse_json(&url, &none, b" [1,2]").unwrap(),
        serde_json::json!([1, 2])
    );
    assert!(matches!(
        parse_json(
            &url,
            &headers(&[("content-type", "application/json")]),
            b"{oops"
        ),
        Err(ApiError::BadJson { .. })
    ));
}

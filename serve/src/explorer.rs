//! The explorer: static files built into the binary (no build step, nothing fetched at run
//! time), served at `/` and `/explorer/*`. The page calls the same `/v1` API as any client,
//! with the key the user gives it, and checks record proofs itself (`proof.js`,
//! `ed25519.js`).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Each file: its name, media type and content.
const FILES: [(&str, &str, &str); 5] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../explorer/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../explorer/app.js"),
    ),
    (
        "proof.js",
        "text/javascript; charset=utf-8",
        include_str!("../explorer/proof.js"),
    ),
    (
        "ed25519.js",
        "text/javascript; charset=utf-8",
        include_str!("../explorer/ed25519.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../explorer/style.css"),
    ),
];

fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                // The page may only load its own files and call its own origin.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; style-src 'self'; img-src 'self' data:",
                ),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => super::ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("the explorer has no file {name:?}"),
        }
        .into_response(),
    }
}

pub(super) async fn index() -> Response {
    file("index.html")
}

pub(super) async fn asset(Path(name): Path<String>) -> Response {
    file(&name)
}

//! The routes' handlers: parse and check, call what the CLI calls, answer JSON.

use super::meter::Returned;
use super::{ApiError, MAX_BODY, ServeOptions, Shared, query_error};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use masa_index::SearchQuery;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Which dataset a request is about: `?dataset=` names one of the served locations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DatasetParam {
    dataset: Option<String>,
}

pub(super) fn dataset<'a>(o: &'a ServeOptions, name: Option<&str>) -> Result<&'a str, ApiError> {
    match name {
        None => Ok(&o.datasets[0]),
        Some(n) => o
            .datasets
            .iter()
            .find(|d| d.as_str() == n)
            .map(String::as_str)
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "dataset {n:?} is not served here (served: {})",
                    o.datasets.join(", ")
                ))
            }),
    }
}

pub(super) async fn ready(State(o): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    let mut versions = serde_json::Map::new();
    for d in &o.datasets {
        let views = o.views(d);
        let view = views.current().await?;
        versions.insert(
            d.clone(),
            serde_json::json!({
                "table_version": view.version,
                "following_error": views.following_error(),
            }),
        );
    }
    Ok(Json(serde_json::json!({ "datasets": versions })))
}

/// The parameters of `GET /v1/search`.
#[derive(Debug, Deserialize)]
pub(super) struct SearchParams {
    /// Query text in tantivy's syntax.
    pub(super) q: String,
    limit: Option<usize>,
    /// The `next_cursor` of the page before: the next page of the same search, at the same
    /// table version.
    cursor: Option<String>,
    /// `score` (the default), `newest` or `oldest`.
    sort: Option<String>,
    #[serde(flatten)]
    pub(super) filters: Filters,
    /// Also count all matches by lang, source, contributor and licence.
    facets: Option<bool>,
    pub(super) dataset: Option<String>,
}

/// The filters of a search or an export.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filters {
    contributor: Option<String>,
    source: Option<String>,
    lang: Option<String>,
    licence: Option<String>,
    #[serde(default, deserialize_with = "number_in_text")]
    min_quality: Option<f64>,
    /// Microseconds since the Unix epoch.
    #[serde(default, deserialize_with = "number_in_text")]
    since_micros: Option<i64>,
    #[serde(default, deserialize_with = "number_in_text")]
    until_micros: Option<i64>,
}

/// A number given as a JSON number or as text (a query string's values are all text, and
/// `#[serde(flatten)]` hands them over as such).
fn number_in_text<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr + serde::Deserialize<'de>,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText<T> {
        Num(T),
        Text(String),
    }
    match Option::<NumOrText<T>>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrText::Num(n)) => Ok(Some(n)),
        Some(NumOrText::Text(t)) => t
            .parse()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("{t:?} is not a number: {e}"))),
    }
}

impl Filters {
    /// Checks the filters and makes them a query of `text`.
    pub(super) fn query(self, text: String) -> Result<SearchQuery, ApiError> {
        if text.trim().is_empty() {
            return Err(ApiError::bad("q (the query text) is empty"));
        }
        if let Some(l) = &self.lang
            && !(l.len() == 3 && l.bytes().all(|b| b.is_ascii_lowercase()))
        {
            return Err(ApiError::bad(format!(
                "lang {l:?} is not an ISO 639-3 code (eng, deu, fra, ...)"
            )));
        }
        if let Some(q) = self.min_quality
            && !(0.0..=1.0).contains(&q)
        {
            return Err(ApiError::bad(format!(
                "min_quality {q} is out of range (0 to 1)"
            )));
        }
        if let (Some(a), Some(b)) = (self.since_micros, self.until_micros)
            && a >= b
        {
            return Err(ApiError::bad(format!(
                "since_micros {a} is not before until_micros {b}"
            )));
        }
        Ok(SearchQuery {
            text,
            contributor: self.contributor,
            source: self.source,
            lang: self.lang,
            licence: self.licence,
            min_quality: self.min_quality,
            since_micros: self.since_micros,
            until_micros: self.until_micros,
            ..SearchQuery::default()
        })
    }
}

/// The body of `POST /v1/search`: the same fields but `dataset`, which stays in the query
/// string (where the key's datasets are checked).
#[derive(Debug, Deserialize)]
pub(super) struct SearchBody {
    q: String,
    limit: Option<usize>,
    cursor: Option<String>,
    sort: Option<String>,
    #[serde(flatten)]
    filters: Filters,
    facets: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct SearchAnswer {
    hits: Vec<masa_index::Hit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    facets: Option<masa_index::Facets>,
    /// The table version searched (every page of a cursor's search has the same).
    table_version: Option<i64>,
    /// The next page of this search; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
    took_micros: u128,
}

pub(super) async fn search_get(
    State(o): State<Shared>,
    names: Result<Query<Vec<(String, String)>>, QueryRejection>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(names) = names.map_err(query_error)?;
    unknown_fields(
        names.iter().map(|(k, _)| k.as_str()),
        &SEARCH_FIELDS,
        &[&FILTER_FIELDS[..], &["dataset"]].concat(),
    )?;
    let Query(p) = params.map_err(query_error)?;
    search(&o, p).await
}

pub(super) async fn search_post(
    State(o): State<Shared>,
    params: Result<Query<DatasetParam>, QueryRejection>,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Query(d) = params.map_err(query_error)?;
    // Every body that is not the JSON asked for is bad input: 400, whatever axum's own
    // status (413 for a body over the limit, 415, 422) would be.
    let Json(b) = body.map_err(|e| {
        ApiError::bad(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            format!("bad request body: over the limit of {MAX_BODY} bytes")
        } else {
            format!("bad request body: {}", e.body_text())
        })
    })?;
    let serde_json::Value::Object(fields) = &b else {
        return Err(ApiError::bad("bad request body: not a JSON object"));
    };
    unknown_fields(
        fields.keys().map(String::as_str),
        &SEARCH_FIELDS,
        &FILTER_FIELDS,
    )?;
    let b: SearchBody =
        serde_json::from_value(b).map_err(|e| ApiError::bad(format!("bad request body: {e}")))?;
    let p = SearchParams {
        q: b.q,
        limit: b.limit,
        cursor: b.cursor,
        sort: b.sort,
        filters: b.filters,
        facets: b.facets,
        dataset: d.dataset,
    };
    search(&o, p).await
}

/// The fields of a search besides its filters (its query string also takes `dataset`).
/// `#[serde(flatten)]` cannot be combined with `deny_unknown_fields`, so unknown fields
/// are refused here, by name.
pub(super) const SEARCH_FIELDS: [&str; 5] = ["q", "limit", "cursor", "sort", "facets"];

/// The fields of [`Filters`], which a search and an export share.
pub(super) const FILTER_FIELDS: [&str; 7] = [
    "contributor",
    "source",
    "lang",
    "licence",
    "min_quality",
    "since_micros",
    "until_micros",
];

/// 400 naming the first of `given` that is not `known` (nor `also`).
pub(super) fn unknown_fields<'a>(
    given: impl IntoIterator<Item = &'a str>,
    known: &[&str],
    also: &[&str],
) -> Result<(), ApiError> {
    match given
        .into_iter()
        .find(|k| !known.contains(k) && !also.contains(k))
    {
        None => Ok(()),
        Some(k) => Err(ApiError::bad(format!(
            "unknown field `{k}` (fields: {})",
            known
                .iter()
                .chain(also)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A search's filters and sort, hashed: a cursor is only good for the search that made it.
fn fingerprint(q: &SearchQuery) -> String {
    use sha2::Digest;
    let canonical = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        q.text,
        q.sort,
        q.contributor,
        q.source,
        q.lang,
        q.licence,
        q.min_quality,
        q.since_micros,
        q.until_micros
    );
    hex::encode(&sha2::Sha256::digest(canonical.as_bytes())[..8])
}

/// The deepest a cursor pages; past it, `/v1/export` streams every match.
const MAX_OFFSET: usize = 10_000;

/// A page's place: the table version, the hits already returned, and the search's
/// fingerprint. Opaque to clients (base64 of `version.offset.fingerprint`).
struct Cursor {
    version: Option<i64>,
    offset: usize,
    fingerprint: String,
}

impl Cursor {
    fn encode(&self) -> String {
        use base64::Engine;
        let v = self
            .version
            .map_or_else(|| "-".to_owned(), |v| v.to_string());
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{v}.{}.{}", self.offset, self.fingerprint))
    }

    fn decode(s: &str) -> Result<Cursor, ApiError> {
        use base64::Engine;
        let bad = || ApiError::bad(format!("cursor {s:?} is not a cursor this service made"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.split('.');
        let (Some(v), Some(o), Some(f), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let version = match v {
            "-" => None,
            v => Some(v.parse().map_err(|_| bad())?),
        };
        let offset = o.parse().map_err(|_| bad())?;
        if f.len() != 16 || !f.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Cursor {
            version,
            offset,
            fingerprint: f.to_owned(),
        })
    }
}

fn sort_of(s: Option<&str>) -> Result<masa_index::Sort, ApiError> {
    match s {
        None | Some("score") => Ok(masa_index::Sort::Score),
        Some("newest") => Ok(masa_index::Sort::Newest),
        Some("oldest") => Ok(masa_index::Sort::Oldest),
        Some(other) => Err(ApiError::bad(format!(
            "sort {other:?} is not one of score, newest, oldest"
        ))),
    }
}

async fn search(o: &Shared, p: SearchParams) -> Result<Response, ApiError> {
    let started = Instant::now();
    let limit = p.limit.unwrap_or(10);
    if limit == 0 || limit > o.max_limit {
        return Err(ApiError::bad(format!(
            "limit {limit} is out of range (1 to {})",
            o.max_limit
        )));
    }
    let mut query = p.filters.query(p.q)?;
    query.limit = limit;
    query.sort = sort_of(p.sort.as_deref())?;
    let fp = fingerprint(&query);
    let location = dataset(o, p.dataset.as_deref())?;
    let views = o.views(location);
    let view = match p.cursor.as_deref() {
        None => views.current().await?,
        Some(c) => {
            let c = Cursor::decode(c)?;
            if c.fingerprint != fp {
                return Err(ApiError::bad(
                    "the cursor belongs to another search: page with the same q, filters and sort",
                ));
            }
            query.offset = c.offset;
            views.at(c.version).ok_or_else(|| ApiError {
                status: StatusCode::GONE,
                message: format!(
                    "the cursor's table version is no longer kept (versions stay open {} s after their last use): search again",
                    o.cursor_ttl.as_secs()
                ),
            })?
        }
    };
    if query.offset + limit > MAX_OFFSET {
        return Err(ApiError::bad(format!(
            "pages end at {MAX_OFFSET} hits: /v1/export streams every match"
        )));
    }
    let facets = p.facets.unwrap_or(false);
    let (hits, facets, view) = {
        let query = query.clone();
        tokio::task::spawn_blocking(move || {
            view.search_faceted(&query, facets)
                .map(|(h, f)| (h, f, view))
        })
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("search task failed: {e}"),
        })??
    };
    let secs = started.elapsed().as_secs_f64();
    o.metrics
        .record(|| metrics::histogram!("masa_search_duration_seconds").record(secs));
    let next_offset = query.offset + hits.len();
    let next_cursor = (hits.len() == limit && next_offset < MAX_OFFSET).then(|| {
        Cursor {
            version: view.version,
            offset: next_offset,
            fingerprint: fp,
        }
        .encode()
    });
    let returned = Returned(hits.len() as u64);
    let mut r = Json(SearchAnswer {
        hits,
        facets,
        table_version: view.version,
        next_cursor,
        took_micros: started.elapsed().as_micros(),
    })
    .into_response();
    r.extensions_mut().insert(returned);
    Ok(r)
}

/// `GET /v1/records/{id}`: the record (text, metadata, quality, consent evidence) and its
/// inclusion proof, as `masa proof` writes it (and `masa verify-proof` checks it).
pub(super) async fn record(
    State(o): State<Shared>,
    Path(record_id): Path<String>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    if record_id.is_empty()
        || !record_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ApiError::bad(format!("{record_id:?} is not a record id")));
    }
    let location = dataset(&o, p.dataset.as_deref())?;
    let (proof, record) = masa_workflows::prove_record(location, &o.storage, &record_id).await?;
    let mut r = Json(serde_json::json!({ "record": record, "proof": proof })).into_response();
    r.extensions_mut().insert(Returned(1));
    Ok(r)
}

pub(super) async fn stats(
    State(o): State<Shared>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Json<masa_workflows::DatasetStats>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let location = dataset(&o, p.dataset.as_deref())?;
    Ok(Json(
        masa_workflows::dataset_stats(location, &o.storage).await?,
    ))
}

/// `GET /v1/log/checkpoint`: the log's latest signed checkpoint, the note verbatim.
pub(super) async fn checkpoint(
    State(o): State<Shared>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let location = dataset(&o, p.dataset.as_deref())?;
    let info = masa_workflows::log_checkpoint(location, &o.storage).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        info.note,
    )
        .into_response())
}

/// `GET /v1/log/tile/...`: the log's tiles and entry bundles at their C2SP tlog-tiles
/// paths, so any tlog client can mirror the log from the service. Full tiles never change
/// and may be cached for good; partial ones (`.p/<W>`) are replaced as the log grows.
pub(super) async fn tile(
    State(o): State<Shared>,
    Path(path): Path<String>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let location = dataset(&o, p.dataset.as_deref())?;
    let path = format!("tile/{path}");
    let bytes = masa_workflows::log_tile(location, &o.storage, &path).await?;
    let cache = if path.contains(".p/") {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /v1/contributors/{key}`: records and bytes in the dataset, rewards by epoch,
/// balance and stake.
pub(super) async fn contributor(
    State(o): State<Shared>,
    Path(key): Path<String>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Json<masa_workflows::ContributorView>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad(format!(
            "{key:?} is not a contributor key (64 hex characters)"
        )));
    }
    let location = dataset(&o, p.dataset.as_deref())?;
    Ok(Json(
        masa_workflows::contributor_view(location, &o.storage, &key.to_ascii_lowercase()).await?,
    ))
}

/// `GET /v1/epochs/{n}`: an epoch's result as the reward loop's fold gives it.
pub(super) async fn epoch(
    State(o): State<Shared>,
    Path(n): Path<String>,
    params: Result<Query<DatasetParam>, QueryRejection>,
) -> Result<Json<masa_workflows::RewardsView>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let n: u64 = n
        .parse()
        .map_err(|_| ApiError::bad(format!("{n:?} is not an epoch number")))?;
    let location = dataset(&o, p.dataset.as_deref())?;
    let state = masa_workflows::state_at(location, &o.storage, None).await?;
    Ok(Json(masa_workflows::rewards_view(&state, Some(n))?))
}

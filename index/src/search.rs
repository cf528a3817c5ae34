//! Searching across splits: one combined tantivy index over every split's segments.

use crate::schema::{Fields, fields_of};
use crate::{INDEX_SCHEMA_VERSION, IndexError, SplitMeta, io_err};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::{AggContextParams, AggregationCollector};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DateTime, Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

/// A search request.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Query text in tantivy's syntax (`tokio runtime`, `"exact phrase"`, `title:rust`);
    /// syntax errors are forgiven, not fatal.
    pub text: String,
    pub limit: usize,
    pub contributor: Option<String>,
    pub source: Option<String>,
    pub lang: Option<String>,
    /// Only records fetched at or after / before this time (µs since the epoch).
    pub since_micros: Option<i64>,
    pub until_micros: Option<i64>,
}

/// One ranked hit, with what links it back to its Parquet row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub score: f32,
    pub record_id: String,
    pub batch_id: String,
    pub row_in_batch: u64,
    pub title: Option<String>,
    pub uri: String,
    pub contributor: String,
    pub source: String,
    pub lang: Option<String>,
    pub fetched_at_micros: i64,
    pub snippet: String,
    /// Byte ranges of `snippet` that matched the query.
    pub highlights: Vec<(usize, usize)>,
}

/// A searchable view over a set of splits whose files are in one local folder.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens `splits`, whose files must already be in `dir`, as one index. Writes the
    /// combined `meta.json` into `dir`. Returns `None` when there is nothing to search.
    pub fn open(dir: &Path, splits: &[SplitMeta]) -> Result<Option<Self>, IndexError> {
        let splits: Vec<&SplitMeta> = splits
            .iter()
            .filter(|s| s.schema_version == INDEX_SCHEMA_VERSION && s.num_docs > 0)
            .collect();
        let Some(first) = splits.first() else {
            return Ok(None);
        };
        let mut meta = first.tantivy_meta.clone();
        let mut segments = Vec::new();
        let mut opstamp = 0u64;
        for s in &splits {
            let segs = s
                .tantivy_meta
                .get("segments")
                .and_then(|v| v.as_array())
                .ok_or_else(|| IndexError::BadSplit {
                    split: s.split_id.clone(),
                    reason: "meta has no segment list".into(),
                })?;
            segments.extend(segs.iter().cloned());
            opstamp = opstamp.max(
                s.tantivy_meta
                    .get("opstamp")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0),
            );
        }
        meta["segments"] = serde_json::Value::Array(segments);
        meta["opstamp"] = opstamp.into();
        // Write-then-rename so a concurrent search never reads half a meta.json.
        let tmp = dir.join(format!("meta.json.{}.tmp", std::process::id()));
        let bytes = serde_json::to_vec(&meta).expect("json value serializes");
        std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
        let final_path = dir.join("meta.json");
        std::fs::rename(&tmp, &final_path).map_err(io_err(&final_path))?;

        let index = Index::open_in_dir(dir)?;
        let fields = fields_of(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Some(SearchIndex {
            index,
            reader,
            fields,
        }))
    }

    /// Number of documents across all splits.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn search(&self, q: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
        Ok(self.search_faceted(q, false)?.0)
    }

    /// [`SearchIndex::search`], and with `facets` also the counts of all matching
    /// documents (not only the hits returned) by each value of [`FACET_FIELDS`], highest
    /// first, at most [`FACET_VALUES`] values a field.
    pub fn search_faceted(
        &self,
        q: &SearchQuery,
        facets: bool,
    ) -> Result<(Vec<Hit>, Option<Facets>), IndexError> {
        let f = self.fields;
        let searcher = self.reader.searcher();
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.text]);
        parser.set_field_boost(f.title, 2.0);
        let (text_query, _errors) = parser.parse_query_lenient(&q.text);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text_query.box_clone())];
        for (field, value) in [
            (f.contributor, &q.contributor),
            (f.source, &q.source),
            (f.lang, &q.lang),
        ] {
            if let Some(v) = value {
                clauses.push((
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, v),
                        IndexRecordOption::Basic,
                    )),
                ));
            }
        }
        if q.since_micros.is_some() || q.until_micros.is_some() {
            let bound = |m: Option<i64>, incl: bool| match m {
                None => Bound::Unbounded,
                Some(m) => {
                    let t = Term::from_field_date_for_search(
                        f.fetched_at,
                        DateTime::from_timestamp_micros(m),
                    );
                    if incl {
                        Bound::Included(t)
                    } else {
                        Bound::Excluded(t)
                    }
                }
            };
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(q.since_micros, true),
                    bound(q.until_micros, false),
                )),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let top_docs = TopDocs::with_limit(q.limit.max(1)).order_by_score();
        let (top, counted) = if facets {
            let (top, aggs) = searcher.search(
                &query,
                &(
                    top_docs,
                    AggregationCollector::from_aggs(facet_request(), AggContextParams::default()),
                ),
            )?;
            (top, Some(facet_counts(&aggs)))
        } else {
            (searcher.search(&query, &top_docs)?, None)
        };
        let mut snippets = SnippetGenerator::create(&searcher, &*text_query, f.text)?;
        snippets.set_max_num_chars(240);
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let text_of = |field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let snippet = snippets.snippet_from_doc(&doc);
            let (fragment, highlights) = if snippet.fragment().is_empty() {
                // No query term in the text (e.g. a title-only match): show its beginning.
                let text = text_of(f.text).unwrap_or_default();
                (text[..text.floor_char_boundary(240)].to_owned(), vec![])
            } else {
                (
                    snippet.fragment().to_owned(),
                    snippet
                        .highlighted()
                        .iter()
                        .map(|r| (r.start, r.end))
                        .collect(),
                )
            };
            hits.push(Hit {
                score,
                record_id: text_of(f.record_id).unwrap_or_default(),
                batch_id: text_of(f.batch_id).unwrap_or_default(),
                row_in_batch: doc
                    .get_first(f.row_in_batch)
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0),
                title: text_of(f.title),
                uri: text_of(f.uri).unwrap_or_default(),
                contributor: text_of(f.contributor).unwrap_or_default(),
                source: text_of(f.source).unwrap_or_default(),
                lang: text_of(f.lang),
                fetched_at_micros: doc
                    .get_first(f.fetched_at)
                    .and_then(|v| v.as_datetime())
                    .map(|d| d.into_timestamp_micros())
                    .unwrap_or(0),
                snippet: fragment,
                highlights,
            });
        }
        Ok((hits, counted))
    }
}

/// The fields a search can count its matches by.
pub const FACET_FIELDS: [&str; 3] = ["lang", "source", "contributor"];
/// The most values counted a field.
pub const FACET_VALUES: u32 = 50;

/// Counts of matching documents by field, then value (highest count first).
pub type Facets = BTreeMap<String, Vec<FacetCount>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// A terms aggregation per facet field (tantivy's, over the fast fields).
fn facet_request() -> Aggregations {
    let req: serde_json::Map<String, serde_json::Value> = FACET_FIELDS
        .iter()
        .map(|f| {
            (
                (*f).to_owned(),
                serde_json::json!({ "terms": { "field": f, "size": FACET_VALUES } }),
            )
        })
        .collect();
    serde_json::from_value(serde_json::Value::Object(req)).expect("a valid terms aggregation")
}

fn facet_counts(aggs: &tantivy::aggregation::agg_result::AggregationResults) -> Facets {
    let v = serde_json::to_value(aggs).expect("aggregation results serialize");
    FACET_FIELDS
        .iter()
        .map(|f| {
            let buckets = v[*f]["buckets"].as_array().cloned().unwrap_or_default();
            let counts = buckets
                .iter()
                .filter_map(|b| {
                    Some(FacetCount {
                        value: b["key"].as_str()?.to_owned(),
                        count: b["doc_count"].as_u64()?,
                    })
                })
                .collect();
            ((*f).to_owned(), counts)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_split;
    use masa_record::{Consent, Record};

    fn rec(i: usize, title: &str, text: &str, contributor: &str, lang: &str, t: i64) -> Record {
        Record {
            record_id: format!("r{i}"),
            content_hash: masa_record::content_hash(text),
            source: "files".into(),
            uri: format!("file:///doc{i}"),
            fetched_at_micros: t,
            http_status: None,
            content_type: None,
            title: Some(title.into()),
            text: text.into(),
            lang: Some(lang.into()),
            lang_score: None,
            quality_score: None,
            quality_signals: None,
            licence: None,
            consent: Consent::declared("mine"),
            contributor: contributor.into(),
            batch_id: String::new(),
            row_in_batch: i as i64,
            near_dup_of: None,
        }
    }

    /// Builds each batch as its own split and opens them together, as search does.
    fn open(batches: &[Vec<Record>]) -> (tempfile::TempDir, Option<SearchIndex>) {
        let dir = tempfile::tempdir().unwrap();
        let mut metas = vec![];
        for (i, b) in batches.iter().enumerate() {
            let split = build_split(&format!("s{i}"), &format!("b{i}"), b).unwrap();
            for (name, bytes) in split.files {
                std::fs::write(dir.path().join(name), bytes).unwrap();
            }
            metas.push(split.meta);
        }
        let idx = SearchIndex::open(dir.path(), &metas).unwrap();
        (dir, idx)
    }

    fn q(text: &str) -> SearchQuery {
        SearchQuery {
            text: text.into(),
            limit: 10,
            ..Default::default()
        }
    }

    #[test]
    fn hits_come_from_every_split_ranked_by_bm25() {
        let (_d, idx) = open(&[
            vec![
                rec(
                    0,
                    "Notes",
                    "the tokio runtime schedules tasks",
                    "alice",
                    "eng",
                    1_000_000,
                ),
                rec(
                    1,
                    "Cooking",
                    "a recipe for bread",
                    "alice",
                    "eng",
                    2_000_000,
                ),
            ],
            vec![rec(
                2,
                "Async",
                "runtime runtime runtime of tokio tokio",
                "bob",
                "eng",
                3_000_000,
            )],
        ]);
        let idx = idx.unwrap();
        assert_eq!(idx.num_docs(), 3);
        let hits = idx.search(&q("tokio runtime")).unwrap();
        let ids: Vec<&str> = hits.iter().map(|h| h.record_id.as_str()).collect();
        // r2 repeats both terms, so BM25 ranks it first.
        assert_eq!(ids, ["r2", "r0"]);
        let h2 = hits.iter().find(|h| h.record_id == "r2").unwrap();
        assert_eq!((h2.batch_id.as_str(), h2.row_in_batch), ("b1", 2));
        assert!(h2.snippet.contains("tokio"));
        assert!(!h2.highlights.is_empty());
    }

    #[test]
    fn scores_across_splits_equal_scores_of_one_index_over_all_documents() {
        let docs: Vec<Record> = (0..6)
            .map(|i| {
                let text = format!(
                    "alpha {} beta {}",
                    "gamma ".repeat(i),
                    "alpha ".repeat(i % 3)
                );
                rec(i, "t", &text, "c", "eng", 0)
            })
            .collect();
        let (_d1, split) = open(&[docs[..2].to_vec(), docs[2..].to_vec()]);
        let (_d2, single) = open(std::slice::from_ref(&docs));
        let scores = |idx: &SearchIndex| -> Vec<(String, f32)> {
            let mut v: Vec<(String, f32)> = idx
                .search(&q("alpha gamma"))
                .unwrap()
                .into_iter()
                .map(|h| (h.record_id, h.score))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let (a, b) = (scores(&split.unwrap()), scores(&single.unwrap()));
        assert_eq!(a.len(), 6);
        for ((ida, sa), (idb, sb)) in a.iter().zip(&b) {
            assert_eq!(ida, idb);
            assert!(
                (sa - sb).abs() < 1e-4,
                "{ida}: {sa} across splits vs {sb} in one index"
            );
        }
    }

    #[test]
    fn filters_narrow_the_hits() {
        let (_d, idx) = open(&[vec![
            rec(0, "a", "shared words here", "alice", "eng", 1_000_000),
            rec(1, "b", "shared words here too", "bob", "deu", 5_000_000),
        ]]);
        let idx = idx.unwrap();
        let ids = |sq: SearchQuery| -> Vec<String> {
            idx.search(&sq)
                .unwrap()
                .into_iter()
                .map(|h| h.record_id)
                .collect()
        };
        assert_eq!(
            ids(SearchQuery {
                contributor: Some("bob".into()),
                ..q("shared")
            }),
            ["r1"]
        );
        assert_eq!(
            ids(SearchQuery {
                lang: Some("eng".into()),
                ..q("shared")
            }),
            ["r0"]
        );
        assert_eq!(
            ids(SearchQuery {
                source: Some("web".into()),
                ..q("shared")
            }),
            Vec::<String>::new()
        );
        assert_eq!(
            ids(SearchQuery {
                since_micros: Some(3_000_000),
                ..q("shared")
            }),
            ["r1"]
        );
        assert_eq!(
            ids(SearchQuery {
                until_micros: Some(3_000_000),
                ..q("shared")
            }),
            ["r0"]
        );
    }

    #[test]
    fn facets_count_every_match_across_splits_not_only_the_hits() {
        let (_d, idx) = open(&[
            vec![
                rec(0, "a", "common text one", "alice", "eng", 1),
                rec(1, "b", "common text two", "bob", "eng", 2),
                rec(2, "c", "unrelated words", "bob", "fra", 3),
            ],
            vec![
                rec(3, "d", "common text three", "bob", "deu", 4),
                rec(4, "e", "common text four", "bob", "eng", 5),
            ],
        ]);
        let idx = idx.unwrap();
        let (hits, facets) = idx
            .search_faceted(
                &SearchQuery {
                    limit: 1,
                    ..q("common")
                },
                true,
            )
            .unwrap();
        assert_eq!(hits.len(), 1);
        let f = facets.unwrap();
        let counts = |field: &str| -> Vec<(String, u64)> {
            f[field]
                .iter()
                .map(|c| (c.value.clone(), c.count))
                .collect()
        };
        assert_eq!(
            counts("lang"),
            [("eng".to_owned(), 3), ("deu".to_owned(), 1)]
        );
        assert_eq!(
            counts("contributor"),
            [("bob".to_owned(), 3), ("alice".to_owned(), 1)]
        );
        assert_eq!(counts("source"), [("files".to_owned(), 4)]);
        // Without the flag, no counting.
        assert!(idx.search_faceted(&q("common"), false).unwrap().1.is_none());
    }

    #[test]
    fn no_splits_means_nothing_to_search() {
        let (_d, idx) = open(&[]);
        assert!(idx.is_none());
    }

    #[test]
    fn malformed_query_syntax_is_forgiven() {
        let (_d, idx) = open(&[vec![rec(0, "t", "hello world", "a", "eng", 0)]]);
        let hits = idx.unwrap().search(&q("hello AND (")).unwrap();
        assert_eq!(hits.len(), 1);
    }
}

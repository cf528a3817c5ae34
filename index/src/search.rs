//! Searching across splits: one combined tantivy index over every split's segments.

use crate::schema::{Fields, fields_of};
use crate::{INDEX_SCHEMA_VERSION, IndexError, SplitMeta};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::{AggContextParams, AggregationCollector};
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, EnableScoring, Occur, Query, QueryParser, RangeQuery, TermQuery,
};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DateTime, DocAddress, DocSet, Index, IndexReader, Order, ReloadPolicy, TERMINATED,
    TantivyDocument, Term,
};

/// A search request.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Query text in tantivy's syntax (`tokio runtime`, `"exact phrase"`, `title:rust`);
    /// syntax errors are forgiven, not fatal.
    pub text: String,
    pub limit: usize,
    /// Hits skipped before the first returned (paging).
    pub offset: usize,
    pub sort: Sort,
    pub contributor: Option<String>,
    pub source: Option<String>,
    pub lang: Option<String>,
    pub licence: Option<String>,
    /// Only records whose quality score is at least this (compared in millionths).
    pub min_quality: Option<f64>,
    /// Only records fetched at or after / before this time (µs since the epoch).
    pub since_micros: Option<i64>,
    pub until_micros: Option<i64>,
}

/// The order of hits. Ties (equal scores or times) keep index order, so a page of a fixed
/// set of splits is always the same page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// BM25, best first.
    #[default]
    Score,
    /// Fetch time, newest first.
    Newest,
    /// Fetch time, oldest first.
    Oldest,
}

/// A record's fields as the index stores them: what links it back to its Parquet row, and
/// what a filter or facet reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stored {
    pub record_id: String,
    pub batch_id: String,
    pub row_in_batch: u64,
    pub title: Option<String>,
    pub uri: String,
    pub contributor: String,
    pub source: String,
    pub lang: Option<String>,
    pub licence: Option<String>,
    /// The quality score, to six decimal places.
    pub quality: Option<f64>,
    pub fetched_at_micros: i64,
}

/// One ranked hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// BM25 score; 0 when the hits are sorted by time.
    pub score: f32,
    #[serde(flatten)]
    pub doc: Stored,
    pub snippet: String,
    /// Byte ranges of `snippet` that matched the query.
    pub highlights: Vec<(usize, usize)>,
}

/// One matching record with its whole text, as an export gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    #[serde(flatten)]
    pub doc: Stored,
    pub text: String,
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
    /// Opens `splits`, whose files must already be in `dir`, as one index. The combined
    /// `meta.json` listing every split's segments is held in memory, not written: views of
    /// different split sets (a service's versions, a concurrent `masa search`) share the
    /// folder without racing on one file. Returns `None` when there is nothing to search.
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
        let files = tantivy::directory::MmapDirectory::open(dir).map_err(|e| IndexError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let directory = ViewDirectory {
            files,
            meta: std::sync::Arc::new(serde_json::to_vec(&meta).expect("json value serializes")),
        };
        let index = Index::open(directory)?;
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

    /// The tantivy index (for tools and benchmarks that query it directly).
    pub fn tantivy(&self) -> &Index {
        &self.index
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
        let (query, text_query) = self.query(q);
        let top = TopDocs::with_limit(q.limit.max(1)).and_offset(q.offset);
        let (top, counted): (Vec<(f32, DocAddress)>, _) = match q.sort {
            Sort::Score => collect(&searcher, &query, top.order_by_score(), facets)?,
            Sort::Newest | Sort::Oldest => {
                let order = if q.sort == Sort::Newest {
                    Order::Desc
                } else {
                    Order::Asc
                };
                let by_time = top.order_by_fast_field::<DateTime>("fetched_at", order);
                let (top, counted) = collect(&searcher, &query, by_time, facets)?;
                (top.into_iter().map(|(_, a)| (0.0, a)).collect(), counted)
            }
        };
        let mut snippets = SnippetGenerator::create(&searcher, &*text_query, f.text)?;
        snippets.set_max_num_chars(240);
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let snippet = snippets.snippet_from_doc(&doc);
            let (fragment, highlights) = if snippet.fragment().is_empty() {
                // No query term in the text (e.g. a title-only match): show its beginning.
                let text = text_of(&doc, f.text).unwrap_or_default();
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
                doc: self.stored(&doc),
                snippet: fragment,
                highlights,
            });
        }
        Ok((hits, counted))
    }

    /// Calls `each` with every record matching `q` (its filters included; its limit,
    /// offset and sort ignored), in index order, until `each` answers `false`. Memory stays
    /// flat in the number of matches: one record is read at a time.
    pub fn for_each_match(
        &self,
        q: &SearchQuery,
        mut each: impl FnMut(Match) -> bool,
    ) -> Result<(), IndexError> {
        let searcher = self.reader.searcher();
        let (query, _) = self.query(q);
        let weight = query.weight(EnableScoring::disabled_from_searcher(&searcher))?;
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let mut scorer = weight.scorer(segment, 1.0)?;
            let alive = segment.alive_bitset();
            let mut doc = scorer.doc();
            while doc != TERMINATED {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    let stored: TantivyDocument = searcher.doc(DocAddress::new(ord as u32, doc))?;
                    let m = Match {
                        doc: self.stored(&stored),
                        text: text_of(&stored, self.fields.text).unwrap_or_default(),
                    };
                    if !each(m) {
                        return Ok(());
                    }
                }
                doc = scorer.advance();
            }
        }
        Ok(())
    }

    /// The query of `q`: its text (lenient: syntax errors are forgiven) and every filter,
    /// and the text part alone (for snippets).
    fn query(&self, q: &SearchQuery) -> (BooleanQuery, Box<dyn Query>) {
        let f = self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.text]);
        parser.set_field_boost(f.title, 2.0);
        let (text_query, _errors) = parser.parse_query_lenient(&q.text);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text_query.box_clone())];
        for (field, value) in [
            (f.contributor, &q.contributor),
            (f.source, &q.source),
            (f.lang, &q.lang),
            (f.licence, &q.licence),
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
        if let Some(min) = q.min_quality {
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_u64(f.quality, millionths(min))),
                    Bound::Unbounded,
                )),
            ));
        }
        if q.since_micros.is_some() || q.until_micros.is_some() {
            let bound = |m: Option<i64>, incl: bool| match m {
                None => Bound::Unbounded,
                Some(m) => {
                    // Untruncated: the range runs on the fast field, kept to the
                    // microsecond (`_for_search` would cut the bound to the second of the
                    // inverted index).
                    let t = Term::from_field_date(f.fetched_at, DateTime::from_timestamp_micros(m));
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
        (BooleanQuery::new(clauses), text_query)
    }

    fn stored(&self, doc: &TantivyDocument) -> Stored {
        let f = self.fields;
        Stored {
            record_id: text_of(doc, f.record_id).unwrap_or_default(),
            batch_id: text_of(doc, f.batch_id).unwrap_or_default(),
            row_in_batch: doc
                .get_first(f.row_in_batch)
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
            title: text_of(doc, f.title),
            uri: text_of(doc, f.uri).unwrap_or_default(),
            contributor: text_of(doc, f.contributor).unwrap_or_default(),
            source: text_of(doc, f.source).unwrap_or_default(),
            lang: text_of(doc, f.lang),
            licence: text_of(doc, f.licence),
            quality: doc
                .get_first(f.quality)
                .and_then(|v| v.as_u64())
                .map(|m| m as f64 / 1e6),
            fetched_at_micros: doc
                .get_first(f.fetched_at)
                .and_then(|v| v.as_datetime())
                .map(|d| d.into_timestamp_micros())
                .unwrap_or(0),
        }
    }
}

/// A quality score as the index keeps it: in millionths, rounded (scores are in 0..=1;
/// anything outside is clamped).
pub(crate) fn millionths(score: f64) -> u64 {
    (score.clamp(0.0, 1.0) * 1e6).round() as u64
}

fn text_of(doc: &TantivyDocument, field: tantivy::schema::Field) -> Option<String> {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// Ranked documents with their sort keys, and the facet counts when asked for.
type Ranked<K> = (Vec<(K, DocAddress)>, Option<Facets>);

/// Runs `top` over `query`, with the facet aggregation beside it when asked.
fn collect<K, C>(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    top: C,
    facets: bool,
) -> Result<Ranked<K>, IndexError>
where
    C: tantivy::collector::Collector<Fruit = Vec<(K, DocAddress)>>,
{
    if facets {
        let aggs = AggregationCollector::from_aggs(facet_request(), AggContextParams::default());
        let (top, aggs) = searcher.search(query, &(top, aggs))?;
        Ok((top, Some(facet_counts(&aggs))))
    } else {
        Ok((searcher.search(query, &top)?, None))
    }
}

/// A split cache folder whose `meta.json` is the one of a view, held in memory; every other
/// file is the folder's.
#[derive(Clone, Debug)]
struct ViewDirectory {
    files: tantivy::directory::MmapDirectory,
    meta: std::sync::Arc<Vec<u8>>,
}

impl ViewDirectory {
    fn is_meta(path: &Path) -> bool {
        path == Path::new("meta.json")
    }
}

impl tantivy::Directory for ViewDirectory {
    fn get_file_handle(
        &self,
        path: &Path,
    ) -> Result<
        std::sync::Arc<dyn tantivy::directory::FileHandle>,
        tantivy::directory::error::OpenReadError,
    > {
        self.files.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), tantivy::directory::error::DeleteError> {
        self.files.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, tantivy::directory::error::OpenReadError> {
        Ok(Self::is_meta(path) || self.files.exists(path)?)
    }

    fn open_write(
        &self,
        path: &Path,
    ) -> Result<tantivy::directory::WritePtr, tantivy::directory::error::OpenWriteError> {
        self.files.open_write(path)
    }

    fn atomic_read(
        &self,
        path: &Path,
    ) -> Result<Vec<u8>, tantivy::directory::error::OpenReadError> {
        if Self::is_meta(path) {
            return Ok(self.meta.as_ref().clone());
        }
        self.files.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        if Self::is_meta(path) {
            return Err(std::io::Error::other(
                "a search view does not write meta.json",
            ));
        }
        self.files.atomic_write(path, data)
    }

    fn sync_directory(&self) -> std::io::Result<()> {
        self.files.sync_directory()
    }

    /// The folder's own locks (file locks that other processes see, on lock files that
    /// stay), not the trait's default of creating a lock file exclusively, which a lock
    /// file left by any earlier open would block for good.
    fn acquire_lock(
        &self,
        lock: &tantivy::directory::Lock,
    ) -> Result<tantivy::directory::DirectoryLock, tantivy::directory::error::LockError> {
        self.files.acquire_lock(lock)
    }

    fn watch(
        &self,
        watch_callback: tantivy::directory::WatchCallback,
    ) -> tantivy::Result<tantivy::directory::WatchHandle> {
        self.files.watch(watch_callback)
    }
}

/// The fields a search can count its matches by.
pub const FACET_FIELDS: [&str; 4] = ["lang", "source", "contributor", "licence"];
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
        let ids: Vec<&str> = hits.iter().map(|h| h.doc.record_id.as_str()).collect();
        // r2 repeats both terms, so BM25 ranks it first.
        assert_eq!(ids, ["r2", "r0"]);
        let h2 = hits.iter().find(|h| h.doc.record_id == "r2").unwrap();
        assert_eq!((h2.doc.batch_id.as_str(), h2.doc.row_in_batch), ("b1", 2));
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
                .map(|h| (h.doc.record_id, h.score))
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
                .map(|h| h.doc.record_id)
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
    fn licence_and_quality_filter_and_licence_is_counted() {
        let mut docs: Vec<Record> = (0..4)
            .map(|i| rec(i, "t", "open words", "c", "eng", i as i64))
            .collect();
        for (i, (lic, q)) in [("CC-BY-4.0", 0.9), ("CC0-1.0", 0.4), ("CC-BY-4.0", 0.2)]
            .into_iter()
            .enumerate()
        {
            docs[i].licence = Some(lic.into());
            docs[i].quality_score = Some(q);
        }
        let (_d, idx) = open(&[docs]);
        let idx = idx.unwrap();
        let ids = |sq: SearchQuery| -> Vec<String> {
            let mut v: Vec<String> = idx
                .search(&sq)
                .unwrap()
                .into_iter()
                .map(|h| h.doc.record_id)
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            ids(SearchQuery {
                licence: Some("CC-BY-4.0".into()),
                ..q("open")
            }),
            ["r0", "r2"]
        );
        // A record without a score never passes a quality floor.
        assert_eq!(
            ids(SearchQuery {
                min_quality: Some(0.4),
                ..q("open")
            }),
            ["r0", "r1"]
        );
        let (hits, facets) = idx.search_faceted(&q("open"), true).unwrap();
        let h0 = hits.iter().find(|h| h.doc.record_id == "r0").unwrap();
        assert_eq!(h0.doc.licence.as_deref(), Some("CC-BY-4.0"));
        assert_eq!(h0.doc.quality, Some(0.9));
        let lic: Vec<(String, u64)> = facets.unwrap()["licence"]
            .iter()
            .map(|c| (c.value.clone(), c.count))
            .collect();
        assert_eq!(
            lic,
            [("CC-BY-4.0".to_owned(), 2), ("CC0-1.0".to_owned(), 1)]
        );
    }

    #[test]
    fn a_quality_floor_equal_to_a_score_keeps_that_score() {
        let mut docs: Vec<Record> = (0..4)
            .map(|i| rec(i, "t", "open words", "c", "eng", i as i64))
            .collect();
        for (i, d) in docs.iter_mut().enumerate() {
            d.quality_score = Some(if i == 0 {
                0.8846153846153846
            } else {
                12.0 / 13.0
            });
        }
        // Distinct scores in one segment: the case tantivy's f64 fast-field range got
        // wrong at its lower bound.
        let (_d, idx) = open(&[docs]);
        let idx = idx.unwrap();
        let n = idx
            .search(&SearchQuery {
                min_quality: Some(12.0 / 13.0),
                ..q("open")
            })
            .unwrap()
            .len();
        let m = idx
            .search(&SearchQuery {
                min_quality: Some(0.5),
                ..q("open")
            })
            .unwrap()
            .len();
        assert_eq!((n, m), (3, 4));
    }

    #[test]
    fn pages_by_offset_cover_every_hit_once_in_each_sort() {
        let docs: Vec<Record> = (0..7)
            .map(|i| {
                let text = format!("page {}", "word ".repeat(i % 3));
                // Fetch times out of record order, some equal.
                rec(
                    i,
                    "t",
                    &text,
                    "c",
                    "eng",
                    ((i * 5) % 7 / 2) as i64 * 1_000_000,
                )
            })
            .collect();
        let (_d, idx) = open(&[docs[..3].to_vec(), docs[3..].to_vec()]);
        let idx = idx.unwrap();
        for sort in [Sort::Score, Sort::Newest, Sort::Oldest] {
            let all = idx
                .search(&SearchQuery {
                    limit: 100,
                    sort,
                    ..q("page")
                })
                .unwrap();
            assert_eq!(all.len(), 7);
            let mut paged = Vec::new();
            for offset in (0..7).step_by(3) {
                paged.extend(
                    idx.search(&SearchQuery {
                        limit: 3,
                        offset,
                        sort,
                        ..q("page")
                    })
                    .unwrap(),
                );
            }
            assert_eq!(paged, all, "{sort:?}");
            let times: Vec<i64> = all.iter().map(|h| h.doc.fetched_at_micros).collect();
            match sort {
                Sort::Newest => assert!(times.is_sorted_by(|a, b| a >= b), "{times:?}"),
                Sort::Oldest => assert!(times.is_sorted(), "{times:?}"),
                Sort::Score => {
                    assert!(all.is_sorted_by(|a, b| a.score >= b.score));
                }
            }
        }
    }

    #[test]
    fn every_match_is_visited_once_with_its_text_and_filters_hold() {
        let docs: Vec<Record> = (0..50)
            .map(|i| {
                let lang = if i % 5 == 0 { "deu" } else { "eng" };
                rec(i, "t", &format!("export body {i}"), "c", lang, 0)
            })
            .collect();
        let (_d, idx) = open(&[docs[..20].to_vec(), docs[20..].to_vec()]);
        let idx = idx.unwrap();
        let mut seen = Vec::new();
        idx.for_each_match(
            &SearchQuery {
                lang: Some("eng".into()),
                limit: 1,
                ..q("export")
            },
            |m| {
                assert_eq!(m.text, format!("export body {}", &m.doc.record_id[1..]));
                seen.push(m.doc.record_id);
                true
            },
        )
        .unwrap();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 40, "the limit does not cap an export");
        let mut n = 0;
        idx.for_each_match(&q("export"), |_| {
            n += 1;
            n < 7
        })
        .unwrap();
        assert_eq!(n, 7, "stops when asked");
    }

    #[test]
    fn views_of_different_splits_share_one_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut metas = vec![];
        for i in 0..2 {
            let docs = vec![rec(i, "t", "shared folder words", "c", "eng", 0)];
            let split = build_split(&format!("s{i}"), &format!("b{i}"), &docs).unwrap();
            for (name, bytes) in split.files {
                std::fs::write(dir.path().join(name), bytes).unwrap();
            }
            metas.push(split.meta);
        }
        // A lock file as tantivy's own folder access leaves it (a `masa search` of an
        // earlier version did) does not stop a view from opening.
        std::fs::write(dir.path().join(".tantivy-meta.lock"), b"").unwrap();
        // Opened one after the other, each keeps its own split set: nothing is written
        // to the folder that the next one would read.
        let first = SearchIndex::open(dir.path(), &metas[..1]).unwrap().unwrap();
        let both = SearchIndex::open(dir.path(), &metas).unwrap().unwrap();
        let second = SearchIndex::open(dir.path(), &metas[1..]).unwrap().unwrap();
        assert!(!dir.path().join("meta.json").exists());
        let ids = |idx: &SearchIndex| -> Vec<String> {
            let mut v: Vec<String> = idx
                .search(&q("shared"))
                .unwrap()
                .into_iter()
                .map(|h| h.doc.record_id)
                .collect();
            v.sort();
            v
        };
        assert_eq!(ids(&first), ["r0"]);
        assert_eq!(ids(&second), ["r1"]);
        assert_eq!(ids(&both), ["r0", "r1"]);
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

//! The record and its versioned Arrow schema, with conversions to and from `RecordBatch`.

use crate::{Consent, ConsentBasis};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    StructArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, LazyLock};

/// Version of the table schema. Bump it with every column change and say what changed.
/// v1: the initial layout of DESIGN.md §3.
pub const SCHEMA_VERSION: u32 = 1;

/// One contributed item at rest: a row of the Delta table. Serialized (for the service's
/// record answers) with its quality signals as the JSON object they are.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Record {
    pub record_id: String,
    pub content_hash: String,
    pub source: String,
    pub uri: String,
    pub fetched_at_micros: i64,
    pub http_status: Option<i32>,
    pub content_type: Option<String>,
    pub title: Option<String>,
    pub text: String,
    pub lang: Option<String>,
    pub lang_score: Option<f64>,
    pub quality_score: Option<f64>,
    /// JSON object of named quality signals.
    #[serde(serialize_with = "json_text")]
    pub quality_signals: Option<String>,
    pub licence: Option<String>,
    pub consent: Consent,
    /// Hex ed25519 public key.
    pub contributor: String,
    pub batch_id: String,
    pub row_in_batch: i64,
    pub near_dup_of: Option<String>,
}

/// The domain prefix of a row's leaf bytes.
pub const ROW_LEAF_DOMAIN: &[u8] = b"masa/row/v2";

impl Record {
    /// The bytes a row contributes to its batch's Merkle tree: the fields that identify
    /// who contributed which content from where and under which consent. Canonical form:
    /// the domain `masa/row/v2`, then each of record id, content hash, uri, source,
    /// contributor, batch id and the consent evidence (compact JSON, fields in declaration
    /// order) as a big-endian u64 length and its bytes, then `fetched_at` and
    /// `row_in_batch` as big-endian i64.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        let mut out = ROW_LEAF_DOMAIN.to_vec();
        let consent = serde_json::to_vec(&self.consent).expect("consent serializes");
        for part in [
            self.record_id.as_bytes(),
            self.content_hash.as_bytes(),
            self.uri.as_bytes(),
            self.source.as_bytes(),
            self.contributor.as_bytes(),
            self.batch_id.as_bytes(),
            &consent,
        ] {
            out.extend_from_slice(&(part.len() as u64).to_be_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&self.fetched_at_micros.to_be_bytes());
        out.extend_from_slice(&self.row_in_batch.to_be_bytes());
        out
    }
}

/// Writes JSON held as text as the JSON it is (text that is not JSON, as a string).
fn json_text<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    match v.as_deref().map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(json)) => json.serialize(s),
        _ => v.serialize(s),
    }
}

/// The identifying fields of a row leaf, read back from [`Record::leaf_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFields {
    pub record_id: String,
    pub content_hash: String,
    pub uri: String,
    pub source: String,
    pub contributor: String,
    pub batch_id: String,
    pub consent_json: String,
    pub fetched_at_micros: i64,
    pub row_in_batch: i64,
}

impl LeafFields {
    /// Parses leaf bytes exactly (domain, seven length-prefixed fields, two integers,
    /// nothing after); `None` for anything else.
    pub fn parse(bytes: &[u8]) -> Option<LeafFields> {
        let mut rest = bytes.strip_prefix(ROW_LEAF_DOMAIN)?;
        let mut field = || -> Option<String> {
            let len = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
            let len = usize::try_from(len).ok()?;
            let value = rest.get(8..8usize.checked_add(len)?)?;
            let s = String::from_utf8(value.to_vec()).ok()?;
            rest = &rest[8 + len..];
            Some(s)
        };
        let (record_id, content_hash, uri, source, contributor, batch_id, consent_json) = (
            field()?,
            field()?,
            field()?,
            field()?,
            field()?,
            field()?,
            field()?,
        );
        if rest.len() != 16 {
            return None;
        }
        Some(LeafFields {
            record_id,
            content_hash,
            uri,
            source,
            contributor,
            batch_id,
            consent_json,
            fetched_at_micros: i64::from_be_bytes(rest[..8].try_into().ok()?),
            row_in_batch: i64::from_be_bytes(rest[8..].try_into().ok()?),
        })
    }
}

/// Errors turning Arrow data into records.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("column {0} is missing or has the wrong type")]
    Column(&'static str),
    #[error("row {row}: column {column} is null but must not be")]
    Null { row: usize, column: &'static str },
    #[error("row {row}: unknown consent basis {value:?}")]
    ConsentBasis { row: usize, value: String },
    #[error("building the record batch failed: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

fn consent_fields() -> Fields {
    Fields::from(vec![
        Field::new("basis", DataType::Utf8, false),
        Field::new("robots", DataType::Utf8, true),
        Field::new("robots_rule", DataType::Utf8, true),
        Field::new("tdm_reserved", DataType::Boolean, true),
        Field::new("tdm_policy", DataType::Utf8, true),
        Field::new("noai", DataType::Boolean, true),
        Field::new("declaration", DataType::Utf8, true),
        Field::new("overridden", DataType::Boolean, false),
    ])
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("record_id", DataType::Utf8, false),
        Field::new("content_hash", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("uri", DataType::Utf8, false),
        Field::new("fetched_at", ts, false),
        Field::new("http_status", DataType::Int32, true),
        Field::new("content_type", DataType::Utf8, true),
        Field::new("title", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, false),
        Field::new("lang", DataType::Utf8, true),
        Field::new("lang_score", DataType::Float64, true),
        Field::new("quality_score", DataType::Float64, true),
        Field::new("quality_signals", DataType::Utf8, true),
        Field::new("licence", DataType::Utf8, true),
        Field::new("consent", DataType::Struct(consent_fields()), false),
        Field::new("contributor", DataType::Utf8, false),
        Field::new("batch_id", DataType::Utf8, false),
        Field::new("row_in_batch", DataType::Int64, false),
        Field::new("near_dup_of", DataType::Utf8, true),
    ]))
});

/// The Arrow schema of the record table, version [`SCHEMA_VERSION`].
pub fn arrow_schema() -> SchemaRef {
    SCHEMA.clone()
}

fn strings<'a>(it: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(it))
}

fn opt_strings<'a>(it: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(it.collect::<StringArray>())
}

/// Builds a `RecordBatch` in the table schema from records.
pub fn records_to_batch(records: &[Record]) -> Result<RecordBatch, RecordError> {
    let r = records;
    let consent = StructArray::try_new(
        consent_fields(),
        vec![
            strings(r.iter().map(|x| x.consent.basis.as_str())),
            opt_strings(r.iter().map(|x| x.consent.robots.as_deref())),
            opt_strings(r.iter().map(|x| x.consent.robots_rule.as_deref())),
            Arc::new(
                r.iter()
                    .map(|x| x.consent.tdm_reserved)
                    .collect::<BooleanArray>(),
            ),
            opt_strings(r.iter().map(|x| x.consent.tdm_policy.as_deref())),
            Arc::new(r.iter().map(|x| x.consent.noai).collect::<BooleanArray>()),
            opt_strings(r.iter().map(|x| x.consent.declaration.as_deref())),
            Arc::new(
                r.iter()
                    .map(|x| Some(x.consent.overridden))
                    .collect::<BooleanArray>(),
            ),
        ],
        None,
    )?;
    let columns: Vec<ArrayRef> = vec![
        strings(r.iter().map(|x| x.record_id.as_str())),
        strings(r.iter().map(|x| x.content_hash.as_str())),
        strings(r.iter().map(|x| x.source.as_str())),
        strings(r.iter().map(|x| x.uri.as_str())),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(r.iter().map(|x| x.fetched_at_micros))
                .with_timezone("UTC"),
        ),
        Arc::new(r.iter().map(|x| x.http_status).collect::<Int32Array>()),
        opt_strings(r.iter().map(|x| x.content_type.as_deref())),
        opt_strings(r.iter().map(|x| x.title.as_deref())),
        strings(r.iter().map(|x| x.text.as_str())),
        opt_strings(r.iter().map(|x| x.lang.as_deref())),
        Arc::new(r.iter().map(|x| x.lang_score).collect::<Float64Array>()),
        Arc::new(r.iter().map(|x| x.quality_score).collect::<Float64Array>()),
        opt_strings(r.iter().map(|x| x.quality_signals.as_deref())),
        opt_strings(r.iter().map(|x| x.licence.as_deref())),
        Arc::new(consent),
        strings(r.iter().map(|x| x.contributor.as_str())),
        strings(r.iter().map(|x| x.batch_id.as_str())),
        Arc::new(Int64Array::from_iter_values(
            r.iter().map(|x| x.row_in_batch),
        )),
        opt_strings(r.iter().map(|x| x.near_dup_of.as_deref())),
    ];
    Ok(RecordBatch::try_new(arrow_schema(), columns)?)
}

/// Column `name` of `b` as array type `T`; an error names a column that is missing or of
/// another type.
pub fn column<'a, T: 'static>(
    b: &'a RecordBatch,
    name: &'static str,
) -> Result<&'a T, RecordError> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or(RecordError::Column(name))
}

fn field<'a, T: 'static>(s: &'a StructArray, name: &'static str) -> Result<&'a T, RecordError> {
    s.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or(RecordError::Column(name))
}

fn opt_str(a: &StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_owned())
}

fn req_str(a: &StringArray, i: usize, column: &'static str) -> Result<String, RecordError> {
    if a.is_valid(i) {
        Ok(a.value(i).to_owned())
    } else {
        Err(RecordError::Null { row: i, column })
    }
}

fn opt_bool(a: &BooleanArray, i: usize) -> Option<bool> {
    a.is_valid(i).then(|| a.value(i))
}

/// Reads records back from a `RecordBatch` in the table schema (as written or as read from
/// Parquet). Columns are found by name, so a projection that keeps every column works.
pub fn records_from_batch(b: &RecordBatch) -> Result<Vec<Record>, RecordError> {
    let record_id = column::<StringArray>(b, "record_id")?;
    let content_hash = column::<StringArray>(b, "content_hash")?;
    let source = column::<StringArray>(b, "source")?;
    let uri = column::<StringArray>(b, "uri")?;
    let fetched_at = column::<TimestampMicrosecondArray>(b, "fetched_at")?;
    let http_status = column::<Int32Array>(b, "http_status")?;
    let content_type = column::<StringArray>(b, "content_type")?;
    let title = column::<StringArray>(b, "title")?;
    let text = column::<StringArray>(b, "text")?;
    let lang = column::<StringArray>(b, "lang")?;
    let lang_score = column::<Float64Array>(b, "lang_score")?;
    let quality_score = column::<Float64Array>(b, "quality_score")?;
    let quality_signals = column::<StringArray>(b, "quality_signals")?;
    let licence = column::<StringArray>(b, "licence")?;
    let consent = column::<StructArray>(b, "consent")?;
    let c_basis = field::<StringArray>(consent, "basis")?;
    let c_robots = field::<StringArray>(consent, "robots")?;
    let c_rule = field::<StringArray>(consent, "robots_rule")?;
    let c_tdm = field::<BooleanArray>(consent, "tdm_reserved")?;
    let c_policy = field::<StringArray>(consent, "tdm_policy")?;
    let c_noai = field::<BooleanArray>(consent, "noai")?;
    let c_decl = field::<StringArray>(consent, "declaration")?;
    let c_over = field::<BooleanArray>(consent, "overridden")?;
    let contributor = column::<StringArray>(b, "contributor")?;
    let batch_id = column::<StringArray>(b, "batch_id")?;
    let row_in_batch = column::<Int64Array>(b, "row_in_batch")?;
    let near_dup_of = column::<StringArray>(b, "near_dup_of")?;

    (0..b.num_rows())
        .map(|i| {
            let basis_s = req_str(c_basis, i, "consent.basis")?;
            let basis = ConsentBasis::parse(&basis_s).ok_or(RecordError::ConsentBasis {
                row: i,
                value: basis_s,
            })?;
            Ok(Record {
                record_id: req_str(record_id, i, "record_id")?,
                content_hash: req_str(content_hash, i, "content_hash")?,
                source: req_str(source, i, "source")?,
                uri: req_str(uri, i, "uri")?,
                fetched_at_micros: fetched_at.value(i),
                http_status: http_status.is_valid(i).then(|| http_status.value(i)),
                content_type: opt_str(content_type, i),
                title: opt_str(title, i),
                text: req_str(text, i, "text")?,
                lang: opt_str(lang, i),
                lang_score: lang_score.is_valid(i).then(|| lang_score.value(i)),
                quality_score: quality_score.is_valid(i).then(|| quality_score.value(i)),
                quality_signals: opt_str(quality_signals, i),
                licence: opt_str(licence, i),
                consent: Consent {
                    basis,
                    robots: opt_str(c_robots, i),
                    robots_rule: opt_str(c_rule, i),
                    tdm_reserved: opt_bool(c_tdm, i),
                    tdm_policy: opt_str(c_policy, i),
                    noai: opt_bool(c_noai, i),
                    declaration: opt_str(c_decl, i),
                    overridden: c_over.is_valid(i) && c_over.value(i),
                },
                contributor: req_str(contributor, i, "contributor")?,
                batch_id: req_str(batch_id, i, "batch_id")?,
                row_in_batch: row_in_batch.value(i),
                near_dup_of: opt_str(near_dup_of, i),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_bytes_parse_back_exactly_and_nothing_else_does() {
        let r = sample(3);
        let bytes = r.leaf_bytes();
        let f = LeafFields::parse(&bytes).unwrap();
        assert_eq!(f.record_id, r.record_id);
        assert_eq!(f.batch_id, r.batch_id);
        assert_eq!(f.contributor, r.contributor);
        assert_eq!(f.row_in_batch, r.row_in_batch);
        assert_eq!(f.uri, r.uri);
        assert!(LeafFields::parse(&bytes[..bytes.len() - 1]).is_none());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(LeafFields::parse(&longer).is_none());
        assert!(LeafFields::parse(b"masa/row/v2").is_none());
        assert!(LeafFields::parse(b"").is_none());
        let mut huge = ROW_LEAF_DOMAIN.to_vec();
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(LeafFields::parse(&huge).is_none());
    }

    fn sample(i: i64) -> Record {
        let text = format!("document number {i}");
        let hash = crate::content_hash(&text);
        Record {
            record_id: crate::record_id("key", &format!("file:///{i}"), &hash),
            content_hash: hash,
            source: "files".into(),
            uri: format!("file:///{i}"),
            fetched_at_micros: 1_700_000_000_000_000 + i,
            http_status: if i % 2 == 0 { Some(200) } else { None },
            content_type: Some("text/plain".into()),
            title: (i % 3 == 0).then(|| format!("title {i}")),
            text,
            lang: Some("en".into()),
            lang_score: Some(0.5),
            quality_score: None,
            quality_signals: None,
            licence: None,
            consent: Consent {
                tdm_reserved: Some(i % 2 == 0),
                ..Consent::declared("mine")
            },
            contributor: "key".into(),
            batch_id: "b".into(),
            row_in_batch: i,
            near_dup_of: None,
        }
    }

    #[test]
    fn batch_round_trip_keeps_every_field() {
        let records: Vec<Record> = (0..7).map(sample).collect();
        let batch = records_to_batch(&records).unwrap();
        assert_eq!(batch.num_rows(), 7);
        assert_eq!(batch.schema(), arrow_schema());
        assert_eq!(records_from_batch(&batch).unwrap(), records);
    }

    #[test]
    fn empty_batch_round_trips() {
        let batch = records_to_batch(&[]).unwrap();
        assert_eq!(records_from_batch(&batch).unwrap(), vec![]);
    }

    #[test]
    fn leaf_bytes_change_with_every_identity_field() {
        let a = sample(1);
        let edits: [fn(&mut Record); 8] = [
            |r| r.record_id.push('x'),
            |r| r.content_hash.push('x'),
            |r| r.uri.push('x'),
            |r| r.source.push('x'),
            |r| r.contributor.push('x'),
            |r| r.batch_id.push('x'),
            |r| r.fetched_at_micros += 1,
            |r| r.row_in_batch += 1,
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut b = a.clone();
            edit(&mut b);
            assert_ne!(
                a.leaf_bytes(),
                b.leaf_bytes(),
                "edit {i} left the leaf unchanged"
            );
        }
        // The text itself is covered through the content hash.
        let mut c = a.clone();
        c.text.push('x');
        assert_eq!(a.leaf_bytes(), c.leaf_bytes());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = Record> {
        (
            "\\PC*",
            "\\PC{0,40}",
            proptest::option::of("\\PC{0,40}"),
            any::<i64>(),
            proptest::option::of(any::<i32>()),
            proptest::option::of(any::<bool>()),
            any::<bool>(),
        )
            .prop_map(|(text, uri, title, t, status, tdm, overridden)| {
                let hash = crate::content_hash(&text);
                Record {
                    record_id: crate::record_id("k", &uri, &hash),
                    content_hash: hash,
                    source: "files".into(),
                    uri,
                    fetched_at_micros: t,
                    http_status: status,
                    content_type: None,
                    title,
                    text,
                    lang: None,
                    lang_score: None,
                    quality_score: None,
                    quality_signals: None,
                    licence: None,
                    consent: Consent {
                        tdm_reserved: tdm,
                        overridden,
                        ..Consent::declared("d")
                    },
                    contributor: "k".into(),
                    batch_id: "b".into(),
                    row_in_batch: 0,
                    near_dup_of: None,
                }
            })
    }

    proptest! {
        #[test]
        fn any_records_round_trip_through_arrow(records in proptest::collection::vec(record(), 0..20)) {
            let batch = records_to_batch(&records).unwrap();
            prop_assert_eq!(records_from_batch(&batch).unwrap(), records);
        }
    }
}

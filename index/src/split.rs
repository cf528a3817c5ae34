//! Building a split from a batch of records, and the manifest that lists splits.

use crate::schema::schema;
use crate::{INDEX_SCHEMA_VERSION, IndexError, io_err};
use masa_record::Record;
use serde::{Deserialize, Serialize};
use tantivy::{DateTime, Index, IndexWriter, TantivyDocument};

/// Memory the indexer may use for one split before it flushes a segment.
const INDEX_HEAP_BYTES: usize = 128 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitFile {
    pub name: String,
    pub size: u64,
}

/// What a split is: stored as `split.json` in the split's folder and in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMeta {
    pub split_id: String,
    pub batch_id: String,
    pub schema_version: u32,
    pub num_docs: u64,
    /// Segment files, to be placed side by side in one folder.
    pub files: Vec<SplitFile>,
    /// tantivy's own `meta.json` of the split, kept verbatim.
    pub tantivy_meta: serde_json::Value,
}

/// The list of splits (`index/manifest.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub splits: Vec<SplitMeta>,
}

/// A split built in memory, ready to be stored.
#[derive(Debug)]
pub struct BuiltSplit {
    pub meta: SplitMeta,
    /// Segment files: name and contents.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Indexes `records` into a new split.
pub fn build_split(
    split_id: &str,
    batch_id: &str,
    records: &[Record],
) -> Result<BuiltSplit, IndexError> {
    let dir = tempfile::tempdir().map_err(io_err(std::path::Path::new("temporary folder")))?;
    let (schema, f) = schema();
    let index = Index::create_in_dir(dir.path(), schema)?;
    // One indexing thread: the rest of the pipeline uses the other core.
    let mut writer: IndexWriter<TantivyDocument> =
        index.writer_with_num_threads(1, INDEX_HEAP_BYTES)?;
    for r in records {
        let mut doc = TantivyDocument::default();
        doc.add_text(f.record_id, &r.record_id);
        doc.add_text(f.batch_id, batch_id);
        doc.add_u64(f.row_in_batch, r.row_in_batch as u64);
        if let Some(t) = &r.title {
            doc.add_text(f.title, t);
        }
        doc.add_text(f.text, &r.text);
        doc.add_text(f.uri, &r.uri);
        doc.add_text(f.contributor, &r.contributor);
        doc.add_text(f.source, &r.source);
        if let Some(l) = &r.lang {
            doc.add_text(f.lang, l);
        }
        if let Some(l) = &r.licence {
            doc.add_text(f.licence, l);
        }
        if let Some(q) = r.quality_score {
            doc.add_u64(f.quality, crate::search::millionths(q));
        }
        doc.add_date(
            f.fetched_at,
            DateTime::from_timestamp_micros(r.fetched_at_micros),
        );
        writer.add_document(doc)?;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;

    let meta_path = dir.path().join("meta.json");
    let meta_bytes = std::fs::read(&meta_path).map_err(io_err(&meta_path))?;
    let tantivy_meta: serde_json::Value =
        serde_json::from_slice(&meta_bytes).map_err(|e| IndexError::BadSplit {
            split: split_id.into(),
            reason: format!("unreadable tantivy meta.json: {e}"),
        })?;
    let mut files = Vec::new();
    let mut contents = Vec::new();
    let rd = std::fs::read_dir(dir.path()).map_err(io_err(dir.path()))?;
    for entry in rd {
        let entry = entry.map_err(io_err(dir.path()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Only segment files: meta.json is kept in the SplitMeta, the rest is bookkeeping.
        if name.starts_with('.') || name == "meta.json" {
            continue;
        }
        let bytes = std::fs::read(entry.path()).map_err(io_err(&entry.path()))?;
        files.push(SplitFile {
            name: name.clone(),
            size: bytes.len() as u64,
        });
        contents.push((name, bytes));
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let meta = SplitMeta {
        split_id: split_id.into(),
        batch_id: batch_id.into(),
        schema_version: INDEX_SCHEMA_VERSION,
        num_docs: records.len() as u64,
        files,
        tantivy_meta,
    };
    Ok(BuiltSplit {
        meta,
        files: contents,
    })
}

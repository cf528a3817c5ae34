//! Near-duplicate state in a dataset: one signature file per committed batch under
//! `dedup/minhash/<params>/`, written before the batch's Delta commit. The table is the
//! truth: a committed batch whose signature file is missing, or no longer matches the
//! batch's rows, gets it rebuilt from its Parquet rows.

use crate::WorkflowError;
use crate::layout::sig_path;
use futures::{StreamExt, TryStreamExt};
use masa_dedup::{LshIndex, MinHashParams, MinHasher, SigFile, SigRow};
use masa_record::column;
use masa_storage::arrow::array::{Array, Int64Array, StringArray};
use masa_storage::{CommittedFile, Dataset};

/// Signature files fetched at once.
const FETCH_CONCURRENCY: usize = 8;

/// The signature file of a committed batch, checked against the table; rebuilt (and stored)
/// when missing or stale. A file that fails its checksum is an error: it names the object,
/// which can be deleted to have it rebuilt.
pub(crate) async fn batch_signatures(
    ds: &Dataset,
    file: &CommittedFile,
    params: MinHashParams,
) -> Result<SigFile, WorkflowError> {
    let batch = file
        .batch_id
        .as_deref()
        .ok_or_else(|| WorkflowError::Corrupt {
            path: file.path.clone(),
            reason: "a data file not written by masa (no batch id in its name)".into(),
        })?;
    let path = sig_path(&params, batch);
    if let Some(bytes) = ds.get(&path).await? {
        let sigs = SigFile::decode(&bytes, batch).map_err(|e| WorkflowError::Corrupt {
            path: path.clone(),
            reason: format!("{e} (delete it and the next run rebuilds it from the table)"),
        })?;
        let fresh =
            sigs.params == params && file.num_records.is_none_or(|n| n == sigs.len() as u64);
        if fresh {
            return Ok(sigs);
        }
        tracing::warn!(path = %path, "signature file does not match the table; rebuilding it");
    }
    let sigs = compute_signatures(ds, file, batch, params).await?;
    ds.put(&path, sigs.encode().into()).await?;
    Ok(sigs)
}

/// Signatures of a committed file's rows, from its `text` and `row_in_batch` columns.
async fn compute_signatures(
    ds: &Dataset,
    file: &CommittedFile,
    batch: &str,
    params: MinHashParams,
) -> Result<SigFile, WorkflowError> {
    let corrupt = |reason: String| WorkflowError::Corrupt {
        path: file.path.clone(),
        reason,
    };
    let mut texts = Vec::new();
    for b in ds.read_file(file, Some(&["text", "row_in_batch"])).await? {
        let text = column::<StringArray>(&b, "text").map_err(|e| corrupt(e.to_string()))?;
        let row = column::<Int64Array>(&b, "row_in_batch").map_err(|e| corrupt(e.to_string()))?;
        for i in 0..b.num_rows() {
            let r = u32::try_from(row.value(i))
                .map_err(|_| corrupt("row_in_batch out of range".into()))?;
            texts.push((
                r,
                if text.is_valid(i) {
                    text.value(i).to_owned()
                } else {
                    String::new()
                },
            ));
        }
    }
    texts.sort_by_key(|(r, _)| *r);
    let batch = batch.to_owned();
    let (data_file, data_rows) = (file.origin.clone(), texts.len() as u64);
    tokio::task::spawn_blocking(move || {
        let h = MinHasher::new(params);
        let rows = texts
            .into_iter()
            .filter_map(|(row, t)| {
                Some(SigRow {
                    row,
                    sketch: h.sketch(&t)?,
                })
            })
            .collect();
        SigFile::new(&batch, &data_file, data_rows, params, rows)
    })
    .await
    .map_err(|e| WorkflowError::Other(format!("signature computation failed: {e}")))
}

/// The LSH index over every committed row, for a run to dedup against. Batches load in path
/// order, not log order: a run's newcomer loses to whichever committed copy it matches.
pub(crate) async fn load_index(
    ds: &Dataset,
    params: MinHashParams,
    threshold: f64,
) -> Result<LshIndex, WorkflowError> {
    let files: Vec<CommittedFile> = ds
        .committed_files()?
        .into_iter()
        .filter(|f| f.batch_id.is_some())
        .collect();
    let mut index = LshIndex::new(params, threshold);
    index.reserve(files.iter().filter_map(|f| f.num_records).sum::<u64>() as usize);
    let mut stream = futures::stream::iter(files.iter())
        .map(|f| batch_signatures(ds, f, params))
        .buffered(FETCH_CONCURRENCY);
    while let Some(sigs) = stream.try_next().await? {
        for i in 0..sigs.len() {
            index.insert_bulk(sigs.sketch(i));
        }
    }
    index.compact();
    tracing::debug!(
        docs = index.len(),
        bytes = index.heap_bytes(),
        bytes_per_doc = index.heap_bytes() / index.len().max(1),
        "near-duplicate index loaded"
    );
    Ok(index)
}

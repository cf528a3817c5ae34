//! Rows of a Parquet file through the arrow reader: the named columns only, a batch at a
//! time, from a given row (a resumed run does not decode the rows before it).

use super::Row;
use crate::ConnectorError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int16Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fs::File;
use std::path::Path;

const BATCH_ROWS: usize = 1024;

/// The column names a row is read from.
#[derive(Debug, Clone)]
pub struct Columns {
    pub text: String,
    pub licence: Option<String>,
    pub id: Option<String>,
    pub url: Option<String>,
    pub title: Option<String>,
}

fn err(path: &Path, what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Source {
        kind: "dataset",
        message: format!("{}: {what}", path.display()),
    }
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, ConnectorError> {
    let file = File::open(path).map_err(|e| ConnectorError::Unreadable {
        path: path.into(),
        source: e,
    })?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| err(path, format!("not a readable Parquet file ({e})")))
}

fn texty(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn idish(t: &DataType) -> bool {
    texty(t)
        || matches!(
            t,
            DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt32
                | DataType::UInt64
        )
}

/// Checks the schema: the text column is text, and each configured column exists with a
/// usable type (the licence column may be absent when the file has a licence of its own).
pub fn check(path: &Path, cols: &Columns, file_has_licence: bool) -> Result<(), ConnectorError> {
    let b = open(path)?;
    let schema = b.schema().clone();
    let names = || {
        schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let want = |name: &str, ok: fn(&DataType) -> bool, what: &str| -> Result<(), ConnectorError> {
        match schema.field_with_name(name) {
            Ok(f) if ok(f.data_type()) => Ok(()),
            Ok(f) => Err(err(
                path,
                format!("column {name:?} is {}, not {what}", f.data_type()),
            )),
            Err(_) => Err(err(
                path,
                format!(
                    "no column {name:?} (columns: {}); set the column option to one of them",
                    names()
                ),
            )),
        }
    };
    want(&cols.text, texty, "text")?;
    if let Some(l) = &cols.licence
        && (schema.field_with_name(l).is_ok() || !file_has_licence)
    {
        want(l, texty, "text")?;
    }
    if let Some(c) = &cols.id {
        want(c, idish, "text or an integer")?;
    }
    for c in [&cols.url, &cols.title].into_iter().flatten() {
        want(c, texty, "text")?;
    }
    Ok(())
}

/// A cell as text; `None` when null or of another type.
fn cell(col: Option<&ArrayRef>, i: usize) -> Option<String> {
    let col = col?;
    if col.is_null(i) {
        return None;
    }
    let s = if let Some(a) = col.as_string_opt::<i32>() {
        a.value(i).to_owned()
    } else if let Some(a) = col.as_string_opt::<i64>() {
        a.value(i).to_owned()
    } else if let Some(a) = col.as_string_view_opt() {
        a.value(i).to_owned()
    } else if let Some(a) = col.as_primitive_opt::<Int64Type>() {
        a.value(i).to_string()
    } else if let Some(a) = col.as_primitive_opt::<Int32Type>() {
        a.value(i).to_string()
    } else if let Some(a) = col.as_primitive_opt::<Int16Type>() {
        a.value(i).to_string()
    } else if let Some(a) = col.as_primitive_opt::<Int8Type>() {
        a.value(i).to_string()
    } else if let Some(a) = col.as_primitive_opt::<UInt64Type>() {
        a.value(i).to_string()
    } else if let Some(a) = col.as_primitive_opt::<UInt32Type>() {
        a.value(i).to_string()
    } else {
        return None;
    };
    Some(s)
}

/// Calls `each(row_index, row)` for every row from `from` on.
pub fn read(
    path: &Path,
    cols: &Columns,
    from: u64,
    mut each: impl FnMut(u64, Row) -> Result<(), ConnectorError>,
) -> Result<(), ConnectorError> {
    let b = open(path)?;
    let schema: Schema = b.schema().as_ref().clone();
    let wanted: Vec<&String> = std::iter::once(&cols.text)
        .chain(cols.licence.iter())
        .chain(cols.id.iter())
        .chain(cols.url.iter())
        .chain(cols.title.iter())
        .collect();
    // Top-level fields: an arrow field's index is the Parquet root column's index.
    let mut roots: Vec<usize> = wanted
        .iter()
        .filter_map(|n| schema.index_of(n).ok())
        .collect();
    roots.sort_unstable();
    roots.dedup();
    let mask = ProjectionMask::roots(b.parquet_schema(), roots);
    let total = b.metadata().file_metadata().num_rows().max(0) as u64;
    if from >= total {
        return Ok(());
    }
    let reader = b
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .with_offset(from as usize)
        .build()
        .map_err(|e| err(path, format!("cannot read rows ({e})")))?;
    let mut row = from;
    for batch in reader {
        let batch = batch.map_err(|e| err(path, format!("row {row}: {e}")))?;
        let col = |name: &Option<String>| name.as_ref().and_then(|n| batch.column_by_name(n));
        let text = batch.column_by_name(&cols.text);
        let (licence, id, url, title) = (
            col(&cols.licence),
            col(&cols.id),
            col(&cols.url),
            col(&cols.title),
        );
        for i in 0..batch.num_rows() {
            let r = Row {
                text: cell(text, i),
                licence: cell(licence, i),
                id: cell(id, i),
                url: cell(url, i),
                title: cell(title, i),
            };
            each(row, r)?;
            row += 1;
        }
    }
    Ok(())
}

//! The results' long-format table (`run, point, time, epoch, metric, value`, the shape
//! cadCAD users know), written as Parquet and CSV and read back, and the aggregations
//! that plots and reports draw from it.
//!
//! Both files are written atomically: each goes to a hidden temporary name in the same
//! folder and is renamed into place once complete, so a crash never leaves a half file
//! under the final name.

use arrow_array::builder::StringDictionaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The Parquet file's name inside the results folder.
pub const PARQUET_FILE: &str = "series.parquet";
/// The CSV file's name inside the results folder.
pub const CSV_FILE: &str = "series.csv";
/// The CSV header line, without its newline.
pub const CSV_HEADER: &str = "run,point,time,epoch,metric,value";

/// Rows per Arrow batch handed to the Parquet writer: bounds the memory the conversion
/// needs whatever the table's length.
const CHUNK_ROWS: usize = 64 * 1024;
/// Rows per Parquet row group (the writer buffers one row group's encoded pages).
const ROW_GROUP_ROWS: usize = 1024 * 1024;
/// zstd level: 3 is zstd's own default, a good ratio at a high speed.
const ZSTD_LEVEL: i32 = 3;

/// One observation: the value of one metric in one run of one sweep point at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The Monte Carlo run (replication) index.
    pub run: u32,
    /// The parameter sweep point index.
    pub point: u32,
    /// The simulated time of the observation.
    pub time: f64,
    /// The protocol epoch the observation belongs to.
    pub epoch: u64,
    /// The metric's name.
    pub metric: String,
    /// The metric's value; must be finite.
    pub value: f64,
}

/// What went wrong writing or reading a results table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A row holds a NaN or infinite time or value; nothing was written.
    #[error(
        "non-finite {field} {found} for metric `{metric}` in run {run}, point {point}, \
         epoch {epoch}: series times and values must be finite"
    )]
    NonFinite {
        /// `"time"` or `"value"`.
        field: &'static str,
        /// The offending number.
        found: f64,
        /// The row's metric.
        metric: String,
        /// The row's run.
        run: u32,
        /// The row's sweep point.
        point: u32,
        /// The row's epoch.
        epoch: u64,
    },
    /// Creating, writing, renaming or opening a file failed.
    #[error("{file} in {}: {source}", shown(.dir))]
    Io {
        /// The file's name.
        file: &'static str,
        /// The results folder.
        dir: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The Parquet encoder or decoder failed (for instance the file is not Parquet).
    #[error("{file} in {}: {source}", shown(.dir))]
    Parquet {
        /// The file's name.
        file: &'static str,
        /// The results folder.
        dir: PathBuf,
        /// The underlying error.
        source: ParquetError,
    },
    /// Building or decoding an Arrow batch failed.
    #[error("{file} in {}: {source}", shown(.dir))]
    Arrow {
        /// The file's name.
        file: &'static str,
        /// The results folder.
        dir: PathBuf,
        /// The underlying error.
        source: ArrowError,
    },
    /// The file lacks one of the table's columns.
    #[error("{file} in {}: missing column `{column}`", shown(.dir))]
    MissingColumn {
        /// The file's name.
        file: &'static str,
        /// The results folder.
        dir: PathBuf,
        /// The missing column.
        column: &'static str,
    },
    /// A column has another type than the table's.
    #[error("{file} in {}: column `{column}` has type {found}, expected {expected}", shown(.dir))]
    ColumnType {
        /// The file's name.
        file: &'static str,
        /// The results folder.
        dir: PathBuf,
        /// The column.
        column: &'static str,
        /// The type found in the file.
        found: DataType,
        /// The type the table uses.
        expected: &'static str,
    },
    /// A column holds nulls, which the table never has.
    #[error("{file} in {}: column `{column}` has {count} null values", shown(.dir))]
    Nulls {
        /// The file's name.
        file: &'static str,
        /// The results folder.
        dir: PathBuf,
        /// The column.
        column: &'static str,
        /// How many nulls one batch of it holds.
        count: usize,
    },
}

/// A folder as error messages show it: with one trailing slash (`results/`).
fn shown(dir: &Path) -> String {
    let s = dir.display().to_string();
    if s.ends_with('/') { s } else { format!("{s}/") }
}

/// Writes `rows` to `dir/series.parquet` (zstd, `metric` dictionary-encoded) and
/// `dir/series.csv`, each atomically; `dir` must exist.
///
/// Every row is checked first: a non-finite time or value is an error and then neither
/// file is touched.
///
/// Each file is replaced atomically on its own, the Parquet file first: should the CSV
/// fail after it, the folder holds the new Parquet file beside the previous CSV, if any.
pub fn write(dir: &Path, rows: &[Row]) -> Result<(), TableError> {
    for r in rows {
        for (field, found) in [("time", r.time), ("value", r.value)] {
            if !found.is_finite() {
                return Err(TableError::NonFinite {
                    field,
                    found,
                    metric: r.metric.clone(),
                    run: r.run,
                    point: r.point,
                    epoch: r.epoch,
                });
            }
        }
    }
    write_parquet(dir, rows)?;
    write_csv(dir, rows)
}

/// The Arrow schema of the Parquet file.
fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run", DataType::UInt32, false),
        Field::new("point", DataType::UInt32, false),
        Field::new("time", DataType::Float64, false),
        Field::new("epoch", DataType::UInt64, false),
        Field::new(
            "metric",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new("value", DataType::Float64, false),
    ]))
}

fn write_parquet(dir: &Path, rows: &[Row]) -> Result<(), TableError> {
    let file = PARQUET_FILE;
    let io_err = |source| TableError::Io {
        file,
        dir: dir.to_path_buf(),
        source,
    };
    let pq_err = |source| TableError::Parquet {
        file,
        dir: dir.to_path_buf(),
        source,
    };
    let schema = schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).map_err(pq_err)?,
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut out = AtomicFile::create(&dir.join(file)).map_err(io_err)?;
    let mut writer =
        ArrowWriter::try_new(out.file(), schema.clone(), Some(props)).map_err(pq_err)?;
    for chunk in rows.chunks(CHUNK_ROWS) {
        let batch = to_batch(&schema, chunk).map_err(|source| TableError::Arrow {
            file,
            dir: dir.to_path_buf(),
            source,
        })?;
        writer.write(&batch).map_err(pq_err)?;
    }
    writer.close().map_err(pq_err)?;
    out.commit().map_err(io_err)
}

fn to_batch(schema: &SchemaRef, rows: &[Row]) -> Result<RecordBatch, ArrowError> {
    let mut metric = StringDictionaryBuilder::<Int32Type>::new();
    for r in rows {
        metric.append(&r.metric)?;
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.run))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.point))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.time))),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.epoch))),
        Arc::new(metric.finish()),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.value))),
    ];
    RecordBatch::try_new(schema.clone(), columns)
}

fn write_csv(dir: &Path, rows: &[Row]) -> Result<(), TableError> {
    let io_err = |source| TableError::Io {
        file: CSV_FILE,
        dir: dir.to_path_buf(),
        source,
    };
    let mut out = AtomicFile::create(&dir.join(CSV_FILE)).map_err(io_err)?;
    let mut w = BufWriter::new(out.file());
    write_csv_rows(&mut w, rows).map_err(io_err)?;
    w.flush().map_err(io_err)?;
    drop(w);
    out.commit().map_err(io_err)
}

fn write_csv_rows(w: &mut impl Write, rows: &[Row]) -> io::Result<()> {
    writeln!(w, "{CSV_HEADER}")?;
    for r in rows {
        // `{}` of an f64 is Rust's shortest representation that reads back to the same
        // number (never an exponent: 1e21 prints as 1000000000000000000000).
        write!(w, "{},{},{},{},", r.run, r.point, r.time, r.epoch)?;
        write_csv_field(w, &r.metric)?;
        writeln!(w, ",{}", r.value)?;
    }
    Ok(())
}

/// Writes one CSV field, quoted (RFC 4180, quotes doubled) only where it must be: when it
/// holds a comma, a quote or a line break.
fn write_csv_field(w: &mut impl Write, s: &str) -> io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) {
        write!(w, "\"{}\"", s.replace('"', "\"\""))
    } else {
        w.write_all(s.as_bytes())
    }
}

/// Reads `dir/series.parquet` back, rows in file order.
///
/// The file must have the table's six columns (others are ignored) with their types;
/// `metric` may be plain or dictionary-encoded UTF-8.
pub fn read(dir: &Path) -> Result<Vec<Row>, TableError> {
    let file = PARQUET_FILE;
    let place = || dir.to_path_buf();
    let pq_err = |source| TableError::Parquet {
        file,
        dir: place(),
        source,
    };
    let f = File::open(dir.join(file)).map_err(|source| TableError::Io {
        file,
        dir: place(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(pq_err)?;
    let file_schema = builder.schema().clone();
    let mut roots = Vec::with_capacity(COLUMNS.len());
    for (column, expected) in COLUMNS {
        let (i, field) =
            file_schema
                .column_with_name(column)
                .ok_or_else(|| TableError::MissingColumn {
                    file,
                    dir: place(),
                    column,
                })?;
        if !type_fits(column, field.data_type()) {
            return Err(TableError::ColumnType {
                file,
                dir: place(),
                column,
                found: field.data_type().clone(),
                expected,
            });
        }
        roots.push(i);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).build().map_err(pq_err)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|source| TableError::Arrow {
            file,
            dir: place(),
            source,
        })?;
        append_batch(&batch, &mut rows).map_err(|(column, count)| TableError::Nulls {
            file,
            dir: place(),
            column,
            count,
        })?;
    }
    Ok(rows)
}

/// The table's columns and their types as error messages name them.
const COLUMNS: [(&str, &str); 6] = [
    ("run", "UInt32"),
    ("point", "UInt32"),
    ("time", "Float64"),
    ("epoch", "UInt64"),
    ("metric", "Utf8 or Dictionary(_, Utf8)"),
    ("value", "Float64"),
];

fn type_fits(column: &str, t: &DataType) -> bool {
    match column {
        "run" | "point" => *t == DataType::UInt32,
        "time" | "value" => *t == DataType::Float64,
        "epoch" => *t == DataType::UInt64,
        _ => is_text(t),
    }
}

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => matches!(**v, DataType::Utf8 | DataType::LargeUtf8),
        _ => false,
    }
}

/// Appends a batch whose column types [`type_fits`] accepted; a column holding nulls is
/// returned as `(name, count)`.
fn append_batch(batch: &RecordBatch, rows: &mut Vec<Row>) -> Result<(), (&'static str, usize)> {
    let col = |name: &'static str| -> Result<&ArrayRef, (&'static str, usize)> {
        // The projection kept exactly the columns `read` found by these names.
        let a = batch
            .column_by_name(name)
            .expect("projected column present");
        match a.logical_null_count() {
            0 => Ok(a),
            n => Err((name, n)),
        }
    };
    // The `as_primitive` casts hold: `type_fits` checked each column's type.
    let run = col("run")?.as_primitive::<UInt32Type>();
    let point = col("point")?.as_primitive::<UInt32Type>();
    let time = col("time")?.as_primitive::<Float64Type>();
    let epoch = col("epoch")?.as_primitive::<UInt64Type>();
    let metric = texts(col("metric")?.as_ref());
    let value = col("value")?.as_primitive::<Float64Type>();
    rows.reserve(batch.num_rows());
    for (i, metric) in metric.into_iter().enumerate() {
        rows.push(Row {
            run: run.value(i),
            point: point.value(i),
            time: time.value(i),
            epoch: epoch.value(i),
            metric,
            value: value.value(i),
        });
    }
    Ok(())
}

/// The strings of a null-free column whose type [`is_text`] accepted.
fn texts(a: &dyn Array) -> Vec<String> {
    if let Some(d) = a.as_any_dictionary_opt() {
        let values = texts(d.values().as_ref());
        return d
            .normalized_keys()
            .into_iter()
            .map(|k| values[k].clone())
            .collect();
    }
    if let Some(s) = a.as_string_opt::<i32>() {
        return s.iter().map(|v| v.unwrap_or_default().to_owned()).collect();
    }
    if let Some(s) = a.as_string_opt::<i64>() {
        return s.iter().map(|v| v.unwrap_or_default().to_owned()).collect();
    }
    if let Some(s) = a.as_string_view_opt() {
        return s.iter().map(|v| v.unwrap_or_default().to_owned()).collect();
    }
    unreachable!("is_text accepts only string and dictionary-of-string columns")
}

/// One x position of a metric's distribution over runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// The position: the epoch.
    pub x: f64,
    /// The mean over runs.
    pub mean: f64,
    /// The 2.5th percentile over runs.
    pub lo: f64,
    /// The 97.5th percentile over runs.
    pub hi: f64,
    /// How many runs contributed.
    pub runs: u32,
}

/// For one sweep point and one metric: at each epoch, the mean over runs and the band where
/// the central 95 % of runs lie (2.5th and 97.5th percentiles, linear interpolation between
/// the closest ranks as numpy's default does), x = epoch; sorted by epoch.
///
/// Each run contributes one value per epoch: where a run has several rows for the same
/// epoch, its last observation (largest `time`, then latest in `rows`) is the one used.
/// The result does not depend on the order of `rows` beyond that tie-break.
pub fn bands(rows: &[Row], point: u32, metric: &str) -> Vec<Band> {
    // (epoch, run) -> (time, value) of that run's last observation in that epoch.
    let mut last: BTreeMap<(u64, u32), (f64, f64)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.point == point && r.metric == metric)
    {
        let e = last.entry((r.epoch, r.run)).or_insert((r.time, r.value));
        if r.time >= e.0 {
            *e = (r.time, r.value);
        }
    }
    let mut by_epoch: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for ((epoch, _run), (_time, value)) in last {
        by_epoch.entry(epoch).or_default().push(value);
    }
    by_epoch
        .into_iter()
        .map(|(epoch, mut values)| {
            // Sorted values make the sum, and so the mean, independent of run order.
            values.sort_by(f64::total_cmp);
            let n = values.len();
            Band {
                x: epoch as f64,
                mean: values.iter().sum::<f64>() / n as f64,
                lo: percentile(&values, 0.025),
                hi: percentile(&values, 0.975),
                runs: u32::try_from(n).unwrap_or(u32::MAX),
            }
        })
        .collect()
}

/// The `p` quantile (0..=1) of sorted, non-empty `values`, interpolating linearly between
/// ranks `floor(p (n-1))` and `ceil(p (n-1))`.
fn percentile(values: &[f64], p: f64) -> f64 {
    let rank = p * (values.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let frac = rank - below as f64;
    values[below] + (values[above] - values[below]) * frac
}

/// The distinct metric names, sorted.
pub fn metrics(rows: &[Row]) -> Vec<String> {
    let names: BTreeSet<&str> = rows.iter().map(|r| r.metric.as_str()).collect();
    names.into_iter().map(str::to_owned).collect()
}

/// The distinct sweep points, sorted.
pub fn points(rows: &[Row]) -> Vec<u32> {
    let points: BTreeSet<u32> = rows.iter().map(|r| r.point).collect();
    points.into_iter().collect()
}

/// A file written under a temporary name in its final folder and renamed into place by
/// [`AtomicFile::commit`]; dropped uncommitted, the temporary file is removed.
pub(crate) struct AtomicFile {
    file: File,
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file beside `dest`: `.NAME.PID.N.tmp`, unique within this
    /// process by a counter and across processes by the process id.
    pub(crate) fn create(dest: &Path) -> io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
        let tmp = dest.with_file_name(format!(
            ".{}.{}.{n}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = File::options().write(true).create_new(true).open(&tmp)?;
        Ok(Self {
            file,
            tmp,
            dest: dest.to_path_buf(),
            committed: false,
        })
    }

    /// The open temporary file.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Flushes the contents to disk and renames the file to its final name.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        self.file.sync_all()?;
        std::fs::rename(&self.tmp, &self.dest)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the temporary name is hidden and never read, so a leftover
            // one is litter, not a wrong result.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(run: u32, point: u32, time: f64, epoch: u64, metric: &str, value: f64) -> Row {
        Row {
            run,
            point,
            time,
            epoch,
            metric: metric.to_owned(),
            value,
        }
    }

    fn sample() -> Vec<Row> {
        vec![
            row(0, 0, 0.0, 0, "supply", 1.0),
            row(0, 0, 0.5, 0, "price, usd", 0.1),
            row(1, 2, 1.25, 3, "say \"hi\"", -2.5e-7),
            row(2, 1, 1e21, u64::MAX, "supply", 1e300),
        ]
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let rows = sample();
        write(dir.path(), &rows).unwrap();
        assert_eq!(read(dir.path()).unwrap(), rows);
    }

    #[test]
    fn round_trip_spans_several_batches_and_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let n = 2 * CHUNK_ROWS + 17;
        let rows: Vec<Row> = (0..n)
            .map(|i| {
                let metric = ["a", "b", "c"][i % 3];
                row(
                    i as u32,
                    (i % 5) as u32,
                    i as f64 / 7.0,
                    i as u64 / 3,
                    metric,
                    i as f64,
                )
            })
            .collect();
        write(dir.path(), &rows).unwrap();
        assert_eq!(read(dir.path()).unwrap(), rows);
    }

    #[test]
    fn empty_table_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[]).unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
        let csv = std::fs::read_to_string(dir.path().join(CSV_FILE)).unwrap();
        assert_eq!(csv, "run,point,time,epoch,metric,value\n");
    }

    #[test]
    fn csv_content_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &sample()).unwrap();
        let csv = std::fs::read_to_string(dir.path().join(CSV_FILE)).unwrap();
        let expected = format!(
            "run,point,time,epoch,metric,value\n\
             0,0,0,0,supply,1\n\
             0,0,0.5,0,\"price, usd\",0.1\n\
             1,2,1.25,3,\"say \"\"hi\"\"\",-0.00000025\n\
             2,1,1000000000000000000000,18446744073709551615,supply,{}\n",
            1e300
        );
        assert_eq!(csv, expected);
    }

    #[test]
    fn non_finite_value_is_rejected_before_writing_anything() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = sample();
        rows.push(row(7, 1, 2.0, 4, "supply", f64::NAN));
        let err = write(dir.path(), &rows).unwrap_err();
        assert!(matches!(
            err,
            TableError::NonFinite {
                field: "value",
                run: 7,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "non-finite value NaN for metric `supply` in run 7, point 1, epoch 4: \
             series times and values must be finite"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn infinite_time_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let err = write(dir.path(), &[row(0, 0, f64::INFINITY, 0, "m", 1.0)]).unwrap_err();
        assert!(
            matches!(err, TableError::NonFinite { field: "time", .. }),
            "{err}"
        );
    }

    #[test]
    fn write_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &sample()).unwrap();
        write(dir.path(), &sample()).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [CSV_FILE, PARQUET_FILE]);
    }

    #[test]
    fn write_to_missing_folder_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = write(&missing, &sample()).unwrap_err();
        assert!(matches!(
            err,
            TableError::Io {
                file: PARQUET_FILE,
                ..
            }
        ));
        assert!(err.to_string().starts_with("series.parquet in "), "{err}");
    }

    /// Writes a Parquet file with the given columns as `series.parquet` in `dir`.
    fn write_raw(dir: &Path, columns: Vec<(&str, ArrayRef)>) {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let f = File::create(dir.join(PARQUET_FILE)).unwrap();
        let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    #[test]
    fn reading_a_file_without_metric_names_the_missing_column() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("results");
        std::fs::create_dir(&results).unwrap();
        write_raw(
            &results,
            vec![
                ("run", Arc::new(UInt32Array::from(vec![0])) as ArrayRef),
                ("point", Arc::new(UInt32Array::from(vec![0]))),
                ("time", Arc::new(Float64Array::from(vec![0.0]))),
                ("epoch", Arc::new(UInt64Array::from(vec![0]))),
                ("value", Arc::new(Float64Array::from(vec![1.0]))),
            ],
        );
        let err = read(&results).unwrap_err();
        assert!(matches!(
            err,
            TableError::MissingColumn {
                column: "metric",
                ..
            }
        ));
        let shown = format!("{}/", results.display());
        assert_eq!(
            err.to_string(),
            format!("series.parquet in {shown}: missing column `metric`")
        );
    }

    #[test]
    fn reading_a_column_of_the_wrong_type_names_it() {
        let dir = tempfile::tempdir().unwrap();
        write_raw(
            dir.path(),
            vec![
                (
                    "run",
                    Arc::new(arrow_array::Int64Array::from(vec![0])) as ArrayRef,
                ),
                ("point", Arc::new(UInt32Array::from(vec![0]))),
                ("time", Arc::new(Float64Array::from(vec![0.0]))),
                ("epoch", Arc::new(UInt64Array::from(vec![0]))),
                (
                    "metric",
                    Arc::new(arrow_array::StringArray::from(vec!["m"])),
                ),
                ("value", Arc::new(Float64Array::from(vec![1.0]))),
            ],
        );
        let err = read(dir.path()).unwrap_err();
        assert!(
            matches!(err, TableError::ColumnType { column: "run", .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("column `run` has type Int64, expected UInt32")
        );
    }

    #[test]
    fn reading_plain_strings_and_extra_columns_works() {
        let dir = tempfile::tempdir().unwrap();
        write_raw(
            dir.path(),
            vec![
                (
                    "extra",
                    Arc::new(arrow_array::Int64Array::from(vec![9, 9])) as ArrayRef,
                ),
                ("value", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
                (
                    "metric",
                    Arc::new(arrow_array::StringArray::from(vec!["m", "n"])),
                ),
                ("epoch", Arc::new(UInt64Array::from(vec![3, 4]))),
                ("time", Arc::new(Float64Array::from(vec![0.5, 0.25]))),
                ("point", Arc::new(UInt32Array::from(vec![1, 2]))),
                ("run", Arc::new(UInt32Array::from(vec![5, 6]))),
            ],
        );
        assert_eq!(
            read(dir.path()).unwrap(),
            [row(5, 1, 0.5, 3, "m", 1.0), row(6, 2, 0.25, 4, "n", 2.0)]
        );
    }

    #[test]
    fn reading_nulls_names_the_column() {
        let dir = tempfile::tempdir().unwrap();
        write_raw(
            dir.path(),
            vec![
                ("run", Arc::new(UInt32Array::from(vec![0, 1])) as ArrayRef),
                ("point", Arc::new(UInt32Array::from(vec![0, 0]))),
                ("time", Arc::new(Float64Array::from(vec![Some(0.0), None]))),
                ("epoch", Arc::new(UInt64Array::from(vec![0, 0]))),
                (
                    "metric",
                    Arc::new(arrow_array::StringArray::from(vec!["m", "m"])),
                ),
                ("value", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
            ],
        );
        let err = read(dir.path()).unwrap_err();
        assert!(
            err.to_string().ends_with("column `time` has 1 null values"),
            "{err}"
        );
    }

    #[test]
    fn reading_a_file_that_is_not_parquet_names_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PARQUET_FILE), "run,point\n").unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(matches!(err, TableError::Parquet { .. }), "{err}");
        assert!(err.to_string().starts_with("series.parquet in "), "{err}");
    }

    #[test]
    fn bands_take_mean_and_interpolated_percentiles_per_epoch() {
        // Epoch 1 holds runs 0..=40 with values 0..=40, given in reverse order.
        let mut rows: Vec<Row> = (0..=40)
            .rev()
            .map(|r| row(r, 0, 1.0, 1, "m", r as f64))
            .collect();
        rows.push(row(0, 0, 0.0, 0, "m", 5.0));
        rows.push(row(0, 1, 0.0, 0, "m", 99.0)); // another point
        rows.push(row(0, 0, 0.0, 0, "other", 99.0)); // another metric
        let b = bands(&rows, 0, "m");
        assert_eq!(b.len(), 2);
        assert_eq!(
            b[0],
            Band {
                x: 0.0,
                mean: 5.0,
                lo: 5.0,
                hi: 5.0,
                runs: 1
            }
        );
        // rank 0.025 * 40 = 1 and 0.975 * 40 = 39 exactly.
        assert_eq!(
            b[1],
            Band {
                x: 1.0,
                mean: 20.0,
                lo: 1.0,
                hi: 39.0,
                runs: 41
            }
        );
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let v = [0.0, 10.0, 20.0, 30.0];
        // rank 0.075 and 2.925
        assert!((percentile(&v, 0.025) - 0.75).abs() < 1e-12);
        assert!((percentile(&v, 0.975) - 29.25).abs() < 1e-12);
        assert_eq!(percentile(&[3.0], 0.975), 3.0);
    }

    #[test]
    fn bands_use_each_runs_last_observation_in_an_epoch() {
        let rows = [
            row(0, 0, 2.0, 0, "m", 10.0),
            row(0, 0, 1.0, 0, "m", 1.0),
            row(1, 0, 0.5, 0, "m", 4.0),
        ];
        let b = bands(&rows, 0, "m");
        assert_eq!(b.len(), 1);
        assert_eq!((b[0].x, b[0].mean, b[0].runs), (0.0, 7.0, 2));
        assert!((b[0].lo - 4.15).abs() < 1e-12, "{:?}", b[0]);
        assert!((b[0].hi - 9.85).abs() < 1e-12, "{:?}", b[0]);
    }

    #[test]
    fn bands_of_unknown_metric_are_empty() {
        assert!(bands(&sample(), 0, "nope").is_empty());
    }

    #[test]
    fn metrics_and_points_are_distinct_and_sorted() {
        assert_eq!(metrics(&sample()), ["price, usd", "say \"hi\"", "supply"]);
        assert_eq!(points(&sample()), [0, 1, 2]);
        assert!(metrics(&[]).is_empty());
    }
}

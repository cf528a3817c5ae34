//! The tantivy schema of a split.

use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, STORED, STRING, Schema, TEXT,
};

/// Version of the split schema. Splits of another version are never mixed into a search;
/// the next contribution rebuilds them from the table.
pub const INDEX_SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub record_id: Field,
    pub batch_id: Field,
    pub row_in_batch: Field,
    pub title: Field,
    pub text: Field,
    pub uri: Field,
    pub contributor: Field,
    pub source: Field,
    pub lang: Field,
    pub licence: Field,
    pub quality: Field,
    pub fetched_at: Field,
}

pub(crate) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let date = DateOptions::default()
        .set_indexed()
        .set_stored()
        .set_fast()
        // Microseconds, as stored: a sort by time must order records fetched within a second.
        .set_precision(DateTimePrecision::Microseconds);
    let fields = Fields {
        record_id: b.add_text_field("record_id", STRING | STORED),
        batch_id: b.add_text_field("batch_id", STRING | STORED),
        row_in_batch: b.add_u64_field("row_in_batch", STORED | FAST),
        title: b.add_text_field("title", TEXT | STORED),
        // Stored so hits can show a snippet without a round trip to Parquet.
        text: b.add_text_field("text", TEXT | STORED),
        uri: b.add_text_field("uri", STRING | STORED),
        contributor: b.add_text_field("contributor", STRING | STORED | FAST),
        source: b.add_text_field("source", STRING | STORED | FAST),
        lang: b.add_text_field("lang", STRING | STORED | FAST),
        licence: b.add_text_field("licence", STRING | STORED | FAST),
        // The quality score in millionths: tantivy's f64 range over a fast field misses
        // values equal to the lower bound when a segment holds several distinct values
        // (seen with tantivy 0.27); integers compare exactly.
        quality: b.add_u64_field("quality_millionths", INDEXED | STORED | FAST),
        fetched_at: b.add_date_field("fetched_at", date),
    };
    (b.build(), fields)
}

pub(crate) fn fields_of(schema: &Schema) -> Result<Fields, tantivy::TantivyError> {
    let f = |name| schema.get_field(name);
    Ok(Fields {
        record_id: f("record_id")?,
        batch_id: f("batch_id")?,
        row_in_batch: f("row_in_batch")?,
        title: f("title")?,
        text: f("text")?,
        uri: f("uri")?,
        contributor: f("contributor")?,
        source: f("source")?,
        lang: f("lang")?,
        licence: f("licence")?,
        quality: f("quality_millionths")?,
        fetched_at: f("fetched_at")?,
    })
}

//! Dedup state and intermediates as self-checking binary objects.
//!
//! Every object is a [`Blob`]: `MASA` + a 4-byte kind, a JSON header (what the object is
//! about, so a misplaced file is caught), a payload, and a SHA-256 trailer over all of it.
//! Decoding checks each part, so a truncated, corrupted or misplaced object is an error that
//! says which check failed, never silently wrong output.

use crate::minhash::{MinHashParams, SigValue, Sketch, SketchRef};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct BlobError {
    pub reason: String,
}

fn bad(reason: impl Into<String>) -> BlobError {
    BlobError {
        reason: reason.into(),
    }
}

/// A kind-tagged, checksummed object: header JSON plus binary payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    pub kind: [u8; 4],
    pub header: serde_json::Value,
    pub payload: Vec<u8>,
}

const MAGIC: &[u8; 4] = b"MASA";

impl Blob {
    pub fn encode(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).expect("a JSON value serializes");
        let mut out = Vec::with_capacity(8 + 4 + header.len() + 8 + self.payload.len() + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.kind);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(self.payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.payload);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Decodes and checks an object that must be of `kind`.
    pub fn decode(bytes: &[u8], kind: &[u8; 4]) -> Result<Blob, BlobError> {
        let kind_name = String::from_utf8_lossy(kind);
        if bytes.len() < 8 + 4 + 8 + 32 || &bytes[..4] != MAGIC {
            return Err(bad("not a masa dedup object (bad magic or too short)"));
        }
        if &bytes[4..8] != kind {
            return Err(bad(format!(
                "expected a {kind_name} object, found {}",
                String::from_utf8_lossy(&bytes[4..8])
            )));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err(bad(
                "checksum mismatch: the object is truncated or corrupted",
            ));
        }
        let header_len = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes")) as usize;
        let header_end = 12usize
            .checked_add(header_len)
            .filter(|e| e + 8 <= body.len())
            .ok_or_else(|| bad("header length runs past the end"))?;
        let header = serde_json::from_slice(&body[12..header_end])
            .map_err(|e| bad(format!("header is not JSON: {e}")))?;
        let payload_len = u64::from_le_bytes(
            body[header_end..header_end + 8]
                .try_into()
                .expect("8 bytes"),
        );
        let payload = &body[header_end + 8..];
        if payload.len() as u64 != payload_len {
            return Err(bad(format!(
                "payload is {} bytes, the header says {payload_len}",
                payload.len()
            )));
        }
        Ok(Blob {
            kind: *kind,
            header,
            payload: payload.to_vec(),
        })
    }
}

/// The MinHash sketches of one committed batch's data file: for each row long enough to
/// have one (see [`crate::MinHasher::sketch`]), its `row_in_batch`, its distinct shingle
/// count and its signature: 8 + 2k bytes a row. The file it describes is named, with its
/// row count, so a signature file left from another version of the batch is never taken
/// for this one.
#[derive(Debug, Clone, PartialEq)]
pub struct SigFile {
    pub batch_id: String,
    /// The data file (dataset-relative path) the signatures were computed from.
    pub data_file: String,
    /// Rows of that data file (some may have no signature).
    pub data_rows: u64,
    pub params: MinHashParams,
    /// `row_in_batch` of each row, ascending.
    pub rows: Vec<u32>,
    /// Distinct shingles of each row.
    pub shingles: Vec<u32>,
    /// `rows.len() × k` values, row after row.
    pub sigs: Vec<SigValue>,
}

/// One row's entry, for building a [`SigFile`].
#[derive(Debug, Clone, PartialEq)]
pub struct SigRow {
    pub row: u32,
    pub sketch: Sketch,
}

const SIG_KIND: &[u8; 4] = b"SIG2";

#[derive(serde::Serialize, serde::Deserialize)]
struct SigHeader {
    batch_id: String,
    data_file: String,
    data_rows: u64,
    params: MinHashParams,
    rows: u64,
}

impl SigFile {
    pub fn new(
        batch_id: &str,
        data_file: &str,
        data_rows: u64,
        params: MinHashParams,
        rows: Vec<SigRow>,
    ) -> SigFile {
        let k = params.permutations();
        let mut sigs = Vec::with_capacity(rows.len() * k);
        let mut ids = Vec::with_capacity(rows.len());
        let mut shingles = Vec::with_capacity(rows.len());
        for r in rows {
            assert_eq!(r.sketch.sig.len(), k, "signature length");
            ids.push(r.row);
            shingles.push(r.sketch.shingles);
            sigs.extend_from_slice(&r.sketch.sig);
        }
        SigFile {
            batch_id: batch_id.to_owned(),
            data_file: data_file.to_owned(),
            data_rows,
            params,
            rows: ids,
            shingles,
            sigs,
        }
    }

    /// Whether this is the signature file of `data_file` with `data_rows` rows, for `params`.
    pub fn describes(&self, data_file: &str, data_rows: u64, params: &MinHashParams) -> bool {
        self.data_file == data_file && self.data_rows == data_rows && self.params == *params
    }

    /// Encoded size in bytes, without encoding.
    pub fn encoded_len(&self) -> usize {
        self.encode_header().len() + 4 + 4 + 4 + 8 + self.rows.len() * 8 + self.sigs.len() * 2 + 32
    }

    fn encode_header(&self) -> Vec<u8> {
        let header = SigHeader {
            batch_id: self.batch_id.clone(),
            data_file: self.data_file.clone(),
            data_rows: self.data_rows,
            params: self.params,
            rows: self.rows.len() as u64,
        };
        serde_json::to_vec(&header).expect("header serializes")
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn signature(&self, i: usize) -> &[SigValue] {
        let k = self.params.permutations();
        &self.sigs[i * k..(i + 1) * k]
    }

    /// The sketch of the `i`-th row held.
    pub fn sketch(&self, i: usize) -> SketchRef<'_> {
        SketchRef {
            sig: self.signature(i),
            shingles: self.shingles[i],
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(self.rows.len() * 8 + self.sigs.len() * 2);
        for r in self.rows.iter().chain(&self.shingles) {
            payload.extend_from_slice(&r.to_le_bytes());
        }
        for v in &self.sigs {
            payload.extend_from_slice(&v.to_le_bytes());
        }
        Blob {
            kind: *SIG_KIND,
            header: serde_json::from_slice(&self.encode_header()).expect("header is JSON"),
            payload,
        }
        .encode()
    }

    /// Decodes a signature file and checks that it is the one for `batch_id`.
    pub fn decode(bytes: &[u8], batch_id: &str) -> Result<SigFile, BlobError> {
        let blob = Blob::decode(bytes, SIG_KIND)?;
        let h: SigHeader = serde_json::from_value(blob.header)
            .map_err(|e| bad(format!("signature header: {e}")))?;
        if h.batch_id != batch_id {
            return Err(bad(format!(
                "holds the signatures of batch {}, not {batch_id}",
                h.batch_id
            )));
        }
        h.params
            .check()
            .map_err(|e| bad(format!("signature parameters: {e}")))?;
        let n = h.rows as usize;
        let k = h.params.permutations();
        let expected = n.checked_mul(8 + 2 * k);
        if expected != Some(blob.payload.len()) {
            return Err(bad(format!(
                "{} payload bytes for {n} rows of {k} values",
                blob.payload.len()
            )));
        }
        let (ids, rest) = blob.payload.split_at(n * 4);
        let (counts, vals) = rest.split_at(n * 4);
        let words = |b: &[u8]| -> Vec<u32> {
            b.chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect()
        };
        let (rows, shingles) = (words(ids), words(counts));
        if rows.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("row numbers are not strictly ascending"));
        }
        let sigs = vals
            .chunks_exact(2)
            .map(|c| SigValue::from_le_bytes(c.try_into().expect("2 bytes")))
            .collect();
        Ok(SigFile {
            batch_id: h.batch_id,
            data_file: h.data_file,
            data_rows: h.data_rows,
            params: h.params,
            rows,
            shingles,
            sigs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MinHasher;

    fn sample() -> SigFile {
        let p = MinHashParams::default();
        let h = MinHasher::new(p);
        let rows = [
            "first text here and more",
            "second text with enough words",
            "third one of five words",
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| SigRow {
            row: i as u32 * 2,
            sketch: h.sketch(t).unwrap(),
        })
        .collect();
        SigFile::new("b1", "table/part-b1.zstd.parquet", 5, p, rows)
    }

    #[test]
    fn signature_files_round_trip() {
        let f = sample();
        let bytes = f.encode();
        assert_eq!(SigFile::decode(&bytes, "b1").unwrap(), f);
        let sk = MinHasher::new(f.params)
            .sketch("second text with enough words")
            .unwrap();
        assert_eq!(f.sketch(1), sk.as_ref());
        assert_eq!(f.sketch(1).shingles, 5 - f.params.shingle_words as u32 + 1);
        assert_eq!(f.encoded_len(), bytes.len());
        assert!(f.describes("table/part-b1.zstd.parquet", 5, &f.params));
        assert!(!f.describes("table/part-b1-dedup-x.zstd.parquet", 5, &f.params));
        assert!(!f.describes("table/part-b1.zstd.parquet", 4, &f.params));
    }

    #[test]
    fn every_corruption_is_caught() {
        let bytes = sample().encode();
        let err = |b: &[u8], batch: &str| SigFile::decode(b, batch).unwrap_err().reason;
        assert!(err(&bytes, "b2").contains("not b2"));
        assert!(err(&bytes[..bytes.len() - 1], "b1").contains("checksum"));
        for i in [0, 5, 20, bytes.len() / 2, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[i] ^= 1;
            assert!(SigFile::decode(&b, "b1").is_err(), "flip at {i} accepted");
        }
        assert!(err(b"", "b1").contains("magic"));
        let other = Blob {
            kind: *b"PRS1",
            header: serde_json::json!({}),
            payload: vec![],
        }
        .encode();
        assert!(err(&other, "b1").contains("expected a SIG2"));
    }
}

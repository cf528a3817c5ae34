//! A WARC 1.0/1.1 record reader over any byte stream (`BufRead`), for plain `.warc` files
//! and for `.warc.gz` files made of one gzip member per record (Common Crawl's layout), with
//! the byte offset of every record or member so a run can resume at a record boundary.
//!
//! Written here rather than taken from the `warc` crate: that crate reads a `.warc.gz`
//! through one multi-member decoder and does not say where a member ends, and those
//! boundaries are exactly the positions a checkpoint needs (and the offsets Common Crawl's
//! indexes give).

use flate2::bufread::GzDecoder;
use std::io::{self, BufRead, Read};

/// Longest WARC header block read before giving up on a record as malformed.
const MAX_HEADER_BYTES: usize = 64 << 10;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// One WARC record: its named fields and its block (for a `response`, the HTTP response).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Byte offset in the file of the record, or of the gzip member holding it.
    pub offset: u64,
    pub fields: Vec<(String, String)>,
    pub block: Vec<u8>,
}

impl Record {
    /// A named field, case-insensitively (WARC field names are case-insensitive).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn warc_type(&self) -> &str {
        self.field("WARC-Type").unwrap_or("")
    }

    /// `WARC-Target-URI`, without the angle brackets WARC 1.0 examples put around it.
    pub fn target_uri(&self) -> Option<&str> {
        self.field("WARC-Target-URI")
            .map(|u| u.trim().trim_start_matches('<').trim_end_matches('>'))
            .filter(|u| !u.is_empty())
    }
}

/// Where reading resumes: a record boundary (plain files) or a gzip member boundary, plus
/// how many records of that member were already handled (members normally hold one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub offset: u64,
    pub skip: u32,
}

/// What the reader found next; every case but `End` says where the next read starts.
#[derive(Debug, PartialEq)]
pub enum Next {
    Record(Record, Position),
    /// A record longer than the limit; its bytes were passed over.
    TooLarge {
        offset: u64,
        len: u64,
        next: Position,
    },
    /// A whole gzip member whose content is not a WARC record: the reader resynchronises
    /// at the next member.
    Malformed {
        offset: u64,
        detail: String,
        next: Position,
    },
    /// The stream ended inside the record at `offset`; nothing of the stream follows.
    Truncated {
        offset: u64,
        detail: String,
    },
    End,
}

/// A record the reader cannot pass: the stream is corrupt where no next boundary is known
/// (a broken gzip member, a malformed header in a plain file).
#[derive(Debug, thiserror::Error)]
#[error("record at byte offset {offset}: {detail}")]
pub struct Corrupt {
    pub offset: u64,
    pub detail: String,
}

/// Counts the bytes consumed from the inner reader: the offset in the file.
struct Counting<R> {
    inner: R,
    pos: u64,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt as u64;
        self.inner.consume(amt);
    }
}

/// Reads records from a stream positioned at a record or member boundary.
pub struct WarcReader<R> {
    input: Counting<R>,
    gzip: Option<bool>,
    max_record_bytes: u64,
    /// Records of the current member not yet returned, with their positions.
    pending: std::collections::VecDeque<Next>,
    /// Records to drop from the first member (a resumed position's `skip`).
    skip: u32,
}

impl<R: BufRead> WarcReader<R> {
    /// `input` starts at `at.offset` of the file; the first `at.skip` records of the member
    /// there are passed over.
    pub fn new(input: R, at: Position, max_record_bytes: u64) -> Self {
        WarcReader {
            input: Counting {
                inner: input,
                pos: at.offset,
            },
            gzip: None,
            max_record_bytes,
            pending: Default::default(),
            skip: at.skip,
        }
    }

    pub fn next_record(&mut self) -> Result<Next, Corrupt> {
        loop {
            if let Some(n) = self.pending.pop_front() {
                return Ok(n);
            }
            let start = self.input.pos;
            let io_err = |e: io::Error| Corrupt {
                offset: start,
                detail: format!("read failed: {e}"),
            };
            let head = self.input.fill_buf().map_err(io_err)?;
            if head.is_empty() {
                return Ok(Next::End);
            }
            let gzip = *self.gzip.get_or_insert(head.starts_with(&GZIP_MAGIC[..1]));
            if !gzip {
                return self.plain_record();
            }
            let mut member = self.read_member(start)?;
            let skip = std::mem::take(&mut self.skip);
            if skip > 0 {
                member.drain(..(skip as usize).min(member.len()));
            }
            self.pending.extend(member);
        }
    }

    /// Inflates one gzip member and splits it into records.
    fn read_member(&mut self, start: u64) -> Result<Vec<Next>, Corrupt> {
        let limit = self.max_record_bytes;
        let mut data = Vec::new();
        let mut dec = GzDecoder::new(&mut self.input);
        let read = (&mut dec).take(limit + 1).read_to_end(&mut data);
        let over = match read {
            Ok(_) if data.len() as u64 > limit => {
                let rest = io::copy(&mut dec, &mut io::sink());
                rest.map(|n| Some(data.len() as u64 + n))
            }
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        };
        drop(dec);
        let end = Position {
            offset: self.input.pos,
            skip: 0,
        };
        match over {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Ok(vec![Next::Truncated {
                    offset: start,
                    detail: "the file ends inside this gzip member".into(),
                }]);
            }
            Err(e) => {
                return Err(Corrupt {
                    offset: start,
                    detail: format!("not a readable gzip member ({e})"),
                });
            }
            Ok(Some(len)) => {
                return Ok(vec![Next::TooLarge {
                    offset: start,
                    len,
                    next: end,
                }]);
            }
            Ok(None) => {}
        }
        let mut out = Vec::new();
        let mut rest = &data[..];
        let mut index = 0u32;
        loop {
            rest = trim_line_breaks(rest);
            if rest.is_empty() {
                break;
            }
            match split_record(rest) {
                Ok((fields, block, tail)) => {
                    index += 1;
                    let record = Record {
                        offset: start,
                        fields,
                        block: block.to_vec(),
                    };
                    out.push(Next::Record(
                        record,
                        Position {
                            offset: start,
                            skip: index,
                        },
                    ));
                    rest = tail;
                }
                Err(detail) => {
                    out.push(Next::Malformed {
                        offset: start,
                        detail,
                        next: end,
                    });
                    break;
                }
            }
        }
        // The member's last event moves on to the next member.
        match out.last_mut() {
            Some(Next::Record(_, p)) => *p = end,
            Some(_) => {}
            None => out.push(Next::Malformed {
                offset: start,
                detail: "an empty gzip member".into(),
                next: end,
            }),
        }
        Ok(out)
    }

    /// Reads one record of an uncompressed stream.
    fn plain_record(&mut self) -> Result<Next, Corrupt> {
        let start = self.input.pos;
        let corrupt = |detail: String| Corrupt {
            offset: start,
            detail,
        };
        let truncated = |what: &str| Next::Truncated {
            offset: start,
            detail: format!("the file ends inside this record's {what}"),
        };
        let mut head = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = (&mut self.input)
                .take(MAX_HEADER_BYTES as u64)
                .read_until(b'\n', &mut line)
                .map_err(|e| corrupt(format!("read failed: {e}")))?;
            if n == 0 {
                if head.is_empty() {
                    return Ok(Next::End);
                }
                return Ok(truncated("header"));
            }
            if head.is_empty() && trim_line_breaks(&line).is_empty() {
                continue; // stray line breaks between records
            }
            if !line.ends_with(b"\n") && line.len() >= MAX_HEADER_BYTES {
                return Err(corrupt("a header line longer than 64 KiB".into()));
            }
            let blank = line == b"\r\n" || line == b"\n";
            head.extend_from_slice(&line);
            if blank {
                break;
            }
            if head.len() > MAX_HEADER_BYTES {
                return Err(corrupt("a header longer than 64 KiB".into()));
            }
        }
        let fields = parse_fields(&head).map_err(corrupt)?;
        let len = content_length(&fields).map_err(corrupt)?;
        if len > self.max_record_bytes {
            let passed = io::copy(&mut (&mut self.input).take(len), &mut io::sink())
                .map_err(|e| corrupt(format!("read failed: {e}")))?;
            if passed < len {
                return Ok(truncated("block"));
            }
            self.eat_line_breaks()
                .map_err(|e| corrupt(format!("read failed: {e}")))?;
            return Ok(Next::TooLarge {
                offset: start,
                len,
                next: Position {
                    offset: self.input.pos,
                    skip: 0,
                },
            });
        }
        let mut block = Vec::with_capacity(len as usize);
        (&mut self.input)
            .take(len)
            .read_to_end(&mut block)
            .map_err(|e| corrupt(format!("read failed: {e}")))?;
        if (block.len() as u64) < len {
            return Ok(truncated("block"));
        }
        self.eat_line_breaks()
            .map_err(|e| corrupt(format!("read failed: {e}")))?;
        Ok(Next::Record(
            Record {
                offset: start,
                fields,
                block,
            },
            Position {
                offset: self.input.pos,
                skip: 0,
            },
        ))
    }

    /// Consumes the `\r\n\r\n` that ends a record (and any further line breaks).
    fn eat_line_breaks(&mut self) -> io::Result<()> {
        loop {
            let buf = self.input.fill_buf()?;
            let n = buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if n == 0 {
                return Ok(());
            }
            self.input.consume(n);
        }
    }
}

fn trim_line_breaks(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| matches!(c, b'\r' | b'\n')).count();
    &b[n..]
}

/// A record's named fields, in order.
type Fields = Vec<(String, String)>;

/// Splits an in-memory record into its fields, its block and what follows it.
fn split_record(data: &[u8]) -> Result<(Fields, &[u8], &[u8]), String> {
    let end = memchr::memmem::find(data, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| memchr::memmem::find(data, b"\n\n").map(|i| i + 2))
        .ok_or("no end of the WARC header")?;
    let fields = parse_fields(&data[..end])?;
    let len = usize::try_from(content_length(&fields)?).map_err(|_| "Content-Length too big")?;
    let rest = &data[end..];
    if rest.len() < len {
        return Err(format!(
            "Content-Length {len} but only {} bytes follow",
            rest.len()
        ));
    }
    Ok((fields, &rest[..len], &rest[len..]))
}

/// Parses a WARC header block: the version line, then `Name: value` lines (a line starting
/// with a space or tab continues the previous value).
fn parse_fields(head: &[u8]) -> Result<Fields, String> {
    let text = std::str::from_utf8(head).map_err(|_| "the WARC header is not UTF-8")?;
    let mut lines = text.lines();
    let version = lines.next().unwrap_or("").trim();
    if !version.starts_with("WARC/") {
        let shown: String = version.chars().take(40).collect();
        return Err(format!("expected a WARC/1.x version line, found {shown:?}"));
    }
    let mut fields: Fields = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("a header line without a colon: {line:?}"))?;
        fields.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Ok(fields)
}

fn content_length(fields: &[(String, String)]) -> Result<u64, String> {
    let v = fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
        .map(|(_, v)| v)
        .ok_or("no Content-Length field")?;
    v.parse()
        .map_err(|_| format!("Content-Length {v:?} is not a number"))
}

#[cfg(test)]
mod tests;

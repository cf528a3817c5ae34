//! Reading lines with a length limit, so one enormous line never has to fit in memory.

use std::io::{self, BufRead};

/// One line as read by [`read_bounded_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line (without its `\n`), in the caller's buffer.
    Complete,
    /// The line was longer than the limit; its bytes were skipped up to the next `\n`.
    TooLong {
        len: u64,
    },
    Eof,
}

/// Reads the next line into `buf` (cleared first). Consumes the line and its newline.
/// Returns the number of bytes consumed alongside the outcome.
pub fn read_bounded_line(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<(Line, u64)> {
    buf.clear();
    let mut consumed: u64 = 0;
    let mut overflow = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(match (consumed, overflow) {
                (0, _) => (Line::Eof, 0),
                (n, true) => (Line::TooLong { len: n }, n),
                (n, false) => (Line::Complete, n),
            });
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let content = if done { &chunk[..take - 1] } else { chunk };
        if !overflow {
            if buf.len() + content.len() > limit {
                overflow = true;
                buf.clear();
            } else {
                buf.extend_from_slice(content);
            }
        }
        r.consume(take);
        consumed += take as u64;
        if done {
            let len = consumed - 1;
            return Ok(if overflow {
                (Line::TooLong { len }, consumed)
            } else {
                (Line::Complete, consumed)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn lines(input: &[u8], limit: usize) -> Vec<(Line, String)> {
        // A tiny buffer exercises lines that span many fill_buf calls.
        let mut r = BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        let mut out = vec![];
        loop {
            let (l, _) = read_bounded_line(&mut r, &mut buf, limit).unwrap();
            if l == Line::Eof {
                return out;
            }
            out.push((l, String::from_utf8_lossy(&buf).into_owned()));
        }
    }

    #[test]
    fn splits_lines_and_keeps_last_line_without_newline() {
        let got = lines(b"ab\n\ncdef\ng", 10);
        assert_eq!(
            got,
            vec![
                (Line::Complete, "ab".into()),
                (Line::Complete, "".into()),
                (Line::Complete, "cdef".into()),
                (Line::Complete, "g".into()),
            ]
        );
    }

    #[test]
    fn overlong_line_is_skipped_and_the_next_line_is_intact() {
        let got = lines(b"short\n0123456789abc\nnext\n", 8);
        assert_eq!(got[0], (Line::Complete, "short".into()));
        assert_eq!(got[1], (Line::TooLong { len: 13 }, "".into()));
        assert_eq!(got[2], (Line::Complete, "next".into()));
    }

    #[test]
    fn consumed_counts_the_newline() {
        let mut r = BufReader::new(&b"abc\nd"[..]);
        let mut buf = Vec::new();
        assert_eq!(read_bounded_line(&mut r, &mut buf, 10).unwrap().1, 4);
        assert_eq!(read_bounded_line(&mut r, &mut buf, 10).unwrap().1, 1);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;
    use std::io::BufReader;

    proptest! {
        /// Whatever the input and buffer size, lines within the limit come back exactly as
        /// `split('\n')` gives them, longer ones are reported with their length, and the
        /// bytes consumed add up to the input.
        #[test]
        fn bounded_lines_agree_with_split(input in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..300), cap in 1usize..16, limit in 0usize..40) {
            let mut r = BufReader::with_capacity(cap, &input[..]);
            let mut buf = Vec::new();
            let mut expected: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
            if input.is_empty() || input.ends_with(b"\n") {
                expected.pop();
            }
            let mut total = 0;
            for want in expected {
                let (line, n) = read_bounded_line(&mut r, &mut buf, limit).unwrap();
                total += n;
                if want.len() <= limit {
                    prop_assert_eq!(line, Line::Complete);
                    prop_assert_eq!(&buf[..], want);
                } else {
                    prop_assert_eq!(line, Line::TooLong { len: want.len() as u64 });
                }
            }
            prop_assert_eq!(read_bounded_line(&mut r, &mut buf, limit).unwrap().0, Line::Eof);
            prop_assert_eq!(total, input.len() as u64);
        }
    }
}

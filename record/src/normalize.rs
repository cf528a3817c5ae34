//! Text normalization and the content hash that exact dedup and provenance rely on.

use unicode_normalization::UnicodeNormalization;

/// Normalizes text for storage and hashing: Unicode NFC, `\r\n`/`\r` to `\n`, trailing
/// whitespace removed from every line, runs of more than one blank line collapsed to one,
/// leading and trailing blank lines removed. Inner spacing of a line is kept (code and tables
/// depend on it).
pub fn normalize_text(input: &str) -> String {
    let nfc: String = if unicode_normalization::is_nfc_quick(input.chars())
        == unicode_normalization::IsNormalized::Yes
    {
        input.to_owned()
    } else {
        input.nfc().collect()
    };
    let mut out = String::with_capacity(nfc.len());
    let mut blank_run = 0usize;
    for line in nfc.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        // Lone carriage returns are line breaks too.
        for piece in line.split('\r') {
            let piece = piece.trim_end();
            if piece.is_empty() {
                blank_run += 1;
                continue;
            }
            if !out.is_empty() {
                out.push('\n');
                if blank_run > 0 {
                    out.push('\n');
                }
            }
            blank_run = 0;
            out.push_str(piece);
        }
    }
    out
}

/// The content hash of already-normalized text: lowercase hex SHA-256 of its UTF-8 bytes.
pub fn content_hash(normalized: &str) -> String {
    crate::sha256_hex(normalized.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_and_trailing_space_do_not_change_the_hash() {
        let a = normalize_text("Hello  world \r\nsecond line\t\r\n");
        let b = normalize_text("Hello  world\nsecond line");
        assert_eq!(a, b);
        assert_eq!(a, "Hello  world\nsecond line");
        assert_eq!(content_hash(&a), content_hash(&b));
    }

    #[test]
    fn blank_line_runs_collapse_to_one() {
        assert_eq!(normalize_text("\n\na\n\n\n\nb\n\n"), "a\n\nb");
    }

    #[test]
    fn nfc_composes_decomposed_accents() {
        // "e" + combining acute accent becomes the single code point U+00E9.
        assert_eq!(normalize_text("cafe\u{301}"), "caf\u{e9}");
    }

    #[test]
    fn whitespace_only_input_normalizes_to_empty() {
        assert_eq!(normalize_text(" \n\t\r\n "), "");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn normalizing_twice_changes_nothing(s in "\\PC*|[ \\t\\r\\n a-z\u{301}\u{e9}]*") {
            let once = normalize_text(&s);
            prop_assert_eq!(normalize_text(&once), once.clone());
        }

        #[test]
        fn normalized_text_has_no_trailing_space_or_cr(s in "[ \\t\\r\\na-z]*") {
            let n = normalize_text(&s);
            prop_assert!(!n.contains('\r'));
            prop_assert!(n.lines().all(|l| l == l.trim_end()));
            prop_assert!(!n.starts_with('\n') && !n.ends_with('\n'));
        }
    }
}

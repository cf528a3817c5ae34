//! The corpus generator shared by the benchmarks.

/// A deterministic generator of English-like documents (xorshift over a word list), so every
/// document is distinct and compresses like text.
pub struct Corpus {
    state: u64,
}

const WORDS: &[&str] = &[
    "data",
    "runtime",
    "table",
    "index",
    "search",
    "query",
    "record",
    "stream",
    "batch",
    "commit",
    "parquet",
    "delta",
    "log",
    "merkle",
    "proof",
    "crawler",
    "page",
    "robots",
    "consent",
    "licence",
    "quality",
    "score",
    "token",
    "model",
    "training",
    "contributor",
    "validator",
    "reward",
    "stake",
    "epoch",
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "with",
    "as",
    "on",
    "by",
    "this",
    "from",
    "it",
    "are",
    "be",
    "or",
    "an",
    "which",
    "when",
    "each",
    "every",
    "new",
    "old",
    "fast",
    "slow",
    "large",
    "small",
];

impl Corpus {
    pub fn new() -> Self {
        Corpus {
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    pub fn doc(&mut self, i: usize, target: usize) -> String {
        let mut s = format!("Document {i}. ");
        while s.len() < target {
            let w = WORDS[(self.next() % WORDS.len() as u64) as usize];
            s.push_str(w);
            s.push(if self.next().is_multiple_of(12) {
                '.'
            } else {
                ' '
            });
        }
        s
    }
}

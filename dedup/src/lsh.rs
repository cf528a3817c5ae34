//! The LSH index over MinHash signatures, and union-find for clustering candidate pairs.

use crate::minhash::{MinHashParams, SigValue, band_key, estimated_jaccard};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Bucket keys are already uniform hashes: hashing them again would only cost time.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        // Spread the key over the high bits too, which hashbrown uses for its control bytes.
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Buckets = HashMap<u32, u32, BuildHasherDefault<KeyHasher>>;

/// Documents bucketed by band. Documents are numbered in insertion order, which is the log
/// order: the earliest document of a near-duplicate group is the one kept.
///
/// Compact by design (224 bytes of signature plus 14 band entries a document at the default
/// 14 × 8; 455 MB at 1M documents measured in BENCHMARKS.md): each band keeps
/// one document per bucket, keyed by 32 bits of the band hash, and signatures are stored
/// in fixed-size chunks. A spurious 32-bit key match only costs one verification; a bucket whose
/// first document is not a near-duplicate of a newcomer still lets the newcomer be found
/// through its other bands.
#[derive(Debug, Clone)]
pub struct LshIndex {
    params: MinHashParams,
    /// Minimum estimated Jaccard for a candidate pair to count as near-duplicates.
    threshold: f64,
    buckets: Vec<Buckets>,
    /// Signatures in fixed-size chunks of [`CHUNK_DOCS`] documents: growing never copies
    /// (or doubles) what is already stored.
    chunks: Vec<Vec<SigValue>>,
    docs: usize,
}

const CHUNK_DOCS: usize = 1 << 14;

impl LshIndex {
    pub fn new(params: MinHashParams, threshold: f64) -> Self {
        LshIndex {
            params,
            threshold,
            buckets: vec![Buckets::default(); params.bands],
            chunks: Vec::new(),
            docs: 0,
        }
    }

    pub fn params(&self) -> &MinHashParams {
        &self.params
    }

    pub fn len(&self) -> usize {
        self.docs
    }

    pub fn is_empty(&self) -> bool {
        self.docs == 0
    }

    /// The signature of document `doc`.
    pub fn signature(&self, doc: u32) -> &[SigValue] {
        let k = self.params.permutations();
        let (chunk, i) = (doc as usize / CHUNK_DOCS, doc as usize % CHUNK_DOCS);
        &self.chunks[chunk][i * k..(i + 1) * k]
    }

    /// Approximate heap bytes held, for reporting state size.
    pub fn heap_bytes(&self) -> usize {
        let per_entry = std::mem::size_of::<(u32, u32)>() + 1;
        self.chunks.iter().map(Vec::capacity).sum::<usize>() * std::mem::size_of::<SigValue>()
            + self
                .buckets
                .iter()
                .map(|b| b.capacity() * per_entry)
                .sum::<usize>()
    }

    /// The 32-bit bucket key of `sig` in each band.
    fn keys(&self, sig: &[SigValue]) -> Vec<(usize, u32)> {
        assert_eq!(sig.len(), self.params.permutations(), "signature length");
        (0..self.params.bands)
            .map(|b| (b, band_key(sig, b, self.params.rows) as u32))
            .collect()
    }

    /// The earliest indexed document that shares a band with `sig` and whose estimated
    /// Jaccard reaches the threshold, with that estimate.
    pub fn near_duplicate(&self, sig: &[SigValue]) -> Option<(u32, f64)> {
        self.near_duplicate_by_keys(sig, &self.keys(sig))
    }

    fn near_duplicate_by_keys(
        &self,
        sig: &[SigValue],
        keys: &[(usize, u32)],
    ) -> Option<(u32, f64)> {
        let mut candidates: Vec<u32> = keys
            .iter()
            .filter_map(|(band, key)| self.buckets[*band].get(key).copied())
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        candidates.into_iter().find_map(|doc| {
            let j = estimated_jaccard(sig, self.signature(doc));
            (j >= self.threshold).then_some((doc, j))
        })
    }

    /// Adds a document; returns its number. Panics past 2^32 - 1 documents.
    pub fn insert(&mut self, sig: &[SigValue]) -> u32 {
        let keys = self.keys(sig);
        self.insert_with_keys(sig, &keys)
    }

    fn insert_with_keys(&mut self, sig: &[SigValue], keys: &[(usize, u32)]) -> u32 {
        let id = u32::try_from(self.docs)
            .ok()
            .filter(|id| *id < u32::MAX)
            .expect("an LSH index holds at most 2^32 - 1 documents");
        for (band, key) in keys {
            self.buckets[*band].entry(*key).or_insert(id);
        }
        if self.docs.is_multiple_of(CHUNK_DOCS) {
            self.chunks
                .push(Vec::with_capacity(CHUNK_DOCS * self.params.permutations()));
        }
        self.chunks
            .last_mut()
            .expect("a chunk was just ensured")
            .extend_from_slice(sig);
        self.docs += 1;
        id
    }

    /// Adds the document unless it is a near-duplicate of one already indexed; then returns
    /// the earliest such document and the estimate instead.
    pub fn insert_unless_near_duplicate(&mut self, sig: &[SigValue]) -> Result<u32, (u32, f64)> {
        let keys = self.keys(sig);
        match self.near_duplicate_by_keys(sig, &keys) {
            Some(found) => Err(found),
            None => Ok(self.insert_with_keys(sig, &keys)),
        }
    }
}

/// Disjoint sets with path halving and union by size.
#[derive(Debug, Clone, Default)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    pub fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    pub fn union(&mut self, a: u32, b: u32) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a as usize] < self.size[b as usize] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MinHashParams, MinHasher};

    /// A distinct letters-only word per number (digits would be folded away).
    fn word(mut i: usize, salt: &str) -> String {
        let mut w = String::from(salt);
        loop {
            w.push((b'a' + (i % 26) as u8) as char);
            i /= 26;
            if i == 0 {
                return w;
            }
        }
    }

    fn text(words: usize, salt: &str) -> String {
        (0..words)
            .map(|i| word(i, salt))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_lightly_edited_copy_is_found_and_a_different_text_is_not() {
        let h = MinHasher::new(MinHashParams::default());
        let mut idx = LshIndex::new(*h.params(), 0.7);
        let original = text(400, "");
        let first = idx.insert(&h.signature(&original).unwrap());
        // Change 2% of the words and add a header line.
        let mut words: Vec<String> = original.split(' ').map(str::to_owned).collect();
        words[10] = "changed".into();
        words[200] = "edited".into();
        let edited = format!("Posted on 2026-01-01\n{}", words.join(" "));
        let sig = h.signature(&edited).unwrap();
        let j = estimated_jaccard(&sig, &h.signature(&original).unwrap());
        assert!(j > 0.8, "estimated Jaccard {j}");
        assert_eq!(
            idx.insert_unless_near_duplicate(&sig).map_err(|e| e.0),
            Err(first)
        );
        let other = h.signature(&text(400, "q")).unwrap();
        assert!(idx.insert_unless_near_duplicate(&other).is_ok());
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn signatures_are_kept_across_storage_chunks() {
        let p = MinHashParams::default();
        let k = p.permutations();
        let mut idx = LshIndex::new(p, 0.5);
        let sig = |d: usize| -> Vec<SigValue> { (0..k).map(|i| (d * 7 + i) as SigValue).collect() };
        for d in 0..CHUNK_DOCS + 10 {
            assert_eq!(idx.insert(&sig(d)), d as u32);
        }
        for d in [0, CHUNK_DOCS - 1, CHUNK_DOCS, CHUNK_DOCS + 9] {
            assert_eq!(idx.signature(d as u32), sig(d).as_slice(), "doc {d}");
        }
        assert_eq!(idx.len(), CHUNK_DOCS + 10);
    }

    #[test]
    fn union_find_joins_transitively() {
        let mut uf = UnionFind::new(5);
        uf.union(0, 1);
        uf.union(3, 4);
        uf.union(1, 4);
        assert_eq!(uf.find(0), uf.find(3));
        assert_ne!(uf.find(2), uf.find(0));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::{MinHashParams, MinHasher};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the text (any Unicode, as long as it has a signature), a copy is always
        /// found, at any threshold, among any other documents, and the document reported is
        /// the earliest one with the same signature.
        #[test]
        fn identical_texts_always_collide(
            text in "(\\PC{1,12} ){5,60}",
            others in proptest::collection::vec("([a-z]{1,8} ){5,40}", 0..20),
            threshold in 0.0f64..=1.0,
        ) {
            let h = MinHasher::new(MinHashParams::default());
            let sig = h.signature(&text);
            prop_assume!(sig.is_some());
            let sig = sig.unwrap();
            let mut idx = LshIndex::new(*h.params(), threshold);
            let mut earliest = None;
            for o in &others {
                if let Some(s) = h.signature(o) {
                    let d = idx.insert(&s);
                    if s == sig && earliest.is_none() {
                        earliest = Some(d);
                    }
                }
            }
            let d = idx.insert(&sig);
            let earliest = earliest.unwrap_or(d);
            let (doc, j) = idx.near_duplicate(&sig).expect("a copy is always found");
            prop_assert_eq!(j, 1.0);
            prop_assert_eq!(doc, earliest);
        }
    }
}

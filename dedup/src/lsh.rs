//! The LSH index over MinHash sketches, and union-find for clustering candidate pairs.

use crate::minhash::{MinHashParams, SigValue, Similarity, SketchRef, band_key, similarity};
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

type Recent = HashMap<u32, u32, BuildHasherDefault<KeyHasher>>;

/// Earlier members of one bucket a newcomer is verified against (the earliest ones). A
/// bucket this full means many documents share that band's minima, which only templated
/// families do; the newcomer's other bands still find its source.
pub const MAX_BUCKET_CHECKS: usize = 16;

/// Entries a band collects before they are merged into its sorted run, at least.
const MIN_FRESH: usize = 1 << 14;

/// One band's buckets: `(key << 32 | doc)` entries, most in one sorted run (8 bytes an
/// entry, every document of a bucket kept, found through a directory), the newest in a small
/// map until they are merged in (the first document of a key there, and any later ones in
/// a second map: sharing a key is rare outside near-duplicate families).
#[derive(Debug, Clone, Default)]
struct Band {
    sorted: Vec<u64>,
    /// `dir[p]` is the first entry of `sorted` whose key's top `dir_bits` bits are `p` or
    /// more: a lookup reads one slot and a range of about 16 entries, not the ~20 scattered
    /// probes of a binary search over the whole run.
    dir: Vec<u32>,
    dir_bits: u32,
    /// Entries not in `sorted` yet; those in `recent` too are already searchable.
    fresh: Vec<u64>,
    recent: Recent,
    more: HashMap<u32, Vec<u32>, BuildHasherDefault<KeyHasher>>,
}

fn entry(key: u32, doc: u32) -> u64 {
    u64::from(key) << 32 | u64::from(doc)
}

impl Band {
    /// Makes every entry searchable in `sorted` (the map is for the newest ones only).
    fn merge(&mut self) {
        if self.fresh.is_empty() {
            return;
        }
        self.fresh.sort_unstable();
        let mut out = Vec::with_capacity(self.sorted.len() + self.fresh.len());
        let (mut a, mut b) = (self.sorted.iter().peekable(), self.fresh.iter().peekable());
        while let (Some(&&x), Some(&&y)) = (a.peek(), b.peek()) {
            if x <= y {
                out.push(x);
                a.next();
            } else {
                out.push(y);
                b.next();
            }
        }
        out.extend(a);
        out.extend(b);
        self.sorted = out;
        // About 16 entries a slot: 4 bytes a slot, a quarter byte a document.
        self.dir_bits = (self.sorted.len() / 16).max(1).ilog2().min(24);
        let slots = 1usize << self.dir_bits;
        let mut dir = Vec::with_capacity(slots + 1);
        let mut at = 0;
        for p in 0..slots {
            while at < self.sorted.len() && self.slot(self.sorted[at]) < p {
                at += 1;
            }
            dir.push(at as u32);
        }
        dir.push(self.sorted.len() as u32);
        self.dir = dir;
        self.fresh = Vec::new();
        self.recent = Recent::default();
        self.more = HashMap::default();
    }

    fn insert(&mut self, key: u32, doc: u32, searchable_now: bool) {
        self.fresh.push(entry(key, doc));
        if searchable_now {
            match self.recent.entry(key) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(doc);
                }
                std::collections::hash_map::Entry::Occupied(_) => {
                    self.more.entry(key).or_default().push(doc);
                }
            }
            if self.fresh.len() > MIN_FRESH.max(self.sorted.len() / 16) {
                self.merge();
            }
        }
    }

    /// The directory slot of an entry.
    fn slot(&self, e: u64) -> usize {
        ((e >> 32) as u32 as u64 >> (32 - self.dir_bits)) as usize
    }

    /// The earliest documents of `key`'s bucket, up to [`MAX_BUCKET_CHECKS`].
    fn candidates(&self, key: u32, out: &mut Vec<u32>) {
        if !self.sorted.is_empty() {
            let p = self.slot(entry(key, 0));
            let (lo, hi) = (self.dir[p] as usize, self.dir[p + 1] as usize);
            let run = &self.sorted[lo..hi];
            let start = run.partition_point(|e| e < &entry(key, 0));
            out.extend(
                run[start..]
                    .iter()
                    .take(MAX_BUCKET_CHECKS)
                    .take_while(|e| (**e >> 32) as u32 == key)
                    .map(|e| *e as u32),
            );
        }
        if let Some(first) = self.recent.get(&key) {
            out.push(*first);
            if let Some(more) = self.more.get(&key) {
                out.extend(more.iter().take(MAX_BUCKET_CHECKS - 1));
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        (self.sorted.capacity() + self.fresh.capacity()) * 8
            + self.dir.capacity() * 4
            + self.recent.capacity() * (std::mem::size_of::<(u32, u32)>() + 1)
            + self
                .more
                .values()
                .map(|v| v.capacity() * 4 + 32)
                .sum::<usize>()
    }
}

/// A candidate that passed verification: the earlier document and how much the newcomer
/// shares with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    pub doc: u32,
    pub similarity: Similarity,
}

/// Documents bucketed by band, with their sketches for verification. Documents are
/// numbered in insertion order, which is the log order: the earliest document of a
/// near-duplicate group is the one kept.
///
/// A newcomer's candidates are the documents sharing one of its band keys (32 bits of the
/// band hash: a spurious match costs one verification). Each candidate, earliest first, is
/// verified on the sketches: the newcomer is a near duplicate of the first one that holds
/// at least `threshold` of its shingles ([`Similarity::is_near`]). The bands only propose;
/// the verification decides, so the bands can be wide enough to propose pairs with a
/// Jaccard well below the threshold (a truncated copy with edits) without letting them
/// through unchecked.
///
/// Memory per document: its signature (2 bytes a permutation), its shingle count (4 bytes)
/// and 8 bytes a band, plus the bounded map of the newest entries.
#[derive(Debug, Clone)]
pub struct LshIndex {
    params: MinHashParams,
    threshold: f64,
    bands: Vec<Band>,
    /// Signatures in fixed-size chunks of [`CHUNK_DOCS`] documents: growing never copies
    /// (or doubles) what is already stored.
    chunks: Vec<Vec<SigValue>>,
    shingles: Vec<u32>,
    /// Bulk-inserted entries wait in `fresh` unsearchable until the next lookup.
    unmerged: bool,
}

const CHUNK_DOCS: usize = 1 << 14;

impl LshIndex {
    pub fn new(params: MinHashParams, threshold: f64) -> Self {
        LshIndex {
            params,
            threshold,
            bands: vec![Band::default(); params.bands],
            chunks: Vec::new(),
            shingles: Vec::new(),
            unmerged: false,
        }
    }

    pub fn params(&self) -> &MinHashParams {
        &self.params
    }

    pub fn len(&self) -> usize {
        self.shingles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shingles.is_empty()
    }

    /// The sketch of document `doc`.
    pub fn sketch(&self, doc: u32) -> SketchRef<'_> {
        let k = self.params.permutations();
        let (chunk, i) = (doc as usize / CHUNK_DOCS, doc as usize % CHUNK_DOCS);
        SketchRef {
            sig: &self.chunks[chunk][i * k..(i + 1) * k],
            shingles: self.shingles[doc as usize],
        }
    }

    /// Approximate heap bytes held, for reporting state size.
    pub fn heap_bytes(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum::<usize>() * std::mem::size_of::<SigValue>()
            + self.shingles.capacity() * 4
            + self.bands.iter().map(Band::heap_bytes).sum::<usize>()
    }

    /// The 32-bit bucket key of `sig` in each band.
    fn keys(&self, sig: &[SigValue]) -> Vec<u32> {
        assert_eq!(sig.len(), self.params.permutations(), "signature length");
        (0..self.params.bands)
            .map(|b| band_key(sig, b, self.params.rows) as u32)
            .collect()
    }

    /// The earliest indexed document that shares a band with `sketch` and holds at least
    /// the threshold's share of its shingles, with the estimate.
    pub fn near_duplicate(&mut self, sketch: SketchRef<'_>) -> Option<Match> {
        let keys = self.keys(sketch.sig);
        self.near_duplicate_by_keys(sketch, &keys)
    }

    fn near_duplicate_by_keys(&mut self, sketch: SketchRef<'_>, keys: &[u32]) -> Option<Match> {
        if self.unmerged {
            self.compact();
        }
        let mut candidates = Vec::with_capacity(keys.len());
        for (band, key) in self.bands.iter().zip(keys) {
            band.candidates(*key, &mut candidates);
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.into_iter().find_map(|doc| {
            let similarity = similarity(sketch, self.sketch(doc));
            similarity
                .is_near(self.threshold)
                .then_some(Match { doc, similarity })
        })
    }

    /// Adds a document; returns its number. Panics past 2^32 - 1 documents.
    pub fn insert(&mut self, sketch: SketchRef<'_>) -> u32 {
        let keys = self.keys(sketch.sig);
        self.insert_with_keys(sketch, &keys, true)
    }

    /// Room for `additional` more documents, allocated once and exactly (a bulk load that
    /// knows its size does not double its buffers on the way).
    pub fn reserve(&mut self, additional: usize) {
        for band in &mut self.bands {
            band.fresh.reserve_exact(additional);
        }
        self.shingles.reserve_exact(additional);
        self.chunks.reserve_exact(additional.div_ceil(CHUNK_DOCS));
    }

    /// Sorts every pending entry into its band's run now (the first lookup would do it).
    pub fn compact(&mut self) {
        self.bands.iter_mut().for_each(Band::merge);
        self.unmerged = false;
    }

    /// Adds a document that no lookup needs before the next one (a run's committed state,
    /// loaded in one go): its entries are sorted in with the rest at the first lookup,
    /// without passing through the map of newest entries.
    pub fn insert_bulk(&mut self, sketch: SketchRef<'_>) -> u32 {
        let keys = self.keys(sketch.sig);
        self.unmerged = true;
        self.insert_with_keys(sketch, &keys, false)
    }

    fn insert_with_keys(&mut self, sketch: SketchRef<'_>, keys: &[u32], now: bool) -> u32 {
        let id = u32::try_from(self.len())
            .ok()
            .filter(|id| *id < u32::MAX)
            .expect("an LSH index holds at most 2^32 - 1 documents");
        for (band, key) in self.bands.iter_mut().zip(keys) {
            band.insert(*key, id, now);
        }
        if self.len().is_multiple_of(CHUNK_DOCS) {
            self.chunks
                .push(Vec::with_capacity(CHUNK_DOCS * self.params.permutations()));
        }
        self.chunks
            .last_mut()
            .expect("a chunk was just ensured")
            .extend_from_slice(sketch.sig);
        self.shingles.push(sketch.shingles);
        id
    }

    /// Looks the document up and adds it: `Ok` with its number when it is new, `Err` with
    /// the earliest document it is a near duplicate of otherwise. A near duplicate is
    /// indexed too, so that a later copy of it is compared with it and not only with its
    /// source (two copies edited apart from one original share less with each other than
    /// each does with the original: the offline path links them through union-find).
    pub fn insert_unless_near_duplicate(&mut self, sketch: SketchRef<'_>) -> Result<u32, Match> {
        let keys = self.keys(sketch.sig);
        let found = self.near_duplicate_by_keys(sketch, &keys);
        let id = self.insert_with_keys(sketch, &keys, true);
        found.map_or(Ok(id), Err)
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
        let first = idx.insert(h.sketch(&original).unwrap().as_ref());
        // Change 2% of the words and add a header line.
        let mut words: Vec<String> = original.split(' ').map(str::to_owned).collect();
        words[10] = "changed".into();
        words[200] = "edited".into();
        let edited = format!("Posted on 2026-01-01\n{}", words.join(" "));
        let sk = h.sketch(&edited).unwrap();
        let found = idx.insert_unless_near_duplicate(sk.as_ref()).unwrap_err();
        assert_eq!(found.doc, first);
        assert!(found.similarity.jaccard > 0.8, "{found:?}");
        let other = h.sketch(&text(400, "q")).unwrap();
        assert!(idx.insert_unless_near_duplicate(other.as_ref()).is_ok());
        // The near duplicate was indexed too.
        assert_eq!(idx.len(), 3);
    }

    /// Containment is directional: a cut copy is held by its source, and a source that
    /// comes after a short excerpt of it is not a copy of the excerpt.
    #[test]
    fn an_excerpt_is_contained_in_its_source_and_not_the_other_way() {
        let h = MinHasher::new(MinHashParams::default());
        let long = text(1000, "");
        let excerpt = text(600, "");
        let (l, e) = (h.sketch(&long).unwrap(), h.sketch(&excerpt).unwrap());
        let mut idx = LshIndex::new(*h.params(), 0.7);
        idx.insert(l.as_ref());
        let m = idx
            .near_duplicate(e.as_ref())
            .expect("the excerpt is contained");
        assert!(m.similarity.containment > 0.9, "{m:?}");
        assert!(m.similarity.jaccard < 0.7, "{m:?}");
        assert_eq!(m.similarity.kind(0.7), "contained");
        let mut idx = LshIndex::new(*h.params(), 0.7);
        idx.insert(e.as_ref());
        assert_eq!(idx.near_duplicate(l.as_ref()), None);
    }

    /// Every member of a bucket is a candidate, not only its first: a newcomer whose bands
    /// all land in buckets first taken by other documents is still found.
    #[test]
    fn later_members_of_a_bucket_are_candidates() {
        let p = MinHashParams {
            bands: 2,
            rows: 2,
            ..MinHashParams::default()
        };
        let mut idx = LshIndex::new(p, 0.9);
        // Each decoy takes one of the target's buckets first and shares nothing else.
        let (d1, d2, sig) = (vec![1, 2, 9, 9], vec![8, 8, 3, 4], vec![1, 2, 3, 4]);
        let sk = |sig| SketchRef { sig, shingles: 100 };
        idx.insert(sk(&d1));
        idx.insert(sk(&d2));
        let t = idx.insert(sk(&sig));
        let newcomer = sk(&sig);
        let found = idx
            .near_duplicate(newcomer)
            .expect("found through the bucket's second member");
        assert_eq!(found.doc, t);
        // The same through the sorted run, after a bulk load.
        let mut bulk = LshIndex::new(p, 0.9);
        bulk.insert_bulk(sk(&d1));
        bulk.insert_bulk(sk(&d2));
        let t = bulk.insert_bulk(sk(&sig));
        assert_eq!(bulk.near_duplicate(newcomer).map(|m| m.doc), Some(t));
    }

    #[test]
    fn signatures_are_kept_across_storage_chunks_and_merges() {
        let p = MinHashParams::default();
        let k = p.permutations();
        let mut idx = LshIndex::new(p, 0.5);
        let sig = |d: usize| -> Vec<SigValue> { (0..k).map(|i| (d * 7 + i) as SigValue).collect() };
        for d in 0..CHUNK_DOCS + 10 {
            let s = sig(d);
            let sk = SketchRef {
                sig: &s,
                shingles: d as u32,
            };
            assert_eq!(idx.insert(sk), d as u32);
        }
        for d in [0, CHUNK_DOCS - 1, CHUNK_DOCS, CHUNK_DOCS + 9] {
            assert_eq!(idx.sketch(d as u32).sig, sig(d).as_slice(), "doc {d}");
            assert_eq!(idx.sketch(d as u32).shingles, d as u32);
        }
        assert_eq!(idx.len(), CHUNK_DOCS + 10);
        // Every document is found by its own signature, whether merged or still fresh.
        for d in [0, 5000, CHUNK_DOCS + 9] {
            let s = sig(d);
            let m = idx.near_duplicate(SketchRef {
                sig: &s,
                shingles: d as u32,
            });
            assert_eq!(m.map(|m| m.doc), Some(d as u32), "doc {d}");
        }
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
            let sk = h.sketch(&text);
            prop_assume!(sk.is_some());
            let sk = sk.unwrap();
            let mut idx = LshIndex::new(*h.params(), threshold);
            let mut earliest = None;
            for (i, o) in others.iter().enumerate() {
                if let Some(s) = h.sketch(o) {
                    // Half loaded in bulk, half searchable at once: both paths are searched.
                    let d = if i % 2 == 0 { idx.insert_bulk(s.as_ref()) } else { idx.insert(s.as_ref()) };
                    if s == sk && earliest.is_none() {
                        earliest = Some(d);
                    }
                }
            }
            let d = idx.insert(sk.as_ref());
            let earliest = earliest.unwrap_or(d);
            let m = idx.near_duplicate(sk.as_ref()).expect("a copy is always found");
            prop_assert_eq!(m.similarity.jaccard, 1.0);
            prop_assert_eq!(m.similarity.containment, 1.0);
            prop_assert_eq!(m.doc, earliest);
        }
    }
}

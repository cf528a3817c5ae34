//! The LSH index over MinHash signatures, and union-find for clustering candidate pairs.

use crate::{MinHasher, estimated_jaccard};
use std::collections::HashMap;

/// Documents bucketed by band key. Documents are numbered in insertion order, which is the
/// log order: the earliest document of a near-duplicate group is the one kept.
#[derive(Debug, Clone)]
pub struct LshIndex {
    hasher: MinHasher,
    /// Minimum estimated Jaccard for a candidate pair to count as near-duplicates.
    threshold: f64,
    buckets: Vec<HashMap<u64, Vec<u32>>>,
    signatures: Vec<Vec<u64>>,
}

impl LshIndex {
    pub fn new(hasher: MinHasher, threshold: f64) -> Self {
        let bands = hasher.params().bands;
        LshIndex {
            hasher,
            threshold,
            buckets: vec![HashMap::new(); bands],
            signatures: Vec::new(),
        }
    }

    pub fn hasher(&self) -> &MinHasher {
        &self.hasher
    }

    pub fn len(&self) -> usize {
        self.signatures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.signatures.is_empty()
    }

    /// Documents already indexed whose signature shares a band with `sig` and whose
    /// estimated Jaccard reaches the threshold, with that estimate, earliest first.
    pub fn near_duplicates(&self, sig: &[u64]) -> Vec<(u32, f64)> {
        let mut seen: Vec<u32> = Vec::new();
        for (band, key) in self.hasher.band_keys(sig).into_iter().enumerate() {
            if let Some(docs) = self.buckets[band].get(&key) {
                seen.extend_from_slice(docs);
            }
        }
        seen.sort_unstable();
        seen.dedup();
        seen.into_iter()
            .filter_map(|d| {
                let j = estimated_jaccard(sig, &self.signatures[d as usize]);
                (j >= self.threshold).then_some((d, j))
            })
            .collect()
    }

    /// Adds a document; returns its number.
    pub fn insert(&mut self, sig: Vec<u64>) -> u32 {
        let id = self.signatures.len() as u32;
        for (band, key) in self.hasher.band_keys(&sig).into_iter().enumerate() {
            self.buckets[band].entry(key).or_default().push(id);
        }
        self.signatures.push(sig);
        id
    }

    /// Adds the document unless it is a near-duplicate of one already indexed; then returns
    /// the earliest such document instead.
    pub fn insert_unless_near_duplicate(&mut self, sig: Vec<u64>) -> Result<u32, u32> {
        match self.near_duplicates(&sig).first() {
            Some(&(earliest, _)) => Err(earliest),
            None => Ok(self.insert(sig)),
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
    use crate::MinHashParams;

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
        let mut idx = LshIndex::new(MinHasher::new(MinHashParams::default()), 0.7);
        let original = text(400, "");
        let first = idx.insert(idx.hasher().signature(&original));
        // Change 2% of the words and add a header line.
        let mut words: Vec<String> = original.split(' ').map(str::to_owned).collect();
        words[10] = "changed".into();
        words[200] = "edited".into();
        let edited = format!("Posted on 2026-01-01\n{}", words.join(" "));
        let sig = idx.hasher().signature(&edited);
        let j = estimated_jaccard(&sig, &idx.hasher().signature(&original));
        assert!(j > 0.8, "estimated Jaccard {j}");
        assert_eq!(idx.insert_unless_near_duplicate(sig), Err(first));
        let other = idx.hasher().signature(&text(400, "q"));
        assert!(idx.insert_unless_near_duplicate(other).is_ok());
        assert_eq!(idx.len(), 2);
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

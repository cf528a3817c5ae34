//! An append-only RFC 6962 Merkle tree with inclusion and consistency proofs (the algorithms
//! of RFC 9162 §2.1.3 and §2.1.4).
//!
//! The tree keeps every complete subtree hash, level by level: `levels[l][i]` is the hash of
//! leaves `[i·2^l, (i+1)·2^l)`. That is exactly what C2SP tlog tiles store, so a tree loads
//! from tiles and saves to them, and any subtree hash is a lookup or `O(log n)` combinations
//! of lookups: a proof at a million leaves takes microseconds.

use crate::merkle::node_hash;
use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {old} is larger than {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("the proof has {found} hashes, a valid one has {expected}")]
    WrongLength { found: usize, expected: usize },
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// The Merkle tree of a log: complete subtree hashes per level.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    pub fn new() -> Self {
        Tree::default()
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends an already leaf-hashed entry; returns its index.
    pub fn push(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        let mut h = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(h);
            let n = self.levels[level].len();
            // A new right child completes its parent.
            if n % 2 == 1 {
                break;
            }
            h = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            level += 1;
        }
        index
    }

    /// The stored hashes of level `l` (complete subtrees of `2^l` leaves), for tiling.
    pub fn level(&self, l: usize) -> &[Hash] {
        self.levels.get(l).map_or(&[], Vec::as_slice)
    }

    /// The Merkle Tree Hash of leaves `[start, end)` (RFC 6962 §2.1).
    fn subtree(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        if n == 0 {
            return Sha256::digest([]).into();
        }
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let l = n.trailing_zeros() as usize;
            return self.levels[l][(start >> l) as usize];
        }
        let k = largest_power_of_two_below(n);
        node_hash(
            &self.subtree(start, start + k),
            &self.subtree(start + k, end),
        )
    }

    /// The root of the tree's first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        if size > self.size() {
            return Err(ProofError::SizeOrder {
                old: size,
                new: self.size(),
            });
        }
        Ok(self.subtree(0, size))
    }

    pub fn root(&self) -> Hash {
        self.subtree(0, self.size())
    }

    /// The audit path of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        if index >= size || size > self.size() {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut proof);
        Ok(proof)
    }

    /// PATH(m, D[start:end]), appended bottom-up.
    fn path(&self, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = largest_power_of_two_below(n);
        if m < k {
            self.path(m, start, start + k, out);
            out.push(self.subtree(start + k, end));
        } else {
            self.path(m - k, start + k, end, out);
            out.push(self.subtree(start, start + k));
        }
    }

    /// The proof that the tree of `old` leaves is a prefix of the tree of `new` leaves.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
        if old > new || new > self.size() {
            return Err(ProofError::SizeOrder { old, new });
        }
        let mut proof = Vec::new();
        if old > 0 && old < new {
            self.subproof(old, 0, new, true, &mut proof);
        }
        Ok(proof)
    }

    /// SUBPROOF(m, D[start:end], b).
    fn subproof(&self, m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            if !whole {
                out.push(self.subtree(start, end));
            }
            return;
        }
        let k = largest_power_of_two_below(n);
        if m <= k {
            self.subproof(m, start, start + k, whole, out);
            out.push(self.subtree(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, out);
            out.push(self.subtree(start, start + k));
        }
    }
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn largest_power_of_two_below(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves with root `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            found: proof.len(),
            expected,
        });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if f % 2 == 1 || f == s {
            r = node_hash(p, &r);
            while f % 2 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 || r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The length of a valid inclusion proof: one hash per level where the path has a sibling.
fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut f, mut s, mut n) = (index, size - 1, 0);
    while s > 0 {
        if f % 2 == 1 || f < s {
            n += 1;
        }
        f >>= 1;
        s >>= 1;
    }
    n
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of the tree of
/// `new` leaves with root `new_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    if old == new || old == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                found: proof.len(),
                expected: 0,
            });
        }
        return if old == new && old_root != new_root {
            Err(ProofError::RootMismatch)
        } else {
            Ok(())
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength {
            found: 0,
            expected: 1,
        });
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f % 2 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongLength {
                found: proof.len(),
                expected: proof.len() - 1,
            });
        }
        if f % 2 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f % 2 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 || fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, merkle_root};
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    fn tree(n: u64) -> Tree {
        let mut t = Tree::new();
        for l in leaves(n) {
            t.push(l);
        }
        t
    }

    #[test]
    fn roots_match_the_recursive_definition() {
        for n in 0..40 {
            let t = tree(n);
            assert_eq!(t.root(), merkle_root(&leaves(n)), "n = {n}");
            for m in 0..=n {
                assert_eq!(t.root_at(m).unwrap(), merkle_root(&leaves(m)));
            }
        }
    }

    /// RFC 6962's reference test vectors: the roots of the trees of its eight test leaves
    /// (the data "", 00, 10, 2021, 3031, 40414243, 5051525354555657, 606162...6f).
    #[test]
    fn rfc6962_known_answer_roots() {
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut t = Tree::new();
        for (d, want) in data.iter().zip(expected) {
            t.push(leaf_hash(d));
            assert_eq!(hex::encode(t.root()), want, "size {}", t.size());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn every_inclusion_proof_verifies_and_any_change_fails(
            size in 1u64..300, index_seed in any::<u64>(), flip in any::<(usize, u8)>()
        ) {
            let t = tree(size + 1);
            let index = index_seed % size;
            let root = t.root_at(size).unwrap();
            let leaf = leaves(size)[index as usize];
            let proof = t.inclusion_proof(index, size).unwrap();
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_ok());
            // A size is only ever claimed with its own root (both are in a checkpoint).
            let bigger = t.root();
            // A flipped bit anywhere in the proof.
            if !proof.is_empty() {
                let mut p = proof.clone();
                let (h, bit) = (flip.0 % p.len(), flip.1);
                p[h][(bit / 8) as usize % 32] ^= 1 << (bit % 8);
                prop_assert!(verify_inclusion(&leaf, index, size, &p, &root).is_err());
                // Truncated.
                prop_assert!(verify_inclusion(&leaf, index, size, &proof[..proof.len() - 1], &root).is_err());
            }
            // Extended.
            let mut longer = proof.clone();
            longer.push([7; 32]);
            prop_assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
            // Wrong index, wrong size, wrong leaf.
            if size > 1 {
                let other = (index + 1) % size;
                prop_assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
            }
            prop_assert!(verify_inclusion(&leaf, index, size + 1, &proof, &bigger).is_err());
            prop_assert!(verify_inclusion(&leaf_hash(b"x"), index, size, &proof, &root).is_err());
        }

        #[test]
        fn every_consistency_proof_verifies_and_any_change_fails(
            new in 1u64..300, old_seed in any::<u64>(), flip in any::<(usize, u8)>()
        ) {
            let t = tree(new + 1);
            let old = old_seed % (new + 1);
            let (old_root, new_root) = (t.root_at(old).unwrap(), t.root_at(new).unwrap());
            let proof = t.consistency_proof(old, new).unwrap();
            prop_assert!(verify_consistency(old, new, &proof, &old_root, &new_root).is_ok());
            if !proof.is_empty() {
                let mut p = proof.clone();
                let (h, bit) = (flip.0 % p.len(), flip.1);
                p[h][(bit / 8) as usize % 32] ^= 1 << (bit % 8);
                prop_assert!(verify_consistency(old, new, &p, &old_root, &new_root).is_err());
                prop_assert!(verify_consistency(old, new, &proof[..proof.len() - 1], &old_root, &new_root).is_err());
            }
            let mut longer = proof.clone();
            longer.push([7; 32]);
            prop_assert!(verify_consistency(old, new, &longer, &old_root, &new_root).is_err());
            if old > 0 && old < new {
                // Another old size, or a forked old tree, must not pass.
                prop_assert!(verify_consistency(old - 1, new, &proof, &old_root, &new_root).is_err());
                prop_assert!(verify_consistency(old, new, &proof, &leaf_hash(b"fork"), &new_root).is_err());
                prop_assert!(verify_consistency(old, new + 1, &proof, &old_root, &t.root()).is_err());
                prop_assert!(verify_consistency(old - 1, new, &proof, &t.root_at(old - 1).unwrap(), &new_root).is_err());
            }
        }
    }
}

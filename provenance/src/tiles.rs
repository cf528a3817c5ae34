//! The C2SP tlog-tiles layout: a log's hashes and entries as static, mostly immutable files.
//!
//! A tile holds up to 256 hashes of one tree level: tile level `L` holds the hashes of tree
//! level `8·L` (level 0 is the leaf hashes). Tile `N` of a level covers that level's hashes
//! `[256·N, 256·N + 256)`; until it is full it is a partial tile, `….p/<width>`. The index is
//! written in groups of three digits, all but the last prefixed `x` (`x001/x234/067`). Entry
//! bundles (`tile/entries/<N>`) hold the leaves' data, each prefixed by its length as two
//! big-endian bytes.

use crate::tree::{Hash, Tree};

/// Hashes (or entries) per full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels per tile level.
const TILE_HEIGHT: u32 = 8;

/// `N` as tile path elements: `x001/x234/067`.
fn index_path(n: u64) -> String {
    let digits = format!("{n:03}");
    let pad = (3 - digits.len() % 3) % 3;
    let digits = format!("{}{digits}", "0".repeat(pad));
    let groups: Vec<&str> = (0..digits.len() / 3)
        .map(|i| &digits[3 * i..3 * i + 3])
        .collect();
    let (last, rest) = groups.split_last().expect("at least one group");
    let mut out: String = rest.iter().map(|g| format!("x{g}/")).collect();
    out.push_str(last);
    out
}

/// The path of hash tile `index` of tile level `level` holding `width` hashes.
pub fn tile_path(level: u32, index: u64, width: u64) -> String {
    with_width(format!("tile/{level}/{}", index_path(index)), width)
}

/// The path of entry bundle `index` holding `width` entries.
pub fn entries_path(index: u64, width: u64) -> String {
    with_width(format!("tile/entries/{}", index_path(index)), width)
}

fn with_width(path: String, width: u64) -> String {
    if width == TILE_WIDTH {
        path
    } else {
        format!("{path}.p/{width}")
    }
}

/// Every hash tile that differs between the trees of `old` and `tree.size()` leaves: their
/// paths and bytes. Written in order, they bring a store from one size to the other.
pub fn changed_tiles(tree: &Tree, old: u64) -> Vec<(String, Vec<u8>)> {
    let new = tree.size();
    let mut out = Vec::new();
    let mut level = 0;
    loop {
        let shift = TILE_HEIGHT * level;
        if shift >= 64 {
            break;
        }
        let (have, had) = (new >> shift, old >> shift);
        if have == 0 {
            break;
        }
        if have > had {
            let hashes = tree.level(shift as usize);
            for t in had / TILE_WIDTH..=(have - 1) / TILE_WIDTH {
                let start = t * TILE_WIDTH;
                let width = (have - start).min(TILE_WIDTH);
                let bytes = hashes[start as usize..(start + width) as usize].concat();
                out.push((tile_path(level, t, width), bytes));
            }
        }
        level += 1;
    }
    out
}

/// Level-0 tile `index` (path and width) of a tree of `size` leaves; tiles
/// `0..size.div_ceil(TILE_WIDTH)` together hold every leaf hash.
pub fn leaf_tile(index: u64, size: u64) -> (String, u64) {
    let width = (size - index * TILE_WIDTH).min(TILE_WIDTH);
    (tile_path(0, index, width), width)
}

/// Reads the hashes of a tile's bytes, checking its width.
pub fn tile_hashes(bytes: &[u8], width: u64) -> Result<Vec<Hash>, String> {
    if bytes.len() as u64 != width * 32 {
        return Err(format!(
            "{} bytes where {width} hashes take {}",
            bytes.len(),
            width * 32
        ));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect())
}

/// An entry bundle's bytes from its entries.
pub fn encode_entries<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).expect("log entries are under 64 KiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// The entries of a bundle, checking that it holds exactly `width` of them.
pub fn decode_entries(bytes: &[u8], width: u64) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err("a truncated length prefix".into());
        }
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        if rest.len() < 2 + len {
            return Err("an entry runs past the end of the bundle".into());
        }
        out.push(rest[2..2 + len].to_vec());
        rest = &rest[2 + len..];
    }
    if out.len() as u64 != width {
        return Err(format!("{} entries where the path says {width}", out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::leaf_hash;

    #[test]
    fn tile_paths_follow_the_c2sp_layout() {
        assert_eq!(tile_path(0, 0, 256), "tile/0/000");
        assert_eq!(tile_path(0, 5, 7), "tile/0/005.p/7");
        assert_eq!(tile_path(1, 1234, 256), "tile/1/x001/234");
        assert_eq!(tile_path(2, 1_234_067, 256), "tile/2/x001/x234/067");
        assert_eq!(entries_path(1000, 3), "tile/entries/x001/000.p/3");
    }

    #[test]
    fn tiles_written_in_steps_rebuild_the_tree() {
        let mut tree = Tree::new();
        let mut store = std::collections::HashMap::new();
        for step in [1u64, 255, 1, 300, 70_000] {
            let old = tree.size();
            for i in 0..step {
                tree.push(leaf_hash(&(old + i).to_le_bytes()));
            }
            for (path, bytes) in changed_tiles(&tree, old) {
                store.insert(path, bytes);
            }
            let mut back = Tree::new();
            for t in 0..tree.size().div_ceil(TILE_WIDTH) {
                let (path, width) = leaf_tile(t, tree.size());
                for h in tile_hashes(&store[&path], width).unwrap() {
                    back.push(h);
                }
            }
            assert_eq!(back.root(), tree.root(), "size {}", tree.size());
        }
        // 70 557 leaves: 275 full level-0 tiles, whose roots fill level-1 tile 0 and 19
        // hashes of tile 1; the first is the root of the first 256 leaves.
        assert_eq!(tree.size(), 70_557);
        assert_eq!(store["tile/1/000"].len(), 256 * 32);
        assert_eq!(store["tile/1/001.p/19"].len(), 19 * 32);
        let first_256: Vec<Hash> = (0..256u64).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        assert_eq!(
            store["tile/1/000"][..32],
            crate::merkle::merkle_root(&first_256)
        );
    }

    #[test]
    fn entry_bundles_round_trip_and_bad_ones_are_refused() {
        let entries: Vec<&[u8]> = vec![b"one", b"", b"three"];
        let bytes = encode_entries(entries.iter().copied());
        assert_eq!(decode_entries(&bytes, 3).unwrap(), entries);
        assert!(decode_entries(&bytes, 2).is_err());
        assert!(decode_entries(&bytes[..bytes.len() - 1], 3).is_err());
        assert!(tile_hashes(&[0; 33], 1).is_err());
    }
}

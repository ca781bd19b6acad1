//! Query-wide key id → group id inside one pane, for tumbling and sliding panes, which
//! keep no key table of their own.
//!
//! ```text
//!  partial key id ──(partial's cache)──▶ query-wide key id ──(this index)──▶ pane group
//!                                          tag[id] == pane?  local[id]
//! ```
//! Keys are interned once into the query-wide table (a partial remembers the ids of its
//! keys across batches), so a new pane costs no hashing of key values: its groups are
//! numbered by a dense array indexed by key id and tagged with the pane's generation.
//! The array holds the groups of the pane merged last; switching to another pane loads
//! that pane's key list (in order, consecutive batches fill the same pane, so this is
//! rare). A large pane visited with few keys (rows out of order over many keys) gets a
//! hash map of its own instead of reloading.

use std::collections::HashMap;

/// Per pane: key id → group id, built for large panes only.
pub(super) type PaneKeyMap = HashMap<u32, u32, ahash::RandomState>;

/// The group ids of the pane merged last, by query-wide key id.
pub(super) struct PaneKeyIndex {
    /// Per key id: the generation of the pane whose group `local[id]` holds it.
    tag: Vec<u64>,
    local: Vec<u32>,
    /// Generation of the pane whose whole key list is in `tag` / `local`.
    loaded: u64,
}

impl Default for PaneKeyIndex {
    fn default() -> Self {
        PaneKeyIndex {
            tag: Vec::new(),
            local: Vec::new(),
            loaded: u64::MAX,
        }
    }
}

impl PaneKeyIndex {
    /// Forgets everything (key ids changed meaning).
    pub(super) fn reset(&mut self) {
        self.tag.clear();
        self.local.clear();
        self.loaded = u64::MAX;
    }

    fn grow_to(&mut self, max_id: u32) {
        let n = max_id as usize + 1;
        if self.tag.len() < n {
            self.tag.resize(n, u64::MAX);
            self.local.resize(n, 0);
        }
    }

    /// Writes to `dst` (cleared first) the group id in pane `generation` of each key id
    /// of `keys`; keys new to the pane become new groups, appended to `pane_keys` (the
    /// pane's key id per group) and to `pane_map` if it has one.
    pub(super) fn map(
        &mut self,
        generation: u64,
        pane_keys: &mut Vec<u32>,
        pane_map: &mut Option<PaneKeyMap>,
        keys: &[u32],
        dst: &mut Vec<u32>,
    ) {
        dst.clear();
        if self.loaded != generation {
            if pane_keys.len() > 8 * keys.len() + 1024 {
                let map = pane_map.get_or_insert_with(|| {
                    pane_keys
                        .iter()
                        .enumerate()
                        .map(|(g, &k)| (k, g as u32))
                        .collect()
                });
                for &k in keys {
                    let next = pane_keys.len() as u32;
                    let g = *map.entry(k).or_insert(next);
                    if g == next {
                        pane_keys.push(k);
                    }
                    dst.push(g);
                }
                return;
            }
            if let Some(&max) = pane_keys.iter().max() {
                self.grow_to(max);
            }
            for (g, &k) in pane_keys.iter().enumerate() {
                self.tag[k as usize] = generation;
                self.local[k as usize] = g as u32;
            }
            self.loaded = generation;
        }
        if let Some(&max) = keys.iter().max() {
            self.grow_to(max);
        }
        for &k in keys {
            let i = k as usize;
            if self.tag[i] != generation {
                let g = pane_keys.len() as u32;
                pane_keys.push(k);
                self.tag[i] = generation;
                self.local[i] = g;
                if let Some(m) = pane_map {
                    m.insert(k, g);
                }
            }
            dst.push(self.local[i]);
        }
    }

    pub(super) fn size_bytes(&self) -> usize {
        self.tag.capacity() * 8 + self.local.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path (fresh pane, same pane again, switching back, the hash map of a large
    /// pane) gives each key one group per pane, numbered in first-seen order.
    #[test]
    fn groups_are_stable_per_pane() {
        let mut index = PaneKeyIndex::default();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut am, mut bm) = (None, None);
        let mut dst = Vec::new();
        index.map(0, &mut a, &mut am, &[5, 3, 5], &mut dst);
        assert_eq!(dst, [0, 1, 0]);
        index.map(1, &mut b, &mut bm, &[3, 9], &mut dst);
        assert_eq!(dst, [0, 1]);
        index.map(0, &mut a, &mut am, &[9, 3], &mut dst);
        assert_eq!(dst, [2, 1]);
        assert_eq!(a, [5, 3, 9]);
        // a pane large against the keys it gets: the hash map, kept up to date after
        let mut big: Vec<u32> = (100..2200).collect();
        let mut big_map = None;
        index.map(2, &mut big, &mut big_map, &[150, 7], &mut dst);
        assert_eq!(dst, [50, 2100]);
        assert!(big_map.is_some());
        index.map(
            2,
            &mut big,
            &mut big_map,
            &(0..3000).collect::<Vec<u32>>(),
            &mut dst,
        );
        assert_eq!(dst[7], 2100);
        assert_eq!(dst[150], 50);
        assert_eq!(dst[0], 2101);
        index.map(1, &mut b, &mut bm, &[9, 3], &mut dst);
        assert_eq!(dst, [1, 0]);
        index.map(2, &mut big, &mut big_map, &[2999, 1], &mut dst);
        let map = big_map
            .as_ref()
            .map(|m| (m.get(&2999).copied(), m.get(&1).copied()));
        assert_eq!(Some((Some(dst[0]), Some(dst[1]))), map);
        assert_eq!(big[dst[0] as usize], 2999);
    }
}

//! Open sessions per key, one accumulator slot each: the bookkeeping shared by a batch's
//! partial sessions (keys = the batch's key ids) and the query's sessions (keys = the
//! query's key ids).
//!
//! A key's sessions are kept sorted by first event and are separated: for consecutive
//! sessions `a`, `b`, `a.last + gap <= b.first`. A span `[first, last]` of rows (any two
//! consecutive rows closer than `gap`) covers `[first, last + gap)` and joins every
//! session it overlaps; those are a contiguous run of the list, and they merge into the
//! earliest. A single row is the span `[t, t]`.

/// One open session of a key.
#[derive(Debug, Clone, Copy)]
pub(super) struct Session {
    pub(super) first: i64,
    pub(super) last: i64,
    pub(super) slot: u32,
}

/// Sessions per key, and per slot its key, bounds and whether it is open.
#[derive(Debug, Default)]
pub(super) struct SessionTable {
    gap: i64,
    /// Per key id: its open sessions, sorted by first event.
    lists: Vec<Vec<Session>>,
    pub(super) slot_key: Vec<u32>,
    pub(super) slot_first: Vec<i64>,
    pub(super) slot_last: Vec<i64>,
    pub(super) slot_live: Vec<bool>,
    /// Open sessions.
    pub(super) live: usize,
}

impl SessionTable {
    pub(super) fn new(gap: i64) -> SessionTable {
        SessionTable {
            gap,
            ..SessionTable::default()
        }
    }

    /// Slots handed out so far (open, closed and merged).
    pub(super) fn slots(&self) -> usize {
        self.slot_key.len()
    }

    /// Makes room for key ids below `keys`.
    pub(super) fn ensure_keys(&mut self, keys: usize) {
        if self.lists.len() < keys {
            self.lists.resize_with(keys, Vec::new);
        }
    }

    /// Forgets every session, keeping the allocations (a partial's table, per batch).
    pub(super) fn clear(&mut self) {
        for &k in &self.slot_key {
            if let Some(list) = self.lists.get_mut(k as usize) {
                list.clear();
            }
        }
        self.slot_key.clear();
        self.slot_first.clear();
        self.slot_last.clear();
        self.slot_live.clear();
        self.live = 0;
    }

    /// Adds the span `[first, last]` of key `key` (below [`ensure_keys`]'s bound): it
    /// joins the sessions it overlaps, merging them into the earliest, or opens a new
    /// one. Returns the slot it joined and whether that slot is new; each merged
    /// session's `(slot, slot it merged into)` is appended to `merges`.
    ///
    /// [`ensure_keys`]: SessionTable::ensure_keys
    #[inline]
    pub(super) fn add(
        &mut self,
        key: u32,
        first: i64,
        last: i64,
        merges: &mut Vec<(u32, u32)>,
    ) -> (u32, bool) {
        let gap = self.gap;
        let list = &mut self.lists[key as usize];
        // fast path: the latest session takes the span (earlier ones end before it)
        if let Some(s) = list.last_mut()
            && first >= s.first
            && first < s.last.saturating_add(gap)
        {
            s.last = s.last.max(last);
            self.slot_last[s.slot as usize] = s.last;
            return (s.slot, false);
        }
        // sessions are separated and sorted, so their ends are sorted too: the first one
        // ending after `first` is the only candidate for the earliest overlap
        let hit = list.partition_point(|s| s.last.saturating_add(gap) <= first);
        if list
            .get(hit)
            .is_none_or(|s| last <= s.first.saturating_sub(gap))
        {
            // no overlap: a new session, between the ones before and after the span
            let slot = self.slot_key.len() as u32;
            self.slot_key.push(key);
            self.slot_first.push(first);
            self.slot_last.push(last);
            self.slot_live.push(true);
            self.live += 1;
            list.insert(hit, Session { first, last, slot });
            return (slot, true);
        }
        let overlaps =
            |s: &Session| first < s.last.saturating_add(gap) && last > s.first.saturating_sub(gap);
        let mut keep = list[hit];
        keep.first = keep.first.min(first);
        keep.last = keep.last.max(last);
        // later sessions the span bridges into this one (a contiguous run)
        let next = hit + 1;
        while next < list.len() && overlaps(&list[next]) {
            let other = list.remove(next);
            keep.last = keep.last.max(other.last);
            merges.push((other.slot, keep.slot));
            self.slot_live[other.slot as usize] = false;
            self.live -= 1;
        }
        list[hit] = keep;
        self.slot_first[keep.slot as usize] = keep.first;
        self.slot_last[keep.slot as usize] = keep.last;
        (keep.slot, false)
    }

    /// Closes open slot `slot`.
    pub(super) fn close(&mut self, slot: u32) {
        let s = slot as usize;
        if !self.slot_live.get(s).copied().unwrap_or(false) {
            return;
        }
        self.slot_live[s] = false;
        self.live -= 1;
        if let Some(list) = self.lists.get_mut(self.slot_key[s] as usize) {
            list.retain(|x| x.slot != slot);
        }
    }

    /// Open slots, ascending.
    pub(super) fn live_slots(&self) -> Vec<u32> {
        (0..self.slot_key.len() as u32)
            .filter(|&s| self.slot_live[s as usize])
            .collect()
    }

    /// Renumbers: the open slots `live` (ascending) become `0..live.len()`, with key ids
    /// `new_keys` (one per open slot, below `num_keys`).
    pub(super) fn compact(&mut self, live: &[u32], new_keys: &[u32], num_keys: usize) {
        let mut lists: Vec<Vec<Session>> = vec![Vec::new(); num_keys];
        let (mut key, mut first, mut last) = (
            Vec::with_capacity(live.len()),
            Vec::with_capacity(live.len()),
            Vec::with_capacity(live.len()),
        );
        for (new, (&old, &k)) in live.iter().zip(new_keys).enumerate() {
            let o = old as usize;
            key.push(k);
            first.push(self.slot_first[o]);
            last.push(self.slot_last[o]);
            if let Some(list) = lists.get_mut(k as usize) {
                list.push(Session {
                    first: self.slot_first[o],
                    last: self.slot_last[o],
                    slot: new as u32,
                });
            }
        }
        for list in &mut lists {
            list.sort_by_key(|s| s.first);
        }
        self.lists = lists;
        self.slot_key = key;
        self.slot_first = first;
        self.slot_last = last;
        self.slot_live = vec![true; live.len()];
        self.live = live.len();
    }

    pub(super) fn size_bytes(&self) -> usize {
        self.lists.capacity() * std::mem::size_of::<Vec<Session>>()
            + self.live * std::mem::size_of::<Session>()
            + self.slot_key.capacity() * 4
            + (self.slot_first.capacity() + self.slot_last.capacity()) * 8
            + self.slot_live.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions of one key from scratch: sort the rows, split where consecutive rows are
    /// `gap` or more apart.
    fn components(mut times: Vec<i64>, gap: i64) -> Vec<(i64, i64)> {
        times.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::new();
        for t in times {
            match out.last_mut() {
                Some((_, last)) if t - *last < gap => *last = t,
                _ => out.push((t, t)),
            }
        }
        out
    }

    fn open(table: &SessionTable, key: u32) -> Vec<(i64, i64)> {
        table.lists[key as usize]
            .iter()
            .map(|s| (s.first, s.last))
            .collect()
    }

    #[test]
    fn rows_and_spans_in_any_order_give_the_connected_components() {
        use proptest::prelude::*;
        let cases = proptest::collection::vec((0u32..3, 0i64..200), 0..60);
        proptest!(|(rows in cases, gap in 1i64..30, split in 0usize..60)| {
            let mut table = SessionTable::new(gap);
            table.ensure_keys(3);
            let mut merges = Vec::new();
            // the first rows one by one, the rest as spans of a partial table
            let split = split.min(rows.len());
            for &(k, t) in &rows[..split] {
                table.add(k, t, t, &mut merges);
            }
            for k in 0..3u32 {
                let times: Vec<i64> = rows[split..].iter().filter(|r| r.0 == k).map(|r| r.1).collect();
                for (first, last) in components(times, gap) {
                    table.add(k, first, last, &mut merges);
                }
            }
            for k in 0..3u32 {
                let times: Vec<i64> = rows.iter().filter(|r| r.0 == k).map(|r| r.1).collect();
                prop_assert_eq!(open(&table, k), components(times, gap), "key {}", k);
            }
            let live = table.slot_live.iter().filter(|&&l| l).count();
            prop_assert_eq!(live, table.live);
            // every merged slot is dead and merged into a slot of the same key
            for &(from, into) in &merges {
                prop_assert!(!table.slot_live[from as usize]);
                prop_assert_eq!(table.slot_key[from as usize], table.slot_key[into as usize]);
            }
        });
    }

    #[test]
    fn close_clear_and_compact_keep_the_lists_consistent() {
        let mut table = SessionTable::new(10);
        table.ensure_keys(2);
        let mut merges = Vec::new();
        let (a, new_a) = table.add(0, 0, 0, &mut merges);
        let (b, new_b) = table.add(0, 50, 55, &mut merges);
        let (c, _) = table.add(1, 5, 5, &mut merges);
        assert!(new_a && new_b);
        assert_eq!(table.add(0, 8, 8, &mut merges), (a, false));
        table.close(a);
        table.close(a);
        assert_eq!(table.live, 2);
        assert_eq!(open(&table, 0), vec![(50, 55)]);
        assert_eq!(table.live_slots(), vec![b, c]);
        table.compact(&[b, c], &[1, 0], 2);
        assert_eq!(open(&table, 1), vec![(50, 55)]);
        assert_eq!(open(&table, 0), vec![(5, 5)]);
        assert_eq!(table.slot_key, vec![1, 0]);
        // a row bridging the compacted session's neighbourhood joins it
        assert_eq!(table.add(1, 60, 60, &mut merges), (0, false));
        assert_eq!(table.slot_last[0], 60);
        table.clear();
        assert_eq!(table.slots(), 0);
        assert!(open(&table, 0).is_empty() && open(&table, 1).is_empty());
    }
}

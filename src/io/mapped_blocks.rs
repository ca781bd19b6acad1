//! The record-batch blocks of a memory-mapped IPC file, whose pages go back to the OS
//! once no batch uses them.
//!
//! Zero-copy batches point into the map, so the pages under a block may only be dropped
//! when every batch (and slice of one) cut from that block is gone. Each block is handed
//! to the decoder as its own [`Buffer`] owned by a `BlockLease`; when the last array that
//! uses the block is dropped, the lease is dropped, marks the block released, and
//! `madvise(MADV_DONTNEED)`s the pages that only released blocks cover. Without this the
//! mapped pages of everything already processed stay resident and count in the process's
//! RSS: the whole file, by the end of a run.
//!
//! ```text
//!   bytes:  │ block 0 │  block 1  │ block 2 │ block 3 …
//!   pages:  │ p0 │ p1 │ p2 │ p3 │ p4 │ p5 │ p6 │ …
//!   blocks 0 and 1 released, block 2 still used by a batch:
//!           └── p0 … p3 dropped ──┘ p4 kept (block 2 also lies on it)
//! ```
//! A page is dropped by whichever of its blocks is released last, so blocks may be
//! released in any order (a query may keep a slice of an old batch for a while).
//!
//! **In chunks.** Each `madvise` that unmaps pages also flushes them from the TLB of
//! every core that runs the process: an inter-processor interrupt, which in a virtual
//! machine costs the sender and every receiver a trip through the hypervisor. Dropped
//! block by block, a 10 M-row file (1,221 blocks) cost about 30 ms of CPU per run on two
//! vCPUs, a fifth of a two-partition S1 run from the file. So blocks released in file
//! order only move a frontier, and the pages behind it are dropped once a chunk of them
//! has gathered (one 64th of the file, at most 8 MiB). Blocks released ahead of the
//! frontier (a batch dropped before an older one still in use) wait for it as well,
//! until they add up to a chunk; then they are dropped one by one as before, so a block
//! kept for the whole run pins at most its own pages and two chunks.

use std::ops::Range;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use arrow::buffer::Buffer;
use memmap2::Mmap;

/// The record-batch blocks of a mapped file and which of them are released.
pub(crate) struct MappedBlocks {
    mmap: Arc<Mmap>,
    page_bytes: usize,
    /// Byte range of each block in the map, in file order, not overlapping.
    ranges: Vec<Range<usize>>,
    /// Pages dropped together (see the module's "In chunks").
    chunk_pages: usize,
    releases: Mutex<Releases>,
}

/// What has been released and dropped so far.
#[derive(Debug)]
struct Releases {
    state: Vec<BlockState>,
    /// Every block before this one is released.
    frontier: usize,
    /// Every page before this one has been dropped.
    dropped_pages: usize,
    /// Bytes of the blocks in state `Waiting`.
    waiting_bytes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockState {
    /// Leased, or not yet: batches may use it.
    Live,
    /// Released ahead of the frontier; its pages are still mapped.
    Waiting,
    /// Released; its pages are dropped or will be with the frontier's next chunk.
    Released,
}

/// The most bytes dropped in one `madvise` chunk.
const MAX_CHUNK_BYTES: usize = 8 << 20;
/// A chunk is at most this fraction of the map, so small files release at a finer grain.
const CHUNKS_PER_MAP: usize = 64;

impl std::fmt::Debug for MappedBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedBlocks")
            .field("blocks", &self.ranges.len())
            .field("page_bytes", &self.page_bytes)
            .field("chunk_pages", &self.chunk_pages)
            .finish_non_exhaustive()
    }
}

impl MappedBlocks {
    /// Tracks `ranges` (the byte range of every record-batch block) in `mmap`. `None`
    /// (pages are then never released, as before) if the ranges are not in file order,
    /// overlap, leave the map, or the page size is unknown.
    pub(crate) fn new(mmap: Arc<Mmap>, ranges: Vec<Range<usize>>) -> Option<Arc<Self>> {
        let page_bytes = page_bytes()?;
        let in_order = ranges.windows(2).all(|w| w[0].end <= w[1].start);
        let inside = ranges
            .iter()
            .all(|r| r.start < r.end && r.end <= mmap.len());
        if !in_order || !inside {
            return None;
        }
        let chunk_bytes = (mmap.len() / CHUNKS_PER_MAP).min(MAX_CHUNK_BYTES);
        let chunk_pages = (chunk_bytes / page_bytes).max(1);
        let releases = Mutex::new(Releases {
            state: vec![BlockState::Live; ranges.len()],
            frontier: 0,
            dropped_pages: 0,
            waiting_bytes: 0,
        });
        Some(Arc::new(MappedBlocks {
            mmap,
            page_bytes,
            ranges,
            chunk_pages,
            releases,
        }))
    }

    /// The bytes of block `index` (`bytes`, a slice of the map) as a buffer whose pages
    /// are released when it and every slice of it have been dropped. Each block is
    /// leased at most once.
    pub(crate) fn lease(self: &Arc<Self>, index: usize, bytes: Buffer) -> Buffer {
        let Some(ptr) = NonNull::new(bytes.as_ptr().cast_mut()) else {
            return bytes;
        };
        let len = bytes.len();
        let owner = Arc::new(BlockLease {
            blocks: self.clone(),
            index,
            _bytes: bytes,
        });
        // SAFETY: `ptr` and `len` are the address and length of `_bytes`, which `owner`
        // holds (and with it the map) for as long as any buffer made from it lives. The
        // bytes are only read.
        unsafe { Buffer::from_custom_allocation(ptr, len, owner) }
    }

    /// Marks block `index` released and drops the pages no unreleased block lies on,
    /// a chunk at a time (see the module's "In chunks").
    fn release(&self, index: usize) {
        let to_drop = {
            let mut releases = self
                .releases
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            releases.release(index, &self.ranges, self.page_bytes, self.chunk_pages)
        };
        // Outside the lock: a page found free stays free, as a released block is never
        // leased again.
        for pages in to_drop {
            advise_dont_need(&self.mmap, self.page_bytes, pages);
        }
    }
}

impl Releases {
    /// Records that block `index` is released; returns the page ranges to drop now.
    fn release(
        &mut self,
        index: usize,
        ranges: &[Range<usize>],
        page_bytes: usize,
        chunk_pages: usize,
    ) -> Vec<Range<usize>> {
        let mut to_drop = Vec::new();
        match self.state.get(index) {
            Some(BlockState::Live) => {}
            _ => return to_drop,
        }
        if index > self.frontier {
            self.state[index] = BlockState::Waiting;
            self.waiting_bytes += ranges[index].len();
        } else {
            self.state[index] = BlockState::Released;
            while let Some(&state) = self.state.get(self.frontier) {
                match state {
                    BlockState::Live => break,
                    BlockState::Waiting => {
                        self.waiting_bytes -= ranges[self.frontier].len();
                        self.state[self.frontier] = BlockState::Released;
                    }
                    BlockState::Released => {}
                }
                self.frontier += 1;
            }
            // Pages wholly before the frontier block's first byte carry only released
            // blocks (or none); after the last block, everything left goes.
            let end_page = match ranges.get(self.frontier) {
                Some(block) => block.start / page_bytes,
                None => ranges.last().map_or(0, |b| b.end.div_ceil(page_bytes)),
            };
            let all_released = self.frontier == ranges.len();
            if end_page >= self.dropped_pages + chunk_pages
                || (all_released && end_page > self.dropped_pages)
            {
                to_drop.push(self.dropped_pages..end_page);
                self.dropped_pages = end_page;
            }
        }
        if self.waiting_bytes >= chunk_pages * page_bytes {
            // A block before them is held: drop the waiting ones by themselves.
            for i in self.frontier + 1..self.state.len() {
                if self.state[i] == BlockState::Waiting {
                    self.state[i] = BlockState::Released;
                    let pages = releasable_pages(ranges, &self.state, i, page_bytes);
                    if !pages.is_empty() {
                        to_drop.push(pages);
                    }
                }
            }
            self.waiting_bytes = 0;
        }
        to_drop
    }
}

/// `madvise(MADV_DONTNEED)` on the pages `pages` (page numbers within `mmap`). A hint:
/// failures are ignored.
fn advise_dont_need(mmap: &Mmap, page_bytes: usize, pages: Range<usize>) {
    if pages.is_empty() {
        return;
    }
    let offset = pages.start.saturating_mul(page_bytes);
    let end = pages.end.saturating_mul(page_bytes).min(mmap.len());
    if offset >= end {
        return;
    }
    #[cfg(unix)]
    {
        // SAFETY: the map is a read-only shared mapping of a file that must not
        // change while it is mapped (the contract of `IpcFileSource::open`). Dropping
        // its pages unmaps them from this process only; the next access to them
        // faults the same bytes back in from the page cache or the file. So even a
        // reference into the range (a dictionary decoded at open, a page we
        // misjudged) reads unchanged bytes afterwards: nothing is written. Callers
        // only drop pages that no live batch lies on (during `open` no batch exists),
        // so in the normal flow nothing is faulted back. `offset` is page aligned (the map starts on a page) and
        // `offset..end` lies inside the map.
        let _ = unsafe {
            mmap.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, end - offset)
        };
    }
}

/// Keeps a block's bytes (and the map) alive while any buffer cut from it lives;
/// releases the block when dropped.
struct BlockLease {
    blocks: Arc<MappedBlocks>,
    index: usize,
    _bytes: Buffer,
}

impl Drop for BlockLease {
    fn drop(&mut self) {
        self.blocks.release(self.index);
    }
}

/// The pages (numbers, `page_bytes` each) that can be dropped once block `index` is
/// released: those under the block, less its first and last page if a live
/// neighbouring block also lies on them. `ranges` are in order and do not overlap.
fn releasable_pages(
    ranges: &[Range<usize>],
    state: &[BlockState],
    index: usize,
    page_bytes: usize,
) -> Range<usize> {
    let Some(block) = ranges.get(index) else {
        return 0..0;
    };
    let mut first = block.start / page_bytes;
    let mut last = block.end.div_ceil(page_bytes);
    let first_page_start = first * page_bytes;
    let shared_before = ranges[..index]
        .iter()
        .zip(state)
        .rev()
        .take_while(|(r, _)| r.end > first_page_start);
    for (_, &block) in shared_before {
        if block == BlockState::Live {
            first += 1;
            break;
        }
    }
    let last_page_end = last * page_bytes;
    let shared_after = ranges
        .iter()
        .zip(state)
        .skip(index + 1)
        .take_while(|(r, _)| r.start < last_page_end);
    for (_, &block) in shared_after {
        if block == BlockState::Live {
            last -= 1;
            break;
        }
    }
    first..last.max(first)
}

/// The system's page size, if it can be known.
fn page_bytes() -> Option<usize> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions; it only reads a system constant.
        let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(bytes).ok().filter(|&b| b.is_power_of_two())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    #[test]
    fn a_page_goes_with_the_last_block_on_it() {
        // Pages of 10 bytes; blocks: 0..15, 15..38, 38..40, 40..65.
        let ranges = vec![0..15, 15..38, 38..40, 40..65];
        let mut released = vec![BlockState::Live; 4];
        let mut release = |i: usize| {
            released[i] = BlockState::Released;
            releasable_pages(&ranges, &released, i, 10)
        };
        // Block 1 (pages 1..4): page 1 is shared with live block 0, page 3 with block 2.
        assert_eq!(release(1), 2..3);
        // Block 0 (pages 0..2): page 1's other block (1) is released.
        assert_eq!(release(0), 0..2);
        // Block 3 (pages 4..7): page 4 starts at byte 40, where block 3 starts.
        assert_eq!(release(3), 4..7);
        // Block 2 (page 3 only): blocks 1 and 3 are released.
        assert_eq!(release(2), 3..4);
    }

    #[test]
    fn tiny_blocks_share_pages() {
        // Ten 3-byte blocks on pages of 16 bytes: a page goes once all its blocks have.
        let ranges: Vec<Range<usize>> = (0..10).map(|i| i * 3..i * 3 + 3).collect();
        let mut released = vec![BlockState::Live; 10];
        let mut dropped = Vec::new();
        for i in (0..10).rev() {
            released[i] = BlockState::Released;
            let pages = releasable_pages(&ranges, &released, i, 16);
            if !pages.is_empty() {
                dropped.push((i, pages));
            }
        }
        // Page 1 (bytes 16..32) holds blocks 5..=9 (block 5 is 15..18); page 0 blocks 0..=5.
        assert_eq!(dropped, vec![(5, 1..2), (0, 0..1)]);
    }

    #[test]
    fn one_block_inside_one_page() {
        let ranges: Vec<Range<usize>> = std::iter::once(2..5).collect();
        assert_eq!(
            releasable_pages(&ranges, &[BlockState::Released], 0, 4096),
            0..1
        );
        assert_eq!(
            releasable_pages(&ranges, &[BlockState::Released], 1, 4096),
            0..0
        );
    }

    /// Releases the blocks `ranges` in `order` and checks, after every release, that no
    /// dropped page carries a live block and that at most two chunks and two pages per
    /// held-back block of free pages stay mapped; at the end, every page under a block
    /// is dropped. Returns the number of `madvise` calls.
    fn release_all(
        ranges: &[Range<usize>],
        order: &[usize],
        page_bytes: usize,
        chunk_pages: usize,
    ) -> usize {
        let pages = ranges.last().map_or(0, |b| b.end.div_ceil(page_bytes));
        let mut releases = Releases {
            state: vec![BlockState::Live; ranges.len()],
            frontier: 0,
            dropped_pages: 0,
            waiting_bytes: 0,
        };
        let mut live = vec![true; ranges.len()];
        let mut dropped = vec![false; pages];
        let on_page = |page: usize| {
            let bytes = page * page_bytes..(page + 1) * page_bytes;
            (0..ranges.len())
                .filter(move |&b| ranges[b].start < bytes.end && bytes.start < ranges[b].end)
        };
        let mut calls = 0;
        for &index in order {
            live[index] = false;
            for range in releases.release(index, ranges, page_bytes, chunk_pages) {
                calls += 1;
                for page in range {
                    assert!(
                        on_page(page).all(|b| !live[b]),
                        "page {page} dropped under a live block (released {index})"
                    );
                    if let Some(d) = dropped.get_mut(page) {
                        *d = true;
                    }
                }
            }
            let free_mapped = (0..pages)
                .filter(|&p| !dropped[p] && on_page(p).count() > 0 && on_page(p).all(|b| !live[b]))
                .count();
            let held_back = (0..ranges.len())
                .filter(|&b| !live[b] && live[..b].contains(&true))
                .count();
            assert!(
                free_mapped <= 2 * chunk_pages + 2 * held_back,
                "{free_mapped} free pages mapped, chunk {chunk_pages}, {held_back} held back"
            );
        }
        for (page, &gone) in dropped.iter().enumerate() {
            assert!(
                gone || on_page(page).count() == 0,
                "page {page} never dropped"
            );
        }
        calls
    }

    /// Blocks from `(gap, len)` pairs, in order, not overlapping.
    fn blocks_from(spans: &[(usize, usize)]) -> Vec<Range<usize>> {
        let mut at = 0;
        spans
            .iter()
            .map(|&(gap, len)| {
                let start = at + gap;
                at = start + len;
                start..at
            })
            .collect()
    }

    #[test]
    fn blocks_released_in_order_are_dropped_a_chunk_at_a_time() {
        // 100 blocks of 3 pages, chunks of 30 pages: 10 calls, not 100.
        let ranges = blocks_from(&[(0, 300); 100]);
        let order: Vec<usize> = (0..100).collect();
        assert_eq!(release_all(&ranges, &order, 100, 30), 10);
    }

    #[test]
    fn a_block_held_for_the_whole_run_pins_only_its_own_pages_and_two_chunks() {
        // Block 5 is released last: the rest still goes, a block at a time beyond it.
        let ranges = blocks_from(&[(7, 250); 60]);
        let mut order: Vec<usize> = (0..60).filter(|&b| b != 5).collect();
        order.push(5);
        release_all(&ranges, &order, 100, 8);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn any_release_order_is_safe_bounded_and_complete(
            spans in prop::collection::vec((0usize..40, 1usize..400), 1..40),
            swaps in prop::collection::vec((0usize..40, 0usize..40), 0..30),
            page_bytes in prop::sample::select(vec![16usize, 64, 100]),
            chunk_pages in 1usize..12,
        ) {
            let ranges = blocks_from(&spans);
            let mut order: Vec<usize> = (0..ranges.len()).collect();
            for (a, b) in swaps {
                order.swap(a % ranges.len(), b % ranges.len());
            }
            release_all(&ranges, &order, page_bytes, chunk_pages);
        }
    }
}

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
    /// Per block: every batch cut from it has been dropped.
    released: Mutex<Vec<bool>>,
}

impl std::fmt::Debug for MappedBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedBlocks")
            .field("blocks", &self.ranges.len())
            .field("page_bytes", &self.page_bytes)
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
        let released = Mutex::new(vec![false; ranges.len()]);
        Some(Arc::new(MappedBlocks {
            mmap,
            page_bytes,
            ranges,
            released,
        }))
    }

    /// Drops every resident page of the map. Only for when no batch has been cut from
    /// it yet (see [`release_unused_pages`]).
    pub(crate) fn release_everything(&self) {
        advise_dont_need(
            &self.mmap,
            self.page_bytes,
            0..self.mmap.len().div_ceil(self.page_bytes),
        );
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

    /// Marks block `index` released and drops the pages no unreleased block lies on.
    fn release(&self, index: usize) {
        let pages = {
            let mut released = self
                .released
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let Some(flag) = released.get_mut(index) else {
                return;
            };
            *flag = true;
            releasable_pages(&self.ranges, &released, index, self.page_bytes)
        };
        // Outside the lock: a page found free stays free, as a released block is never
        // leased again.
        advise_dont_need(&self.mmap, self.page_bytes, pages);
    }
}

/// Drops the resident pages that lie wholly inside `bytes` (a byte range of `mmap`),
/// while no batch has been cut from the map yet: `open` reads a header in every block
/// while checking the file, and the kernel maps the pages around each read (fault-around,
/// large folios), which would otherwise make most of the file resident before the first
/// batch is decoded.
pub(crate) fn release_unused_pages(mmap: &Mmap, bytes: Range<usize>) {
    if let Some(page_bytes) = page_bytes() {
        let pages = bytes.start.div_ceil(page_bytes)..bytes.end / page_bytes;
        advise_dont_need(mmap, page_bytes, pages);
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
/// released: those under the block, less its first and last page if an unreleased
/// neighbouring block also lies on them. `ranges` are in order and do not overlap.
fn releasable_pages(
    ranges: &[Range<usize>],
    released: &[bool],
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
        .zip(released)
        .rev()
        .take_while(|(r, _)| r.end > first_page_start);
    for (_, &done) in shared_before {
        if !done {
            first += 1;
            break;
        }
    }
    let last_page_end = last * page_bytes;
    let shared_after = ranges
        .iter()
        .zip(released)
        .skip(index + 1)
        .take_while(|(r, _)| r.start < last_page_end);
    for (_, &done) in shared_after {
        if !done {
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

    #[test]
    fn a_page_goes_with_the_last_block_on_it() {
        // Pages of 10 bytes; blocks: 0..15, 15..38, 38..40, 40..65.
        let ranges = vec![0..15, 15..38, 38..40, 40..65];
        let mut released = vec![false; 4];
        let mut release = |i: usize| {
            released[i] = true;
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
        let mut released = vec![false; 10];
        let mut dropped = Vec::new();
        for i in (0..10).rev() {
            released[i] = true;
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
        assert_eq!(releasable_pages(&ranges, &[true], 0, 4096), 0..1);
        assert_eq!(releasable_pages(&ranges, &[true], 1, 4096), 0..0);
    }
}

//! Arrow IPC file reader: memory-maps the file and decodes one record batch at a time,
//! zero-copy (column buffers point into the map).
//!
//! ```text
//!   ARROW1\0\0 │ schema msg │ dict blocks… │ batch block 0 │ batch block 1 │ … │ footer │ len │ ARROW1
//!                                            ▲                ▲                    │
//!                                            └── Block{offset, metaDataLength, bodyLength} ┘
//! ```
//! `open` checks the magic, the footer, and every block's metadata (each message is
//! verified and its buffers are checked against its body, see
//! [`ipc_message`](super::ipc_message)); it reads each header with `pread` rather than
//! through the map (see `Headers`), and gives the total row count. `next()` then decodes
//! a batch with arrow-ipc's `FileDecoder` on a slice of the mapped file: no copy unless a
//! buffer is misaligned. The same `Batches` decode any batch on any thread once the
//! decoding is split off ([`BatchSource::split_decoding`]), and run the checks once they
//! are handed over ([`BatchSource::defer_checks`]). For flat schemas the
//! decoder's own validation is replaced by a faster one (see
//! [`ipc_validate`](super::ipc_validate)): reading 10 M trade rows takes ~30 ms, most of
//! it checking the string columns, against ~105 ms for arrow's copying `FileReader`.
//!
//! Memory: mapped pages count in the process's RSS once touched. `open` touches none of
//! the blocks' pages, and each block's pages are dropped as soon as every batch cut from
//! it is gone (see `mapped_blocks.rs`), so a run holds only
//! the pages of the batches still in flight, not the file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::ipc::convert::try_fb_to_schema;
use arrow::ipc::reader::FileDecoder;
use arrow::ipc::{Block, MetadataVersion, root_as_footer};
use memmap2::Mmap;

use super::format::{ARROW_FILE_MAGIC, Format};
use super::io_error;
use super::ipc_message::{
    MessageKind, decode_guarded, inspect_parsed, metadata_flatbuffer, parse_message,
};
use super::ipc_validate::{SizeChecker, validate_batch, validates_schema};
use super::mapped_blocks::MappedBlocks;
use super::source::{BatchCheck, BatchDecoder, BatchSource};
use crate::error::{Error, Result};

/// Bytes before the first message: the magic padded to 8.
const HEADER_BYTES: usize = 8;
/// Bytes after the footer: its `i32` length and the magic.
const TRAILER_BYTES: usize = 10;

/// Reads an Arrow IPC file batch by batch from a memory map (or any [`Buffer`]).
#[derive(Debug)]
pub struct IpcFileSource {
    /// What decoding and checking a batch needs; shared with the split decoder and the
    /// handed-over checks, so changed (projection, deferral) only before either exists.
    batches: Arc<Batches>,
    /// The file's metadata version (to rebuild the decoder for a projection).
    version: MetadataVersion,
    /// Whether [`BatchSource::read_columns`] has narrowed the batches.
    projected: bool,
    next_block: usize,
    total_rows: u64,
    /// Whether batches are decoded unchecked and then checked by `validate_batch`.
    checks_itself: bool,
}

/// The record batches of an IPC file: the source decodes them in order from this; split
/// off ([`BatchSource::split_decoding`]) it decodes any of them on any thread, and handed
/// over ([`BatchSource::defer_checks`]) it runs their checks.
#[derive(Debug)]
struct Batches {
    path: PathBuf,
    data: Buffer,
    decoder: FileDecoder,
    blocks: Vec<Block>,
    /// Rows of each block, from its message header.
    block_rows: Vec<u64>,
    schema: SchemaRef,
    /// Whether `decode` runs `validate_batch` (the decoder's own validation is off, and
    /// the checks were not handed over).
    checks: bool,
    /// For a mapped file: the blocks whose pages are dropped once their batches are.
    mapped: Option<Arc<MappedBlocks>>,
}

impl IpcFileSource {
    /// Memory-maps `path` and reads its footer.
    ///
    /// The file must not be truncated or rewritten by another process while it is
    /// mapped (as with any memory map, that would fault the process).
    ///
    /// # Errors
    /// [`Error::Input`] naming the file if it is missing, unreadable, empty, not an Arrow
    /// IPC file (bad magic; an IPC *stream* is named as such), truncated, or corrupt.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| io_error(path, "", e))?;
        let metadata = file.metadata().map_err(|e| io_error(path, "", e))?;
        if metadata.is_dir() {
            return Err(Error::input(path, "is a directory, not an Arrow IPC file"));
        }
        if metadata.len() == 0 {
            return Err(Error::input(path, "file is empty (not an Arrow IPC file)"));
        }
        // SAFETY: the map is read-only and lives as long as every `Buffer` cut from it
        // (the `Arc<Mmap>` below is the buffers' owner). Like every reader of a mapped
        // file we rely on nobody truncating the file while it is mapped; that is
        // documented on `open`.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| io_error(path, "cannot map", e))?;
        #[cfg(unix)]
        {
            // Batches are decoded front to back: let the kernel read ahead. Only a hint.
            let _ = mmap.advise(memmap2::Advice::Sequential);
        }
        let len = mmap.len();
        let mmap = Arc::new(mmap);
        let ptr = NonNull::new(mmap.as_ptr().cast_mut())
            .ok_or_else(|| Error::input(path, "cannot map an empty file"))?;
        // SAFETY: `ptr` points to `len` readable bytes owned by `mmap`, which the buffer
        // keeps alive through its `Arc`; the bytes are never written through.
        let data = unsafe { Buffer::from_custom_allocation(ptr, len, mmap.clone()) };
        Self::from_headers(path, data, Headers::file(&file), Some(mmap))
    }

    /// Reads an Arrow IPC file held in `data` (the whole file). `path` names it in errors.
    ///
    /// # Errors
    /// As for [`IpcFileSource::open`].
    pub fn from_buffer(path: impl AsRef<Path>, data: Buffer) -> Result<Self> {
        Self::from_headers(path, data, Headers::Bytes, None)
    }

    /// As [`IpcFileSource::from_buffer`], reading the magic, the footer and the blocks'
    /// message headers from `headers`; `mmap`, if given, is the map `data` lies in.
    fn from_headers(
        path: impl AsRef<Path>,
        data: Buffer,
        mut headers: Headers<'_>,
        mmap: Option<Arc<Mmap>>,
    ) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let len = data.len();
        let cannot_read = |e| io_error(&path, "cannot read", e);
        let prefix = headers
            .read(&data, 0, len.min(HEADER_BYTES))
            .map_err(cannot_read)?;
        if !prefix.starts_with(ARROW_FILE_MAGIC) {
            if prefix.is_empty() {
                return Err(Error::input(&path, "file is empty (not an Arrow IPC file)"));
            }
            let hint = if Format::sniff(prefix) == Some(Format::ArrowStream) {
                ": it is an Arrow IPC stream (read it with format 'arrows')"
            } else {
                ""
            };
            return Err(Error::input(
                &path,
                format!("not an Arrow IPC file (bad magic){hint}"),
            ));
        }
        let truncated = || {
            Error::input(
                &path,
                "file is truncated (no footer at the end: was the writer interrupted?)",
            )
        };
        let trailer = len
            .checked_sub(TRAILER_BYTES)
            .filter(|&t| t >= HEADER_BYTES)
            .ok_or_else(truncated)?;
        let trailer_bytes = headers
            .read(&data, trailer, TRAILER_BYTES)
            .map_err(cannot_read)?;
        let (footer_len_bytes, magic) = trailer_bytes.split_at(4);
        if magic != ARROW_FILE_MAGIC {
            return Err(truncated());
        }
        let mut footer_len_le = [0u8; 4];
        footer_len_le.copy_from_slice(footer_len_bytes);
        let footer_len = i32::from_le_bytes(footer_len_le);
        let footer_start = usize::try_from(footer_len)
            .ok()
            .and_then(|footer_len| trailer.checked_sub(footer_len))
            .filter(|&start| start >= HEADER_BYTES)
            .ok_or_else(|| {
                Error::input(
                    &path,
                    format!(
                        "corrupt footer: length {footer_len} does not fit in a {len}-byte file"
                    ),
                )
            })?;
        let footer_bytes = headers
            .read(&data, footer_start, trailer - footer_start)
            .map_err(cannot_read)?
            .to_vec();
        let footer = root_as_footer(&footer_bytes)
            .map_err(|e| Error::input(&path, format!("corrupt footer: {e}")))?;
        let fb_schema = footer
            .schema()
            .ok_or_else(|| Error::input(&path, "corrupt footer: no schema"))?;
        let schema = Arc::new(
            try_fb_to_schema(fb_schema)
                .map_err(|e| Error::input(&path, format!("corrupt schema in footer: {e}")))?,
        );
        let checks_itself = validates_schema(&schema);
        let sizes = SizeChecker::new(&schema, &fb_schema);
        let mut decoder = FileDecoder::new(schema.clone(), footer.version());
        if checks_itself {
            // SAFETY: arrow's per-array validation is off, but no batch leaves this
            // source before `validate_batch` has checked every column (see
            // `ipc_validate`): type, length, buffer sizes, null counts, offsets, UTF-8
            // (or, once the checks are deferred, before the caller runs it: the
            // contract of the unsafe `defer_checks`).
            // The bounds the decoder itself relies on are checked before it runs: buffer
            // ranges by `check_block`, buffer sizes for the declared rows by
            // `SizeChecker` (any schema `validates_schema` accepts, it covers).
            decoder = unsafe { decoder.with_skip_validation(true) };
        }

        let mut check = |block: &Block, what: &str| {
            check_block(
                &path,
                &data,
                &mut headers,
                footer_start,
                block,
                what,
                &sizes,
            )
        };
        for (i, block) in footer.dictionaries().iter().flatten().enumerate() {
            let what = format!("dictionary batch {i}");
            let info = check(block, &what)?;
            if info.kind != MessageKind::DictionaryBatch {
                return Err(Error::input(
                    &path,
                    format!(
                        "corrupt {what}: the footer points at a {:?} message",
                        info.kind
                    ),
                ));
            }
            let block_data = slice_block(&data, block);
            decode_guarded(|| decoder.read_dictionary(block, &block_data))
                .map_err(|e| Error::input(&path, format!("corrupt {what}: {e}")))?;
        }

        let version = footer.version();
        let record_batches = footer.recordBatches();
        let mut blocks = Vec::with_capacity(record_batches.map_or(0, |b| b.len()));
        let mut block_rows = Vec::with_capacity(blocks.capacity());
        let mut total_rows = 0u64;
        for (i, block) in record_batches.iter().flatten().enumerate() {
            let what = format!("record batch {i}");
            let info = check(block, &what)?;
            let MessageKind::RecordBatch { rows } = info.kind else {
                return Err(Error::input(
                    &path,
                    format!(
                        "corrupt {what}: the footer points at a {:?} message",
                        info.kind
                    ),
                ));
            };
            total_rows = total_rows.saturating_add(rows);
            blocks.push(*block);
            block_rows.push(rows);
        }

        let mapped = mmap.and_then(|mmap| {
            let ranges = blocks.iter().map(block_range).collect();
            MappedBlocks::new(mmap, ranges)
        });
        Ok(IpcFileSource {
            batches: Arc::new(Batches {
                path,
                data,
                decoder,
                blocks,
                block_rows,
                schema,
                checks: checks_itself,
                mapped,
            }),
            version,
            projected: false,
            next_block: 0,
            total_rows,
            checks_itself,
        })
    }

    /// Number of record batches in the file.
    pub fn num_batches(&self) -> usize {
        self.batches.blocks.len()
    }

    /// The file this source reads.
    pub fn path(&self) -> &Path {
        &self.batches.path
    }
}

/// Where `open` reads the blocks' message headers: from the bytes themselves, or, for a
/// mapped file, from the file with `pread`. Read through the map, each header faulted in
/// the pages around it (kernel 6.18 maps a whole large folio, a few hundred KB), which
/// then had to be dropped again to keep the RSS down, and faulted in once more when the
/// batch was read. On a 436 MB file of 1,221 blocks `open` took 5.2 ms that way, 2.0–2.2
/// ms with `pread` (the magic, the footer and the headers: the map stays untouched).
enum Headers<'a> {
    /// From the file's bytes.
    Bytes,
    /// From the file the bytes map, into `scratch`.
    File { file: &'a File, scratch: Vec<u8> },
}

impl<'a> Headers<'a> {
    fn file(file: &'a File) -> Self {
        Headers::File {
            file,
            scratch: Vec::new(),
        }
    }

    /// Bytes `offset..offset + len` of `data` (the whole file), which the caller has
    /// checked lie inside it.
    fn read<'s>(
        &'s mut self,
        data: &'s Buffer,
        offset: usize,
        len: usize,
    ) -> std::io::Result<&'s [u8]> {
        match self {
            Headers::Bytes => Ok(&data.as_slice()[offset..offset + len]),
            Headers::File { file, scratch } => {
                scratch.resize(len, 0);
                read_at(file, scratch, offset as u64)?;
                Ok(scratch)
            }
        }
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Checks that `block` lies inside the file before the footer and that its message is
/// well formed with all buffers inside its body, and large enough for its rows
/// (`sizes`).
fn check_block(
    path: &Path,
    data: &Buffer,
    headers: &mut Headers<'_>,
    footer_start: usize,
    block: &Block,
    what: &str,
    sizes: &Option<SizeChecker>,
) -> Result<super::ipc_message::MessageInfo> {
    let bad = |detail: String| Error::input(path, format!("corrupt {what}: {detail}"));
    let offset = usize::try_from(block.offset())
        .ok()
        .filter(|&o| o >= HEADER_BYTES);
    let meta_len = usize::try_from(block.metaDataLength())
        .ok()
        .filter(|&m| m >= 8);
    let body_len = usize::try_from(block.bodyLength()).ok();
    let (Some(offset), Some(meta_len), Some(body_len)) = (offset, meta_len, body_len) else {
        return Err(bad(format!(
            "the footer gives offset {}, metadata length {}, body length {}",
            block.offset(),
            block.metaDataLength(),
            block.bodyLength()
        )));
    };
    let end = offset
        .checked_add(meta_len)
        .and_then(|e| e.checked_add(body_len));
    match end {
        Some(end) if end <= footer_start => {}
        Some(end) if end > data.len() => {
            return Err(Error::input(
                path,
                format!(
                    "file is truncated: {what} ends at byte {end}, past the end of the file ({} bytes)",
                    data.len()
                ),
            ));
        }
        _ => {
            return Err(bad(
                "the footer points past the data, into the footer".to_string()
            ));
        }
    }
    let region = headers
        .read(data, offset, meta_len)
        .map_err(|e| io_error(path, &format!("cannot read {what}"), e))?;
    let message = parse_message(metadata_flatbuffer(region).map_err(bad)?).map_err(bad)?;
    let info = inspect_parsed(&message, Some(body_len)).map_err(bad)?;
    if let Some(sizes) = sizes {
        sizes.check(&message).map_err(bad)?;
    }
    Ok(info)
}

/// The byte range of a block already checked by [`check_block`].
fn block_range(block: &Block) -> std::ops::Range<usize> {
    // The casts were range-checked by `check_block`.
    let offset = block.offset() as usize;
    offset..offset + block.metaDataLength() as usize + block.bodyLength() as usize
}

/// The bytes of a block already checked by [`check_block`].
fn slice_block(data: &Buffer, block: &Block) -> Buffer {
    let range = block_range(block);
    data.slice_with_length(range.start, range.len())
}

impl Iterator for IpcFileSource {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.next_block;
        if index >= self.batches.blocks.len() {
            return None;
        }
        self.next_block += 1;
        let decoded = self.batches.decode(index);
        if decoded.is_err() {
            // A corrupt batch ends the source: do not skip to the next one.
            self.next_block = self.batches.blocks.len();
        }
        Some(decoded)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.batches.blocks.len() - self.next_block;
        (left, Some(left))
    }
}

impl BatchSource for IpcFileSource {
    fn schema(&self) -> SchemaRef {
        self.batches.schema.clone()
    }

    fn total_rows(&self) -> Option<u64> {
        Some(self.total_rows)
    }

    /// Decodes (and checks) only `columns`: the buffers of the others are never read,
    /// so their pages are never faulted in. Before the first batch, and before the
    /// decoding is split off or the checks handed over.
    fn read_columns(&mut self, columns: &[usize]) -> Option<SchemaRef> {
        if self.projected || self.next_block != 0 {
            return None;
        }
        let batches = Arc::get_mut(&mut self.batches)?;
        let all = batches.schema.fields().len();
        let ascending = columns.windows(2).all(|w| w[0] < w[1]);
        let inside = columns.last().is_some_and(|&last| last < all);
        if !ascending || !inside || columns.len() == all {
            return None;
        }
        let schema = Arc::new(batches.schema.project(columns).ok()?);
        let unprojected = FileDecoder::new(batches.schema.clone(), self.version);
        let decoder = std::mem::replace(&mut batches.decoder, unprojected);
        batches.decoder = decoder.with_projection(columns.to_vec());
        batches.schema = schema.clone();
        self.projected = true;
        Some(schema)
    }

    /// With the decoder's own validation off (flat schemas), before the first batch.
    unsafe fn defer_checks(&mut self) -> Option<Arc<dyn BatchCheck>> {
        if !self.checks_itself || self.next_block != 0 {
            return None;
        }
        let batches = Arc::get_mut(&mut self.batches)?;
        batches.checks = false;
        Some(self.batches.clone())
    }

    /// Before the first batch; the batches then come from the returned decoder only.
    fn split_decoding(&mut self) -> Option<Arc<dyn BatchDecoder>> {
        if self.next_block != 0 {
            return None;
        }
        self.next_block = self.batches.blocks.len();
        Some(self.batches.clone())
    }
}

impl Batches {
    /// Rows of batch `index` as its header gives them.
    fn header_rows(&self, index: usize) -> Result<usize> {
        let rows = self
            .block_rows
            .get(index)
            .ok_or_else(|| self.missing(index))?;
        Ok(usize::try_from(*rows).unwrap_or(usize::MAX))
    }

    /// No input reaches this: callers count the batches they were given.
    fn missing(&self, index: usize) -> Error {
        Error::internal(format!(
            "no record batch {index} in {}",
            self.path.display()
        ))
    }

    /// `validate_batch` on batch `index`, as an error naming the file and the batch.
    fn validate(&self, index: usize, batch: &RecordBatch) -> Result<()> {
        let rows = self.header_rows(index)?;
        validate_batch(batch, &self.schema, rows).map_err(|e| self.corrupt(index, &e))
    }

    fn corrupt(&self, index: usize, detail: &str) -> Error {
        Error::input(
            &self.path,
            format!("corrupt record batch {index}: {detail}"),
        )
    }
}

impl BatchDecoder for Batches {
    fn num_batches(&self) -> usize {
        self.blocks.len()
    }

    fn rows(&self, index: usize) -> u64 {
        self.block_rows.get(index).copied().unwrap_or(0)
    }

    /// Record batch `index` (its block checked at open), decoded, and validated unless
    /// the checks were handed over.
    fn decode(&self, index: usize) -> Result<RecordBatch> {
        let block = self.blocks.get(index).ok_or_else(|| self.missing(index))?;
        let block_data = match &self.mapped {
            Some(mapped) => mapped.lease(index, slice_block(&self.data, block)),
            None => slice_block(&self.data, block),
        };
        let batch = decode_guarded(|| self.decoder.read_record_batch(block, &block_data))
            .map_err(|e| self.corrupt(index, &e))?
            .ok_or_else(|| self.corrupt(index, "the message holds no record batch"))?;
        if self.checks {
            self.validate(index, &batch)?;
        }
        Ok(batch)
    }
}

/// The checks an [`IpcFileSource`] handed over: those its `next()` would have run.
impl BatchCheck for Batches {
    fn check(&self, index: u64, batch: &RecordBatch) -> Result<()> {
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        self.validate(index, batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::Array;
    use proptest::prelude::*;

    use crate::io::test_data::*;

    fn open_bytes(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
        let source = IpcFileSource::from_buffer("t.arrow", Buffer::from(bytes.to_vec()))?;
        source.collect()
    }

    #[test]
    fn reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.arrow");
        let batches = plain_batches(&[5, 0, 100, 1]);
        std::fs::write(&path, ipc_file_bytes(&plain_schema(), &batches)).unwrap();

        let source = IpcFileSource::open(&path).unwrap();
        assert_eq!(source.schema(), plain_schema());
        assert_eq!(source.total_rows(), Some(106));
        assert_eq!(source.num_batches(), 4);
        assert_eq!(source.size_hint(), (4, Some(4)));
        let back: Vec<RecordBatch> = source.collect::<Result<_>>().unwrap();
        assert_eq!(back, batches);
    }

    #[test]
    fn reads_dictionary_columns() {
        let batches = vec![dict_batch(0, 10), dict_batch(10, 7)];
        let bytes = ipc_file_bytes(&dict_schema(), &batches);
        assert_eq!(open_bytes(&bytes).unwrap(), batches);
    }

    #[test]
    fn batches_point_into_the_buffer_without_copying() {
        let batches = plain_batches(&[1000]);
        let data = Buffer::from(ipc_file_bytes(&plain_schema(), &batches));
        let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
        let mut source = IpcFileSource::from_buffer("t.arrow", data.clone()).unwrap();
        let batch = source.next().unwrap().unwrap();
        let values = batch.column(3).to_data().buffers()[0].as_ptr() as usize;
        assert!(range.contains(&values), "int64 values were copied");
    }

    #[test]
    fn an_empty_file_with_a_schema_is_valid() {
        let bytes = ipc_file_bytes(&plain_schema(), &[]);
        let source = IpcFileSource::from_buffer("t.arrow", Buffer::from(bytes)).unwrap();
        assert_eq!(source.total_rows(), Some(0));
        assert_eq!(source.schema(), plain_schema());
        assert_eq!(source.count(), 0);
    }

    #[test]
    fn wrong_magic_is_named() {
        let err = open_bytes(b"name,price\nx,1\nyyyyyyyyyyyyyyyyyyyyy").unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("t.arrow: "), "{message}");
        assert!(
            message.contains("not an Arrow IPC file (bad magic)"),
            "{message}"
        );
    }

    #[test]
    fn a_stream_is_named_as_a_stream() {
        let bytes = ipc_stream_bytes(&plain_schema(), &plain_batches(&[3]));
        let message = open_bytes(&bytes).unwrap_err().to_string();
        assert!(message.contains("bad magic"), "{message}");
        assert!(message.contains("IPC stream"), "{message}");
    }

    #[test]
    fn missing_empty_and_directory_paths_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.arrow");
        let message = IpcFileSource::open(&missing).unwrap_err().to_string();
        assert!(
            message.contains("nope.arrow") && message.contains("no such file"),
            "{message}"
        );

        let empty = dir.path().join("empty.arrow");
        std::fs::write(&empty, b"").unwrap();
        let message = IpcFileSource::open(&empty).unwrap_err().to_string();
        assert!(message.contains("file is empty"), "{message}");

        let message = IpcFileSource::open(dir.path()).unwrap_err().to_string();
        assert!(message.contains("is a directory"), "{message}");
    }

    /// `open` (headers read from the file) against `from_buffer` (read from the bytes):
    /// the same batches, or the same error.
    fn assert_open_matches_from_buffer(path: &Path, bytes: &[u8]) {
        std::fs::write(path, bytes).unwrap();
        let read = |source: Result<IpcFileSource>| {
            source
                .and_then(|s| s.collect::<Result<Vec<_>>>())
                .map_err(|e| e.to_string())
        };
        let from_file = read(IpcFileSource::open(path));
        let from_bytes = read(IpcFileSource::from_buffer(
            path,
            Buffer::from(bytes.to_vec()),
        ));
        assert_eq!(from_file, from_bytes, "{} bytes", bytes.len());
    }

    #[test]
    fn open_reads_the_headers_as_from_buffer_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.arrow");
        for bytes in [
            ipc_file_bytes(&plain_schema(), &plain_batches(&[3, 4])),
            ipc_file_bytes(&dict_schema(), &[dict_batch(0, 7), dict_batch(7, 2)]),
        ] {
            for len in (1..bytes.len()).rev() {
                assert_open_matches_from_buffer(&path, &bytes[..len]);
            }
            assert_open_matches_from_buffer(&path, &bytes);
            // Every byte of the file in turn, flipped.
            let mut flipped = bytes.clone();
            for at in 0..bytes.len() {
                flipped[at] ^= 0x5a;
                assert_open_matches_from_buffer(&path, &flipped);
                flipped[at] ^= 0x5a;
            }
        }
    }

    #[test]
    fn truncation_at_every_offset_is_an_error() {
        let bytes = ipc_file_bytes(&plain_schema(), &plain_batches(&[3, 4]));
        for len in 0..bytes.len() {
            let err = match open_bytes(&bytes[..len]) {
                Err(err) => err,
                Ok(_) => panic!(
                    "a file truncated to {len} of {} bytes was read",
                    bytes.len()
                ),
            };
            let message = err.to_string();
            assert!(
                message.contains("truncated")
                    || message.contains("bad magic")
                    || message.contains("file is empty"),
                "at {len}: {message}"
            );
            assert!(matches!(err, Error::Input { .. }));
        }
    }

    #[test]
    fn a_hole_in_the_data_is_an_error() {
        // Cut 64 bytes out of the middle but keep the footer: its blocks now point past
        // the data (into the footer, or past the end).
        let bytes = ipc_file_bytes(&plain_schema(), &plain_batches(&[50, 50]));
        let middle = bytes.len() / 2;
        let holed: Vec<u8> = bytes[..middle]
            .iter()
            .chain(&bytes[middle + 64..])
            .copied()
            .collect();
        let message = open_bytes(&holed).unwrap_err().to_string();
        assert!(
            message.contains("corrupt") || message.contains("truncated"),
            "{message}"
        );
    }

    #[test]
    fn a_buffer_past_its_body_is_corrupt_not_a_panic() {
        // Shrink the body length the footer gives for the first batch: arrow-ipc would
        // slice past the end of the block and panic.
        let bytes = ipc_file_bytes(&plain_schema(), &plain_batches(&[20]));
        let source = IpcFileSource::from_buffer("t.arrow", Buffer::from(bytes.clone())).unwrap();
        let block = source.batches.blocks[0];
        let needle = block.bodyLength().to_le_bytes();
        let trailer = bytes.len() - TRAILER_BYTES;
        let footer_len = i32::from_le_bytes(bytes[trailer..trailer + 4].try_into().unwrap());
        let footer_start = trailer - footer_len as usize;
        let at = bytes[footer_start..trailer]
            .windows(8)
            .position(|w| w == needle)
            .unwrap()
            + footer_start;
        let mut corrupt = bytes.clone();
        corrupt[at..at + 8].copy_from_slice(&8i64.to_le_bytes());
        let message = open_bytes(&corrupt).unwrap_err().to_string();
        assert!(message.contains("corrupt record batch 0"), "{message}");
    }

    /// A file of 20 plain rows with invalid UTF-8 in one value of column 'name'.
    fn invalid_utf8_file() -> Vec<u8> {
        let mut bytes = ipc_file_bytes(&plain_schema(), &plain_batches(&[20]));
        let at = bytes
            .windows(b"name, \"17\"".len())
            .position(|w| w == b"name, \"17\"")
            .unwrap();
        bytes[at + 1] = 0xFF;
        bytes
    }

    #[test]
    fn invalid_utf8_in_a_string_column_is_corrupt() {
        let corrupt = invalid_utf8_file();
        let message = open_bytes(&corrupt).unwrap_err().to_string();
        assert!(message.contains("corrupt record batch 0"), "{message}");
        assert!(message.contains("column 'name'"), "{message}");
        assert!(message.contains("UTF-8"), "{message}");
    }

    /// Deferred checks: the source yields the corrupt batch, and the check it handed
    /// over gives the error its own check would have; a source defers only before its
    /// first batch.
    #[test]
    fn deferred_checks_give_the_sources_own_error() {
        let corrupt = invalid_utf8_file();
        let mut source = IpcFileSource::from_buffer("t.arrow", Buffer::from(corrupt)).unwrap();
        // SAFETY: the batch's values are read only after the check, which fails.
        let check = unsafe { source.defer_checks() }.expect("a flat schema defers");
        let batch = source.next().expect("a batch").expect("decoded unchecked");
        let message = check.check(0, &batch).unwrap_err().to_string();
        assert!(message.contains("corrupt record batch 0"), "{message}");
        assert!(message.contains("column 'name'"), "{message}");
        assert!(message.contains("UTF-8"), "{message}");
        assert!(message.contains("t.arrow"), "{message}");

        let intact = ipc_file_bytes(&plain_schema(), &plain_batches(&[20, 5]));
        let mut source = IpcFileSource::from_buffer("t.arrow", Buffer::from(intact)).unwrap();
        let first = source
            .next()
            .expect("a batch")
            .expect("checked by the source");
        // SAFETY: no batch is read after this call.
        assert!(
            unsafe { source.defer_checks() }.is_none(),
            "not after a batch"
        );
        assert_eq!(first.num_rows(), 20);
    }

    #[test]
    fn a_split_decoder_decodes_what_the_source_would_yield_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.arrow");
        let written = plain_batches(&[5, 0, 100, 1, 37, 8]);
        std::fs::write(&path, ipc_file_bytes(&plain_schema(), &written)).unwrap();
        for columns in [None, Some(vec![1, 3])] {
            let open = || {
                let mut source = IpcFileSource::open(&path).unwrap();
                if let Some(columns) = &columns {
                    source.read_columns(columns).unwrap();
                }
                source
            };
            let expected: Vec<RecordBatch> = open().map(|b| b.unwrap()).collect();
            let mut source = open();
            let decoder = source.split_decoding().expect("an IPC file splits");
            assert!(
                source.next().is_none(),
                "the source yields nothing once split"
            );
            assert_eq!(decoder.num_batches(), expected.len());
            // Back to front, as workers may take them.
            for i in (0..expected.len()).rev() {
                assert_eq!(decoder.rows(i), expected[i].num_rows() as u64);
                assert_eq!(decoder.decode(i).unwrap(), expected[i], "batch {i}");
            }
            assert_eq!(decoder.rows(expected.len()), 0);
            assert!(decoder.decode(expected.len()).is_err());
        }

        let mut source = IpcFileSource::open(&path).unwrap();
        source.next().unwrap().unwrap();
        assert!(source.split_decoding().is_none(), "not after a batch");
    }

    #[test]
    fn a_split_decoder_checks_unless_the_checks_were_deferred() {
        let corrupt = invalid_utf8_file();
        let mut source =
            IpcFileSource::from_buffer("t.arrow", Buffer::from(corrupt.clone())).unwrap();
        let decoder = source.split_decoding().unwrap();
        let message = decoder.decode(0).unwrap_err().to_string();
        assert!(message.contains("corrupt record batch 0"), "{message}");
        assert!(message.contains("column 'name'"), "{message}");
        assert!(message.contains("UTF-8"), "{message}");

        let mut source = IpcFileSource::from_buffer("t.arrow", Buffer::from(corrupt)).unwrap();
        // SAFETY: the batch's values are read only after the check, which fails.
        let check = unsafe { source.defer_checks() }.unwrap();
        let decoder = source.split_decoding().unwrap();
        let batch = decoder.decode(0).expect("decoded unchecked");
        let message = check.check(0, &batch).unwrap_err().to_string();
        assert!(message.contains("UTF-8"), "{message}");
    }

    /// The batches of `bytes` read with only `columns` decoded (`None` if refused).
    fn read_projected(bytes: &[u8], columns: &[usize]) -> Option<Result<Vec<RecordBatch>>> {
        let mut source =
            IpcFileSource::from_buffer("t.arrow", Buffer::from(bytes.to_vec())).ok()?;
        let schema = source.read_columns(columns)?;
        assert_eq!(source.schema(), schema);
        Some(source.collect())
    }

    #[test]
    fn read_columns_yields_the_projection_of_every_batch() {
        let written = plain_batches(&[5, 0, 100, 1]);
        let bytes = ipc_file_bytes(&plain_schema(), &written);
        // Every proper, non-empty subset of the four columns.
        for mask in 1u32..15 {
            let columns: Vec<usize> = (0..4).filter(|c| mask & (1 << c) != 0).collect();
            let read = read_projected(&bytes, &columns).unwrap().unwrap();
            let expected: Vec<RecordBatch> = written
                .iter()
                .map(|b| b.project(&columns).unwrap())
                .collect();
            assert_eq!(read, expected, "columns {columns:?}");
        }
        let written: Vec<RecordBatch> = (0..3).map(|i| dict_batch(i * 10, 10)).collect();
        let bytes = ipc_file_bytes(&dict_schema(), &written);
        for columns in [[0], [1]] {
            let read = read_projected(&bytes, &columns).unwrap().unwrap();
            let expected: Vec<RecordBatch> = written
                .iter()
                .map(|b| b.project(&columns).unwrap())
                .collect();
            assert_eq!(read, expected, "dictionary file, columns {columns:?}");
        }
    }

    #[test]
    fn read_columns_refuses_what_it_cannot_do() {
        let bytes = ipc_file_bytes(&plain_schema(), &plain_batches(&[5, 7]));
        for columns in [&[][..], &[2, 1], &[1, 1], &[0, 4], &[0, 1, 2, 3]] {
            assert!(read_projected(&bytes, columns).is_none(), "{columns:?}");
        }
        let mut source =
            IpcFileSource::from_buffer("t.arrow", Buffer::from(bytes.clone())).unwrap();
        assert!(source.read_columns(&[1, 2]).is_some());
        // Indices of the narrowed schema or the original: either way, once is all.
        assert!(source.read_columns(&[0]).is_none());
        let mut source = IpcFileSource::from_buffer("t.arrow", Buffer::from(bytes)).unwrap();
        assert_eq!(source.next().map(|b| b.unwrap().num_columns()), Some(4));
        assert!(source.read_columns(&[1]).is_none());
        assert_eq!(source.next().map(|b| b.unwrap().num_columns()), Some(4));
    }

    #[test]
    fn the_bytes_of_a_column_not_read_are_not_checked() {
        // Invalid UTF-8 in 'name': a witness that its bytes are never looked at.
        let corrupt = invalid_utf8_file();
        let read = read_projected(&corrupt, &[0, 2, 3]).unwrap().unwrap();
        assert_eq!(read.iter().map(|b| b.num_rows()).sum::<usize>(), 20);
        let message = read_projected(&corrupt, &[1, 2])
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(message.contains("column 'name'"), "{message}");
        assert!(message.contains("UTF-8"), "{message}");
    }

    /// Resident bytes of the mapping that starts at `start`, from /proc/self/smaps.
    #[cfg(target_os = "linux")]
    fn mapped_rss_bytes(start: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut in_mapping = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((from, _)) = range.split_once('-')
                && let Ok(from) = usize::from_str_radix(from, 16)
            {
                in_mapping = from == start;
            } else if in_mapping && let Some(kb) = line.strip_prefix("Rss:") {
                let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap();
                return kb * 1024;
            }
        }
        panic!("no mapping at {start:#x}");
    }

    /// Reads every byte of every buffer of `batch` (so its pages are resident).
    #[cfg(target_os = "linux")]
    fn touch(batch: &RecordBatch) -> u64 {
        let mut sum = 0u64;
        for column in batch.columns() {
            for buffer in column.to_data().buffers() {
                sum += buffer.as_slice().iter().map(|&b| b as u64).sum::<u64>();
            }
        }
        sum
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_pages_of_dropped_batches_leave_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.arrow");
        let written = plain_batches(&[4000; 40]);
        let bytes = ipc_file_bytes(&plain_schema(), &written);
        let file_bytes = bytes.len() as u64;
        std::fs::write(&path, bytes).unwrap();

        let mut source = IpcFileSource::open(&path).unwrap();
        let start = source.batches.data.as_ptr() as usize;
        assert!(source.batches.mapped.is_some());
        // The checks at open read the headers with `pread`: no page of the map is
        // resident before the first batch.
        assert_eq!(mapped_rss_bytes(start), 0);

        let mut batches: Vec<RecordBatch> = Vec::new();
        for batch in source.by_ref() {
            let batch = batch.unwrap();
            std::hint::black_box(touch(&batch));
            batches.push(batch);
        }
        let resident = mapped_rss_bytes(start);
        assert!(resident > file_bytes * 8 / 10, "{resident} of {file_bytes}");

        // Keep a slice of batch 20 (and through it the whole block); drop the rest.
        let kept = batches[20].slice(100, 50);
        batches.clear();
        let after = mapped_rss_bytes(start);
        assert!(after < file_bytes / 10, "{after} of {file_bytes}");
        // The kept block is still there and still reads right.
        assert_eq!(kept, written[20].slice(100, 50));
        assert!(touch(&kept) > 0);
        drop(kept);
        assert!(mapped_rss_bytes(start) <= after);
        drop(source);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        /// Flipping bytes anywhere never panics: the file is either read or rejected.
        #[test]
        fn corrupted_bytes_never_panic(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            plain in any::<bool>(),
            column in 0usize..2,
        ) {
            let mut bytes = if plain {
                ipc_file_bytes(&plain_schema(), &plain_batches(&[30, 5]))
            } else {
                ipc_file_bytes(&dict_schema(), &[dict_batch(0, 30), dict_batch(30, 5)])
            };
            for (index, value) in flips {
                let at = index.index(bytes.len());
                bytes[at] ^= value | 1;
            }
            if let Ok(batches) = open_bytes(&bytes) {
                for batch in batches {
                    for column in batch.columns() {
                        column.to_data().validate_full().unwrap();
                    }
                }
            }
            // One column read: the batches that come out are as sound.
            if let Some(Ok(batches)) = read_projected(&bytes, &[column]) {
                for batch in batches {
                    batch.column(0).to_data().validate_full().unwrap();
                }
            }
        }
    }
}

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
//! [`ipc_message`](super::ipc_message)); this touches one page per batch and gives the
//! total row count. `next()` then decodes a batch with arrow-ipc's `FileDecoder` on a
//! slice of the mapped file: no copy unless a buffer is misaligned.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::ipc::convert::try_fb_to_schema;
use arrow::ipc::reader::FileDecoder;
use arrow::ipc::{Block, root_as_footer};
use memmap2::Mmap;

use super::format::{ARROW_FILE_MAGIC, Format, IPC_CONTINUATION};
use super::io_error;
use super::ipc_message::{MessageKind, decode_guarded, inspect_message, metadata_flatbuffer};
use super::source::BatchSource;
use crate::error::{Error, Result};

/// Bytes before the first message: the magic padded to 8.
const HEADER_BYTES: usize = 8;
/// Bytes after the footer: its `i32` length and the magic.
const TRAILER_BYTES: usize = 10;

/// Reads an Arrow IPC file batch by batch from a memory map (or any [`Buffer`]).
#[derive(Debug)]
pub struct IpcFileSource {
    path: PathBuf,
    data: Buffer,
    decoder: FileDecoder,
    blocks: Vec<Block>,
    next_block: usize,
    schema: SchemaRef,
    total_rows: u64,
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
        let data = unsafe { Buffer::from_custom_allocation(ptr, len, mmap) };
        Self::from_buffer(path, data)
    }

    /// Reads an Arrow IPC file held in `data` (the whole file). `path` names it in errors.
    ///
    /// # Errors
    /// As for [`IpcFileSource::open`].
    pub fn from_buffer(path: impl AsRef<Path>, data: Buffer) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let bytes = data.as_slice();
        let len = bytes.len();
        if !bytes.starts_with(ARROW_FILE_MAGIC) {
            if bytes.is_empty() {
                return Err(Error::input(&path, "file is empty (not an Arrow IPC file)"));
            }
            let hint = if Format::sniff(bytes) == Some(Format::ArrowStream)
                || bytes.starts_with(&IPC_CONTINUATION[..bytes.len().min(4)])
            {
                ": it is an Arrow IPC stream (read it with format 'arrows')"
            } else {
                ""
            };
            return Err(Error::input(
                &path,
                format!("not an Arrow IPC file (bad magic){hint}"),
            ));
        }
        if len < HEADER_BYTES + TRAILER_BYTES || !bytes.ends_with(ARROW_FILE_MAGIC) {
            return Err(Error::input(
                &path,
                "file is truncated (no footer at the end: was the writer interrupted?)",
            ));
        }
        let trailer = len - TRAILER_BYTES;
        let mut footer_len_bytes = [0u8; 4];
        footer_len_bytes.copy_from_slice(&bytes[trailer..trailer + 4]);
        let footer_len = i32::from_le_bytes(footer_len_bytes);
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
        let footer = root_as_footer(&bytes[footer_start..trailer])
            .map_err(|e| Error::input(&path, format!("corrupt footer: {e}")))?;
        let fb_schema = footer
            .schema()
            .ok_or_else(|| Error::input(&path, "corrupt footer: no schema"))?;
        let schema = Arc::new(
            try_fb_to_schema(fb_schema)
                .map_err(|e| Error::input(&path, format!("corrupt schema in footer: {e}")))?,
        );
        let mut decoder = FileDecoder::new(schema.clone(), footer.version());

        for (i, block) in footer.dictionaries().iter().flatten().enumerate() {
            let what = format!("dictionary batch {i}");
            let info = check_block(&path, bytes, footer_start, block, &what)?;
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

        let record_batches = footer.recordBatches();
        let mut blocks = Vec::with_capacity(record_batches.map_or(0, |b| b.len()));
        let mut total_rows = 0u64;
        for (i, block) in record_batches.iter().flatten().enumerate() {
            let what = format!("record batch {i}");
            let info = check_block(&path, bytes, footer_start, block, &what)?;
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
        }

        Ok(IpcFileSource {
            path,
            data,
            decoder,
            blocks,
            next_block: 0,
            schema,
            total_rows,
        })
    }

    /// Number of record batches in the file.
    pub fn num_batches(&self) -> usize {
        self.blocks.len()
    }

    /// The file this source reads.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Checks that `block` lies inside the file before the footer and that its message is
/// well formed with all buffers inside its body.
fn check_block(
    path: &Path,
    bytes: &[u8],
    footer_start: usize,
    block: &Block,
    what: &str,
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
        Some(end) if end > bytes.len() => {
            return Err(Error::input(
                path,
                format!(
                    "file is truncated: {what} ends at byte {end}, past the end of the file ({} bytes)",
                    bytes.len()
                ),
            ));
        }
        _ => {
            return Err(bad(
                "the footer points past the data, into the footer".to_string()
            ));
        }
    }
    let region = &bytes[offset..offset + meta_len];
    let flatbuffer = metadata_flatbuffer(region).map_err(bad)?;
    inspect_message(flatbuffer, Some(body_len)).map_err(bad)
}

/// The bytes of a block already checked by [`check_block`].
fn slice_block(data: &Buffer, block: &Block) -> Buffer {
    // Both casts were range-checked by `check_block`.
    let offset = block.offset() as usize;
    let len = block.metaDataLength() as usize + block.bodyLength() as usize;
    data.slice_with_length(offset, len)
}

impl Iterator for IpcFileSource {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.next_block;
        let block = *self.blocks.get(index)?;
        self.next_block += 1;
        let block_data = slice_block(&self.data, &block);
        let decoded = decode_guarded(|| self.decoder.read_record_batch(&block, &block_data));
        match decoded {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => Some(Err(Error::input(
                &self.path,
                format!("corrupt record batch {index}: the message holds no record batch"),
            ))),
            Err(e) => {
                // A corrupt batch ends the source: do not skip to the next one.
                self.next_block = self.blocks.len();
                Some(Err(Error::input(
                    &self.path,
                    format!("corrupt record batch {index}: {e}"),
                )))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.blocks.len() - self.next_block;
        (left, Some(left))
    }
}

impl BatchSource for IpcFileSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn total_rows(&self) -> Option<u64> {
        Some(self.total_rows)
    }
}

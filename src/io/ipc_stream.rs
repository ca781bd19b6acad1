//! Arrow IPC stream reader: reads one message at a time from a file or stdin, so a
//! pipeline (`producer | velo … -i t=-`) never holds more than one batch.
//!
//! ```text
//!   Read ─▶ frame: [0xFFFFFFFF][len][metadata][body] ─▶ inspect_message ─▶ read_record_batch ─▶ RecordBatch
//!                   (len 0 = end of stream)            (buffers inside body?)  (zero-copy on the body)
//! ```
//! We frame messages ourselves instead of using arrow's `StreamReader` so that every
//! message is checked (see [`ipc_message`](super::ipc_message)) before arrow-ipc decodes
//! it, and so that a corrupt length cannot make us allocate gigabytes up front: bodies
//! are read in steps of at most [`READ_STEP_BYTES`].

use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::buffer::{Buffer, MutableBuffer};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::convert::try_fb_to_schema;
use arrow::ipc::reader::{read_dictionary, read_record_batch};
use arrow::ipc::{self, MessageHeader};

use super::format::{ARROW_FILE_MAGIC, IPC_CONTINUATION};
use super::io_error;
use super::ipc_message::{MessageKind, decode_guarded, inspect_message};
use super::ipc_validate::SizeChecker;
use super::source::BatchSource;
use crate::error::{Error, Result};

/// Largest step in which a message is read: a corrupt length can cost at most this much
/// memory before the stream runs out. 64 MiB is far above a typical batch (8192 rows of a
/// few columns is well under 1 MiB) and small enough not to matter.
pub const READ_STEP_BYTES: usize = 64 << 20;

/// Largest metadata length accepted from a stream without a continuation marker (the
/// pre-0.15 format): real metadata is a few KiB; anything bigger is not a stream.
const LEGACY_MAX_METADATA_BYTES: u32 = 16 << 20;

/// Reads an Arrow IPC stream incrementally.
pub struct IpcStreamSource {
    path: PathBuf,
    reader: BufReader<Box<dyn Read + Send>>,
    schema: SchemaRef,
    dictionaries: HashMap<i64, ArrayRef>,
    /// Checks buffer sizes before arrow-ipc decodes (see `ipc_validate`).
    sizes: Option<SizeChecker>,
    /// Messages read so far (for error messages).
    messages: u64,
    batches: u64,
    done: bool,
}

impl std::fmt::Debug for IpcStreamSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcStreamSource")
            .field("path", &self.path)
            .field("schema", &self.schema)
            .field("batches", &self.batches)
            .finish_non_exhaustive()
    }
}

/// One framed message read from the stream.
struct Frame {
    /// The flatbuffer `Message` (verified by `inspect_message`).
    metadata: MutableBuffer,
    kind: MessageKind,
    /// The body, 64-byte aligned: column buffers are sliced from it without a copy.
    body: Buffer,
}

impl IpcStreamSource {
    /// Opens the IPC stream at `path` (`-` reads stdin).
    ///
    /// # Errors
    /// [`Error::Input`] if the file is missing, empty, not an IPC stream (an IPC *file* is
    /// named as such), or its schema message is truncated or corrupt.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let reader: Box<dyn Read + Send> = if path == Path::new("-") {
            Box::new(io::stdin())
        } else {
            let file = std::fs::File::open(path).map_err(|e| io_error(path, "", e))?;
            if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                return Err(Error::input(
                    path,
                    "is a directory, not an Arrow IPC stream",
                ));
            }
            Box::new(file)
        };
        Self::from_reader(path, reader)
    }

    /// Reads an IPC stream from `reader`; `path` names it in errors.
    ///
    /// # Errors
    /// As for [`IpcStreamSource::open`].
    pub fn from_reader(path: impl AsRef<Path>, reader: Box<dyn Read + Send>) -> Result<Self> {
        let mut source = IpcStreamSource {
            path: path.as_ref().to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, reader),
            schema: SchemaRef::new(Schema::empty()),
            dictionaries: HashMap::new(),
            sizes: None,
            messages: 0,
            batches: 0,
            done: false,
        };
        let frame = match source.read_frame()? {
            Some(frame) => frame,
            None if source.messages == 0 => {
                return Err(source.error("stream is empty (no schema message)"));
            }
            None => return Err(source.error("stream ends before its schema message")),
        };
        if frame.kind != MessageKind::Schema {
            return Err(source.error(format!(
                "not an Arrow IPC stream: the first message is a {:?}, not a schema",
                frame.kind
            )));
        }
        source.decode(frame)?;
        Ok(source)
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::input(&self.path, message)
    }

    /// Reads the next message, or `None` at the end of the stream (an end-of-stream
    /// marker, or a clean end of input between messages).
    fn read_frame(&mut self) -> Result<Option<Frame>> {
        let index = self.messages;
        let mut word = [0u8; 4];
        let got = read_up_to(&mut self.reader, &mut word).map_err(|e| self.io(e))?;
        if got == 0 {
            return Ok(None);
        }
        if got < 4 {
            return Err(self.error(format!(
                "stream is truncated (inside message {index} header)"
            )));
        }
        let len = if word == IPC_CONTINUATION {
            let got = read_up_to(&mut self.reader, &mut word).map_err(|e| self.io(e))?;
            if got < 4 {
                return Err(self.error(format!(
                    "stream is truncated (inside message {index} header)"
                )));
            }
            u32::from_le_bytes(word)
        } else if index == 0 && word.starts_with(&ARROW_FILE_MAGIC[..4]) {
            return Err(self.error(
                "not an Arrow IPC stream (bad magic): it is an Arrow IPC file (read it with format 'arrow')",
            ));
        } else {
            let len = u32::from_le_bytes(word);
            if len > LEGACY_MAX_METADATA_BYTES {
                return Err(self.error(if index == 0 {
                    "not an Arrow IPC stream (bad magic)".to_string()
                } else {
                    format!(
                        "corrupt stream: message {index} does not start with a continuation marker"
                    )
                }));
            }
            len
        };
        self.messages += 1;
        if len == 0 {
            return Ok(None);
        }
        let len = len as usize;
        let metadata = read_exact_stepped(&mut self.reader, len).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => self.error(format!(
                "stream is truncated (inside message {index} metadata)"
            )),
            _ => self.io(e),
        })?;
        let info = inspect_message(metadata.as_slice(), None)
            .map_err(|e| self.error(format!("corrupt message {index}: {e}")))?;
        let body =
            read_exact_stepped(&mut self.reader, info.body_bytes).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => self.error(format!(
                    "stream is truncated (message {index} body of {} bytes ends early)",
                    info.body_bytes
                )),
                _ => self.io(e),
            })?;
        Ok(Some(Frame {
            metadata,
            kind: info.kind,
            body: body.into(),
        }))
    }

    fn io(&self, err: io::Error) -> Error {
        io_error(&self.path, "", err)
    }

    /// Decodes a checked message: sets the schema, records a dictionary, or returns a
    /// record batch.
    fn decode(&mut self, frame: Frame) -> Result<Option<RecordBatch>> {
        let what = match frame.kind {
            MessageKind::RecordBatch { .. } => format!("record batch {}", self.batches),
            MessageKind::DictionaryBatch => "dictionary batch".to_string(),
            MessageKind::Schema => "schema message".to_string(),
            MessageKind::Other => "message".to_string(),
        };
        let corrupt = |e: String| Error::input(&self.path, format!("corrupt {what}: {e}"));
        // `inspect_message` verified this flatbuffer already; parsing again is cheap.
        let message =
            ipc::root_as_message(frame.metadata.as_slice()).map_err(|e| corrupt(e.to_string()))?;
        let version = message.version();
        if let Some(sizes) = &self.sizes {
            sizes.check(&message).map_err(corrupt)?;
        }
        match message.header_type() {
            MessageHeader::Schema => {
                let fb_schema = message
                    .header_as_schema()
                    .ok_or_else(|| corrupt("no schema".to_string()))?;
                let schema = try_fb_to_schema(fb_schema).map_err(|e| corrupt(e.to_string()))?;
                self.schema = Arc::new(schema);
                self.sizes = SizeChecker::new(&self.schema, &fb_schema);
                Ok(None)
            }
            MessageHeader::RecordBatch => {
                let header = message
                    .header_as_record_batch()
                    .ok_or_else(|| corrupt("no record batch header".to_string()))?;
                let schema = self.schema.clone();
                let dictionaries = &self.dictionaries;
                let body = &frame.body;
                decode_guarded(|| {
                    read_record_batch(body, header, schema, dictionaries, None, &version)
                })
                .map(Some)
                .map_err(corrupt)
            }
            MessageHeader::DictionaryBatch => {
                let header = message
                    .header_as_dictionary_batch()
                    .ok_or_else(|| corrupt("no dictionary header".to_string()))?;
                let schema = self.schema.clone();
                let dictionaries = &mut self.dictionaries;
                let body = &frame.body;
                decode_guarded(|| read_dictionary(body, header, &schema, dictionaries, &version))
                    .map(|()| None)
                    .map_err(corrupt)
            }
            _ => Err(corrupt("unsupported message type".to_string())),
        }
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads exactly `len` bytes into a 64-byte-aligned buffer, growing it in steps of at
/// most [`READ_STEP_BYTES`] so a corrupt `len` fails at the end of input rather than at
/// allocation.
fn read_exact_stepped(reader: &mut impl Read, len: usize) -> io::Result<MutableBuffer> {
    let mut buf = MutableBuffer::with_capacity(len.min(READ_STEP_BYTES));
    let mut filled = 0;
    while filled < len {
        let step_end = len.min(filled.saturating_add(READ_STEP_BYTES));
        buf.resize(step_end, 0);
        reader.read_exact(&mut buf.as_slice_mut()[filled..step_end])?;
        filled = step_end;
    }
    Ok(buf)
}

impl Iterator for IpcStreamSource {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let step = match self.read_frame() {
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Ok(Some(frame)) => match frame.kind {
                    MessageKind::RecordBatch { .. } | MessageKind::DictionaryBatch => {
                        self.decode(frame)
                    }
                    MessageKind::Schema => Err(self.error(format!(
                        "corrupt stream: a second schema message after {} batches",
                        self.batches
                    ))),
                    MessageKind::Other => Err(self.error(format!(
                        "unsupported message in the stream after {} batches (tensor?)",
                        self.batches
                    ))),
                },
                Err(e) => Err(e),
            };
            match step {
                Ok(Some(batch)) => {
                    self.batches += 1;
                    return Some(Ok(batch));
                }
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

impl BatchSource for IpcStreamSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn total_rows(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::Cursor;

    use arrow::ipc::writer::StreamWriter;
    use proptest::prelude::*;

    use crate::io::test_data::*;

    fn read_bytes(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
        let source =
            IpcStreamSource::from_reader("t.arrows", Box::new(Cursor::new(bytes.to_vec())))?;
        source.collect()
    }

    #[test]
    fn reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.arrows");
        let batches = plain_batches(&[5, 0, 100, 1]);
        std::fs::write(&path, ipc_stream_bytes(&plain_schema(), &batches)).unwrap();
        let source = IpcStreamSource::open(&path).unwrap();
        assert_eq!(source.schema(), plain_schema());
        assert_eq!(source.total_rows(), None);
        assert_eq!(source.collect::<Result<Vec<_>>>().unwrap(), batches);
    }

    #[test]
    fn reads_dictionaries_including_replacements() {
        // A stream (unlike a file) may replace a dictionary between batches.
        use arrow::array::{DictionaryArray, Int32Array, Int64Array, StringArray};
        let replaced = DictionaryArray::<arrow::datatypes::Int32Type>::try_new(
            Int32Array::from(vec![Some(1), None, Some(0)]),
            Arc::new(StringArray::from(vec!["cyan", "magenta"])),
        )
        .unwrap();
        let third = RecordBatch::try_new(
            dict_schema(),
            vec![
                Arc::new(Int64Array::from(vec![7, 8, 9])),
                Arc::new(replaced),
            ],
        )
        .unwrap();
        let batches = vec![dict_batch(0, 10), dict_batch(10, 7), third];
        let bytes = ipc_stream_bytes(&dict_schema(), &batches);
        assert_eq!(read_bytes(&bytes).unwrap(), batches);
    }

    #[test]
    fn a_schema_only_stream_is_empty_not_an_error() {
        let bytes = ipc_stream_bytes(&plain_schema(), &[]);
        let source = IpcStreamSource::from_reader("t", Box::new(Cursor::new(bytes))).unwrap();
        assert_eq!(source.schema(), plain_schema());
        assert_eq!(source.count(), 0);
    }

    #[test]
    fn bad_inputs_are_named() {
        let cases: [(&[u8], &str); 4] = [
            (b"", "stream is empty"),
            (b"ARROW1\0\0rest of a file", "it is an Arrow IPC file"),
            (b"ts,name\n1,x\n", "not an Arrow IPC stream (bad magic)"),
            (
                &[0xFF, 0xFF, 0xFF, 0xFF, 0x10, 0, 0, 0, 1, 2, 3],
                "stream is truncated",
            ),
        ];
        for (bytes, expected) in cases {
            let message = read_bytes(bytes).unwrap_err().to_string();
            assert!(message.starts_with("t.arrows: "), "{message}");
            assert!(message.contains(expected), "{message} (wanted {expected})");
        }
        let message = IpcStreamSource::open("/no/such/file.arrows")
            .unwrap_err()
            .to_string();
        assert!(message.contains("no such file"), "{message}");
    }

    #[test]
    fn truncation_is_an_error_except_between_messages() {
        let schema = plain_schema();
        let batches = plain_batches(&[3, 4, 5]);
        let mut writer = StreamWriter::try_new(Vec::new(), &schema).unwrap();
        let mut boundaries = vec![writer.get_ref().len()];
        for batch in &batches {
            writer.write(batch).unwrap();
            boundaries.push(writer.get_ref().len());
        }
        let bytes = writer.into_inner().unwrap();
        for len in 0..bytes.len() {
            match read_bytes(&bytes[..len]) {
                // A stream cut exactly between messages reads as a shorter stream, like
                // one whose writer stopped without the end-of-stream marker.
                Ok(read) => {
                    let at = boundaries.iter().position(|&b| b == len);
                    assert!(at.is_some(), "cut at {len} (not a boundary) was read");
                    assert_eq!(read, batches[..at.unwrap_or(0)].to_vec());
                }
                Err(err) => {
                    let message = err.to_string();
                    assert!(
                        message.contains("truncated") || message.contains("empty"),
                        "at {len}: {message}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_corrupt_length_does_not_allocate_it() {
        // Metadata claiming ~4 GiB, then EOF: an error, not a 4 GiB allocation.
        let bytes = [0xFF, 0xFF, 0xFF, 0xFF, 0xF0, 0xFF, 0xFF, 0xFF, 0, 0];
        let message = read_bytes(&bytes).unwrap_err().to_string();
        assert!(message.contains("truncated"), "{message}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        /// Flipping bytes anywhere never panics: the stream is either read or rejected.
        #[test]
        fn corrupted_bytes_never_panic(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            plain in any::<bool>(),
        ) {
            let mut bytes = if plain {
                ipc_stream_bytes(&plain_schema(), &plain_batches(&[30, 5]))
            } else {
                ipc_stream_bytes(&dict_schema(), &[dict_batch(0, 30), dict_batch(30, 5)])
            };
            for (index, value) in flips {
                let at = index.index(bytes.len());
                bytes[at] ^= value | 1;
            }
            if let Ok(batches) = read_bytes(&bytes) {
                for batch in batches {
                    for column in batch.columns() {
                        column.to_data().validate_full().unwrap();
                    }
                }
            }
        }
    }
}

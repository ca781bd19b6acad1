//! Checks one Arrow IPC message's metadata against its body before arrow-ipc decodes it.
//!
//! arrow-ipc trusts the buffer offsets in a message: it cuts each column buffer out of the
//! body with `Buffer::slice_with_length`, which panics when a corrupt message points past
//! the end of the body. Every message the readers hand to arrow-ipc passes
//! [`inspect_message`] first, which verifies the flatbuffer and checks that every buffer
//! and field node lies inside the body. What cannot be checked without the schema is
//! caught by [`decode_guarded`].
//!
//! ```text
//!   [0xFFFFFFFF][len: u32][flatbuffer Message, padded to len][body: bodyLength bytes]
//!                          └ header: Schema | RecordBatch{length, nodes, buffers} | DictionaryBatch
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};

use arrow::error::ArrowError;
use arrow::ipc::{self, MessageHeader};

/// What an IPC message holds, as far as the readers care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// The stream's schema.
    Schema,
    /// A record batch of `rows` rows.
    RecordBatch {
        /// Rows in the batch.
        rows: u64,
    },
    /// A dictionary batch (values for a dictionary-encoded column).
    DictionaryBatch,
    /// Anything else (tensors, or a `NONE` header); readers reject or skip these.
    Other,
}

/// The checked facts about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    /// What the message holds.
    pub kind: MessageKind,
    /// Length of the body that follows the metadata, in bytes.
    pub body_bytes: usize,
}

/// Verifies the flatbuffer `metadata` of one message (without its 8-byte length prefix)
/// and checks every buffer and node it declares against its own body length and, if
/// given, against `body_bytes` (the body actually available, e.g. from a file footer).
///
/// # Errors
/// A message describing what is wrong, for the caller to wrap with the path and the
/// message's position.
pub fn inspect_message(metadata: &[u8], body_bytes: Option<usize>) -> Result<MessageInfo, String> {
    inspect_parsed(&parse_message(metadata)?, body_bytes)
}

/// Verifies the flatbuffer `metadata` of one message (without its length prefix).
///
/// # Errors
/// A message saying the metadata is not a valid message.
pub fn parse_message(metadata: &[u8]) -> Result<ipc::Message<'_>, String> {
    ipc::root_as_message(metadata).map_err(|e| format!("invalid message metadata ({e})"))
}

/// [`inspect_message`] on a message already verified by [`parse_message`].
///
/// # Errors
/// As for [`inspect_message`].
pub fn inspect_parsed(
    message: &ipc::Message<'_>,
    body_bytes: Option<usize>,
) -> Result<MessageInfo, String> {
    let declared_body = usize::try_from(message.bodyLength())
        .map_err(|_| format!("negative body length {}", message.bodyLength()))?;
    let body = body_bytes.unwrap_or(declared_body);
    let kind = match message.header_type() {
        MessageHeader::Schema => {
            if message.header_as_schema().is_none() {
                return Err("schema message without a schema".to_string());
            }
            MessageKind::Schema
        }
        MessageHeader::RecordBatch => {
            let batch = message
                .header_as_record_batch()
                .ok_or("record batch message without a record batch header")?;
            let rows = check_record_batch(&batch, body)?;
            MessageKind::RecordBatch { rows }
        }
        MessageHeader::DictionaryBatch => {
            let dictionary = message
                .header_as_dictionary_batch()
                .ok_or("dictionary message without a dictionary header")?;
            let data = dictionary.data().ok_or("dictionary batch without data")?;
            check_record_batch(&data, body)?;
            MessageKind::DictionaryBatch
        }
        _ => MessageKind::Other,
    };
    Ok(MessageInfo {
        kind,
        body_bytes: declared_body,
    })
}

/// Checks a record batch header: non-negative length, every node's counts within range,
/// every buffer inside the body. Returns the row count.
fn check_record_batch(batch: &ipc::RecordBatch<'_>, body_bytes: usize) -> Result<u64, String> {
    let rows = u64::try_from(batch.length())
        .map_err(|_| format!("negative row count {}", batch.length()))?;
    if let Some(nodes) = batch.nodes() {
        for (i, node) in nodes.iter().enumerate() {
            if node.length() < 0 || node.null_count() < 0 || node.null_count() > node.length() {
                return Err(format!(
                    "field node {i} has length {} and null count {}",
                    node.length(),
                    node.null_count()
                ));
            }
        }
    }
    if let Some(buffers) = batch.buffers() {
        for (i, buffer) in buffers.iter().enumerate() {
            let end = u64::try_from(buffer.offset())
                .ok()
                .zip(u64::try_from(buffer.length()).ok())
                .and_then(|(offset, length)| offset.checked_add(length));
            match end {
                Some(end) if end <= body_bytes as u64 => {}
                _ => {
                    return Err(format!(
                        "buffer {i} (offset {}, length {}) lies outside the {body_bytes}-byte body",
                        buffer.offset(),
                        buffer.length()
                    ));
                }
            }
        }
    }
    Ok(rows)
}

/// Runs an arrow-ipc decode step, turning a panic inside arrow-ipc into an error.
///
/// [`inspect_message`] removes the panics we know of (buffers past the body); this is the
/// backstop for the rest (e.g. a union column whose type-id buffer is shorter than its
/// length), so that no input file can abort the process.
pub fn decode_guarded<T>(decode: impl FnOnce() -> Result<T, ArrowError>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(decode)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "decoder panicked".to_string());
            Err(format!("malformed data ({detail})"))
        }
    }
}

/// Splits an encapsulated message's metadata region (`[0xFFFFFFFF][len][flatbuffer]`, or
/// the pre-0.15 `[len][flatbuffer]`) into the flatbuffer bytes.
///
/// # Errors
/// If the region is too short for its prefix or its declared length.
pub fn metadata_flatbuffer(region: &[u8]) -> Result<&[u8], String> {
    let (len_at, start): (usize, usize) = match region.get(..4) {
        Some(prefix) if prefix == [0xFF; 4] => (4, 8),
        Some(_) => (0, 4),
        None => return Err(format!("message metadata of {} bytes", region.len())),
    };
    let len_bytes: [u8; 4] = region
        .get(len_at..len_at + 4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("message metadata of {} bytes", region.len()))?;
    let len = i32::from_le_bytes(len_bytes);
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| start.checked_add(len))
        .filter(|&end| end <= region.len())
        .ok_or_else(|| {
            format!(
                "message metadata length {len} exceeds its {}-byte block",
                region.len()
            )
        })?;
    Ok(&region[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::ipc::writer::StreamWriter;

    /// One stream holding a schema message and one record batch message; returns the
    /// bytes and the offset where the record batch message starts.
    fn stream_bytes() -> (Vec<u8>, usize) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("x"), None, Some("zz")])),
            ],
        )
        .unwrap();
        let mut writer = StreamWriter::try_new(Vec::new(), &schema).unwrap();
        let schema_len = writer.get_ref().len();
        writer.write(&batch).unwrap();
        let bytes = writer.into_inner().unwrap();
        (bytes, schema_len)
    }

    fn region_at(bytes: &[u8], at: usize) -> (&[u8], usize) {
        let len = i32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        (&bytes[at..at + 8 + len], at + 8 + len)
    }

    #[test]
    fn reads_schema_and_record_batch_messages() {
        let (bytes, batch_at) = stream_bytes();
        let (schema_region, _) = region_at(&bytes, 0);
        let info = inspect_message(metadata_flatbuffer(schema_region).unwrap(), None).unwrap();
        assert_eq!(info.kind, MessageKind::Schema);
        assert_eq!(info.body_bytes, 0);

        let (batch_region, body_at) = region_at(&bytes, batch_at);
        let info = inspect_message(metadata_flatbuffer(batch_region).unwrap(), None).unwrap();
        assert_eq!(info.kind, MessageKind::RecordBatch { rows: 3 });
        assert!(info.body_bytes > 0 && body_at + info.body_bytes <= bytes.len());
    }

    #[test]
    fn rejects_buffers_past_the_available_body() {
        let (bytes, batch_at) = stream_bytes();
        let (region, _) = region_at(&bytes, batch_at);
        let metadata = metadata_flatbuffer(region).unwrap();
        let info = inspect_message(metadata, None).unwrap();
        let err = inspect_message(metadata, Some(info.body_bytes / 2)).unwrap_err();
        assert!(err.contains("outside"), "{err}");
    }

    #[test]
    fn rejects_garbage_metadata() {
        let err = inspect_message(b"not a flatbuffer at all", None).unwrap_err();
        assert!(err.contains("invalid message metadata"), "{err}");
        assert!(metadata_flatbuffer(&[0xFF, 0xFF]).is_err());
        let err = metadata_flatbuffer(&[0xFF, 0xFF, 0xFF, 0xFF, 100, 0, 0, 0, 1, 2]).unwrap_err();
        assert!(err.contains("exceeds"), "{err}");
        assert!(metadata_flatbuffer(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }

    #[test]
    fn guarded_decode_turns_panics_into_errors() {
        let result: Result<(), String> = decode_guarded(|| panic!("boom"));
        let err = result.unwrap_err();
        assert!(err.contains("boom"), "{err}");
        let ok = decode_guarded(|| Ok::<_, ArrowError>(7)).unwrap();
        assert_eq!(ok, 7);
    }
}

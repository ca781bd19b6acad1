//! Validation of record batches that arrow-ipc decoded without its own checks, so that
//! reading a memory-mapped IPC file costs close to nothing.
//!
//! arrow-ipc validates every decoded array with `ArrayData::validate_full`, whose check
//! of string columns (each offset in range, monotonic, on a UTF-8 character boundary)
//! walks the offsets one at a time through an iterator chain: on 10 M trade rows it took
//! ~60 ms of the ~70 ms a read took. For schemas made of the flat types below,
//! [`IpcFileSource`](super::IpcFileSource) decodes with validation off and runs
//! [`validate_batch`] instead, which does the same checks for strings as straight loops
//! over slices (a branch-free order check, then `is_ascii`, and only for non-ASCII data
//! `from_utf8` and a boundary pass: ~20 ms for the same rows) and hands every other
//! column to arrow's own `validate_full`. Any other schema (dictionary,
//! nested, view, union, run-end types) keeps arrow's validation.
//!
//! ```text
//!   open:  each batch message ─▶ check_buffer_sizes (buffers long enough for the rows?)
//!   next:  decode (unchecked, zero-copy) ─▶ validate_batch ─▶ yielded
//!                                               └─ error ─▶ "corrupt record batch N: …"
//! ```
//! No caller ever sees an unchecked batch, and unchecked decoding never meets a buffer
//! too short for its column (arrow's array constructors would panic).

use std::collections::HashMap;

use arrow::array::{Array, AsArray, OffsetSizeTrait, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc;

/// True if every column of `schema` has a type [`validate_batch`] checks completely.
pub fn validates_schema(schema: &Schema) -> bool {
    schema.fields().iter().all(|f| is_flat(f.data_type()))
}

fn is_flat(data_type: &DataType) -> bool {
    match data_type {
        DataType::Boolean
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::FixedSizeBinary(_) => true,
        other => other.is_primitive(),
    }
}

/// True if [`check_buffer_sizes`] understands every column of `schema`: the flat types,
/// and dictionaries of them.
pub fn sizes_checkable(schema: &Schema) -> bool {
    schema.fields().iter().all(|f| match f.data_type() {
        DataType::Dictionary(key, value) => key.is_dictionary_key_type() && is_flat(value),
        other => is_flat(other),
    })
}

/// Checks, before decoding, that every buffer of a record batch message (or of a
/// dictionary batch's data, against a one-column schema of the value type) is large
/// enough for its column's declared length, and that offset and key buffers hold whole
/// values. arrow-ipc panics on such buffers: its unchecked decoding in the array
/// constructors, and even its checked decoding when a buffer is not a whole number of
/// values (`Buffer::typed_data`). `schema` must pass [`sizes_checkable`].
///
/// # Errors
/// A description of the first bad buffer, or of a message that does not match the
/// schema's layout.
pub fn check_buffer_sizes(schema: &Schema, header: &ipc::RecordBatch<'_>) -> Result<(), String> {
    if header.compression().is_some() {
        return Err("compressed record batches (LZ4/ZSTD) are not supported".to_string());
    }
    let mut nodes = header.nodes().into_iter().flatten();
    let mut buffers = header.buffers().into_iter().flatten().map(|b| b.length());
    for field in schema.fields() {
        let name = field.name();
        let node = nodes
            .next()
            .ok_or_else(|| format!("no field node for column '{name}'"))?;
        // Both non-negative: checked by `inspect_message`.
        let rows = node.length() as u64;
        let mut next_buffer = |what: &str| {
            buffers
                .next()
                .map(|len| len.max(0) as u64)
                .ok_or_else(|| format!("no {what} buffer for column '{name}'"))
        };
        let validity = next_buffer("validity")?;
        if node.null_count() > 0 && validity < rows.div_ceil(8) {
            return Err(format!(
                "column '{name}': validity buffer of {validity} bytes for {rows} rows"
            ));
        }
        // (buffer, bytes needed, bytes present, whole values of this width required)
        let (what, needed, got, whole) = match field.data_type() {
            DataType::Boolean => ("values", rows.div_ceil(8), next_buffer("values")?, 1),
            DataType::FixedSizeBinary(width) => {
                let width = u64::try_from(*width).unwrap_or(0);
                (
                    "values",
                    rows.saturating_mul(width),
                    next_buffer("values")?,
                    1,
                )
            }
            DataType::Utf8 | DataType::Binary | DataType::LargeUtf8 | DataType::LargeBinary => {
                let width = match field.data_type() {
                    DataType::Utf8 | DataType::Binary => 4,
                    _ => 8,
                };
                let offsets = next_buffer("offsets")?;
                next_buffer("values")?;
                // A column of no rows may have no offsets at all.
                let needed = if rows == 0 {
                    0
                } else {
                    (rows + 1).saturating_mul(width)
                };
                ("offsets", needed, offsets, width)
            }
            DataType::Dictionary(key, _) => {
                let width = key.primitive_width().unwrap_or(1) as u64;
                (
                    "keys",
                    rows.saturating_mul(width),
                    next_buffer("keys")?,
                    width,
                )
            }
            other => {
                let width = other
                    .primitive_width()
                    .ok_or_else(|| format!("column '{name}': type {other} is not checked here"))?
                    as u64;
                (
                    "values",
                    rows.saturating_mul(width),
                    next_buffer("values")?,
                    1,
                )
            }
        };
        if got < needed || got % whole != 0 {
            return Err(format!(
                "column '{name}': {what} buffer of {got} bytes for {rows} rows (needs {needed})"
            ));
        }
    }
    Ok(())
}

/// Runs [`check_buffer_sizes`] on the record batch and dictionary messages of one file
/// or stream.
#[derive(Debug, Clone)]
pub struct SizeChecker {
    schema: SchemaRef,
    /// Dictionary id → a one-column schema of the dictionary's value type.
    dictionaries: HashMap<i64, Schema>,
}

impl SizeChecker {
    /// A checker for `schema` (converted from `fb_schema`), or `None` if
    /// [`sizes_checkable`] does not cover it.
    pub fn new(schema: &SchemaRef, fb_schema: &ipc::Schema<'_>) -> Option<Self> {
        if !sizes_checkable(schema) {
            return None;
        }
        let mut dictionaries = HashMap::new();
        let fb_fields = fb_schema.fields()?;
        if fb_fields.len() != schema.fields().len() {
            return None;
        }
        for (fb_field, field) in fb_fields.iter().zip(schema.fields()) {
            if let (Some(encoding), DataType::Dictionary(_, value)) =
                (fb_field.dictionary(), field.data_type())
            {
                let values = Field::new("dictionary values", value.as_ref().clone(), true);
                dictionaries.insert(encoding.id(), Schema::new(vec![values]));
            }
        }
        Some(SizeChecker {
            schema: schema.clone(),
            dictionaries,
        })
    }

    /// Checks one message (other kinds of message pass).
    ///
    /// # Errors
    /// As for [`check_buffer_sizes`], or for a dictionary of an unknown id.
    pub fn check(&self, message: &ipc::Message<'_>) -> Result<(), String> {
        if let Some(batch) = message.header_as_record_batch() {
            return check_buffer_sizes(&self.schema, &batch);
        }
        if let Some(dictionary) = message.header_as_dictionary_batch() {
            let schema = self
                .dictionaries
                .get(&dictionary.id())
                .ok_or_else(|| format!("no dictionary column has id {}", dictionary.id()))?;
            let data = dictionary.data().ok_or("dictionary batch without data")?;
            return check_buffer_sizes(schema, &data);
        }
        Ok(())
    }
}

/// Checks a batch decoded without validation against `schema` and `rows`: every column
/// has the declared type and length, no NULLs where the field is non-nullable, buffers
/// large enough, null counts right, and for strings and binaries every offset in range
/// and in order, and (for strings) valid UTF-8 cut only at character boundaries.
///
/// # Errors
/// A description of the first problem found.
pub fn validate_batch(batch: &RecordBatch, schema: &Schema, rows: usize) -> Result<(), String> {
    if batch.num_columns() != schema.fields().len() {
        return Err(format!(
            "{} columns for a schema of {}",
            batch.num_columns(),
            schema.fields().len()
        ));
    }
    for (column, field) in batch.columns().iter().zip(schema.fields()) {
        let name = field.name();
        if column.data_type() != field.data_type() {
            return Err(format!(
                "column '{name}' is {}, the schema says {}",
                column.data_type(),
                field.data_type()
            ));
        }
        if column.len() != rows {
            return Err(format!(
                "column '{name}' has {} rows, the batch {rows}",
                column.len()
            ));
        }
        let data = column.to_data();
        let checked = match column.data_type() {
            DataType::Utf8 => {
                let strings = column.as_string::<i32>();
                check_layout(&data)
                    .and_then(|()| check_bytes(strings.value_offsets(), strings.value_data(), true))
            }
            DataType::LargeUtf8 => {
                let strings = column.as_string::<i64>();
                check_layout(&data)
                    .and_then(|()| check_bytes(strings.value_offsets(), strings.value_data(), true))
            }
            DataType::Binary => {
                let bytes = column.as_binary::<i32>();
                check_layout(&data)
                    .and_then(|()| check_bytes(bytes.value_offsets(), bytes.value_data(), false))
            }
            DataType::LargeBinary => {
                let bytes = column.as_binary::<i64>();
                check_layout(&data)
                    .and_then(|()| check_bytes(bytes.value_offsets(), bytes.value_data(), false))
            }
            _ => data.validate_full().map_err(|e| e.to_string()),
        };
        checked.map_err(|e| format!("column '{name}': {e}"))?;
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(format!(
                "column '{name}' is declared non-nullable but holds {} NULLs",
                column.null_count()
            ));
        }
    }
    Ok(())
}

/// arrow's cheap checks: buffer count and sizes, null count.
fn check_layout(data: &arrow::array::ArrayData) -> Result<(), String> {
    data.validate()
        .and_then(|()| data.validate_nulls())
        .map_err(|e| e.to_string())
}

/// True if `offsets` never decrease. Checked a block at a time with `&` rather than
/// `&&`, so the inner loop has no branch and vectorizes.
fn offsets_ordered<O: OffsetSizeTrait>(offsets: &[O]) -> bool {
    const BLOCK: usize = 1024;
    let mut start = 0;
    while start + 1 < offsets.len() {
        let end = (start + BLOCK).min(offsets.len() - 1);
        let mut ordered = true;
        for i in start..end {
            ordered &= offsets[i] <= offsets[i + 1];
        }
        if !ordered {
            return false;
        }
        start = end;
    }
    true
}

/// Checks the offsets (and, for strings, the UTF-8) of a string or binary column.
fn check_bytes<O: OffsetSizeTrait>(offsets: &[O], values: &[u8], utf8: bool) -> Result<(), String> {
    let (Some(first), Some(last)) = (offsets.first(), offsets.last()) else {
        return Err("no offsets".to_string());
    };
    let (Some(first), Some(last)) = (first.to_usize(), last.to_usize()) else {
        return Err(format!("negative offset ({first:?} … {last:?})"));
    };
    if first > last || last > values.len() {
        return Err(format!(
            "offsets {first} … {last} outside the {}-byte values buffer",
            values.len()
        ));
    }
    if !offsets_ordered(offsets) {
        return Err("offsets are not in order".to_string());
    }
    if utf8 {
        // With the offsets ordered between `first` and `last`, the column is valid UTF-8
        // iff the span is, and every offset falls on a character boundary. ASCII (the
        // common case) is both at once, and `is_ascii` runs a word at a time.
        let span = &values[first..last];
        if !span.is_ascii() {
            std::str::from_utf8(span).map_err(|e| format!("invalid UTF-8 ({e})"))?;
            // A boundary is any byte but a continuation byte 0b10xx_xxxx; `last` is the
            // end of the span.
            let mut split_char = false;
            for offset in offsets {
                if let Some(&byte) = span.get(offset.as_usize() - first) {
                    split_char |= (byte as i8) < -0x40;
                }
            }
            if split_char {
                return Err("an offset splits a UTF-8 character".to_string());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use arrow::array::{ArrayRef, BinaryArray, Int64Array, StringArray};
    use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};

    use crate::io::test_data::*;

    /// A string column built without checks from raw parts.
    fn raw_strings(offsets: Vec<i32>, values: &[u8]) -> ArrayRef {
        // SAFETY: only ever passed to `validate_batch`, the code under test, which must
        // reject what is invalid before anything reads the values.
        Arc::new(unsafe {
            StringArray::new_unchecked(
                OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)),
                Buffer::from(values.to_vec()),
                None,
            )
        })
    }

    fn one_column(field: Field, column: ArrayRef) -> (RecordBatch, SchemaRef) {
        let schema = Arc::new(Schema::new(vec![field]));
        let rows = column.len();
        // SAFETY: as above.
        let batch = unsafe { RecordBatch::new_unchecked(schema.clone(), vec![column], rows) };
        (batch, schema)
    }

    fn check(offsets: Vec<i32>, values: &[u8]) -> Result<(), String> {
        let rows = offsets.len() - 1;
        let (batch, schema) = one_column(
            Field::new("s", DataType::Utf8, true),
            raw_strings(offsets, values),
        );
        validate_batch(&batch, &schema, rows)
    }

    #[test]
    fn accepts_valid_batches() {
        for batch in plain_batches(&[0, 1, 77]) {
            validate_batch(&batch, &plain_schema(), batch.num_rows()).unwrap();
        }
        check(vec![0, 1, 1, 5], "héé".as_bytes()).unwrap();
        // A slice: offsets need not start at 0.
        let sliced = StringArray::from(vec!["ab", "cd", "é"]).slice(1, 2);
        let (batch, schema) = one_column(Field::new("s", DataType::Utf8, false), Arc::new(sliced));
        validate_batch(&batch, &schema, 2).unwrap();
    }

    #[test]
    fn rejects_bad_string_columns() {
        let cases: [(Vec<i32>, &[u8], &str); 5] = [
            (vec![0, 3, 2], b"abc", "not in order"),
            (vec![0, 2, 9], b"abc", "values"),
            (vec![-1, 2], b"abc", "(-1)"),
            (vec![0, 2], b"\xFF\xFE", "invalid UTF-8"),
            (vec![0, 1, 2], "é".as_bytes(), "splits a UTF-8 character"),
        ];
        for (offsets, values, expected) in cases {
            let err = check(offsets, values).unwrap_err();
            assert!(err.contains(expected), "{err} (wanted {expected})");
        }
    }

    #[test]
    fn rejects_binary_offsets_out_of_range_but_not_non_utf8_bytes() {
        let binary = BinaryArray::from(vec![&b"\xFF\xFE"[..], b""]);
        let (batch, schema) = one_column(Field::new("b", DataType::Binary, true), Arc::new(binary));
        validate_batch(&batch, &schema, 2).unwrap();
    }

    #[test]
    fn rejects_wrong_lengths_types_and_nulls() {
        let batch = plain_batch(0, 4);
        let err = validate_batch(&batch, &plain_schema(), 5).unwrap_err();
        assert!(err.contains("has 4 rows"), "{err}");
        let err = validate_batch(&batch, &dict_schema(), 4).unwrap_err();
        assert!(err.contains("columns"), "{err}");

        let with_nulls = Int64Array::new(
            ScalarBuffer::from(vec![1i64, 2]),
            Some(NullBuffer::from(vec![true, false])),
        );
        let (batch, schema) = one_column(
            Field::new("x", DataType::Int64, false),
            Arc::new(with_nulls),
        );
        let err = validate_batch(&batch, &schema, 2).unwrap_err();
        assert!(err.contains("non-nullable"), "{err}");
    }

    #[test]
    fn knows_which_schemas_it_covers() {
        assert!(validates_schema(&plain_schema()));
        // Dictionaries keep arrow's validation (their values arrive in other messages).
        assert!(!validates_schema(&dict_schema()));
        let nested = Schema::new(vec![Field::new(
            "l",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        )]);
        assert!(!validates_schema(&nested));
        assert!(!validates_schema(&Schema::new(vec![Field::new(
            "v",
            DataType::Utf8View,
            true
        )])));
    }
}

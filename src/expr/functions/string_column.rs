//! Reading and writing string columns of every Arrow string encoding, for the string
//! functions.
//!
//! ```text
//!   Utf8 / LargeUtf8 / Utf8View ──typed loop──▶ StringColumnBuilder<i32 | i64> ──▶ Utf8 / LargeUtf8
//!   Dictionary(K, V)            ──the same loop over the dictionary values only──▶
//!                                 Dictionary(K, result of V)   (keys reused as they are)
//! ```
//! Result encoding (every string-producing function): `LargeUtf8` for a `LargeUtf8`
//! input, `Utf8` for `Utf8` and `Utf8View` inputs, and a dictionary with the same keys for
//! a dictionary input whose other arguments are constant. The builder checks offset
//! overflow (an error, never a panic) and never allocates per row.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, GenericStringArray, Int64Array, NullBufferBuilder, OffsetSizeTrait,
    StringArrayType,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::DataType;

use crate::error::{Error, Result};
use crate::expr::types::sql_type_name;

/// The type a string-producing function returns for a first argument of type `input`.
pub(super) fn string_result_type(input: &DataType) -> DataType {
    match input {
        DataType::LargeUtf8 => DataType::LargeUtf8,
        DataType::Dictionary(k, v) => {
            DataType::Dictionary(k.clone(), Box::new(string_result_type(v)))
        }
        _ => DataType::Utf8,
    }
}

/// Where a function writes the value of one row: only whole `&str`s and `char`s, so the
/// bytes are always valid UTF-8.
pub(super) struct RowWriter<'a> {
    values: &'a mut Vec<u8>,
}

impl RowWriter<'_> {
    /// Appends text to the row's value.
    #[inline]
    pub fn push_str(&mut self, s: &str) {
        self.values.extend_from_slice(s.as_bytes());
    }

    /// Appends one character to the row's value.
    #[inline]
    pub fn push_char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.values
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

/// Builds a `Utf8` (`O = i32`) or `LargeUtf8` (`O = i64`) column row by row.
pub(super) struct StringColumnBuilder<O: OffsetSizeTrait> {
    offsets: Vec<O>,
    values: Vec<u8>,
    nulls: NullBufferBuilder,
}

impl<O: OffsetSizeTrait> StringColumnBuilder<O> {
    /// A builder for `rows` rows of about `bytes` bytes in total.
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(O::usize_as(0));
        StringColumnBuilder {
            offsets,
            values: Vec::with_capacity(bytes),
            nulls: NullBufferBuilder::new(rows),
        }
    }

    /// Appends a row written by `write`; `write` returns false to make the row NULL (what
    /// it wrote is then dropped).
    ///
    /// # Errors
    /// The column grows past what its offsets can address (2 GiB for `Utf8`).
    #[inline]
    pub fn append_with(&mut self, write: impl FnOnce(&mut RowWriter<'_>) -> bool) -> Result<()> {
        let start = self.values.len();
        let valid = write(&mut RowWriter {
            values: &mut self.values,
        });
        if !valid {
            self.values.truncate(start);
            self.append_null();
            return Ok(());
        }
        let end = O::from_usize(self.values.len()).ok_or_else(|| {
            Error::execution(format!(
                "string result larger than {} bytes; use LargeUtf8 input",
                O::MAX_OFFSET
            ))
        })?;
        self.offsets.push(end);
        self.nulls.append_non_null();
        Ok(())
    }

    /// Appends a NULL row.
    #[inline]
    pub fn append_null(&mut self) {
        let last = self.offsets.last().copied().unwrap_or(O::usize_as(0));
        self.offsets.push(last);
        self.nulls.append_null();
    }

    /// The finished column.
    ///
    /// # Errors
    /// None in practice: offsets are monotonic and the bytes valid UTF-8 by construction.
    pub fn finish(mut self) -> Result<ArrayRef> {
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        let array =
            GenericStringArray::<O>::try_new(offsets, self.values.into(), self.nulls.finish())?;
        Ok(Arc::new(array))
    }
}

/// Applies `f(row, value, out)` to every non-NULL row of a plain (non-dictionary) string
/// column; NULL rows stay NULL and `f` returning false makes a row NULL. The result has
/// the encoding of [`string_result_type`].
///
/// # Errors
/// Not a plain string column (a planner bug); offset overflow.
pub(super) fn map_string_rows<F>(array: &ArrayRef, f: F) -> Result<ArrayRef>
where
    F: FnMut(usize, &str, &mut RowWriter<'_>) -> bool,
{
    match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            map_typed::<_, i32, _>(a, a.value_data().len(), f)
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            map_typed::<_, i64, _>(a, a.value_data().len(), f)
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            map_typed::<_, i32, _>(a, a.total_bytes_len(), f)
        }
        DataType::Dictionary(_, v) => {
            // a per-row call on a dictionary: decode it first (rare; the planner casts)
            let plain = arrow::compute::cast(array, v)?;
            map_string_rows(&plain, f)
        }
        other => Err(not_a_string(other)),
    }
}

fn map_typed<'a, A, O, F>(a: A, bytes: usize, mut f: F) -> Result<ArrayRef>
where
    A: StringArrayType<'a>,
    O: OffsetSizeTrait,
    F: FnMut(usize, &str, &mut RowWriter<'_>) -> bool,
{
    let len = a.len();
    let mut out = StringColumnBuilder::<O>::with_capacity(len, bytes);
    if a.null_count() == 0 {
        for i in 0..len {
            let v = a.value(i);
            out.append_with(|w| f(i, v, w))?;
        }
    } else {
        for i in 0..len {
            if a.is_null(i) {
                out.append_null();
            } else {
                let v = a.value(i);
                out.append_with(|w| f(i, v, w))?;
            }
        }
    }
    out.finish()
}

/// Applies `f(value, out)` to every non-NULL value of a string column whose function has
/// only constant other arguments. A dictionary column is mapped on its values only and
/// keeps its keys (the result is a dictionary again).
///
/// # Errors
/// As [`map_string_rows`].
pub(super) fn map_strings<F>(array: &ArrayRef, mut f: F) -> Result<ArrayRef>
where
    F: FnMut(&str, &mut RowWriter<'_>) -> bool,
{
    if let Some(dict) = array.as_any_dictionary_opt() {
        let values = map_string_rows(dict.values(), |_, s, w| f(s, w))?;
        return Ok(dict.with_values(values));
    }
    map_string_rows(array, |_, s, w| f(s, w))
}

/// Applies `f` to every non-NULL value of a string column, giving a BIGINT column. A
/// dictionary column is evaluated on its values and gathered back through its keys.
///
/// # Errors
/// Not a string column.
pub(super) fn map_strings_to_i64(
    array: &ArrayRef,
    ascii_f: Option<fn(&str) -> i64>,
    f: fn(&str) -> i64,
) -> Result<ArrayRef> {
    if let Some(dict) = array.as_any_dictionary_opt() {
        let on_values = map_strings_to_i64(dict.values(), ascii_f, f)?;
        return Ok(arrow::compute::take(&on_values, dict.keys(), None)?);
    }
    Ok(Arc::new(match array.data_type() {
        DataType::Utf8 => to_i64(array.as_string::<i32>(), ascii_f, f),
        DataType::LargeUtf8 => to_i64(array.as_string::<i64>(), ascii_f, f),
        DataType::Utf8View => to_i64(array.as_string_view(), ascii_f, f),
        other => return Err(not_a_string(other)),
    }))
}

fn to_i64<'a, A: StringArrayType<'a>>(
    a: A,
    ascii_f: Option<fn(&str) -> i64>,
    f: fn(&str) -> i64,
) -> Int64Array {
    // one ASCII check for the whole column picks the cheaper per-row function
    let f = match ascii_f {
        Some(g) if a.is_ascii() => g,
        _ => f,
    };
    let values: Vec<i64> = (0..a.len()).map(|i| f(a.value(i))).collect();
    Int64Array::new(values.into(), a.logical_nulls())
}

/// True when every value of a plain string column (or of a dictionary's values) is
/// ASCII, so that characters are bytes.
pub(super) fn is_ascii_column(array: &ArrayRef) -> bool {
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().is_ascii(),
        DataType::LargeUtf8 => array.as_string::<i64>().is_ascii(),
        DataType::Utf8View => array.as_string_view().is_ascii(),
        DataType::Dictionary(_, _) => array
            .as_any_dictionary_opt()
            .is_some_and(|d| is_ascii_column(d.values())),
        _ => false,
    }
}

fn not_a_string(t: &DataType) -> Error {
    Error::internal(format!(
        "string function called with {} (the planner did not cast it)",
        sql_type_name(t)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{DictionaryArray, LargeStringArray, StringArray, StringViewArray};
    use arrow::datatypes::Int8Type;

    #[test]
    fn result_encoding_follows_the_input() {
        assert_eq!(string_result_type(&DataType::Utf8View), DataType::Utf8);
        assert_eq!(
            string_result_type(&DataType::LargeUtf8),
            DataType::LargeUtf8
        );
        assert_eq!(
            string_result_type(&DataType::Dictionary(
                Box::new(DataType::Int8),
                Box::new(DataType::Utf8View)
            )),
            DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
        );
    }

    #[test]
    fn builder_writes_values_nulls_and_dropped_rows() {
        let mut b = StringColumnBuilder::<i32>::with_capacity(4, 8);
        b.append_with(|w| {
            w.push_str("ab");
            true
        })
        .unwrap();
        b.append_null();
        b.append_with(|w| {
            w.push_str("zz");
            false
        })
        .unwrap();
        b.append_with(|w| {
            w.push_char('é');
            w.push_str("!");
            true
        })
        .unwrap();
        let out = b.finish().unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(
            out.iter().collect::<Vec<_>>(),
            vec![Some("ab"), None, None, Some("é!")]
        );
    }

    #[test]
    fn rows_map_over_every_encoding() {
        let up = |_: usize, s: &str, w: &mut RowWriter<'_>| {
            w.push_str(&s.to_uppercase());
            true
        };
        let utf8: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
        let large: ArrayRef = Arc::new(LargeStringArray::from(vec![Some("a"), None]));
        let view: ArrayRef = Arc::new(StringViewArray::from(vec![Some("a"), None]));
        assert_eq!(
            map_string_rows(&utf8, up).unwrap().data_type(),
            &DataType::Utf8
        );
        assert_eq!(
            map_string_rows(&large, up).unwrap().data_type(),
            &DataType::LargeUtf8
        );
        let v = map_string_rows(&view, up).unwrap();
        assert_eq!(
            v.as_string::<i32>().iter().collect::<Vec<_>>(),
            vec![Some("A"), None]
        );
        let dict: DictionaryArray<Int8Type> =
            vec![Some("x"), None, Some("x")].into_iter().collect();
        let dict: ArrayRef = Arc::new(dict);
        let out = map_strings(&dict, |s, w| {
            w.push_str(&s.to_uppercase());
            true
        })
        .unwrap();
        let out = out.as_dictionary::<Int8Type>();
        assert_eq!(out.values().len(), 1);
        assert_eq!(out.keys(), dict.as_dictionary::<Int8Type>().keys());
        let int: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        assert!(map_string_rows(&int, up).is_err());
    }

    #[test]
    fn lengths_gather_through_dictionary_keys() {
        let dict: DictionaryArray<Int8Type> = vec![Some("abc"), None, Some("é"), Some("abc")]
            .into_iter()
            .collect();
        let dict: ArrayRef = Arc::new(dict);
        let out = map_strings_to_i64(&dict, None, |s| s.chars().count() as i64).unwrap();
        let out: Vec<_> = out
            .as_primitive::<arrow::datatypes::Int64Type>()
            .iter()
            .collect();
        assert_eq!(out, vec![Some(3), None, Some(1), Some(3)]);
        assert!(!is_ascii_column(&dict));
    }
}

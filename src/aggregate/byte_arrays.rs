//! One read view and one builder over the six Arrow byte-array types (`Utf8`,
//! `LargeUtf8`, `Utf8View`, `Binary`, `LargeBinary`, `BinaryView`), for the kernels that
//! treat strings as bytes (MIN/MAX, FIRST/LAST, key emission).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryViewArray, BinaryViewBuilder, GenericBinaryArray,
    GenericBinaryBuilder, GenericStringArray, OffsetSizeTrait, StringViewArray, StringViewBuilder,
};
use arrow::datatypes::DataType;

use crate::error::{Error, Result};

/// Whether `t` is one of the byte-array types.
pub(crate) fn is_bytes_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// Borrowed access to the values of a byte array, whatever its layout.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BytesView<'a> {
    /// `Utf8` / `Binary`: 32-bit offsets into one buffer.
    Small { offsets: &'a [i32], data: &'a [u8] },
    /// `LargeUtf8` / `LargeBinary`: 64-bit offsets.
    Large { offsets: &'a [i64], data: &'a [u8] },
    /// `Utf8View`.
    StringView(&'a StringViewArray),
    /// `BinaryView`.
    BinaryView(&'a BinaryViewArray),
}

impl<'a> BytesView<'a> {
    /// A view of `array`, or an error if it is not a byte array.
    pub(crate) fn try_new(array: &'a dyn Array) -> Result<Self> {
        fn offsets<O: OffsetSizeTrait>(a: &GenericBinaryArray<O>) -> (&[O], &[u8]) {
            (a.value_offsets(), a.value_data())
        }
        Ok(match array.data_type() {
            DataType::Utf8 => {
                let a = array.as_string::<i32>();
                BytesView::Small {
                    offsets: a.value_offsets(),
                    data: a.value_data(),
                }
            }
            DataType::Binary => {
                let (offsets, data) = offsets(array.as_binary::<i32>());
                BytesView::Small { offsets, data }
            }
            DataType::LargeUtf8 => {
                let a = array.as_string::<i64>();
                BytesView::Large {
                    offsets: a.value_offsets(),
                    data: a.value_data(),
                }
            }
            DataType::LargeBinary => {
                let (offsets, data) = offsets(array.as_binary::<i64>());
                BytesView::Large { offsets, data }
            }
            DataType::Utf8View => BytesView::StringView(array.as_string_view()),
            DataType::BinaryView => BytesView::BinaryView(array.as_binary_view()),
            other => {
                return Err(Error::internal(format!(
                    "expected a string or binary column, got {other}"
                )));
            }
        })
    }

    /// The bytes of row `i` (arbitrary for a NULL row).
    #[inline(always)]
    pub(crate) fn value(&self, i: usize) -> &'a [u8] {
        match *self {
            BytesView::Small { offsets, data } => {
                &data[offsets[i] as usize..offsets[i + 1] as usize]
            }
            BytesView::Large { offsets, data } => {
                &data[offsets[i] as usize..offsets[i + 1] as usize]
            }
            BytesView::StringView(a) => a.value(i).as_bytes(),
            BytesView::BinaryView(a) => a.value(i),
        }
    }
}

/// Builds an array of type `data_type` (a byte-array type) from `n` optional values.
///
/// # Errors
/// `Execution` if the bytes of a string type are not UTF-8 (cannot happen for values that
/// came from a string array) or if 32-bit offsets would overflow.
pub(crate) fn build_bytes_array<'b>(
    data_type: &DataType,
    values: impl ExactSizeIterator<Item = Option<&'b [u8]>> + Clone,
) -> Result<ArrayRef> {
    fn build_offsets<'b, O: OffsetSizeTrait>(
        values: impl ExactSizeIterator<Item = Option<&'b [u8]>> + Clone,
    ) -> Result<GenericBinaryArray<O>> {
        let total: usize = values.clone().map(|v| v.map_or(0, <[u8]>::len)).sum();
        if O::from_usize(total).is_none() {
            return Err(Error::execution(format!(
                "{total} bytes of key or aggregate values do not fit a 32-bit-offset array"
            )));
        }
        let mut b = GenericBinaryBuilder::<O>::with_capacity(values.len(), total);
        for v in values {
            b.append_option(v);
        }
        Ok(b.finish())
    }
    fn utf8(b: &[u8]) -> Result<&str> {
        std::str::from_utf8(b).map_err(|e| Error::execution(format!("invalid UTF-8: {e}")))
    }
    let array: ArrayRef = match data_type {
        DataType::Binary => Arc::new(build_offsets::<i32>(values)?),
        DataType::LargeBinary => Arc::new(build_offsets::<i64>(values)?),
        DataType::Utf8 => Arc::new(GenericStringArray::<i32>::try_from_binary(
            build_offsets::<i32>(values)?,
        )?),
        DataType::LargeUtf8 => Arc::new(GenericStringArray::<i64>::try_from_binary(
            build_offsets::<i64>(values)?,
        )?),
        DataType::Utf8View => {
            let mut b = StringViewBuilder::with_capacity(values.len());
            for v in values {
                match v {
                    Some(v) => b.append_value(utf8(v)?),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        DataType::BinaryView => {
            let mut b = BinaryViewBuilder::with_capacity(values.len());
            for v in values {
                b.append_option(v);
            }
            Arc::new(b.finish())
        }
        other => {
            return Err(Error::internal(format!(
                "cannot build a byte array of type {other}"
            )));
        }
    };
    Ok(array)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{LargeStringArray, StringArray};

    #[test]
    fn views_read_every_layout() {
        let small = StringArray::from(vec![Some("a"), None, Some("long string over twelve")]);
        let large = LargeStringArray::from(vec!["x", "yz"]);
        let view = StringViewArray::from(vec!["short", "a string longer than 12"]);
        assert_eq!(
            BytesView::try_new(&small).unwrap().value(2),
            b"long string over twelve"
        );
        assert_eq!(BytesView::try_new(&large).unwrap().value(1), b"yz");
        let v = BytesView::try_new(&view).unwrap();
        assert_eq!(
            (v.value(0), v.value(1)),
            (&b"short"[..], &b"a string longer than 12"[..])
        );
        assert!(BytesView::try_new(&arrow::array::Int32Array::from(vec![1])).is_err());
    }

    #[test]
    fn builds_every_layout() {
        let vals = [Some(&b"ab"[..]), None, Some(&b""[..])];
        for t in [
            DataType::Utf8,
            DataType::LargeUtf8,
            DataType::Utf8View,
            DataType::Binary,
            DataType::LargeBinary,
            DataType::BinaryView,
        ] {
            let a = build_bytes_array(&t, vals.iter().copied()).unwrap();
            assert_eq!(a.data_type(), &t);
            assert_eq!(a.len(), 3);
            assert!(a.is_null(1));
            let v = BytesView::try_new(a.as_ref()).unwrap();
            assert_eq!((v.value(0), v.value(2)), (&b"ab"[..], &b""[..]));
        }
        let bad = [Some(&[0xffu8][..])];
        assert!(build_bytes_array(&DataType::Utf8, bad.iter().copied()).is_err());
        assert!(build_bytes_array(&DataType::Utf8View, bad.iter().copied()).is_err());
    }
}

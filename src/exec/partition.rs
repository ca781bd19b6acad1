//! Key partitioning: a hash of the group-key columns per row, computed column by column,
//! and the split of a batch into N partitions by that hash.
//!
//! ```text
//!  key columns ─▶ hash_keys (typed loop per column, combined) ─▶ partition = hash·N >> 64
//!              ─▶ row indices per partition ─▶ take() each column once per partition
//! ```
//! Equal keys always land in the same partition (floats are canonicalised so -0.0 and 0.0,
//! and every NaN, hash alike; a dictionary is hashed by value), so each partition owns
//! its groups outright and needs no locks.

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, GenericByteArray, GenericByteViewArray, PrimitiveArray,
    RecordBatch, UInt32Array,
};
use arrow::datatypes::{ArrowPrimitiveType, ByteArrayType, ByteViewType};

use crate::error::{Error, Result};

/// Fixed seeds: partitioning must be identical across runs and processes.
fn hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    )
}

const NULL_HASH: u64 = 0x9e37_79b9_7f4a_7c15;

/// Mixes a column's hash into the row's running hash. `combine(0, h) == h`, so a
/// dictionary's per-value hashes can be computed with the same code as a plain column.
#[inline(always)]
fn combine(acc: u64, h: u64) -> u64 {
    acc.rotate_left(5).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ h
}

/// Adds each row's hash of `column` into `hashes`.
///
/// # Errors
/// [`Error::NotSupported`] for key types that cannot be hashed (nested types).
pub fn hash_column(column: &ArrayRef, hashes: &mut [u64]) -> Result<()> {
    let rs = hasher();
    macro_rules! prim {
        ($t:ty) => {
            hash_primitive(column.as_primitive::<$t>(), hashes, &rs, |v| v as u64)
        };
    }
    use arrow::datatypes::*;
    match column.data_type() {
        DataType::Null => hashes.iter_mut().for_each(|h| *h = combine(*h, NULL_HASH)),
        DataType::Boolean => {
            let b: &BooleanArray = column.as_boolean();
            for (i, h) in hashes.iter_mut().enumerate() {
                let v = if b.is_null(i) {
                    NULL_HASH
                } else {
                    rs.hash_one(b.value(i))
                };
                *h = combine(*h, v);
            }
        }
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Date32 => prim!(Date32Type),
        DataType::Date64 => prim!(Date64Type),
        DataType::Timestamp(TimeUnit::Second, _) => prim!(TimestampSecondType),
        DataType::Timestamp(TimeUnit::Millisecond, _) => prim!(TimestampMillisecondType),
        DataType::Timestamp(TimeUnit::Microsecond, _) => prim!(TimestampMicrosecondType),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => prim!(TimestampNanosecondType),
        DataType::Decimal128(_, _) => {
            hash_primitive(column.as_primitive::<Decimal128Type>(), hashes, &rs, |v| {
                (v as u64) ^ ((v >> 64) as u64).rotate_left(17)
            })
        }
        DataType::Float32 => {
            hash_primitive(column.as_primitive::<Float32Type>(), hashes, &rs, |v| {
                canonical_f64(v as f64)
            })
        }
        DataType::Float64 => hash_primitive(
            column.as_primitive::<Float64Type>(),
            hashes,
            &rs,
            canonical_f64,
        ),
        DataType::Utf8 => hash_bytes(column.as_string::<i32>(), hashes, &rs),
        DataType::LargeUtf8 => hash_bytes(column.as_string::<i64>(), hashes, &rs),
        DataType::Binary => hash_bytes(column.as_binary::<i32>(), hashes, &rs),
        DataType::LargeBinary => hash_bytes(column.as_binary::<i64>(), hashes, &rs),
        DataType::Utf8View => hash_views(column.as_string_view(), hashes, &rs),
        DataType::BinaryView => hash_views(column.as_binary_view(), hashes, &rs),
        DataType::Dictionary(_, _) => {
            // hash each distinct value once, then look rows up through the keys
            let dict = column
                .as_any_dictionary_opt()
                .ok_or_else(|| Error::internal("dictionary without dictionary array"))?;
            let values = dict.values();
            if values.is_empty() {
                // no values: every row is NULL
                hashes.iter_mut().for_each(|h| *h = combine(*h, NULL_HASH));
                return Ok(());
            }
            let mut value_hashes = vec![0u64; values.len()];
            hash_column(values, &mut value_hashes)?;
            let keys = dict.normalized_keys();
            let nulls = column.logical_nulls();
            for (i, h) in hashes.iter_mut().enumerate() {
                let v = match &nulls {
                    Some(n) if n.is_null(i) => NULL_HASH,
                    _ => value_hashes.get(keys[i]).copied().unwrap_or(NULL_HASH),
                };
                *h = combine(*h, v);
            }
        }
        other => {
            return Err(Error::not_supported(format!(
                "GROUP BY key of type {other}"
            )));
        }
    }
    Ok(())
}

/// The bits of a float with -0.0 folded onto 0.0 and every NaN onto one NaN.
#[inline(always)]
fn canonical_f64(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

fn hash_primitive<T: ArrowPrimitiveType>(
    a: &PrimitiveArray<T>,
    hashes: &mut [u64],
    rs: &ahash::RandomState,
    bits: impl Fn(T::Native) -> u64,
) {
    let values = a.values();
    if a.null_count() == 0 {
        for (h, v) in hashes.iter_mut().zip(values.iter()) {
            *h = combine(*h, rs.hash_one(bits(*v)));
        }
    } else {
        for (i, (h, v)) in hashes.iter_mut().zip(values.iter()).enumerate() {
            let x = if a.is_null(i) {
                NULL_HASH
            } else {
                rs.hash_one(bits(*v))
            };
            *h = combine(*h, x);
        }
    }
}

fn hash_bytes<T: ByteArrayType>(
    a: &GenericByteArray<T>,
    hashes: &mut [u64],
    rs: &ahash::RandomState,
) {
    let has_nulls = a.null_count() > 0;
    for (i, h) in hashes.iter_mut().enumerate() {
        let x = if has_nulls && a.is_null(i) {
            NULL_HASH
        } else {
            let v: &[u8] = a.value(i).as_ref();
            rs.hash_one(v)
        };
        *h = combine(*h, x);
    }
}

fn hash_views<T: ByteViewType + ?Sized>(
    a: &GenericByteViewArray<T>,
    hashes: &mut [u64],
    rs: &ahash::RandomState,
) {
    let has_nulls = a.null_count() > 0;
    for (i, h) in hashes.iter_mut().enumerate() {
        let x = if has_nulls && a.is_null(i) {
            NULL_HASH
        } else {
            let v: &[u8] = a.value(i).as_ref();
            rs.hash_one(v)
        };
        *h = combine(*h, x);
    }
}

/// Row indices of each of `n` partitions, by the hash of the key columns (rows keep
/// their order within a partition).
///
/// # Errors
/// Key types that cannot be hashed.
pub fn partition_rows(keys: &[ArrayRef], num_rows: usize, n: usize) -> Result<Vec<Vec<u32>>> {
    let mut hashes = vec![0u64; num_rows];
    for k in keys {
        hash_column(k, &mut hashes)?;
    }
    let mut parts: Vec<Vec<u32>> = (0..n)
        .map(|_| Vec::with_capacity(num_rows / n + 16))
        .collect();
    for (i, h) in hashes.iter().enumerate() {
        // multiply-shift maps the hash onto 0..n without a division
        let p = ((u128::from(*h) * n as u128) >> 64) as usize;
        parts[p].push(i as u32);
    }
    Ok(parts)
}

/// The rows `indices` of every column of `batch`.
///
/// # Errors
/// Arrow errors from `take`.
pub fn take_rows(batch: &RecordBatch, indices: &[u32]) -> Result<RecordBatch> {
    let idx = UInt32Array::from(indices.to_vec());
    Ok(arrow::compute::take_record_batch(batch, &idx)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{DictionaryArray, Float64Array, Int32Array, StringArray, StringViewArray};
    use arrow::datatypes::Int32Type;

    use super::*;

    fn hashes_of(a: ArrayRef) -> Vec<u64> {
        let mut h = vec![0u64; a.len()];
        hash_column(&a, &mut h).unwrap();
        h
    }

    #[test]
    fn equal_keys_hash_alike_across_encodings() {
        let plain = hashes_of(Arc::new(StringArray::from(vec![
            Some("a"),
            None,
            Some("bb"),
        ])));
        let view = hashes_of(Arc::new(StringViewArray::from(vec![
            Some("a"),
            None,
            Some("bb"),
        ])));
        let dict: DictionaryArray<Int32Type> =
            vec![Some("a"), None, Some("bb")].into_iter().collect();
        let dict = hashes_of(Arc::new(dict));
        assert_eq!(plain, view, "view");
        assert_eq!(plain, dict, "dict");
        assert_ne!(plain[0], plain[2]);
    }

    #[test]
    fn float_zero_and_nan_are_canonical() {
        let h = hashes_of(Arc::new(Float64Array::from(vec![
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            1.0,
        ])));
        assert_eq!(h[0], h[1]);
        assert_eq!(h[2], h[3]);
        assert_ne!(h[0], h[4]);
    }

    #[test]
    fn partitions_cover_every_row_once_in_order() {
        let keys: Vec<ArrayRef> = vec![Arc::new(Int32Array::from(
            (0..1000).map(|i| i % 37).collect::<Vec<_>>(),
        ))];
        let parts = partition_rows(&keys, 1000, 3).unwrap();
        let mut all: Vec<u32> = parts.iter().flatten().copied().collect();
        for p in &parts {
            assert!(p.windows(2).all(|w| w[0] < w[1]));
            assert!(!p.is_empty());
        }
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<u32>>());
        // the same key always lands in the same partition
        let which = |row: u32| parts.iter().position(|p| p.contains(&row)).unwrap();
        assert_eq!(which(0), which(37));
        assert_eq!(which(5), which(5 + 37 * 20));
    }
}

//! Re-chunks a stream of batches into batches of exactly `batch_size` rows (the last may
//! be shorter), across input batch boundaries.
//!
//! ```text
//!   in:  [  5000  ][      9000      ][ 700 ]          batch_size = 4096
//!   out: [ 4096 ][ 904 + 3192 ][ 4096 ][ 1712 + 700 ]
//!         slice    concat        slice   concat (last, shorter)
//! ```
//! A chunk that lies inside one input batch is a zero-copy slice; only a chunk that
//! spans input batches is concatenated (copied).

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_select::concat::concat_batches;

use crate::error::{Error, Result};

/// Re-chunks `input` into batches of `batch_size` rows; see [`rechunk`].
#[derive(Debug)]
pub struct Rechunker<I> {
    input: I,
    schema: SchemaRef,
    batch_size: usize,
    /// The input batch being cut, and the first row not yet emitted.
    current: Option<(RecordBatch, usize)>,
    /// Pieces of the next output batch, fewer than `batch_size` rows in all.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    done: bool,
}

/// Re-chunks a stream of batches into batches of exactly `batch_size` rows (the last may
/// be shorter), across input batch boundaries, zero-copy where possible (slices; concat
/// only when a chunk spans inputs). Empty input batches are skipped; an input error is
/// passed on and ends the stream. A `batch_size` of 0 yields one error.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, RecordBatch};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use velostream::io::rechunk;
///
/// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
/// let batch = |n: i64| {
///     RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from_iter_values(0..n))])
/// };
/// let input = vec![Ok(batch(5)?), Ok(batch(3)?)];
/// let sizes: Vec<usize> = rechunk(input.into_iter(), schema.clone(), 3)
///     .map(|b| b.map(|b| b.num_rows()))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(sizes, vec![3, 3, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn rechunk<I>(input: I, schema: SchemaRef, batch_size: usize) -> Rechunker<I>
where
    I: Iterator<Item = Result<RecordBatch>>,
{
    Rechunker {
        input,
        schema,
        batch_size,
        current: None,
        pending: Vec::new(),
        pending_rows: 0,
        done: false,
    }
}

impl<I> Rechunker<I>
where
    I: Iterator<Item = Result<RecordBatch>>,
{
    /// Emits the pending pieces as one batch.
    fn take_pending(&mut self) -> Result<RecordBatch> {
        self.pending_rows = 0;
        let pieces = std::mem::take(&mut self.pending);
        match <[RecordBatch; 1]>::try_from(pieces) {
            Ok([single]) => Ok(single),
            Err(pieces) => Ok(concat_batches(&self.schema, &pieces)?),
        }
    }
}

impl<I> Iterator for Rechunker<I>
where
    I: Iterator<Item = Result<RecordBatch>>,
{
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.batch_size == 0 {
            self.done = true;
            return Some(Err(Error::plan("batch size must be at least 1 row")));
        }
        loop {
            let (batch, offset) = match self.current.take() {
                Some(current) => current,
                None => match self.input.next() {
                    Some(Ok(batch)) => (batch, 0),
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    None => {
                        self.done = true;
                        if self.pending_rows == 0 {
                            return None;
                        }
                        return Some(self.take_pending());
                    }
                },
            };
            let available = batch.num_rows() - offset;
            if available == 0 {
                continue;
            }
            let wanted = self.batch_size - self.pending_rows;
            let take = available.min(wanted);
            let piece = batch.slice(offset, take);
            if take < available {
                self.current = Some((batch, offset + take));
            }
            if self.pending_rows == 0 && take == self.batch_size {
                return Some(Ok(piece));
            }
            self.pending.push(piece);
            self.pending_rows += take;
            if self.pending_rows == self.batch_size {
                return Some(self.take_pending());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use proptest::prelude::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]))
    }

    /// Batches of the given sizes holding consecutive values of `x` from 0.
    fn batches(sizes: &[usize]) -> Vec<Result<RecordBatch>> {
        let mut next = 0i64;
        sizes
            .iter()
            .map(|&n| {
                let xs: Vec<i64> = (next..next + n as i64).collect();
                next += n as i64;
                let ss: Vec<Option<String>> = xs
                    .iter()
                    .map(|x| (x % 3 != 0).then(|| format!("s{x}")))
                    .collect();
                Ok(RecordBatch::try_new(
                    schema(),
                    vec![
                        Arc::new(Int64Array::from(xs)),
                        Arc::new(StringArray::from(ss)),
                    ],
                )
                .unwrap())
            })
            .collect()
    }

    fn xs(batch: &RecordBatch) -> Vec<i64> {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        column.values().to_vec()
    }

    #[test]
    fn slices_inside_one_input_and_concats_across() {
        let out: Vec<RecordBatch> = rechunk(batches(&[5, 0, 3]).into_iter(), schema(), 3)
            .collect::<Result<_>>()
            .unwrap();
        let sizes: Vec<usize> = out.iter().map(|b| b.num_rows()).collect();
        assert_eq!(sizes, vec![3, 3, 2]);
        assert_eq!(xs(&out[1]), vec![3, 4, 5]);
        assert_eq!(xs(&out[2]), vec![6, 7]);
    }

    #[test]
    fn a_chunk_inside_one_input_is_not_copied() {
        let input = batches(&[10]);
        let source_ptr = match &input[0] {
            Ok(b) => b.column(0).to_data().buffers()[0].as_ptr(),
            Err(_) => unreachable!(),
        };
        let out: Vec<RecordBatch> = rechunk(input.into_iter(), schema(), 4)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(out.len(), 3);
        // A slice shares the input's buffer.
        assert_eq!(out[0].column(0).to_data().buffers()[0].as_ptr(), source_ptr);
    }

    #[test]
    fn errors_pass_through_and_end_the_stream() {
        let mut input = batches(&[2]);
        input.push(Err(Error::execution("boom")));
        input.extend(batches(&[2]));
        let out: Vec<Result<RecordBatch>> = rechunk(input.into_iter(), schema(), 5).collect();
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0], Err(Error::Execution(m)) if m == "boom"));
    }

    #[test]
    fn zero_batch_size_is_an_error() {
        let out: Vec<Result<RecordBatch>> =
            rechunk(batches(&[3]).into_iter(), schema(), 0).collect();
        assert_eq!(out.len(), 1);
        assert!(out[0].is_err());
    }

    #[test]
    fn empty_input_yields_nothing() {
        assert_eq!(rechunk(batches(&[]).into_iter(), schema(), 4).count(), 0);
        assert_eq!(
            rechunk(batches(&[0, 0]).into_iter(), schema(), 4).count(),
            0
        );
    }

    proptest! {
        #[test]
        fn rechunked_rows_equal_input_rows(
            sizes in proptest::collection::vec(0usize..50, 0..20),
            batch_size in 1usize..40,
        ) {
            let total: usize = sizes.iter().sum();
            let out: Vec<RecordBatch> = rechunk(batches(&sizes).into_iter(), schema(), batch_size)
                .collect::<Result<_>>()
                .unwrap();
            // Every chunk but the last is exactly batch_size; the last is 1..=batch_size.
            if let Some((last, rest)) = out.split_last() {
                for b in rest {
                    prop_assert_eq!(b.num_rows(), batch_size);
                }
                prop_assert!(last.num_rows() >= 1 && last.num_rows() <= batch_size);
            }
            prop_assert_eq!(out.len(), total.div_ceil(batch_size));
            // The rows, in order, are the input rows (both columns, nulls included).
            let all_in = concat_batches(&schema(), &batches(&sizes).into_iter().map(|b| b.unwrap()).collect::<Vec<_>>()).unwrap();
            let all_out = concat_batches(&schema(), &out).unwrap();
            prop_assert_eq!(all_in, all_out);
        }
    }
}

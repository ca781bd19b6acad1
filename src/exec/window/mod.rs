//! Event-time windows (SPEC §4): watermarks, late rows, and the two windowed
//! aggregation operators.
//!
//! ```text
//!  raw batch ──▶ event times (i64, column unit) ──▶ watermark before the batch
//!      │                                               │
//!      ├─ NULL time / late (every window closed) ──────┴─▶ dropped, counted, late sink
//!      ▼
//!  pre-projection [keys | args | filters | time]
//!      ├─ tumbling / sliding ─▶ PaneAggregate   (panes of gcd(size, slide), merged)
//!      └─ session            ─▶ SessionAggregate (per key, gap merging)
//!  after the batch: watermark = max(time) − delay ─▶ windows with end ≤ watermark close
//! ```
//! Everything runs in the unit of the event-time column (durations are converted once),
//! so the window bounds leave with the column's own type.

mod end_queue;
mod key_ranks;
mod keyed_aggregate;
mod pane_fifo;
mod pane_keys;
pub mod panes;
pub mod session;
mod session_table;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray, RecordBatch, RecordBatchOptions,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow::compute::{SortColumn, SortOptions, filter_record_batch, lexsort_to_indices};
use arrow::datatypes::{
    DataType, Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};

use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::plan::window::WindowPlan;
use crate::sql::WindowKind;

/// Window geometry in the unit of the event-time column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowShape {
    /// Tumbling (`size == slide`) or sliding windows, kept as panes of `pane` units.
    Panes {
        /// Window length.
        size: i64,
        /// Distance between window starts.
        slide: i64,
        /// Pane length: gcd(size, slide) (= slide, as slide divides size).
        pane: i64,
        /// Grid offset from the epoch.
        offset: i64,
    },
    /// Per-key sessions.
    Session {
        /// Inactivity gap.
        gap: i64,
    },
}

impl WindowShape {
    /// The first event time that is not late against watermark `wm`: a row at `t` is
    /// late when every window it belongs to has closed, that is when `t` is below this.
    pub fn late_threshold(&self, wm: i64) -> i64 {
        if wm == i64::MIN {
            return i64::MIN;
        }
        match *self {
            // late ⟺ floor_slide(t) + size ≤ wm ⟺ t < floor_slide(wm − size) + slide
            WindowShape::Panes {
                size,
                slide,
                offset,
                ..
            } => floor_to(wm.saturating_sub(size), slide, offset).saturating_add(slide),
            // late ⟺ t + gap ≤ wm ⟺ t < wm − gap + 1
            WindowShape::Session { gap } => wm.saturating_sub(gap).saturating_add(1),
        }
    }
}

/// `t` rounded down to the grid `offset + k * step`, without overflow (saturates at
/// the ends of the i64 range).
#[inline]
pub fn floor_to(t: i64, step: i64, offset: i64) -> i64 {
    let r = (t.rem_euclid(step) - offset.rem_euclid(step)).rem_euclid(step);
    t.saturating_sub(r)
}

/// Static description of a windowed aggregation.
#[derive(Debug, Clone)]
pub struct WindowExec {
    /// Geometry, in column units.
    pub shape: WindowShape,
    /// Event-time column in the raw input batch.
    pub input_time_index: usize,
    /// Event-time column in the pre-projected batch.
    pub pre_time_index: usize,
    /// Type of the event-time column (and of the window bounds).
    pub time_type: DataType,
    /// Watermark delay in column units.
    pub delay: i64,
    /// Column units per millisecond (0: seconds).
    pub units_per_ms: i64,
    /// Keep late rows for the late sink.
    pub collect_late: bool,
}

impl WindowExec {
    /// Converts the planned window and the watermark delay to column units.
    ///
    /// # Errors
    /// A duration that does not fit the column's unit.
    pub fn from_plan(
        w: &WindowPlan,
        pre_time_index: usize,
        delay_ms: i64,
        collect_late: bool,
    ) -> Result<WindowExec> {
        let shape = match w.kind {
            WindowKind::Tumbling { size_ms, offset_ms } => {
                let size = w.to_units(size_ms, "window size")?;
                WindowShape::Panes {
                    size,
                    slide: size,
                    pane: size,
                    offset: w.to_units(offset_ms, "window offset")?,
                }
            }
            WindowKind::Sliding {
                size_ms,
                slide_ms,
                offset_ms,
            } => {
                let size = w.to_units(size_ms, "window size")?;
                let slide = w.to_units(slide_ms, "window advance")?;
                WindowShape::Panes {
                    size,
                    slide,
                    pane: gcd(size, slide),
                    offset: w.to_units(offset_ms, "window offset")?,
                }
            }
            WindowKind::Session { gap_ms } => WindowShape::Session {
                gap: w.to_units(gap_ms, "session gap")?,
            },
        };
        let delay = if w.units_per_ms == 0 {
            delay_ms / 1000
        } else {
            delay_ms.saturating_mul(w.units_per_ms)
        };
        Ok(WindowExec {
            shape,
            input_time_index: w.time_index,
            pre_time_index,
            time_type: w.time_type.clone(),
            delay,
            units_per_ms: w.units_per_ms,
            collect_late,
        })
    }

    /// Converts epoch milliseconds (the API's watermark) to column units.
    pub fn ms_to_units(&self, ms: i64) -> i64 {
        if self.units_per_ms == 0 {
            ms.div_euclid(1000)
        } else {
            ms.saturating_mul(self.units_per_ms)
        }
    }

    /// A column of `n` copies of `v`, typed as the event-time column.
    pub fn bound_column(&self, values: Vec<i64>) -> ArrayRef {
        time_array(&self.time_type, values)
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// An array of the event-time type from raw i64 values.
pub fn time_array(t: &DataType, values: Vec<i64>) -> ArrayRef {
    let v = ScalarBuffer::from(values);
    match t {
        DataType::Timestamp(TimeUnit::Second, tz) => Arc::new(
            PrimitiveArray::<TimestampSecondType>::new(v, None).with_timezone_opt(tz.clone()),
        ),
        DataType::Timestamp(TimeUnit::Millisecond, tz) => Arc::new(
            PrimitiveArray::<TimestampMillisecondType>::new(v, None).with_timezone_opt(tz.clone()),
        ),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => Arc::new(
            PrimitiveArray::<TimestampMicrosecondType>::new(v, None).with_timezone_opt(tz.clone()),
        ),
        DataType::Timestamp(TimeUnit::Nanosecond, tz) => Arc::new(
            PrimitiveArray::<TimestampNanosecondType>::new(v, None).with_timezone_opt(tz.clone()),
        ),
        _ => Arc::new(PrimitiveArray::<Int64Type>::new(v, None)),
    }
}

/// The raw i64 values and validity of an event-time column (one type dispatch).
///
/// # Errors
/// A column that is not a timestamp or Int64.
pub fn event_times(col: &ArrayRef) -> Result<(ScalarBuffer<i64>, Option<NullBuffer>)> {
    let values = match col.data_type() {
        DataType::Int64 => col.as_primitive::<Int64Type>().values().clone(),
        DataType::Timestamp(TimeUnit::Second, _) => {
            col.as_primitive::<TimestampSecondType>().values().clone()
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => col
            .as_primitive::<TimestampMillisecondType>()
            .values()
            .clone(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => col
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .clone(),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => col
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .clone(),
        other => {
            return Err(Error::internal(format!(
                "event-time column of type {other}"
            )));
        }
    };
    Ok((values, col.logical_nulls().filter(|n| n.null_count() > 0)))
}

/// A batch's event times at a glance: found by one pass over the column before the
/// watermarks are known, so that screening (which needs the watermark) does not read
/// the column again when no row can be late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSpan {
    /// Smallest and largest non-NULL event time (`None`: no such row).
    pub min_max: Option<(i64, i64)>,
    /// Whether any event time is NULL.
    pub has_nulls: bool,
}

impl TimeSpan {
    /// The largest non-NULL event time.
    pub fn max(&self) -> Option<i64> {
        self.min_max.map(|m| m.1)
    }
}

/// The [`TimeSpan`] of an event-time column.
///
/// # Errors
/// A column that is not an event-time type.
pub fn time_span(col: &ArrayRef) -> Result<TimeSpan> {
    let (values, nulls) = event_times(col)?;
    let min_max = match &nulls {
        None => min_max_of(&values),
        // the valid rows come as runs: one vectorized pass per run
        Some(n) => n
            .inner()
            .set_slices()
            .filter_map(|(start, end)| min_max_of(&values[start..end]))
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1))),
    };
    Ok(TimeSpan {
        min_max,
        has_nulls: nulls.is_some(),
    })
}

/// The smallest and largest value of a slice, in one pass of eight independent lanes
/// (the compiler turns the lane loop into vector instructions; `Iterator::max` stays
/// scalar).
fn min_max_of(values: &[i64]) -> Option<(i64, i64)> {
    const LANES: usize = 8;
    let first = *values.first()?;
    let (mut lo, mut hi) = ([first; LANES], [first; LANES]);
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(chunk) {
            *l = (*l).min(v);
            *h = (*h).max(v);
        }
    }
    let min = lo.iter().chain(tail).fold(first, |a, &b| a.min(b));
    let max = hi.iter().chain(tail).fold(first, |a, &b| a.max(b));
    Some((min, max))
}

/// What the event-time check did with one raw input batch.
pub struct Screened {
    /// The rows that go on to the window operator.
    pub kept: RecordBatch,
    /// Rows dropped for a NULL event time (before WHERE).
    pub null_candidates: Option<RecordBatch>,
    /// Rows dropped as late (before WHERE).
    pub late_candidates: Option<RecordBatch>,
    /// The smallest event time among the kept rows (`None`: no row kept).
    pub kept_min: Option<i64>,
}

/// What the in-order merge learns about a batch before merging its partial state: the
/// watermarks around it and, when the worker screened it against a watermark that proved
/// too low (a kept row is late under the true one), the batch screened and pre-projected
/// again, to aggregate instead.
#[derive(Debug)]
pub struct Settle {
    /// Watermark before the batch.
    pub before: i64,
    /// Watermark after the batch.
    pub after: i64,
    /// The pre-projected batch to aggregate instead of the worker's.
    pub redo: Option<RecordBatch>,
}

/// Splits a raw batch into the rows the window operator takes and those it drops (NULL
/// event time, or late against watermark `wm` before the batch). The common case, with
/// neither, costs one pass over the time column and no copy.
///
/// # Errors
/// A time column of the wrong type.
pub fn screen(
    exec: &WindowExec,
    batch: &RecordBatch,
    span: &TimeSpan,
    wm: i64,
) -> Result<Screened> {
    let threshold = exec.shape.late_threshold(wm);
    let any_late = span.min_max.is_some_and(|(min, _)| min < threshold);
    if !span.has_nulls && !any_late {
        // the common case, decided without reading the column again
        return Ok(Screened {
            kept: batch.clone(),
            null_candidates: None,
            late_candidates: None,
            kept_min: span.min_max.map(|m| m.0),
        });
    }
    let col = batch.column(exec.input_time_index);
    let (values, nulls) = event_times(col)?;
    // bit masks built 64 rows at a time, combined with the validity bitmap
    let on_time = BooleanBuffer::collect_bool(values.len(), |i| values[i] >= threshold);
    let (keep, null_rows, late_rows) = match &nulls {
        None => (on_time.clone(), None, !&on_time),
        Some(valid) => (
            &on_time & valid.inner(),
            Some(BooleanArray::new(!valid.inner(), None)),
            &!&on_time & valid.inner(),
        ),
    };
    let keep = BooleanArray::new(keep, None);
    let late_rows = BooleanArray::new(late_rows, None);
    let pick = |mask: &BooleanArray| -> Result<Option<RecordBatch>> {
        if mask.true_count() == 0 {
            Ok(None)
        } else {
            Ok(Some(filter_record_batch(batch, mask)?))
        }
    };
    let kept_min = keep
        .values()
        .set_indices()
        .filter_map(|i| values.get(i).copied())
        .min();
    Ok(Screened {
        kept_min,
        kept: filter_record_batch(batch, &keep)?,
        null_candidates: match &null_rows {
            Some(mask) => pick(mask)?,
            None => None,
        },
        late_candidates: pick(&late_rows)?,
    })
}

/// The rows of `candidates` that pass WHERE (they would have reached the window).
///
/// # Errors
/// A failing WHERE evaluation.
pub fn passing_where(predicate: Option<&Expr>, candidates: RecordBatch) -> Result<RecordBatch> {
    match predicate {
        None => Ok(candidates),
        Some(p) => {
            let mask = p.evaluate_mask(&candidates)?;
            Ok(filter_record_batch(&candidates, &mask)?)
        }
    }
}

/// Sorts rows by the given columns ascending, NULLs last.
///
/// # Errors
/// Arrow sort errors.
pub fn sort_by_columns(batch: &RecordBatch, columns: &[usize]) -> Result<RecordBatch> {
    if columns.is_empty() || batch.num_rows() < 2 {
        return Ok(batch.clone());
    }
    let cols: Vec<SortColumn> = columns
        .iter()
        .map(|&i| SortColumn {
            values: batch.column(i).clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        })
        .collect();
    let idx = lexsort_to_indices(&cols, None)?;
    Ok(arrow::compute::take_record_batch(batch, &idx)?)
}

/// Builds a batch of `schema` from columns, allowing zero columns.
///
/// # Errors
/// Columns that do not match the schema.
pub fn batch_of(
    schema: &arrow::datatypes::SchemaRef,
    columns: Vec<ArrayRef>,
    rows: usize,
) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_span_skips_nulls_in_every_layout() {
        use arrow::array::Int64Array;
        use std::sync::Arc;
        // lengths around the 8-lane chunking, NULLs at the ends, in runs and alone
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000] {
            for null_every in [0usize, 1, 2, 3, 9] {
                let values: Vec<Option<i64>> = (0..len)
                    .map(|i| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        let v = (state % 2001) as i64 - 1000;
                        (null_every == 0 || i % null_every != 0).then_some(v)
                    })
                    .collect();
                let valid: Vec<i64> = values.iter().flatten().copied().collect();
                let expected = TimeSpan {
                    min_max: valid
                        .iter()
                        .min()
                        .zip(valid.iter().max())
                        .map(|(a, b)| (*a, *b)),
                    has_nulls: valid.len() < values.len(),
                };
                let col: ArrayRef = Arc::new(Int64Array::from(values));
                assert_eq!(
                    time_span(&col).ok(),
                    Some(expected),
                    "len {len}, null every {null_every}"
                );
            }
        }
    }

    #[test]
    fn floor_to_grid() {
        assert_eq!(floor_to(125, 60, 0), 120);
        assert_eq!(floor_to(-1, 60, 0), -60);
        assert_eq!(floor_to(125, 60, 10), 70);
        assert_eq!(floor_to(130, 60, 10), 130);
        assert_eq!(floor_to(i64::MIN, 7, 3), i64::MIN);
        assert_eq!(floor_to(i64::MAX, 1000, 0), i64::MAX - i64::MAX % 1000);
    }

    #[test]
    fn late_thresholds() {
        let tumbling = WindowShape::Panes {
            size: 60,
            slide: 60,
            pane: 60,
            offset: 0,
        };
        // wm 120: windows ending at or before 120 closed; [120,180) open
        assert_eq!(tumbling.late_threshold(120), 120);
        assert_eq!(tumbling.late_threshold(119), 60);
        let sliding = WindowShape::Panes {
            size: 60,
            slide: 20,
            pane: 20,
            offset: 0,
        };
        // a row at t lives until floor20(t) + 60; wm 100 closes rows below 60
        assert_eq!(sliding.late_threshold(100), 60);
        let session = WindowShape::Session { gap: 10 };
        // late ⟺ t + 10 ≤ 100 ⟺ t < 91
        assert_eq!(session.late_threshold(100), 91);
        assert_eq!(session.late_threshold(i64::MIN), i64::MIN);
    }
}

//! Hash aggregation building blocks: key interning into dense group ids, and columnar
//! accumulators that hold the state of every group of one aggregate as vectors.
//!
//! ```text
//!  key columns ──▶ GroupValues::intern ──▶ group ids (u32 per row, dense, first-seen order)
//!                                             │
//!  argument columns (evaluated) ──────────────┼──▶ GroupsAccumulator::update  (one per aggregate,
//!  FILTER (WHERE ...) mask ───────────────────┘      typed loop over (group id, value))
//!
//!  emission: GroupValues::emit(ids) ─▶ key columns ┐
//!            GroupsAccumulator::evaluate(ids) ─────┴─▶ result columns of those groups
//! ```
//!
//! The primary types are [`GroupValues`] (made by [`new_group_values`]) and
//! [`GroupsAccumulator`] (made by [`AggregateFunction::create_accumulator`]; result types
//! in [`function`]). Neither knows about windows, partitions or emission modes: the
//! executor owns one table and one set of accumulators per window (and partition), passes
//! `table.len()` as `total_groups`, and decides which group ids to emit. A global
//! aggregate (no GROUP BY) needs no table: every row is in group 0.
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{ArrayRef, AsArray, Float64Array, StringArray};
//! use arrow::datatypes::{DataType, Float64Type};
//! use velostream::aggregate::{AggregateFunction, new_group_values};
//!
//! let mut table = new_group_values(&[DataType::Utf8])?;
//! let mut avg = AggregateFunction::Avg.create_accumulator(&[DataType::Float64])?;
//! let keys: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "a"]));
//! let price: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 5.0, 3.0]));
//! let mut ids = Vec::new();
//! table.intern(&[keys], &mut ids)?;
//! avg.update(&[price], &ids, None, table.len())?;
//! let result = avg.evaluate(&[0, 1])?;
//! assert_eq!(result.as_primitive::<Float64Type>().values(), &[2.0, 5.0]);
//! # Ok::<(), velostream::Error>(())
//! ```
//!
//! Both work one batch at a time: they dispatch on the Arrow type once per batch, then run
//! a typed loop over the column's values; there is no per-row allocation, trait object or
//! dynamic value. Per-batch scratch vectors come from per-thread pools (`scratch`), so a
//! table or accumulator holds only its state.

pub mod accumulator;
mod arg_cast;
mod avg;
pub(crate) mod byte_arrays;
mod count;
mod distinct;
mod first_last;
pub mod function;
pub mod group_values;
mod hash_table;
mod hll;
mod min_max;
pub(crate) mod native;
mod null_arg;
mod percentile;
mod scratch;
mod sum;
mod variance;

pub use accumulator::{AlignedMerge, GroupsAccumulator};
pub use function::AggregateFunction;
pub use group_values::{GroupValues, emitted_key_type, new_group_values};

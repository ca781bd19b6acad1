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
//! [`GroupsAccumulator`] (made by [`AggregateFunction::create_accumulator`]). Neither knows
//! about windows, partitions or emission modes: the executor owns one table per window
//! (and partition) and decides which group ids to emit.
//!
//! Both work one batch at a time: they dispatch on the Arrow type once per batch, then run
//! a typed loop over the column's values; there is no per-row allocation, enum value or
//! trait object.

pub mod accumulator;
mod arg_cast;
mod avg;
mod byte_arrays;
mod count;
mod distinct;
mod first_last;
pub mod function;
pub mod group_values;
mod hash_table;
mod hll;
mod min_max;
mod native;
mod null_arg;
mod percentile;
mod scratch;
mod sum;
mod variance;

pub use accumulator::GroupsAccumulator;
pub use function::AggregateFunction;
pub use group_values::{GroupValues, emitted_key_type, new_group_values};

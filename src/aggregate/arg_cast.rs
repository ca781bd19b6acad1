//! Arguments normalised before an accumulator sees them: a dictionary argument is
//! unpacked to its value type, and a `Float16` one widened to `Float32` (exact), so that
//! each accumulator has one typed loop per value type. A `Float16` MIN/MAX/FIRST/LAST/
//! APPROX_PERCENTILE result is narrowed back (exact: it was a `Float16` value).
//!
//! ```text
//!  Dictionary(Int32, Utf8) ──cast──▶ Utf8 ──▶ inner accumulator ──▶ result (Utf8)
//!  Float16 ──cast──▶ Float32 ──▶ inner accumulator ──▶ Float32 ──cast──▶ Float16
//! ```
//! The unpacking costs one `take` per batch; COUNT and COUNT(DISTINCT) skip it (they read
//! dictionaries directly).

use std::any::Any;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;

use super::accumulator::{GroupsAccumulator, downcast_other};
use crate::error::Result;

/// An accumulator behind argument casts (and an optional result cast).
pub(crate) struct CastArgs {
    inner: Box<dyn GroupsAccumulator>,
    /// Per argument: the type to cast it to, or None to pass it as is.
    arg_casts: Vec<Option<DataType>>,
    result_cast: Option<DataType>,
    casted: Vec<ArrayRef>,
}

impl CastArgs {
    pub(crate) fn new(
        inner: Box<dyn GroupsAccumulator>,
        arg_casts: Vec<Option<DataType>>,
        result_cast: Option<DataType>,
    ) -> Self {
        CastArgs {
            inner,
            arg_casts,
            result_cast,
            casted: Vec::new(),
        }
    }
}

impl GroupsAccumulator for CastArgs {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        self.casted.clear();
        for (i, v) in values.iter().enumerate() {
            self.casted.push(match self.arg_casts.get(i) {
                Some(Some(t)) if v.data_type() != t => cast(v, t)?,
                _ => v.clone(),
            });
        }
        let result = self
            .inner
            .update(&self.casted, group_ids, filter, total_groups);
        self.casted.clear();
        result
    }

    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef> {
        let result = self.inner.evaluate(ids)?;
        Ok(match &self.result_cast {
            Some(t) => cast(&result, t)?,
            None => result,
        })
    }

    fn merge(
        &mut self,
        other: &dyn GroupsAccumulator,
        other_ids: &[u32],
        ids: &[u32],
        total_groups: usize,
    ) -> Result<()> {
        let other = downcast_other::<Self>(other)?;
        self.inner
            .merge(other.inner.as_ref(), other_ids, ids, total_groups)
    }

    fn size_bytes(&self) -> usize {
        self.inner.size_bytes()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        self.inner.clear();
    }
}

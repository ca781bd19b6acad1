//! Aggregates of an untyped `NULL` argument (`SUM(NULL)`, `MIN(NULL)`, ...): every group's
//! result is NULL, of the function's result type.

use std::any::Any;

use arrow::array::{ArrayRef, BooleanArray, new_null_array};
use arrow::datatypes::DataType;

use super::accumulator::{GroupsAccumulator, check_ids, check_merge, check_update, downcast_other};
use crate::error::Result;

/// All-NULL results of type `output`.
#[derive(Debug)]
pub(crate) struct NullArgAccumulator {
    args: usize,
    output: DataType,
    groups: usize,
}

impl NullArgAccumulator {
    pub(crate) fn new(args: usize, output: DataType) -> Self {
        NullArgAccumulator {
            args,
            output,
            groups: 0,
        }
    }
}

impl GroupsAccumulator for NullArgAccumulator {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        check_update(values, self.args, group_ids, filter)?;
        self.groups = self.groups.max(total_groups);
        Ok(())
    }

    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef> {
        check_ids(ids, self.groups)?;
        Ok(new_null_array(&self.output, ids.len()))
    }

    fn merge(
        &mut self,
        other: &dyn GroupsAccumulator,
        other_ids: &[u32],
        ids: &[u32],
        total_groups: usize,
    ) -> Result<()> {
        let other = downcast_other::<Self>(other)?;
        check_merge(other_ids, other.groups, ids, total_groups)?;
        self.groups = self.groups.max(total_groups);
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        0
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        self.groups = 0;
    }
}

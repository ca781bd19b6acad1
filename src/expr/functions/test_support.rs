//! Test helpers for the function families: literal and column expressions, and planning
//! plus evaluation of a call over a batch.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, NullArray, RecordBatch, RecordBatchOptions,
    StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};

use super::plan_function;
use crate::expr::{ColumnarValue, Expr};

/// A column reference.
pub fn col(index: usize, name: &str, data_type: DataType) -> Expr {
    Expr::Column {
        index,
        name: name.to_string(),
        data_type,
    }
}

/// A reference to column `index` of `columns` (typed from the array).
pub fn c(columns: &[ArrayRef], index: usize) -> Expr {
    col(
        index,
        &format!("c{index}"),
        columns[index].data_type().clone(),
    )
}

/// A literal from a one-element array.
pub fn lit(value: ArrayRef) -> Expr {
    Expr::Literal(value)
}

/// A BIGINT literal.
pub fn lit_i64(v: Option<i64>) -> Expr {
    lit(Arc::new(Int64Array::from(vec![v])))
}

/// A DOUBLE literal.
pub fn lit_f64(v: Option<f64>) -> Expr {
    lit(Arc::new(Float64Array::from(vec![v])))
}

/// A VARCHAR literal.
pub fn lit_str(v: Option<&str>) -> Expr {
    lit(Arc::new(StringArray::from(vec![v])))
}

/// The untyped NULL literal.
pub fn lit_null() -> Expr {
    lit(Arc::new(NullArray::new(1)))
}

/// A batch holding `columns` (named c0, c1, ...); one row and no columns when empty.
pub fn batch(columns: &[ArrayRef]) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .enumerate()
        .map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true))
        .collect();
    let rows = columns.first().map_or(1, |a| a.len());
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns.to_vec(),
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .expect("test batch")
}

/// Plans `name(args)` and evaluates it over `columns`, keeping the scalar/array shape.
pub fn eval_value(name: &str, args: Vec<Expr>, columns: &[ArrayRef]) -> ColumnarValue {
    let expr = plan_function(name, args)
        .unwrap_or_else(|e| panic!("planning {name}: {e}"))
        .unwrap_or_else(|| panic!("{name} is not a function"));
    let b = batch(columns);
    let value = expr
        .evaluate(&b)
        .unwrap_or_else(|e| panic!("evaluating {name}: {e}"));
    assert_eq!(
        value.data_type(),
        &expr.data_type(),
        "{name}: result type differs from the planned type"
    );
    value
}

/// Plans `name(args)` and evaluates it over `columns`, as an array of the batch's rows.
pub fn eval(name: &str, args: Vec<Expr>, columns: &[ArrayRef]) -> ArrayRef {
    let rows = columns.first().map_or(1, |a| a.len());
    eval_value(name, args, columns)
        .into_array(rows)
        .expect("into_array")
}

/// Plans `name(args)` and evaluates it, returning the execution error's text.
pub fn eval_error(name: &str, args: Vec<Expr>, columns: &[ArrayRef]) -> String {
    let expr = plan_function(name, args)
        .unwrap_or_else(|e| panic!("planning {name}: {e}"))
        .unwrap_or_else(|| panic!("{name} is not a function"));
    match expr.evaluate(&batch(columns)) {
        Ok(v) => panic!("{name} should fail, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

/// The planning error of `name(args)`, as text.
pub fn plan_error(name: &str, args: Vec<Expr>) -> String {
    match plan_function(name, args) {
        Ok(e) => panic!("{name} should not plan, got {e:?}"),
        Err(e) => e.to_string(),
    }
}

/// The result type `name(args)` is planned with.
pub fn planned_type(name: &str, args: Vec<Expr>) -> DataType {
    plan_function(name, args)
        .unwrap_or_else(|e| panic!("planning {name}: {e}"))
        .unwrap_or_else(|| panic!("{name} is not a function"))
        .data_type()
}

/// Builds an `ArrayRef` from anything that is an Arrow array.
pub fn arr<A: Array + 'static>(a: A) -> ArrayRef {
    Arc::new(a)
}

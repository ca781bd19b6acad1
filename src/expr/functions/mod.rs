//! Scalar functions of SPEC §3.3, each evaluated a whole column at a time.
//!
//! The planner calls [`plan_function`] with the upper-case name and the planned
//! arguments; it returns the bound [`Expr::Function`] (arguments wrapped in casts to the
//! types the function wants), an error naming the wrong argument types, or `None` for
//! a name that is not a scalar function.
//!
//! ```text
//!   plan_function(name, args) ──▶ family planner (conditional / math / string / datetime)
//!        checks arity and types, inserts CAST nodes, reads constant arguments,
//!        fixes the result type
//!                                   │
//!                                   ▼
//!   Expr::Function { func: Arc<dyn ScalarFunction>, args }
//!        invoke(&[ColumnarValue], num_rows) — once per batch: one match on the Arrow
//!        type, then an Arrow kernel or a typed loop; scalars stay scalars
//! ```
//!
//! Families, one file each: `conditional` (COALESCE, NULLIF, LEAST, GREATEST), `math`
//! (ABS, ROUND, FLOOR, CEIL, SQRT, POWER, LN, EXP), `string` (UPPER, LOWER, LENGTH,
//! SUBSTRING, TRIM, CONCAT, REPLACE, SPLIT_PART) and `datetime` (DATE_PART / EXTRACT,
//! DATE_TRUNC, EPOCH_MS, TO_TIMESTAMP_MILLIS). Semantics (types, NULLs, edge
//! cases) follow DuckDB; the few deliberate differences are listed in each family's doc.

mod calendar;
mod conditional;
mod datetime;
mod math;
mod operand;
mod signature;
mod string;
mod string_column;
#[cfg(test)]
mod test_support;

use crate::error::Result;
use crate::expr::Expr;

/// Names of every scalar function (upper case, aliases included), for "did you mean"
/// suggestions.
pub const FUNCTION_NAMES: &[&str] = &[
    // conditional
    "COALESCE",
    "NULLIF",
    "LEAST",
    "GREATEST",
    // math
    "ABS",
    "ROUND",
    "FLOOR",
    "CEIL",
    "CEILING",
    "SQRT",
    "POWER",
    "POW",
    "LN",
    "EXP",
    // string
    "UPPER",
    "UCASE",
    "LOWER",
    "LCASE",
    "LENGTH",
    "CHAR_LENGTH",
    "CHARACTER_LENGTH",
    "SUBSTRING",
    "SUBSTR",
    "TRIM",
    "LTRIM",
    "RTRIM",
    "CONCAT",
    "REPLACE",
    "SPLIT_PART",
    // date and time
    "DATE_PART",
    "DATEPART",
    "DATE_TRUNC",
    "DATETRUNC",
    "EPOCH_MS",
    "TO_TIMESTAMP_MILLIS",
];

/// Binds a scalar function call.
///
/// `name` is the upper-case SQL name; `args` are planned, typed expressions. Constant
/// arguments that select behaviour (the DATE_PART field, the DATE_TRUNC unit, the
/// ROUND precision of a DECIMAL) must be constant expressions.
///
/// Returns `Ok(None)` when `name` is not a scalar function. The result is usually an
/// [`Expr::Function`]; a call whose result is NULL whatever the input (for example
/// `DATE_TRUNC(NULL, ts)`) is planned as a NULL [`Expr::Literal`] of the result type.
///
/// # Errors
/// [`crate::Error::Plan`] for wrong argument counts or types, with a message of the form
/// `function ROUND does not accept (VARCHAR); expected (numeric [, INTEGER])`, and for
/// bad constant arguments (an unknown DATE_PART field).
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Float64Array, RecordBatch};
/// use velostream::expr::{Expr, functions::plan_function};
///
/// let arg = Expr::Literal(Arc::new(Float64Array::from(vec![2.5])));
/// let expr = plan_function("ROUND", vec![arg]).unwrap().unwrap();
/// let batch = RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()));
/// let value = expr.evaluate(&batch).unwrap().into_array(1).unwrap();
/// let value = value.as_any().downcast_ref::<Float64Array>().unwrap();
/// assert_eq!(value.value(0), 3.0); // half away from zero, as in DuckDB
/// ```
pub fn plan_function(name: &str, args: Vec<Expr>) -> Result<Option<Expr>> {
    let name = name.to_ascii_uppercase();
    let name = name.as_str();
    if conditional::NAMES.contains(&name) {
        conditional::plan(name, args).map(Some)
    } else if math::NAMES.contains(&name) {
        math::plan(name, args).map(Some)
    } else if string::NAMES.contains(&name) {
        string::plan(name, args).map(Some)
    } else if datetime::NAMES.contains(&name) {
        datetime::plan(name, args).map(Some)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::functions::test_support::*;

    #[test]
    fn every_listed_name_is_planned_and_every_family_name_is_listed() {
        let families = [
            conditional::NAMES,
            math::NAMES,
            string::NAMES,
            datetime::NAMES,
        ];
        let all: Vec<&str> = families.iter().flat_map(|f| f.iter().copied()).collect();
        let variadic = ["COALESCE", "LEAST", "GREATEST", "CONCAT"];
        for name in FUNCTION_NAMES {
            assert!(all.contains(name), "{name} has no planner");
            // every function rejects a wrong argument count, naming itself
            let count = if variadic.contains(name) { 0 } else { 9 };
            let args = (0..count).map(|_| lit_i64(Some(1))).collect();
            let err = plan_function(name, args).unwrap_err().to_string();
            assert!(
                err.contains(&format!("function {name} does not accept")),
                "{name}: {err}"
            );
        }
        for name in &all {
            assert!(FUNCTION_NAMES.contains(name), "{name} is not listed");
        }
        // names are upper case and unique
        let mut sorted = FUNCTION_NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), FUNCTION_NAMES.len());
        assert!(FUNCTION_NAMES.iter().all(|n| *n == n.to_ascii_uppercase()));
    }

    #[test]
    fn unknown_names_are_not_functions() {
        assert!(plan_function("NOW", vec![]).unwrap().is_none());
        assert!(
            plan_function("SUM", vec![lit_i64(Some(1))])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn lower_case_names_are_accepted() {
        let e = plan_function("upper", vec![lit_str(Some("a"))])
            .unwrap()
            .unwrap();
        assert_eq!(e.to_string(), "UPPER('a')");
    }
}

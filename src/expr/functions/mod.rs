//! Scalar functions of SPEC §3.3, each evaluated a whole column at a time.
//!
//! The planner calls [`plan_function`] with the upper-case name and the planned
//! arguments; it returns the bound [`Expr::Function`] (arguments wrapped in casts to the
//! types the function wants), an error naming the wrong argument types, or `None` for
//! a name that is not a scalar function.

use crate::error::Result;
use crate::expr::Expr;

/// Names of every scalar function, for "did you mean" suggestions.
pub const FUNCTION_NAMES: &[&str] = &[];

/// Binds a scalar function call.
///
/// # Errors
/// [`crate::Error::Plan`] for wrong argument counts or types.
pub fn plan_function(name: &str, args: Vec<Expr>) -> Result<Option<Expr>> {
    let _ = (name, args);
    Ok(None)
}

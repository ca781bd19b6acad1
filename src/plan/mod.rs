//! Logical planning: a parsed query plus the input schemas become a typed plan with every
//! name resolved and every implicit cast made explicit.
//!
//! ```text
//!  ParsedQuery ─planner::plan_query─▶ QueryPlan { LogicalPlan tree, resolved options }
//!                                         │ explain::explain (velo explain)
//!                                         ▼
//!                                    exec::PhysicalPlan
//! ```

pub mod aggregate;
pub mod analytic;
pub mod explain;
pub mod expr_planner;
pub mod logical;
pub mod planner;
pub mod scope;
pub mod sql_types;
pub mod window;

pub use logical::{LogicalPlan, QueryPlan, ResolvedOptions};
pub use planner::plan_query;

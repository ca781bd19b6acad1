//! Property tests: the engine against a row-at-a-time reference model of SELECT/WHERE.
//!
//! ```text
//!  proptest ─▶ random table ─┬─▶ reference::run (one row at a time, DuckDB rules) ─▶ Outcome
//!             random choices ─┤                                                        │ equal?
//!             ─▶ Query (AST + ├─▶ SQL text ─▶ Engine::query ─▶ push_batches (random     │
//!                its SQL)     │               splits, 1 or 2 partitions) ─▶ finish ─────┘
//! ```
//!
//! The generator draws an expression tree from a sequence of random numbers (so that
//! proptest shrinks a failure towards short sequences, i.e. small expressions) and
//! prints it as fully parenthesised SQL, so the very same query runs through the
//! engine and through the reference evaluator below.
//!
//! Semantics of the reference (DuckDB's, as the engine documents them): `/` is a
//! DOUBLE division; `/` by zero is ±inf/NaN (IEEE, as DuckDB >= 1.1), integer `%` by
//! zero is NULL; integer overflow is an error
//! (INTEGER arithmetic overflows at 32 bits, BIGINT at 64); AND/OR/NOT use
//! three-valued logic; CASE evaluates only the branch it takes. Where DuckDB leaves
//! it open whether an error is raised (an error inside an AND/OR operand, which a
//! filter may skip), the reference accepts either outcome.
//!
//! Knobs (environment variables):
//! - `VELO_REF_CASES=N`: run N cases instead of 64.
//! - `VELO_REF_AVOID=a,b,...`: steer around known engine disagreements so that the
//!   search can find the next one while those are being fixed:
//!   `dict_like` (LIKE on a dictionary column), `null_case` (a CASE whose branches
//!   are all bare NULLs), `negative_zero` (-0.0 compared with 0.0, or as a divisor),
//!   `constant_on_empty` (a failing constant subexpression over no rows),
//!   `case_lazy` / `coalesce_lazy` (errors in CASE branches / COALESCE arguments that
//!   DuckDB never evaluates).
//!
//! COALESCE and ABS are generated only when the engine knows them (the scalar
//! functions module is merged).

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float64Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef};
use proptest::prelude::*;
use velostream::{Engine, QueryOptions};

// ---------------------------------------------------------------------------------
// Values and types
// ---------------------------------------------------------------------------------

/// One SQL value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

/// Static type of an expression. INTEGER and BIGINT are told apart because they
/// overflow at different widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    I32,
    I64,
    F64,
    Str,
    Bool,
}

impl Ty {
    fn is_int(self) -> bool {
        matches!(self, Ty::I32 | Ty::I64)
    }
    /// The common type of two numeric types (or of equal types).
    fn common(a: Ty, b: Ty) -> Ty {
        match (a, b) {
            _ if a == b => a,
            (Ty::F64, _) | (_, Ty::F64) => Ty::F64,
            _ => Ty::I64,
        }
    }
    fn sql_name(self) -> &'static str {
        match self {
            Ty::I32 => "INTEGER",
            Ty::I64 => "BIGINT",
            Ty::F64 => "DOUBLE",
            Ty::Str => "VARCHAR",
            Ty::Bool => "BOOLEAN",
        }
    }
}

/// The kind of expression the generator is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Int,
    Float,
    Str,
    Bool,
}

// ---------------------------------------------------------------------------------
// The reference model's expression AST
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Distinct,
    NotDistinct,
}

#[derive(Debug, Clone)]
enum Expr {
    Column {
        index: usize,
        ty: Ty,
    },
    /// A literal; `ty` is its SQL type (`Ty::I32` for integers that fit 32 bits).
    Literal {
        value: Value,
        ty: Ty,
    },
    /// `NULL` without a type (only where the other operands give it one).
    BareNull,
    Arith(Arith, Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: String,
        negated: bool,
        case_insensitive: bool,
    },
    Concat(Box<Expr>, Box<Expr>),
    Case {
        branches: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
        ty: Ty,
    },
    Coalesce {
        args: Vec<Expr>,
        ty: Ty,
    },
    Abs(Box<Expr>),
}

impl Expr {
    fn ty(&self) -> Ty {
        match self {
            Expr::Column { ty, .. } | Expr::Literal { ty, .. } => *ty,
            Expr::BareNull => Ty::Bool,
            Expr::Arith(op, l, r) => {
                if *op == Arith::Div {
                    Ty::F64
                } else {
                    Ty::common(l.ty(), r.ty())
                }
            }
            Expr::Neg(e) | Expr::Abs(e) => e.ty(),
            Expr::Cmp(..)
            | Expr::And(..)
            | Expr::Or(..)
            | Expr::Not(_)
            | Expr::IsNull { .. }
            | Expr::Between { .. }
            | Expr::InList { .. }
            | Expr::Like { .. } => Ty::Bool,
            Expr::Concat(..) => Ty::Str,
            Expr::Case { ty, .. } | Expr::Coalesce { ty, .. } => *ty,
        }
    }

    fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Column { .. } | Expr::Literal { .. } | Expr::BareNull => vec![],
            Expr::Arith(_, l, r)
            | Expr::Cmp(_, l, r)
            | Expr::And(l, r)
            | Expr::Or(l, r)
            | Expr::Concat(l, r) => vec![l, r],
            Expr::Neg(e) | Expr::Abs(e) | Expr::Not(e) => vec![e],
            Expr::IsNull { expr, .. } | Expr::Like { expr, .. } => vec![expr],
            Expr::Between {
                expr, low, high, ..
            } => vec![expr, low, high],
            Expr::InList { expr, list, .. } => std::iter::once(&**expr).chain(list).collect(),
            Expr::Case {
                branches,
                otherwise,
                ..
            } => branches
                .iter()
                .flat_map(|(w, t)| [w, t])
                .chain(otherwise.as_deref())
                .collect(),
            Expr::Coalesce { args, .. } => args.iter().collect(),
        }
    }

    fn is_constant(&self) -> bool {
        !matches!(self, Expr::Column { .. }) && self.children().iter().all(|c| c.is_constant())
    }

    /// Whether a subtree without column references fails to evaluate.
    fn has_failing_constant(&self) -> bool {
        if self.is_constant() {
            return eval(self, &[]).is_err();
        }
        self.children().iter().any(|c| c.has_failing_constant())
    }

    /// Fully parenthesised SQL.
    fn sql(&self, columns: &[&str]) -> String {
        let s = |e: &Expr| e.sql(columns);
        match self {
            Expr::Column { index, .. } => columns[*index].to_string(),
            Expr::Literal { value, ty } => literal_sql(value, *ty),
            Expr::BareNull => "NULL".into(),
            Expr::Arith(op, l, r) => {
                let o = match op {
                    Arith::Add => "+",
                    Arith::Sub => "-",
                    Arith::Mul => "*",
                    Arith::Div => "/",
                    Arith::Mod => "%",
                };
                format!("({} {o} {})", s(l), s(r))
            }
            Expr::Neg(e) => format!("(- {})", s(e)),
            Expr::Cmp(op, l, r) => {
                let o = match op {
                    Cmp::Eq => "=",
                    Cmp::NotEq => "<>",
                    Cmp::Lt => "<",
                    Cmp::LtEq => "<=",
                    Cmp::Gt => ">",
                    Cmp::GtEq => ">=",
                    Cmp::Distinct => "IS DISTINCT FROM",
                    Cmp::NotDistinct => "IS NOT DISTINCT FROM",
                };
                format!("({} {o} {})", s(l), s(r))
            }
            Expr::And(l, r) => format!("({} AND {})", s(l), s(r)),
            Expr::Or(l, r) => format!("({} OR {})", s(l), s(r)),
            Expr::Not(e) => format!("(NOT {})", s(e)),
            Expr::IsNull { expr, negated } => {
                format!(
                    "({} IS {}NULL)",
                    s(expr),
                    if *negated { "NOT " } else { "" }
                )
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => format!(
                "({} {}BETWEEN {} AND {})",
                s(expr),
                if *negated { "NOT " } else { "" },
                s(low),
                s(high)
            ),
            Expr::InList {
                expr,
                list,
                negated,
            } => format!(
                "({} {}IN ({}))",
                s(expr),
                if *negated { "NOT " } else { "" },
                list.iter().map(s).collect::<Vec<_>>().join(", ")
            ),
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => format!(
                "({} {}{} '{pattern}')",
                s(expr),
                if *negated { "NOT " } else { "" },
                if *case_insensitive { "ILIKE" } else { "LIKE" }
            ),
            Expr::Concat(l, r) => format!("({} || {})", s(l), s(r)),
            Expr::Case {
                branches,
                otherwise,
                ..
            } => {
                let mut out = String::from("(CASE");
                for (w, t) in branches {
                    let _ = write!(out, " WHEN {} THEN {}", s(w), s(t));
                }
                if let Some(e) = otherwise {
                    let _ = write!(out, " ELSE {}", s(e));
                }
                out.push_str(" END)");
                out
            }
            Expr::Coalesce { args, .. } => format!(
                "COALESCE({})",
                args.iter().map(s).collect::<Vec<_>>().join(", ")
            ),
            Expr::Abs(e) => format!("ABS({})", s(e)),
        }
    }
}

fn literal_sql(value: &Value, ty: Ty) -> String {
    match value {
        Value::Null => format!("CAST(NULL AS {})", ty.sql_name()),
        Value::Int(v) if *v < 0 => format!("(-{})", v.unsigned_abs()),
        Value::Int(v) => v.to_string(),
        // exponent notation: a DOUBLE literal (a plain `2.5` would be a DECIMAL)
        Value::Float(v) if *v < 0.0 => format!("(-{:e})", -v),
        Value::Float(v) => format!("{v:e}"),
        Value::Str(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Bool(b) => b.to_string(),
    }
}

// ---------------------------------------------------------------------------------
// The reference evaluator
// ---------------------------------------------------------------------------------

/// Why a value could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// DuckDB raises an error (overflow).
    Error,
    /// DuckDB may or may not raise an error (an error inside AND/OR).
    Maybe,
}

type Eval = Result<Value, Fault>;

fn eval(e: &Expr, row: &[Value]) -> Eval {
    match eval_node(e, row)? {
        // with `negative_zero` avoided, a row that meets -0.0 may give anything
        Value::Float(f) if f == 0.0 && f.is_sign_negative() && negative_zero_avoided() => {
            Err(Fault::Maybe)
        }
        v => Ok(v),
    }
}

fn eval_node(e: &Expr, row: &[Value]) -> Eval {
    match e {
        Expr::Column { index, .. } => Ok(row[*index].clone()),
        Expr::Literal { value, .. } => Ok(value.clone()),
        Expr::BareNull => Ok(Value::Null),
        Expr::Arith(op, l, r) => {
            let (a, b) = (eval(l, row)?, eval(r, row)?);
            arith(*op, &a, &b, e.ty())
        }
        Expr::Neg(x) => match eval(x, row)? {
            Value::Null => Ok(Value::Null),
            Value::Int(v) => int_result(v.checked_neg(), x.ty()),
            Value::Float(v) => Ok(Value::Float(-v)),
            other => panic!("negation of {other:?}"),
        },
        Expr::Abs(x) => match eval(x, row)? {
            Value::Null => Ok(Value::Null),
            Value::Int(v) => int_result(v.checked_abs(), x.ty()),
            Value::Float(v) => Ok(Value::Float(v.abs())),
            other => panic!("ABS of {other:?}"),
        },
        Expr::Cmp(op, l, r) => {
            let (a, b) = (eval(l, row)?, eval(r, row)?);
            Ok(compare(*op, &a, &b))
        }
        Expr::And(l, r) | Expr::Or(l, r) => {
            let (a, b) = (eval(l, row), eval(r, row));
            let (a, b) = match (a, b) {
                (Ok(a), Ok(b)) => (a, b),
                _ => return Err(Fault::Maybe),
            };
            Ok(if matches!(e, Expr::And(..)) {
                kleene_and(&a, &b)
            } else {
                kleene_or(&a, &b)
            })
        }
        Expr::Not(x) => Ok(match eval(x, row)? {
            Value::Bool(b) => Value::Bool(!b),
            _ => Value::Null,
        }),
        Expr::IsNull { expr, negated } => {
            let v = eval(expr, row)?;
            Ok(Value::Bool((v == Value::Null) != *negated))
        }
        Expr::Between {
            expr,
            low,
            high,
            negated,
        } => {
            let (v, lo, hi) = (eval(expr, row)?, eval(low, row)?, eval(high, row)?);
            let r = kleene_and(&compare(Cmp::GtEq, &v, &lo), &compare(Cmp::LtEq, &v, &hi));
            Ok(if *negated { not(&r) } else { r })
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let v = eval(expr, row)?;
            let mut acc = Value::Bool(false);
            for item in list {
                let c = eval(item, row)?;
                acc = kleene_or(&acc, &compare(Cmp::Eq, &v, &c));
            }
            Ok(if *negated { not(&acc) } else { acc })
        }
        Expr::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
        } => Ok(match eval(expr, row)? {
            Value::Str(s) => {
                let m = if *case_insensitive {
                    like(&s.to_lowercase(), &pattern.to_lowercase())
                } else {
                    like(&s, pattern)
                };
                Value::Bool(m != *negated)
            }
            _ => Value::Null,
        }),
        Expr::Concat(l, r) => {
            let (a, b) = (eval(l, row)?, eval(r, row)?);
            Ok(match (a, b) {
                (Value::Str(a), Value::Str(b)) => Value::Str(a + &b),
                _ => Value::Null,
            })
        }
        Expr::Case {
            branches,
            otherwise,
            ..
        } => {
            if eager_case() {
                // with `case_lazy` avoided: every branch is evaluated, as the engine does
                for (when, then) in branches {
                    eval(when, row)?;
                    eval(then, row)?;
                }
                if let Some(x) = otherwise {
                    eval(x, row)?;
                }
            }
            // only the branch taken is evaluated
            for (when, then) in branches {
                if eval(when, row)? == Value::Bool(true) {
                    return eval(then, row);
                }
            }
            match otherwise {
                Some(x) => eval(x, row),
                None => Ok(Value::Null),
            }
        }
        Expr::Coalesce { args, .. } => {
            if eager_coalesce() {
                // with `coalesce_lazy` avoided: every argument is evaluated
                for a in args {
                    eval(a, row)?;
                }
            }
            for a in args {
                let v = eval(a, row)?;
                if v != Value::Null {
                    return Ok(v);
                }
            }
            Ok(Value::Null)
        }
    }
}

/// An integer result of type `ty`: `None` (or a value outside `ty`) is an overflow.
fn int_result(v: Option<i64>, ty: Ty) -> Eval {
    match v {
        Some(v) if ty != Ty::I32 || i32::try_from(v).is_ok() => Ok(Value::Int(v)),
        _ => Err(Fault::Error),
    }
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        other => panic!("not a number: {other:?}"),
    }
}

fn arith(op: Arith, a: &Value, b: &Value, result: Ty) -> Eval {
    if *a == Value::Null || *b == Value::Null {
        return Ok(Value::Null);
    }
    if let (Value::Int(x), Value::Int(y), true) = (a, b, result.is_int()) {
        let (x, y) = (*x, *y);
        return match op {
            Arith::Add => int_result(x.checked_add(y), result),
            Arith::Sub => int_result(x.checked_sub(y), result),
            Arith::Mul => int_result(x.checked_mul(y), result),
            Arith::Mod if y == 0 => Ok(Value::Null),
            Arith::Mod => int_result(x.checked_rem(y), result),
            Arith::Div => unreachable!("`/` is typed DOUBLE"),
        };
    }
    let (x, y) = (as_f64(a), as_f64(b));
    Ok(match op {
        Arith::Add => Value::Float(x + y),
        Arith::Sub => Value::Float(x - y),
        Arith::Mul => Value::Float(x * y),
        // DuckDB >= 1.1 (IEEE-754): x / 0.0 is ±inf or NaN, x % 0.0 is NaN
        Arith::Div => Value::Float(x / y),
        Arith::Mod => Value::Float(x % y),
    })
}

/// SQL ordering of two non-NULL values of comparable types.
fn order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => {
            // DuckDB: NaN equals NaN and sorts above every other value
            let (x, y) = (as_f64(a), as_f64(b));
            match (x.is_nan(), y.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            }
        }
    }
}

/// With `negative_zero` avoided, any row whose evaluation meets -0.0 may give any
/// result (the engine tells -0.0 from 0.0 in some comparisons and zero-divisor tests;
/// DuckDB never does).
fn negative_zero_avoided() -> bool {
    static AVOIDED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVOIDED.get_or_init(|| avoid().iter().any(|a| a == "negative_zero"))
}

/// With `case_lazy` avoided, the reference evaluates every CASE branch (as the
/// engine does), so that an error in a branch not taken is not reported again.
fn eager_case() -> bool {
    static AVOIDED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVOIDED.get_or_init(|| avoid().iter().any(|a| a == "case_lazy"))
}

/// With `coalesce_lazy` avoided, the reference evaluates every COALESCE argument.
fn eager_coalesce() -> bool {
    static AVOIDED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVOIDED.get_or_init(|| avoid().iter().any(|a| a == "coalesce_lazy"))
}

fn compare(op: Cmp, a: &Value, b: &Value) -> Value {
    let null = *a == Value::Null || *b == Value::Null;
    match op {
        Cmp::Distinct | Cmp::NotDistinct => {
            let same = match (a, b) {
                (Value::Null, Value::Null) => true,
                _ if null => false,
                _ => order(a, b) == Ordering::Equal,
            };
            Value::Bool(same == (op == Cmp::NotDistinct))
        }
        _ if null => Value::Null,
        _ => {
            let o = order(a, b);
            Value::Bool(match op {
                Cmp::Eq => o == Ordering::Equal,
                Cmp::NotEq => o != Ordering::Equal,
                Cmp::Lt => o == Ordering::Less,
                Cmp::LtEq => o != Ordering::Greater,
                Cmp::Gt => o == Ordering::Greater,
                Cmp::GtEq => o != Ordering::Less,
                Cmp::Distinct | Cmp::NotDistinct => unreachable!(),
            })
        }
    }
}

fn kleene_and(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
        (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
        _ => Value::Null,
    }
}

fn kleene_or(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Bool(true), _) | (_, Value::Bool(true)) => Value::Bool(true),
        (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
        _ => Value::Null,
    }
}

fn not(v: &Value) -> Value {
    match v {
        Value::Bool(b) => Value::Bool(!b),
        _ => Value::Null,
    }
}

/// LIKE with `%` (any run) and `_` (one character); no escape character.
fn like(s: &str, pattern: &str) -> bool {
    fn go(s: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| go(&s[i..], rest)),
            Some(('_', rest)) => !s.is_empty() && go(&s[1..], rest),
            Some((c, rest)) => s.first() == Some(c) && go(&s[1..], rest),
        }
    }
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    go(&s, &p)
}

/// What a query gives.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Rows(Vec<Vec<Value>>),
    Error,
    /// DuckDB may give rows or an error.
    Either,
}

/// A generated query.
#[derive(Debug, Clone)]
struct QuerySpec {
    select: Vec<Expr>,
    filter: Option<Expr>,
}

impl QuerySpec {
    fn sql(&self, table: &str, columns: &[&str]) -> String {
        let list: Vec<String> = self
            .select
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{} AS c{i}", e.sql(columns)))
            .collect();
        let mut sql = format!("SELECT {} FROM {table}", list.join(", "));
        if let Some(f) = &self.filter {
            let _ = write!(sql, " WHERE {}", f.sql(columns));
        }
        sql
    }

    /// The reference answer, one row at a time.
    fn run_reference(&self, rows: &[Vec<Value>]) -> Outcome {
        let mut out = Vec::new();
        let mut maybe = false;
        for row in rows {
            let keep = match &self.filter {
                None => true,
                Some(f) => match eval(f, row) {
                    Ok(v) => v == Value::Bool(true),
                    Err(Fault::Error) => return Outcome::Error,
                    Err(Fault::Maybe) => {
                        maybe = true;
                        continue;
                    }
                },
            };
            if !keep {
                continue;
            }
            let mut values = Vec::with_capacity(self.select.len());
            for e in &self.select {
                match eval(e, row) {
                    Ok(v) => values.push(v),
                    Err(Fault::Error) => return Outcome::Error,
                    Err(Fault::Maybe) => {
                        maybe = true;
                        values.push(Value::Null);
                    }
                }
            }
            out.push(values);
        }
        if maybe {
            Outcome::Either
        } else {
            Outcome::Rows(out)
        }
    }
}

// ---------------------------------------------------------------------------------
// The generator: a random expression tree from a sequence of choices
// ---------------------------------------------------------------------------------

/// Random choices; past the end every choice is 0, which always means the simplest
/// option (a column), so shrinking the sequence shrinks the expression.
struct Choices<'a> {
    data: &'a [u32],
    pos: usize,
}

impl Choices<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let v = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v as usize % n
    }
    fn from<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.pick(items.len())].clone()
    }
}

/// The columns of the generated table (name, SQL type).
const COLUMNS: &[(&str, Ty)] = &[
    ("a", Ty::I64),
    ("b", Ty::F64),
    ("s", Ty::Str),
    ("ds", Ty::Str),
];

const INT_LITERALS: &[i64] = &[
    0,
    1,
    2,
    3,
    -1,
    7,
    10,
    65536,
    2_147_483_647,
    4_611_686_018_427_387_904,
    -4_611_686_018_427_387_904,
    9_223_372_036_854_775_807,
];
const FLOAT_LITERALS: &[f64] = &[0.0, 0.5, 1.0, -1.0, 2.5, -3.25, 100.0];
const STRINGS: &[&str] = &["", "a", "b", "ab", "ba", "abc", "B"];
const PATTERNS: &[&str] = &["%", "a%", "%b", "_", "a_", "%a%", "ab", "_b%", "", "A%"];

struct Generator<'a> {
    choices: Choices<'a>,
    /// COALESCE and ABS exist in the engine (the functions module is merged).
    functions: bool,
    /// Known engine bugs to steer around (see [`avoid`]).
    avoid: Vec<String>,
    /// Do not reference the dictionary column (inside LIKE, with `dict_like` avoided).
    no_dict: bool,
}

/// `VELO_REF_AVOID=name,name`: known engine bugs the generator steers around, so
/// that the property can find the next bug while one is being fixed. Empty by
/// default: the property tests everything.
fn avoid() -> Vec<String> {
    std::env::var("VELO_REF_AVOID")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Generator<'_> {
    fn avoids(&self, bug: &str) -> bool {
        self.avoid.iter().any(|a| a == bug)
    }

    fn column(&mut self, class: Class) -> Expr {
        let index = match class {
            Class::Int => 0,
            Class::Float => 1,
            Class::Str if self.no_dict => 2,
            Class::Str => 2 + self.choices.pick(2),
            Class::Bool => unreachable!("no BOOLEAN column"),
        };
        Expr::Column {
            index,
            ty: COLUMNS[index].1,
        }
    }

    fn literal(&mut self, class: Class) -> Expr {
        match class {
            Class::Int => {
                let v = self.choices.from(INT_LITERALS);
                let ty = if i32::try_from(v).is_ok() {
                    Ty::I32
                } else {
                    Ty::I64
                };
                Expr::Literal {
                    value: Value::Int(v),
                    ty,
                }
            }
            Class::Float => Expr::Literal {
                value: Value::Float(self.choices.from(FLOAT_LITERALS)),
                ty: Ty::F64,
            },
            Class::Str => Expr::Literal {
                value: Value::Str(self.choices.from(STRINGS).to_string()),
                ty: Ty::Str,
            },
            Class::Bool => match self.choices.pick(3) {
                0 => Expr::Literal {
                    value: Value::Bool(true),
                    ty: Ty::Bool,
                },
                1 => Expr::Literal {
                    value: Value::Bool(false),
                    ty: Ty::Bool,
                },
                _ => Expr::BareNull,
            },
        }
    }

    fn typed_null(&mut self, class: Class) -> Expr {
        let ty = match class {
            Class::Int => Ty::I64,
            Class::Float => Ty::F64,
            Class::Str => Ty::Str,
            Class::Bool => Ty::Bool,
        };
        Expr::Literal {
            value: Value::Null,
            ty,
        }
    }

    fn leaf(&mut self, class: Class) -> Expr {
        match (class, self.choices.pick(6)) {
            (Class::Bool, _) => {
                let c = self.choices.from(&[Class::Int, Class::Float, Class::Str]);
                let l = self.leaf(c);
                let r = self.leaf(c);
                Expr::Cmp(self.cmp_op(), Box::new(l), Box::new(r))
            }
            (_, 0..=2) => self.column(class),
            (_, 3 | 4) => self.literal(class),
            _ => self.typed_null(class),
        }
    }

    fn cmp_op(&mut self) -> Cmp {
        self.choices.from(&[
            Cmp::Eq,
            Cmp::NotEq,
            Cmp::Lt,
            Cmp::LtEq,
            Cmp::Gt,
            Cmp::GtEq,
            Cmp::Distinct,
            Cmp::NotDistinct,
        ])
    }

    fn expr(&mut self, class: Class, depth: usize) -> Expr {
        if depth == 0 {
            return self.leaf(class);
        }
        let d = depth - 1;
        match class {
            Class::Int => match self.choices.pick(8) {
                0 | 1 => self.leaf(class),
                2 | 3 => {
                    let op = self
                        .choices
                        .from(&[Arith::Add, Arith::Sub, Arith::Mul, Arith::Mod]);
                    let (l, r) = (self.expr(Class::Int, d), self.expr(Class::Int, d));
                    self.arith(op, l, r)
                }
                4 => Expr::Neg(Box::new(self.expr(Class::Int, d))),
                5 => self.case(class, d),
                6 if self.functions => self.coalesce(class, d),
                7 if self.functions => Expr::Abs(Box::new(self.expr(Class::Int, d))),
                _ => self.leaf(class),
            },
            Class::Float => match self.choices.pick(8) {
                0 | 1 => self.leaf(class),
                2 | 3 => {
                    let op = self.choices.from(&[
                        Arith::Add,
                        Arith::Sub,
                        Arith::Mul,
                        Arith::Div,
                        Arith::Mod,
                    ]);
                    // one operand may be an integer: it is widened to DOUBLE
                    let lc = self.choices.from(&[Class::Float, Class::Int]);
                    let l = self.expr(lc, d);
                    let r = self.expr(Class::Float, d);
                    if self.choices.pick(2) == 0 {
                        self.arith(op, l, r)
                    } else {
                        self.arith(op, r, l)
                    }
                }
                4 => {
                    // integer / integer is a DOUBLE division
                    let (l, r) = (self.expr(Class::Int, d), self.expr(Class::Int, d));
                    self.arith(Arith::Div, l, r)
                }
                5 => Expr::Neg(Box::new(self.expr(Class::Float, d))),
                6 => self.case(class, d),
                7 if self.functions => self.coalesce(class, d),
                _ => self.leaf(class),
            },
            Class::Str => match self.choices.pick(5) {
                0 | 1 => self.leaf(class),
                2 => {
                    let (l, r) = (self.expr(Class::Str, d), self.expr(Class::Str, d));
                    Expr::Concat(Box::new(l), Box::new(r))
                }
                3 => self.case(class, d),
                _ if self.functions => self.coalesce(class, d),
                _ => self.leaf(class),
            },
            Class::Bool => match self.choices.pick(11) {
                0 | 1 => {
                    let c = self
                        .choices
                        .from(&[Class::Int, Class::Float, Class::Str, Class::Bool]);
                    let l = self.expr(c, d);
                    // integers and doubles compare with each other
                    let rc = match c {
                        Class::Int | Class::Float => self.choices.from(&[Class::Int, Class::Float]),
                        other => other,
                    };
                    let r = self.expr(rc, d);
                    Expr::Cmp(self.cmp_op(), Box::new(l), Box::new(r))
                }
                2 => {
                    let (l, r) = (self.expr(Class::Bool, d), self.expr(Class::Bool, d));
                    Expr::And(Box::new(l), Box::new(r))
                }
                3 => {
                    let (l, r) = (self.expr(Class::Bool, d), self.expr(Class::Bool, d));
                    Expr::Or(Box::new(l), Box::new(r))
                }
                4 => Expr::Not(Box::new(self.expr(Class::Bool, d))),
                5 => {
                    let c = self
                        .choices
                        .from(&[Class::Int, Class::Float, Class::Str, Class::Bool]);
                    Expr::IsNull {
                        expr: Box::new(self.expr(c, d)),
                        negated: self.choices.pick(2) == 1,
                    }
                }
                6 => {
                    let c = self.choices.from(&[Class::Int, Class::Float, Class::Str]);
                    let (e, lo, hi) = (self.expr(c, d), self.expr(c, d), self.expr(c, d));
                    Expr::Between {
                        expr: Box::new(e),
                        low: Box::new(lo),
                        high: Box::new(hi),
                        negated: self.choices.pick(2) == 1,
                    }
                }
                7 => {
                    let c = self.choices.from(&[Class::Int, Class::Float, Class::Str]);
                    let e = self.expr(c, d);
                    let n = 1 + self.choices.pick(4);
                    let list = (0..n)
                        .map(|_| match self.choices.pick(4) {
                            0 => Expr::BareNull,
                            1 => self.expr(c, d),
                            _ => self.literal(c),
                        })
                        .collect();
                    Expr::InList {
                        expr: Box::new(e),
                        list,
                        negated: self.choices.pick(2) == 1,
                    }
                }
                8 => {
                    let outer = self.no_dict;
                    self.no_dict |= self.avoids("dict_like");
                    let e = self.expr(Class::Str, d);
                    self.no_dict = outer;
                    Expr::Like {
                        expr: Box::new(e),
                        pattern: self.choices.from(PATTERNS).to_string(),
                        negated: self.choices.pick(2) == 1,
                        case_insensitive: self.choices.pick(2) == 1,
                    }
                }
                9 => self.case(class, d),
                _ => self.literal(Class::Bool),
            },
        }
    }

    fn arith(&mut self, op: Arith, l: Expr, r: Expr) -> Expr {
        Expr::Arith(op, Box::new(l), Box::new(r))
    }

    /// A searched CASE whose branches all have `class`.
    fn case(&mut self, class: Class, d: usize) -> Expr {
        let n = 1 + self.choices.pick(3);
        let mut branches: Vec<(Expr, Expr)> = (0..n)
            .map(|_| (self.expr(Class::Bool, d), self.expr(class, d)))
            .collect();
        let otherwise = (self.choices.pick(2) == 1).then(|| Box::new(self.expr(class, d)));
        let all_null = branches
            .iter()
            .map(|(_, t)| t)
            .chain(otherwise.as_deref())
            .all(|t| matches!(t, Expr::BareNull));
        if all_null && self.avoids("null_case") {
            branches[0].1 = self.typed_null(class);
        }
        let ty = branches
            .iter()
            .map(|(_, t)| t)
            .chain(otherwise.as_deref())
            .map(Expr::ty)
            .reduce(Ty::common)
            .unwrap_or(Ty::I32);
        Expr::Case {
            branches,
            otherwise,
            ty,
        }
    }

    fn coalesce(&mut self, class: Class, d: usize) -> Expr {
        let n = 1 + self.choices.pick(3);
        let args: Vec<Expr> = (0..n).map(|_| self.expr(class, d)).collect();
        let ty = args
            .iter()
            .map(Expr::ty)
            .reduce(Ty::common)
            .unwrap_or(Ty::I64);
        Expr::Coalesce { args, ty }
    }

    fn query(&mut self) -> QuerySpec {
        let n = 1 + self.choices.pick(3);
        let select = (0..n)
            .map(|_| {
                let c = self
                    .choices
                    .from(&[Class::Int, Class::Float, Class::Str, Class::Bool]);
                let depth = self.choices.pick(4);
                self.expr(c, depth)
            })
            .collect();
        let filter = (self.choices.pick(3) != 0).then(|| {
            let depth = 1 + self.choices.pick(3);
            self.expr(Class::Bool, depth)
        });
        QuerySpec { select, filter }
    }
}

// ---------------------------------------------------------------------------------
// Tables, the engine run, and comparison
// ---------------------------------------------------------------------------------

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new(
            "ds",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
    ]))
}

fn to_batch(rows: &[Vec<Value>]) -> RecordBatch {
    let ints: Int64Array = rows
        .iter()
        .map(|r| match &r[0] {
            Value::Int(v) => Some(*v),
            _ => None,
        })
        .collect();
    let floats: Float64Array = rows
        .iter()
        .map(|r| match &r[1] {
            Value::Float(v) => Some(*v),
            _ => None,
        })
        .collect();
    let text = |i: usize| -> Vec<Option<String>> {
        rows.iter()
            .map(|r| match &r[i] {
                Value::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    };
    let strings = StringArray::from(text(2));
    let dict: DictionaryArray<Int32Type> = text(3).iter().map(|s| s.as_deref()).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ints),
        Arc::new(floats),
        Arc::new(strings),
        Arc::new(dict),
    ];
    RecordBatch::try_new(schema(), columns).expect("valid batch")
}

/// Converts one result column back to values.
fn column_values(a: &ArrayRef) -> Vec<Value> {
    let a = match a.data_type() {
        DataType::Dictionary(..) | DataType::LargeUtf8 | DataType::Utf8View => {
            arrow::compute::cast(a, &DataType::Utf8).expect("string cast")
        }
        DataType::Int32 => arrow::compute::cast(a, &DataType::Int64).expect("int cast"),
        _ => a.clone(),
    };
    (0..a.len())
        .map(|i| {
            if a.is_null(i) {
                return Value::Null;
            }
            match a.data_type() {
                DataType::Int64 => Value::Int(a.as_primitive::<Int64Type>().value(i)),
                DataType::Float64 => Value::Float(a.as_primitive::<Float64Type>().value(i)),
                DataType::Utf8 => Value::Str(a.as_string::<i32>().value(i).to_string()),
                DataType::Boolean => {
                    let b: &BooleanArray = a.as_boolean();
                    Value::Bool(b.value(i))
                }
                DataType::Null => Value::Null,
                other => panic!("unexpected result type {other}"),
            }
        })
        .collect()
}

/// How the engine failed.
#[derive(Debug)]
enum Failure {
    /// An `Err` (its text).
    Error(String),
    /// A panic (its message): never acceptable.
    Panic(String),
}

/// Runs the query through the engine, turning a panic into [`Failure::Panic`].
fn run_engine(
    sql: &str,
    batches: &[RecordBatch],
    partitions: usize,
    group: usize,
) -> Result<(SchemaRef, Vec<Vec<Value>>), Failure> {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_engine_inner(sql, batches, partitions, group)
    }));
    match run {
        Ok(r) => r.map_err(Failure::Error),
        Err(p) => Err(Failure::Panic(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        )),
    }
}

fn run_engine_inner(
    sql: &str,
    batches: &[RecordBatch],
    partitions: usize,
    group: usize,
) -> Result<(SchemaRef, Vec<Vec<Value>>), String> {
    let engine = Engine::with_partitions(partitions).with_min_parallel_rows(0);
    let mut q = engine
        .query(sql, &[("t", schema())], QueryOptions::default())
        .map_err(|e| format!("(planning) {e}"))?;
    let mut out = Vec::new();
    for g in batches.chunks(group.max(1)) {
        out.extend(q.push_batches("t", g.to_vec()).map_err(|e| e.to_string())?);
    }
    out.extend(q.finish().map_err(|e| e.to_string())?);
    let schema = q.output_schema();
    let mut rows = Vec::new();
    for b in &out {
        let cols: Vec<Vec<Value>> = b.columns().iter().map(column_values).collect();
        for r in 0..b.num_rows() {
            rows.push(cols.iter().map(|c| c[r].clone()).collect());
        }
    }
    Ok((schema, rows))
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x == y
                || (x.is_nan() && y.is_nan())
                || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        _ => a == b,
    }
}

fn arrow_type_matches(t: &DataType, ty: Ty) -> bool {
    match ty {
        Ty::I32 => *t == DataType::Int32,
        Ty::I64 => *t == DataType::Int64,
        Ty::F64 => *t == DataType::Float64,
        Ty::Bool => matches!(t, DataType::Boolean | DataType::Null),
        Ty::Str => matches!(
            t,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..)
        ),
    }
}

/// Splits `rows` into batches of the given sizes (cycled; 0 makes an empty batch);
/// the last batch takes what is left.
fn split(rows: &[Vec<Value>], sizes: &[usize]) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < rows.len() && !sizes.is_empty() && i < 64 {
        let n = sizes[i % sizes.len()].min(rows.len() - at);
        out.push(to_batch(&rows[at..at + n]));
        at += n;
        i += 1;
    }
    if at < rows.len() || out.is_empty() {
        out.push(to_batch(&rows[at..]));
    }
    out
}

/// Whether the scalar functions used by the generator exist in this build.
fn functions_available() -> bool {
    Engine::with_partitions(1)
        .with_min_parallel_rows(0)
        .query(
            "SELECT COALESCE(a, 1), ABS(a) FROM t",
            &[("t", schema())],
            QueryOptions::default(),
        )
        .is_ok()
}

fn int_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => Just(Value::Null),
        12 => (-5i64..=10).prop_map(Value::Int),
        3 => prop::sample::select(vec![
            i64::MAX,
            i64::MIN + 1,
            4_611_686_018_427_387_904,
            -4_611_686_018_427_387_904,
            3_037_000_500,
            2_147_483_647,
        ])
        .prop_map(Value::Int),
    ]
}

fn float_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => Just(Value::Null),
        6 => prop::sample::select(vec![0.0, -0.0, 0.5, 1.0, -1.0, 2.5, 3.25, -7.75, 100.0])
            .prop_map(Value::Float),
        4 => (-1000.0f64..1000.0).prop_map(Value::Float),
    ]
}

fn string_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        5 => prop::sample::select(STRINGS.to_vec()).prop_map(|s| Value::Str(s.to_string())),
    ]
}

fn row() -> impl Strategy<Value = Vec<Value>> {
    (int_value(), float_value(), string_value(), string_value())
        .prop_map(|(a, b, s, ds)| vec![a, b, s, ds])
}

/// Everything one case needs.
#[derive(Debug, Clone)]
struct Case {
    rows: Vec<Vec<Value>>,
    choices: Vec<u32>,
    sizes: Vec<usize>,
    partitions: usize,
    group: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(row(), 0..14),
        prop::collection::vec(any::<u32>(), 0..160),
        prop::collection::vec(0usize..5, 0..6),
        1usize..=2,
        1usize..=3,
    )
        .prop_map(|(rows, choices, sizes, partitions, group)| Case {
            rows,
            choices,
            sizes,
            partitions,
            group,
        })
}

fn check(case: &Case, functions: bool) -> Result<(), TestCaseError> {
    let mut g = Generator {
        choices: Choices {
            data: &case.choices,
            pos: 0,
        },
        functions,
        avoid: avoid(),
        no_dict: false,
    };
    let spec = g.query();
    let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    let sql = spec.sql("t", &names);
    let expected = spec.run_reference(&case.rows);
    let batches = split(&case.rows, &case.sizes);
    let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
    let actual = run_engine(&sql, &batches, case.partitions, case.group);
    let context = || {
        format!(
            "\nSQL: {sql}\nrows: {:?}\nbatches: {sizes:?}, partitions {}, pushed {} at a time\nreference: {expected:?}\nengine: {actual:?}",
            case.rows, case.partitions, case.group
        )
    };
    match (&expected, &actual) {
        (_, Err(Failure::Panic(p))) => {
            return Err(TestCaseError::fail(format!(
                "the engine panics: {p}{}",
                context()
            )));
        }
        (Outcome::Either, _) => {}
        (Outcome::Error, Err(_)) => {}
        (Outcome::Error, Ok(_)) => {
            return Err(TestCaseError::fail(format!(
                "the reference raises an error, the engine does not{}",
                context()
            )));
        }
        // with `constant_on_empty` avoided: a failing constant may fail on no rows
        (Outcome::Rows(_), Err(Failure::Error(_)))
            if avoid().iter().any(|a| a == "constant_on_empty")
                && spec
                    .select
                    .iter()
                    .chain(&spec.filter)
                    .any(Expr::has_failing_constant) => {}
        (Outcome::Rows(_), Err(Failure::Error(e))) => {
            return Err(TestCaseError::fail(format!(
                "the engine fails ({e}), the reference does not{}",
                context()
            )));
        }
        (Outcome::Rows(want), Ok((schema, got))) => {
            for (f, e) in schema.fields().iter().zip(&spec.select) {
                prop_assert!(
                    arrow_type_matches(f.data_type(), e.ty()),
                    "column {} has type {}, expected {}{}",
                    f.name(),
                    f.data_type(),
                    e.ty().sql_name(),
                    context()
                );
            }
            let equal = want.len() == got.len()
                && want.iter().zip(got).all(|(w, g)| {
                    w.len() == g.len() && w.iter().zip(g).all(|(a, b)| same_value(a, b))
                });
            prop_assert!(equal, "different rows{}", context());
        }
    }
    Ok(())
}

/// 64 cases (a few seconds), or `VELO_REF_CASES` for a longer search.
fn cases() -> u32 {
    std::env::var("VELO_REF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    /// Random tables, random SELECT lists and WHERE clauses, random batch splits and
    /// partition counts: the engine gives what the reference gives.
    #[test]
    fn select_matches_reference(case in case()) {
        check(&case, functions_available())?;
    }
}

// ---------------------------------------------------------------------------------
// The reference model itself (a wrong reference makes every property meaningless)
// ---------------------------------------------------------------------------------

#[test]
fn reference_like() {
    assert!(like("abc", "a%"));
    assert!(like("abc", "%c"));
    assert!(like("abc", "_b_"));
    assert!(!like("abc", "_b"));
    assert!(like("", "%"));
    assert!(!like("", "_"));
    assert!(like("a_b", "a_b"));
    assert!(!like("ab", "abc"));
}

#[test]
fn reference_three_valued_logic() {
    let (t, f, n) = (Value::Bool(true), Value::Bool(false), Value::Null);
    assert_eq!(kleene_and(&f, &n), f);
    assert_eq!(kleene_and(&t, &n), n);
    assert_eq!(kleene_or(&t, &n), t);
    assert_eq!(kleene_or(&f, &n), n);
    assert_eq!(not(&n), n);
    assert_eq!(compare(Cmp::Eq, &n, &n), n);
    assert_eq!(compare(Cmp::NotDistinct, &n, &n), t);
    assert_eq!(compare(Cmp::Distinct, &Value::Int(1), &n), t);
    assert_eq!(compare(Cmp::Lt, &Value::Int(1), &Value::Float(1.5)), t);
    assert_eq!(compare(Cmp::Eq, &Value::Float(-0.0), &Value::Float(0.0)), t);
    let nan = Value::Float(f64::NAN);
    assert_eq!(compare(Cmp::Eq, &nan, &nan), t);
    assert_eq!(compare(Cmp::Gt, &nan, &Value::Float(f64::INFINITY)), t);
}

#[test]
fn reference_arithmetic() {
    let i = |v| Value::Int(v);
    assert_eq!(
        arith(Arith::Div, &i(7), &i(2), Ty::F64),
        Ok(Value::Float(3.5))
    );
    assert_eq!(
        arith(Arith::Div, &i(7), &i(0), Ty::F64),
        Ok(Value::Float(f64::INFINITY))
    );
    assert_eq!(arith(Arith::Mod, &i(-7), &i(2), Ty::I64), Ok(i(-1)));
    assert_eq!(arith(Arith::Mod, &i(7), &i(0), Ty::I64), Ok(Value::Null));
    assert_eq!(
        arith(Arith::Add, &i(i64::MAX), &i(1), Ty::I64),
        Err(Fault::Error)
    );
    assert_eq!(
        arith(Arith::Mul, &i(65536), &i(65536), Ty::I32),
        Err(Fault::Error)
    );
    assert_eq!(
        arith(Arith::Mul, &i(65536), &i(65536), Ty::I64),
        Ok(i(1 << 32))
    );
    assert_eq!(
        arith(Arith::Add, &i(1), &Value::Null, Ty::I64),
        Ok(Value::Null)
    );
}

#[test]
fn reference_case_is_lazy() {
    if eager_case() {
        return; // VELO_REF_AVOID=case_lazy switches the reference to eager CASE
    }
    // CASE WHEN false THEN 9223372036854775807 + 1 ELSE 1 END: no overflow
    let big = Expr::Literal {
        value: Value::Int(i64::MAX),
        ty: Ty::I64,
    };
    let one = Expr::Literal {
        value: Value::Int(1),
        ty: Ty::I32,
    };
    let e = Expr::Case {
        branches: vec![(
            Expr::Literal {
                value: Value::Bool(false),
                ty: Ty::Bool,
            },
            Expr::Arith(Arith::Add, Box::new(big), Box::new(one.clone())),
        )],
        otherwise: Some(Box::new(one)),
        ty: Ty::I64,
    };
    assert_eq!(eval(&e, &[]), Ok(Value::Int(1)));
}

#[test]
fn generated_sql_text() {
    let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    let e = Expr::Arith(
        Arith::Sub,
        Box::new(Expr::Column {
            index: 0,
            ty: Ty::I64,
        }),
        Box::new(Expr::Literal {
            value: Value::Int(-3),
            ty: Ty::I32,
        }),
    );
    assert_eq!(e.sql(&names), "(a - (-3))");
    let f = Expr::Literal {
        value: Value::Float(-2.5),
        ty: Ty::F64,
    };
    assert_eq!(f.sql(&names), "(-2.5e0)");
}

/// Every generated query is valid SQL the engine plans (DuckDB accepts them all).
#[test]
fn every_generated_query_plans() {
    let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    let functions = functions_available();
    for seed in 0..200u32 {
        let data: Vec<u32> = (0..120u32)
            .map(|i| {
                seed.wrapping_mul(2_654_435_761)
                    .wrapping_add(i.wrapping_mul(40_503))
                    >> 7
            })
            .collect();
        let mut g = Generator {
            choices: Choices {
                data: &data,
                pos: 0,
            },
            functions,
            avoid: avoid(),
            no_dict: false,
        };
        let sql = g.query().sql("t", &names);
        if let Err(e) = Engine::with_partitions(1).with_min_parallel_rows(0).query(
            &sql,
            &[("t", schema())],
            QueryOptions::default(),
        ) {
            panic!("cannot plan generated query {sql}: {e}");
        }
    }
}

/// The generator is worth running: it reaches overflow errors and non-empty results.
#[test]
fn generator_reaches_errors_and_rows() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut errors, mut non_empty) = (0, 0);
    for _ in 0..2000 {
        let c = case().new_tree(&mut runner).expect("a case").current();
        let mut g = Generator {
            choices: Choices {
                data: &c.choices,
                pos: 0,
            },
            functions: false,
            avoid: Vec::new(),
            no_dict: false,
        };
        match g.query().run_reference(&c.rows) {
            Outcome::Error => errors += 1,
            Outcome::Rows(r) if r.iter().flatten().any(|v| *v != Value::Null) => non_empty += 1,
            _ => {}
        }
    }
    assert!(errors >= 10, "only {errors} of 2000 queries overflow");
    assert!(
        non_empty >= 800,
        "only {non_empty} of 2000 queries return a non-NULL value"
    );
}

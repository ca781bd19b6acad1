//! ROWS-window analytic functions with incremental state: each row's result is computed
//! from a bounded per-key buffer of the frame's rows in O(1) (amortised), whatever the
//! frame size.
//!
//! ```text
//!  batch rows (key id, value), in input order
//!     └─▶ kernel: state[key] ← push value, evict the row that left the frame
//!                 result[row] ← sum / count / block extremes / ring front / counters
//! ```
//!
//! | function                               | state per key                         | result              |
//! |----------------------------------------|---------------------------------------|---------------------|
//! | `ROW_NUMBER()`                         | row count                             | `BIGINT`            |
//! | `RANK()`, `DENSE_RANK()`               | row count, rank, previous order value | `BIGINT`            |
//! | `COUNT(*)`                             | row count (`min(count, n)`)           | `BIGINT`            |
//! | `COUNT(x)`                             | ring of validity flags + count        | `BIGINT`            |
//! | `SUM(x)`                               | ring of values + exact / compensated sum | `HUGEINT` (`DECIMAL(38,0)`) for integers, `DECIMAL(38,s)`, `DOUBLE` for floats |
//! | `AVG(x)`                               | as SUM + count                        | `DOUBLE`            |
//! | `STDDEV*`, `VAR*`                      | ring of values + Welford (count, mean, M2) | `DOUBLE`       |
//! | `MIN(x)`, `MAX(x)`                     | the last `n` values as block suffix extremes + the block's extreme (strings: monotonic deque) | argument type |
//! | `FIRST_VALUE(x)`                       | ring of values (UNBOUNDED: the first) | argument type       |
//! | `LAST_VALUE(x)`                        | none: the current row's value         | argument type       |
//! | `LAG(x [, k [, default]])`             | ring of the last `k` values           | argument type       |
//!
//! Result types are DuckDB's. Frames end at the current row; they start `n - 1` rows
//! back ([`Frame::Rows`]), at the partition's first row ([`Frame::Unbounded`]), or a
//! time span back on the event-time order key ([`Frame::Range`], see [`range`]: the same
//! running states over rows kept by order key instead of by count).
//! Rows are taken in arrival order; see [`kernel`] for how a batch is handed to a
//! kernel and [`output`] for how several threads fill one result column.

pub(crate) mod bytes;
pub(crate) mod chunk_sum;
pub(crate) mod kernel;
pub(crate) mod min_max;
pub(crate) mod output;
pub(crate) mod range;
pub(crate) mod rank;
pub(crate) mod ring;
pub(crate) mod sum;
pub(crate) mod value;
pub(crate) mod variance;

use std::fmt;

use arrow::datatypes::DataType;

use self::bytes::{BytesKernel, BytesOp, PassThroughKernel};
use self::kernel::Kernel;
use self::min_max::{Extreme, MinMaxKernel};
use self::rank::{RankKernel, RankKind, RowCountKernel};
use self::sum::{CountKernel, ExactSumKernel, FloatSumKernel, SumOutput};
use self::value::{FirstValueKernel, LagKernel};
use self::variance::{Statistic, VarianceKernel};
use crate::aggregate::byte_arrays::is_bytes_type;
use crate::aggregate::native::{with_i64_type, with_numeric_type, with_primitive_type};
use crate::error::{Error, Result};
use crate::expr::types::sql_type_name;

/// The frame of an analytic call: it always ends at the current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// The last `n` rows of the partition, the current one included (`n ≥ 1`):
    /// `ROWS BETWEEN n-1 PRECEDING AND CURRENT ROW`, or `ROWS WINDOW BUFFER n ROWS`.
    Rows(u64),
    /// Every row of the partition so far: `ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT
    /// ROW`.
    Unbounded,
    /// The rows whose event-time order key is at most `span_ms` milliseconds before the
    /// current row's (`span_ms ≥ 0`): `RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT
    /// ROW`; see [`range`] for rows that arrive out of order or with a NULL key.
    Range {
        /// The span, in milliseconds.
        span_ms: i64,
    },
}

impl Frame {
    /// The number of rows of a bounded frame.
    pub fn rows(&self) -> Option<u64> {
        match self {
            Frame::Rows(n) => Some(*n),
            Frame::Unbounded | Frame::Range { .. } => None,
        }
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Rows(n) => write!(f, "ROWS {n}"),
            Frame::Unbounded => f.write_str("ROWS UNBOUNDED"),
            Frame::Range { span_ms } => write!(f, "RANGE {span_ms}ms"),
        }
    }
}

/// An analytic (window) function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnalyticFunction {
    /// `ROW_NUMBER()`.
    RowNumber,
    /// `RANK()`.
    Rank,
    /// `DENSE_RANK()`.
    DenseRank,
    /// `COUNT(*)`.
    CountStar,
    /// `COUNT(x)`.
    Count,
    /// `SUM(x)`.
    Sum,
    /// `AVG(x)`.
    Avg,
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
    /// `STDDEV_SAMP(x)` / `STDDEV(x)`.
    StddevSamp,
    /// `STDDEV_POP(x)`.
    StddevPop,
    /// `VAR_SAMP(x)` / `VARIANCE(x)`.
    VarSamp,
    /// `VAR_POP(x)`.
    VarPop,
    /// `FIRST_VALUE(x)`.
    FirstValue,
    /// `LAST_VALUE(x)`.
    LastValue,
    /// `LAG(x, offset [, default])`.
    Lag {
        /// Rows back (a constant ≥ 0).
        offset: u64,
    },
}

impl fmt::Display for AnalyticFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnalyticFunction::CountStar => f.write_str("COUNT(*)"),
            AnalyticFunction::Lag { offset } => write!(f, "LAG({offset})"),
            other => f.write_str(other.name()),
        }
    }
}

impl AnalyticFunction {
    /// The function named `upper_name` (upper case); `LAG` comes back with offset 1 (the
    /// planner sets the constant second argument). `COUNT` is `Count` (the planner maps
    /// `COUNT(*)`).
    ///
    /// ```
    /// use velostream::analytic::AnalyticFunction;
    /// assert_eq!(AnalyticFunction::from_name("STDDEV"), Some(AnalyticFunction::StddevSamp));
    /// assert_eq!(AnalyticFunction::from_name("LEAD"), None);
    /// ```
    pub fn from_name(upper_name: &str) -> Option<Self> {
        use AnalyticFunction::*;
        Some(match upper_name {
            "ROW_NUMBER" => RowNumber,
            "RANK" => Rank,
            "DENSE_RANK" => DenseRank,
            "COUNT" => Count,
            "SUM" => Sum,
            "AVG" | "MEAN" => Avg,
            "MIN" => Min,
            "MAX" => Max,
            "STDDEV" | "STDDEV_SAMP" => StddevSamp,
            "STDDEV_POP" => StddevPop,
            "VARIANCE" | "VAR_SAMP" => VarSamp,
            "VAR_POP" => VarPop,
            "FIRST_VALUE" => FirstValue,
            "LAST_VALUE" => LastValue,
            "LAG" => Lag { offset: 1 },
            _ => return None,
        })
    }

    /// The SQL name.
    pub fn name(&self) -> &'static str {
        use AnalyticFunction::*;
        match self {
            RowNumber => "ROW_NUMBER",
            Rank => "RANK",
            DenseRank => "DENSE_RANK",
            CountStar | Count => "COUNT",
            Sum => "SUM",
            Avg => "AVG",
            Min => "MIN",
            Max => "MAX",
            StddevSamp => "STDDEV_SAMP",
            StddevPop => "STDDEV_POP",
            VarSamp => "VAR_SAMP",
            VarPop => "VAR_POP",
            FirstValue => "FIRST_VALUE",
            LastValue => "LAST_VALUE",
            Lag { .. } => "LAG",
        }
    }

    /// Whether the frame matters (ROW_NUMBER, RANK, DENSE_RANK and LAG ignore it).
    pub fn uses_frame(&self) -> bool {
        !matches!(
            self,
            AnalyticFunction::RowNumber
                | AnalyticFunction::Rank
                | AnalyticFunction::DenseRank
                | AnalyticFunction::Lag { .. }
        )
    }

    /// Number of argument columns: (least, most). LAG's offset is not a column; its
    /// default is.
    pub fn arity(&self) -> (usize, usize) {
        use AnalyticFunction::*;
        match self {
            RowNumber | Rank | DenseRank | CountStar => (0, 0),
            Lag { .. } => (1, 2),
            _ => (1, 1),
        }
    }

    /// The result type for (already normalised) argument types: no dictionaries, no
    /// untyped NULL, no HALF FLOAT.
    ///
    /// # Errors
    /// `Plan` for a wrong number of arguments or an argument type the function does not
    /// accept.
    ///
    /// ```
    /// use arrow::datatypes::DataType;
    /// use velostream::analytic::AnalyticFunction;
    /// assert_eq!(AnalyticFunction::Sum.return_type(&[DataType::Int32])?, DataType::Decimal128(38, 0));
    /// assert_eq!(AnalyticFunction::Avg.return_type(&[DataType::Int32])?, DataType::Float64);
    /// assert!(AnalyticFunction::Sum.return_type(&[DataType::Utf8]).is_err());
    /// # Ok::<(), velostream::Error>(())
    /// ```
    pub fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        use AnalyticFunction::*;
        let (lo, hi) = self.arity();
        if arg_types.len() < lo || arg_types.len() > hi {
            let expected = match (lo, hi) {
                (0, 0) => "no arguments".to_string(),
                (a, b) if a == b => format!("{a} argument"),
                (a, b) => format!("{a} to {b} arguments"),
            };
            return Err(Error::plan(format!(
                "{} expects {expected}, got {}",
                self.name(),
                arg_types.len()
            )));
        }
        let Some(arg) = arg_types.first() else {
            return Ok(DataType::Int64);
        };
        let reject = |expected: &str| {
            Error::plan(format!(
                "function {} does not accept {} arguments; expected {expected}",
                self.name(),
                sql_type_name(arg)
            ))
        };
        Ok(match self {
            RowNumber | Rank | DenseRank | CountStar | Count => DataType::Int64,
            Sum => match arg {
                DataType::Float32 | DataType::Float64 => DataType::Float64,
                DataType::Decimal32(_, s)
                | DataType::Decimal64(_, s)
                | DataType::Decimal128(_, s) => DataType::Decimal128(38, *s),
                t if t.is_integer() => DataType::Decimal128(38, 0),
                _ => return Err(reject("a number")),
            },
            Avg | StddevSamp | StddevPop | VarSamp | VarPop => {
                if !is_summable(arg) {
                    return Err(reject("a number"));
                }
                DataType::Float64
            }
            Min | Max | FirstValue | Lag { .. } => {
                if !is_value_type(arg) {
                    return Err(reject(
                        "a number, string, binary, boolean or date/time value",
                    ));
                }
                if let (Lag { .. }, Some(d)) = (self, arg_types.get(1))
                    && d != arg
                {
                    return Err(Error::plan(format!(
                        "LAG's default must have the type of its value ({}), got {}",
                        sql_type_name(arg),
                        sql_type_name(d)
                    )));
                }
                arg.clone()
            }
            LastValue => arg.clone(),
        })
    }

    /// The type a kernel reads for an argument of type `t`: BOOLEAN values of MIN, MAX,
    /// FIRST_VALUE and LAG arrive as 0/1 `UInt8` (the result is BOOLEAN again).
    pub fn kernel_arg_type(&self, t: &DataType) -> DataType {
        match (self, t) {
            (
                AnalyticFunction::Min
                | AnalyticFunction::Max
                | AnalyticFunction::FirstValue
                | AnalyticFunction::Lag { .. },
                DataType::Boolean,
            ) => DataType::UInt8,
            (_, t) => t.clone(),
        }
    }

    /// The kernel for this function over `frame`, with arguments of the (logical,
    /// normalised) types `arg_types` and an ORDER BY column of `order_type`.
    ///
    /// # Errors
    /// `Plan` for argument types without a kernel.
    pub(crate) fn create_kernel(
        &self,
        frame: Frame,
        arg_types: &[DataType],
        order_type: Option<&DataType>,
    ) -> Result<Kernel> {
        use AnalyticFunction::*;
        self.return_type(arg_types)?;
        if let (Frame::Range { span_ms }, true) = (frame, self.uses_frame()) {
            return self.create_range_kernel(span_ms, arg_types, order_type);
        }
        let rows = if self.uses_frame() {
            frame.rows()
        } else {
            None
        };
        let arg = arg_types.first().cloned().unwrap_or(DataType::Null);
        let unsupported = || {
            Error::not_supported(format!(
                "{} OVER (...) of {} values",
                self.name(),
                sql_type_name(&arg)
            ))
        };
        let divisor = decimal_divisor(&arg);
        let frame_kernel = |k: Box<dyn kernel::FrameKernel>| Ok(Kernel::Frame(k));
        match self {
            RowNumber => frame_kernel(Box::new(RowCountKernel::new(u64::MAX))),
            CountStar => frame_kernel(Box::new(RowCountKernel::new(rows.unwrap_or(u64::MAX)))),
            Count => frame_kernel(Box::new(CountKernel::new(rows))),
            Rank | DenseRank => {
                let kind = if *self == Rank {
                    RankKind::Rank
                } else {
                    RankKind::Dense
                };
                frame_kernel(Box::new(RankKernel::new(kind, order_type.cloned())?))
            }
            Sum | Avg => {
                let output = if *self == Sum {
                    SumOutput::Sum
                } else {
                    SumOutput::Avg { divisor }
                };
                let result_type = self.return_type(arg_types)?;
                use arrow::datatypes::{Decimal128Type, Float32Type, Float64Type, UInt64Type};
                let k: Box<dyn kernel::FrameKernel> = match &arg {
                    DataType::Float32 => Box::new(FloatSumKernel::<Float32Type>::new(output, rows)),
                    DataType::Float64 => Box::new(FloatSumKernel::<Float64Type>::new(output, rows)),
                    DataType::UInt64 => {
                        Box::new(ExactSumKernel::<UInt64Type>::new(output, rows, result_type))
                    }
                    DataType::Decimal128(_, _) => Box::new(ExactSumKernel::<Decimal128Type>::new(
                        output,
                        rows,
                        result_type,
                    )),
                    t => {
                        with_i64_type!(t, T => Box::new(ExactSumKernel::<T>::new(output, rows, result_type)),
                        _ => return Err(unsupported()))
                    }
                };
                frame_kernel(k)
            }
            StddevSamp | StddevPop | VarSamp | VarPop => {
                let statistic = self.statistic();
                let k: Box<dyn kernel::FrameKernel> = with_numeric_type!(&arg,
                    T => Box::new(VarianceKernel::<T>::new(statistic, divisor, rows)),
                    _ => return Err(unsupported()));
                frame_kernel(k)
            }
            LastValue | Lag { offset: 0 } => Ok(Kernel::Sequential(Box::new(PassThroughKernel))),
            Min | Max | FirstValue | Lag { .. } => {
                if is_bytes_type(&arg) {
                    let op = match self {
                        Min => BytesOp::Min,
                        Max => BytesOp::Max,
                        FirstValue => BytesOp::First,
                        Lag { offset } => {
                            BytesOp::Lag(usize::try_from(*offset).unwrap_or(usize::MAX))
                        }
                        _ => return Err(unsupported()),
                    };
                    return Ok(Kernel::Sequential(Box::new(BytesKernel::new(
                        op, rows, arg,
                    ))));
                }
                let kernel_arg = self.kernel_arg_type(&arg);
                let k: Box<dyn kernel::FrameKernel> = match self {
                    Min | Max => {
                        let e = if *self == Min {
                            Extreme::Min
                        } else {
                            Extreme::Max
                        };
                        with_primitive_type!(&kernel_arg, T => Box::new(MinMaxKernel::<T>::new(e, rows)),
                            _ => return Err(unsupported()))
                    }
                    FirstValue => {
                        with_primitive_type!(&kernel_arg, T => Box::new(FirstValueKernel::<T>::new(rows)),
                        _ => return Err(unsupported()))
                    }
                    Lag { offset } => {
                        with_primitive_type!(&kernel_arg, T => Box::new(LagKernel::<T>::new(*offset)),
                        _ => return Err(unsupported()))
                    }
                    _ => return Err(unsupported()),
                };
                frame_kernel(k)
            }
        }
    }
}

/// What a DECIMAL's stored integers are divided by to give its value (1 for other types).
fn decimal_divisor(t: &DataType) -> f64 {
    match t {
        DataType::Decimal32(_, s) | DataType::Decimal64(_, s) | DataType::Decimal128(_, s) => {
            10f64.powi(i32::from(*s))
        }
        _ => 1.0,
    }
}

impl AnalyticFunction {
    /// The statistic of STDDEV*/VAR* (`VarPop` for any other function; only called on
    /// those four).
    fn statistic(&self) -> Statistic {
        match self {
            AnalyticFunction::StddevSamp => Statistic::StddevSamp,
            AnalyticFunction::StddevPop => Statistic::StddevPop,
            AnalyticFunction::VarSamp => Statistic::VarSamp,
            _ => Statistic::VarPop,
        }
    }

    /// The kernel for this function over a RANGE frame of `span_ms` on an order key of
    /// `order_type`.
    fn create_range_kernel(
        &self,
        span_ms: i64,
        arg_types: &[DataType],
        order_type: Option<&DataType>,
    ) -> Result<Kernel> {
        use self::range::{
            ExactSumFn, FirstValueFn, FloatSumFn, MinMaxFn, RangeCountKernel, RangeKernel,
            VarianceFn,
        };
        use AnalyticFunction::*;
        let span = range_span(span_ms, order_type)?;
        let arg = arg_types.first().cloned().unwrap_or(DataType::Null);
        let unsupported = || {
            Error::not_supported(format!(
                "{} OVER (... RANGE ...) of {} values",
                self.name(),
                sql_type_name(&arg)
            ))
        };
        let divisor = decimal_divisor(&arg);
        let frame_kernel = |k: Box<dyn kernel::FrameKernel>| Ok(Kernel::Frame(k));
        match self {
            CountStar => frame_kernel(Box::new(RangeCountKernel::new(true, span))),
            Count => frame_kernel(Box::new(RangeCountKernel::new(false, span))),
            Sum | Avg => {
                use arrow::datatypes::{Decimal128Type, Float32Type, Float64Type, UInt64Type};
                let avg = *self == Avg;
                let result_type = self.return_type(arg_types)?;
                macro_rules! exact {
                    ($t:ty) => {
                        if avg {
                            Box::new(RangeKernel::<$t, ExactSumFn<f64>>::new(
                                ExactSumFn::new(divisor, result_type),
                                span,
                            )) as Box<dyn kernel::FrameKernel>
                        } else {
                            Box::new(RangeKernel::<$t, ExactSumFn<i128>>::new(
                                ExactSumFn::new(divisor, result_type),
                                span,
                            ))
                        }
                    };
                }
                let k: Box<dyn kernel::FrameKernel> = match &arg {
                    DataType::Float32 => {
                        Box::new(RangeKernel::<Float32Type, _>::new(FloatSumFn { avg }, span))
                    }
                    DataType::Float64 => {
                        Box::new(RangeKernel::<Float64Type, _>::new(FloatSumFn { avg }, span))
                    }
                    DataType::UInt64 => exact!(UInt64Type),
                    DataType::Decimal128(_, _) => exact!(Decimal128Type),
                    t => with_i64_type!(t, T => exact!(T), _ => return Err(unsupported())),
                };
                frame_kernel(k)
            }
            StddevSamp | StddevPop | VarSamp | VarPop => {
                let statistic = self.statistic();
                let f = VarianceFn { statistic, divisor };
                let k: Box<dyn kernel::FrameKernel> = with_numeric_type!(&arg,
                    T => Box::new(RangeKernel::<T, _>::new(f, span)),
                    _ => return Err(unsupported()));
                frame_kernel(k)
            }
            // the current row is the last of its frame by order key (later peers have
            // not arrived)
            LastValue => Ok(Kernel::Sequential(Box::new(PassThroughKernel))),
            Min | Max | FirstValue => {
                if is_bytes_type(&arg) {
                    let op = match self {
                        Min => BytesOp::Min,
                        Max => BytesOp::Max,
                        _ => BytesOp::First,
                    };
                    return Ok(Kernel::Sequential(Box::new(BytesKernel::new_range(
                        op, span, arg,
                    ))));
                }
                let kernel_arg = self.kernel_arg_type(&arg);
                let k: Box<dyn kernel::FrameKernel> = match self {
                    Min => with_primitive_type!(&kernel_arg,
                        T => Box::new(RangeKernel::<T, _>::new(MinMaxFn::<false>, span)),
                        _ => return Err(unsupported())),
                    Max => with_primitive_type!(&kernel_arg,
                        T => Box::new(RangeKernel::<T, _>::new(MinMaxFn::<true>, span)),
                        _ => return Err(unsupported())),
                    _ => with_primitive_type!(&kernel_arg,
                        T => Box::new(RangeKernel::<T, _>::new(FirstValueFn, span)),
                        _ => return Err(unsupported())),
                };
                frame_kernel(k)
            }
            RowNumber | Rank | DenseRank | Lag { .. } => Err(Error::internal(format!(
                "{} has no RANGE frame kernel",
                self.name()
            ))),
        }
    }
}

/// A RANGE span of `span_ms` milliseconds in the units of an order key of `order_type`
/// (TIMESTAMP of any unit, DATE, or integer epoch milliseconds). A span below one unit
/// of the key keeps the current row's peers; one past the key's range saturates.
///
/// # Errors
/// `Internal` without an order key or for an order key of another type (the planner
/// admits only these).
///
/// ```
/// # use arrow::datatypes::{DataType, TimeUnit};
/// # use velostream::analytic::range_span;
/// assert_eq!(range_span(10_000, Some(&DataType::Timestamp(TimeUnit::Microsecond, None)))?, 10_000_000);
/// assert_eq!(range_span(1_500, Some(&DataType::Timestamp(TimeUnit::Second, None)))?, 1);
/// assert_eq!(range_span(86_400_000, Some(&DataType::Date32))?, 1);
/// # Ok::<(), velostream::Error>(())
/// ```
pub fn range_span(span_ms: i64, order_type: Option<&DataType>) -> Result<i64> {
    use arrow::datatypes::TimeUnit;
    const MS_PER_DAY: i64 = 86_400_000;
    Ok(match order_type {
        Some(DataType::Timestamp(TimeUnit::Second, _)) => span_ms / 1_000,
        Some(DataType::Timestamp(TimeUnit::Millisecond, _)) | Some(DataType::Date64) => span_ms,
        Some(DataType::Timestamp(TimeUnit::Microsecond, _)) => span_ms.saturating_mul(1_000),
        Some(DataType::Timestamp(TimeUnit::Nanosecond, _)) => span_ms.saturating_mul(1_000_000),
        Some(DataType::Date32) => span_ms / MS_PER_DAY,
        Some(t) if t.is_integer() => span_ms,
        other => {
            return Err(Error::internal(format!(
                "RANGE frame over an order key of type {other:?}"
            )));
        }
    })
}

/// Numbers SUM / AVG / VAR accept.
fn is_summable(t: &DataType) -> bool {
    t.is_integer()
        || matches!(
            t,
            DataType::Float32
                | DataType::Float64
                | DataType::Decimal32(..)
                | DataType::Decimal64(..)
                | DataType::Decimal128(..)
        )
}

/// Types MIN / MAX / FIRST_VALUE / LAG keep: fixed-width values, BOOLEAN, byte arrays.
fn is_value_type(t: &DataType) -> bool {
    t == &DataType::Boolean
        || is_bytes_type(t)
        || with_primitive_type!(t, T => { let _ = std::marker::PhantomData::<T>; true }, _ => false)
}

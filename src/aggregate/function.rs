//! The aggregate functions of SPEC §3.4: names, argument checks, result types (DuckDB's),
//! and the accumulator each one uses.
//!
//! | function                          | argument                        | result                         |
//! |-----------------------------------|---------------------------------|--------------------------------|
//! | `COUNT(*)`, `COUNT(x)`            | any                             | `Int64`                        |
//! | `COUNT(DISTINCT x)`               | any key type                    | `Int64` (exact)                |
//! | `SUM(x)`                          | TINYINT..INTEGER (+ unsigned)   | `Int64` (error if it leaves it)|
//! |                                   | BIGINT, UBIGINT                 | `Decimal128(38, 0)` (HUGEINT)  |
//! |                                   | DECIMAL(p, s)                   | `Decimal128(38, s)`            |
//! |                                   | FLOAT, DOUBLE, HALF             | `Float64`                      |
//! | `AVG(x)`                          | numeric                         | `Float64`                      |
//! | `MIN(x)`, `MAX(x)`                | orderable (numbers, strings, binaries, booleans, dates, times, timestamps, durations) | argument type |
//! | `STDDEV[_SAMP]`, `STDDEV_POP`, `VARIANCE`/`VAR_SAMP`, `VAR_POP` | numeric | `Float64`   |
//! | `FIRST_VALUE(x [, order])`, `LAST_VALUE(x [, order])` | as MIN/MAX; order `Int64`/`Timestamp` | argument type |
//! | `APPROX_COUNT_DISTINCT(x)`        | numbers, strings, binaries, booleans, temporal | `Int64`   |
//! | `MEDIAN(x)`                       | integer, float                  | `Float64`                      |
//! |                                   | DECIMAL(p, s), TIMESTAMP        | argument type (DuckDB)         |
//! | `APPROX_PERCENTILE(x, p)`         | numeric or temporal             | argument type                  |
//!
//! A dictionary argument counts as its value type (results are plain, not dictionaries);
//! an untyped `NULL` argument gives NULL (COUNT: 0) in the result type for `INTEGER`.

use std::fmt;

use arrow::datatypes::DataType;

use super::accumulator::GroupsAccumulator;
use super::arg_cast::CastArgs;
use super::avg::AvgAccumulator;
use super::byte_arrays::is_bytes_type;
use super::count::{CountAccumulator, CountMode};
use super::distinct::CountDistinctAccumulator;
use super::first_last::{
    BooleanStore, BytesStore, FirstLastAccumulator, Pick, PrimitiveStore, is_order_type,
};
use super::hll::{HyperLogLogAccumulator, hll_accepts};
use super::min_max::{BooleanMinMax, BytesMinMax, MaxKind, MinKind, PrimitiveMinMax};
use super::native::{with_i64_type, with_primitive_type};
use super::null_arg::NullArgAccumulator;
use super::percentile::{PercentileAccumulator, Quantile};
use super::sum::{ExactSum, FloatSum, SumAccumulator, WideSum};
use super::variance::{Statistic, VarianceAccumulator};
use crate::error::{Error, Result};
use crate::expr::types::sql_type_name;

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggregateFunction {
    /// `COUNT(*)`: rows.
    CountStar,
    /// `COUNT(x)`: non-NULL values.
    Count,
    /// `COUNT(DISTINCT x)`: distinct non-NULL values, exactly.
    CountDistinct,
    /// `SUM(x)`.
    Sum,
    /// `AVG(x)`.
    Avg,
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
    /// `STDDEV_SAMP(x)` (also `STDDEV`).
    StddevSamp,
    /// `STDDEV_POP(x)`.
    StddevPop,
    /// `VAR_SAMP(x)` (also `VARIANCE`).
    VarSamp,
    /// `VAR_POP(x)`.
    VarPop,
    /// `FIRST_VALUE(x [, order])`.
    FirstValue,
    /// `LAST_VALUE(x [, order])`.
    LastValue,
    /// `APPROX_COUNT_DISTINCT(x)`: HyperLogLog.
    ApproxCountDistinct,
    /// `MEDIAN(x)`.
    Median,
    /// `APPROX_PERCENTILE(x, p)` with the fraction `p` in `[0, 1]`.
    ApproxPercentile(f64),
}

impl fmt::Display for AggregateFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AggregateFunction::CountStar => f.write_str("COUNT(*)"),
            AggregateFunction::CountDistinct => f.write_str("COUNT(DISTINCT)"),
            AggregateFunction::ApproxPercentile(p) => write!(f, "APPROX_PERCENTILE({p})"),
            other => f.write_str(other.name()),
        }
    }
}

impl AggregateFunction {
    /// The function named `upper_name` (upper case), with `DISTINCT` or not.
    ///
    /// `COUNT` gives [`Count`](Self::Count) (the planner maps `COUNT(*)` to
    /// [`CountStar`](Self::CountStar)), `COUNT` + DISTINCT gives
    /// [`CountDistinct`](Self::CountDistinct); `STDDEV` = `STDDEV_SAMP`, `VARIANCE` =
    /// `VAR_SAMP`; `FIRST`/`LAST`/`MEAN`/`APPROX_QUANTILE` are aliases of
    /// `FIRST_VALUE`/`LAST_VALUE`/`AVG`/`APPROX_PERCENTILE`. `APPROX_PERCENTILE` comes back
    /// as `ApproxPercentile(0.5)`: the planner puts the constant second argument in
    /// (checked by [`return_type`](Self::return_type)).
    ///
    /// `None` for an unknown name, and for DISTINCT on anything but COUNT (and MIN, MAX,
    /// APPROX_COUNT_DISTINCT, where it changes nothing): check `from_name(name, false)` to
    /// tell "unknown function" from "DISTINCT not supported".
    ///
    /// ```
    /// use velostream::aggregate::AggregateFunction;
    /// assert_eq!(AggregateFunction::from_name("STDDEV", false), Some(AggregateFunction::StddevSamp));
    /// assert_eq!(AggregateFunction::from_name("COUNT", true), Some(AggregateFunction::CountDistinct));
    /// assert_eq!(AggregateFunction::from_name("SUM", true), None);
    /// ```
    pub fn from_name(upper_name: &str, distinct: bool) -> Option<Self> {
        use AggregateFunction::*;
        let function = match upper_name {
            "COUNT" if distinct => CountDistinct,
            "COUNT" => Count,
            "SUM" => Sum,
            "AVG" | "MEAN" => Avg,
            "MIN" => Min,
            "MAX" => Max,
            "STDDEV" | "STDDEV_SAMP" => StddevSamp,
            "STDDEV_POP" => StddevPop,
            "VARIANCE" | "VAR_SAMP" => VarSamp,
            "VAR_POP" => VarPop,
            "FIRST_VALUE" | "FIRST" => FirstValue,
            "LAST_VALUE" | "LAST" => LastValue,
            "APPROX_COUNT_DISTINCT" => ApproxCountDistinct,
            "MEDIAN" => Median,
            "APPROX_PERCENTILE" | "APPROX_QUANTILE" => ApproxPercentile(0.5),
            _ => return None,
        };
        let distinct_ok = matches!(function, CountDistinct | Min | Max | ApproxCountDistinct);
        (!distinct || distinct_ok).then_some(function)
    }

    /// The SQL name.
    pub fn name(&self) -> &'static str {
        use AggregateFunction::*;
        match self {
            CountStar | Count | CountDistinct => "COUNT",
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
            ApproxCountDistinct => "APPROX_COUNT_DISTINCT",
            Median => "MEDIAN",
            ApproxPercentile(_) => "APPROX_PERCENTILE",
        }
    }

    /// The result type for arguments of `arg_types` (see the module table).
    ///
    /// # Errors
    /// `Plan` for a wrong number of arguments, an argument type the function does not
    /// accept (`function SUM does not accept VARCHAR arguments ...`), or a percentile
    /// fraction outside `[0, 1]`.
    ///
    /// ```
    /// use arrow::datatypes::DataType;
    /// use velostream::aggregate::AggregateFunction;
    /// let sum = AggregateFunction::Sum;
    /// assert_eq!(sum.return_type(&[DataType::Int32])?, DataType::Int64);
    /// assert_eq!(sum.return_type(&[DataType::Int64])?, DataType::Decimal128(38, 0));
    /// assert!(sum.return_type(&[DataType::Utf8]).is_err());
    /// # Ok::<(), velostream::Error>(())
    /// ```
    pub fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        use AggregateFunction::*;
        let Some(arg) = self.check_arguments(arg_types)? else {
            return Ok(DataType::Int64); // COUNT(*)
        };
        let arg = value_type(arg);
        let reject = |expected: &str| {
            Error::plan(format!(
                "function {} does not accept {} arguments; expected {expected}",
                self.name(),
                sql_type_name(arg)
            ))
        };
        let accepted = |ok: bool, expected: &str| if ok { Ok(()) } else { Err(reject(expected)) };
        Ok(match self {
            CountStar | Count => DataType::Int64,
            CountDistinct => {
                accepted(!is_nested(arg), "a non-nested type")?;
                DataType::Int64
            }
            ApproxCountDistinct => {
                accepted(
                    hll_accepts(arg) || arg == &DataType::Float16,
                    "a number, string, boolean or temporal type",
                )?;
                DataType::Int64
            }
            Sum => match arg {
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::Null => DataType::Int64,
                DataType::Int64 | DataType::UInt64 => DataType::Decimal128(38, 0),
                DataType::Decimal32(_, s)
                | DataType::Decimal64(_, s)
                | DataType::Decimal128(_, s) => DataType::Decimal128(38, *s),
                DataType::Float16 | DataType::Float32 | DataType::Float64 => DataType::Float64,
                _ => return Err(reject("a numeric type")),
            },
            Median => match arg {
                // DuckDB: DECIMAL and TIMESTAMP medians keep their type.
                DataType::Decimal32(_, _)
                | DataType::Decimal64(_, _)
                | DataType::Decimal128(_, _)
                | DataType::Timestamp(_, _) => arg.clone(),
                _ => {
                    accepted(
                        is_numeric(arg) || arg == &DataType::Null,
                        "a numeric or timestamp type",
                    )?;
                    DataType::Float64
                }
            },
            Avg | StddevSamp | StddevPop | VarSamp | VarPop => {
                accepted(is_numeric(arg) || arg == &DataType::Null, "a numeric type")?;
                DataType::Float64
            }
            Min | Max | FirstValue | LastValue => {
                accepted(
                    is_storable(arg),
                    "a number, string, boolean or temporal type",
                )?;
                arg.clone()
            }
            ApproxPercentile(p) => {
                if !(0.0..=1.0).contains(p) {
                    return Err(Error::plan(format!(
                        "APPROX_PERCENTILE fraction must be between 0 and 1, got {p}"
                    )));
                }
                let ok = arg == &DataType::Null
                    || arg == &DataType::Float16
                    || with_primitive_type!(arg, T => { let _ = std::marker::PhantomData::<T>; true }, _ => false);
                accepted(ok, "a numeric or temporal type")?;
                arg.clone()
            }
        })
    }

    /// Checks the argument count (and FIRST/LAST's order column); the value argument.
    fn check_arguments<'a>(&self, arg_types: &'a [DataType]) -> Result<Option<&'a DataType>> {
        use AggregateFunction::*;
        let (min, max) = match self {
            CountStar => (0, 0),
            FirstValue | LastValue | ApproxPercentile(_) => (1, 2),
            _ => (1, 1),
        };
        if arg_types.len() < min || arg_types.len() > max {
            let expected = if min == max {
                format!("{min}")
            } else {
                format!("{min} or {max}")
            };
            return Err(Error::plan(format!(
                "function {} takes {expected} argument{}, got {}",
                self.name(),
                if max == 1 { "" } else { "s" },
                arg_types.len()
            )));
        }
        if let (FirstValue | LastValue, Some(order)) = (self, arg_types.get(1))
            && !is_order_type(order)
        {
            return Err(Error::plan(format!(
                "function {} orders by BIGINT or TIMESTAMP, not {}",
                self.name(),
                sql_type_name(order)
            )));
        }
        if let (ApproxPercentile(_), Some(p)) = (self, arg_types.get(1))
            && !is_numeric(p)
        {
            return Err(Error::plan(format!(
                "APPROX_PERCENTILE fraction must be a numeric constant, not {}",
                sql_type_name(p)
            )));
        }
        Ok(arg_types.first())
    }

    /// A fresh accumulator (state for all groups) for arguments of `arg_types`.
    ///
    /// For FIRST_VALUE/LAST_VALUE with two argument types, `update` expects the order
    /// column as `values[1]`; for APPROX_PERCENTILE only the value column is passed (the
    /// fraction is in the enum).
    ///
    /// # Errors
    /// As [`return_type`](Self::return_type).
    pub fn create_accumulator(&self, arg_types: &[DataType]) -> Result<Box<dyn GroupsAccumulator>> {
        use AggregateFunction::*;
        let output = self.return_type(arg_types)?;
        let Some(original) = arg_types.first() else {
            return Ok(Box::new(CountAccumulator::new(CountMode::Rows)));
        };
        match self {
            CountStar => return Ok(Box::new(CountAccumulator::new(CountMode::Rows))),
            Count => return Ok(Box::new(CountAccumulator::new(CountMode::NonNull))),
            CountDistinct => return Ok(Box::new(CountDistinctAccumulator::try_new(original)?)),
            _ => {}
        }
        let arg = value_type(original);
        // The type the inner accumulator sees.
        let inner_arg = if arg == &DataType::Float16 {
            DataType::Float32
        } else {
            arg.clone()
        };
        let args = if matches!(self, FirstValue | LastValue) {
            arg_types.len()
        } else {
            1
        };
        let inner: Box<dyn GroupsAccumulator> = if arg == &DataType::Null {
            Box::new(NullArgAccumulator::new(args, output.clone()))
        } else {
            self.typed_accumulator(&inner_arg, &output, args == 2)?
        };
        let arg_cast = (original != &inner_arg).then(|| inner_arg.clone());
        let result_cast = (output == DataType::Float16).then_some(DataType::Float16);
        Ok(if arg_cast.is_some() || result_cast.is_some() {
            Box::new(CastArgs::new(inner, vec![arg_cast], result_cast))
        } else {
            inner
        })
    }

    /// The accumulator for a plain (not dictionary, not Float16, not Null) argument type.
    fn typed_accumulator(
        &self,
        arg: &DataType,
        output: &DataType,
        ordered: bool,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        use AggregateFunction::*;
        let unsupported =
            || Error::not_supported(format!("{} of {}", self.name(), sql_type_name(arg)));
        Ok(match self {
            Sum => {
                use arrow::datatypes::{Decimal128Type, Float32Type, Float64Type, UInt64Type};
                let o = output.clone();
                match arg {
                    DataType::Float32 => Box::new(SumAccumulator::<FloatSum<Float32Type>>::new(o)),
                    DataType::Float64 => Box::new(SumAccumulator::<FloatSum<Float64Type>>::new(o)),
                    DataType::UInt64 => Box::new(SumAccumulator::<ExactSum<UInt64Type>>::new(o)),
                    DataType::Decimal128(_, _) => {
                        Box::new(SumAccumulator::<ExactSum<Decimal128Type>>::new(o))
                    }
                    _ => with_i64_type!(arg, T => Box::new(SumAccumulator::<WideSum<T>>::new(o)),
                        _ => return Err(unsupported())),
                }
            }
            Avg => {
                use arrow::datatypes::{Decimal128Type, Float32Type, Float64Type, UInt64Type};
                let i = arg.clone();
                match arg {
                    DataType::Float32 => Box::new(AvgAccumulator::<FloatSum<Float32Type>>::new(i)),
                    DataType::Float64 => Box::new(AvgAccumulator::<FloatSum<Float64Type>>::new(i)),
                    DataType::UInt64 => Box::new(AvgAccumulator::<ExactSum<UInt64Type>>::new(i)),
                    DataType::Decimal128(_, _) => {
                        Box::new(AvgAccumulator::<ExactSum<Decimal128Type>>::new(i))
                    }
                    _ => with_i64_type!(arg, T => Box::new(AvgAccumulator::<WideSum<T>>::new(i)),
                        _ => return Err(unsupported())),
                }
            }
            Min | Max => {
                let max = matches!(self, Max);
                match arg {
                    DataType::Boolean if max => Box::new(BooleanMinMax::<MaxKind>::new()),
                    DataType::Boolean => Box::new(BooleanMinMax::<MinKind>::new()),
                    t if is_bytes_type(t) && max => {
                        Box::new(BytesMinMax::<MaxKind>::new(t.clone()))
                    }
                    t if is_bytes_type(t) => Box::new(BytesMinMax::<MinKind>::new(t.clone())),
                    t if max => {
                        with_primitive_type!(t, T => Box::new(PrimitiveMinMax::<T, MaxKind>::new(t.clone())),
                        _ => return Err(unsupported()))
                    }
                    t => {
                        with_primitive_type!(t, T => Box::new(PrimitiveMinMax::<T, MinKind>::new(t.clone())),
                        _ => return Err(unsupported()))
                    }
                }
            }
            FirstValue | LastValue => {
                let pick = if matches!(self, FirstValue) {
                    Pick::First
                } else {
                    Pick::Last
                };
                match arg {
                    DataType::Boolean => Box::new(FirstLastAccumulator::new(
                        pick,
                        ordered,
                        BooleanStore::default(),
                    )),
                    t if is_bytes_type(t) => Box::new(FirstLastAccumulator::new(
                        pick,
                        ordered,
                        BytesStore::new(t.clone()),
                    )),
                    t => with_primitive_type!(t, T => Box::new(FirstLastAccumulator::new(
                            pick, ordered, PrimitiveStore::<T>::new(t.clone()))),
                        _ => return Err(unsupported())),
                }
            }
            StddevSamp | StddevPop | VarSamp | VarPop => {
                let statistic = match self {
                    StddevSamp => Statistic::StddevSamp,
                    StddevPop => Statistic::StddevPop,
                    VarSamp => Statistic::VarSamp,
                    _ => Statistic::VarPop,
                };
                Box::new(VarianceAccumulator::new(statistic, arg.clone()))
            }
            ApproxCountDistinct => Box::new(HyperLogLogAccumulator::new(arg.clone())),
            Median => {
                // Output in the argument's type for decimals and timestamps, else DOUBLE.
                let quantile = if output == arg {
                    Quantile::TypedMedian
                } else {
                    Quantile::Median
                };
                with_primitive_type!(arg, T => Box::new(PercentileAccumulator::<T>::new(quantile, arg.clone())),
                    _ => return Err(unsupported()))
            }
            ApproxPercentile(p) => {
                with_primitive_type!(arg, T => Box::new(PercentileAccumulator::<T>::new(Quantile::Discrete(*p), arg.clone())),
                _ => return Err(unsupported()))
            }
            CountStar | Count | CountDistinct => {
                return Err(Error::internal("COUNT is built directly"));
            }
        })
    }
}

/// A dictionary's value type (recursively); any other type itself.
fn value_type(t: &DataType) -> &DataType {
    match t {
        DataType::Dictionary(_, v) => value_type(v),
        other => other,
    }
}

fn is_numeric(t: &DataType) -> bool {
    t.is_integer()
        || t.is_floating()
        || matches!(
            t,
            DataType::Decimal32(_, _) | DataType::Decimal64(_, _) | DataType::Decimal128(_, _)
        )
}

fn is_nested(t: &DataType) -> bool {
    t.is_nested()
}

/// Whether MIN/MAX/FIRST/LAST can keep values of `t`.
fn is_storable(t: &DataType) -> bool {
    matches!(t, DataType::Boolean | DataType::Null | DataType::Float16)
        || is_bytes_type(t)
        || with_primitive_type!(t, T => { let _ = std::marker::PhantomData::<T>; true }, _ => false)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Int32Array, Int64Array, NullArray,
        StringArray, TimestampMillisecondArray,
    };
    use arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimeUnit};

    use super::*;

    #[test]
    fn names_and_aliases() {
        use AggregateFunction::*;
        for (name, f) in [
            ("COUNT", Count),
            ("SUM", Sum),
            ("AVG", Avg),
            ("MIN", Min),
            ("MAX", Max),
            ("STDDEV", StddevSamp),
            ("STDDEV_SAMP", StddevSamp),
            ("STDDEV_POP", StddevPop),
            ("VARIANCE", VarSamp),
            ("VAR_SAMP", VarSamp),
            ("VAR_POP", VarPop),
            ("FIRST_VALUE", FirstValue),
            ("LAST_VALUE", LastValue),
            ("APPROX_COUNT_DISTINCT", ApproxCountDistinct),
            ("MEDIAN", Median),
            ("APPROX_PERCENTILE", ApproxPercentile(0.5)),
        ] {
            assert_eq!(AggregateFunction::from_name(name, false), Some(f), "{name}");
        }
        assert_eq!(
            AggregateFunction::from_name("COUNT", true),
            Some(CountDistinct)
        );
        assert_eq!(AggregateFunction::from_name("MAX", true), Some(Max));
        assert_eq!(AggregateFunction::from_name("AVG", true), None);
        assert_eq!(AggregateFunction::from_name("NOPE", false), None);
        assert_eq!(CountStar.to_string(), "COUNT(*)");
        assert_eq!(VarSamp.to_string(), "VAR_SAMP");
    }

    #[test]
    fn result_types_follow_duckdb() {
        use AggregateFunction::*;
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let cases: Vec<(AggregateFunction, Vec<DataType>, DataType)> = vec![
            (CountStar, vec![], DataType::Int64),
            (Count, vec![DataType::Utf8], DataType::Int64),
            (CountDistinct, vec![dict.clone()], DataType::Int64),
            (Sum, vec![DataType::Int8], DataType::Int64),
            (Sum, vec![DataType::UInt32], DataType::Int64),
            (Sum, vec![DataType::Int64], DataType::Decimal128(38, 0)),
            (Sum, vec![DataType::UInt64], DataType::Decimal128(38, 0)),
            (
                Sum,
                vec![DataType::Decimal64(12, 3)],
                DataType::Decimal128(38, 3),
            ),
            (Sum, vec![DataType::Float32], DataType::Float64),
            (Sum, vec![DataType::Null], DataType::Int64),
            (Avg, vec![DataType::Decimal128(10, 2)], DataType::Float64),
            (Min, vec![dict.clone()], DataType::Utf8),
            (Max, vec![ts.clone()], ts.clone()),
            (Max, vec![DataType::Float16], DataType::Float16),
            (
                FirstValue,
                vec![DataType::Boolean, ts.clone()],
                DataType::Boolean,
            ),
            (StddevPop, vec![DataType::Int16], DataType::Float64),
            (
                ApproxCountDistinct,
                vec![DataType::Utf8View],
                DataType::Int64,
            ),
            (Median, vec![DataType::Int64], DataType::Float64),
            (
                Median,
                vec![DataType::Decimal128(10, 2)],
                DataType::Decimal128(10, 2),
            ),
            (Median, vec![ts.clone()], ts.clone()),
            (ApproxPercentile(0.9), vec![ts.clone()], ts.clone()),
            (
                ApproxPercentile(0.9),
                vec![DataType::Float64, DataType::Float64],
                DataType::Float64,
            ),
        ];
        for (f, args, expected) in cases {
            assert_eq!(f.return_type(&args).unwrap(), expected, "{f} {args:?}");
            // Every accepted signature builds an accumulator.
            f.create_accumulator(&args).unwrap();
        }
    }

    #[test]
    fn wrong_arguments_are_plan_errors() {
        use AggregateFunction::*;
        let cases: Vec<(AggregateFunction, Vec<DataType>, &str)> = vec![
            (
                Sum,
                vec![DataType::Utf8],
                "function SUM does not accept VARCHAR arguments",
            ),
            (
                Avg,
                vec![DataType::Boolean],
                "function AVG does not accept BOOLEAN",
            ),
            (
                Median,
                vec![DataType::Date32],
                "function MEDIAN does not accept DATE arguments; expected a numeric or timestamp type",
            ),
            (Sum, vec![], "function SUM takes 1 argument, got 0"),
            (
                Count,
                vec![DataType::Int64, DataType::Int64],
                "takes 1 argument, got 2",
            ),
            (
                FirstValue,
                vec![DataType::Int64, DataType::Utf8],
                "orders by BIGINT or TIMESTAMP, not VARCHAR",
            ),
            (
                ApproxPercentile(1.5),
                vec![DataType::Int64],
                "between 0 and 1",
            ),
            (
                Min,
                vec![DataType::List(Arc::new(arrow::datatypes::Field::new(
                    "x",
                    DataType::Int64,
                    true,
                )))],
                "does not accept",
            ),
        ];
        for (f, args, message) in cases {
            let err = f.create_accumulator(&args).err().expect("an error");
            assert!(matches!(err, Error::Plan(_)), "{f}: {err}");
            assert!(err.to_string().contains(message), "{f}: {err}");
        }
    }

    #[test]
    fn dictionary_float16_and_null_arguments() {
        let dict: DictionaryArray<Int32Type> = vec![Some("b"), None, Some("a"), Some("b")]
            .into_iter()
            .collect();
        let dict: ArrayRef = Arc::new(dict);
        let dt = dict.data_type().clone();
        let groups = [0, 0, 0, 1];
        let run = |f: AggregateFunction, t: &DataType, v: &ArrayRef| -> ArrayRef {
            let mut acc = f.create_accumulator(std::slice::from_ref(t)).unwrap();
            acc.update(std::slice::from_ref(v), &groups, None, 2)
                .unwrap();
            let mut other = f.create_accumulator(std::slice::from_ref(t)).unwrap();
            other
                .update(std::slice::from_ref(v), &groups, None, 2)
                .unwrap();
            acc.merge(other.as_ref(), &[0, 1], &[0, 1], 2).unwrap();
            acc.evaluate(&[0, 1]).unwrap()
        };
        assert_eq!(
            run(AggregateFunction::Min, &dt, &dict).as_string::<i32>(),
            &StringArray::from(vec!["a", "b"])
        );
        assert_eq!(
            run(AggregateFunction::CountDistinct, &dt, &dict)
                .as_primitive::<Int64Type>()
                .values(),
            &[2, 1]
        );
        assert_eq!(
            run(AggregateFunction::ApproxCountDistinct, &dt, &dict)
                .as_primitive::<Int64Type>()
                .values(),
            &[2, 1]
        );
        assert_eq!(
            run(AggregateFunction::Count, &dt, &dict)
                .as_primitive::<Int64Type>()
                .values(),
            &[4, 2]
        );

        let half = arrow::array::Float32Array::from(vec![1.5f32, 2.5, -1.0, 4.0]);
        let half = arrow::compute::cast(&half, &DataType::Float16).unwrap();
        let max = run(AggregateFunction::Max, &DataType::Float16, &half);
        assert_eq!(max.data_type(), &DataType::Float16);
        assert_eq!(
            arrow::compute::cast(&max, &DataType::Float64)
                .unwrap()
                .as_primitive::<Float64Type>()
                .values(),
            &[2.5, 4.0]
        );
        let sum = run(AggregateFunction::Sum, &DataType::Float16, &half);
        assert_eq!(sum.as_primitive::<Float64Type>().values(), &[6.0, 8.0]);

        let nulls: ArrayRef = Arc::new(NullArray::new(4));
        let sum = run(AggregateFunction::Sum, &DataType::Null, &nulls);
        assert_eq!((sum.data_type(), sum.null_count()), (&DataType::Int64, 2));
        assert_eq!(
            run(AggregateFunction::Count, &DataType::Null, &nulls)
                .as_primitive::<Int64Type>()
                .values(),
            &[0, 0]
        );
    }

    #[test]
    fn first_value_by_event_time_through_the_factory() {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let mut acc = AggregateFunction::FirstValue
            .create_accumulator(&[DataType::Int32, ts])
            .unwrap();
        let v: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 3]));
        let t: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![30, 10, 20]));
        acc.update(&[v, t], &[0, 0, 0], None, 1).unwrap();
        assert_eq!(
            acc.evaluate(&[0])
                .unwrap()
                .as_primitive::<Int32Type>()
                .value(0),
            2
        );
        let _ = Int64Array::from(vec![0]);
    }

    /// Every function on an all-NULL column, a fully filtered column and no rows at all:
    /// NULL results (0 for the counts), of the declared type, for groups that exist.
    #[test]
    fn all_null_filtered_and_empty_inputs() {
        use AggregateFunction::*;
        let functions = [
            Count,
            CountDistinct,
            Sum,
            Avg,
            Min,
            Max,
            StddevSamp,
            StddevPop,
            VarSamp,
            VarPop,
            FirstValue,
            LastValue,
            ApproxCountDistinct,
            Median,
            ApproxPercentile(0.3),
        ];
        let nulls: ArrayRef = Arc::new(Int64Array::from(vec![None, None, None]));
        let values: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let none = BooleanArray::from(vec![false, false, false]);
        for f in functions {
            let expected_type = f.return_type(&[DataType::Int64]).unwrap();
            let counts = matches!(f, Count | CountDistinct | ApproxCountDistinct);
            for (input, filter) in [(&nulls, None), (&values, Some(&none))] {
                let mut acc = f.create_accumulator(&[DataType::Int64]).unwrap();
                acc.update(std::slice::from_ref(input), &[0, 1, 0], filter, 2)
                    .unwrap();
                let r = acc.evaluate(&[1, 0]).unwrap();
                assert_eq!(r.data_type(), &expected_type, "{f}");
                if counts {
                    assert_eq!(r.as_primitive::<Int64Type>().values(), &[0, 0], "{f}");
                } else {
                    assert_eq!(r.null_count(), 2, "{f}");
                }
            }
            // No rows, no groups: an empty result; then groups that never saw a row.
            let mut acc = f.create_accumulator(&[DataType::Int64]).unwrap();
            let empty: ArrayRef = Arc::new(Int64Array::from(Vec::<i64>::new()));
            acc.update(std::slice::from_ref(&empty), &[], None, 0)
                .unwrap();
            assert_eq!(acc.evaluate(&[]).unwrap().len(), 0, "{f}");
            acc.update(std::slice::from_ref(&empty), &[], None, 3)
                .unwrap();
            assert_eq!(acc.evaluate(&[2]).unwrap().len(), 1, "{f}");
            assert!(acc.evaluate(&[3]).is_err(), "{f}: id past the groups");
            assert!(acc.size_bytes() < 1 << 20);
            acc.clear();
            assert!(acc.evaluate(&[0]).is_err(), "{f}: clear drops every group");
        }
    }
}

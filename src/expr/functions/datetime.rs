//! Date and time functions: DATE_PART (also the planner's `EXTRACT(field FROM ts)`),
//! DATE_TRUNC, EPOCH_MS and TO_TIMESTAMP_MILLIS.
//!
//! ```text
//!   Timestamp(unit, tz) / Date32 ──reinterpret──▶ i64 ticks (seconds … nanoseconds, or days)
//!        ──▶ days = ticks div ticks_per_day, time of day = ticks mod ticks_per_day
//!        ──▶ calendar formulas (no chrono value per row) ──▶ BIGINT / DOUBLE / same ticks
//! ```
//! Inputs are any `Timestamp` unit (a time zone is ignored: values are read as UTC),
//! `Date32` or `Date64` (treated as `Date32`). Semantics are DuckDB's:
//!
//! - DATE_PART fields: `year`, `quarter`, `month`, `week` (ISO week), `day`,
//!   `dayofweek`/`dow` (Sunday = 0), `isodow` (Monday = 1), `dayofyear`/`doy`,
//!   `isoyear`, `decade`, `century`, `millennium`, `hour`, `minute`, `second` (0-59),
//!   `millisecond(s)`, `microsecond(s)` and `nanosecond(s)` (all three count from the
//!   start of the minute, so seconds are included: 05.678 gives 5678 milliseconds), with
//!   DuckDB's aliases (`y`, `mon`, `d`, `h`, `m`, `s`, `ms`, `us`, ...). All are BIGINT
//!   except `epoch`: DOUBLE seconds since 1970-01-01 with the fraction. Time fields of a
//!   DATE are rejected at planning (DuckDB: `"date" units "hour" not recognized`).
//! - DATE_TRUNC units: `microsecond`, `millisecond`, `second`, `minute`, `hour`, `day`,
//!   `week` (the Monday), `month`, `quarter`, `year`. A timestamp keeps its exact type
//!   (unit and time zone); a DATE gives a TIMESTAMP (microseconds), as DuckDB does since
//!   1.4.4 (earlier versions returned DATE for units of a day or more).
//! - EPOCH_MS(timestamp or date) is BIGINT milliseconds since the epoch (finer units are
//!   truncated toward zero, as in DuckDB); EPOCH_MS(integer) and
//!   TO_TIMESTAMP_MILLIS(integer) read milliseconds since the epoch as a
//!   `Timestamp(Millisecond)` (DuckDB's EPOCH_MS returns a microsecond TIMESTAMP; the
//!   millisecond type shows the same value without a multiplication that could
//!   overflow).
//!
//! The field or unit must be a constant string; a NULL one gives NULL. A result that does
//! not fit its type (DATE_TRUNC of the earliest representable timestamp, EPOCH_MS of a
//! far-future TIMESTAMP_S) is an execution error.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};

use super::calendar::{civil_from_days, day_of_year, days_from_civil, iso_week, iso_weekday};
use super::operand::Shape;
use super::signature::{bind, check_arity, coerce, constant_string, mismatch, null_literal};
use crate::error::{Error, Result};
use crate::expr::types::is_string;
use crate::expr::{ColumnarValue, Expr, ScalarFunction};

/// The names this family plans.
pub(super) const NAMES: &[&str] = &[
    "DATE_PART",
    "DATEPART",
    "DATE_TRUNC",
    "DATETRUNC",
    "EPOCH_MS",
    "TO_TIMESTAMP_MILLIS",
];

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;
const NANOS_PER_DAY: i64 = 24 * NANOS_PER_HOUR;
const MILLIS_PER_DAY: i64 = 86_400_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A field of DATE_PART.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateField {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    DayOfWeek,
    IsoDayOfWeek,
    DayOfYear,
    IsoYear,
    Decade,
    Century,
    Millennium,
    Hour,
    Minute,
    Second,
    Millisecond,
    Microsecond,
    Nanosecond,
    Epoch,
}

/// Canonical field names, for error messages.
const FIELD_NAMES: &str = "year, quarter, month, week, day, dayofweek, isodow, dayofyear, \
                           isoyear, decade, century, millennium, hour, minute, second, \
                           millisecond, microsecond, nanosecond, epoch";

impl DateField {
    /// Parses a field name with DuckDB's aliases (case-insensitive).
    fn parse(name: &str) -> Option<DateField> {
        use DateField::*;
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "year" | "years" | "y" | "yr" | "yrs" => Year,
            "quarter" | "quarters" => Quarter,
            "month" | "months" | "mon" | "mons" => Month,
            "week" | "weeks" | "w" | "weekofyear" => Week,
            "day" | "days" | "d" | "dayofmonth" => Day,
            "dayofweek" | "dow" | "weekday" => DayOfWeek,
            "isodow" => IsoDayOfWeek,
            "dayofyear" | "doy" => DayOfYear,
            "isoyear" => IsoYear,
            "decade" | "decades" | "dec" | "decs" => Decade,
            "century" | "centuries" | "cent" | "c" => Century,
            "millennium" | "millennia" | "millenniums" | "millenium" | "mil" | "mils" => Millennium,
            "hour" | "hours" | "h" | "hr" | "hrs" => Hour,
            "minute" | "minutes" | "m" | "min" | "mins" => Minute,
            "second" | "seconds" | "s" | "sec" | "secs" => Second,
            "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "msecond" | "mseconds" => {
                Millisecond
            }
            "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "usecond" | "useconds" => {
                Microsecond
            }
            "nanosecond" | "nanoseconds" | "ns" | "nsec" | "nsecs" | "nsecond" | "nseconds" => {
                Nanosecond
            }
            "epoch" => Epoch,
            _ => return None,
        })
    }

    /// Fields below a day, which a DATE does not have.
    fn is_time_of_day(self) -> bool {
        use DateField::*;
        matches!(
            self,
            Hour | Minute | Second | Millisecond | Microsecond | Nanosecond
        )
    }
}

/// A unit of DATE_TRUNC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TruncUnit {
    /// A unit of a day or less, in nanoseconds.
    Fixed(i64),
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

const UNIT_NAMES: &str =
    "microsecond, millisecond, second, minute, hour, day, week, month, quarter, year";

impl TruncUnit {
    fn parse(name: &str) -> Option<TruncUnit> {
        Some(match DateField::parse(name)? {
            DateField::Microsecond => TruncUnit::Fixed(1_000),
            DateField::Millisecond => TruncUnit::Fixed(1_000_000),
            DateField::Second => TruncUnit::Fixed(NANOS_PER_SECOND),
            DateField::Minute => TruncUnit::Fixed(NANOS_PER_MINUTE),
            DateField::Hour => TruncUnit::Fixed(NANOS_PER_HOUR),
            DateField::Day => TruncUnit::Day,
            DateField::Week => TruncUnit::Week,
            DateField::Month => TruncUnit::Month,
            DateField::Quarter => TruncUnit::Quarter,
            DateField::Year => TruncUnit::Year,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateOp {
    Part(DateField),
    Trunc(TruncUnit),
    /// EPOCH_MS of a timestamp or date.
    EpochMs,
    /// EPOCH_MS / TO_TIMESTAMP_MILLIS of an integer.
    FromMillis,
}

/// A bound date/time function.
#[derive(Debug)]
struct DateTimeFunction {
    name: &'static str,
    op: DateOp,
    return_type: DataType,
}

fn is_temporal_input(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
    )
}

/// Plans a call of one of [`NAMES`].
///
/// # Errors
/// Wrong argument count or types; a field or unit that is not a constant string or not
/// known; a time-of-day field of a DATE.
pub(super) fn plan(name: &str, args: Vec<Expr>) -> Result<Expr> {
    match name {
        "DATE_PART" | "DATEPART" => plan_part_or_trunc(name, args, true),
        "DATE_TRUNC" | "DATETRUNC" => plan_part_or_trunc(name, args, false),
        "EPOCH_MS" => plan_epoch_ms(name, args),
        _ => plan_from_millis(name, args),
    }
}

fn plan_part_or_trunc(name: &str, args: Vec<Expr>, part: bool) -> Result<Expr> {
    let expected = "(VARCHAR, DATE | TIMESTAMP)";
    check_arity(name, &args, 2, 2, expected)?;
    let (t_spec, t_source) = (args[0].data_type(), args[1].data_type());
    if !(is_string(&t_spec) || t_spec == DataType::Null)
        || !(is_temporal_input(&t_source) || t_source == DataType::Null)
    {
        return Err(mismatch(name, &args, expected));
    }
    let what = if part { "field" } else { "unit" };
    let spec = constant_string(&args[0])?
        .ok_or_else(|| Error::plan(format!("{name}: the {what} must be a constant string")))?;
    let source_type = match &t_source {
        DataType::Date64 => DataType::Date32,
        t => t.clone(),
    };
    let (op, return_type) = if part {
        let field = match &spec {
            None => None,
            Some(text) => Some(DateField::parse(text).ok_or_else(|| {
                Error::plan(format!(
                    "{name}: unknown field '{text}'; expected one of {FIELD_NAMES}"
                ))
            })?),
        };
        if let (Some(f), Some(text)) = (field, &spec)
            && f.is_time_of_day()
            && source_type == DataType::Date32
        {
            return Err(Error::plan(format!(
                "{name}: field '{text}' is not defined for DATE"
            )));
        }
        let return_type = if field == Some(DateField::Epoch) {
            DataType::Float64
        } else {
            DataType::Int64
        };
        match field {
            Some(f) => (DateOp::Part(f), return_type),
            None => return Ok(null_literal(&return_type)),
        }
    } else {
        let return_type = match &source_type {
            DataType::Timestamp(_, _) => source_type.clone(),
            _ => DataType::Timestamp(TimeUnit::Microsecond, None),
        };
        match &spec {
            None => return Ok(null_literal(&return_type)),
            Some(text) => (
                DateOp::Trunc(TruncUnit::parse(text).ok_or_else(|| {
                    Error::plan(format!(
                        "{name}: unknown unit '{text}'; expected one of {UNIT_NAMES}"
                    ))
                })?),
                return_type,
            ),
        }
    };
    if source_type == DataType::Null {
        return Ok(null_literal(&return_type));
    }
    let mut it = args.into_iter();
    let bound: Vec<Expr> = match (it.next(), it.next()) {
        (Some(spec), Some(source)) => vec![spec, coerce(source, &source_type)],
        _ => return Err(Error::internal("arity checked above")),
    };
    Ok(bind(
        DateTimeFunction {
            name: if part { "DATE_PART" } else { "DATE_TRUNC" },
            op,
            return_type,
        },
        bound,
    ))
}

fn plan_epoch_ms(name: &str, args: Vec<Expr>) -> Result<Expr> {
    let expected = "(DATE | TIMESTAMP) or (BIGINT)";
    check_arity(name, &args, 1, 1, expected)?;
    let t = args[0].data_type();
    if t.is_integer() {
        return plan_from_millis(name, args);
    }
    if !(is_temporal_input(&t) || t == DataType::Null) {
        return Err(mismatch(name, &args, expected));
    }
    if t == DataType::Null {
        return Ok(null_literal(&DataType::Int64));
    }
    Ok(bind(
        DateTimeFunction {
            name: "EPOCH_MS",
            op: DateOp::EpochMs,
            return_type: DataType::Int64,
        },
        args,
    ))
}

fn plan_from_millis(name: &str, args: Vec<Expr>) -> Result<Expr> {
    let expected = "(BIGINT)";
    check_arity(name, &args, 1, 1, expected)?;
    let t = args[0].data_type();
    if !(t.is_integer() || t == DataType::Null) {
        return Err(mismatch(name, &args, expected));
    }
    let args = args
        .into_iter()
        .map(|a| coerce(a, &DataType::Int64))
        .collect();
    Ok(bind(
        DateTimeFunction {
            name: if name == "EPOCH_MS" {
                "EPOCH_MS"
            } else {
                "TO_TIMESTAMP_MILLIS"
            },
            op: DateOp::FromMillis,
            return_type: DataType::Timestamp(TimeUnit::Millisecond, None),
        },
        args,
    ))
}

impl ScalarFunction for DateTimeFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn return_type(&self) -> &DataType {
        &self.return_type
    }

    fn invoke(&self, args: &[ColumnarValue], num_rows: usize) -> Result<ColumnarValue> {
        let shape = Shape::of(args, num_rows);
        let Some(source) = args.last() else {
            return Err(Error::internal("date function without arguments"));
        };
        let source = shape.array(source)?;
        let out = match self.op {
            DateOp::Part(field) => date_part(&source, field)?,
            DateOp::Trunc(unit) => date_trunc(&source, unit, &self.return_type)?,
            DateOp::EpochMs => epoch_ms(&source)?,
            DateOp::FromMillis => arrow::compute::cast(&source, &self.return_type)?,
        };
        Ok(shape.wrap(out))
    }
}

/// The resolution of the i64 values of a temporal column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tick {
    Day,
    Second,
    Millisecond,
    Microsecond,
    Nanosecond,
}

impl Tick {
    fn of(t: &DataType) -> Result<Tick> {
        Ok(match t {
            DataType::Date32 => Tick::Day,
            DataType::Timestamp(TimeUnit::Second, _) => Tick::Second,
            DataType::Timestamp(TimeUnit::Millisecond, _) => Tick::Millisecond,
            DataType::Timestamp(TimeUnit::Microsecond, _) => Tick::Microsecond,
            DataType::Timestamp(TimeUnit::Nanosecond, _) => Tick::Nanosecond,
            other => {
                return Err(Error::internal(format!(
                    "date function called with {other} (the planner did not cast it)"
                )));
            }
        })
    }

    /// Nanoseconds in one tick.
    fn nanos(self) -> i64 {
        match self {
            Tick::Day => NANOS_PER_DAY,
            Tick::Second => NANOS_PER_SECOND,
            Tick::Millisecond => 1_000_000,
            Tick::Microsecond => 1_000,
            Tick::Nanosecond => 1,
        }
    }

    /// Ticks in one day.
    fn per_day(self) -> i64 {
        NANOS_PER_DAY / self.nanos()
    }
}

/// A temporal column as `Int64` ticks (a zero-copy reinterpretation; NULLs kept).
fn ticks(array: &ArrayRef) -> Result<(Int64Array, Tick)> {
    let tick = Tick::of(array.data_type())?;
    let values = arrow::compute::cast(array, &DataType::Int64)?;
    Ok((values.as_primitive::<Int64Type>().clone(), tick))
}

/// Applies `f(day number, nanosecond of the day)` to every value.
fn per_day_and_time(values: &Int64Array, tick: Tick, f: impl Fn(i64, i64) -> i64) -> Int64Array {
    let (per_day, nanos) = (tick.per_day(), tick.nanos());
    values.unary::<_, Int64Type>(|v| f(v.div_euclid(per_day), v.rem_euclid(per_day) * nanos))
}

fn century(year: i64) -> i64 {
    if year > 0 {
        (year - 1) / 100 + 1
    } else {
        year / 100 - 1
    }
}

fn millennium(year: i64) -> i64 {
    if year > 0 {
        (year - 1) / 1000 + 1
    } else {
        year / 1000 - 1
    }
}

fn date_part(source: &ArrayRef, field: DateField) -> Result<ArrayRef> {
    use DateField::*;
    let (values, tick) = ticks(source)?;
    let out = match field {
        Epoch => {
            // DuckDB divides the tick count by the ticks per second in double precision
            let per_second = (NANOS_PER_SECOND / tick.nanos().min(NANOS_PER_SECOND)) as f64;
            let scale = if tick == Tick::Day { 86_400.0 } else { 1.0 };
            return Ok(Arc::new(
                values.unary::<_, Float64Type>(|v| v as f64 * scale / per_second),
            ));
        }
        Year => per_day_and_time(&values, tick, |d, _| civil_from_days(d).0),
        Quarter => per_day_and_time(&values, tick, |d, _| {
            i64::from((civil_from_days(d).1 - 1) / 3 + 1)
        }),
        Month => per_day_and_time(&values, tick, |d, _| i64::from(civil_from_days(d).1)),
        Day => per_day_and_time(&values, tick, |d, _| i64::from(civil_from_days(d).2)),
        Week => per_day_and_time(&values, tick, |d, _| iso_week(d).1),
        IsoYear => per_day_and_time(&values, tick, |d, _| iso_week(d).0),
        DayOfWeek => per_day_and_time(&values, tick, |d, _| iso_weekday(d) % 7),
        IsoDayOfWeek => per_day_and_time(&values, tick, |d, _| iso_weekday(d)),
        DayOfYear => per_day_and_time(&values, tick, |d, _| day_of_year(d)),
        Decade => per_day_and_time(&values, tick, |d, _| civil_from_days(d).0 / 10),
        Century => per_day_and_time(&values, tick, |d, _| century(civil_from_days(d).0)),
        Millennium => per_day_and_time(&values, tick, |d, _| millennium(civil_from_days(d).0)),
        Hour => per_day_and_time(&values, tick, |_, t| t / NANOS_PER_HOUR),
        Minute => per_day_and_time(&values, tick, |_, t| t / NANOS_PER_MINUTE % 60),
        Second => per_day_and_time(&values, tick, |_, t| t / NANOS_PER_SECOND % 60),
        Millisecond => per_day_and_time(&values, tick, |_, t| t % NANOS_PER_MINUTE / 1_000_000),
        Microsecond => per_day_and_time(&values, tick, |_, t| t % NANOS_PER_MINUTE / 1_000),
        Nanosecond => per_day_and_time(&values, tick, |_, t| t % NANOS_PER_MINUTE),
    };
    Ok(Arc::new(out))
}

/// The first day of the period of `unit` that contains day `days`.
fn truncate_days(days: i64, unit: TruncUnit) -> i64 {
    match unit {
        TruncUnit::Fixed(_) | TruncUnit::Day => days,
        TruncUnit::Week => days - (iso_weekday(days) - 1),
        TruncUnit::Month => {
            let (y, m, _) = civil_from_days(days);
            days_from_civil(y, m, 1)
        }
        TruncUnit::Quarter => {
            let (y, m, _) = civil_from_days(days);
            days_from_civil(y, (m - 1) / 3 * 3 + 1, 1)
        }
        TruncUnit::Year => days_from_civil(civil_from_days(days).0, 1, 1),
    }
}

fn out_of_range() -> Error {
    Error::execution("DATE_TRUNC: result out of the range of its timestamp type")
}

fn date_trunc(source: &ArrayRef, unit: TruncUnit, return_type: &DataType) -> Result<ArrayRef> {
    let (values, tick) = ticks(source)?;
    let truncated: Int64Array = if tick == Tick::Day {
        // a DATE becomes a microsecond TIMESTAMP at midnight of the truncated day
        values.try_unary::<_, Int64Type, _>(|d| {
            truncate_days(d, unit)
                .checked_mul(MICROS_PER_DAY)
                .ok_or_else(out_of_range)
        })?
    } else {
        match unit {
            TruncUnit::Fixed(unit_nanos) => {
                let step = unit_nanos / tick.nanos();
                if step <= 1 {
                    values
                } else {
                    values.try_unary::<_, Int64Type, _>(|v| {
                        v.checked_sub(v.rem_euclid(step)).ok_or_else(out_of_range)
                    })?
                }
            }
            _ => {
                let per_day = tick.per_day();
                values.try_unary::<_, Int64Type, _>(|v| {
                    truncate_days(v.div_euclid(per_day), unit)
                        .checked_mul(per_day)
                        .ok_or_else(out_of_range)
                })?
            }
        }
    };
    Ok(arrow::compute::cast(&truncated, return_type)?)
}

fn epoch_ms(source: &ArrayRef) -> Result<ArrayRef> {
    if source.data_type() == &DataType::Date64 {
        return Ok(arrow::compute::cast(source, &DataType::Int64)?);
    }
    let (values, tick) = ticks(source)?;
    let out = match tick {
        Tick::Millisecond => values,
        // DuckDB truncates finer units toward zero
        Tick::Microsecond => values.unary::<_, Int64Type>(|v| v / 1_000),
        Tick::Nanosecond => values.unary::<_, Int64Type>(|v| v / 1_000_000),
        Tick::Second => values.try_unary::<_, Int64Type, _>(|v| {
            v.checked_mul(1_000)
                .ok_or_else(|| Error::execution("EPOCH_MS: timestamp out of range"))
        })?,
        // |days| < 2^31, so the product stays far inside i64
        Tick::Day => values.unary::<_, Int64Type>(|d| d.wrapping_mul(MILLIS_PER_DAY)),
    };
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::functions::test_support::*;
    use arrow::array::{
        Date32Array, Date64Array, Float64Array, Int32Array, TimestampMicrosecondArray,
        TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
    };
    use arrow::buffer::NullBuffer;

    /// 2024-01-02 03:04:05.678 UTC in milliseconds (a Tuesday, ISO week 1).
    const TS_MS: i64 = 1_704_164_645_678;

    fn i64s(a: &ArrayRef) -> Vec<Option<i64>> {
        a.as_primitive::<Int64Type>().iter().collect()
    }

    fn part(field: &str, cols: &[ArrayRef]) -> Vec<Option<i64>> {
        i64s(&eval(
            "DATE_PART",
            vec![lit_str(Some(field)), c(cols, 0)],
            cols,
        ))
    }

    fn ms_column(values: Vec<Option<i64>>) -> ArrayRef {
        arr(TimestampMillisecondArray::from(values))
    }

    fn days(y: i64, m: u32, d: u32) -> i32 {
        days_from_civil(y, m, d) as i32
    }

    #[test]
    fn date_part_fields_of_a_timestamp() {
        let cols = [ms_column(vec![Some(TS_MS), None])];
        let expect = [
            ("year", 2024),
            ("quarter", 1),
            ("month", 1),
            ("week", 1),
            ("day", 2),
            ("dayofweek", 2),
            ("dow", 2),
            ("isodow", 2),
            ("dayofyear", 2),
            ("doy", 2),
            ("isoyear", 2024),
            ("decade", 202),
            ("century", 21),
            ("millennium", 3),
            ("hour", 3),
            ("minute", 4),
            ("second", 5),
            ("millisecond", 5_678),
            ("milliseconds", 5_678),
            ("microsecond", 5_678_000),
            ("microseconds", 5_678_000),
            ("nanosecond", 5_678_000_000),
            ("YEAR", 2024),
            ("mon", 1),
        ];
        for (field, value) in expect {
            assert_eq!(part(field, &cols), vec![Some(value), None], "{field}");
        }
        let epoch = eval(
            "DATE_PART",
            vec![lit_str(Some("epoch")), c(&cols, 0)],
            &cols,
        );
        assert_eq!(epoch.data_type(), &DataType::Float64);
        let epoch: Vec<_> = epoch.as_primitive::<Float64Type>().iter().collect();
        assert_eq!(epoch, vec![Some(1_704_164_645.678), None]);
    }

    #[test]
    fn date_part_of_every_unit_and_of_dates() {
        let s = [arr(TimestampSecondArray::from(vec![TS_MS / 1000]))];
        assert_eq!(part("second", &s), vec![Some(5)]);
        assert_eq!(part("millisecond", &s), vec![Some(5_000)]);
        let us = [arr(TimestampMicrosecondArray::from(vec![TS_MS * 1000 + 9]))];
        assert_eq!(part("microsecond", &us), vec![Some(5_678_009)]);
        let ns = [arr(TimestampNanosecondArray::from(vec![
            TS_MS * 1_000_000 + 1,
        ]))];
        assert_eq!(part("nanosecond", &ns), vec![Some(5_678_000_001)]);
        assert_eq!(part("hour", &ns), vec![Some(3)]);
        // with a time zone the value is read as UTC
        let tz = [arr(
            TimestampMillisecondArray::from(vec![TS_MS]).with_timezone("+05:00")
        )];
        assert_eq!(part("hour", &tz), vec![Some(3)]);
        let d = [arr(Date32Array::from(vec![Some(days(2021, 1, 3)), None]))];
        assert_eq!(part("year", &d), vec![Some(2021), None]);
        assert_eq!(part("week", &d), vec![Some(53), None]);
        assert_eq!(part("isoyear", &d), vec![Some(2020), None]);
        assert_eq!(part("dow", &d), vec![Some(0), None]);
        assert_eq!(part("isodow", &d), vec![Some(7), None]);
        let epoch = eval("DATE_PART", vec![lit_str(Some("epoch")), c(&d, 0)], &d);
        assert_eq!(
            epoch.as_primitive::<Float64Type>().value(0),
            days(2021, 1, 3) as f64 * 86_400.0
        );
        let d64 = [arr(Date64Array::from(vec![
            i64::from(days(2000, 2, 29)) * 86_400_000,
        ]))];
        assert_eq!(part("day", &d64), vec![Some(29)]);
    }

    #[test]
    fn date_part_before_1970_and_bc_years() {
        // 1969-12-31 23:59:59.999
        let cols = [ms_column(vec![Some(-1)])];
        assert_eq!(part("year", &cols), vec![Some(1969)]);
        assert_eq!(part("day", &cols), vec![Some(31)]);
        assert_eq!(part("hour", &cols), vec![Some(23)]);
        assert_eq!(part("millisecond", &cols), vec![Some(59_999)]);
        let bc = [arr(Date32Array::from(vec![days(-50, 6, 1), days(0, 1, 1)]))];
        assert_eq!(part("year", &bc), vec![Some(-50), Some(0)]);
        assert_eq!(part("century", &bc), vec![Some(-1), Some(-1)]);
        assert_eq!(part("millennium", &bc), vec![Some(-1), Some(-1)]);
        assert_eq!(part("decade", &bc), vec![Some(-5), Some(0)]);
    }

    #[test]
    fn date_part_scalar_and_null_arguments() {
        let v = eval_value(
            "DATE_PART",
            vec![lit_str(Some("month")), lit(ms_column(vec![Some(TS_MS)]))],
            &[],
        );
        assert!(matches!(v, ColumnarValue::Scalar(_)));
        assert_eq!(i64s(&v.into_array(1).unwrap()), vec![Some(1)]);
        let cols = [ms_column(vec![Some(TS_MS), Some(0)])];
        let v = eval("DATE_PART", vec![lit_str(None), c(&cols, 0)], &cols);
        assert_eq!(v.data_type(), &DataType::Int64);
        assert_eq!(v.null_count(), 2);
        let v = eval("DATEPART", vec![lit_str(Some("year")), lit_null()], &[]);
        assert_eq!(v.null_count(), 1);
    }

    #[test]
    fn date_part_errors() {
        let cols = [ms_column(vec![Some(TS_MS)])];
        let field = arr(arrow::array::StringArray::from(vec!["year"]));
        let both = [cols[0].clone(), field];
        assert_eq!(
            plan_error("DATE_PART", vec![c(&both, 1), c(&both, 0)]),
            "planning error: DATE_PART: the field must be a constant string"
        );
        assert_eq!(
            plan_error("DATE_PART", vec![lit_str(Some("fortnight")), c(&cols, 0)]),
            format!(
                "planning error: DATE_PART: unknown field 'fortnight'; expected one of {FIELD_NAMES}"
            )
        );
        let d = [arr(Date32Array::from(vec![0]))];
        assert_eq!(
            plan_error("DATE_PART", vec![lit_str(Some("hour")), c(&d, 0)]),
            "planning error: DATE_PART: field 'hour' is not defined for DATE"
        );
        assert_eq!(
            plan_error("DATE_PART", vec![lit_str(Some("year")), lit_i64(Some(1))]),
            "planning error: function DATE_PART does not accept (VARCHAR, BIGINT); expected (VARCHAR, DATE | TIMESTAMP)"
        );
        assert_eq!(
            plan_error("DATE_PART", vec![lit_str(Some("year"))]),
            "planning error: function DATE_PART does not accept (VARCHAR); expected (VARCHAR, DATE | TIMESTAMP)"
        );
        assert_eq!(
            plan_error("DATE_PART", vec![lit_i64(Some(1)), c(&cols, 0)]),
            "planning error: function DATE_PART does not accept (BIGINT, TIMESTAMP_MS); expected (VARCHAR, DATE | TIMESTAMP)"
        );
    }

    fn trunc_ms(unit: &str, cols: &[ArrayRef]) -> Vec<Option<i64>> {
        let out = eval("DATE_TRUNC", vec![lit_str(Some(unit)), c(cols, 0)], cols);
        assert_eq!(out.data_type(), cols[0].data_type());
        let out = arrow::compute::cast(&out, &DataType::Int64).unwrap();
        i64s(&out)
    }

    fn ms_of(y: i64, m: u32, d: u32, h: i64, mi: i64, s: i64, ms: i64) -> i64 {
        days_from_civil(y, m, d) * MILLIS_PER_DAY + ((h * 60 + mi) * 60 + s) * 1000 + ms
    }

    #[test]
    fn date_trunc_every_unit() {
        // 2024-05-16 13:14:15.678 (a Thursday)
        let t = ms_of(2024, 5, 16, 13, 14, 15, 678);
        let cols = [ms_column(vec![Some(t), None])];
        let expect = [
            ("microsecond", t),
            ("millisecond", t),
            ("second", ms_of(2024, 5, 16, 13, 14, 15, 0)),
            ("minute", ms_of(2024, 5, 16, 13, 14, 0, 0)),
            ("hour", ms_of(2024, 5, 16, 13, 0, 0, 0)),
            ("day", ms_of(2024, 5, 16, 0, 0, 0, 0)),
            ("week", ms_of(2024, 5, 13, 0, 0, 0, 0)),
            ("month", ms_of(2024, 5, 1, 0, 0, 0, 0)),
            ("quarter", ms_of(2024, 4, 1, 0, 0, 0, 0)),
            ("year", ms_of(2024, 1, 1, 0, 0, 0, 0)),
            ("Hours", ms_of(2024, 5, 16, 13, 0, 0, 0)),
        ];
        for (unit, value) in expect {
            assert_eq!(trunc_ms(unit, &cols), vec![Some(value), None], "{unit}");
        }
        // before 1970 truncation goes down, not toward zero
        let neg = [ms_column(vec![Some(-1)])];
        assert_eq!(trunc_ms("second", &neg), vec![Some(-1000)]);
        assert_eq!(
            trunc_ms("year", &neg),
            vec![Some(ms_of(1969, 1, 1, 0, 0, 0, 0))]
        );
    }

    #[test]
    fn date_trunc_keeps_unit_and_time_zone() {
        let ns = [arr(TimestampNanosecondArray::from(vec![123_456_789_123]))];
        assert_eq!(trunc_ms("microsecond", &ns), vec![Some(123_456_789_000)]);
        assert_eq!(trunc_ms("second", &ns), vec![Some(123_000_000_000)]);
        let s = [arr(TimestampSecondArray::from(vec![125]))];
        assert_eq!(trunc_ms("millisecond", &s), vec![Some(125)]);
        assert_eq!(trunc_ms("minute", &s), vec![Some(120)]);
        let tz = [arr(
            TimestampMillisecondArray::from(vec![TS_MS]).with_timezone("Europe/Paris")
        )];
        assert_eq!(
            trunc_ms("day", &tz),
            vec![Some(ms_of(2024, 1, 2, 0, 0, 0, 0))]
        );
    }

    #[test]
    fn date_trunc_of_a_date_is_a_timestamp() {
        let d = [arr(Date32Array::from(vec![Some(days(2024, 5, 16)), None]))];
        assert_eq!(
            planned_type("DATE_TRUNC", vec![lit_str(Some("month")), c(&d, 0)]),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        let out = eval("DATE_TRUNC", vec![lit_str(Some("month")), c(&d, 0)], &d);
        let out: Vec<_> = out
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .iter()
            .collect();
        assert_eq!(
            out,
            vec![Some(i64::from(days(2024, 5, 1)) * MICROS_PER_DAY), None]
        );
        let out = eval("DATE_TRUNC", vec![lit_str(Some("hour")), c(&d, 0)], &d);
        assert_eq!(
            out.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(0),
            i64::from(days(2024, 5, 16)) * MICROS_PER_DAY
        );
    }

    #[test]
    fn date_trunc_range_errors_and_nulls() {
        let min = [arr(TimestampMillisecondArray::from(vec![i64::MIN]))];
        assert_eq!(
            eval_error(
                "DATE_TRUNC",
                vec![lit_str(Some("second")), c(&min, 0)],
                &min
            ),
            "execution error: DATE_TRUNC: result out of the range of its timestamp type"
        );
        let far = [arr(Date32Array::from(vec![i32::MAX]))];
        assert!(
            eval_error("DATE_TRUNC", vec![lit_str(Some("day")), c(&far, 0)], &far)
                .contains("out of the range")
        );
        // a NULL row hiding an extreme value does not fail
        let masked = [arr(TimestampMillisecondArray::new(
            vec![i64::MIN].into(),
            Some(NullBuffer::from(vec![false])),
        ))];
        assert_eq!(trunc_ms("second", &masked), vec![None]);
        let v = eval("DATE_TRUNC", vec![lit_str(None), c(&min, 0)], &min);
        assert_eq!(v.null_count(), 1);
        assert_eq!(v.data_type(), min[0].data_type());
    }

    #[test]
    fn date_trunc_errors() {
        let cols = [ms_column(vec![Some(TS_MS)])];
        assert_eq!(
            plan_error("DATE_TRUNC", vec![lit_str(Some("dow")), c(&cols, 0)]),
            format!("planning error: DATE_TRUNC: unknown unit 'dow'; expected one of {UNIT_NAMES}")
        );
        assert_eq!(
            plan_error("DATETRUNC", vec![c(&cols, 0), lit_str(Some("day"))]),
            "planning error: function DATETRUNC does not accept (TIMESTAMP_MS, VARCHAR); expected (VARCHAR, DATE | TIMESTAMP)"
        );
    }

    #[test]
    fn epoch_ms_both_ways() {
        let cols = [
            ms_column(vec![Some(TS_MS), None, Some(-1)]),
            arr(TimestampMicrosecondArray::from(vec![
                Some(-1_500),
                Some(1_999),
                None,
            ])),
            arr(TimestampSecondArray::from(vec![Some(2), None, Some(-3)])),
            arr(Date32Array::from(vec![Some(1), Some(-1), None])),
            arr(Int64Array::from(vec![Some(TS_MS), None, Some(-1)])),
            arr(Int32Array::from(vec![Some(5), None, Some(-5)])),
        ];
        let epoch = |i: usize| i64s(&eval("EPOCH_MS", vec![c(&cols, i)], &cols));
        assert_eq!(epoch(0), vec![Some(TS_MS), None, Some(-1)]);
        assert_eq!(epoch(1), vec![Some(-1), Some(1), None]);
        assert_eq!(epoch(2), vec![Some(2_000), None, Some(-3_000)]);
        assert_eq!(epoch(3), vec![Some(86_400_000), Some(-86_400_000), None]);
        let from = |name: &str, i: usize| {
            let out = eval(name, vec![c(&cols, i)], &cols);
            assert_eq!(
                out.data_type(),
                &DataType::Timestamp(TimeUnit::Millisecond, None)
            );
            out.as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                .iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(from("EPOCH_MS", 4), vec![Some(TS_MS), None, Some(-1)]);
        assert_eq!(
            from("TO_TIMESTAMP_MILLIS", 4),
            vec![Some(TS_MS), None, Some(-1)]
        );
        assert_eq!(
            from("TO_TIMESTAMP_MILLIS", 5),
            vec![Some(5), None, Some(-5)]
        );
        // round trip
        let back = eval(
            "EPOCH_MS",
            vec![plan_function_expr("TO_TIMESTAMP_MILLIS", vec![c(&cols, 4)])],
            &cols,
        );
        assert_eq!(i64s(&back), vec![Some(TS_MS), None, Some(-1)]);
        let big = [arr(TimestampSecondArray::from(vec![i64::MAX / 10]))];
        assert_eq!(
            eval_error("EPOCH_MS", vec![c(&big, 0)], &big),
            "execution error: EPOCH_MS: timestamp out of range"
        );
        assert_eq!(eval("EPOCH_MS", vec![lit_null()], &[]).null_count(), 1);
        let v = eval_value("TO_TIMESTAMP_MILLIS", vec![lit_i64(Some(1))], &[]);
        assert!(matches!(v, ColumnarValue::Scalar(_)));
    }

    fn plan_function_expr(name: &str, args: Vec<Expr>) -> Expr {
        crate::expr::functions::plan_function(name, args)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn epoch_ms_and_to_timestamp_errors() {
        assert_eq!(
            plan_error("EPOCH_MS", vec![lit_str(Some("2024-01-01"))]),
            "planning error: function EPOCH_MS does not accept (VARCHAR); expected (DATE | TIMESTAMP) or (BIGINT)"
        );
        assert_eq!(
            plan_error("EPOCH_MS", vec![]),
            "planning error: function EPOCH_MS does not accept (); expected (DATE | TIMESTAMP) or (BIGINT)"
        );
        assert_eq!(
            plan_error("TO_TIMESTAMP_MILLIS", vec![lit_f64(Some(1.5))]),
            "planning error: function TO_TIMESTAMP_MILLIS does not accept (DOUBLE); expected (BIGINT)"
        );
        let ts = lit(ms_column(vec![Some(1)]));
        assert_eq!(
            plan_error("TO_TIMESTAMP_MILLIS", vec![ts]),
            "planning error: function TO_TIMESTAMP_MILLIS does not accept (TIMESTAMP_MS); expected (BIGINT)"
        );
    }

    #[test]
    fn float_columns_are_not_temporal() {
        let cols = [arr(Float64Array::from(vec![1.0]))];
        assert!(
            plan_error("DATE_TRUNC", vec![lit_str(Some("day")), c(&cols, 0)])
                .contains("does not accept (VARCHAR, DOUBLE)")
        );
    }
}

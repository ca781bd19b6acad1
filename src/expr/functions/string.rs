//! String functions: UPPER / UCASE, LOWER / LCASE, LENGTH / CHAR_LENGTH, SUBSTRING /
//! SUBSTR, TRIM, LTRIM, RTRIM, CONCAT, REPLACE and SPLIT_PART.
//!
//! Inputs may be `Utf8`, `LargeUtf8`, `Utf8View` or a dictionary of those. Results:
//! LENGTH is BIGINT; the others return text encoded as described in `string_column`
//! (`LargeUtf8` stays `LargeUtf8`, `Utf8` and `Utf8View` give `Utf8`). When the other
//! arguments are constants, a dictionary first argument is processed on its dictionary
//! values only and the result keeps its keys (a dictionary again; LENGTH gathers its
//! BIGINT results through the keys), so the work is per distinct value, not per row.
//!
//! Semantics are DuckDB's:
//! - characters are Unicode code points (LENGTH('é') = 1, SUBSTRING counts characters);
//! - UPPER/LOWER map each code point to one code point (DuckDB's utf8proc simple case
//!   mapping): 'ß' stays 'ß', ASCII columns take a byte-wise fast path;
//! - SUBSTRING(s, start [, length]) is 1-based; start 0 begins one character before the
//!   first one, a negative start counts from the end, a negative length takes the
//!   characters before `start`;
//! - TRIM without characters removes Unicode space separators (category Zs, so not tabs
//!   or newlines); with characters it removes any of them;
//! - CONCAT casts every argument to VARCHAR and skips NULLs (all NULL gives '');
//! - REPLACE with an empty search string returns the input unchanged;
//! - SPLIT_PART(s, delimiter, n) is 1-based, a negative n counts from the end, n = 0 or
//!   out of range gives '', an empty delimiter splits into characters;
//! - any other NULL argument gives NULL.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, GenericStringArray, OffsetSizeTrait};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::DataType;

use super::operand::{IntOperand, Shape, StrOperand};
use super::signature::{bind, check_arity, coerce, mismatch};
use super::string_column::{
    RowWriter, StringColumnBuilder, is_ascii_column, map_string_rows, map_strings,
    map_strings_to_i64, string_result_type,
};
use crate::error::{Error, Result};
use crate::expr::types::is_string;
use crate::expr::{ColumnarValue, Expr, ScalarFunction};

/// The names this family plans.
pub(super) const NAMES: &[&str] = &[
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
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrimSide {
    Both,
    Leading,
    Trailing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StringOp {
    Upper,
    Lower,
    Length,
    Substring,
    Trim(TrimSide),
    Concat,
    Replace,
    SplitPart,
}

impl StringOp {
    fn name(self) -> &'static str {
        match self {
            StringOp::Upper => "UPPER",
            StringOp::Lower => "LOWER",
            StringOp::Length => "LENGTH",
            StringOp::Substring => "SUBSTRING",
            StringOp::Trim(TrimSide::Both) => "TRIM",
            StringOp::Trim(TrimSide::Leading) => "LTRIM",
            StringOp::Trim(TrimSide::Trailing) => "RTRIM",
            StringOp::Concat => "CONCAT",
            StringOp::Replace => "REPLACE",
            StringOp::SplitPart => "SPLIT_PART",
        }
    }
}

/// What an argument after the first must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArgKind {
    Text,
    Integer,
}

/// A bound string function.
#[derive(Debug)]
struct StringFunction {
    op: StringOp,
    return_type: DataType,
}

/// Plans a call of one of [`NAMES`].
///
/// # Errors
/// Wrong argument count or types.
pub(super) fn plan(name: &str, args: Vec<Expr>) -> Result<Expr> {
    let op = match name {
        "UPPER" | "UCASE" => StringOp::Upper,
        "LOWER" | "LCASE" => StringOp::Lower,
        "LENGTH" | "CHAR_LENGTH" | "CHARACTER_LENGTH" => StringOp::Length,
        "SUBSTRING" | "SUBSTR" => StringOp::Substring,
        "TRIM" => StringOp::Trim(TrimSide::Both),
        "LTRIM" => StringOp::Trim(TrimSide::Leading),
        "RTRIM" => StringOp::Trim(TrimSide::Trailing),
        "CONCAT" => StringOp::Concat,
        "REPLACE" => StringOp::Replace,
        _ => StringOp::SplitPart,
    };
    use ArgKind::{Integer, Text};
    let (expected, rest, optional): (&str, &[ArgKind], usize) = match op {
        StringOp::Upper | StringOp::Lower | StringOp::Length => ("(VARCHAR)", &[], 0),
        StringOp::Substring => ("(VARCHAR, BIGINT [, BIGINT])", &[Integer, Integer], 1),
        StringOp::Trim(_) => ("(VARCHAR [, VARCHAR])", &[Text], 1),
        StringOp::Replace => ("(VARCHAR, VARCHAR, VARCHAR)", &[Text, Text], 0),
        StringOp::SplitPart => ("(VARCHAR, VARCHAR, BIGINT)", &[Text, Integer], 0),
        StringOp::Concat => return plan_concat(name, args),
    };
    check_arity(
        name,
        &args,
        1 + rest.len() - optional,
        1 + rest.len(),
        expected,
    )?;
    let types: Vec<DataType> = args.iter().map(Expr::data_type).collect();
    let accepts = |t: &DataType, kind: ArgKind| {
        *t == DataType::Null
            || match kind {
                Text => is_string(t),
                Integer => t.is_integer(),
            }
    };
    if !accepts(&types[0], Text) || types[1..].iter().zip(rest).any(|(t, k)| !accepts(t, *k)) {
        return Err(mismatch(name, &args, expected));
    }
    // A dictionary is mapped on its values only when every other argument is the same
    // for all rows; otherwise it is decoded first.
    let rest_constant = args[1..].iter().all(Expr::is_constant);
    let first_type = match &types[0] {
        DataType::Null => DataType::Utf8,
        DataType::Dictionary(_, v) if !rest_constant => v.as_ref().clone(),
        t => t.clone(),
    };
    let return_type = if op == StringOp::Length {
        DataType::Int64
    } else {
        string_result_type(&first_type)
    };
    let mut bound = Vec::with_capacity(args.len());
    for (i, arg) in args.into_iter().enumerate() {
        let to = match i.checked_sub(1).and_then(|r| rest.get(r)) {
            None => first_type.clone(),
            Some(Text) => DataType::Utf8,
            Some(Integer) => DataType::Int64,
        };
        bound.push(coerce(arg, &to));
    }
    Ok(bind(StringFunction { op, return_type }, bound))
}

/// CONCAT: every argument is cast to VARCHAR.
fn plan_concat(name: &str, args: Vec<Expr>) -> Result<Expr> {
    let expected = "(value [, ...])";
    check_arity(name, &args, 1, usize::MAX, expected)?;
    if args
        .iter()
        .any(|a| !arrow::compute::can_cast_types(&a.data_type(), &DataType::Utf8))
    {
        return Err(mismatch(name, &args, expected));
    }
    let args = args
        .into_iter()
        .map(|a| coerce(a, &DataType::Utf8))
        .collect();
    Ok(bind(
        StringFunction {
            op: StringOp::Concat,
            return_type: DataType::Utf8,
        },
        args,
    ))
}

impl ScalarFunction for StringFunction {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn return_type(&self) -> &DataType {
        &self.return_type
    }

    fn invoke(&self, args: &[ColumnarValue], num_rows: usize) -> Result<ColumnarValue> {
        let shape = Shape::of(args, num_rows);
        if self.op == StringOp::Concat {
            return Ok(shape.wrap(concat(args, shape)?));
        }
        let Some(first) = args.first() else {
            return Err(Error::internal("string function without arguments"));
        };
        let first = shape.array(first)?;
        let nulls = || arrow::array::new_null_array(&self.return_type, first.len());
        let out = match self.op {
            StringOp::Upper => convert_case(&first, true)?,
            StringOp::Lower => convert_case(&first, false)?,
            StringOp::Length => map_strings_to_i64(&first, Some(byte_length), char_length)?,
            StringOp::Substring => substring(&first, &args[1..])?.unwrap_or_else(nulls),
            StringOp::Trim(side) => trim(&first, args.get(1), side)?.unwrap_or_else(nulls),
            StringOp::Replace => replace(&first, &args[1..])?.unwrap_or_else(nulls),
            StringOp::SplitPart => split_part(&first, &args[1..])?.unwrap_or_else(nulls),
            StringOp::Concat => return Err(Error::internal("CONCAT handled above")),
        };
        // A dictionary reaches a per-row path only if a constant argument arrived as a
        // column; the result is then re-encoded to the planned type.
        let out = if out.data_type() == &self.return_type {
            out
        } else {
            arrow::compute::cast(&out, &self.return_type)?
        };
        Ok(shape.wrap(out))
    }
}

/// `[start, (length)]` / `[chars]` / ... arguments by position.
fn arg(rest: &[ColumnarValue], i: usize) -> Result<&ColumnarValue> {
    rest.get(i)
        .ok_or_else(|| Error::internal("string function called with too few arguments"))
}

/// Number of code points: every byte that does not continue a UTF-8 sequence starts one.
fn char_length(s: &str) -> i64 {
    s.bytes().filter(|&b| (b as i8) >= -0x40).count() as i64
}

fn byte_length(s: &str) -> i64 {
    s.len() as i64
}

/// The simple (one code point to one code point) case mapping of utf8proc, as DuckDB
/// uses. Rust only offers the full mapping, which may give several characters
/// (ß → SS); those characters keep their value, except the few whose simple mapping
/// differs from "unchanged".
fn simple_case(c: char, upper: bool) -> char {
    if upper {
        let mut it = c.to_uppercase();
        match (it.next(), it.next()) {
            (Some(u), None) => u,
            // Greek with ypogegrammeni: the simple mapping is the titlecase letter
            _ => match c {
                '\u{1F80}'..='\u{1F87}' | '\u{1F90}'..='\u{1F97}' | '\u{1FA0}'..='\u{1FA7}' => {
                    char::from_u32(c as u32 + 8).unwrap_or(c)
                }
                '\u{1FB3}' => '\u{1FBC}',
                '\u{1FC3}' => '\u{1FCC}',
                '\u{1FF3}' => '\u{1FFC}',
                _ => c,
            },
        }
    } else {
        let mut it = c.to_lowercase();
        match (it.next(), it.next()) {
            (Some(l), None) => l,
            // İ (U+0130): full mapping "i̇", simple mapping 'i'
            _ if c == '\u{130}' => 'i',
            _ => c,
        }
    }
}

fn convert_case(array: &ArrayRef, upper: bool) -> Result<ArrayRef> {
    if let Some(dict) = array.as_any_dictionary_opt() {
        return Ok(dict.with_values(convert_case(dict.values(), upper)?));
    }
    match array.data_type() {
        DataType::Utf8 if array.as_string::<i32>().is_ascii() => {
            return ascii_case(array.as_string::<i32>(), upper);
        }
        DataType::LargeUtf8 if array.as_string::<i64>().is_ascii() => {
            return ascii_case(array.as_string::<i64>(), upper);
        }
        _ => {}
    }
    map_string_rows(array, |_, s, w| {
        for c in s.chars() {
            w.push_char(if c.is_ascii() {
                if upper {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                simple_case(c, upper)
            });
        }
        true
    })
}

/// UPPER/LOWER of an all-ASCII column: one byte-wise pass over the value buffer, with
/// the offsets and validity reused.
fn ascii_case<O: OffsetSizeTrait>(a: &GenericStringArray<O>, upper: bool) -> Result<ArrayRef> {
    let offsets = a.offsets();
    // an offset buffer always holds at least one offset
    let (first, last) = (offsets.first().as_usize(), offsets.last().as_usize());
    let bytes = a
        .value_data()
        .get(first..last)
        .ok_or_else(|| Error::internal("string offsets out of range"))?;
    let mapped: Vec<u8> = if upper {
        bytes.iter().map(u8::to_ascii_uppercase).collect()
    } else {
        bytes.iter().map(u8::to_ascii_lowercase).collect()
    };
    let offsets = if first == 0 {
        offsets.clone()
    } else {
        // a sliced column: rebase the offsets onto the copied bytes
        let rebased: Vec<O> = offsets
            .iter()
            .map(|o| O::usize_as(o.as_usize() - first))
            .collect();
        OffsetBuffer::new(ScalarBuffer::from(rebased))
    };
    Ok(Arc::new(GenericStringArray::<O>::try_new(
        offsets,
        mapped.into(),
        a.nulls().cloned(),
    )?))
}

/// DuckDB's SUBSTRING bounds, in characters: `[start, end)` of a string of `size`
/// characters, or `None` for the empty result.
fn substring_bounds(size: i64, offset: i64, length: Option<i64>) -> Option<(usize, usize)> {
    let mut length = length.unwrap_or(i64::MAX);
    if length == 0 {
        return None;
    }
    let mut start = if offset > 0 {
        size.min(offset - 1)
    } else if offset < 0 {
        size.saturating_add(offset).max(0)
    } else {
        // offset 0 starts one character before the first
        length = length.saturating_sub(1);
        if length <= 0 {
            return None;
        }
        0
    };
    let end = if length > 0 {
        size.min(start.saturating_add(length))
    } else {
        let end = start;
        start = start.saturating_add(length).max(0);
        end
    };
    (start < end).then_some((start as usize, end as usize))
}

/// Byte position of character `k` of `s` (the length when `k` is past the end).
fn char_to_byte(s: &str, k: usize) -> usize {
    s.char_indices().nth(k).map_or(s.len(), |(i, _)| i)
}

/// SUBSTRING of one value; `ascii` when the whole column is ASCII (characters are bytes).
fn substring_of(s: &str, start: i64, length: Option<i64>, ascii: bool) -> &str {
    let size = if ascii {
        s.len() as i64
    } else {
        char_length(s)
    };
    let Some((b, e)) = substring_bounds(size, start, length) else {
        return "";
    };
    let (b, e) = if ascii {
        (b, e)
    } else {
        let b_byte = char_to_byte(s, b);
        (b_byte, b_byte + char_to_byte(&s[b_byte..], e - b))
    };
    s.get(b..e).unwrap_or("")
}

/// `None` when a constant argument is NULL (the result is all NULL).
fn substring(first: &ArrayRef, rest: &[ColumnarValue]) -> Result<Option<ArrayRef>> {
    let start = IntOperand::new(arg(rest, 0)?)?;
    let length = rest.get(1).map(IntOperand::new).transpose()?;
    let ascii = is_ascii_column(first);
    Ok(Some(match (&start, &length) {
        (IntOperand::Scalar(None), _) | (_, Some(IntOperand::Scalar(None))) => return Ok(None),
        (IntOperand::Scalar(Some(s)), None | Some(IntOperand::Scalar(_))) => {
            let (s, l) = (*s, length.as_ref().and_then(|l| l.get(0)));
            map_strings(first, |v, w| {
                w.push_str(substring_of(v, s, l, ascii));
                true
            })?
        }
        _ => map_string_rows(first, |i, v, w| {
            let Some(s) = start.get(i) else {
                return false;
            };
            let l = match &length {
                None => None,
                Some(l) => match l.get(i) {
                    None => return false,
                    l => l,
                },
            };
            w.push_str(substring_of(v, s, l, ascii));
            true
        })?,
    }))
}

/// Unicode space separators (category Zs), what DuckDB's TRIM removes by default.
fn is_space_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

fn trim_by(s: &str, side: TrimSide, remove: impl Fn(char) -> bool) -> &str {
    match side {
        TrimSide::Both => s.trim_matches(&remove),
        TrimSide::Leading => s.trim_start_matches(&remove),
        TrimSide::Trailing => s.trim_end_matches(remove),
    }
}

fn trim(
    first: &ArrayRef,
    chars: Option<&ColumnarValue>,
    side: TrimSide,
) -> Result<Option<ArrayRef>> {
    let Some(chars) = chars else {
        return map_strings(first, |v, w| {
            w.push_str(trim_by(v, side, is_space_separator));
            true
        })
        .map(Some);
    };
    let chars = StrOperand::new(chars)?;
    Ok(Some(match chars {
        StrOperand::Scalar(None) => return Ok(None),
        StrOperand::Scalar(Some(set)) => map_strings(first, |v, w| {
            w.push_str(trim_by(v, side, |c| set.contains(c)));
            true
        })?,
        StrOperand::Array(_) => map_string_rows(first, |i, v, w| match chars.get(i) {
            None => false,
            Some(set) => {
                w.push_str(trim_by(v, side, |c| set.contains(c)));
                true
            }
        })?,
    }))
}

fn concat(args: &[ColumnarValue], shape: Shape) -> Result<ArrayRef> {
    let operands = args
        .iter()
        .map(StrOperand::new)
        .collect::<Result<Vec<_>>>()?;
    let bytes: usize = operands
        .iter()
        .map(|o| match o {
            StrOperand::Scalar(v) => v.map_or(0, str::len).saturating_mul(shape.rows),
            StrOperand::Array(a) => a.value_data().len(),
        })
        .fold(0, usize::saturating_add);
    let mut out = StringColumnBuilder::<i32>::with_capacity(shape.rows, bytes);
    for i in 0..shape.rows {
        out.append_with(|w| {
            for o in &operands {
                if let Some(v) = o.get(i) {
                    w.push_str(v);
                }
            }
            true
        })?;
    }
    out.finish()
}

fn replace_into(s: &str, from: &str, to: &str, w: &mut RowWriter<'_>) {
    if from.is_empty() {
        w.push_str(s);
        return;
    }
    let mut last = 0;
    for (i, m) in s.match_indices(from) {
        w.push_str(&s[last..i]);
        w.push_str(to);
        last = i + m.len();
    }
    w.push_str(&s[last..]);
}

fn replace(first: &ArrayRef, rest: &[ColumnarValue]) -> Result<Option<ArrayRef>> {
    let from = StrOperand::new(arg(rest, 0)?)?;
    let to = StrOperand::new(arg(rest, 1)?)?;
    Ok(Some(match (&from, &to) {
        (StrOperand::Scalar(None), _) | (_, StrOperand::Scalar(None)) => return Ok(None),
        (StrOperand::Scalar(Some(f)), StrOperand::Scalar(Some(t))) => {
            map_strings(first, |v, w| {
                replace_into(v, f, t, w);
                true
            })?
        }
        _ => map_string_rows(first, |i, v, w| match (from.get(i), to.get(i)) {
            (Some(f), Some(t)) => {
                replace_into(v, f, t, w);
                true
            }
            _ => false,
        })?,
    }))
}

/// Part `n` (1-based; negative from the end) of `s` split on `delimiter`; '' when out of
/// range. An empty delimiter splits into characters.
fn split_part_of<'a>(s: &'a str, delimiter: &str, n: i64) -> &'a str {
    if n == 0 {
        return "";
    }
    if delimiter.is_empty() {
        let count = char_length(s);
        let index = if n > 0 { n - 1 } else { count + n };
        if index < 0 || index >= count {
            return "";
        }
        let b = char_to_byte(s, index as usize);
        return s[b..]
            .chars()
            .next()
            .map_or("", |c| &s[b..b + c.len_utf8()]);
    }
    let index = if n > 0 {
        n - 1
    } else {
        s.split(delimiter).count() as i64 + n
    };
    usize::try_from(index)
        .ok()
        .and_then(|i| s.split(delimiter).nth(i))
        .unwrap_or("")
}

fn split_part(first: &ArrayRef, rest: &[ColumnarValue]) -> Result<Option<ArrayRef>> {
    let delimiter = StrOperand::new(arg(rest, 0)?)?;
    let index = IntOperand::new(arg(rest, 1)?)?;
    Ok(Some(match (&delimiter, &index) {
        (StrOperand::Scalar(None), _) | (_, IntOperand::Scalar(None)) => return Ok(None),
        (StrOperand::Scalar(Some(d)), IntOperand::Scalar(Some(n))) => {
            let n = *n;
            map_strings(first, |v, w| {
                w.push_str(split_part_of(v, d, n));
                true
            })?
        }
        _ => map_string_rows(first, |i, v, w| match (delimiter.get(i), index.get(i)) {
            (Some(d), Some(n)) => {
                w.push_str(split_part_of(v, d, n));
                true
            }
            _ => false,
        })?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::functions::test_support::*;
    use arrow::array::{
        DictionaryArray, Int64Array, LargeStringArray, StringArray, StringViewArray,
    };
    use arrow::datatypes::{Int16Type, Int64Type};

    fn strs(a: &ArrayRef) -> Vec<Option<String>> {
        let plain = match a.data_type() {
            DataType::Utf8 => Arc::clone(a),
            _ => arrow::compute::cast(a, &DataType::Utf8).unwrap(),
        };
        plain
            .as_string::<i32>()
            .iter()
            .map(|s| s.map(str::to_string))
            .collect()
    }

    fn s(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|x| x.map(str::to_string)).collect()
    }

    fn text(v: Vec<Option<&str>>) -> ArrayRef {
        arr(StringArray::from(v))
    }

    fn dict(v: Vec<Option<&str>>) -> ArrayRef {
        let d: DictionaryArray<Int16Type> = v.into_iter().collect();
        arr(d)
    }

    fn i64s(a: &ArrayRef) -> Vec<Option<i64>> {
        a.as_primitive::<Int64Type>().iter().collect()
    }

    /// The same call on a dictionary column and on the plain column gives the same
    /// values, and the dictionary result keeps the dictionary's keys.
    fn assert_dictionary_matches(name: &str, rows: Vec<Option<&str>>, extra: Vec<Expr>) {
        let plain = [text(rows.clone())];
        let mut args = vec![c(&plain, 0)];
        args.extend(extra.iter().cloned());
        let expected = eval(name, args, &plain);
        let d = [dict(rows)];
        let mut args = vec![c(&d, 0)];
        args.extend(extra);
        let got = eval(name, args, &d);
        if name == "LENGTH" {
            assert_eq!(got.data_type(), &DataType::Int64);
            assert_eq!(i64s(&got), i64s(&expected), "{name}");
        } else {
            let keys = d[0].as_dictionary::<Int16Type>().keys();
            assert_eq!(got.as_dictionary::<Int16Type>().keys(), keys, "{name}");
            assert_eq!(strs(&got), strs(&expected), "{name}");
        }
    }

    #[test]
    fn upper_and_lower_with_unicode_and_nulls() {
        let cols = [text(vec![
            Some("abc"),
            None,
            Some(""),
            Some("ÉtÉ ß straße"),
            Some("İSTANBUL ǅ"),
        ])];
        assert_eq!(
            strs(&eval("UPPER", vec![c(&cols, 0)], &cols)),
            s(&[
                Some("ABC"),
                None,
                Some(""),
                Some("ÉTÉ ß STRAßE"),
                Some("İSTANBUL Ǆ")
            ])
        );
        assert_eq!(
            strs(&eval("LOWER", vec![c(&cols, 0)], &cols)),
            s(&[
                Some("abc"),
                None,
                Some(""),
                Some("été ß straße"),
                Some("istanbul ǆ")
            ])
        );
        assert_eq!(
            strs(&eval("UCASE", vec![lit_str(Some("ᾳ"))], &[])),
            s(&[Some("ᾼ")])
        );
        assert_eq!(strs(&eval("LCASE", vec![lit_str(None)], &[])), s(&[None]));
        assert_eq!(strs(&eval("UPPER", vec![lit_null()], &[])), s(&[None]));
    }

    #[test]
    fn ascii_fast_path_handles_sliced_columns() {
        let full = text(vec![Some("ab"), Some("cd"), None, Some("ef")]);
        let cols = [full.slice(1, 3)];
        assert_eq!(
            strs(&eval("UPPER", vec![c(&cols, 0)], &cols)),
            s(&[Some("CD"), None, Some("EF")])
        );
        let large = [arr(LargeStringArray::from(vec![Some("Ab"), None]))];
        let out = eval("LOWER", vec![c(&large, 0)], &large);
        assert_eq!(out.data_type(), &DataType::LargeUtf8);
        assert_eq!(strs(&out), s(&[Some("ab"), None]));
        let view = [arr(StringViewArray::from(vec![
            Some("a longer string than twelve"),
            None,
        ]))];
        let out = eval("UPPER", vec![c(&view, 0)], &view);
        assert_eq!(out.data_type(), &DataType::Utf8);
        assert_eq!(strs(&out), s(&[Some("A LONGER STRING THAN TWELVE"), None]));
    }

    #[test]
    fn length_counts_characters() {
        let cols = [text(vec![
            Some("abc"),
            None,
            Some(""),
            Some("héllo"),
            Some("日本語🙂"),
        ])];
        assert_eq!(
            i64s(&eval("LENGTH", vec![c(&cols, 0)], &cols)),
            vec![Some(3), None, Some(0), Some(5), Some(4)]
        );
        assert_eq!(
            i64s(&eval("CHAR_LENGTH", vec![lit_str(Some("ab"))], &[])),
            vec![Some(2)]
        );
        let view = [arr(StringViewArray::from(vec![Some("é"), None]))];
        assert_eq!(
            i64s(&eval("CHARACTER_LENGTH", vec![c(&view, 0)], &view)),
            vec![Some(1), None]
        );
        assert_eq!(planned_type("LENGTH", vec![lit_null()]), DataType::Int64);
    }

    #[test]
    fn substring_follows_duckdb_bounds() {
        let h = |start: i64, len: Option<i64>| {
            let mut args = vec![lit_str(Some("hello")), lit_i64(Some(start))];
            if let Some(l) = len {
                args.push(lit_i64(Some(l)));
            }
            strs(&eval("SUBSTRING", args, &[]))[0].clone().unwrap()
        };
        assert_eq!(h(2, Some(3)), "ell");
        assert_eq!(h(2, None), "ello");
        assert_eq!(h(1, Some(100)), "hello");
        assert_eq!(h(0, Some(2)), "h");
        assert_eq!(h(0, Some(1)), "");
        assert_eq!(h(0, None), "hello");
        assert_eq!(h(-3, None), "llo");
        assert_eq!(h(-3, Some(2)), "ll");
        assert_eq!(h(-10, Some(3)), "hel");
        assert_eq!(h(3, Some(-2)), "he");
        assert_eq!(h(3, Some(-5)), "he");
        assert_eq!(h(6, Some(2)), "");
        assert_eq!(h(2, Some(0)), "");
        assert_eq!(h(i64::MIN, Some(i64::MAX)), "hello");
        assert_eq!(h(i64::MAX, Some(i64::MIN)), "hello");
    }

    #[test]
    fn substring_counts_characters_not_bytes() {
        let cols = [text(vec![
            Some("héllo wörld"),
            Some("日本語"),
            None,
            Some(""),
        ])];
        assert_eq!(
            strs(&eval(
                "SUBSTRING",
                vec![c(&cols, 0), lit_i64(Some(2)), lit_i64(Some(4))],
                &cols
            )),
            s(&[Some("éllo"), Some("本語"), None, Some("")])
        );
        assert_eq!(
            strs(&eval("SUBSTR", vec![c(&cols, 0), lit_i64(Some(-2))], &cols)),
            s(&[Some("ld"), Some("本語"), None, Some("")])
        );
    }

    #[test]
    fn substring_with_column_and_null_arguments() {
        let cols = [
            text(vec![
                Some("abcdef"),
                Some("abcdef"),
                Some("é€x"),
                Some("abc"),
            ]),
            arr(Int64Array::from(vec![Some(2), None, Some(2), Some(1)])),
            arr(Int64Array::from(vec![Some(2), Some(1), Some(5), None])),
        ];
        assert_eq!(
            strs(&eval(
                "SUBSTRING",
                vec![c(&cols, 0), c(&cols, 1), c(&cols, 2)],
                &cols
            )),
            s(&[Some("bc"), None, Some("€x"), None])
        );
        assert_eq!(
            strs(&eval("SUBSTRING", vec![c(&cols, 0), c(&cols, 1)], &cols)),
            s(&[Some("bcdef"), None, Some("€x"), Some("abc")])
        );
        assert_eq!(
            strs(&eval(
                "SUBSTRING",
                vec![c(&cols, 0), lit_null(), lit_i64(Some(1))],
                &cols
            )),
            s(&[None, None, None, None])
        );
        assert_eq!(
            strs(&eval(
                "SUBSTRING",
                vec![lit_str(Some("xyz")), c(&cols, 1)],
                &cols
            )),
            s(&[Some("yz"), None, Some("yz"), Some("xyz")])
        );
    }

    #[test]
    fn trim_variants() {
        let cols = [text(vec![
            Some("  a b  "),
            Some("\tx\n"),
            Some("\u{3000}y\u{A0}"),
            None,
            Some(""),
        ])];
        assert_eq!(
            strs(&eval("TRIM", vec![c(&cols, 0)], &cols)),
            s(&[Some("a b"), Some("\tx\n"), Some("y"), None, Some("")])
        );
        assert_eq!(
            strs(&eval("LTRIM", vec![c(&cols, 0)], &cols)),
            s(&[
                Some("a b  "),
                Some("\tx\n"),
                Some("y\u{A0}"),
                None,
                Some("")
            ])
        );
        assert_eq!(
            strs(&eval("RTRIM", vec![c(&cols, 0)], &cols)),
            s(&[
                Some("  a b"),
                Some("\tx\n"),
                Some("\u{3000}y"),
                None,
                Some("")
            ])
        );
        let x = [text(vec![Some("xxhixyx"), Some("éaé"), None])];
        assert_eq!(
            strs(&eval("TRIM", vec![c(&x, 0), lit_str(Some("xy"))], &x)),
            s(&[Some("hi"), Some("éaé"), None])
        );
        assert_eq!(
            strs(&eval("LTRIM", vec![c(&x, 0), lit_str(Some("é"))], &x)),
            s(&[Some("xxhixyx"), Some("aé"), None])
        );
        assert_eq!(
            strs(&eval("RTRIM", vec![c(&x, 0), lit_str(Some(""))], &x)),
            s(&[Some("xxhixyx"), Some("éaé"), None])
        );
        assert_eq!(
            strs(&eval("TRIM", vec![c(&x, 0), lit_null()], &x)),
            s(&[None, None, None])
        );
        let per_row = [
            text(vec![Some("abcba"), Some("abcba"), Some("abc")]),
            text(vec![Some("a"), None, Some("cb")]),
        ];
        assert_eq!(
            strs(&eval(
                "TRIM",
                vec![c(&per_row, 0), c(&per_row, 1)],
                &per_row
            )),
            s(&[Some("bcb"), None, Some("a")])
        );
    }

    #[test]
    fn concat_skips_nulls_and_casts() {
        let cols = [
            text(vec![Some("a"), None, None]),
            arr(Int64Array::from(vec![Some(1), Some(2), None])),
        ];
        assert_eq!(
            strs(&eval(
                "CONCAT",
                vec![c(&cols, 0), lit_str(Some("-")), c(&cols, 1)],
                &cols
            )),
            s(&[Some("a-1"), Some("-2"), Some("-")])
        );
        assert_eq!(
            strs(&eval("CONCAT", vec![c(&cols, 0), c(&cols, 1)], &cols)),
            s(&[Some("a1"), Some("2"), Some("")])
        );
        let v = eval_value(
            "CONCAT",
            vec![lit_str(Some("x")), lit_f64(Some(1.5)), lit_null()],
            &[],
        );
        assert!(matches!(v, ColumnarValue::Scalar(_)));
        assert_eq!(strs(&v.into_array(1).unwrap()), s(&[Some("x1.5")]));
        let d = [dict(vec![Some("k"), None])];
        assert_eq!(
            strs(&eval("CONCAT", vec![c(&d, 0), lit_str(Some("!"))], &d)),
            s(&[Some("k!"), Some("!")])
        );
    }

    #[test]
    fn replace_all_occurrences() {
        let cols = [text(vec![Some("banana"), Some(""), None, Some("ééé")])];
        assert_eq!(
            strs(&eval(
                "REPLACE",
                vec![c(&cols, 0), lit_str(Some("an")), lit_str(Some("AN"))],
                &cols
            )),
            s(&[Some("bANANa"), Some(""), None, Some("ééé")])
        );
        assert_eq!(
            strs(&eval(
                "REPLACE",
                vec![c(&cols, 0), lit_str(Some("é")), lit_str(Some(""))],
                &cols
            )),
            s(&[Some("banana"), Some(""), None, Some("")])
        );
        assert_eq!(
            strs(&eval(
                "REPLACE",
                vec![c(&cols, 0), lit_str(Some("")), lit_str(Some("x"))],
                &cols
            )),
            s(&[Some("banana"), Some(""), None, Some("ééé")])
        );
        assert_eq!(
            strs(&eval(
                "REPLACE",
                vec![c(&cols, 0), lit_str(Some("a")), lit_null()],
                &cols
            )),
            s(&[None, None, None, None])
        );
        let per_row = [
            text(vec![Some("aaa"), Some("abc"), Some("abc")]),
            text(vec![Some("aa"), Some("b"), None]),
        ];
        assert_eq!(
            strs(&eval(
                "REPLACE",
                vec![c(&per_row, 0), c(&per_row, 1), lit_str(Some("-"))],
                &per_row
            )),
            s(&[Some("-a"), Some("a-c"), None])
        );
    }

    #[test]
    fn split_part_indexes_like_duckdb() {
        let p = |v: &str, d: &str, n: i64| split_part_of(v, d, n).to_string();
        assert_eq!(p("a,b,c", ",", 1), "a");
        assert_eq!(p("a,b,c", ",", 3), "c");
        assert_eq!(p("a,b,c", ",", 4), "");
        assert_eq!(p("a,b,c", ",", 0), "");
        assert_eq!(p("a,b,c", ",", -1), "c");
        assert_eq!(p("a,b,c", ",", -3), "a");
        assert_eq!(p("a,b,c", ",", -4), "");
        assert_eq!(p("a,,c", ",", 2), "");
        assert_eq!(p("", ",", 1), "");
        assert_eq!(p("a::b", "::", 2), "b");
        assert_eq!(p("héé", "", 2), "é");
        assert_eq!(p("héé", "", -3), "h");
        assert_eq!(p("héé", "", 4), "");
        assert_eq!(p("abc", ",", 1), "abc");
        assert_eq!(p("abc", ",", i64::MIN), "");
        let cols = [
            text(vec![Some("x-y-z"), None, Some("p-q")]),
            arr(Int64Array::from(vec![Some(2), Some(1), None])),
        ];
        assert_eq!(
            strs(&eval(
                "SPLIT_PART",
                vec![c(&cols, 0), lit_str(Some("-")), lit_i64(Some(2))],
                &cols
            )),
            s(&[Some("y"), None, Some("q")])
        );
        assert_eq!(
            strs(&eval(
                "SPLIT_PART",
                vec![c(&cols, 0), lit_str(Some("-")), c(&cols, 1)],
                &cols
            )),
            s(&[Some("y"), None, None])
        );
        assert_eq!(
            strs(&eval(
                "SPLIT_PART",
                vec![c(&cols, 0), lit_null(), lit_i64(Some(1))],
                &cols
            )),
            s(&[None, None, None])
        );
    }

    #[test]
    fn dictionary_inputs_match_plain_inputs_and_keep_keys() {
        let rows = || {
            vec![
                Some("  Héllo  "),
                None,
                Some("a,b"),
                Some("  Héllo  "),
                Some(""),
            ]
        };
        assert_dictionary_matches("UPPER", rows(), vec![]);
        assert_dictionary_matches("LOWER", rows(), vec![]);
        assert_dictionary_matches("LENGTH", rows(), vec![]);
        assert_dictionary_matches("TRIM", rows(), vec![]);
        assert_dictionary_matches("LTRIM", rows(), vec![lit_str(Some(" H"))]);
        assert_dictionary_matches(
            "SUBSTRING",
            rows(),
            vec![lit_i64(Some(3)), lit_i64(Some(2))],
        );
        assert_dictionary_matches(
            "REPLACE",
            rows(),
            vec![lit_str(Some("l")), lit_str(Some("L"))],
        );
        assert_dictionary_matches(
            "SPLIT_PART",
            rows(),
            vec![lit_str(Some(",")), lit_i64(Some(2))],
        );
        // the dictionary values are processed, not the rows
        let d = [dict(vec![Some("a"), Some("a"), Some("a"), Some("b")])];
        let out = eval("UPPER", vec![c(&d, 0)], &d);
        assert_eq!(out.as_any_dictionary().values().len(), 2);
        assert_eq!(
            planned_type("UPPER", vec![c(&d, 0)]),
            DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8))
        );
    }

    #[test]
    fn dictionary_with_column_arguments_is_decoded() {
        let d = [
            dict(vec![Some("abc"), Some("abc"), None]),
            arr(Int64Array::from(vec![1, 2, 3])),
        ];
        assert_eq!(
            planned_type("SUBSTRING", vec![c(&d, 0), c(&d, 1)]),
            DataType::Utf8
        );
        assert_eq!(
            strs(&eval("SUBSTRING", vec![c(&d, 0), c(&d, 1)], &d)),
            s(&[Some("abc"), Some("bc"), None])
        );
    }

    proptest::proptest! {
        /// SUBSTRING on a column (ASCII fast path or character walk) agrees with slicing
        /// a vector of characters at DuckDB's bounds, row by row.
        #[test]
        fn substring_matches_a_character_vector_model(
            rows in proptest::collection::vec(proptest::option::of("[a-c é日🙂]{0,8}"), 1..20),
            start in -10i64..12,
            length in proptest::option::of(-10i64..12),
        ) {
            let cols = [text(rows.iter().map(|r| r.as_deref()).collect())];
            let mut args = vec![c(&cols, 0), lit_i64(Some(start))];
            if let Some(l) = length {
                args.push(lit_i64(Some(l)));
            }
            let got = strs(&eval("SUBSTRING", args, &cols));
            for (row, got) in rows.iter().zip(got) {
                let expected = row.as_ref().map(|r| {
                    let chars: Vec<char> = r.chars().collect();
                    match substring_bounds(chars.len() as i64, start, length) {
                        Some((b, e)) => chars[b..e].iter().collect::<String>(),
                        None => String::new(),
                    }
                });
                proptest::prop_assert_eq!(got, expected);
            }
        }

        /// A dictionary column gives the values the decoded column gives.
        #[test]
        fn dictionary_results_equal_plain_results(
            rows in proptest::collection::vec(proptest::option::of("[ aBé]{0,5}"), 1..20),
        ) {
            let rows: Vec<Option<&str>> = rows.iter().map(|r| r.as_deref()).collect();
            for name in ["UPPER", "LOWER", "LENGTH", "TRIM"] {
                assert_dictionary_matches(name, rows.clone(), vec![]);
            }
            assert_dictionary_matches("SUBSTRING", rows.clone(), vec![lit_i64(Some(-2))]);
            assert_dictionary_matches("SPLIT_PART", rows, vec![lit_str(Some(" ")), lit_i64(Some(2))]);
        }
    }

    #[test]
    fn planning_errors() {
        let cases: Vec<(&str, Vec<Expr>, &str)> = vec![
            (
                "UPPER",
                vec![lit_i64(Some(1))],
                "function UPPER does not accept (BIGINT); expected (VARCHAR)",
            ),
            (
                "LOWER",
                vec![],
                "function LOWER does not accept (); expected (VARCHAR)",
            ),
            (
                "LENGTH",
                vec![lit_str(Some("a")), lit_str(Some("b"))],
                "function LENGTH does not accept (VARCHAR, VARCHAR); expected (VARCHAR)",
            ),
            (
                "SUBSTRING",
                vec![lit_str(Some("a"))],
                "function SUBSTRING does not accept (VARCHAR); expected (VARCHAR, BIGINT [, BIGINT])",
            ),
            (
                "SUBSTRING",
                vec![lit_str(Some("a")), lit_f64(Some(1.0))],
                "function SUBSTRING does not accept (VARCHAR, DOUBLE); expected (VARCHAR, BIGINT [, BIGINT])",
            ),
            (
                "TRIM",
                vec![lit_str(Some("a")), lit_i64(Some(1))],
                "function TRIM does not accept (VARCHAR, BIGINT); expected (VARCHAR [, VARCHAR])",
            ),
            (
                "REPLACE",
                vec![lit_str(Some("a")), lit_str(Some("b"))],
                "function REPLACE does not accept (VARCHAR, VARCHAR); expected (VARCHAR, VARCHAR, VARCHAR)",
            ),
            (
                "SPLIT_PART",
                vec![lit_str(Some("a")), lit_str(Some(",")), lit_str(Some("1"))],
                "function SPLIT_PART does not accept (VARCHAR, VARCHAR, VARCHAR); expected (VARCHAR, VARCHAR, BIGINT)",
            ),
            (
                "CONCAT",
                vec![],
                "function CONCAT does not accept (); expected (value [, ...])",
            ),
        ];
        for (name, args, message) in cases {
            assert_eq!(plan_error(name, args), format!("planning error: {message}"));
        }
    }
}

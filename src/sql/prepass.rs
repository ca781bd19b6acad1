//! The token pre-pass: finds the streaming clauses in the token stream, records them,
//! and hands sqlparser a standard query.
//!
//! ```text
//!  SQL text ─tokenize─▶ tokens ─pre-pass─▶ tokens of a standard query ─sqlparser─▶ AST
//!                                   └────▶ StreamingClauses (window, emit, options)
//! ```
//! Rewrites (every kept token keeps its original position, so sqlparser's errors point
//! at the user's text):
//! - `WINDOW TUMBLING|SLIDING|HOPPING|SESSION (...)` at the top level → removed, recorded.
//! - `EMIT CHANGES|FINAL` → removed, recorded.
//! - trailing `WITH ('k' = 'v', ...)` → removed, recorded.
//! - `TABLE(TUMBLE|HOP|SESSION(TABLE t [PARTITION BY k], DESCRIPTOR(c), ...))` → `t`.
//! - `OVER (ROWS WINDOW BUFFER n ROWS [PARTITION BY ..] [ORDER BY ..])` →
//!   `OVER ([PARTITION BY ..] [ORDER BY ..] ROWS BETWEEN n-1 PRECEDING AND CURRENT ROW)`,
//!   also in a named window `WINDOW w AS (ROWS WINDOW BUFFER ...)`.
//! - a short duration as a frame bound, `10s PRECEDING` (also `500ms`, `1m`, `2h`, `1d`,
//!   `10 seconds`) → `'10s' PRECEDING`, which sqlparser reads as an interval.
//! - a short duration as an argument of a group-window function, `TUMBLE(ts, 1m)`,
//!   `HOP_START(ts, 10s, 1m)`, ... → `TUMBLE(ts, '1m')`, which the planner reads as a
//!   duration (as it reads `INTERVAL '1' MINUTE`).

use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan};

use super::duration::{number_times_unit, parse_duration_ms, unit_ms};
use super::streaming::{
    EmitMode, QueryOption, StreamingClauses, WindowKind, WindowSpec, WindowSyntax,
};
use crate::error::{Error, Result, SqlPosition};

fn pos(span: &Span) -> SqlPosition {
    SqlPosition {
        line: span.start.line,
        column: span.start.column,
    }
}

fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w))
}

fn word_upper(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// Group-window functions and their bound functions, whose duration arguments may be
/// written short (`1m`).
const GROUP_WINDOW_FUNCTIONS: &[&str] = &[
    "TUMBLE",
    "HOP",
    "SESSION",
    "TUMBLE_START",
    "TUMBLE_END",
    "HOP_START",
    "HOP_END",
    "SESSION_START",
    "SESSION_END",
];

fn is_space(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_))
}

/// The pre-pass state: the input tokens and a cursor.
struct Prepass {
    toks: Vec<TokenWithSpan>,
    end: SqlPosition,
}

impl Prepass {
    /// Index of the first non-whitespace token at or after `i`.
    fn sig(&self, mut i: usize) -> usize {
        while i < self.toks.len() && is_space(&self.toks[i].token) {
            i += 1;
        }
        i
    }

    fn tok(&self, i: usize) -> &Token {
        self.toks.get(i).map(|t| &t.token).unwrap_or(&Token::EOF)
    }

    fn position(&self, i: usize) -> SqlPosition {
        self.toks.get(i).map(|t| pos(&t.span)).unwrap_or(self.end)
    }

    fn err<T>(&self, i: usize, msg: impl Into<String>) -> Result<T> {
        Err(Error::sql(msg, self.position(i)))
    }

    /// Given `i` at a `(`, returns the index of the matching `)`.
    fn matching_paren(&self, i: usize) -> Result<usize> {
        let mut depth = 0usize;
        for j in i..self.toks.len() {
            match self.toks[j].token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(j);
                    }
                }
                _ => {}
            }
        }
        self.err(i, "unbalanced parentheses: this '(' is never closed")
    }

    /// Splits the non-whitespace tokens strictly between `open` and `close` at top-level
    /// commas into argument index lists.
    fn split_args(&self, open: usize, close: usize) -> Vec<Vec<usize>> {
        let mut args = vec![Vec::new()];
        let mut depth = 0usize;
        for j in open + 1..close {
            let t = &self.toks[j].token;
            match t {
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                Token::Comma if depth == 0 => {
                    args.push(Vec::new());
                    continue;
                }
                _ => {}
            }
            if !is_space(t)
                && let Some(last) = args.last_mut()
            {
                last.push(j);
            }
        }
        if args.len() == 1 && args[0].is_empty() {
            args.clear();
        }
        args
    }

    /// Parses a duration argument: `INTERVAL '5' SECOND`, `INTERVAL '5 seconds'`, `5s`,
    /// `500ms`, `'5s'` or a bare `0`.
    fn duration(&self, arg: &[usize], what: &str) -> Result<i64> {
        let at = arg.first().copied().unwrap_or(usize::MAX);
        let toks: Vec<&Token> = arg.iter().map(|&j| &self.toks[j].token).collect();
        let bad = |msg: String| Err(Error::sql(msg, self.position(at)));
        match toks.as_slice() {
            [] => bad(format!("missing {what}")),
            [k, Token::SingleQuotedString(n), unit] if is_word(k, "INTERVAL") => {
                let unit = word_upper(unit).unwrap_or_default();
                let Some(per) = unit_ms(&unit) else {
                    return bad(format!(
                        "invalid {what}: unknown interval unit '{unit}' (expected MILLISECOND, SECOND, MINUTE, HOUR or DAY)"
                    ));
                };
                number_times_unit(n.trim(), per)
                    .ok_or(())
                    .or_else(|_| bad(format!("invalid {what}: '{n}' is not a valid amount")))
            }
            [k, Token::SingleQuotedString(text)] if is_word(k, "INTERVAL") => {
                parse_duration_ms(text).or_else(|m| bad(format!("invalid {what}: {m}")))
            }
            [Token::SingleQuotedString(text)] => {
                parse_duration_ms(text).or_else(|m| bad(format!("invalid {what}: {m}")))
            }
            [Token::Number(n, _)] => {
                parse_duration_ms(n).or_else(|m| bad(format!("invalid {what}: {m}")))
            }
            [Token::Number(n, _), Token::Word(w)] if w.quote_style.is_none() => {
                parse_duration_ms(&format!("{n}{}", w.value))
                    .or_else(|m| bad(format!("invalid {what}: {m}")))
            }
            _ => bad(format!(
                "invalid {what}: expected a duration such as INTERVAL '1' MINUTE or 1m"
            )),
        }
    }

    /// An identifier argument (`ts` or `t.ts`): its last part.
    fn identifier(&self, arg: &[usize]) -> Option<String> {
        let toks: Vec<&Token> = arg.iter().map(|&j| &self.toks[j].token).collect();
        match toks.as_slice() {
            [Token::Word(w)] => Some(w.value.clone()),
            [Token::Word(_), Token::Period, Token::Word(w)] => Some(w.value.clone()),
            _ => None,
        }
    }

    /// Parses `WINDOW <KIND> (...)` with `kw` at the `WINDOW` token; returns the spec and
    /// the index after the closing parenthesis.
    fn window_clause(&self, kw: usize) -> Result<(WindowSpec, usize)> {
        let name_at = self.sig(kw + 1);
        let kind_name = word_upper(self.tok(name_at)).unwrap_or_default();
        let open = self.sig(name_at + 1);
        let close = self.matching_paren(open)?;
        let mut args = self.split_args(open, close);
        // an optional leading time column: an identifier that is not a duration
        let time_column = match args.first() {
            Some(first)
                if self.identifier(first).is_some()
                    && !matches!(self.tok(first[0]), Token::Word(w) if w.value.eq_ignore_ascii_case("INTERVAL")) =>
            {
                let c = self.identifier(first);
                args.remove(0);
                c
            }
            _ => None,
        };
        let n = args.len();
        let arity = |lo: usize, hi: usize, form: &str| -> Result<()> {
            if n < lo || n > hi {
                self.err(
                    name_at,
                    format!("{kind_name} expects {form}, got {n} duration argument(s)"),
                )
            } else {
                Ok(())
            }
        };
        let kind = match kind_name.as_str() {
            "TUMBLING" => {
                arity(1, 2, "([time_column,] size [, offset])")?;
                WindowKind::Tumbling {
                    size_ms: self.positive(&args[0], "window size")?,
                    offset_ms: self.optional_duration(args.get(1), "window offset")?,
                }
            }
            "SLIDING" | "HOPPING" => {
                arity(2, 3, "([time_column,] size, advance [, offset])")?;
                WindowKind::Sliding {
                    size_ms: self.positive(&args[0], "window size")?,
                    slide_ms: self.positive(&args[1], "window advance")?,
                    offset_ms: self.optional_duration(args.get(2), "window offset")?,
                }
            }
            "SESSION" => {
                arity(1, 1, "([time_column,] gap)")?;
                WindowKind::Session {
                    gap_ms: self.positive(&args[0], "session gap")?,
                }
            }
            _ => return self.err(name_at, format!("unknown window type {kind_name}")),
        };
        let spec = WindowSpec {
            kind,
            time_column,
            partition_by: Vec::new(),
            syntax: WindowSyntax::Clause,
            position: self.position(kw),
        };
        Ok((spec, close + 1))
    }

    fn positive(&self, arg: &[usize], what: &str) -> Result<i64> {
        let v = self.duration(arg, what)?;
        if v <= 0 {
            let at = arg.first().copied().unwrap_or(usize::MAX);
            return self.err(at, format!("{what} must be greater than zero"));
        }
        Ok(v)
    }

    fn optional_duration(&self, arg: Option<&Vec<usize>>, what: &str) -> Result<i64> {
        arg.map(|a| self.duration(a, what))
            .transpose()
            .map(|v| v.unwrap_or(0))
    }

    /// Parses `TABLE(TUMBLE|HOP|SESSION(TABLE t ..., DESCRIPTOR(c), ...))` with `kw` at
    /// the outer `TABLE`; returns the spec, the index of the table-name token, and the
    /// index after the outer closing parenthesis.
    fn window_tvf(&self, kw: usize) -> Result<(WindowSpec, usize, usize)> {
        let outer_open = self.sig(kw + 1);
        let outer_close = self.matching_paren(outer_open)?;
        let name_at = self.sig(outer_open + 1);
        let func = word_upper(self.tok(name_at)).unwrap_or_default();
        let open = self.sig(name_at + 1);
        let close = self.matching_paren(open)?;
        if self.sig(close + 1) != outer_close {
            return self.err(close + 1, "expected ')' to close TABLE(...)");
        }
        let args = self.split_args(open, close);
        // first argument: TABLE name [PARTITION BY k, ...]
        let Some(first) = args.first() else {
            return self.err(
                name_at,
                format!("{func} expects (TABLE t, DESCRIPTOR(col), ...)"),
            );
        };
        if first.len() < 2 || !is_word(self.tok(first[0]), "TABLE") {
            return self.err(
                first.first().copied().unwrap_or(name_at),
                format!("the first argument of {func} must be TABLE <name>"),
            );
        }
        let table_at = first[1];
        if !matches!(self.tok(table_at), Token::Word(_)) {
            return self.err(table_at, "expected a table name after TABLE");
        }
        let mut partition_by = Vec::new();
        // PARTITION BY keys of SESSION live in the same comma-separated argument list:
        // `TABLE t PARTITION BY a, b, DESCRIPTOR(ts)`: collect until DESCRIPTOR.
        let mut rest = args.iter().skip(1).peekable();
        if first.len() > 2 {
            if !(is_word(self.tok(first[2]), "PARTITION")
                && first.len() >= 5
                && is_word(self.tok(first[3]), "BY"))
            {
                return self.err(
                    first[2],
                    "expected PARTITION BY or ',' after the table name",
                );
            }
            if func != "SESSION" {
                return self.err(
                    first[2],
                    format!("{func} does not take PARTITION BY (only SESSION does)"),
                );
            }
            if let Some(k) = self.identifier(&first[4..]) {
                partition_by.push(k);
            }
            while let Some(a) = rest.peek() {
                if is_word(self.tok(a[0]), "DESCRIPTOR") {
                    break;
                }
                if let Some(k) = self.identifier(a) {
                    partition_by.push(k);
                }
                rest.next();
            }
        }
        let desc = rest.next();
        let time_column = match desc {
            Some(d) if d.len() == 4 && is_word(self.tok(d[0]), "DESCRIPTOR") => {
                self.identifier(&d[2..3])
            }
            _ => None,
        };
        let Some(time_column) = time_column else {
            return self.err(
                desc.and_then(|d| d.first().copied()).unwrap_or(name_at),
                format!("{func} expects DESCRIPTOR(<time column>) as its second argument"),
            );
        };
        let durations: Vec<&Vec<usize>> = rest.collect();
        let n = durations.len();
        let arity = |lo: usize, hi: usize, form: &str| -> Result<()> {
            if n < lo || n > hi {
                self.err(name_at, format!("{func} expects {form}"))
            } else {
                Ok(())
            }
        };
        let kind = match func.as_str() {
            "TUMBLE" => {
                arity(1, 2, "(TABLE t, DESCRIPTOR(col), size [, offset])")?;
                WindowKind::Tumbling {
                    size_ms: self.positive(durations[0], "window size")?,
                    offset_ms: self
                        .optional_duration(durations.get(1).copied(), "window offset")?,
                }
            }
            "HOP" => {
                arity(2, 3, "(TABLE t, DESCRIPTOR(col), slide, size [, offset])")?;
                WindowKind::Sliding {
                    slide_ms: self.positive(durations[0], "window slide")?,
                    size_ms: self.positive(durations[1], "window size")?,
                    offset_ms: self
                        .optional_duration(durations.get(2).copied(), "window offset")?,
                }
            }
            "SESSION" => {
                arity(1, 1, "(TABLE t [PARTITION BY k], DESCRIPTOR(col), gap)")?;
                WindowKind::Session {
                    gap_ms: self.positive(durations[0], "session gap")?,
                }
            }
            _ => return self.err(name_at, format!("unknown window table function {func}")),
        };
        let spec = WindowSpec {
            kind,
            time_column: Some(time_column),
            partition_by,
            syntax: WindowSyntax::TableFunction,
            position: self.position(name_at),
        };
        Ok((spec, table_at, outer_close + 1))
    }

    /// Parses trailing `WITH ('k' = 'v', ...)` with `kw` at `WITH`.
    fn options(&self, kw: usize) -> Result<(Vec<QueryOption>, usize)> {
        let open = self.sig(kw + 1);
        let close = self.matching_paren(open)?;
        let mut out = Vec::new();
        for arg in self.split_args(open, close) {
            let toks: Vec<&Token> = arg.iter().map(|&j| &self.toks[j].token).collect();
            match toks.as_slice() {
                [Token::SingleQuotedString(k), Token::Eq, v] => {
                    let value = match v {
                        Token::SingleQuotedString(s) => s.clone(),
                        Token::Number(n, _) => n.clone(),
                        Token::Word(w) => w.value.clone(),
                        _ => return self.err(arg[2], format!("invalid value for option '{k}'")),
                    };
                    out.push(QueryOption {
                        key: k.clone(),
                        value,
                        position: self.position(arg[0]),
                    });
                }
                _ => {
                    return self.err(
                        arg.first().copied().unwrap_or(open),
                        "expected 'key' = 'value' in WITH (...)",
                    );
                }
            }
        }
        Ok((out, close + 1))
    }

    /// Rewrites `OVER (ROWS WINDOW BUFFER n ROWS ...)` with `open` at the `(`; pushes the
    /// standard form to `out` and returns the index after the closing parenthesis.
    fn rows_buffer(&self, open: usize, out: &mut Vec<TokenWithSpan>) -> Result<usize> {
        let close = self.matching_paren(open)?;
        let rows_at = self.sig(open + 1);
        let window_at = self.sig(rows_at + 1);
        let buffer_at = self.sig(window_at + 1);
        if !is_word(self.tok(buffer_at), "BUFFER") {
            return self.err(buffer_at, "expected BUFFER after ROWS WINDOW");
        }
        let n_at = self.sig(buffer_at + 1);
        let n: u64 = match self.tok(n_at) {
            Token::Number(n, _) => n.parse().map_err(|_| {
                Error::sql(format!("invalid buffer size '{n}'"), self.position(n_at))
            })?,
            _ => return self.err(n_at, "expected the number of rows after ROWS WINDOW BUFFER"),
        };
        if n == 0 {
            return self.err(n_at, "ROWS WINDOW BUFFER size must be at least 1");
        }
        let rows2 = self.sig(n_at + 1);
        if !is_word(self.tok(rows2), "ROWS") {
            return self.err(rows2, "expected ROWS after the buffer size");
        }
        // the rest: PARTITION BY ... / ORDER BY ... in any order
        let rest: Vec<usize> = (rows2 + 1..close).collect();
        let mut partition = Vec::new();
        let mut order = Vec::new();
        let mut current: Option<&mut Vec<usize>> = None;
        let mut depth = 0usize;
        for &j in &rest {
            let t = self.tok(j);
            if depth == 0 && is_word(t, "PARTITION") {
                current = Some(&mut partition);
            } else if depth == 0 && is_word(t, "ORDER") {
                current = Some(&mut order);
            }
            match t {
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                _ => {}
            }
            match current.as_deref_mut() {
                Some(v) => v.push(j),
                None if is_space(t) => {}
                None => {
                    return self.err(j, "expected PARTITION BY or ORDER BY in ROWS WINDOW BUFFER");
                }
            }
        }
        let span = self.toks[rows_at].span;
        let synth = |token: Token| TokenWithSpan { token, span };
        let space = || synth(Token::Whitespace(sqlparser::tokenizer::Whitespace::Space));
        out.push(self.toks[open].clone());
        for j in partition.iter().chain(order.iter()) {
            out.push(self.toks[*j].clone());
        }
        out.push(space());
        for tok in [
            Token::make_keyword("ROWS"),
            Token::make_keyword("BETWEEN"),
            Token::Number((n - 1).to_string(), false),
            Token::make_keyword("PRECEDING"),
            Token::make_keyword("AND"),
            Token::make_keyword("CURRENT"),
            Token::make_keyword("ROW"),
        ] {
            out.push(synth(tok));
            out.push(space());
        }
        out.push(self.toks[close].clone());
        Ok(close + 1)
    }
}

/// Runs the pre-pass over the tokens of one statement.
///
/// # Errors
/// [`Error::Sql`] with the position of a malformed streaming clause, or of a second
/// window / EMIT clause.
pub fn extract_streaming_clauses(
    toks: Vec<TokenWithSpan>,
    end: Location,
) -> Result<(Vec<TokenWithSpan>, StreamingClauses)> {
    let pp = Prepass {
        toks,
        end: SqlPosition {
            line: end.line,
            column: end.column,
        },
    };
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(pp.toks.len());
    let mut clauses = StreamingClauses::default();
    let mut depth = 0usize;
    let mut i = 0;
    let mut seen_significant = false;
    let set_window = |clauses: &mut StreamingClauses, spec: WindowSpec| -> Result<()> {
        if clauses.window.is_some() {
            return Err(Error::sql(
                "two window clauses: a query may declare only one window",
                spec.position,
            ));
        }
        clauses.window = Some(spec);
        Ok(())
    };
    while i < pp.toks.len() {
        let t = &pp.toks[i].token;
        let next = pp.sig(i + 1);
        let next2 = pp.sig(next + 1);
        if depth == 0
            && is_word(t, "WINDOW")
            && matches!(
                word_upper(pp.tok(next)).as_deref(),
                Some("TUMBLING" | "SLIDING" | "HOPPING" | "SESSION")
            )
            && matches!(pp.tok(next2), Token::LParen)
        {
            let (spec, after) = pp.window_clause(i)?;
            set_window(&mut clauses, spec)?;
            i = after;
            continue;
        }
        if depth == 0 && is_word(t, "EMIT") {
            let mode = match word_upper(pp.tok(next)).as_deref() {
                Some("CHANGES") => EmitMode::Changes,
                Some("FINAL") => EmitMode::Final,
                _ => return pp.err(next, "expected CHANGES or FINAL after EMIT"),
            };
            if clauses.emit.is_some() {
                return pp.err(i, "EMIT is given twice");
            }
            clauses.emit = Some((mode, pp.position(i)));
            i = next + 1;
            continue;
        }
        if depth == 0
            && seen_significant
            && is_word(t, "WITH")
            && matches!(pp.tok(next), Token::LParen)
            && matches!(pp.tok(next2), Token::SingleQuotedString(_))
        {
            let (opts, after) = pp.options(i)?;
            clauses.options.extend(opts);
            i = after;
            continue;
        }
        if is_word(t, "TABLE")
            && matches!(pp.tok(next), Token::LParen)
            && matches!(
                word_upper(pp.tok(next2)).as_deref(),
                Some("TUMBLE" | "HOP" | "SESSION")
            )
        {
            let (spec, table_at, after) = pp.window_tvf(i)?;
            set_window(&mut clauses, spec)?;
            out.push(pp.toks[table_at].clone());
            i = after;
            continue;
        }
        // `OVER (ROWS WINDOW BUFFER ...)`, and a named window `w AS (ROWS WINDOW BUFFER ...)`
        if (is_word(t, "OVER") || is_word(t, "AS"))
            && matches!(pp.tok(next), Token::LParen)
            && is_word(pp.tok(next2), "ROWS")
            && is_word(pp.tok(pp.sig(next2 + 1)), "WINDOW")
        {
            out.push(pp.toks[i].clone());
            out.push(TokenWithSpan {
                token: Token::Whitespace(sqlparser::tokenizer::Whitespace::Space),
                span: pp.toks[i].span,
            });
            i = pp.rows_buffer(next, &mut out)?;
            continue;
        }
        // `TUMBLE(ts, 1m)`, `HOP_START(ts, 10s, 1m)`: each argument that is a number and
        // a unit becomes one string; the call is copied whole (its parentheses balance)
        if word_upper(t).is_some_and(|w| GROUP_WINDOW_FUNCTIONS.contains(&w.as_str()))
            && matches!(pp.tok(next), Token::LParen)
        {
            let close = pp.matching_paren(next)?;
            let mut short: Vec<(usize, usize, String)> = Vec::new();
            for arg in pp.split_args(next, close) {
                if let [a, b] = arg[..]
                    && let Token::Number(n, false) = pp.tok(a)
                    && let Token::Word(unit) = pp.tok(b)
                    && unit.quote_style.is_none()
                {
                    let text = format!("{n}{}", unit.value);
                    if let Err(m) = parse_duration_ms(&text) {
                        return pp.err(a, m);
                    }
                    short.push((a, b, text));
                }
            }
            let mut j = i;
            while j <= close {
                match short.iter().find(|(a, _, _)| *a == j) {
                    Some((a, b, text)) => {
                        out.push(TokenWithSpan {
                            token: Token::SingleQuotedString(text.clone()),
                            span: pp.toks[*a].span,
                        });
                        j = b + 1;
                    }
                    None => {
                        out.push(pp.toks[j].clone());
                        j += 1;
                    }
                }
            }
            seen_significant = true;
            i = close + 1;
            continue;
        }
        // `10s PRECEDING` (a frame bound): the number and its unit as one string
        if let Token::Number(n, false) = t
            && let Token::Word(unit) = pp.tok(next)
            && unit.quote_style.is_none()
            && unit_ms(&unit.value).is_some()
            && matches!(
                word_upper(pp.tok(next2)).as_deref(),
                Some("PRECEDING" | "FOLLOWING")
            )
        {
            out.push(TokenWithSpan {
                token: Token::SingleQuotedString(format!("{n}{}", unit.value)),
                span: pp.toks[i].span,
            });
            i = next + 1;
            continue;
        }
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        if !is_space(t) && !matches!(t, Token::SemiColon) {
            seen_significant = true;
        }
        out.push(pp.toks[i].clone());
        i += 1;
    }
    Ok((out, clauses))
}

//! SQL front end: sqlparser plus a token pre-pass for the streaming clauses.
//!
//! ```text
//!  text ─▶ tokenizer ─▶ prepass::extract_streaming_clauses ─▶ sqlparser::Parser ─▶ ParsedQuery
//! ```

pub mod duration;
pub mod prepass;
pub mod streaming;

use sqlparser::ast::{Query, Statement};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, Tokenizer};

pub use streaming::{
    EmitMode, QueryOption, StreamingClauses, WindowKind, WindowSpec, WindowSyntax,
};

use crate::error::{Error, Result, SqlPosition};

/// A parsed query: the standard part as sqlparser's AST, plus the streaming clauses.
#[derive(Debug, Clone)]
pub struct ParsedQuery {
    /// The standard SQL query.
    pub query: Box<Query>,
    /// WINDOW / EMIT / WITH clauses found by the pre-pass.
    pub streaming: StreamingClauses,
    /// Position just past the end of the text (for errors at the end).
    pub end: SqlPosition,
}

/// Parses one query.
///
/// # Errors
/// [`Error::Sql`] with line and column for syntax errors, malformed streaming clauses,
/// more than one statement, or a statement that is not a query.
pub fn parse_sql(sql: &str) -> Result<ParsedQuery> {
    let dialect = GenericDialect {};
    let end = end_location(sql);
    let tokens = Tokenizer::new(&dialect, sql)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(|e| {
            Error::sql(
                e.message,
                SqlPosition {
                    line: e.location.line,
                    column: e.location.column,
                },
            )
        })?;
    if tokens
        .iter()
        .all(|t| matches!(t.token, Token::Whitespace(_) | Token::SemiColon))
    {
        return Err(Error::sql(
            "empty query",
            SqlPosition { line: 1, column: 1 },
        ));
    }
    let (tokens, streaming) = prepass::extract_streaming_clauses(tokens, end)?;
    let end_pos = SqlPosition {
        line: end.line,
        column: end.column,
    };
    let statements = Parser::new(&dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| parser_error_at(e, end_pos))?;
    let mut it = statements.into_iter();
    let (Some(stmt), None) = (it.next(), it.next()) else {
        return Err(Error::sql(
            "expected exactly one SELECT statement",
            SqlPosition { line: 1, column: 1 },
        ));
    };
    match stmt {
        Statement::Query(query) => Ok(ParsedQuery {
            query,
            streaming,
            end: end_pos,
        }),
        other => Err(Error::not_supported(format!(
            "only SELECT queries are supported, not `{}`",
            first_words(&other.to_string())
        ))),
    }
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Line/column just past the last character of `sql`.
fn end_location(sql: &str) -> Location {
    let mut line = 1u64;
    let mut column = 1u64;
    for c in sql.chars() {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    Location { line, column }
}

/// Converts a sqlparser error (whose text ends in "at Line: L, Column: C").
pub fn parser_error(e: ParserError) -> Error {
    parser_error_at(e, SqlPosition { line: 1, column: 1 })
}

fn parser_error_at(e: ParserError, end: SqlPosition) -> Error {
    let text = match e {
        ParserError::TokenizerError(s) | ParserError::ParserError(s) => s,
        ParserError::RecursionLimitExceeded => {
            return Error::sql(
                "query is nested too deeply",
                SqlPosition { line: 1, column: 1 },
            );
        }
    };
    let (message, position) = match text.rfind(" at Line: ") {
        Some(at) => {
            let tail = &text[at + " at Line: ".len()..];
            let mut parts = tail.split(", Column: ");
            let line = parts
                .next()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0);
            let column = parts
                .next()
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(0);
            (text[..at].to_string(), SqlPosition { line, column })
        }
        None => (text, SqlPosition::default()),
    };
    // errors at end of input carry line 0
    let position = if position.line == 0 { end } else { position };
    let message = message.replace("found: EOF", "found: end of input");
    Error::sql(message, position)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_err(sql: &str) -> (String, SqlPosition) {
        match parse_sql(sql) {
            Err(Error::Sql { message, position }) => (message, position),
            other => panic!("expected a SQL error, got {other:?}"),
        }
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let (msg, p) = sql_err("SELECT a\nFROM t WHERE price > > 1");
        assert!(msg.contains("Expected"), "{msg}");
        assert_eq!(p.line, 2);
    }

    #[test]
    fn velostream_window_clause() {
        let q = parse_sql(
            "SELECT a, COUNT(*) FROM t GROUP BY a WINDOW TUMBLING(ts, INTERVAL '1' MINUTE) HAVING COUNT(*) > 1 EMIT CHANGES",
        )
        .unwrap();
        let w = q.streaming.window.unwrap();
        assert_eq!(
            w.kind,
            WindowKind::Tumbling {
                size_ms: 60_000,
                offset_ms: 0
            }
        );
        assert_eq!(w.time_column.as_deref(), Some("ts"));
        assert_eq!(q.streaming.emit.map(|e| e.0), Some(EmitMode::Changes));
        assert!(q.query.to_string().contains("HAVING"));
    }

    #[test]
    fn window_before_group_by_and_short_durations() {
        let q = parse_sql("SELECT a FROM t WINDOW SLIDING(5m, 1m) GROUP BY a EMIT FINAL").unwrap();
        let w = q.streaming.window.unwrap();
        assert_eq!(
            w.kind,
            WindowKind::Sliding {
                size_ms: 300_000,
                slide_ms: 60_000,
                offset_ms: 0
            }
        );
        assert_eq!(w.time_column, None);
        let q = parse_sql("SELECT a FROM t GROUP BY a WINDOW SESSION(ts, 500ms)").unwrap();
        assert_eq!(
            q.streaming.window.unwrap().kind,
            WindowKind::Session { gap_ms: 500 }
        );
    }

    #[test]
    fn bad_duration_unit() {
        let (msg, p) = sql_err("SELECT a FROM t GROUP BY a WINDOW TUMBLING(ts, 5x)");
        assert!(msg.contains("unknown unit 'x'"), "{msg}");
        assert_eq!((p.line, p.column), (1, 48));
        let (msg, _) =
            sql_err("SELECT a FROM t GROUP BY a WINDOW TUMBLING(ts, INTERVAL '5' FORTNIGHT)");
        assert!(msg.contains("unknown interval unit 'FORTNIGHT'"), "{msg}");
    }

    #[test]
    fn two_windows_rejected() {
        let (msg, _) = sql_err(
            "SELECT a FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY a WINDOW TUMBLING(1m)",
        );
        assert!(msg.contains("two window clauses"), "{msg}");
    }

    #[test]
    fn tvf_forms() {
        let q = parse_sql(
            "SELECT window_start, COUNT(*) FROM TABLE(HOP(TABLE trades, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '1' MINUTE)) GROUP BY window_start",
        )
        .unwrap();
        let w = q.streaming.window.unwrap();
        assert_eq!(
            w.kind,
            WindowKind::Sliding {
                size_ms: 60_000,
                slide_ms: 10_000,
                offset_ms: 0
            }
        );
        assert!(q.query.to_string().contains("FROM trades"));
        let q = parse_sql(
            "SELECT COUNT(*) FROM TABLE(SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), INTERVAL '5' SECOND)) GROUP BY k",
        )
        .unwrap();
        let w = q.streaming.window.unwrap();
        assert_eq!(w.partition_by, vec!["k".to_string()]);
        assert_eq!(w.kind, WindowKind::Session { gap_ms: 5_000 });
    }

    #[test]
    fn rows_window_buffer_rewrite() {
        let q = parse_sql(
            "SELECT AVG(price) OVER (ROWS WINDOW BUFFER 100 ROWS PARTITION BY symbol ORDER BY ts) FROM t",
        )
        .unwrap();
        let text = q.query.to_string();
        assert!(
            text.contains(
                "PARTITION BY symbol ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW"
            ),
            "{text}"
        );
    }

    #[test]
    fn with_options() {
        let q = parse_sql(
            "SELECT a FROM t WITH ('event.time.field' = 'ts', 'watermark.max_out_of_orderness' = '5s')",
        )
        .unwrap();
        assert_eq!(q.streaming.options.len(), 2);
        assert_eq!(q.streaming.options[1].value, "5s");
        // a leading WITH is a CTE, left to sqlparser
        assert!(parse_sql("WITH x AS (SELECT 1) SELECT * FROM x").is_ok());
    }

    #[test]
    fn emit_needs_mode() {
        let (msg, _) = sql_err("SELECT a FROM t EMIT SOON");
        assert!(msg.contains("CHANGES or FINAL"), "{msg}");
    }

    #[test]
    fn non_query_rejected() {
        assert!(matches!(
            parse_sql("DELETE FROM t"),
            Err(Error::NotSupported(_))
        ));
        assert!(matches!(parse_sql("  ;"), Err(Error::Sql { .. })));
    }
}

//! SQL front end.
use crate::error::{Error, SqlPosition};
/// Converts a sqlparser error.
pub fn parser_error(e: sqlparser::parser::ParserError) -> Error {
    Error::sql(e.to_string(), SqlPosition::default())
}

//! Name resolution: the columns visible to an expression (with their table qualifier),
//! and "did you mean" suggestions for names that do not resolve.

use arrow::datatypes::{DataType, SchemaRef};

/// One visible column.
#[derive(Debug, Clone)]
pub struct ScopeColumn {
    /// Table name or alias that qualifies it.
    pub qualifier: Option<String>,
    /// Column name.
    pub name: String,
    /// Index in the input batch.
    pub index: usize,
    /// Type.
    pub data_type: DataType,
}

/// The columns an expression may reference.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Visible columns in input order.
    pub columns: Vec<ScopeColumn>,
}

/// The result of looking a name up.
pub enum Lookup<'a> {
    /// Exactly one column.
    Found(&'a ScopeColumn),
    /// No column: the closest name, if any is close.
    Missing(Option<String>),
    /// More than one column matches (the qualifiers that match).
    Ambiguous(Vec<String>),
}

impl Scope {
    /// All columns of `schema`, qualified by `qualifier`.
    pub fn from_schema(schema: &SchemaRef, qualifier: Option<&str>) -> Scope {
        Scope {
            columns: schema
                .fields()
                .iter()
                .enumerate()
                .map(|(index, f)| ScopeColumn {
                    qualifier: qualifier.map(str::to_string),
                    name: f.name().clone(),
                    index,
                    data_type: f.data_type().clone(),
                })
                .collect(),
        }
    }

    /// Looks up `[qualifier.]name`: an exact match first, then a case-insensitive one
    /// (unquoted identifiers are case-insensitive, as in DuckDB).
    pub fn lookup(&self, qualifier: Option<&str>, name: &str, quoted: bool) -> Lookup<'_> {
        let qual_ok = |c: &ScopeColumn| match qualifier {
            None => true,
            Some(q) => c
                .qualifier
                .as_deref()
                .is_some_and(|cq| cq.eq_ignore_ascii_case(q)),
        };
        let exact: Vec<&ScopeColumn> = self
            .columns
            .iter()
            .filter(|c| qual_ok(c) && c.name == name)
            .collect();
        let found = if !exact.is_empty() || quoted {
            exact
        } else {
            self.columns
                .iter()
                .filter(|c| qual_ok(c) && c.name.eq_ignore_ascii_case(name))
                .collect()
        };
        match found.as_slice() {
            [one] => Lookup::Found(one),
            [] => Lookup::Missing(closest(
                name,
                self.columns
                    .iter()
                    .filter(|c| qual_ok(c))
                    .map(|c| c.name.as_str()),
            )),
            many => Lookup::Ambiguous(
                many.iter()
                    .map(|c| c.qualifier.clone().unwrap_or_default())
                    .collect(),
            ),
        }
    }
}

/// Edit distance between two strings (case-insensitive), for suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// ` (did you mean "x"?)` or nothing.
pub fn did_you_mean(suggestion: Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean \"{s}\"?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("price", "prcie"), 2);
        assert_eq!(edit_distance("symbol", "SYMBOL"), 0);
        assert_eq!(
            closest("prise", ["price", "quantity"].into_iter()),
            Some("price".into())
        );
        assert_eq!(closest("zzzzzz", ["price", "quantity"].into_iter()), None);
    }
}

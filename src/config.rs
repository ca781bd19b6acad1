//! Engine and query options in one place (CLI flags, `WITH (...)` options and the
//! builder all land here).

/// Options of one query. Build with the chained setters:
///
/// ```
/// use velostream::QueryOptions;
/// let opts = QueryOptions::default().watermark_delay_ms(5_000).event_time("ts");
/// assert_eq!(opts.watermark_delay_ms, Some(5_000));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// Event-time column (else the window clause's column).
    pub event_time: Option<String>,
    /// Bounded out-of-orderness in milliseconds (`None`: the query's option, else 0).
    pub watermark_delay_ms: Option<i64>,
    /// Add the `_op` column to EMIT CHANGES output.
    pub changelog: bool,
    /// Fail with `ResourcesExhausted` when operator state exceeds this many bytes.
    pub memory_limit_bytes: Option<usize>,
    /// Keep late rows (windowed queries) for [`crate::Query::take_late_rows`].
    pub collect_late_rows: bool,
}

impl QueryOptions {
    /// Sets the event-time column.
    pub fn event_time(mut self, column: impl Into<String>) -> Self {
        self.event_time = Some(column.into());
        self
    }

    /// Sets the watermark delay (bounded out-of-orderness).
    pub fn watermark_delay_ms(mut self, ms: i64) -> Self {
        self.watermark_delay_ms = Some(ms);
        self
    }

    /// Adds the `_op` changelog column to EMIT CHANGES output.
    pub fn changelog(mut self, on: bool) -> Self {
        self.changelog = on;
        self
    }

    /// Keeps the rows a windowed query drops as late (input schema, unchanged), to be
    /// taken with [`crate::Query::take_late_rows`] (the API's late sink).
    pub fn collect_late_rows(mut self, on: bool) -> Self {
        self.collect_late_rows = on;
        self
    }

    /// Sets the state memory limit.
    pub fn memory_limit_bytes(mut self, bytes: usize) -> Self {
        self.memory_limit_bytes = Some(bytes);
        self
    }
}

/// Parses a size such as `512MB`, `2GB`, `64k`, `1048576`.
///
/// # Errors
/// A message naming the bad size.
pub fn parse_size_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim().to_ascii_lowercase());
    let n: usize = num
        .parse()
        .map_err(|_| format!("invalid size '{text}': expected e.g. 512MB or 2GB"))?;
    let mult: usize = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "invalid size '{text}': unknown unit '{unit}' (use KB, MB, GB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("invalid size '{text}': too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size_bytes("2GB"), Ok(2 << 30));
        assert_eq!(parse_size_bytes("512mb"), Ok(512 << 20));
        assert_eq!(parse_size_bytes("100"), Ok(100));
        assert!(
            parse_size_bytes("5 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_size_bytes("lots").is_err());
    }
}

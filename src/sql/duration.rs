//! Durations as the dialect writes them: `INTERVAL '5' SECOND`, `INTERVAL '5 seconds'`,
//! short forms `500ms`, `5s`, `1m`, `2h`, `1d`, and a bare `0`.

/// Milliseconds in one unit, for the unit names the dialect accepts (case-insensitive).
/// An unknown unit is `None`: it is an error, never silently seconds.
pub fn unit_ms(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "ms" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    })
}

/// Parses `"<n><unit>"` or `"<n> <unit>"` (e.g. `5s`, `500 ms`, `1 minute`) or `"0"`
/// into milliseconds.
///
/// # Errors
/// A message naming the problem (missing number, unknown unit, overflow).
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (t[..split].trim(), t[split..].trim());
    if num.is_empty() {
        return Err(format!(
            "invalid duration '{text}': expected a number, e.g. '5s'"
        ));
    }
    if unit.is_empty() {
        return match num.parse::<f64>() {
            Ok(0.0) => Ok(0),
            _ => Err(format!(
                "invalid duration '{text}': a unit is required (ms, s, m, h, d)"
            )),
        };
    }
    let Some(per) = unit_ms(unit) else {
        return Err(format!(
            "invalid duration '{text}': unknown unit '{unit}' (expected ms, s, m, h, d or MILLISECOND, SECOND, MINUTE, HOUR, DAY)"
        ));
    };
    number_times_unit(num, per).ok_or_else(|| format!("invalid duration '{text}'"))
}

/// `num * per` for an integer or decimal `num`, in whole milliseconds.
pub fn number_times_unit(num: &str, per: i64) -> Option<i64> {
    if let Ok(n) = num.parse::<i64>() {
        return n.checked_mul(per).filter(|v| *v >= 0);
    }
    let v = num.parse::<f64>().ok()? * per as f64;
    if v.is_finite() && v >= 0.0 && v < i64::MAX as f64 && v.fract() == 0.0 {
        Some(v as i64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms() {
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("5s"), Ok(5_000));
        assert_eq!(parse_duration_ms("1m"), Ok(60_000));
        assert_eq!(parse_duration_ms("2h"), Ok(7_200_000));
        assert_eq!(parse_duration_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_duration_ms("0"), Ok(0));
        assert_eq!(parse_duration_ms("1.5s"), Ok(1_500));
        assert_eq!(parse_duration_ms("5 seconds"), Ok(5_000));
    }

    #[test]
    fn bad_forms() {
        assert!(
            parse_duration_ms("5")
                .unwrap_err()
                .contains("unit is required")
        );
        assert!(
            parse_duration_ms("5x")
                .unwrap_err()
                .contains("unknown unit 'x'")
        );
        assert!(
            parse_duration_ms("s")
                .unwrap_err()
                .contains("expected a number")
        );
        assert!(parse_duration_ms("0.5ms").is_err());
    }
}

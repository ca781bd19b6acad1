//! Proleptic Gregorian calendar arithmetic on day numbers (days since 1970-01-01, UTC),
//! for the date and time functions: civil date of a day, day of a civil date, ISO
//! weekday and ISO week.
//!
//! Branch-light integer formulas (Howard Hinnant's `civil_from_days` /
//! `days_from_civil`), so a column is converted in a tight loop without building
//! `chrono` values. Valid for every day an `i64` timestamp of any unit can reach.

/// Days from 0000-03-01 to 1970-01-01: the formulas count from a March 1st so that the
/// leap day ends the year.
const EPOCH_SHIFT: i64 = 719_468;
/// Days in a 400-year cycle.
const DAYS_PER_ERA: i64 = 146_097;

/// The (year, month 1..=12, day 1..=31) of day number `days`.
#[inline]
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + EPOCH_SHIFT;
    let era = z.div_euclid(DAYS_PER_ERA);
    let doe = z.rem_euclid(DAYS_PER_ERA); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day number of (year, month 1..=12, day 1..=31).
#[inline]
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400; // [0, 399]
    let mp = i64::from((month + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * DAYS_PER_ERA + doe - EPOCH_SHIFT
}

/// ISO day of the week: Monday = 1 ... Sunday = 7 (1970-01-01 was a Thursday).
#[inline]
pub(super) fn iso_weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7) + 1
}

/// Day of the year, 1..=366.
#[inline]
pub(super) fn day_of_year(days: i64) -> i64 {
    let (year, _, _) = civil_from_days(days);
    days - days_from_civil(year, 1, 1) + 1
}

/// ISO 8601 (year, week 1..=53): the week belongs to the year of its Thursday.
#[inline]
pub(super) fn iso_week(days: i64) -> (i64, i64) {
    let thursday = days - iso_weekday(days) + 4;
    let (year, _, _) = civil_from_days(thursday);
    let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    (year, week)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate};

    fn chrono_day(days: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days)
    }

    #[test]
    fn agrees_with_chrono_over_eight_centuries() {
        // 1600-01-01 .. 2400-01-01, every day
        for days in -135_140..157_000 {
            let expected = chrono_day(days);
            let (y, m, d) = civil_from_days(days);
            assert_eq!(
                (y, m, d),
                (i64::from(expected.year()), expected.month(), expected.day()),
                "day {days}"
            );
            assert_eq!(days_from_civil(y, m, d), days);
            assert_eq!(
                iso_weekday(days),
                i64::from(expected.weekday().number_from_monday())
            );
            assert_eq!(day_of_year(days), i64::from(expected.ordinal()));
            let iso = expected.iso_week();
            assert_eq!(
                iso_week(days),
                (i64::from(iso.year()), i64::from(iso.week())),
                "{expected}"
            );
        }
    }

    #[test]
    fn known_dates_and_extremes() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_724), (2024, 1, 2));
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(iso_week(days_from_civil(2021, 1, 1)), (2020, 53));
        assert_eq!(iso_week(days_from_civil(2024, 12, 30)), (2025, 1));
        // the day range of i64 seconds stays exact
        let far = i64::MAX / 86_400;
        let (y, m, d) = civil_from_days(far);
        assert_eq!(days_from_civil(y, m, d), far);
        let (y, m, d) = civil_from_days(-far);
        assert_eq!(days_from_civil(y, m, d), -far);
    }
}

//! Calendar formatting of timestamps as JavaScript's `Date` writes them, in UTC.
//!
//! JavaScript dates use the proleptic Gregorian calendar and millisecond precision; finer
//! nanoseconds are truncated (towards the past, as `Date` does for times before 1970). Times
//! outside JavaScript's `Date` range (±8.64·10¹⁵ ms) have no JavaScript equivalent; they are
//! formatted by the same rules, with as many year digits as they need.

use crate::value::Timestamp;

const SECONDS_PER_DAY: i64 = 86_400;

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A timestamp broken down into UTC calendar fields.
struct Civil {
    year: i64,
    /// 1..=12
    month: u32,
    /// 1..=31
    day: u32,
    /// 0 = Sunday
    weekday: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millisecond: u32,
}

impl Civil {
    fn new(t: Timestamp) -> Self {
        // Carry excess nanoseconds first, as `Timestamp::new` does.
        let t = Timestamp::new(t.seconds, t.nanoseconds);
        let days = t.seconds.div_euclid(SECONDS_PER_DAY);
        // In 0..86400, so the conversions below cannot fail.
        let secs_of_day = u32::try_from(t.seconds.rem_euclid(SECONDS_PER_DAY)).unwrap_or(0);
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday.
        let weekday = u32::try_from((days % 7 + 11) % 7).unwrap_or(0);
        Self {
            year,
            month,
            day,
            weekday,
            hour: secs_of_day / 3600,
            minute: secs_of_day / 60 % 60,
            second: secs_of_day % 60,
            millisecond: t.nanoseconds / 1_000_000,
        }
    }

    fn month_name(&self) -> &'static str {
        let index = usize::try_from(self.month.saturating_sub(1)).unwrap_or(0);
        MONTHS.get(index).copied().unwrap_or("???")
    }

    fn weekday_name(&self) -> &'static str {
        let index = usize::try_from(self.weekday).unwrap_or(0);
        WEEKDAYS.get(index).copied().unwrap_or("???")
    }
}

/// The (year, month, day) of a day count since 1970-01-01 in the proleptic Gregorian calendar.
///
/// Years are counted from March so that the leap day is the last day of a year; a 400-year era
/// has exactly 146097 days.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Days since 0000-03-01. `days` comes from an i64 of seconds, so it is far from overflowing.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // 0..=399
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..=365
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1; // 1..=31
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// The ISO 8601 text JavaScript's `Date.prototype.toISOString` (and `toJSON`) writes, for
/// example `"1970-01-01T00:00:00.000Z"`: millisecond precision, UTC, and years outside
/// `0..=9999` written with a sign and at least six digits (`"+010000-01-01T…"`,
/// `"-000001-12-31T…"`).
pub(crate) fn iso8601(t: Timestamp) -> String {
    let c = Civil::new(t);
    let year = if (0..=9999).contains(&c.year) {
        format!("{:04}", c.year)
    } else {
        let sign = if c.year < 0 { '-' } else { '+' };
        format!("{sign}{:06}", c.year.unsigned_abs())
    };
    format!(
        "{year}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.month, c.day, c.hour, c.minute, c.second, c.millisecond
    )
}

/// The text JavaScript's `Date.prototype.toString` writes in the UTC time zone (an English
/// locale), for example `"Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"`.
/// Years have at least four digits and a `-` when negative (`"-0001"`).
// Used by the BinaryPack codec, which sends dates as this string as PeerJS does.
pub(crate) fn js_date_string(t: Timestamp) -> String {
    let c = Civil::new(t);
    let sign = if c.year < 0 { "-" } else { "" };
    format!(
        "{} {} {:02} {sign}{:04} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        c.weekday_name(),
        c.month_name(),
        c.day,
        c.year.unsigned_abs(),
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (milliseconds, toISOString, toString) from node with TZ=UTC.
    const CASES: &[(i64, &str, &str)] = &[
        (0, "1970-01-01T00:00:00.000Z", "Thu Jan 01 1970 00:00:00"),
        (-1, "1969-12-31T23:59:59.999Z", "Wed Dec 31 1969 23:59:59"),
        (1500, "1970-01-01T00:00:01.500Z", "Thu Jan 01 1970 00:00:01"),
        (
            951_782_400_000,
            "2000-02-29T00:00:00.000Z",
            "Tue Feb 29 2000 00:00:00",
        ),
        (
            -62_198_755_200_000,
            "-000001-01-01T00:00:00.000Z",
            "Fri Jan 01 -0001 00:00:00",
        ),
        (
            -62_167_219_200_000,
            "0000-01-01T00:00:00.000Z",
            "Sat Jan 01 0000 00:00:00",
        ),
        (
            -62_167_219_200_001,
            "-000001-12-31T23:59:59.999Z",
            "Fri Dec 31 -0001 23:59:59",
        ),
        (
            253_402_300_799_999,
            "9999-12-31T23:59:59.999Z",
            "Fri Dec 31 9999 23:59:59",
        ),
        (
            253_402_300_800_000,
            "+010000-01-01T00:00:00.000Z",
            "Sat Jan 01 10000 00:00:00",
        ),
        (
            8_640_000_000_000_000,
            "+275760-09-13T00:00:00.000Z",
            "Sat Sep 13 275760 00:00:00",
        ),
        (
            -8_640_000_000_000_000,
            "-271821-04-20T00:00:00.000Z",
            "Tue Apr 20 -271821 00:00:00",
        ),
        (
            1_000_000_000_000,
            "2001-09-09T01:46:40.000Z",
            "Sun Sep 09 2001 01:46:40",
        ),
        (
            -10_000_000_000_000,
            "1653-02-10T06:13:20.000Z",
            "Mon Feb 10 1653 06:13:20",
        ),
        (
            -30_610_224_000_000,
            "1000-01-01T00:00:00.000Z",
            "Wed Jan 01 1000 00:00:00",
        ),
    ];

    #[test]
    fn known_dates() {
        for &(ms, iso, string) in CASES {
            let t = Timestamp::from_millis(ms);
            assert_eq!(iso8601(t), iso, "{ms}");
            assert_eq!(
                js_date_string(t),
                format!("{string} GMT+0000 (Coordinated Universal Time)"),
                "{ms}"
            );
        }
    }

    #[test]
    fn sub_millisecond_precision_is_truncated() {
        assert_eq!(
            iso8601(Timestamp::new(0, 999_999)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            iso8601(Timestamp::new(-1, 999_999_999)),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            iso8601(Timestamp {
                seconds: 0,
                nanoseconds: 1_500_000_000
            }),
            "1970-01-01T00:00:01.500Z"
        );
    }

    fn days_in_month(year: i64, month: u32) -> u32 {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    #[test]
    fn every_day_follows_the_previous() {
        // Walk the days across several 400-year eras and check the calendar's own consistency.
        let mut prev = civil_from_days(-800_000);
        for days in -799_999..800_000 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = prev;
            let next_day = (y, m, d) == (py, pm, pd + 1);
            let month_ended = pd == days_in_month(py, pm);
            let next_month = y == py && m == pm + 1 && d == 1 && month_ended;
            let next_year = y == py + 1 && m == 1 && d == 1 && pm == 12 && month_ended;
            assert!(
                next_day || next_month || next_year,
                "{days}: {prev:?} -> {:?}",
                (y, m, d)
            );
            prev = (y, m, d);
        }
    }

    #[test]
    fn extremes_do_not_overflow() {
        for seconds in [i64::MIN, i64::MAX, i64::MIN + 1, i64::MAX - 1] {
            let t = Timestamp::new(seconds, 999_999_999);
            assert!(iso8601(t).ends_with('Z'));
            assert!(js_date_string(t).contains("GMT+0000"));
        }
    }
}

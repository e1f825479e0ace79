//! The Java agent's two timestamp formats, both in UTC: ADDMETADATA's `ts` and ADDEC2METADATA's
//! `metadataTimestamp`.
//!
//! Both are written for instants from year 1 through 9999, the range of the `time` crate without
//! its `large-dates` feature (which would print years past 9999 with a `+` that
//! `SimpleDateFormat` does not write); a clock outside it is clamped to the nearest end. The
//! calendar is proleptic Gregorian: Java's `GregorianCalendar` switches to Julian dates before
//! 1582, which no clock of a running agent reaches.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::UtcDateTime;

/// ADDMETADATA's `SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")`.
const MILLIS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// ADDEC2METADATA's `yyyy-MM-dd'T'HH:mm:ssZ`, where `Z` is the offset (always `+0000` here).
const SECONDS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+0000");

/// 0001-01-01T00:00:00.000Z in milliseconds since the epoch.
const FIRST_MILLIS: i64 = -62_135_596_800_000;

/// 9999-12-31T23:59:59.999Z in milliseconds since the epoch.
const LAST_MILLIS: i64 = 253_402_300_799_999;

/// Milliseconds since the Unix epoch, negative before it, as `Date.getTime()`.
pub fn epoch_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        // `Date` floors: 1 ms before the epoch is -1, even for a sub-millisecond difference.
        Err(e) => {
            let d = e.duration();
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            let partial = d.subsec_nanos() % 1_000_000 != 0;
            -ms - i64::from(partial)
        }
    }
}

/// The instant `millis` after the epoch, clamped to years 1 through 9999.
fn utc(millis: i64) -> UtcDateTime {
    let nanos = i128::from(millis.clamp(FIRST_MILLIS, LAST_MILLIS)) * 1_000_000;
    UtcDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(UtcDateTime::UNIX_EPOCH)
}

/// Appends ADDMETADATA's `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'` for `millis` (see [`epoch_millis`]) to
/// `out`, without allocating once `out` has room for it.
pub fn write_utc_millis(millis: i64, out: &mut Vec<u8>) {
    utc(millis)
        .format_into(out, MILLIS)
        .expect("every component of a UtcDateTime is known and a Vec cannot fail to grow");
}

/// ADDEC2METADATA's `metadataTimestamp`, `yyyy-MM-dd'T'HH:mm:ssZ` in UTC, e.g.
/// `2024-05-01T10:00:00+0000`; times before the epoch are written as the epoch.
pub fn format_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let millis = i64::try_from(secs).map_or(i64::MAX, |s| s.saturating_mul(1000));
    utc(millis)
        .format(SECONDS)
        .expect("every component of a UtcDateTime is known")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ts(millis: i64) -> String {
        let mut out = Vec::new();
        write_utc_millis(millis, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn millis_match_simple_date_format() {
        assert_eq!(ts(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(ts(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(ts(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(ts(1_709_251_198_007), "2024-02-29T23:59:58.007Z");
        assert_eq!(ts(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        assert_eq!(ts(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(ts(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(ts(-30_610_224_000_000), "1000-01-01T00:00:00.000Z");
        assert_eq!(ts(-59_011_459_200_000), "0100-01-01T00:00:00.000Z");
        assert_eq!(ts(-62_135_596_800_000), "0001-01-01T00:00:00.000Z");
    }

    #[test]
    fn millis_outside_years_1_to_9999_are_clamped() {
        assert_eq!(ts(253_402_300_800_000), "9999-12-31T23:59:59.999Z");
        assert_eq!(ts(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(ts(-62_135_596_800_001), "0001-01-01T00:00:00.000Z");
        assert_eq!(ts(i64::MIN), "0001-01-01T00:00:00.000Z");
    }

    /// Midnight of every day of 1969..2101, against a naive day-by-day calendar walk.
    #[test]
    fn millis_walk_the_calendar() {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let (mut y, mut m, mut d) = (1969i64, 1i64, 1i64);
        for days in -365..47_848i64 {
            let want = format!("{y:04}-{m:02}-{d:02}T00:00:00.000Z");
            assert_eq!(ts(days * 86_400_000), want, "{days}");
            let month_len = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > month_len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn writing_appends_without_reallocating() {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"ts=");
        let ptr = out.as_ptr();
        write_utc_millis(1_709_251_198_007, &mut out);
        assert_eq!(out, b"ts=2024-02-29T23:59:58.007Z");
        assert_eq!(out.as_ptr(), ptr);
    }

    #[test]
    fn epoch_millis_floors_like_java_date() {
        assert_eq!(epoch_millis(UNIX_EPOCH), 0);
        assert_eq!(epoch_millis(UNIX_EPOCH + Duration::from_micros(1_999)), 1);
        assert_eq!(epoch_millis(UNIX_EPOCH - Duration::from_micros(1)), -1);
        assert_eq!(epoch_millis(UNIX_EPOCH - Duration::from_millis(1)), -1);
        assert_eq!(epoch_millis(UNIX_EPOCH - Duration::from_micros(1_001)), -2);
    }

    #[test]
    fn seconds_for_ec2_metadata() {
        let at = |s: u64| format_timestamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00+0000");
        assert_eq!(at(1_714_557_600), "2024-05-01T10:00:00+0000");
        assert_eq!(at(951_825_599), "2000-02-29T11:59:59+0000");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59+0000");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00+0000");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59+0000");
        // Sub-second parts are dropped, not rounded.
        assert_eq!(
            format_timestamp(UNIX_EPOCH + Duration::from_millis(59_999)),
            "1970-01-01T00:00:59+0000"
        );
        assert_eq!(
            format_timestamp(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00+0000"
        );
        assert_eq!(at(253_402_300_800), "9999-12-31T23:59:59+0000");
        if let Some(far) = UNIX_EPOCH.checked_add(Duration::from_secs(i64::MAX as u64)) {
            assert_eq!(format_timestamp(far), "9999-12-31T23:59:59+0000");
        }
    }
}

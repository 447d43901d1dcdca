//! Days on a time zone's clock: where a calendar day begins and ends (23 or 25 hours apart when
//! daylight saving time starts or ends), and what a moment is on that clock. A leaf: it names
//! nothing in the crate.

/// Where `day` begins and the next day begins on `zone`'s clock, in ms: 23 or 25 hours apart on
/// the days daylight saving time starts or ends. Where midnight does not exist (a zone that
/// springs forward at 00:00), the day begins at its first minute that does.
pub fn day_bounds_ms<Tz: chrono::TimeZone>(day: chrono::NaiveDate, zone: &Tz) -> Option<(i64, i64)> {
    let start_of = |day: chrono::NaiveDate| {
        let midnight = day.and_hms_opt(0, 0, 0)?;
        (0..=24 * 60)
            .step_by(15)
            .find_map(|minutes| {
                (midnight + chrono::Duration::minutes(minutes)).and_local_timezone(zone.clone()).earliest()
            })
            .map(|t| t.timestamp_millis())
    };
    Some((start_of(day)?, start_of(day.succ_opt()?)?))
}

/// A moment as people and scripts write it: `YYYY-MM-DD` (that day's start on the server's
/// clock), an RFC 3339 time (`2026-11-30T08:00:00+01:00`), or milliseconds since 1970.
pub fn parse_moment(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_millis());
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    day_bounds_ms(day, &chrono::Local).map(|(start, _)| start)
}

/// The wall-clock time of `utc_ms` on `zone`'s clock.
pub fn local_time<Tz: chrono::TimeZone>(utc_ms: i64, zone: &Tz) -> chrono::NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(utc_ms).unwrap_or_default().with_timezone(zone).naive_local()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_the_local_day_even_when_the_clocks_change() {
        let hours = |date: &str, zone: chrono_tz::Tz| {
            let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
            let (start, end) = day_bounds_ms(day, &zone).unwrap();
            let start_local = chrono::DateTime::from_timestamp_millis(start).unwrap().with_timezone(&zone);
            ((end - start) / 3_600_000, start_local.format("%H:%M").to_string())
        };
        assert_eq!(hours("2026-03-29", chrono_tz::Europe::Berlin), (23, "00:00".into()), "spring forward");
        assert_eq!(hours("2026-10-25", chrono_tz::Europe::Berlin), (25, "00:00".into()), "fall back");
        assert_eq!(hours("2026-06-01", chrono_tz::Europe::Berlin), (24, "00:00".into()));
        // Chile springs forward at midnight: 2026-09-06 begins at 01:00.
        assert_eq!(hours("2026-09-06", chrono_tz::America::Santiago), (23, "01:00".into()), "no midnight");
    }
}

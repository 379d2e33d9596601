//! Timestamps on the command line: milliseconds since the epoch, or an ISO-8601 date-time as
//! kafka-consumer-groups.sh takes it (`2024-01-31T12:00:00`, optional `.sss` and `Z`/`±HH:MM`;
//! no offset means UTC), and durations as `--by-duration` takes them (ISO-8601,
//! `PnDTnHnMn.nS`, as Java's `Duration.parse`).

/// Milliseconds since the Unix epoch for `s`.
pub fn parse_timestamp_ms(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    parse_datetime(s).ok_or_else(|| {
        format!("expected milliseconds since the epoch or YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM], got {s:?}")
    })
}

fn parse_datetime(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Split off the zone: Z, +HH:MM or -HH:MM.
    let (clock, offset_minutes) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, z) = rest.split_at(i);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let (h, m) = z[1..].split_once(':').unwrap_or((&z[1..], "0"));
        (
            c,
            sign * (h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?),
        )
    } else {
        (rest, 0)
    };
    let (hms, millis) = match clock.split_once('.') {
        Some((hms, frac)) => {
            let frac = format!("{frac:0<3}");
            (hms, frac.get(..3)?.parse::<i64>().ok()?)
        }
        None => (clock, 0),
    };
    let mut t = hms.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let m: i64 = t.next()?.parse().ok()?;
    let sec: i64 = t.next().map_or(Some(0), |x| x.parse().ok())?;
    if t.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + h) * 60 + m - offset_minutes) * 60_000 + sec * 1000 + millis)
}

/// Milliseconds in an ISO-8601 duration `PnDTnHnMn.nS` (days, hours, minutes, seconds; each
/// part optional, seconds may have a fraction), as kafka-consumer-groups.sh's `--by-duration`.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let bad = || format!("expected an ISO-8601 duration such as PT1H30M or P1DT2H, got {s:?}");
    let rest = s
        .strip_prefix('P')
        .or_else(|| s.strip_prefix('p'))
        .ok_or_else(bad)?;
    let (days, time) = match rest.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut ms: i64 = 0;
    let mut add = |n: f64, unit_ms: f64| -> Result<(), String> {
        let v = n * unit_ms;
        if !v.is_finite() || v < 0.0 || v > i64::MAX as f64 / 2.0 {
            return Err(bad());
        }
        ms = ms.checked_add(v.round() as i64).ok_or_else(bad)?;
        Ok(())
    };
    if !days.is_empty() {
        let n = days.strip_suffix(['D', 'd']).ok_or_else(bad)?;
        add(n.parse::<u32>().map_err(|_| bad())?.into(), 86_400_000.0)?;
    }
    let mut parts = 0;
    if let Some(mut t) = time {
        for (unit, unit_ms) in [('H', 3_600_000.0), ('M', 60_000.0), ('S', 1_000.0)] {
            if let Some(i) = t.find([unit, unit.to_ascii_lowercase()]) {
                let n: f64 = if unit == 'S' {
                    t[..i].parse().map_err(|_| bad())?
                } else {
                    t[..i].parse::<u32>().map_err(|_| bad())?.into()
                };
                add(n, unit_ms)?;
                t = &t[i + 1..];
                parts += 1;
            }
        }
        if !t.is_empty() || parts == 0 {
            return Err(bad());
        }
    } else if days.is_empty() {
        return Err(bad());
    }
    Ok(ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_millis_and_datetimes() {
        assert_eq!(parse_timestamp_ms("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:00"), Ok(0));
        assert_eq!(
            parse_timestamp_ms("2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_timestamp_ms("2023-11-14T22:13:20.123"),
            Ok(1_700_000_000_123)
        );
        assert_eq!(
            parse_timestamp_ms("2023-11-15T00:13:20+02:00"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_timestamp_ms("2000-02-29T00:00:00"),
            Ok(951_782_400_000)
        );
        assert!(parse_timestamp_ms("yesterday").is_err());
        assert_eq!(parse_duration_ms("PT1H30M"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("P1DT2H"), Ok(93_600_000));
        assert_eq!(parse_duration_ms("P2D"), Ok(172_800_000));
        assert_eq!(parse_duration_ms("PT0.5S"), Ok(500));
        for bad in ["", "P", "PT", "1H", "PT1X", "PT-1H", "P1H"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
        assert!(parse_timestamp_ms("2023-13-01T00:00:00").is_err());
    }
}

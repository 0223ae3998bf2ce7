//! Wall-clock time as text, without a date library: UTC stamps for snapshot names and
//! lock records.

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// UTC time now as `YYYYMMDDhhmmss`.
pub fn utc_stamp() -> String {
    utc_stamp_at(now_secs())
}

/// `secs` after the epoch as `YYYYMMDDhhmmss` (UTC).
pub fn utc_stamp_at(secs: u64) -> String {
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `secs` after the epoch as RFC 3339 (`2026-11-28T17:40:12Z`).
pub fn rfc3339_at(secs: u64) -> String {
    let d = utc_stamp_at(secs);
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[8..10],
        &d[10..12],
        &d[12..14]
    )
}

/// `YYYY-MM-DDThh:mm:ssZ` (RFC 3339 in UTC, as written by [`rfc3339_at`]; a `.fff`
/// fraction and a `+00:00` offset are taken too) as seconds after the epoch.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once(['T', ' '])?;
    let time = time.split('.').next()?;
    let num = |t: &str| t.parse::<i64>().ok();
    let d: Vec<i64> = date.split('-').map(num).collect::<Option<_>>()?;
    let t: Vec<i64> = time.split(':').map(num).collect::<Option<_>>()?;
    let (&[y, m, day], &[hh, mm, ss]) = (&d[..], &t[..]) else {
        return None;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), the inverse of `utc_stamp_at`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    u64::try_from(days * 86400 + hh * 3600 + mm * 60 + ss).ok()
}

/// A span as people say it: `7h 59m`, `2d 3h`, `45s`.
pub fn span(secs: u64) -> String {
    let (d, h, m) = (secs / 86400, secs % 86400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_digits() {
        assert_eq!(utc_stamp_at(0), "19700101000000");
        assert_eq!(utc_stamp_at(1_795_000_000), "20261118110640");
        assert_eq!(rfc3339_at(1_795_000_000), "2026-11-18T11:06:40Z");
        let s = utc_stamp();
        assert_eq!(s.len(), 14);
        assert!(s.starts_with("20") && s.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes() {
        for secs in [0, 951_782_400, 1_795_000_000, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&rfc3339_at(secs)), Some(secs));
        }
        assert_eq!(
            parse_rfc3339("2026-11-18T11:06:40.123+00:00"),
            Some(1_795_000_000)
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-18T11:06:40+02:00"), None, "UTC only");
        assert_eq!(parse_rfc3339("tomorrow"), None);
        assert_eq!(span(8 * 3600 - 60), "7h 59m");
        assert_eq!(span(2 * 86400 + 3 * 3600 + 5), "2d 3h");
    }
}

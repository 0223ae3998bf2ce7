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
}

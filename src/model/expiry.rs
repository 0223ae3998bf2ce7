//! When a stack may be torn down: `expires:` in the file (a duration from the first `up`,
//! a UTC time, or `never`) or `up --ttl`, recorded on every resource as the tag
//! `provision:expires` (an RFC 3339 UTC time) so that `provision list` and
//! `provision down --expired` find it from AWS alone.
//!
//! A duration is counted from when the stack first got an expiry: later runs keep the
//! recorded time (a second `up` changes nothing), `--ttl` sets a new one. A file without
//! `expires:` keeps whatever is recorded.

use std::time::Duration;

use crate::clock;

/// The tag holding a resource's stack's expiry.
pub const TAG_EXPIRES: &str = "provision:expires";

/// What the file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// This long after the stack first got an expiry.
    After(Duration),
    /// At this time (seconds after the epoch).
    At(u64),
    /// No expiry: any recorded one is removed.
    Never,
}

/// `8h`, `2d`, `90m`, `45s`, `2026-12-01T18:00:00Z` or `never`.
pub fn parse(text: &str) -> Result<Expiry, String> {
    let t = text.trim();
    if t == "never" {
        return Ok(Expiry::Never);
    }
    if let Some(at) = clock::parse_rfc3339(t) {
        return Ok(Expiry::At(at));
    }
    duration(t)
        .map(Expiry::After)
        .ok_or_else(|| format!("`{text}` is not a duration (8h, 2d, 90m), a UTC time (2026-12-01T18:00:00Z) or `never`"))
}

/// `8h`, `2d`, `90m`, `45s`: a positive whole number and a unit.
pub fn duration(t: &str) -> Option<Duration> {
    let t = t.trim();
    let unit = t.chars().last()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return None,
    };
    let n: u64 = t[..t.len() - 1].trim().parse().ok()?;
    (n > 0).then(|| Duration::from_secs(n.saturating_mul(mult)))
}

/// The expiry to record, as RFC 3339: from `--ttl` (a new time from now), else from the
/// file, keeping `recorded` (the earliest one the stack's resources carry) for a
/// duration; without either, what is recorded stays.
pub fn resolve(
    file: Option<Expiry>,
    ttl: Option<Duration>,
    recorded: Option<&str>,
    now: u64,
) -> Option<String> {
    if let Some(ttl) = ttl {
        return Some(clock::rfc3339_at(now + ttl.as_secs()));
    }
    match file {
        Some(Expiry::Never) => None,
        Some(Expiry::At(at)) => Some(clock::rfc3339_at(at)),
        Some(Expiry::After(d)) => Some(
            recorded
                .map(str::to_string)
                .unwrap_or_else(|| clock::rfc3339_at(now + d.as_secs())),
        ),
        None => recorded.map(str::to_string),
    }
}

/// Whether a recorded expiry is past at `now` (an unreadable one never is).
pub fn is_past(recorded: &str, now: u64) -> bool {
    clock::parse_rfc3339(recorded).is_some_and(|at| at <= now)
}

/// `2026-11-29T09:40:00Z (in 7h 59m)` or `(2h 5m ago)`.
pub fn describe(recorded: &str, now: u64) -> String {
    match clock::parse_rfc3339(recorded) {
        Some(at) if at > now => format!("{recorded} (in {})", clock::span(at - now)),
        Some(at) => format!("{recorded} ({} ago)", clock::span(now - at)),
        None => recorded.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_000_000; // 2026-11-18T11:06:40Z

    #[test]
    fn the_file_takes_durations_times_and_never() {
        assert_eq!(
            parse("8h"),
            Ok(Expiry::After(Duration::from_secs(8 * 3600)))
        );
        assert_eq!(
            parse("2d"),
            Ok(Expiry::After(Duration::from_secs(2 * 86400)))
        );
        assert_eq!(parse("2026-11-18T11:06:40Z"), Ok(Expiry::At(NOW)));
        assert_eq!(parse("never"), Ok(Expiry::Never));
        assert!(parse("0h").is_err());
        assert!(parse("soon").is_err());
        assert!(parse("8 hours").is_err());
    }

    #[test]
    fn a_duration_keeps_the_recorded_time_and_ttl_sets_a_new_one() {
        let eight = Some(Expiry::After(Duration::from_secs(8 * 3600)));
        let first = resolve(eight, None, None, NOW).expect("set");
        assert_eq!(first, "2026-11-18T19:06:40Z");
        // An hour later, the same file changes nothing.
        assert_eq!(
            resolve(eight, None, Some(&first), NOW + 3600),
            Some(first.clone())
        );
        // --ttl extends from now.
        assert_eq!(
            resolve(
                eight,
                Some(Duration::from_secs(3600)),
                Some(&first),
                NOW + 3600
            ),
            Some("2026-11-18T13:06:40Z".into())
        );
        // No expires: what is recorded stays; never removes it.
        assert_eq!(resolve(None, None, Some(&first), NOW), Some(first.clone()));
        assert_eq!(resolve(None, None, None, NOW), None);
        assert_eq!(resolve(Some(Expiry::Never), None, Some(&first), NOW), None);
        assert!(!is_past(&first, NOW) && is_past(&first, NOW + 8 * 3600));
        assert_eq!(
            describe(&first, NOW + 60),
            "2026-11-18T19:06:40Z (in 7h 59m)"
        );
    }
}

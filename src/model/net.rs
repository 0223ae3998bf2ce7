//! Value checks shared by resource kinds: CIDR blocks, regions and zones, names.

use std::net::Ipv4Addr;

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: u32,
    pub prefix: u8,
}

impl Cidr {
    /// Parse `a.b.c.d/n`; the address must be the network address of the block.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a CIDR block (expected a.b.c.d/n)"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`/{len}` is not a prefix length between 0 and 32"))?;
        let addr = u32::from(ip);
        let c = Cidr { addr, prefix };
        if addr & !c.mask() != 0 {
            return Err(format!(
                "`{s}` has host bits set; the block starts at {}",
                Cidr {
                    addr: addr & c.mask(),
                    prefix
                }
            ));
        }
        Ok(c)
    }

    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    pub fn last(&self) -> u32 {
        self.addr | !self.mask()
    }

    pub fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && (other.addr & self.mask()) == self.addr
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.addr <= other.last() && other.addr <= self.last()
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.prefix)
    }
}

/// Regions known when this was written: for hints only. A well-formed region missing here
/// (a newer one) is not refused; AWS's own answer decides.
pub const KNOWN_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "mx-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "us-gov-west-1",
    "us-gov-east-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// The form of a region name: `<area>-<direction>-<number>`, like `eu-west-3` or
/// `us-gov-west-1`.
pub fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase());
    let ok = (3..=4).contains(&parts.len())
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| word(p))
        && parts[parts.len() - 1]
            .parse::<u8>()
            .is_ok_and(|n| n > 0 && !parts[parts.len() - 1].starts_with('0'));
    if ok {
        Ok(())
    } else {
        Err(format!("`{region}` is not an AWS region name"))
    }
}

/// Check a zone name against the region's form: `eu-west-3a` in `eu-west-3` (a letter),
/// or a Local Zone such as `us-west-2-lax-1a`. Which zones exist is AWS's answer, checked
/// before any write.
pub fn check_zone(region: &str, zone: &str) -> Result<(), String> {
    let Some(rest) = zone.strip_prefix(region) else {
        return Err(format!(
            "zone `{zone}` is not in region {region} (its zones are named {region}a, {region}b, ...)"
        ));
    };
    let letter = |s: &str| s.len() == 1 && s.chars().all(|c| c.is_ascii_lowercase());
    let local = rest.strip_prefix('-').is_some_and(|l| {
        l.len() > 1
            && l.ends_with(|c: char| c.is_ascii_lowercase())
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    if letter(rest) || local {
        Ok(())
    } else {
        Err(format!(
            "`{zone}` is not a zone name (zones of {region} are named {region}a, {region}b, ...)"
        ))
    }
}

/// Logical resource names: they appear in AWS names, so keep them short and plain.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok && name.contains("--") {
        Err(format!(
            "`{name}` has two hyphens in a row, which RDS and load balancer names built from it cannot have"
        ))
    } else if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid name: use 1-40 lowercase letters, digits and hyphens, starting with a letter"
        ))
    }
}

/// S3 bucket naming rules (general purpose buckets).
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("bucket name `{name}` is invalid: {why}"));
    if name.len() < 3 || name.len() > 63 {
        return bad(&format!(
            "it must be 3 to 63 characters long, not {}",
            name.len()
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return bad("only lowercase letters, digits, dots and hyphens are allowed");
    }
    let first = name.chars().next().unwrap_or('-');
    let last = name.chars().last().unwrap_or('-');
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return bad("it must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return bad("dots may not be adjacent to each other or to hyphens");
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return bad("it must not look like an IP address");
    }
    for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(p) {
            return bad(&format!("the prefix `{p}` is reserved"));
        }
    }
    for s in ["-s3alias", "--ol-s3", "--x-s3", "--table-s3"] {
        if name.ends_with(s) {
            return bad(&format!("the suffix `{s}` is reserved"));
        }
    }
    Ok(())
}

/// Levenshtein distance, for "did you mean" hints.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate, if close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let close = candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c);
    // Or the shortest candidate the word starts (`GreaterThan` for `GreaterThanThreshold`).
    close.or_else(|| {
        let lower = word.to_lowercase();
        candidates
            .iter()
            .filter(|c| word.len() >= 3 && c.to_lowercase().starts_with(&lower))
            .min_by_key(|c| c.len())
            .copied()
    })
}

/// Retention values CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A log retention CloudWatch Logs accepts; the error names the nearest one.
pub fn check_log_retention(days: i64) -> Result<(), (String, String)> {
    if LOG_RETENTION_DAYS.contains(&days) {
        return Ok(());
    }
    let near = LOG_RETENTION_DAYS
        .iter()
        .min_by_key(|d| (*d - days).abs())
        .copied()
        .unwrap_or(7);
    Err((
        format!("CloudWatch Logs does not keep logs for {days} days"),
        format!(
            "allowed: {}; the nearest is {near}",
            LOG_RETENTION_DAYS
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// An e-mail address as SNS and Budgets accept it.
pub fn check_email(e: &str) -> Result<(), String> {
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain.contains('.')
                && !domain.contains("..")
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && !local.contains(' ')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{e}` is not an email address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_and_relations() {
        let vpc = Cidr::parse("10.0.0.0/16").expect("valid");
        let a = Cidr::parse("10.0.1.0/24").expect("valid");
        let b = Cidr::parse("10.0.1.128/25").expect("valid");
        let out = Cidr::parse("10.1.0.0/24").expect("valid");
        assert!(vpc.contains(&a) && vpc.contains(&b) && !vpc.contains(&out));
        assert!(a.overlaps(&b) && !a.overlaps(&out));
        assert!(Cidr::parse("10.0.0.1/16")
            .unwrap_err()
            .contains("host bits"));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0/16").is_err());
        assert!(Cidr::parse("10.0.0.0").is_err());
    }

    #[test]
    fn zones_and_names() {
        assert!(check_zone("eu-west-3", "eu-west-3a").is_ok());
        assert!(check_zone("eu-west-3", "eu-west-3d").is_ok(), "AWS decides");
        assert!(check_zone("us-west-2", "us-west-2-lax-1a").is_ok());
        assert!(check_zone("eu-west-3", "us-east-1a").is_err());
        assert!(check_zone("eu-west-3", "eu-west-3").is_err());
        assert!(check_zone("eu-west-3", "eu-west-3ab").is_err());
        for ok in [
            "eu-west-3",
            "us-gov-west-1",
            "ap-southeast-7",
            "xx-newplace-1",
        ] {
            assert!(check_region(ok).is_ok(), "{ok}");
        }
        for bad in [
            "europe-west1",
            "eu-west",
            "eu-west-03",
            "EU-WEST-3",
            "eu_west_3",
        ] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
        assert!(check_bucket_name("spotilike-media-123456789012").is_ok());
        for bad in [
            "ab",
            "Upper",
            "a..b",
            "-start",
            "192.168.1.1",
            "xn--abc",
            "a_b",
            "x-s3alias",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
        assert_eq!(closest("vcp", ["vpc", "zone"]), Some("vpc"));
        assert_eq!(closest("xyzzy", ["vpc", "zone"]), None);
    }
}

//! Helpers for properties whose order carries no meaning.

/// Sort a list in place and return it (subnets, groups and the like: both sides of a
/// comparison are sorted).
pub fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Sort each list in place.
pub fn sort_all<T: Ord>(lists: &mut [&mut Vec<T>]) {
    for l in lists.iter_mut() {
        l.sort();
    }
}

/// The zones of the subnets a list of references names (from the file, before any AWS
/// call), without repeats: for kinds AWS wants spread over two zones.
pub fn zones_of(
    subnets: &[serde_json::Value],
    all: &std::collections::BTreeMap<String, crate::engine::Desired>,
) -> Vec<String> {
    let mut zones: Vec<String> = subnets
        .iter()
        .filter_map(|v| crate::engine::as_ref(v).and_then(|(n, _)| all.get(n)))
        .filter_map(|s| {
            s.props
                .get("zone")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        })
        .collect();
    zones.sort();
    zones.dedup();
    zones
}

/// An error on `subnets` when they are all in one zone where AWS wants two.
pub fn check_two_zones(
    cx: &mut crate::model::Cx,
    what: &str,
    subnets: &[serde_json::Value],
    all: &std::collections::BTreeMap<String, crate::engine::Desired>,
) {
    let zones = zones_of(subnets, all);
    if subnets.len() >= 2 && zones.len() == 1 {
        cx.error_hint(
            "subnets",
            format!(
                "the subnets are all in {}: {what} needs two zones",
                zones[0]
            ),
            "add a subnet of another zone",
        );
    }
}

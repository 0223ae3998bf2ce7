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

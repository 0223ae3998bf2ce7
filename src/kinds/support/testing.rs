//! Helpers for the kinds' unit tests, which run without any AWS or emulator: a context
//! whose clients are never called, the desired resources of a small stack file, and the
//! check that what a kind observes from a recorded answer is what the file wants.

use std::sync::Arc;

use super::kind::{adapt, to_props, Kind};
use super::tags::Tags;
use super::{Context, Options, Scope};
use crate::aws::Aws;
use crate::engine::plan::resolve_props;
use crate::engine::{Desired, ID};
use crate::model::{TAG_NAME, TAG_REGION, TAG_STACK};

pub const STACK: &str = "app";
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-west-3";

/// A context for the stack `app` in eu-west-3; its clients are never called.
pub fn context() -> Arc<Context> {
    Arc::new(Context {
        aws: Aws::offline(REGION),
        scope: Scope {
            stack: STACK.into(),
            account: ACCOUNT.into(),
            region: REGION.into(),
        },
        options: Options::default(),
    })
}

/// The desired resources of the stack file `app` made of `sections` (YAML after the
/// header). Panics with the diagnostics when the file is not valid.
pub fn desired(sections: &str) -> Vec<Desired> {
    let text = format!("stack: {STACK}\nregion: {REGION}\n{sections}");
    let models = crate::kinds::models();
    let stack = crate::model::parse("test.yaml", &text, &models, &Default::default())
        .unwrap_or_else(|e| panic!("invalid test stack:\n{e}"));
    stack.desired(&models, ACCOUNT)
}

/// The value a test gives output `attr` of resource `name`: references resolve to it,
/// and recorded answers use it.
pub fn out(name: &str, attr: &str) -> String {
    if attr == ID {
        format!("{name}-id")
    } else {
        format!("{name}-{attr}")
    }
}

/// The tags the stack `app` gives its resource `name` (no other tags in the file).
pub fn identity_tags(name: &str) -> Tags {
    Tags::from([
        ("Name".to_string(), format!("{STACK}-{name}")),
        (TAG_STACK.to_string(), STACK.to_string()),
        (TAG_NAME.to_string(), name.to_string()),
    ])
}

/// The tags of a global (or globally named) resource of the stack: with its home region.
pub fn global_identity_tags(name: &str) -> Tags {
    let mut t = identity_tags(name);
    t.insert(TAG_REGION.to_string(), REGION.to_string());
    t
}

/// Tags that make a resource someone else's: the same name, another stack.
pub fn foreign_tags(name: &str) -> Tags {
    let mut t = identity_tags(name);
    t.insert(TAG_STACK.to_string(), "other".to_string());
    t
}

/// Assert that `kind` observes `remote` (a recorded answer) as the resource `name` the
/// file wants: every compared field equal once references are resolved (to [`out`]) and
/// both sides normalized; the kind's replace fields are fields; its outputs are given.
pub fn assert_observes<K: Kind>(kind: K, remote: &K::Remote, sections: &str, name: &str) {
    assert_observes_with(kind, remote, sections, name, &[]);
}

/// [`assert_observes`], with some outputs given their real values (`(name, attr, value)`)
/// where a test needs them: a log group's id is its name.
pub fn assert_observes_with<K: Kind>(
    kind: K,
    remote: &K::Remote,
    sections: &str,
    name: &str,
    outputs: &[(&str, &str, &str)],
) {
    let found = kind
        .observe(remote)
        .unwrap_or_else(|| panic!("{name} is not observed as the stack's"));
    assert_eq!(found.name, name);
    let info = kind.info();
    for o in info.outputs {
        assert!(
            *o == ID || found.outputs.contains_key(*o),
            "output `{o}` of {} is declared but not observed",
            info.kind
        );
    }
    let engine = adapt(kind);
    let d = desired(sections)
        .into_iter()
        .find(|d| d.name == name && d.kind == info.kind)
        .unwrap_or_else(|| panic!("no desired {} {name}", info.kind));
    let lookup = |n: &str, a: &str| {
        let given = outputs.iter().find(|(gn, ga, _)| *gn == n && *ga == a);
        Some(given.map_or_else(|| out(n, a), |(_, _, v)| v.to_string()))
    };
    let (mut want, unknown) = resolve_props(&d.props, &lookup);
    assert!(unknown.is_empty(), "unresolved: {unknown:?}");
    engine.normalize(&mut want);
    let mut have = to_props(&found.props);
    engine.normalize(&mut have);
    for (k, v) in &want {
        if info.write_only.contains(&k.as_str()) {
            continue;
        }
        assert_eq!(have.get(k), Some(v), "field `{k}` of {} {name}", info.kind);
    }
    for f in info.replace {
        assert!(
            want.contains_key(*f) || have.contains_key(*f),
            "replace field `{f}` is not a field of {}",
            info.kind
        );
    }
}

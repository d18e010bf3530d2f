//! Compiling a [`Spec`] into an immutable [`Snapshot`]: the only reader of the spec types.
//!
//! All the expensive work happens here, once per config change and off the request path: IP
//! sets (inline and from files) are merged into one longest-prefix-match table, regexes and
//! expressions are compiled, names are resolved to indices, selectors are built. A snapshot is
//! `Send + Sync` and never changes; the [`crate::Engine`] swaps whole snapshots atomically.
//!
//! Compilation is all-or-nothing: the first problem is returned as an [`crate::Error`] naming
//! the field path, and nothing is half applied. The steps, each in its own file:
//!
//! * `ip_sets` — named IP sets, the client-IP resolver, trusted peers, the merged IP table;
//! * `group` — groups, nodes, health policies, selectors, rollouts, fallbacks, with
//!   `analysis` (a judged rollout's canary, baseline and checks);
//! * `rule` — rules (conditions, targets, headers) and the header policy;
//! * `condition` — one condition tree, with `scope` (the IP sets and request fields that
//!   conditions share while a snapshot compiles);
//! * `release` — the `release` section;
//! * `lint` — warnings about a valid spec (shadowed rules, overlapping IP sets, …);
//! * `registry` — health and counters that outlive snapshots.

mod analysis;
mod condition;
mod group;
mod ip_sets;
mod lint;
mod mirror;
mod names;
pub(crate) mod registry;
mod release;
mod rule;
mod scope;

use std::sync::Arc;
use std::time::Instant;

use crate::error::Result;
use crate::format::Format;
use crate::snapshot::Snapshot;
use crate::spec::Spec;
use registry::StateRegistry;
use scope::CompileScope;

/// Options for [`compile`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CompileInput<'a> {
    pub(crate) generation: u64,
    /// The snapshot being replaced: its IP table is reused when the IP sets did not change.
    pub(crate) previous: Option<&'a Snapshot>,
    /// The text the spec was read from, to give lints a line and column.
    pub(crate) source: Option<Source<'a>>,
}

/// A spec's text, its format and the file it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) text: &'a str,
    pub(crate) format: Format,
    pub(crate) file: Option<&'a str>,
}

/// Compiles a spec. `registry` supplies health/counter state that survives reloads.
pub(crate) fn compile(
    spec: Spec,
    input: CompileInput<'_>,
    registry: &StateRegistry,
) -> Result<Snapshot> {
    let started = Instant::now();
    let spec = Arc::new(spec);
    let mut scope = CompileScope::new();
    ip_sets::add_named_sets(&spec, &mut scope)?;
    let resolver = ip_sets::client_ip_resolver(&spec, &scope)?;
    let names = names::GroupNames::new(&spec);
    let groups = group::compile_groups(&spec, &names, registry, &mut scope)?;
    let default_group = names.index(&spec.default, "default")?;
    let rules = rule::compile_rules(&spec, &names, registry, &mut scope)?;
    let (builtin_headers, routing_prefixes) = rule::compile_header_policy(&spec)?;
    let release = match &spec.release {
        Some(r) => Some(release::compile_release(r, &mut scope)?),
        None => None,
    };
    let trusted_peers =
        ip_sets::nets_of(&spec.headers.trusted_peers, &scope, "headers.trusted_peers")?;
    let mut lints = lint::lint(&spec, &scope);
    if let Some(source) = input.source {
        crate::lint::locate(&mut lints, source.text, source.format, source.file);
    }
    let fields = std::mem::take(&mut scope.fields).build();
    // The IP table is the last thing built because conditions may add anonymous sets.
    let (ip_table, set_labels) = ip_sets::build_table(scope, &spec, input.previous);
    let mirrors =
        rules.iter().any(|r| r.mirror.is_some()) || groups.iter().any(|g| g.mirror.is_some());
    Ok(Snapshot {
        generation: input.generation,
        mirrors,
        ip_table,
        set_labels,
        resolver,
        rules: rules.into(),
        groups: groups.into(),
        group_index: names.into_index(),
        default_group,
        builtin_headers,
        routing_prefixes,
        inbound: spec.headers.inbound,
        trusted_peers: trusted_peers.into(),
        release,
        fields,
        compile_time: started.elapsed(),
        lints: lints.into(),
        spec,
    })
}

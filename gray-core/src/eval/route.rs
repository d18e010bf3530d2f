//! The path of one request through a snapshot: the first matching rule, the release's
//! resolution, then a node of the requested group, following fallbacks.
//!
//! [`route`] is what [`crate::Engine::decide`] runs; [`crate::Engine::explain`] runs the same
//! steps ([`match_rule`], [`pick`]) with a recording tracer and visitors.

use std::sync::atomic::Ordering;

use super::condition::{eval, NoTrace, Tracer};
use super::context::Ctx;
use super::service::{Caller, Pick, Routing, SelectStep};
use super::sources::Sources;
use crate::request::RequestView;
use crate::snapshot::group::Group;
use crate::snapshot::release::Choice;
use crate::snapshot::Snapshot;

/// Where a request was routed: indices into the snapshot, plain data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Routed {
    /// Index of the matched rule.
    pub(crate) rule: Option<u32>,
    /// The group the rule (or the default) asked for.
    pub(crate) requested: u32,
    /// The group that served (`requested` or a fallback), if any had a node.
    pub(crate) served: Option<u32>,
    /// Node index within `served`.
    pub(crate) node: Option<u32>,
    /// What the release resolved.
    pub(crate) release: Choice,
    /// Whether the peer's inbound routing headers were believed.
    pub(crate) inbound_trusted: bool,
}

/// Routes one request and counts it (rule and group requests, the node's pick).
///
/// Always inlined into its one caller, [`crate::Engine::decide`]: returned through memory,
/// the `Routed` is written field by field and read back in wider words to build the
/// `Decision`, a store-forwarding stall that cost about 8 % of a decision.
#[inline(always)]
pub(crate) fn route<R: RequestView + ?Sized>(
    snap: &Snapshot,
    sources: &Sources,
    req: &R,
) -> Routed {
    let mut ctx = Ctx::new(req, snap);
    let rule = match_rule(snap, &mut ctx, &mut NoTrace, &mut |_, _| {});
    let requested = requested_group(snap, rule);
    let release = match &snap.release {
        Some(rel) => rel.resolve(&mut ctx, &mut || sources.random(), None),
        None => Choice::EMPTY,
    };
    let inbound_trusted = snap.trusts_inbound(req.peer_ip());
    let input = RouteInput {
        choice: &release,
        trusted: inbound_trusted,
        count: true,
    };
    let (served, node) = pick(
        snap,
        sources,
        &mut ctx,
        requested,
        &input,
        &mut |_| {},
        None,
    );
    if let Some(r) = rule {
        snap.rules[r as usize]
            .counter
            .requests
            .fetch_add(1, Ordering::Relaxed);
    }
    if let Some(g) = served {
        snap.groups[g as usize]
            .counter
            .requests
            .fetch_add(1, Ordering::Relaxed);
    }
    Routed {
        rule,
        requested,
        served,
        node,
        release,
        inbound_trusted,
    }
}

/// The group rule `rule` routes to, or the default group.
#[inline]
pub(crate) fn requested_group(snap: &Snapshot, rule: Option<u32>) -> u32 {
    rule.and_then(|r| snap.rules[r as usize].group)
        .unwrap_or(snap.default_group)
}

/// The release inputs of a pick.
pub(crate) struct RouteInput<'a> {
    pub(crate) choice: &'a Choice,
    pub(crate) trusted: bool,
    /// Count the pick (requests, half-open trials); false for explanations.
    pub(crate) count: bool,
}

/// One group tried while picking a node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PickStep {
    pub(crate) group: u32,
    pub(crate) node: Option<u32>,
    pub(crate) key_missing: bool,
}

/// Finds the first matching rule. `on_rule(index, matched)` is called after each rule.
pub(crate) fn match_rule<R: RequestView + ?Sized, T: Tracer>(
    snap: &Snapshot,
    ctx: &mut Ctx<'_, R>,
    t: &mut T,
    on_rule: &mut dyn FnMut(usize, bool),
) -> Option<u32> {
    for (i, r) in snap.rules.iter().enumerate() {
        let hit = match &r.cond {
            Some(c) => eval(c, ctx, t),
            None => true,
        };
        if T::ON {
            on_rule(i, hit);
        }
        if hit {
            return Some(i as u32);
        }
    }
    None
}

/// Picks a node from `requested`, following fallbacks. `visit` sees each group tried and
/// whether it had a node (for explanations); `steps` receives release filter steps.
#[inline]
pub(crate) fn pick<R: RequestView + ?Sized>(
    snap: &Snapshot,
    sources: &Sources,
    ctx: &mut Ctx<'_, R>,
    requested: u32,
    route: &RouteInput<'_>,
    visit: &mut dyn FnMut(PickStep),
    mut steps: Option<&mut Vec<SelectStep>>,
) -> (Option<u32>, Option<u32>) {
    let mut g = Some(requested);
    let mut hops = 0;
    while let Some(gi) = g {
        let group = &snap.groups[gi as usize];
        let now = group.now_ms(|| sources.now_ms());
        let unix = group.unix_ms(|| sources.unix_ms());
        let (picked, key_missing) = match release_pick(
            snap,
            sources,
            ctx.req,
            group,
            route,
            (now, unix),
            steps.as_deref_mut(),
        ) {
            Some(p) => (p, false),
            None => {
                let key = group
                    .hash_key
                    .as_ref()
                    .and_then(|k| k.hash(ctx, group.hash_salt));
                let random = group.random(|| sources.random());
                let picked = group.pick(key, random, now, unix, route.count);
                (picked, group.hash_key.is_some() && key.is_none())
            }
        };
        visit(PickStep {
            group: gi,
            node: picked.map(|i| i as u32),
            key_missing,
        });
        if let Some(i) = picked {
            return (Some(gi), Some(i as u32));
        }
        hops += 1;
        if hops > snap.groups.len() {
            break;
        }
        g = group.fallback;
    }
    (None, None)
}

/// A release-aware pick from one group, or `None` when nothing constrains the group (the
/// group's own selector then decides). `times` is (monotonic ms, Unix ms).
#[inline]
fn release_pick<R: RequestView + ?Sized>(
    snap: &Snapshot,
    sources: &Sources,
    req: &R,
    group: &Group,
    route: &RouteInput<'_>,
    (now_ms, unix_ms): (u64, u64),
    steps: Option<&mut Vec<SelectStep>>,
) -> Option<Option<usize>> {
    if snap.release.is_none() && !route.trusted {
        return None;
    }
    let release = snap.release.as_ref();
    let routing = Routing::build(
        release,
        route.choice,
        req,
        route.trusted,
        snap.inbound,
        &group.name,
    );
    let pick = Pick {
        group,
        routing: &routing,
        release,
        caller: Caller::local(release),
        random: sources.random(),
        now_ms,
        unix_ms,
        count: route.count,
    };
    if !pick.constrained() {
        return None;
    }
    Some(pick.run(steps))
}

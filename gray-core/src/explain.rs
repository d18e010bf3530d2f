//! Explanations: why a request was routed where it was.
//!
//! [`crate::Engine::explain`] runs the same evaluation as [`crate::Engine::decide`] with a
//! recording tracer: every rule evaluated, each condition's outcome and the value it saw (long
//! values shortened), the client-IP resolution, each group tried while picking a node, and the
//! final choice. An [`Explanation`] prints as indented text and serialises as JSON.
//!
//! ```
//! use gray_core::{Engine, Format, SimpleRequest};
//!
//! let engine = Engine::from_str(r#"
//! version: 1
//! groups: { a: { nodes: [{ address: "127.0.0.1:1" }] }, b: { nodes: [] } }
//! rules: [{ id: beta, when: { header: { name: x-beta, equals: "1" } }, route: b }]
//! default: a
//! "#, Format::Yaml)?;
//! let ex = engine.explain(&SimpleRequest::new("10.0.0.1".parse()?).with_header("x-beta", "2"));
//! let text = ex.to_string();
//! assert!(text.contains("rule beta: no match"), "{text}");
//! assert!(text.contains(r#"seen "2""#), "{text}");
//! assert_eq!(ex.group, "a");
//! let json = serde_json::to_value(&ex)?;
//! assert_eq!(json["rules"][0]["matched"], false);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::decision::Decision;
use crate::eval::condition::Tracer;
use crate::eval::context::Ctx;
use crate::eval::release::{write_trace, ReleaseTrace};
use crate::eval::route::{match_rule, pick, requested_group, PickStep, RouteInput, Routed};
use crate::eval::service::SelectStep;
use crate::eval::sources::Sources;
use crate::request::RequestView;
use crate::snapshot::group::Group;
use crate::snapshot::release::Choice;
use crate::snapshot::Snapshot;

/// One condition's outcome.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConditionTrace {
    /// What was tested, e.g. `cookie "canary" matches /aaa$/ (ignoring case)`.
    pub condition: String,
    /// The value seen (shortened), or `None` when missing.
    pub seen: Option<String>,
    /// The outcome.
    pub outcome: bool,
    /// Sub-conditions of `all` / `any` / `not`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ConditionTrace>,
}

/// One rule's evaluation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleTrace {
    /// Rule id.
    pub id: String,
    /// False for rules after the matching one (not evaluated).
    pub evaluated: bool,
    /// Whether the rule matched.
    pub matched: bool,
    /// The condition tree (`None` for a rule without condition).
    pub condition: Option<ConditionTrace>,
}

/// One group tried while picking a node.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupTrace {
    /// Group name.
    pub group: String,
    /// The node picked, if any.
    pub node: Option<String>,
    /// Why no node was picked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Current staged-rollout step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_step: Option<usize>,
}

/// The full story of one routing decision.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Explanation {
    /// Snapshot generation.
    pub generation: u64,
    /// TCP peer.
    pub peer: Option<String>,
    /// Resolved client IP.
    pub client_ip: Option<String>,
    /// How the client IP was found.
    pub client_ip_source: String,
    /// Rules in order.
    pub rules: Vec<RuleTrace>,
    /// The matched rule id, `None` for the default.
    pub rule: Option<String>,
    /// The group the rules chose.
    pub requested_group: String,
    /// Groups tried while picking a node (the decided group, then fallbacks).
    pub picks: Vec<GroupTrace>,
    /// The serving group.
    pub group: String,
    /// The node, or `None` (no upstream).
    pub node: Option<String>,
    /// Headers set on the forwarded request.
    pub headers: Vec<(String, String)>,
    /// How the `release` section resolved each dimension (when the spec has one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseTrace>,
    /// Whether the peer is trusted to send routing headers.
    pub inbound_trusted: bool,
    /// Release-aware instance filtering steps, when a release or trusted routing headers
    /// constrained the pick.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selection: Vec<SelectStep>,
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Vec<ConditionTrace>>,
    done: Vec<ConditionTrace>,
}

impl Tracer for Recorder {
    const ON: bool = true;
    fn open(&mut self) {
        self.stack.push(Vec::new());
    }
    fn close(&mut self, label: String, outcome: bool) {
        let children = self.stack.pop().unwrap_or_default();
        self.push(ConditionTrace {
            condition: label,
            seen: None,
            outcome,
            children,
        });
    }
    fn leaf(&mut self, label: String, seen: Option<String>, outcome: bool) {
        self.push(ConditionTrace {
            condition: label,
            seen,
            outcome,
            children: Vec::new(),
        });
    }
}

impl Recorder {
    fn push(&mut self, t: ConditionTrace) {
        match self.stack.last_mut() {
            Some(top) => top.push(t),
            None => self.done.push(t),
        }
    }
}

/// [`crate::Engine::explain`]: the steps of [`route`](crate::eval::route::route), traced.
pub(crate) fn explain<R: RequestView + ?Sized>(
    snap: Arc<Snapshot>,
    sources: &Sources,
    req: &R,
) -> Explanation {
    let mut ctx = Ctx::new(req, &snap);
    let mut rec = Recorder::default();
    let mut traces: Vec<RuleTrace> = Vec::new();
    let rule = {
        let mut on_rule = |i: usize, hit: bool| {
            traces.push(RuleTrace {
                id: snap.rules[i].id.to_string(),
                evaluated: true,
                matched: hit,
                condition: None,
            });
        };
        // The recorder collects one top-level condition per evaluated rule, in order.
        match_rule(&snap, &mut ctx, &mut rec, &mut on_rule)
    };
    let mut conds = rec.done.into_iter();
    for (i, t) in traces.iter_mut().enumerate() {
        if snap.rules[i].cond.is_some() {
            t.condition = conds.next();
        }
    }
    for r in snap.rules.iter().skip(traces.len()) {
        traces.push(RuleTrace {
            id: r.id.to_string(),
            evaluated: false,
            matched: false,
            condition: None,
        });
    }
    let requested = requested_group(&snap, rule);
    let now = sources.now_ms();
    let unix = sources.unix_ms();
    let mut release_trace = ReleaseTrace::default();
    let choice = match &snap.release {
        Some(rel) => rel.resolve(&mut ctx, &mut || sources.random(), Some(&mut release_trace)),
        None => Choice::EMPTY,
    };
    let trusted = snap.trusts_inbound(req.peer_ip());
    let mut steps: Vec<PickStep> = Vec::new();
    let mut selection = Vec::new();
    let (served, node) = pick(
        &snap,
        sources,
        &mut ctx,
        requested,
        &RouteInput {
            choice: &choice,
            trusted,
            count: false,
        },
        &mut |s| steps.push(s),
        Some(&mut selection),
    );
    let picks = steps
        .iter()
        .map(|s| {
            let g = &snap.groups[s.group as usize];
            let reason = match s.node {
                Some(_) => None,
                None => Some(unavailable_reason(g, now, unix, s.key_missing)),
            };
            GroupTrace {
                group: g.name.to_string(),
                node: s.node.map(|n| g.nodes[n as usize].address.to_string()),
                reason,
                rollout_step: g.rollout.as_ref().map(|_| g.step(unix)),
            }
        })
        .collect();
    let peer = req.peer_ip();
    let client_ip = ctx.client_ip();
    let client_ip_source = match peer {
        None => "no peer address".to_string(),
        Some(p) => {
            let mut lines: Vec<&str> = Vec::new();
            req.for_each_header(snap.resolver.header().header_name(), &mut |v| {
                lines.push(v);
                true
            });
            let (_, source) = snap.resolver.resolve_explained(p, lines);
            format!(
                "peer {p}, {}: {source}",
                snap.resolver.header().header_name()
            )
        }
    };
    let group_idx = served.unwrap_or(requested);
    let decision_headers = {
        let d = Decision::new(
            snap.clone(),
            Routed {
                rule,
                requested,
                served,
                node,
                release: choice,
                inbound_trusted: trusted,
            },
        );
        d.headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    Explanation {
        generation: snap.generation,
        peer: peer.map(|p| p.to_string()),
        client_ip: client_ip.map(|p| p.to_string()),
        client_ip_source,
        rules: traces,
        rule: rule.map(|r| snap.rules[r as usize].id.to_string()),
        requested_group: snap.groups[requested as usize].name.to_string(),
        picks,
        group: snap.groups[group_idx as usize].name.to_string(),
        node: match (served, node) {
            (Some(g), Some(n)) => Some(
                snap.groups[g as usize].nodes[n as usize]
                    .address
                    .to_string(),
            ),
            _ => None,
        },
        headers: decision_headers,
        release: snap.release.as_ref().map(|_| release_trace),
        inbound_trusted: trusted,
        selection,
    }
}

fn unavailable_reason(g: &Group, now: u64, unix: u64, key_missing: bool) -> String {
    if g.nodes.is_empty() {
        return "the group has no nodes".into();
    }
    let w = g.weights(unix);
    let mut zero = 0;
    let mut drain = 0;
    let mut down = 0;
    for (i, n) in g.nodes.iter().enumerate() {
        if w.get(i).copied().unwrap_or(0) == 0 {
            zero += 1;
        } else if n.drain {
            drain += 1;
        } else if !n.health.is_available(&n.policy, now) {
            down += 1;
        }
    }
    let mut parts = Vec::new();
    if down > 0 {
        parts.push(format!("{down} down (passive health)"));
    }
    if drain > 0 {
        parts.push(format!("{drain} draining"));
    }
    if zero > 0 {
        parts.push(format!("{zero} with weight 0"));
    }
    if parts.is_empty() {
        parts.push("no instance passed the release filters above".to_string());
    }
    let mut s = format!("no available node: {}", parts.join(", "));
    if key_missing {
        s.push_str("; hash key missing");
    }
    s
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "generation {}", self.generation)?;
        writeln!(
            f,
            "client ip: {} ({})",
            self.client_ip.as_deref().unwrap_or("unknown"),
            self.client_ip_source
        )?;
        for r in &self.rules {
            if !r.evaluated {
                writeln!(f, "rule {}: not evaluated (an earlier rule matched)", r.id)?;
                continue;
            }
            writeln!(
                f,
                "rule {}: {}",
                r.id,
                if r.matched { "MATCH" } else { "no match" }
            )?;
            match &r.condition {
                Some(c) => write_cond(f, c, 2)?,
                None => writeln!(f, "  (no condition: always matches)")?,
            }
        }
        match &self.rule {
            Some(r) => writeln!(f, "matched rule {r} → group {}", self.requested_group)?,
            None => writeln!(
                f,
                "no rule matched → default group {}",
                self.requested_group
            )?,
        }
        if let Some(rel) = &self.release {
            write_trace(f, rel)?;
        }
        for s in &self.selection {
            writeln!(f, "  filter {} [{}]: {}", s.filter, s.value, s.outcome)?;
        }
        for p in &self.picks {
            match (&p.node, &p.reason) {
                (Some(n), _) => writeln!(f, "  group {}: picked {n}", p.group)?,
                (None, Some(r)) => writeln!(f, "  group {}: {r}", p.group)?,
                (None, None) => writeln!(f, "  group {}: nothing picked", p.group)?,
            }
            if let Some(s) = p.rollout_step {
                writeln!(f, "    rollout step {s}")?;
            }
        }
        match &self.node {
            Some(n) if self.group != self.requested_group => writeln!(
                f,
                "decision: group {} (fallback from {}) node {n}",
                self.group, self.requested_group
            )?,
            Some(n) => writeln!(f, "decision: group {} node {n}", self.group)?,
            None => writeln!(f, "decision: no upstream (503)")?,
        }
        for (k, v) in &self.headers {
            writeln!(f, "set header {k}: {v}")?;
        }
        Ok(())
    }
}

fn write_cond(f: &mut fmt::Formatter<'_>, c: &ConditionTrace, indent: usize) -> fmt::Result {
    let mark = if c.outcome { "✓" } else { "✗" };
    write!(f, "{:indent$}{mark} {}", "", c.condition)?;
    match &c.seen {
        Some(v) => writeln!(f, " — seen {v:?}")?,
        None if c.children.is_empty() => writeln!(f, " — missing")?,
        None => writeln!(f)?,
    }
    for ch in &c.children {
        write_cond(f, ch, indent + 2)?;
    }
    Ok(())
}

//! Service-side selection: which instance of a service a call goes to.
//!
//! A service that uses gray for its own outbound calls asks [`crate::Engine::select_instance`] with the
//! request it is handling. gray resolves its own `release` (if the spec has one) against that
//! request, combines the result with the inbound `n-d-*` headers **when the peer is trusted**
//! (`headers.trusted_peers`), and picks an instance of the service as described in
//! [`crate::service`].
//!
//! ```
//! use gray_core::{Engine, Format, SimpleRequest};
//!
//! let engine = Engine::from_str(r#"
//! version: 1
//! default: svc-b
//! groups:
//!   svc-b:
//!     nodes:
//!       - { address: "10.0.0.1:4001", metadata: { version: "1.0" } }
//!       - { address: "10.0.0.2:4002", metadata: { version: "1.1" } }
//! headers: { trusted_peers: ["10.0.0.0/8"] }
//! "#, Format::Yaml)?;
//! // A trusted caller (another service of the chain) asks for 1.1.
//! let upstream = SimpleRequest::new("10.1.1.1".parse()?)
//!     .with_header("n-d-version", r#"{"svc-b":"1.1"}"#);
//! assert_eq!(engine.select_instance("svc-b", &upstream).node_address(), Some("10.0.0.2:4002"));
//! // The same header from the internet is ignored.
//! let outsider = SimpleRequest::new("203.0.113.5".parse()?)
//!     .with_header("n-d-version", r#"{"svc-b":"1.1"}"#);
//! let ex = engine.explain_instance("svc-b", &outsider);
//! assert!(!ex.inbound_trusted);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::decision::NodeRef;
use crate::eval::context::Ctx;
use crate::eval::release::ReleaseTrace;
use crate::eval::service::{Caller, Pick, Routing, SelectStep};
use crate::eval::sources::Sources;
use crate::request::RequestView;
use crate::snapshot::release::{Choice, Field};
use crate::snapshot::Snapshot;
use crate::spec::NodeMetadata;

/// The identity of the calling service, for `release.discovery` filters and zone affinity.
/// By default the spec's `release.local` is used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerIdentity {
    /// Service name.
    pub service: Option<String>,
    /// Version, region and zone (other fields are ignored).
    pub metadata: NodeMetadata,
}

/// The instance chosen for one call of a service.
#[derive(Clone)]
pub struct Selection {
    snapshot: Arc<Snapshot>,
    group: Option<u32>,
    node: Option<u32>,
    choice: Choice,
    inbound_trusted: bool,
}

impl Selection {
    /// The chosen instance, or `None` (unknown service or no instance passed the filters).
    pub fn node(&self) -> Option<NodeRef<'_>> {
        NodeRef::of(&self.snapshot, self.group?, self.node?)
    }

    /// The chosen instance's address.
    pub fn node_address(&self) -> Option<&str> {
        self.node().map(|n| n.address)
    }

    /// The snapshot that selected.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// The service (group) the instance was chosen from; `None` for an unknown service.
    pub fn service(&self) -> Option<&str> {
        Some(&*self.snapshot.groups[self.group? as usize].name)
    }

    /// The `n-d-*` headers this service's own release resolved (to forward downstream in
    /// addition to trusted inbound ones; [`outgoing_headers`](Self::outgoing_headers) merges
    /// the two).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.snapshot
            .release
            .iter()
            .flat_map(move |r| r.headers(&self.choice))
    }

    /// True if the inbound request's peer may send routing headers (`headers.trusted_peers`,
    /// or `inbound: keep` without that list), as [`crate::Decision::trusts_inbound`].
    pub fn trusts_inbound(&self) -> bool {
        self.inbound_trusted
    }

    /// Whether an inbound routing header `name` travels on with the outgoing call, by the
    /// rules [`crate::Decision::forward_inbound`] applies at the gateway: never from an
    /// untrusted peer; from a trusted one, unless this service's own release sets the same
    /// header and `inbound` is `override`. Headers that are not routing headers are not
    /// propagated by gray at all (they are the caller's business), so this is `false` for
    /// them.
    pub fn forward_inbound(&self, name: &str) -> bool {
        if !self.inbound_trusted || !self.snapshot.is_routing_header(name) {
            return false;
        }
        self.snapshot.inbound_passes(name, self.headers())
    }

    /// The routing headers an outgoing call made while handling `inbound` carries, so that the
    /// next service of the chain routes as this one did: the inbound routing headers that
    /// [`forward_inbound`](Self::forward_inbound) lets through, then this service's own
    /// [`headers`](Self::headers) (with `inbound: keep`, only those the inbound request did
    /// not carry). Names are as they arrived or as the release spells them; a caller sets
    /// them on the outgoing request, replacing any routing header it had. A view whose
    /// [`RequestView::all_headers`] lists nothing is asked for the `n-d-*` headers gray
    /// routes by, one name at a time.
    ///
    /// ```
    /// use gray_core::{Engine, Format, SimpleRequest};
    ///
    /// let engine = Engine::from_str(r#"
    /// version: 1
    /// default: svc-b
    /// groups: { svc-b: { nodes: [{ address: "10.0.0.1:4001", metadata: { version: "1.1" } }] } }
    /// headers: { trusted_peers: ["10.0.0.0/8"] }
    /// "#, Format::Yaml)?;
    /// let from_gateway = SimpleRequest::new("10.1.1.1".parse()?)
    ///     .with_header("n-d-version", r#"{"svc-b":"1.1"}"#)
    ///     .with_header("x-request-id", "42");
    /// let sel = engine.select_instance("svc-b", &from_gateway);
    /// assert_eq!(sel.outgoing_headers(&from_gateway), [("n-d-version".to_string(), r#"{"svc-b":"1.1"}"#.to_string())]);
    /// // From an untrusted peer nothing is propagated.
    /// let outsider = SimpleRequest::new("203.0.113.5".parse()?)
    ///     .with_header("n-d-version", r#"{"svc-b":"1.1"}"#);
    /// assert!(engine.select_instance("svc-b", &outsider).outgoing_headers(&outsider).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn outgoing_headers<R: RequestView + ?Sized>(&self, inbound: &R) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        if self.inbound_trusted {
            let listed = inbound.all_headers(&mut |name, value| {
                if self.forward_inbound(name) {
                    out.push((name.to_string(), value.to_string()));
                }
            });
            if !listed {
                // A view that cannot list its headers: ask for the routing headers gray knows.
                for f in Field::ALL {
                    let name = f.header();
                    if self.forward_inbound(name) {
                        inbound.for_each_header(name, &mut |value| {
                            out.push((name.to_string(), value.to_string()));
                            true
                        });
                    }
                }
            }
        }
        let keep = self.snapshot.inbound == crate::spec::InboundPolicy::Keep;
        for (name, value) in self.headers() {
            let present = out
                .iter()
                .any(|(k, _)| crate::snapshot::routing_name_eq(k.as_bytes(), name.as_bytes()));
            if !(keep && present) {
                out.push((name.to_string(), value.to_string()));
            }
        }
        out
    }
}

impl fmt::Debug for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selection")
            .field("node", &self.node_address())
            .finish()
    }
}

/// Why an instance was chosen: the values in force (and where they came from) and every
/// filter step.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InstanceExplanation {
    /// The service (group) asked for.
    pub service: String,
    /// Whether the peer may send routing headers.
    pub inbound_trusted: bool,
    /// How this engine's own release resolved (when the spec has one).
    pub release: Option<ReleaseTrace>,
    /// `(header, value for this service, source)`, source `own` or `inbound`.
    pub values: Vec<(String, String, String)>,
    /// Filter steps in order.
    pub steps: Vec<SelectStep>,
    /// The chosen instance.
    pub node: Option<String>,
}

impl fmt::Display for InstanceExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "service {} (inbound routing headers {})",
            self.service,
            if self.inbound_trusted {
                "trusted"
            } else {
                "ignored: untrusted peer"
            }
        )?;
        for (h, v, s) in &self.values {
            writeln!(f, "  {h} = {v} ({s})")?;
        }
        for s in &self.steps {
            writeln!(f, "  filter {} [{}]: {}", s.filter, s.value, s.outcome)?;
        }
        match &self.node {
            Some(n) => writeln!(f, "→ {n}"),
            None => writeln!(f, "→ no instance"),
        }
    }
}

/// [`crate::Engine::explain_instance`]: a selection that counts nothing, with every step.
pub(crate) fn explain<R: RequestView + ?Sized>(
    snap: Arc<Snapshot>,
    sources: &Sources,
    service: &str,
    req: &R,
) -> InstanceExplanation {
    let mut trace = ReleaseTrace::default();
    let mut steps = Vec::new();
    let mut values = Vec::new();
    let sel = select(
        snap,
        sources,
        service,
        req,
        None,
        false,
        Some((&mut trace, &mut values)),
        Some(&mut steps),
    );
    if sel.group.is_none() {
        steps.push(SelectStep {
            filter: "service".into(),
            value: service.into(),
            outcome: "no group with this name".into(),
        });
    }
    InstanceExplanation {
        service: service.to_string(),
        inbound_trusted: sel.snapshot.trusts_inbound(req.peer_ip()),
        release: sel.snapshot.release.as_ref().map(|_| trace),
        values,
        steps,
        node: sel.node_address().map(str::to_string),
    }
}

#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub(crate) fn select<R: RequestView + ?Sized>(
    snap: Arc<Snapshot>,
    sources: &Sources,
    service: &str,
    req: &R,
    caller: Option<&CallerIdentity>,
    // Believe the request's routing headers whatever its peer: this process filtered them.
    filtered: bool,
    explain: Option<(&mut ReleaseTrace, &mut Vec<(String, String, String)>)>,
    steps: Option<&mut Vec<SelectStep>>,
) -> Selection {
    let (explain_trace, explain_values) = match explain {
        Some((t, v)) => (Some(t), Some(v)),
        None => (None, None),
    };
    let choice = match &snap.release {
        Some(rel) => {
            let mut ctx = Ctx::new(req, &snap);
            rel.resolve(&mut ctx, &mut || sources.random(), explain_trace)
        }
        None => Choice::EMPTY,
    };
    let Some(gi) = snap.group_by_name(service) else {
        return Selection {
            inbound_trusted: filtered || snap.trusts_inbound(req.peer_ip()),
            snapshot: snap.clone(),
            group: None,
            node: None,
            choice,
        };
    };
    let group = &snap.groups[gi as usize];
    let trusted = filtered || snap.trusts_inbound(req.peer_ip());
    let release = snap.release.as_ref();
    let routing = Routing::build(release, &choice, req, trusted, snap.inbound, service);
    if let Some(v) = explain_values {
        for f in Field::ALL {
            if let Some(val) = &routing.values[f as usize] {
                let src = if routing.inbound[f as usize] {
                    "inbound"
                } else {
                    "own"
                };
                v.push((f.header().into(), val.to_string(), src.into()));
            }
        }
    }
    let caller = match caller {
        Some(c) => Caller {
            service: c.service.as_deref(),
            version: c.metadata.version.as_deref(),
            region: c.metadata.region.as_deref(),
            zone: c.metadata.zone.as_deref(),
        },
        None => Caller::local(release),
    };
    let now = group.now_ms(|| sources.now_ms());
    let unix = group.unix_ms(|| sources.unix_ms());
    let count = steps.is_none();
    let pick = Pick {
        group,
        routing: &routing,
        release,
        caller,
        random: sources.random(),
        now_ms: now,
        unix_ms: unix,
        count,
    };
    let node = if pick.constrained() {
        pick.run(steps)
    } else {
        if let Some(s) = steps {
            s.push(SelectStep {
                filter: "release".into(),
                value: "none".into(),
                outcome: "no routing values apply: the group's own selection".into(),
            });
        }
        group.pick(None, sources.random(), now, unix, count)
    };
    drop(routing);
    Selection {
        group: Some(gi),
        node: node.map(|n| n as u32),
        choice,
        inbound_trusted: trusted,
        snapshot: snap,
    }
}

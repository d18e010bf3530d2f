//! The immutable compiled configuration and its accessors. Nothing here compiles (that is
//! [`crate::compile`]'s job) and nothing evaluates a request ([`crate::eval`]): a snapshot is
//! plain data, `Send + Sync`, swapped whole by the [`crate::Engine`].
//!
//! * `rule` — rules, conditions and request keys;
//! * `group` — groups, nodes, rollouts and counters;
//! * `release` — the compiled `release` section and what it resolves per request.

pub(crate) mod counter;
pub(crate) mod group;
pub(crate) mod key;
pub(crate) mod mirror;
pub(crate) mod release;
pub(crate) mod rule;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::client_ip::ClientIpResolver;
use crate::error::{unknown_group, Error, ErrorKind, Result};
use crate::ip::IpTable;
use crate::lint::Lint;
use crate::request::field_index::FieldNames;
use crate::spec::{InboundPolicy, Spec};
use group::Group;
use release::Release;
use rule::Rule;

/// An immutable, compiled routing configuration.
///
/// Obtain one from [`crate::Engine::snapshot`]; it stays valid (and unchanged) for as long as
/// you hold it, whatever reloads happen meanwhile.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) generation: u64,
    /// Some rule or group mirrors (worked out once at compile time).
    pub(crate) mirrors: bool,
    pub(crate) spec: Arc<Spec>,
    pub(crate) ip_table: Arc<IpTable>,
    pub(crate) set_labels: Arc<Vec<String>>,
    pub(crate) resolver: ClientIpResolver,
    pub(crate) rules: Box<[Rule]>,
    pub(crate) groups: Box<[Group]>,
    pub(crate) group_index: HashMap<Box<str>, u32>,
    pub(crate) default_group: u32,
    pub(crate) builtin_headers: Box<[(Box<str>, Box<str>)]>,
    pub(crate) routing_prefixes: Box<[Box<str>]>,
    pub(crate) inbound: InboundPolicy,
    pub(crate) trusted_peers: Box<[ipnet::IpNet]>,
    pub(crate) release: Option<Release>,
    /// The cookie, header and query names the conditions read, by slot.
    pub(crate) fields: FieldNames,
    pub(crate) compile_time: Duration,
    /// Warnings about the spec (see [`crate::lint`]), located in its text when it had one.
    pub(crate) lints: Box<[Lint]>,
}

impl Snapshot {
    /// The generation number (1 for the first snapshot of an engine, +1 per change).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The spec this snapshot was compiled from.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// How long compilation took.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// The warnings about this snapshot's spec, in spec order (see [`crate::lint`]).
    pub fn lints(&self) -> &[Lint] {
        &self.lints
    }

    /// Number of prefixes in the merged IP table.
    pub fn ip_prefix_count(&self) -> usize {
        self.ip_table.prefix_count()
    }

    /// Group names in order.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(|g| &*g.name)
    }

    /// Rule ids in order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &*r.id)
    }

    /// The merged IP table.
    pub(crate) fn ip_table(&self) -> &IpTable {
        &self.ip_table
    }

    /// True if `name` starts with one of the routing-header prefixes (`n-d-` by default).
    ///
    /// Case is ignored and `_` counts as `-`: CGI and WSGI servers read `n_d_env` as
    /// `HTTP_N_D_ENV`, the same variable as `n-d-env`, so an underscore spelling must be
    /// stripped from untrusted peers like the dashed one.
    ///
    /// ```
    /// use gray_core::{Engine, Format};
    /// let engine = Engine::from_str("version: 1\ndefault: g\ngroups: { g: {} }\n", Format::Yaml)?;
    /// let snap = engine.snapshot();
    /// assert!(snap.is_routing_header("N-D-Version"));
    /// assert!(snap.is_routing_header("n_d_env"));
    /// assert!(!snap.is_routing_header("x-gray"));
    /// # Ok::<(), gray_core::Error>(())
    /// ```
    pub fn is_routing_header(&self, name: &str) -> bool {
        self.routing_prefixes.iter().any(|p| {
            name.len() >= p.len() && routing_name_eq(&name.as_bytes()[..p.len()], p.as_bytes())
        })
    }

    /// Whether a trusted inbound routing header `name` passes on beside the routing headers a
    /// decision or selection sets itself (`own`): with `inbound: keep` always, with
    /// `override` unless `own` sets the same name.
    pub(crate) fn inbound_passes<'a>(
        &self,
        name: &str,
        mut own: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> bool {
        match self.inbound {
            InboundPolicy::Keep => true,
            InboundPolicy::Override => {
                !own.any(|(k, _)| routing_name_eq(k.as_bytes(), name.as_bytes()))
            }
        }
    }

    /// Whether inbound routing headers are overridden (the default) or kept.
    pub fn inbound_policy(&self) -> InboundPolicy {
        self.inbound
    }

    /// True if inbound routing headers from this peer are believed: the peer is in
    /// `headers.trusted_peers`, or that list is empty and `headers.inbound` is `keep`.
    pub fn trusts_inbound(&self, peer: Option<IpAddr>) -> bool {
        if self.trusted_peers.is_empty() {
            return self.inbound == InboundPolicy::Keep;
        }
        peer.is_some_and(|p| {
            let p = p.to_canonical();
            self.trusted_peers.iter().any(|n| n.contains(&p))
        })
    }

    /// True if the spec has a `release` section.
    pub fn has_release(&self) -> bool {
        self.release.is_some()
    }

    /// A built-in header (lowest-priority expression variable), by case-insensitive name.
    pub(crate) fn builtin_header(&self, name: &str) -> Option<&str> {
        self.builtin_headers
            .iter()
            .find(|(k, _)| {
                crate::request::scan::eq_ignore_ascii_case(k.as_bytes(), name.as_bytes())
            })
            .map(|(_, v)| &**v)
    }

    pub(crate) fn group_by_name(&self, name: &str) -> Option<u32> {
        self.group_index.get(name).copied()
    }

    /// The index of group `name`, or an `UnknownGroup` error at path `group`.
    pub(crate) fn group_named(&self, name: &str) -> Result<u32> {
        self.group_by_name(name).ok_or_else(|| {
            unknown_group(ErrorKind::UnknownGroup, "group", name, self.group_names())
        })
    }

    /// The group index and node index of node `address` of group `group`; errors
    /// `UnknownGroup` (path `group`) and `UnknownNode` (path `address`).
    pub(crate) fn node_named(&self, group: &str, address: &str) -> Result<(u32, usize)> {
        let gi = self.group_named(group)?;
        let i = self.groups[gi as usize]
            .nodes
            .iter()
            .position(|n| &*n.address == address)
            .ok_or_else(|| {
                Error::at(
                    ErrorKind::UnknownNode,
                    "address",
                    format!("group {group:?} has no node {address:?}"),
                )
            })?;
        Ok((gi, i))
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Snapshot>();
}

/// Header-name equality for routing headers: ASCII case-insensitive, `_` equal to `-` (see
/// [`Snapshot::is_routing_header`]).
pub(crate) fn routing_name_eq(a: &[u8], b: &[u8]) -> bool {
    let norm = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| norm(x) == norm(y))
}

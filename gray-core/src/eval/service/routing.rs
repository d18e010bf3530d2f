//! The routing values that apply to one call of one service, the calling service's identity,
//! and the record of each selection step.

use std::borrow::Cow;

use serde::Serialize;

use crate::request::RequestView;
use crate::route_value::inbound_for_service;
use crate::snapshot::release::{Choice, Field, Release, FIELDS};
use crate::spec::InboundPolicy;

/// The routing values that apply to one call of one service.
pub(crate) struct Routing<'a> {
    pub(crate) values: [Option<Cow<'a, str>>; FIELDS],
    /// Where each value came from: `true` = inbound header.
    pub(crate) inbound: [bool; FIELDS],
}

impl<'a> Routing<'a> {
    /// Combines the release's own values with trusted inbound headers, per the inbound policy
    /// (`override`: own values win; `keep`: inbound values win).
    pub(crate) fn build<R: RequestView + ?Sized>(
        release: Option<&'a Release>,
        choice: &Choice,
        req: &'a R,
        trusted: bool,
        policy: InboundPolicy,
        service: &str,
    ) -> Routing<'a> {
        let mut r = Routing {
            values: Default::default(),
            inbound: [false; FIELDS],
        };
        for f in Field::ALL {
            let own = release
                .and_then(|rel| rel.own(choice, f))
                .and_then(|v| v.for_service(service))
                .map(Cow::Borrowed);
            let inbound = || -> Option<Cow<'a, str>> {
                if !trusted {
                    return None;
                }
                inbound_for_service(req.header(f.header())?, service)
            };
            let i = f as usize;
            r.values[i] = match policy {
                InboundPolicy::Override => match own {
                    Some(v) => Some(v),
                    None => {
                        let v = inbound();
                        r.inbound[i] = v.is_some();
                        v
                    }
                },
                InboundPolicy::Keep => match inbound() {
                    Some(v) => {
                        r.inbound[i] = true;
                        Some(v)
                    }
                    None => own,
                },
            };
        }
        r
    }

    pub(crate) fn get(&self, f: Field) -> Option<&str> {
        self.values[f as usize].as_deref()
    }
}

/// Who is calling: the consumer in discovery filters and zone affinity.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Caller<'a> {
    pub(crate) service: Option<&'a str>,
    pub(crate) version: Option<&'a str>,
    pub(crate) region: Option<&'a str>,
    pub(crate) zone: Option<&'a str>,
}

impl<'a> Caller<'a> {
    /// The spec's `release.local` identity.
    pub(crate) fn local(release: Option<&'a Release>) -> Caller<'a> {
        let local = release.map(|r| &r.local);
        Caller {
            service: local.and_then(|l| l.service.as_deref()),
            version: local.and_then(|l| l.version.as_deref()),
            region: local.and_then(|l| l.region.as_deref()),
            zone: local.and_then(|l| l.zone.as_deref()),
        }
    }
}

/// One filter step of an instance selection.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SelectStep {
    /// The filter, e.g. `n-d-version`.
    pub filter: String,
    /// The value applied (shortened), with `(inbound)` when it came from a request header.
    pub value: String,
    /// What happened, e.g. `kept 1 of 2`, `no match; failover "1.1" kept 1`.
    pub outcome: String,
}

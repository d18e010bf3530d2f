//! Which parts of a request a spec reads: the only parts a live sample keeps.

use std::collections::BTreeSet;

use crate::expr::variable_names;
use crate::spec::release::HEADERS;
use crate::spec::{ConditionSpec, KeySpec, Spec};

/// The request fields a spec can read. Header names are lowercase.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Needs {
    pub(crate) headers: BTreeSet<String>,
    pub(crate) cookies: BTreeSet<String>,
    pub(crate) query: BTreeSet<String>,
    /// The client address matters (IP conditions, client-IP keys, trusted peers): keep the
    /// peer and the forwarded-address header.
    pub(crate) client_ip: bool,
}

impl Needs {
    pub(crate) fn of(spec: &Spec) -> Needs {
        let mut n = Needs::default();
        for r in &spec.rules {
            if let Some(c) = &r.when {
                n.condition(c);
            }
        }
        for g in spec.groups.values() {
            if let Some(k) = &g.hash_key {
                n.key(k);
            }
        }
        if let Some(release) = &spec.release {
            let whens = release
                .blue_green
                .iter()
                .filter_map(|e| e.when.as_deref())
                .chain(release.gray.iter().filter_map(|e| e.when.as_deref()));
            for w in whens {
                n.expression(w);
            }
            // A release follows the routes that callers upstream propagate.
            n.headers.extend(HEADERS.iter().map(|h| h.to_string()));
        }
        if !spec.headers.trusted_peers.is_empty() {
            n.client_ip = true;
        }
        if n.client_ip && !spec.client_ip.trusted_proxies.is_empty() {
            n.headers.insert(spec.client_ip.header.to_ascii_lowercase());
        }
        n
    }

    fn condition(&mut self, c: &ConditionSpec) {
        use ConditionSpec as C;
        match c {
            C::Ip(_) => self.client_ip = true,
            C::Cookie(v) => self.cookies.extend(v.name.clone()),
            C::Header(v) => self
                .headers
                .extend(v.name.as_deref().map(str::to_ascii_lowercase)),
            C::Query(v) => self.query.extend(v.name.clone()),
            C::Percent(p) => self.key(&p.key),
            C::Expr(src) => self.expression(src),
            C::All(v) | C::Any(v) => v.iter().for_each(|c| self.condition(c)),
            C::Not(c) => self.condition(c),
            C::Path(_) | C::Host(_) | C::Method(_) => {}
        }
    }

    fn key(&mut self, k: &KeySpec) {
        match k {
            KeySpec::Cookie(n) => {
                self.cookies.insert(n.clone());
            }
            KeySpec::Header(n) => {
                self.headers.insert(n.to_ascii_lowercase());
            }
            KeySpec::Query(n) => {
                self.query.insert(n.clone());
            }
            KeySpec::ClientIp => self.client_ip = true,
        }
    }

    /// An expression's `#H['name']` is looked up as query parameter, cookie and header.
    fn expression(&mut self, src: &str) {
        for v in variable_names(src) {
            self.query.insert(v.to_string());
            self.cookies.insert(v.to_string());
            self.headers.insert(v.to_ascii_lowercase());
        }
    }
}

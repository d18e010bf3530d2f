//! What both importers produce before it becomes a [`ReleaseSpec`]: the rule's pieces with
//! their source locations, so that a missing route id or a bad weight points at the element.

use std::collections::BTreeMap;

use super::Warning;
use crate::error::{Error, ErrorKind, Location, Result};
use crate::expr::Expr;
use crate::route_value::{parse_weights, Value};
use crate::spec::release::{BlueGreenSpec, GraySpec, ReleaseRouteSpec, ReleaseSpec, RouteKind};

/// A rule being imported.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub(crate) release: ReleaseSpec,
    pub(crate) routes: Vec<(String, RouteKind, String, Location)>,
    pub(crate) blue_green: Vec<(BlueGreenSpec, Location)>,
    pub(crate) gray: Vec<(GraySpec, Location)>,
    /// Nepxion sorts conditions by `#H[` count only when they precede the routes.
    pub(crate) sort_conditions: bool,
    pub(crate) builtin: BTreeMap<String, String>,
    pub(crate) warnings: Vec<Warning>,
}

pub(crate) fn err(kind: ErrorKind, at: &Location, msg: impl Into<String>) -> Error {
    Error::new(kind, at.clone(), msg)
}

/// Checks a route value (JSON map or plain); weights also checks each weight list.
pub(crate) fn value(raw: &str, weights: bool, at: &Location) -> Result<String> {
    Value::parse(raw, &at.path, weights).map_err(|e| err(e.kind(), at, e.message()))?;
    Ok(raw.trim().to_string())
}

/// Checks a condition expression where it was written.
pub(crate) fn expression(src: &str, at: &Location) -> Result<String> {
    Expr::parse(src).map_err(|e| err(ErrorKind::InvalidExpression, at, e.to_string()))?;
    Ok(src.to_string())
}

/// Checks a weight list of route ids (`route-1=10;route-2=90`).
pub(crate) fn weights(raw: &str, at: &Location) -> Result<String> {
    parse_weights(raw).map_err(|m| err(ErrorKind::InvalidValue, at, m))?;
    Ok(raw.trim().to_string())
}

/// Parses a route type written the XML way (`version-weight`) or the JSON way
/// (`VERSION_WEIGHT`).
pub(crate) fn route_kind(t: &str) -> Option<RouteKind> {
    match t.trim().to_ascii_lowercase().replace('_', "-").as_str() {
        "version" => Some(RouteKind::Version),
        "region" => Some(RouteKind::Region),
        "address" => Some(RouteKind::Address),
        "version-weight" => Some(RouteKind::VersionWeight),
        "region-weight" => Some(RouteKind::RegionWeight),
        _ => None,
    }
}

fn refs(when: &Option<String>) -> i64 {
    when.as_deref()
        .map_or(-1, |e| e.matches("#H['").count() as i64)
}

impl Draft {
    pub(crate) fn warn(&mut self, at: &Location, msg: impl Into<String>) {
        self.warnings.push(Warning {
            location: at.clone(),
            message: msg.into(),
        });
    }

    /// Validates references and assembles the release.
    pub(crate) fn finish(mut self) -> Result<super::Import> {
        let mut kinds: BTreeMap<String, (RouteKind, Location)> = BTreeMap::new();
        for (id, kind, value, at) in std::mem::take(&mut self.routes) {
            if let Some((_, first)) = kinds.get(&id) {
                return Err(err(
                    ErrorKind::Duplicate,
                    &at,
                    format!("route id {id:?} is already defined at {first}"),
                ));
            }
            kinds.insert(id.clone(), (kind, at));
            self.release
                .routes
                .insert(id, ReleaseRouteSpec { kind, value });
        }
        let check = |id: &str, kind: RouteKind, at: &Location| -> Result<()> {
            match kinds.get(id) {
                None => Err(err(
                    ErrorKind::UnknownReference,
                    at,
                    format!(
                        "no <route> with id {id:?} (a condition's {}-id must name a route)",
                        kind.header().trim_start_matches("n-d-")
                    ),
                )),
                Some((k, rat)) if *k != kind => Err(err(
                    ErrorKind::InvalidValue,
                    at,
                    format!(
                        "route {id:?} (at {rat}) has type {}, but it is used as a {} route",
                        k.header().trim_start_matches("n-d-"),
                        kind.header().trim_start_matches("n-d-")
                    ),
                )),
                Some(_) => Ok(()),
            }
        };
        for (bg, at) in &self.blue_green {
            for kind in RouteKind::ALL {
                if let Some(id) = bg.route(kind) {
                    check(id, kind, at)?;
                }
            }
        }
        for (g, at) in &self.gray {
            for kind in [RouteKind::Version, RouteKind::Region, RouteKind::Address] {
                if let Some(list) = g.routes(kind) {
                    let pairs =
                        parse_weights(list).map_err(|m| err(ErrorKind::InvalidValue, at, m))?;
                    for (id, _) in &pairs {
                        check(id, kind, at)?;
                    }
                    if pairs.iter().all(|(_, w)| *w == 0) {
                        return Err(err(
                            ErrorKind::InvalidValue,
                            at,
                            format!("every weight in {list:?} is 0; Nepxion fails such requests"),
                        ));
                    }
                }
            }
        }
        let mut bg: Vec<BlueGreenSpec> = self.blue_green.into_iter().map(|(b, _)| b).collect();
        let mut gray: Vec<GraySpec> = self.gray.into_iter().map(|(g, _)| g).collect();
        if self.sort_conditions {
            bg.sort_by_key(|b| std::cmp::Reverse(refs(&b.when)));
            gray.sort_by_key(|g| std::cmp::Reverse(refs(&g.when)));
        }
        self.release.blue_green = bg;
        self.release.gray = gray;
        Ok(super::Import {
            release: self.release,
            builtin_headers: self.builtin,
            warnings: self.warnings,
        })
    }
}

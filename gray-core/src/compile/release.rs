//! Validating and compiling a [`ReleaseSpec`].

use std::collections::HashMap;

use super::condition::compile_condition;
use super::scope::CompileScope;
use crate::error::{Error, ErrorKind, Result};
use crate::route_value::{parse_weights, Value};
use crate::snapshot::release::{
    BlueGreen, Field, Gray, ProviderFilter, Release, Route, WeightRule, FIELDS,
};
use crate::snapshot::rule::Cond;
use crate::spec::release::{ReleaseSpec, RouteKind};
use crate::spec::ConditionSpec;

fn condition(
    when: &Option<String>,
    path: &str,
    id: &str,
    sets: &mut CompileScope,
) -> Result<Option<Cond>> {
    match when {
        None => Ok(None),
        Some(src) => compile_condition(&ConditionSpec::Expr(src.clone()), path, id, sets, 0)
            .map(Some)
            .map_err(|e| {
                // compile_condition appends ".expr"; the native field is `when`.
                let mut e = e;
                let loc = e.location_mut();
                if let Some(p) = loc.path.strip_suffix(".expr") {
                    loc.path = format!("{p}.when");
                }
                e
            }),
    }
}

fn opt_value(v: &Option<String>, path: &str, weights: bool) -> Result<Option<Value>> {
    v.as_deref()
        .map(|v| Value::parse(v, path, weights))
        .transpose()
}

/// Compiles the `release` section; `sets` receives nothing (expressions only) but is shared
/// with rule compilation.
pub(crate) fn compile_release(spec: &ReleaseSpec, sets: &mut CompileScope) -> Result<Release> {
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut routes = Vec::with_capacity(spec.routes.len());
    for (id, r) in &spec.routes {
        let path = format!("release.routes.{id}");
        if id.trim().is_empty() {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                path,
                "a route id must not be empty",
            ));
        }
        let value = Value::parse(&r.value, &format!("{path}.value"), r.kind.is_weight())?;
        index.insert(id, routes.len() as u32);
        routes.push(Route {
            id: id.as_str().into(),
            kind: r.kind,
            value,
        });
    }
    let lookup = |id: &str, kind: RouteKind, path: &str| -> Result<u32> {
        let i = *index.get(id).ok_or_else(|| {
            let mut known: Vec<&str> = spec
                .routes
                .iter()
                .filter(|(_, r)| r.kind == kind)
                .map(|(k, _)| k.as_str())
                .collect();
            known.sort_unstable();
            Error::at(
                ErrorKind::UnknownReference,
                path,
                format!(
                    "no route with id {id:?} (routes of type {}: {})",
                    kind.name(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })?;
        let actual = routes[i as usize].kind;
        if actual != kind {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                path,
                format!(
                    "route {id:?} has type {}, but this field needs a {} route",
                    actual.name(),
                    kind.name()
                ),
            ));
        }
        Ok(i)
    };

    let mut blue_green = Vec::with_capacity(spec.blue_green.len());
    for (i, bg) in spec.blue_green.iter().enumerate() {
        let path = format!("release.blue_green[{i}] (id {:?})", bg.id);
        let cond = condition(&bg.when, &path, &bg.id, sets)?;
        let mut ids = [None; 5];
        let mut any = false;
        for kind in RouteKind::ALL {
            if let Some(id) = bg.route(kind) {
                ids[kind as usize] = Some(lookup(id, kind, &format!("{path}.{}", kind.name()))?);
                any = true;
            }
        }
        if !any {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                path,
                "a blue-green entry needs at least one route id (version, region, address, \
                 version_weight or region_weight)",
            ));
        }
        blue_green.push(BlueGreen {
            id: bg.id.as_str().into(),
            cond,
            routes: ids,
        });
    }

    let mut gray = Vec::with_capacity(spec.gray.len());
    for (i, g) in spec.gray.iter().enumerate() {
        let path = format!("release.gray[{i}] (id {:?})", g.id);
        let cond = condition(&g.when, &path, &g.id, sets)?;
        let mut dims: [Option<crate::snapshot::release::Weighted>; 3] = [None, None, None];
        for kind in [RouteKind::Version, RouteKind::Region, RouteKind::Address] {
            let Some(list) = g.routes(kind) else { continue };
            let p = format!("{path}.{}", kind.name());
            let pairs =
                parse_weights(list).map_err(|m| Error::at(ErrorKind::InvalidValue, &p, m))?;
            let mut out = Vec::with_capacity(pairs.len());
            for (id, w) in pairs {
                out.push((lookup(&id, kind, &p)?, w));
            }
            if out.iter().all(|(_, w)| *w == 0) {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    p,
                    format!("every weight in {list:?} is 0, so no route could be chosen"),
                ));
            }
            dims[kind as usize] = Some(out.into());
        }
        if dims.iter().all(Option::is_none) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                path,
                "a gray entry needs at least one of version, region, address",
            ));
        }
        gray.push(Gray {
            id: g.id.as_str().into(),
            cond,
            routes: dims,
        });
    }

    let mut fixed: [Option<Value>; FIELDS] = Default::default();
    if spec.isolation && spec.local.group.is_none() {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            "release.isolation",
            "consumer isolation needs this process's group in `release.local.group`",
        ));
    }
    let isolation_group = spec.local.group.clone().filter(|_| spec.isolation);
    let d = &spec.defaults;
    let f = &spec.failover;
    let b = &spec.blacklist;
    let sources: [(Field, &Option<String>, &str); FIELDS] = [
        (Field::Version, &d.version, "defaults.version"),
        (Field::Region, &d.region, "defaults.region"),
        (Field::Address, &d.address, "defaults.address"),
        (
            Field::VersionWeight,
            &d.version_weight,
            "defaults.version_weight",
        ),
        (
            Field::RegionWeight,
            &d.region_weight,
            "defaults.region_weight",
        ),
        (Field::Env, &d.env, "defaults.env"),
        (Field::IdBlacklist, &b.id, "blacklist.id"),
        (Field::AddressBlacklist, &b.address, "blacklist.address"),
        (
            Field::VersionPrefer,
            &f.version_prefer,
            "failover.version_prefer",
        ),
        (
            Field::VersionFailover,
            &f.version_failover,
            "failover.version_failover",
        ),
        (
            Field::RegionTransfer,
            &f.region_transfer,
            "failover.region_transfer",
        ),
        (
            Field::RegionFailover,
            &f.region_failover,
            "failover.region_failover",
        ),
        (Field::EnvFailover, &f.env_failover, "failover.env_failover"),
        (
            Field::ZoneFailover,
            &f.zone_failover,
            "failover.zone_failover",
        ),
        (
            Field::AddressFailover,
            &f.address_failover,
            "failover.address_failover",
        ),
        (Field::Group, &isolation_group, "local.group"),
    ];
    for (field, v, p) in sources {
        let weights = matches!(field, Field::VersionWeight | Field::RegionWeight);
        fixed[field as usize] = opt_value(v, &format!("release.{p}"), weights)?;
    }

    let filters = |list: &[crate::spec::release::ProviderFilterSpec],
                   what: &str|
     -> Result<Box<[ProviderFilter]>> {
        let mut out = Vec::with_capacity(list.len());
        for (i, e) in list.iter().enumerate() {
            let p = format!("release.discovery.{what}[{i}]");
            for (name, v) in [("consumer", &e.consumer), ("provider", &e.provider)] {
                if v.trim().is_empty() {
                    return Err(Error::at(
                        ErrorKind::InvalidValue,
                        format!("{p}.{name}"),
                        format!("`{name}` must name a service"),
                    ));
                }
            }
            let boxed = |v: &[String]| -> Box<[Box<str>]> {
                v.iter()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .map(Into::into)
                    .collect()
            };
            out.push(ProviderFilter {
                consumer: e.consumer.as_str().into(),
                provider: e.provider.as_str().into(),
                consumer_values: boxed(&e.consumer_values),
                provider_values: boxed(&e.provider_values),
            });
        }
        Ok(out.into())
    };
    let version_filters = filters(&spec.discovery.version, "version")?;
    let region_filters = filters(&spec.discovery.region, "region")?;
    let mut weight_rules = Vec::with_capacity(spec.discovery.weight.len());
    for (i, w) in spec.discovery.weight.iter().enumerate() {
        let p = format!("release.discovery.weight[{i}].weights");
        parse_weights(&w.weights).map_err(|m| Error::at(ErrorKind::InvalidValue, p, m))?;
        weight_rules.push(WeightRule {
            consumer: w.consumer.as_deref().map(Into::into),
            provider: w.provider.as_deref().map(Into::into),
            kind: w.kind,
            weights: w.weights.as_str().into(),
        });
    }
    if spec.zone_affinity && spec.local.zone.is_none() {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            "release.zone_affinity",
            "zone affinity needs this process's zone in `release.local.zone`",
        ));
    }
    let hosts = match &spec.discovery.hosts {
        None => None,
        Some(h) => Some(host_filter(h)?),
    };
    Ok(Release {
        hosts,
        routes: routes.into(),
        blue_green: blue_green.into(),
        gray: gray.into(),
        fixed,
        version_filters,
        region_filters,
        weight_rules: weight_rules.into(),
        zone_affinity: spec.zone_affinity,
        local: spec.local.clone(),
    })
}

/// Compiles the discovery host filter: prefixes trimmed, none empty.
fn host_filter(
    h: &crate::spec::release::HostFilterSpec,
) -> Result<crate::snapshot::release::HostFilter> {
    let list = |v: &[String], path: &str| -> Result<Box<[Box<str>]>> {
        v.iter()
            .enumerate()
            .map(|(i, p)| {
                let p = p.trim();
                if p.is_empty() {
                    Err(Error::at(
                        ErrorKind::InvalidValue,
                        format!("{path}[{i}]"),
                        "an empty prefix would match every host",
                    ))
                } else {
                    Ok(p.into())
                }
            })
            .collect()
    };
    let mut services = std::collections::BTreeMap::new();
    for (name, v) in &h.services {
        services.insert(
            name.as_str().into(),
            list(v, &format!("release.discovery.hosts.services.{name}"))?,
        );
    }
    Ok(crate::snapshot::release::HostFilter {
        exclude: h.kind == crate::spec::release::HostFilterKind::Blacklist,
        prefixes: list(&h.prefixes, "release.discovery.hosts.prefixes")?,
        services,
    })
}

//! The JSON form: a serialised Nepxion `RuleEntity` (Jackson field names, enum constant names).
//!
//! Unknown keys are reported as warnings (Jackson would reject them; Nepxion users mostly
//! meet them as typos). Jackson writes the condition lists before the route list, so
//! conditions are reordered by number of `#H['` references as Nepxion does.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value as Json;

use super::model::{self, err, Draft};
use crate::error::{Error, ErrorKind, Location, Result};
use crate::spec::release::{
    BlueGreenSpec, GraySpec, HostFilterKind, HostFilterSpec, ProviderFilterSpec, WeightKind,
    WeightRuleSpec,
};
use crate::spec::Dimensions;

type Other = BTreeMap<String, Json>;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    register_entity: Option<Json>,
    discovery_entity: Option<Discovery>,
    strategy_entity: Option<Strategy>,
    strategy_release_entity: Option<Release>,
    strategy_failover_entity: Option<Failover>,
    strategy_blacklist_entity: Option<Blacklist>,
    parameter_entity: Option<Json>,
    #[serde(flatten)]
    other: Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Discovery {
    host_filter_entity: Option<HostFilter>,
    version_filter_entity: Option<VersionFilter>,
    region_filter_entity: Option<RegionFilter>,
    weight_filter_entity: Option<WeightFilter>,
    #[serde(flatten)]
    other: Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HostFilter {
    filter_type: Option<String>,
    filter_value_list: Option<Vec<String>>,
    filter_map: Option<BTreeMap<String, Vec<String>>>,
    #[serde(flatten)]
    other: Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionFilter {
    #[serde(default)]
    version_entity_map: BTreeMap<String, Vec<VersionEntity>>,
    #[serde(flatten)]
    other: Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionEntity {
    consumer_service_name: String,
    provider_service_name: String,
    consumer_version_value_list: Option<Vec<String>>,
    provider_version_value_list: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegionFilter {
    #[serde(default)]
    region_entity_map: BTreeMap<String, Vec<RegionEntity>>,
    #[serde(flatten)]
    other: Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegionEntity {
    consumer_service_name: String,
    provider_service_name: String,
    consumer_region_value_list: Option<Vec<String>>,
    provider_region_value_list: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WeightFilter {
    version_weight_entity_map: Option<BTreeMap<String, Vec<WeightEntity>>>,
    version_weight_entity_list: Option<Vec<WeightEntity>>,
    version_weight_entity: Option<WeightMap>,
    region_weight_entity_map: Option<BTreeMap<String, Vec<WeightEntity>>>,
    region_weight_entity_list: Option<Vec<WeightEntity>>,
    region_weight_entity: Option<WeightMap>,
    #[serde(flatten)]
    other: Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WeightEntity {
    weight_map: BTreeMap<String, i64>,
    consumer_service_name: Option<String>,
    provider_service_name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WeightMap {
    weight_map: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Strategy {
    version_value: Option<String>,
    region_value: Option<String>,
    address_value: Option<String>,
    version_weight_value: Option<String>,
    region_weight_value: Option<String>,
    #[serde(flatten)]
    other: Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Release {
    strategy_condition_blue_green_entity_list: Option<Vec<BlueGreen>>,
    strategy_condition_gray_entity_list: Option<Vec<Gray>>,
    strategy_route_entity_list: Option<Vec<Route>>,
    strategy_header_entity: Option<Header>,
    #[serde(flatten)]
    other: Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlueGreen {
    id: Option<String>,
    expression: Option<String>,
    version_id: Option<String>,
    region_id: Option<String>,
    address_id: Option<String>,
    version_weight_id: Option<String>,
    region_weight_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Gray {
    id: Option<String>,
    expression: Option<String>,
    version_weight_entity: Option<WeightMap>,
    region_weight_entity: Option<WeightMap>,
    address_weight_entity: Option<WeightMap>,
}

#[derive(Deserialize)]
struct Route {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    #[serde(default)]
    header_map: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Failover {
    version_prefer_value: Option<String>,
    version_failover_value: Option<String>,
    region_transfer_value: Option<String>,
    region_failover_value: Option<String>,
    environment_failover_value: Option<String>,
    zone_failover_value: Option<String>,
    address_failover_value: Option<String>,
    #[serde(flatten)]
    other: Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Blacklist {
    id_value: Option<String>,
    address_value: Option<String>,
    #[serde(flatten)]
    other: Other,
}

fn at(path: &str) -> Location {
    Location::path(path)
}

fn unknown(d: &mut Draft, path: &str, other: &Other) {
    for k in other.keys() {
        d.warn(
            &at(&format!("{path}.{k}")),
            format!("unknown key {k:?} ignored"),
        );
    }
}

fn value(v: &Option<String>, weights: bool, path: &str) -> Result<Option<String>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => model::value(s, weights, &at(path)).map(Some),
        None => Ok(None),
    }
}

/// A condition's expression, checked; blank counts as none.
fn expression(e: &Option<String>, at: &Location) -> Result<Option<String>> {
    e.as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(|e| model::expression(e, at))
        .transpose()
}

/// `{"a-1":10,"a-2":90}` → `a-1=10;a-2=90`.
fn weight_text(m: &BTreeMap<String, i64>, path: &str) -> Result<String> {
    let mut parts = Vec::with_capacity(m.len());
    for (k, w) in m {
        if *w < 0 || *w > 1_000_000 {
            return Err(err(
                ErrorKind::InvalidValue,
                &at(path),
                format!("weight {w} for {k:?} must be between 0 and 1000000"),
            ));
        }
        parts.push(format!("{k}={w}"));
    }
    model::weights(&parts.join(";"), &at(path))
}

pub(crate) fn parse(text: &str) -> Result<Draft> {
    let mut de = serde_json::Deserializer::from_str(text);
    let rule: Rule = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        Error::new(
            ErrorKind::Syntax,
            Location::new(
                if path == "." { String::new() } else { path },
                Some(inner.line()),
                Some(inner.column()),
            ),
            format!("malformed Nepxion JSON rule: {inner}"),
        )
    })?;
    let mut d = Draft {
        sort_conditions: true,
        ..Draft::default()
    };
    unknown(&mut d, "", &rule.other);
    if rule.register_entity.is_some() {
        d.warn(
            &at("registerEntity"),
            "registration filters are not applied by gray",
        );
    }
    if rule.parameter_entity.is_some() {
        d.warn(
            &at("parameterEntity"),
            "parameters only raise events for application code; not applied",
        );
    }
    if let Some(dis) = &rule.discovery_entity {
        discovery(dis, &mut d)?;
    }
    if let Some(s) = &rule.strategy_entity {
        let p = "strategyEntity";
        unknown(&mut d, p, &s.other);
        let v = &mut d.release.defaults;
        v.version = value(&s.version_value, false, &format!("{p}.versionValue"))?;
        v.region = value(&s.region_value, false, &format!("{p}.regionValue"))?;
        v.address = value(&s.address_value, false, &format!("{p}.addressValue"))?;
        v.version_weight = value(
            &s.version_weight_value,
            true,
            &format!("{p}.versionWeightValue"),
        )?;
        v.region_weight = value(
            &s.region_weight_value,
            true,
            &format!("{p}.regionWeightValue"),
        )?;
    }
    if let Some(r) = &rule.strategy_release_entity {
        release(r, &mut d)?;
    }
    if let Some(f) = &rule.strategy_failover_entity {
        let p = "strategyFailoverEntity";
        unknown(&mut d, p, &f.other);
        let o = &mut d.release.failover;
        for (slot, v, key) in [
            (
                &mut o.version_prefer,
                &f.version_prefer_value,
                "versionPreferValue",
            ),
            (
                &mut o.version_failover,
                &f.version_failover_value,
                "versionFailoverValue",
            ),
            (
                &mut o.region_transfer,
                &f.region_transfer_value,
                "regionTransferValue",
            ),
            (
                &mut o.region_failover,
                &f.region_failover_value,
                "regionFailoverValue",
            ),
            (
                &mut o.env_failover,
                &f.environment_failover_value,
                "environmentFailoverValue",
            ),
            (
                &mut o.zone_failover,
                &f.zone_failover_value,
                "zoneFailoverValue",
            ),
            (
                &mut o.address_failover,
                &f.address_failover_value,
                "addressFailoverValue",
            ),
        ] {
            *slot = value(v, false, &format!("{p}.{key}"))?;
        }
        if !d.release.failover.is_empty() {
            d.warn(
                &at(p),
                "failover values take effect as written; in Nepxion each also needs its \
                 spring.application.strategy.*.enabled=true property",
            );
        }
    }
    if let Some(b) = &rule.strategy_blacklist_entity {
        let p = "strategyBlacklistEntity";
        unknown(&mut d, p, &b.other);
        d.release.blacklist.id = value(&b.id_value, false, &format!("{p}.idValue"))?;
        d.release.blacklist.address = value(&b.address_value, false, &format!("{p}.addressValue"))?;
    }
    Ok(d)
}

fn discovery(dis: &Discovery, d: &mut Draft) -> Result<()> {
    let p = "discoveryEntity";
    unknown(d, p, &dis.other);
    if let Some(h) = &dis.host_filter_entity {
        let hp = format!("{p}.hostFilterEntity");
        unknown(d, &hp, &h.other);
        let kind = match h.filter_type.as_deref() {
            Some("BLACKLIST") => HostFilterKind::Blacklist,
            Some("WHITELIST") => HostFilterKind::Whitelist,
            other => {
                return Err(err(
                    ErrorKind::InvalidValue,
                    &at(&format!("{hp}.filterType")),
                    format!("filterType must be \"BLACKLIST\" or \"WHITELIST\", not {other:?}"),
                ))
            }
        };
        d.release.discovery.hosts = Some(HostFilterSpec {
            kind,
            prefixes: h.filter_value_list.clone().unwrap_or_default(),
            services: h.filter_map.clone().unwrap_or_default(),
        });
    }
    if let Some(v) = &dis.version_filter_entity {
        unknown(d, &format!("{p}.versionFilterEntity"), &v.other);
        for e in v.version_entity_map.values().flatten() {
            d.release.discovery.version.push(ProviderFilterSpec {
                consumer: e.consumer_service_name.clone(),
                provider: e.provider_service_name.clone(),
                consumer_values: e.consumer_version_value_list.clone().unwrap_or_default(),
                provider_values: e.provider_version_value_list.clone().unwrap_or_default(),
            });
        }
    }
    if let Some(v) = &dis.region_filter_entity {
        unknown(d, &format!("{p}.regionFilterEntity"), &v.other);
        for e in v.region_entity_map.values().flatten() {
            d.release.discovery.region.push(ProviderFilterSpec {
                consumer: e.consumer_service_name.clone(),
                provider: e.provider_service_name.clone(),
                consumer_values: e.consumer_region_value_list.clone().unwrap_or_default(),
                provider_values: e.provider_region_value_list.clone().unwrap_or_default(),
            });
        }
    }
    if let Some(w) = &dis.weight_filter_entity {
        let wp = format!("{p}.weightFilterEntity");
        unknown(d, &wp, &w.other);
        // Nepxion's order: consumer-specific, provider-wide, global; version before region.
        for (kind, map, list, global, name) in [
            (
                WeightKind::Version,
                &w.version_weight_entity_map,
                &w.version_weight_entity_list,
                &w.version_weight_entity,
                "version",
            ),
            (
                WeightKind::Region,
                &w.region_weight_entity_map,
                &w.region_weight_entity_list,
                &w.region_weight_entity,
                "region",
            ),
        ] {
            let entities = map
                .iter()
                .flat_map(|m| m.values().flatten())
                .chain(list.iter().flatten());
            for e in entities {
                if let Some(t) = &e.kind {
                    if !t.eq_ignore_ascii_case(name) {
                        return Err(err(
                            ErrorKind::InvalidValue,
                            &at(&wp),
                            format!("a {name} weight entity has type {t:?}"),
                        ));
                    }
                }
                d.release.discovery.weight.push(WeightRuleSpec {
                    consumer: e.consumer_service_name.clone(),
                    provider: e.provider_service_name.clone(),
                    kind,
                    weights: weight_text(&e.weight_map, &wp)?,
                });
            }
            if let Some(g) = global {
                d.release.discovery.weight.push(WeightRuleSpec {
                    consumer: None,
                    provider: None,
                    kind,
                    weights: weight_text(&g.weight_map, &wp)?,
                });
            }
        }
    }
    Ok(())
}

fn release(r: &Release, d: &mut Draft) -> Result<()> {
    let p = "strategyReleaseEntity";
    unknown(d, p, &r.other);
    for (i, route) in r.strategy_route_entity_list.iter().flatten().enumerate() {
        let rp = format!("{p}.strategyRouteEntityList[{i}]");
        let Some(kind) = model::route_kind(&route.kind) else {
            return Err(err(
                ErrorKind::InvalidValue,
                &at(&format!("{rp}.type")),
                format!("route type {:?} must be VERSION, REGION, ADDRESS, VERSION_WEIGHT or REGION_WEIGHT", route.kind),
            ));
        };
        let value = model::value(&route.value, kind.is_weight(), &at(&format!("{rp}.value")))?;
        d.routes.push((route.id.clone(), kind, value, at(&rp)));
    }
    for (i, c) in r
        .strategy_condition_blue_green_entity_list
        .iter()
        .flatten()
        .enumerate()
    {
        let cp = at(&format!("{p}.strategyConditionBlueGreenEntityList[{i}]"));
        let when = expression(&c.expression, &cp)?;
        let bg = BlueGreenSpec {
            id: c
                .id
                .clone()
                .unwrap_or_else(|| format!("blue-green-{}", i + 1)),
            when,
            routes: Dimensions {
                version: c.version_id.clone().filter(|s| !s.is_empty()),
                region: c.region_id.clone().filter(|s| !s.is_empty()),
                address: c.address_id.clone().filter(|s| !s.is_empty()),
                version_weight: c.version_weight_id.clone().filter(|s| !s.is_empty()),
                region_weight: c.region_weight_id.clone().filter(|s| !s.is_empty()),
                env: None,
            },
        };
        if bg.routes.is_empty() {
            d.warn(&cp, "blue-green condition without any route id ignored");
            continue;
        }
        d.blue_green.push((bg, cp));
    }
    for (i, c) in r
        .strategy_condition_gray_entity_list
        .iter()
        .flatten()
        .enumerate()
    {
        let cp = at(&format!("{p}.strategyConditionGrayEntityList[{i}]"));
        let when = expression(&c.expression, &cp)?;
        let w = |m: &Option<WeightMap>, name: &str| -> Result<Option<String>> {
            m.as_ref()
                .map(|m| weight_text(&m.weight_map, &format!("{}.{name}", cp.path)))
                .transpose()
        };
        let g = GraySpec {
            id: c.id.clone().unwrap_or_else(|| format!("gray-{}", i + 1)),
            when,
            routes: Dimensions {
                version: w(&c.version_weight_entity, "versionWeightEntity")?,
                region: w(&c.region_weight_entity, "regionWeightEntity")?,
                address: w(&c.address_weight_entity, "addressWeightEntity")?,
                ..Dimensions::default()
            },
        };
        if g.routes.is_empty() {
            d.warn(&cp, "gray condition without weights ignored");
            continue;
        }
        d.gray.push((g, cp));
    }
    if let Some(h) = &r.strategy_header_entity {
        for (k, v) in &h.header_map {
            let hp = format!("{p}.strategyHeaderEntity.headerMap.{k}");
            crate::validate::check_header(k, v, &hp)?;
        }
        d.builtin = h.header_map.clone();
    }
    Ok(())
}

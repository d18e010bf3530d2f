//! The XML form: a walk over the `<rule>` element tree.

use super::dom::{tree, El};
use super::model::{self, err, Draft};
use crate::error::{ErrorKind, Result};
use crate::spec::release::{
    BlueGreenSpec, GraySpec, HostFilterKind, HostFilterSpec, ProviderFilterSpec, WeightKind,
    WeightRuleSpec,
};
use crate::spec::Dimensions;

const SECTIONS: [&str; 7] = [
    "register",
    "discovery",
    "strategy",
    "strategy-release",
    "strategy-failover",
    "strategy-blacklist",
    "parameter",
];

/// Warns about children not in `known`; errors on known ones that repeat.
fn children<'e>(el: &'e El, known: &[&str], d: &mut Draft) -> Result<Vec<&'e El>> {
    let mut out: Vec<&El> = Vec::new();
    for c in &el.children {
        if !known.contains(&c.name.as_str()) {
            let hint = if c.name == "strategy-customization" {
                "; it was renamed <strategy-release> (directly under <rule>), and Nepxion ignores \
                 the old name since 2022"
                    .to_string()
            } else if SECTIONS.contains(&c.name.as_str()) {
                format!("; <{}> belongs directly under <rule>", c.name)
            } else {
                format!(
                    "; <{}> accepts {}",
                    el.name,
                    known
                        .iter()
                        .map(|k| format!("<{k}>"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            d.warn(
                &c.at(),
                format!("unknown element <{}> ignored{hint}", c.name),
            );
            continue;
        }
        if let Some(first) = out.iter().find(|o| o.name == c.name) {
            return Err(err(
                ErrorKind::Duplicate,
                &c.at(),
                format!(
                    "<{}> appears twice in <{}> (first at line {})",
                    c.name, el.name, first.line
                ),
            ));
        }
        out.push(c);
    }
    Ok(out)
}

/// Like [`children`] but repeats are allowed (`<service>`, `<condition>`, `<route>`).
fn repeated<'e>(el: &'e El, known: &[&str], d: &mut Draft) -> Vec<&'e El> {
    let mut out = Vec::new();
    for c in &el.children {
        if known.contains(&c.name.as_str()) {
            out.push(c);
        } else {
            d.warn(
                &c.at(),
                format!("unknown element <{}> in <{}> ignored", c.name, el.name),
            );
        }
    }
    out
}

fn required<'e>(el: &'e El, attr: &str) -> Result<&'e str> {
    el.attr(attr).ok_or_else(|| {
        err(
            ErrorKind::InvalidValue,
            &el.at(),
            format!("<{}> needs a non-empty `{attr}` attribute", el.name),
        )
    })
}

fn warn_attrs(el: &El, known: &[&str], d: &mut Draft) {
    for (k, _) in &el.attrs {
        if !known.contains(&k.as_str()) {
            d.warn(
                &el.at(),
                format!("unknown attribute `{k}` on <{}> ignored", el.name),
            );
        }
    }
}

pub(crate) fn parse(text: &str) -> Result<Draft> {
    let root = tree(text)?;
    let mut d = Draft::default();
    if root.name != "rule" {
        return Err(err(
            ErrorKind::Syntax,
            &root.at(),
            format!("the root element must be <rule>, not <{}>", root.name),
        ));
    }
    for s in children(&root, &SECTIONS, &mut d)? {
        match s.name.as_str() {
            "register" => d.warn(
                &s.at(),
                "<register> filters apply when instances register with Nepxion; gray does not \
                 register instances, so they are not applied",
            ),
            "parameter" => d.warn(
                &s.at(),
                "<parameter> only raises events for application code; not applied",
            ),
            "discovery" => discovery(s, &mut d)?,
            "strategy" => {
                let mut v = std::mem::take(&mut d.release.defaults);
                for c in children(
                    s,
                    &[
                        "version",
                        "region",
                        "address",
                        "version-weight",
                        "region-weight",
                    ],
                    &mut d,
                )? {
                    let Some(t) = c.text() else { continue };
                    let weights = c.name.ends_with("-weight");
                    let val = Some(model::value(t, weights, &c.at())?);
                    match c.name.as_str() {
                        "version" => v.version = val,
                        "region" => v.region = val,
                        "address" => v.address = val,
                        "version-weight" => v.version_weight = val,
                        _ => v.region_weight = val,
                    }
                }
                d.release.defaults = v;
            }
            "strategy-release" => release(s, &mut d)?,
            "strategy-failover" => {
                let names = [
                    "version-prefer",
                    "version-failover",
                    "region-transfer",
                    "region-failover",
                    "env-failover",
                    "zone-failover",
                    "address-failover",
                ];
                let mut f = std::mem::take(&mut d.release.failover);
                for c in children(s, &names, &mut d)? {
                    let Some(t) = c.text() else { continue };
                    let val = Some(model::value(t, false, &c.at())?);
                    match c.name.as_str() {
                        "version-prefer" => f.version_prefer = val,
                        "version-failover" => f.version_failover = val,
                        "region-transfer" => f.region_transfer = val,
                        "region-failover" => f.region_failover = val,
                        "env-failover" => f.env_failover = val,
                        "zone-failover" => f.zone_failover = val,
                        _ => f.address_failover = val,
                    }
                }
                if !f.is_empty() {
                    d.warn(
                        &s.at(),
                        "failover values take effect as written; in Nepxion each also needs its \
                         spring.application.strategy.*.enabled=true property",
                    );
                }
                d.release.failover = f;
            }
            _ => {
                for c in children(s, &["id", "address"], &mut d)? {
                    let Some(t) = c.text() else { continue };
                    let val = Some(model::value(t, false, &c.at())?);
                    if c.name == "id" {
                        d.release.blacklist.id = val;
                    } else {
                        d.release.blacklist.address = val;
                    }
                }
            }
        }
    }
    Ok(d)
}

fn discovery(s: &El, d: &mut Draft) -> Result<()> {
    for c in children(
        s,
        &["blacklist", "whitelist", "version", "region", "weight"],
        d,
    )? {
        match c.name.as_str() {
            "blacklist" | "whitelist" => {
                if d.release.discovery.hosts.is_some() {
                    return Err(err(
                        ErrorKind::InvalidValue,
                        &c.at(),
                        "<discovery> takes one of <blacklist> and <whitelist>, not both",
                    ));
                }
                warn_attrs(c, &["filter-value"], d);
                let split = |v: &str| -> Vec<String> {
                    v.split(';')
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .collect()
                };
                let mut hosts = HostFilterSpec {
                    kind: if c.name == "blacklist" {
                        HostFilterKind::Blacklist
                    } else {
                        HostFilterKind::Whitelist
                    },
                    prefixes: c.attr("filter-value").map(split).unwrap_or_default(),
                    services: Default::default(),
                };
                for e in repeated(c, &["service"], d) {
                    warn_attrs(e, &["service-name", "filter-value"], d);
                    let name = required(e, "service-name")?;
                    hosts
                        .services
                        .entry(name.to_string())
                        .or_default()
                        .extend(e.attr("filter-value").map(split).unwrap_or_default());
                }
                d.release.discovery.hosts = Some(hosts);
            }
            "version" | "region" => {
                let what = c.name.clone();
                for e in repeated(c, &["service"], d) {
                    warn_attrs(
                        e,
                        &[
                            "consumer-service-name",
                            "provider-service-name",
                            &format!("consumer-{what}-value"),
                            &format!("provider-{what}-value"),
                        ],
                        d,
                    );
                    let list = |a: &str| -> Vec<String> {
                        e.attr(a)
                            .map(|v| {
                                v.split(';')
                                    .filter(|x| !x.is_empty())
                                    .map(str::to_string)
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    let f = ProviderFilterSpec {
                        consumer: required(e, "consumer-service-name")?.to_string(),
                        provider: required(e, "provider-service-name")?.to_string(),
                        consumer_values: list(&format!("consumer-{what}-value")),
                        provider_values: list(&format!("provider-{what}-value")),
                    };
                    if what == "version" {
                        d.release.discovery.version.push(f);
                    } else {
                        d.release.discovery.region.push(f);
                    }
                }
            }
            _ => {
                for e in repeated(c, &["service", "version", "region"], d) {
                    let at = e.at();
                    let weights = required(e, "provider-weight-value")?;
                    model::value(weights, true, &at)?;
                    let (kind, consumer, provider) = if e.name == "service" {
                        warn_attrs(
                            e,
                            &[
                                "consumer-service-name",
                                "provider-service-name",
                                "provider-weight-value",
                                "type",
                            ],
                            d,
                        );
                        let kind = match required(e, "type")?.to_ascii_lowercase().as_str() {
                            "version" => WeightKind::Version,
                            "region" => WeightKind::Region,
                            other => {
                                return Err(err(
                                    ErrorKind::InvalidValue,
                                    &at,
                                    format!("weight type {other:?} must be version or region"),
                                ))
                            }
                        };
                        (
                            kind,
                            e.attr("consumer-service-name"),
                            Some(required(e, "provider-service-name")?),
                        )
                    } else {
                        let kind = if e.name == "version" {
                            WeightKind::Version
                        } else {
                            WeightKind::Region
                        };
                        (kind, None, None)
                    };
                    d.release.discovery.weight.push(WeightRuleSpec {
                        consumer: consumer.map(str::to_string),
                        provider: provider.map(str::to_string),
                        kind,
                        weights: weights.to_string(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn release(s: &El, d: &mut Draft) -> Result<()> {
    let mut seen_blue_green: Option<usize> = None;
    let mut seen_gray: Option<usize> = None;
    let mut conditions_first = false;
    let mut routes_seen = false;
    let mut header_seen: Option<usize> = None;
    for c in repeated(s, &["conditions", "routes", "header"], d) {
        let at = c.at();
        match c.name.as_str() {
            "conditions" => {
                let t = required(c, "type")?.to_ascii_lowercase();
                let slot = match t.as_str() {
                    "blue-green" => &mut seen_blue_green,
                    "gray" => &mut seen_gray,
                    other => {
                        return Err(err(
                            ErrorKind::InvalidValue,
                            &at,
                            format!("conditions type {other:?} must be blue-green or gray"),
                        ))
                    }
                };
                if let Some(line) = slot.replace(c.line) {
                    return Err(err(
                        ErrorKind::Duplicate,
                        &at,
                        format!("a second <conditions type=\"{t}\"> (first at line {line})"),
                    ));
                }
                if !routes_seen {
                    conditions_first = true;
                }
                for e in repeated(c, &["condition"], d) {
                    condition(e, t == "gray", d)?;
                }
            }
            "routes" => {
                if routes_seen {
                    return Err(err(ErrorKind::Duplicate, &at, "<routes> appears twice"));
                }
                routes_seen = true;
                for r in repeated(c, &["route"], d) {
                    warn_attrs(r, &["id", "type"], d);
                    let id = required(r, "id")?.to_string();
                    let t = required(r, "type")?;
                    let Some(kind) = model::route_kind(t) else {
                        if matches!(
                            t.to_ascii_lowercase().as_str(),
                            "id-blacklist" | "address-blacklist"
                        ) {
                            d.warn(
                                &r.at(),
                                format!("route type {t:?} is never used by Nepxion; ignored"),
                            );
                            continue;
                        }
                        return Err(err(
                            ErrorKind::InvalidValue,
                            &r.at(),
                            format!("route type {t:?} must be version, region, address, version-weight or region-weight"),
                        ));
                    };
                    let body = r.text().ok_or_else(|| {
                        err(
                            ErrorKind::InvalidValue,
                            &r.at(),
                            format!("route {id:?} has no value"),
                        )
                    })?;
                    let value = model::value(body, kind.is_weight(), &r.at())?;
                    d.routes.push((id, kind, value, r.at()));
                }
            }
            _ => {
                if let Some(line) = header_seen.replace(c.line) {
                    return Err(err(
                        ErrorKind::Duplicate,
                        &at,
                        format!("<header> appears twice (first at line {line})"),
                    ));
                }
                let Some(t) = c.text() else { continue };
                let map: std::collections::BTreeMap<String, String> = serde_json::from_str(t)
                    .map_err(|e| {
                        err(
                            ErrorKind::InvalidValue,
                            &at,
                            format!("<header> must be a JSON object of strings: {e}"),
                        )
                    })?;
                for (k, v) in &map {
                    crate::validate::check_header(k, v, &at.path)
                        .map_err(|e| err(e.kind(), &at, e.message()))?;
                }
                d.builtin = map;
            }
        }
    }
    d.sort_conditions = conditions_first;
    if !conditions_first && (seen_blue_green.is_some() || seen_gray.is_some()) {
        d.warn(
            &s.at(),
            "<routes> precedes <conditions>, so Nepxion does not reorder conditions by number of \
             #H[ references; they are tried in the order written",
        );
    }
    Ok(())
}

fn condition(e: &El, gray: bool, d: &mut Draft) -> Result<()> {
    let at = e.at();
    let ids = [
        "version-id",
        "region-id",
        "address-id",
        "version-weight-id",
        "region-weight-id",
    ];
    warn_attrs(
        e,
        &[
            "id",
            "expression",
            "header",
            "version-id",
            "region-id",
            "address-id",
            "version-weight-id",
            "region-weight-id",
        ],
        d,
    );
    let id = required(e, "id")?.to_string();
    let when = match (e.attr("expression"), e.attr("header")) {
        (Some(_), Some(_)) => {
            return Err(err(
                ErrorKind::InvalidValue,
                &at,
                "a condition has both `expression` and its legacy alias `header`",
            ))
        }
        (Some(x), None) | (None, Some(x)) => Some(model::expression(x, &at)?),
        (None, None) => None,
    };
    if gray {
        for w in &ids[3..] {
            if e.attr(w).is_some() {
                d.warn(
                    &at,
                    format!("gray conditions have no `{w}`; ignored (use a blue-green condition)"),
                );
            }
        }
        let w = |a: &str| e.attr(a).map(|v| model::weights(v, &at)).transpose();
        let g = GraySpec {
            id,
            when,
            routes: Dimensions {
                version: w("version-id")?,
                region: w("region-id")?,
                address: w("address-id")?,
                ..Dimensions::default()
            },
        };
        if g.routes.is_empty() {
            d.warn(
                &at,
                "gray condition without version-id, region-id or address-id ignored",
            );
            return Ok(());
        }
        d.gray.push((g, at));
    } else {
        let v = |a: &str| e.attr(a).map(str::to_string);
        let bg = BlueGreenSpec {
            id,
            when,
            routes: Dimensions {
                version: v("version-id"),
                region: v("region-id"),
                address: v("address-id"),
                version_weight: v("version-weight-id"),
                region_weight: v("region-weight-id"),
                env: None,
            },
        };
        if bg.routes.is_empty() {
            d.warn(&at, "blue-green condition without any *-id ignored");
            return Ok(());
        }
        d.blue_green.push((bg, at));
    }
    Ok(())
}

//! IP sets: named sets (inline entries and list files), the client-IP resolver built from
//! `client_ip`, lists that mix CIDRs with set names, and the merged IP table.

use std::sync::Arc;

use ipnet::IpNet;

use super::scope::{looks_like_ip, CompileScope};
use crate::client_ip::{ClientIpResolver, ForwardedHeader};
use crate::error::{Error, ErrorKind, Location, Result};
use crate::ip::{self, IpTable};
use crate::snapshot::Snapshot;
use crate::spec::Spec;
use crate::validate::is_token;

/// Adds every `ip_sets` entry to `scope`, reading list files.
pub(super) fn add_named_sets(spec: &Spec, scope: &mut CompileScope) -> Result<()> {
    for (name, set) in &spec.ip_sets {
        let path = format!("ip_sets.{name}");
        if name.trim().is_empty() || looks_like_ip(name) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                path,
                "an IP set name must be a word, not empty and not an address",
            ));
        }
        let mut nets = Vec::with_capacity(set.entries.len());
        for (i, e) in set.entries.iter().enumerate() {
            nets.push(ip::parse_entry(e).map_err(|err| {
                Error::at(
                    ErrorKind::InvalidIp,
                    format!("{path}.entries[{i}]"),
                    err.to_string(),
                )
            })?);
        }
        if let Some(file) = &set.file {
            let full = match &spec.base_dir {
                Some(base) if file.is_relative() => base.join(file),
                _ => file.clone(),
            };
            let text = std::fs::read_to_string(&full).map_err(|e| {
                Error::at(
                    ErrorKind::Io,
                    format!("{path}.file"),
                    format!("cannot read {}: {e}", full.display()),
                )
            })?;
            let more = ip::parse_list(&text).map_err(|(line, err)| {
                // The line is in the IP list file, which the location names.
                Error::new(
                    ErrorKind::InvalidIp,
                    Location::new(format!("{path}.file"), Some(line), None)
                        .in_file(full.display().to_string()),
                    err.to_string(),
                )
            })?;
            nets.extend(more);
        }
        let idx = scope.add_set(name.clone(), nets);
        scope.names.insert(name.clone(), idx);
    }
    Ok(())
}

/// The resolver of `client_ip`: trusted proxies (CIDRs or set names) and the header.
pub(super) fn client_ip_resolver(spec: &Spec, scope: &CompileScope) -> Result<ClientIpResolver> {
    let trusted = nets_of(
        &spec.client_ip.trusted_proxies,
        scope,
        "client_ip.trusted_proxies",
    )?;
    let name = spec.client_ip.header.trim();
    if name.is_empty() {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            "client_ip.header",
            "the header name must not be empty",
        ));
    }
    if !is_token(name) {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            "client_ip.header",
            format!("{name:?} is not a valid header name"),
        ));
    }
    let header = ForwardedHeader::from_name(name);
    Ok(ClientIpResolver::new(
        trusted,
        header,
        spec.client_ip.recursive,
    ))
}

/// Expands a list of CIDRs, addresses and `ip_sets` names into networks.
pub(super) fn nets_of(entries: &[String], sets: &CompileScope, path: &str) -> Result<Vec<IpNet>> {
    let mut out = Vec::new();
    for (i, t) in entries.iter().enumerate() {
        if let Some(&idx) = sets.names.get(t.as_str()) {
            out.extend(sets.nets[idx as usize].iter().copied());
        } else {
            out.push(ip::parse_entry(t).map_err(|e| {
                Error::at(
                    ErrorKind::InvalidIp,
                    format!("{path}[{i}]"),
                    format!("{e} (and no ip_sets entry has this name)"),
                )
            })?);
        }
    }
    Ok(out)
}

/// The merged IP table and its set labels: the previous snapshot's when the sets (named and
/// anonymous) are the same, else built from `scope`.
pub(super) fn build_table(
    scope: CompileScope,
    spec: &Spec,
    previous: Option<&Snapshot>,
) -> (Arc<IpTable>, Arc<Vec<String>>) {
    if let Some(p) = previous {
        if *p.set_labels == scope.labels
            && p.spec.ip_sets == spec.ip_sets
            && p.spec.base_dir == spec.base_dir
        {
            return (p.ip_table.clone(), p.set_labels.clone());
        }
    }
    let CompileScope {
        builder, labels, ..
    } = scope;
    (Arc::new(builder.build()), Arc::new(labels))
}

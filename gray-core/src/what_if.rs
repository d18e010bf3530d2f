//! What-if: how a candidate spec would route requests, beside the live one, without applying
//! it.
//!
//! [`crate::Engine::what_if`] compiles the candidate on its own (fresh health and counters; the
//! live snapshot is not touched) and routes each given request through both: the rule that
//! matches and the group it routes to (or the default). Nothing is counted and no node is
//! picked: the comparison is of what the configs *say*, before availability and fallbacks.
//!
//! ```
//! use gray_core::{Engine, Format, SimpleRequest, Spec};
//!
//! let live = Engine::from_str("version: 1\ngroups: { a: {}, b: {} }\ndefault: a\n", Format::Yaml)?;
//! let candidate = Spec::from_str(r#"
//! version: 1
//! groups: { a: {}, b: {} }
//! rules: [{ id: office, when: { ip: ["10.1.0.0/16"] }, route: b }]
//! default: a
//! "#, Format::Yaml)?;
//! let requests = ["10.1.2.3", "10.2.0.1"].map(|ip| SimpleRequest::new(ip.parse().unwrap()));
//! let report = live.what_if(candidate, &requests)?;
//! assert_eq!(report.moved, 1);
//! assert_eq!(report.cells[0].from, "a");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, ErrorKind, Location};
use crate::eval::condition::NoTrace;
use crate::eval::context::Ctx;
use crate::eval::route::{match_rule, requested_group};
use crate::explain::Explanation;
use crate::lint::Lint;
use crate::request::{RequestView, SimpleRequest};
use crate::snapshot::Snapshot;

/// Example requests kept per changed cell.
const EXAMPLES: usize = 3;

/// One cell of the transition matrix: requests the live config sends to `from` and the
/// candidate to `to`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfCell {
    /// Group under the live config.
    pub from: String,
    /// Group under the candidate.
    pub to: String,
    /// Requests.
    pub requests: u64,
    /// Their share of all requests.
    pub share: f64,
    /// Indices (into the requests given) of up to three examples, for a changed cell.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<usize>,
    /// For each example, why the live config and the candidate route it where they do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<WhatIfTrace>,
}

/// The explanations of one example request under both configs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfTrace {
    /// Index of the request.
    pub request: usize,
    /// The live config's explanation.
    pub live: Explanation,
    /// The candidate's explanation.
    pub candidate: Explanation,
}

/// What one rule of either config would take and lose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfRule {
    /// Rule id.
    pub rule: String,
    /// Requests it matches under the live config.
    pub live: u64,
    /// Requests it matches under the candidate.
    pub candidate: u64,
    /// Requests it matches under the candidate but not under the live config.
    pub takes: u64,
    /// Requests it matches under the live config but not under the candidate.
    pub loses: u64,
}

/// The report of [`crate::Engine::what_if`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    /// Requests evaluated.
    pub requests: u64,
    /// Requests whose group changes.
    pub moved: u64,
    /// `moved / requests` (0 without requests).
    pub moved_share: f64,
    /// The transition matrix, changed cells first (most requests first), then unchanged ones.
    pub cells: Vec<WhatIfCell>,
    /// Per rule id (of either config, in id order).
    pub rules: Vec<WhatIfRule>,
    /// The candidate's lint warnings (see [`crate::lint`]); give them lines with
    /// [`Lint::located_in`] and the candidate's text.
    pub lints: Vec<Lint>,
}

impl WhatIf {
    /// Gives the candidate's lints the line and column of their paths in `text`, the
    /// candidate's source (what-if compiles a parsed spec, which has no positions).
    pub fn located_in(mut self, text: &str, format: crate::Format) -> WhatIf {
        crate::lint::locate(&mut self.lints, text, format, None);
        self
    }
}

/// Reads request descriptions from JSON Lines (the form `explain` takes, one per line; blank
/// lines are skipped), e.g. a recorded sample for [`crate::Engine::what_if`]. A line that is
/// not one is a `Syntax` error at path `request` with its line number.
pub fn parse_requests(jsonl: &str) -> crate::Result<Vec<SimpleRequest>> {
    let mut requests = Vec::new();
    for (i, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r = serde_json::from_str(line).map_err(|e| {
            Error::new(
                ErrorKind::Syntax,
                Location::new("request", Some(i + 1), None),
                format!("not a request description: {e}"),
            )
        })?;
        requests.push(r);
    }
    Ok(requests)
}

/// The matched rule id and requested group name of `req` under `snap`.
fn route_of<'s, R: RequestView + ?Sized>(
    snap: &'s Snapshot,
    req: &R,
) -> (Option<&'s str>, &'s str) {
    let mut ctx = Ctx::new(req, snap);
    let rule = match_rule(snap, &mut ctx, &mut NoTrace, &mut |_, _| {});
    let group = requested_group(snap, rule);
    (
        rule.map(|r| &*snap.rules[r as usize].id),
        &*snap.groups[group as usize].name,
    )
}

/// Compares `live` and `candidate` on `requests`; `explain(snapshot, request)` explains the
/// examples.
pub(crate) fn compare<R: RequestView>(
    live: &Arc<Snapshot>,
    candidate: &Arc<Snapshot>,
    requests: &[R],
    explain: &dyn Fn(&Arc<Snapshot>, &R) -> Explanation,
) -> WhatIf {
    let mut cells: BTreeMap<(&str, &str), (u64, Vec<usize>)> = BTreeMap::new();
    let mut rules: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    let mut moved = 0;
    for (i, req) in requests.iter().enumerate() {
        let (lr, lg) = route_of(live, req);
        let (cr, cg) = route_of(candidate, req);
        let cell = cells.entry((lg, cg)).or_default();
        cell.0 += 1;
        if lg != cg {
            moved += 1;
            if cell.1.len() < EXAMPLES {
                cell.1.push(i);
            }
        }
        if let Some(r) = lr {
            rules.entry(r).or_default()[0] += 1;
        }
        if let Some(r) = cr {
            rules.entry(r).or_default()[1] += 1;
        }
        if lr != cr {
            if let Some(r) = cr {
                rules.entry(r).or_default()[2] += 1;
            }
            if let Some(r) = lr {
                rules.entry(r).or_default()[3] += 1;
            }
        }
    }
    for r in live.rules.iter().chain(candidate.rules.iter()) {
        rules.entry(&r.id).or_default();
    }
    let total = requests.len() as u64;
    let share = |n: u64| {
        if total == 0 {
            0.0
        } else {
            n as f64 / total as f64
        }
    };
    let mut cells: Vec<WhatIfCell> = cells
        .into_iter()
        .map(|((from, to), (n, examples))| WhatIfCell {
            from: from.to_string(),
            to: to.to_string(),
            requests: n,
            share: share(n),
            traces: examples
                .iter()
                .map(|&i| WhatIfTrace {
                    request: i,
                    live: explain(live, &requests[i]),
                    candidate: explain(candidate, &requests[i]),
                })
                .collect(),
            examples,
        })
        .collect();
    cells.sort_by(|a, b| {
        (a.from == a.to)
            .cmp(&(b.from == b.to))
            .then(b.requests.cmp(&a.requests))
    });
    WhatIf {
        requests: total,
        moved,
        moved_share: share(moved),
        cells,
        rules: rules
            .into_iter()
            .map(|(rule, [live, candidate, takes, loses])| WhatIfRule {
                rule: rule.to_string(),
                live,
                candidate,
                takes,
                loses,
            })
            .collect(),
        lints: candidate.lints().to_vec(),
    }
}

/// The report as text: the moved count, the changed cells (marked `*`, with the 1-based
/// numbers of example requests), the unchanged ones, and each rule that takes or loses
/// requests.
impl std::fmt::Display for WhatIf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} of {} requests would change group ({:.1}%)",
            self.moved,
            self.requests,
            self.moved_share * 100.0
        )?;
        for c in &self.cells {
            let mark = if c.from == c.to { " " } else { "*" };
            write!(
                f,
                "{mark} {:>16} -> {:<16} {:>8} {:>6.1}%",
                c.from,
                c.to,
                c.requests,
                c.share * 100.0
            )?;
            if !c.examples.is_empty() {
                let n: Vec<String> = c.examples.iter().map(|i| (i + 1).to_string()).collect();
                write!(f, "  e.g. requests {}", n.join(", "))?;
            }
            writeln!(f)?;
        }
        for r in self.rules.iter().filter(|r| r.takes > 0 || r.loses > 0) {
            writeln!(
                f,
                "rule {}: {} -> {} requests (takes {}, loses {})",
                r.rule, r.live, r.candidate, r.takes, r.loses
            )?;
        }
        for l in &self.lints {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

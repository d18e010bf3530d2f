//! Per-request resolution of a release, dimension by dimension, as Nepxion resolves it:
//! blue-green (first true expression, else the first entry without one), then gray (one entry
//! per request, then a weighted pick of its routes), then `defaults`, then nothing.

use serde::Serialize;

use super::condition::{eval, NoTrace, Tracer};
use super::context::Ctx;
use crate::request::RequestView;
use crate::route_value::weighted_index;
use crate::snapshot::release::{Choice, Release, DEFAULT, NONE};
use crate::snapshot::rule::Cond;
use crate::spec::release::RouteKind;

/// How each dimension of a release was resolved (part of [`crate::Explanation`]).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ReleaseTrace {
    /// Every condition evaluated, in order.
    pub conditions: Vec<ReleaseCondition>,
    /// One step per dimension.
    pub steps: Vec<ReleaseStep>,
}

/// One blue-green or gray entry that was looked at: its condition's outcome and what it decided.
///
/// Every entry whose expression was evaluated is listed, in evaluation order, and so is an
/// entry without an expression (a fallback entry) when it decided a dimension. A true
/// condition does not always decide something: a gray entry is chosen once per request, and
/// the dimensions it routes may already be decided by blue-green. Such an entry has an empty
/// [`decided`](Self::decided) list and is shown as *shadowed*.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReleaseCondition {
    /// `blue-green` or `gray`.
    pub kind: &'static str,
    /// Entry id.
    pub id: String,
    /// The expression, `None` for a fallback entry.
    pub expression: Option<String>,
    /// Variables seen (`name=value`, `name=null`).
    pub seen: Option<String>,
    /// The outcome (`true` for a fallback entry).
    pub outcome: bool,
    /// The dimensions (headers, e.g. `n-d-version`) whose value came from this entry, in
    /// dimension order. Empty when the entry decided nothing: its condition was false, or it
    /// was true but shadowed.
    pub decided: Vec<&'static str>,
}

impl ReleaseCondition {
    /// True when the condition held but the entry decided no dimension.
    pub fn is_shadowed(&self) -> bool {
        self.outcome && self.decided.is_empty()
    }
}

/// How one dimension was resolved.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReleaseStep {
    /// The header, e.g. `n-d-version`.
    pub header: &'static str,
    /// `blue-green <id>`, `gray <id>`, `defaults` or `none`.
    pub source: String,
    /// The route id used, if any.
    pub route: Option<String>,
    /// The propagated value, if any.
    pub value: Option<String>,
}

/// Captures the variables an expression saw.
#[derive(Default)]
struct Seen(Option<String>);

impl Tracer for Seen {
    const ON: bool = true;
    fn leaf(&mut self, _label: String, seen: Option<String>, _outcome: bool) {
        self.0 = seen;
    }
}

/// Lazily evaluated condition outcomes (the first 64 cached, the rest re-evaluated; with a
/// trace every outcome is taken from the trace once recorded).
struct Outcomes {
    known: u64,
    value: u64,
    /// With a trace: per entry, its index in [`ReleaseTrace::conditions`] once listed (never
    /// allocates without a trace).
    traced: Vec<Option<usize>>,
}

impl Outcomes {
    const fn new() -> Self {
        Outcomes {
            known: 0,
            value: 0,
            traced: Vec::new(),
        }
    }

    fn slot(&self, i: usize) -> Option<usize> {
        self.traced.get(i).copied().flatten()
    }

    fn set_slot(&mut self, i: usize, k: usize) {
        if self.traced.len() <= i {
            self.traced.resize(i + 1, None);
        }
        self.traced[i] = Some(k);
    }

    /// Records in the trace that entry `i` decided the dimension `header`, listing the entry
    /// if it is not listed yet (an entry without an expression).
    fn decided(
        &mut self,
        i: usize,
        trace: &mut Option<&mut ReleaseTrace>,
        kind: &'static str,
        id: &str,
        header: &'static str,
    ) {
        let Some(t) = trace.as_deref_mut() else {
            return;
        };
        let k = match self.slot(i) {
            Some(k) => k,
            None => {
                t.conditions.push(ReleaseCondition {
                    kind,
                    id: id.to_string(),
                    expression: None,
                    seen: None,
                    outcome: true,
                    decided: Vec::new(),
                });
                let k = t.conditions.len() - 1;
                self.set_slot(i, k);
                k
            }
        };
        if let Some(c) = t.conditions.get_mut(k) {
            c.decided.push(header);
        }
    }

    fn get<R: RequestView + ?Sized>(
        &mut self,
        i: usize,
        cond: &Option<Cond>,
        ctx: &mut Ctx<'_, R>,
        trace: &mut Option<&mut ReleaseTrace>,
        kind: &'static str,
        id: &str,
    ) -> Option<bool> {
        let c = cond.as_ref()?;
        let bit = 1u64.checked_shl(i as u32).unwrap_or(0);
        if bit != 0 && self.known & bit != 0 {
            return Some(self.value & bit != 0);
        }
        if let (Some(t), Some(k)) = (trace.as_deref(), self.slot(i)) {
            if let Some(c) = t.conditions.get(k) {
                return Some(c.outcome);
            }
        }
        let hit = match trace {
            Some(t) => {
                let mut seen = Seen::default();
                let hit = eval(c, ctx, &mut seen);
                let expression = match c {
                    Cond::Expr { e, .. } => Some(e.source().to_string()),
                    _ => None,
                };
                t.conditions.push(ReleaseCondition {
                    kind,
                    id: id.to_string(),
                    expression,
                    seen: seen.0,
                    outcome: hit,
                    decided: Vec::new(),
                });
                let k = t.conditions.len() - 1;
                self.set_slot(i, k);
                hit
            }
            None => eval(c, ctx, &mut NoTrace),
        };
        self.known |= bit;
        if hit {
            self.value |= bit;
        }
        Some(hit)
    }
}

impl Release {
    /// Resolves every dimension for one request. Allocation-free unless `trace` is given.
    pub(crate) fn resolve<R: RequestView + ?Sized>(
        &self,
        ctx: &mut Ctx<'_, R>,
        random: &mut dyn FnMut() -> u64,
        mut trace: Option<&mut ReleaseTrace>,
    ) -> Choice {
        let mut choice = Choice::EMPTY;
        let mut bg = Outcomes::new();
        let mut gray = Outcomes::new();
        let mut gray_chosen: Option<Option<usize>> = None;
        for kind in RouteKind::ALL {
            let d = kind as usize;
            let mut source = String::new();
            // 1. Blue-green: first true expression among entries with this dimension, else the
            //    first such entry without an expression.
            let mut fallback = None;
            let mut won = None;
            for (i, e) in self.blue_green.iter().enumerate() {
                let Some(route) = e.routes[d] else { continue };
                match bg.get(i, &e.cond, ctx, &mut trace, "blue-green", &e.id) {
                    Some(true) => {
                        won = Some((i, route));
                        break;
                    }
                    Some(false) => {}
                    None => {
                        if fallback.is_none() {
                            fallback = Some((i, route));
                        }
                    }
                }
            }
            if let Some((i, route)) = won.or(fallback) {
                choice.0[d] = route;
                if trace.is_some() {
                    let id = &self.blue_green[i].id;
                    source = format!("blue-green {id}");
                    bg.decided(i, &mut trace, "blue-green", id, kind.header());
                }
            }
            // 2. Gray (version, region, address only): one entry per request.
            if choice.0[d] == NONE && !kind.is_weight() {
                let g =
                    *gray_chosen.get_or_insert_with(|| self.pick_gray(ctx, &mut gray, &mut trace));
                if let Some(gi) = g {
                    let entry = &self.gray[gi];
                    if let Some(list) = &entry.routes[d] {
                        let r = random();
                        if let Some(k) = weighted_index(list.iter().map(|(_, w)| *w), r) {
                            choice.0[d] = list[k].0;
                            if trace.is_some() {
                                let total: u64 = list.iter().map(|(_, w)| u64::from(*w)).sum();
                                source =
                                    format!("gray {} (weight {} of {total})", entry.id, list[k].1);
                                gray.decided(gi, &mut trace, "gray", &entry.id, kind.header());
                            }
                        }
                    }
                }
            }
            // 3. Defaults.
            if choice.0[d] == NONE && self.fixed[d].is_some() {
                choice.0[d] = DEFAULT;
                if trace.is_some() {
                    source = "defaults".into();
                }
            }
            if let Some(t) = trace.as_deref_mut() {
                let route = match choice.0[d] {
                    NONE | DEFAULT => None,
                    r => Some(self.routes[r as usize].id.to_string()),
                };
                let value = self
                    .own(&choice, crate::snapshot::release::Field::of(kind))
                    .map(|v| v.header.to_string());
                t.steps.push(ReleaseStep {
                    header: kind.header(),
                    source: if value.is_none() {
                        "none".into()
                    } else {
                        source
                    },
                    route,
                    value,
                });
            }
        }
        choice
    }

    /// The gray entry for this request: the first true expression, else the first entry
    /// without an expression.
    fn pick_gray<R: RequestView + ?Sized>(
        &self,
        ctx: &mut Ctx<'_, R>,
        cache: &mut Outcomes,
        trace: &mut Option<&mut ReleaseTrace>,
    ) -> Option<usize> {
        let mut fallback = None;
        for (i, e) in self.gray.iter().enumerate() {
            match cache.get(i, &e.cond, ctx, trace, "gray", &e.id) {
                Some(true) => return Some(i),
                Some(false) => {}
                None => {
                    if fallback.is_none() {
                        fallback = Some(i);
                    }
                }
            }
        }
        fallback
    }
}

/// Writes a release trace as indented text (part of an explanation's text form).
///
/// Each listed entry ends with what it decided (`; decided n-d-version`), or `; shadowed,
/// decided nothing` for a true condition that decided no dimension; a false one ends after
/// its outcome.
pub(crate) fn write_trace(f: &mut std::fmt::Formatter<'_>, t: &ReleaseTrace) -> std::fmt::Result {
    for c in &t.conditions {
        match &c.expression {
            Some(e) => write!(
                f,
                "release {} {}: {e} → {} ({})",
                c.kind,
                c.id,
                c.outcome,
                c.seen.as_deref().unwrap_or("")
            )?,
            None => write!(f, "release {} {}: no expression", c.kind, c.id)?,
        }
        if !c.decided.is_empty() {
            writeln!(f, "; decided {}", c.decided.join(", "))?;
        } else if c.outcome {
            writeln!(f, "; shadowed, decided nothing")?;
        } else {
            writeln!(f)?;
        }
    }
    for s in &t.steps {
        match &s.value {
            Some(v) => writeln!(
                f,
                "  {}: {v} (from {}{})",
                s.header,
                s.source,
                s.route
                    .as_deref()
                    .map(|r| format!(", route {r}"))
                    .unwrap_or_default()
            )?,
            None => writeln!(f, "  {}: not set", s.header)?,
        }
    }
    Ok(())
}

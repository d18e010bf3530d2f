//! Evaluating compiled conditions against a request.
//!
//! [`eval`] tests a request without allocating. The same function produces explanations: it
//! is generic over a [`Tracer`], and the no-op tracer compiles away.

use std::borrow::Cow;
use std::cell::OnceCell;

use super::context::{strip_port, Ctx, IpText};
use crate::expr::Expr;
use crate::request::field_index::VarSlots;
use crate::request::RequestView;
use crate::snapshot::rule::{Cond, Key};
use crate::sticky;

impl Key {
    /// Feeds the key's bytes to `f`; returns false (and does not call `f`) if the key is missing.
    pub(crate) fn with_bytes<R: RequestView + ?Sized>(
        &self,
        ctx: &mut Ctx<'_, R>,
        f: &mut dyn FnMut(&[u8]),
    ) -> bool {
        match self {
            Key::Cookie(n, s) => ctx.cookie(*s, n).map(|v| f(v.as_bytes())).is_some(),
            Key::Header(n, s) => ctx.header(*s, n).map(|v| f(v.as_bytes())).is_some(),
            Key::Query(n, s) => ctx.query(*s, n).map(|v| f(v.as_bytes())).is_some(),
            Key::ClientIp => match ctx.client_ip() {
                Some(ip) => {
                    let mut buf = IpText::default();
                    f(buf.format(ip));
                    true
                }
                None => false,
            },
        }
    }

    /// The sticky 64-bit hash of the key under a salt (`salted` = [`sticky::salt_prefix`] of
    /// it), or `None` if the key is missing.
    pub(crate) fn hash<R: RequestView + ?Sized>(
        &self,
        ctx: &mut Ctx<'_, R>,
        salted: sticky::StickyHasher,
    ) -> Option<u64> {
        let mut out = None;
        self.with_bytes(ctx, &mut |b| {
            let mut h = salted;
            h.write(b);
            out = Some(h.finish());
        });
        out
    }
}

/// Receives evaluation events to build an explanation. `ON = false` compiles every call away.
pub(crate) trait Tracer {
    const ON: bool;
    /// A composite (`all`/`any`/`not`) starts.
    fn open(&mut self) {}
    /// The composite that was opened last ends.
    fn close(&mut self, _label: String, _outcome: bool) {}
    /// A leaf condition was tested.
    fn leaf(&mut self, _label: String, _seen: Option<String>, _outcome: bool) {}
}

/// The hot-path tracer: records nothing.
pub(crate) struct NoTrace;

impl Tracer for NoTrace {
    const ON: bool = false;
}

/// Longest value shown in explanations before it is shortened.
pub(crate) const SHOW_MAX: usize = 80;

/// Shortens a value for display: `abc…(+1234 bytes)`.
pub(crate) fn shorten(v: &str) -> String {
    if v.len() <= SHOW_MAX {
        return v.to_string();
    }
    let mut end = SHOW_MAX;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…(+{} bytes)", &v[..end], v.len() - end)
}

fn seen(v: Option<&str>) -> Option<String> {
    v.map(shorten)
}

/// Evaluates a condition. With a recording tracer every branch is evaluated (no short-circuit)
/// so the explanation shows every outcome; the result is the same either way.
pub(crate) fn eval<R: RequestView + ?Sized, T: Tracer>(
    c: &Cond,
    ctx: &mut Ctx<'_, R>,
    t: &mut T,
) -> bool {
    match c {
        Cond::Ip { sets, label } => {
            let mask = ctx.ip_mask();
            let hit = mask.is_some_and(|m| sets.iter().any(|&s| m.contains(s)));
            if T::ON {
                let ip = ctx.client_ip().map(|ip| ip.to_string());
                t.leaf(format!("client IP in [{label}]"), ip, hit);
            }
            hit
        }
        Cond::Cookie { name, slot, m } => {
            let v = ctx.cookie(*slot, name);
            let hit = m.matches(v);
            if T::ON {
                t.leaf(format!("cookie {name:?} {m}"), seen(v), hit);
            }
            hit
        }
        Cond::Header { name, slot, m } => {
            let v = ctx.header(*slot, name);
            let hit = m.matches(v);
            if T::ON {
                t.leaf(format!("header {name:?} {m}"), seen(v), hit);
            }
            hit
        }
        Cond::Query { name, slot, m } => {
            let v = ctx.query(*slot, name);
            let hit = m.matches(v.as_deref());
            if T::ON {
                t.leaf(format!("query {name:?} {m}"), seen(v.as_deref()), hit);
            }
            hit
        }
        Cond::Path(m) => {
            let v = ctx.req.path();
            let hit = m.matches(Some(v));
            if T::ON {
                t.leaf(format!("path {m}"), seen(Some(v)), hit);
            }
            hit
        }
        Cond::Host(m) => {
            let v = ctx.req.host().map(strip_port);
            let hit = m.matches(v);
            if T::ON {
                t.leaf(format!("host {m}"), seen(v), hit);
            }
            hit
        }
        Cond::Method(list) => {
            let v = ctx.req.method();
            let hit = list.iter().any(|m| m.eq_ignore_ascii_case(v));
            if T::ON {
                t.leaf(format!("method in {list:?}"), seen(Some(v)), hit);
            }
            hit
        }
        Cond::Percent {
            key,
            threshold,
            ramp,
            salt,
            salted,
        } => {
            let threshold = &ramp.as_ref().map_or(*threshold, |r| r.threshold());
            let h = key.hash(ctx, *salted);
            let bucket = h.map(|h| (h % u64::from(sticky::BUCKETS)) as u32);
            let hit = bucket.is_some_and(|b| b < *threshold);
            if T::ON {
                let seen = bucket.map(|b| format!("bucket {b} of 10000"));
                t.leaf(
                    format!(
                        "{} in sticky {}% (salt {salt:?}; missing key = no match)",
                        key.label(),
                        f64::from(*threshold) / 100.0
                    ),
                    seen,
                    hit,
                );
            }
            hit
        }
        Cond::Expr { e, vars } => eval_expr(e, vars, ctx, t),
        Cond::All(list) => {
            if T::ON {
                t.open();
                let mut all = true;
                for c in list.iter() {
                    all &= eval(c, ctx, t);
                }
                t.close("all of".into(), all);
                all
            } else {
                list.iter().all(|c| eval(c, ctx, t))
            }
        }
        Cond::Any(list) => {
            if T::ON {
                t.open();
                let mut any = false;
                for c in list.iter() {
                    any |= eval(c, ctx, t);
                }
                t.close("any of".into(), any);
                any
            } else {
                list.iter().any(|c| eval(c, ctx, t))
            }
        }
        Cond::Not(c) => {
            if T::ON {
                t.open();
                let hit = !eval(c, ctx, t);
                t.close("not".into(), hit);
                hit
            } else {
                !eval(c, ctx, t)
            }
        }
    }
}

/// [`eval`] of an expression, out of line: it needs more stack than the other conditions,
/// and keeping it apart keeps `eval`'s own frame small.
#[inline(never)]
fn eval_expr<R: RequestView + ?Sized, T: Tracer>(
    e: &Expr,
    slots: &[VarSlots],
    ctx: &mut Ctx<'_, R>,
    t: &mut T,
) -> bool {
    // Every field is read once up front; variables are then looked up when the
    // evaluation first needs them (`&&` and `||` short-circuit).
    ctx.read_fields();
    let ctx = &*ctx;
    let vars = e.variables();
    if !T::ON && slots.iter().all(|s| s.complete()) {
        // The usual case: every value is borrowed from the context.
        return e.eval_uncached(&mut |i| ctx.variable_in_slots(&vars[i], *slots.get(i)?));
    }
    // Owned values (decoded query parameters without a slot) live here.
    let vals: [OnceCell<Option<Cow<'_, str>>>; 4] = Default::default();
    let extra: OnceCell<Vec<OnceCell<Option<Cow<'_, str>>>>> = OnceCell::new();
    let mut lookup = |i: usize| -> Option<&str> {
        let s = *slots.get(i)?;
        if s.complete() {
            // Slotted values are borrowed from the context; no cell needed.
            return ctx.variable_in_slots(&vars[i], s);
        }
        cell(&vals, &extra, vars.len(), i)?
            .get_or_init(|| ctx.variable(&vars[i], s))
            .as_deref()
    };
    if T::ON {
        let (hit, steps) = e.eval_explained(&mut lookup);
        t.open();
        for st in &steps {
            let side = |v: &Option<String>| {
                v.as_deref()
                    .map_or("null".to_string(), |v| format!("{:?}", shorten(v)))
            };
            t.leaf(
                st.text.clone(),
                Some(format!("{} vs {}", side(&st.left), side(&st.right))),
                st.result,
            );
        }
        let shown: Vec<String> = vars
            .iter()
            .enumerate()
            .map(|(i, n)| match lookup(i) {
                Some(v) => format!("{n}={}", shorten(v)),
                None => format!("{n}=null"),
            })
            .collect();
        t.close(format!("expr {} [{}]", e.source(), shown.join(", ")), hit);
        hit
    } else {
        e.eval_uncached(&mut lookup)
    }
}

/// Cell `i` of `n`: one of `first`, or of `rest` (created on first use, for expressions with
/// more variables than `first` holds).
fn cell<'a, T>(
    first: &'a [OnceCell<T>],
    rest: &'a OnceCell<Vec<OnceCell<T>>>,
    n: usize,
    i: usize,
) -> Option<&'a OnceCell<T>> {
    match first.get(i) {
        Some(c) => Some(c),
        None => rest
            .get_or_init(|| (first.len()..n).map(|_| OnceCell::new()).collect())
            .get(i - first.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_long_values() {
        assert_eq!(shorten("abc"), "abc");
        let long = "x".repeat(200);
        let s = shorten(&long);
        assert!(
            s.starts_with(&"x".repeat(80)) && s.ends_with("(+120 bytes)"),
            "{s}"
        );
        let uni = "日".repeat(100);
        assert!(shorten(&uni).contains('…'));
    }
}

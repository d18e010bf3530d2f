//! Which requests are mirrored (see [`crate::mirror`]).

use super::Engine;
use crate::decision::Decision;
use crate::eval::context::Ctx;
use crate::eval::route::{pick, RouteInput};
use crate::mirror::{ComparePlan, MirrorPlan, Mirroring, SkipReason};
use crate::request::RequestView;
use crate::snapshot::release::Choice;
use crate::sticky;

impl Engine {
    /// True when the current rules mirror anything (a rule's or a group's `mirror`). A proxy
    /// with a path that cannot send copies checks this before deciding.
    ///
    /// ```
    /// use gray_core::{Engine, Format};
    ///
    /// let engine = Engine::from_str(
    ///     "version: 1\ngroups: { a: { nodes: [] } }\ndefault: a\n",
    ///     Format::Yaml,
    /// )?;
    /// assert!(!engine.has_mirrors());
    /// # Ok::<(), gray_core::Error>(())
    /// ```
    pub fn has_mirrors(&self) -> bool {
        self.current.load().mirrors
    }

    /// The copy to send for a request `decision` routed: `None` when no mirror applies (the
    /// matched rule's, else the requested group's) or the request is outside its sampled
    /// share; [`Mirroring::Skipped`] when its method is not mirrored or the mirror's group has
    /// no available node; else the copy. Reads only the decision's snapshot; counts nothing.
    pub fn mirror<R: RequestView + ?Sized>(
        &self,
        decision: &Decision,
        req: &R,
    ) -> Option<Mirroring> {
        let snap = &decision.snapshot;
        let m = decision
            .rule
            .and_then(|r| snap.rules[r as usize].mirror.as_deref())
            .or_else(|| snap.groups[decision.requested as usize].mirror.as_deref())?;
        let mut ctx = Ctx::new(req, snap);
        let bucket = match &m.key {
            Some(k) => k.hash(&mut ctx, m.salted)?,
            None => self.sources.random(),
        } % u64::from(sticky::BUCKETS);
        if bucket >= u64::from(m.threshold) {
            return None;
        }
        let skipped = |reason| {
            Some(Mirroring::Skipped {
                mirror: m.id.to_string(),
                reason,
            })
        };
        if !m
            .methods
            .iter()
            .any(|x| x.eq_ignore_ascii_case(req.method()))
        {
            return skipped(SkipReason::Method);
        }
        let input = RouteInput {
            choice: &Choice::EMPTY,
            trusted: false,
            count: false,
        };
        let (group, node) = pick(
            snap,
            &self.sources,
            &mut ctx,
            m.to,
            &input,
            &mut |_| {},
            None,
        );
        // A copy for the canary never falls back to stable: that would only double stable's
        // load.
        let (Some(g), Some(n)) = (group.filter(|g| *g == m.to), node) else {
            return skipped(SkipReason::NoNode);
        };
        let compare = m.compare.as_ref().map(|c| {
            // The baseline copy goes to another node than the primary's when there is one.
            let baseline = c.baseline.and_then(|b| {
                let mut tries = 0;
                loop {
                    let (bg, bn) =
                        pick(snap, &self.sources, &mut ctx, b, &input, &mut |_| {}, None);
                    let (bg, bn) = (bg.filter(|x| *x == b)?, bn?);
                    let same = Some(bg) == decision.served && Some(bn) == decision.node;
                    tries += 1;
                    if !same || tries >= 3 {
                        let group = &snap.groups[bg as usize];
                        break Some((
                            group.name.to_string(),
                            group.nodes[bn as usize].address.to_string(),
                        ));
                    }
                }
            });
            ComparePlan {
                baseline,
                headers: c.headers.iter().map(|h| h.to_string()).collect(),
                body: c.body,
                ignore: c.ignore.to_vec(),
                max_body: c.max_body,
            }
        });
        let group = &snap.groups[g as usize];
        Some(Mirroring::Send(Box::new(MirrorPlan {
            mirror: m.id.to_string(),
            group: group.name.to_string(),
            node: group.nodes[n as usize].address.to_string(),
            max_body: m.max_body,
            max_in_flight: m.max_in_flight,
            timeout: m.timeout,
            header: m.header.to_string(),
            host: m.host.as_deref().map(str::to_string),
            compare,
        })))
    }
}

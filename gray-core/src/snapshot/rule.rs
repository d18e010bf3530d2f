//! Compiled rules and conditions: plain data, evaluated by [`crate::eval`].

use std::sync::Arc;

pub(crate) use super::key::Key;

use super::counter::Counter;
use crate::expr::Expr;
use crate::matcher::ValueMatcher;
use crate::request::field_index::{Slot, VarSlots};
use crate::rollout::RolloutControl;
use crate::sticky;
use crate::traffic::Traffic;

/// A compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) id: Box<str>,
    pub(crate) cond: Option<Cond>,
    /// Target group; `None` means the default group.
    pub(crate) group: Option<u32>,
    pub(crate) headers: Box<[(Box<str>, Box<str>)]>,
    pub(crate) counter: Arc<Counter>,
    /// Live window of the requests this rule matched that were recorded.
    pub(crate) traffic: Arc<Traffic>,
    /// Copies of some of its requests (see [`crate::spec::MirrorSpec`]).
    pub(crate) mirror: Option<Box<super::mirror::Mirror>>,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Ip {
        sets: Box<[u32]>,
        label: Box<str>,
    },
    Cookie {
        name: Box<str>,
        slot: Slot,
        m: ValueMatcher,
    },
    Header {
        name: Box<str>,
        slot: Slot,
        m: ValueMatcher,
    },
    Query {
        name: Box<str>,
        slot: Slot,
        m: ValueMatcher,
    },
    Path(ValueMatcher),
    Host(ValueMatcher),
    Method(Box<[Box<str>]>),
    Percent {
        key: Key,
        threshold: u32,
        /// A judged rollout's steps set the threshold instead of `threshold`.
        ramp: Option<Arc<PercentRamp>>,
        salt: Box<str>,
        /// [`sticky::salt_prefix`] of `salt`.
        salted: sticky::StickyHasher,
    },
    Expr {
        e: Box<Expr>,
        /// Per variable of `e`, where its value is found.
        vars: Box<[VarSlots]>,
    },
    All(Box<[Cond]>),
    Any(Box<[Cond]>),
    Not(Box<Cond>),
}

/// The thresholds a judged rollout gives a rule's `percent` conditions, per selector (each
/// step, then the aborted state: 0).
#[derive(Debug)]
pub(crate) struct PercentRamp {
    pub(crate) control: Arc<RolloutControl>,
    pub(crate) thresholds: Box<[u32]>,
}

impl PercentRamp {
    /// The threshold in force.
    #[inline]
    pub(crate) fn threshold(&self) -> u32 {
        let i = self.control.selector().min(self.thresholds.len() - 1);
        self.thresholds[i]
    }
}

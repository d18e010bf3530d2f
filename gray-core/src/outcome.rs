//! What happened to a request sent to an upstream node, and which outcomes a group counts as
//! failures for passive health (its `fail_on`, after nginx's `proxy_next_upstream`).
//!
//! See [`Outcome`].

use crate::spec::FailOn;

/// What happened to a request sent to an upstream node.
///
/// A caller that forwarded a request tells the engine what happened with
/// [`Engine::record`](crate::Engine::record) (or [`Engine::record_node`](crate::Engine::record_node)
/// for a node named by group and address). The engine classifies the [`Outcome`] with the
/// *served* group's `fail_on` list, so each group decides whether, say, a 503 means its node is
/// broken: by default (`fail_on: [error, timeout]`, nginx's default) connect errors, resets and
/// timeouts count and no HTTP status does.
///
/// ```
/// use gray_core::{Engine, Format, Outcome, SimpleRequest};
///
/// let engine = Engine::from_str(r#"
/// version: 1
/// groups:
///   stable: { nodes: [{ address: "127.0.0.1:7001" }] }
///   canary:
///     nodes: [{ address: "127.0.0.1:7002" }]
///     fallback: stable
///     fail_on: [error, timeout, http_503]
/// rules: [{ id: all, route: canary }]
/// default: stable
/// "#, Format::Yaml)?;
/// let req = SimpleRequest::new("10.0.0.1".parse()?);
/// let d = engine.decide(&req);
/// engine.record(&d, Outcome::Status(500)); // not in fail_on: a success for passive health
/// assert_eq!(engine.nodes("canary")?.nodes[0].health, "up");
/// engine.record(&d, Outcome::Status(503)); // listed: the canary node is ejected (max_fails 1)
/// assert_eq!(engine.nodes("canary")?.nodes[0].health, "down");
/// assert_eq!(engine.decide(&req).group(), "stable");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The node answered with this HTTP status.
    Status(u16),
    /// Connecting to the node failed (refused, unreachable, DNS).
    ConnectError,
    /// Connecting, or waiting for the response headers, timed out.
    Timeout,
    /// The node broke the exchange (reset, closed early, invalid response) after the connection was made.
    Reset,
}

/// A compiled `fail_on` list: one bit per [`FailOn`] value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FailMask(u16);

impl FailMask {
    /// The bits of `list` (duplicates are harmless).
    pub(crate) fn new(list: &[FailOn]) -> FailMask {
        FailMask(list.iter().fold(0, |m, f| m | Self::bit(*f)))
    }

    const fn bit(f: FailOn) -> u16 {
        1 << (f as u16)
    }

    const fn has(self, f: FailOn) -> bool {
        self.0 & Self::bit(f) != 0
    }

    /// Whether `outcome` counts as a failure under this list.
    pub(crate) fn is_failure(self, outcome: Outcome) -> bool {
        match outcome {
            Outcome::ConnectError | Outcome::Reset => self.has(FailOn::Error),
            Outcome::Timeout => self.has(FailOn::Timeout),
            Outcome::Status(s) => {
                let exact = match s {
                    500 => Some(FailOn::Http500),
                    502 => Some(FailOn::Http502),
                    503 => Some(FailOn::Http503),
                    504 => Some(FailOn::Http504),
                    403 => Some(FailOn::Http403),
                    404 => Some(FailOn::Http404),
                    429 => Some(FailOn::Http429),
                    _ => None,
                };
                exact.is_some_and(|f| self.has(f))
                    || ((500..=599).contains(&s) && self.has(FailOn::Http5xx))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::default_fail_on;

    #[test]
    fn default_counts_errors_and_timeouts_but_no_status() {
        let m = FailMask::new(&default_fail_on());
        assert!(m.is_failure(Outcome::ConnectError));
        assert!(m.is_failure(Outcome::Reset));
        assert!(m.is_failure(Outcome::Timeout));
        for s in [
            0,
            100,
            200,
            404,
            429,
            500,
            502,
            503,
            504,
            599,
            600,
            u16::MAX,
        ] {
            assert!(!m.is_failure(Outcome::Status(s)), "{s}");
        }
    }

    #[test]
    fn each_value_selects_its_outcomes() {
        let only = |f: FailOn| FailMask::new(&[f]);
        assert!(only(FailOn::Error).is_failure(Outcome::ConnectError));
        assert!(only(FailOn::Error).is_failure(Outcome::Reset));
        assert!(!only(FailOn::Error).is_failure(Outcome::Timeout));
        assert!(!only(FailOn::Timeout).is_failure(Outcome::Reset));
        for (f, s) in [
            (FailOn::Http500, 500),
            (FailOn::Http502, 502),
            (FailOn::Http503, 503),
            (FailOn::Http504, 504),
            (FailOn::Http403, 403),
            (FailOn::Http404, 404),
            (FailOn::Http429, 429),
        ] {
            assert!(only(f).is_failure(Outcome::Status(s)), "{f:?}");
            assert!(!only(f).is_failure(Outcome::Status(s + 1)), "{f:?}");
            assert!(!only(f).is_failure(Outcome::ConnectError), "{f:?}");
        }
        let any5 = only(FailOn::Http5xx);
        for s in [500, 501, 502, 503, 504, 550, 599] {
            assert!(any5.is_failure(Outcome::Status(s)), "{s}");
        }
        for s in [499, 600, 404, 429, 200] {
            assert!(!any5.is_failure(Outcome::Status(s)), "{s}");
        }
        assert!(!any5.is_failure(Outcome::Timeout));
        assert!(!FailMask::new(&[]).is_failure(Outcome::ConnectError));
    }
}

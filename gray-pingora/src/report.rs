//! Outcomes: what pingora saw of the upstream exchange, as a [`gray_core::Outcome`].

use std::time::Duration;

use gray_core::{Decision, Engine, Outcome};
use pingora::{Error, ErrorSource, ErrorType};

/// The outcome of an upstream exchange: the upstream's response status when it answered,
/// else the kind of the error — `ConnectError` for failures to connect (refused, no route, TLS
/// handshake), `Timeout` for connect timeouts and upstream read/write timeouts, `Reset` for any other upstream
/// error. `None` when there was neither (no upstream exchange, or an error of the client or
/// of the proxy itself, which says nothing about the node).
pub fn outcome(status: Option<u16>, error: Option<&Error>) -> Option<Outcome> {
    if let Some(status) = status {
        return Some(Outcome::Status(status));
    }
    let e = error?;
    Some(match e.etype() {
        ErrorType::ConnectTimedout | ErrorType::TLSHandshakeTimedout => Outcome::Timeout,
        ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() == &ErrorSource::Upstream =>
        {
            Outcome::Timeout
        }
        ErrorType::ConnectRefused
        | ErrorType::ConnectNoRoute
        | ErrorType::ConnectError
        | ErrorType::TLSWantX509Lookup
        | ErrorType::TLSHandshakeFailure
        | ErrorType::InvalidCert
        | ErrorType::HandshakeError
        | ErrorType::BindError
        | ErrorType::SocketError
        | ErrorType::ConnectProxyFailure => Outcome::ConnectError,
        _ if e.esource() == &ErrorSource::Upstream => Outcome::Reset,
        _ => return None,
    })
}

/// Records the outcome of `decision`'s upstream exchange ([`outcome`]) with
/// [`Engine::record_timed`]: the served group's `fail_on` classifies it for passive health, and
/// the node's response counters, latency histogram and live windows see it. `latency` runs
/// from sending the request upstream (or connecting) to the response headers, or to the
/// failure. Returns the outcome recorded, `None` when there was none to record.
pub fn report(
    engine: &Engine,
    decision: &Decision,
    status: Option<u16>,
    error: Option<&Error>,
    latency: Duration,
) -> Option<Outcome> {
    let outcome = outcome(status, error)?;
    engine.record_timed(decision, outcome, latency);
    Some(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_outcomes() {
        let upstream = Error::new_up;
        assert_eq!(outcome(Some(502), None), Some(Outcome::Status(502)));
        let refused = upstream(ErrorType::ConnectRefused);
        assert_eq!(outcome(None, Some(&refused)), Some(Outcome::ConnectError));
        let slow = upstream(ErrorType::ReadTimedout);
        assert_eq!(outcome(None, Some(&slow)), Some(Outcome::Timeout));
        let closed = upstream(ErrorType::ConnectionClosed);
        assert_eq!(outcome(None, Some(&closed)), Some(Outcome::Reset));
        let client = Error::new_down(ErrorType::ReadTimedout);
        assert_eq!(outcome(None, Some(&client)), None);
        assert_eq!(outcome(None, None), None);
    }
}

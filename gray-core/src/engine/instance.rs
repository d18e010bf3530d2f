//! The engine's calling-side API: picking (and explaining) the instance of a service that an
//! outbound call goes to (see [`crate::instance`]).

use super::Engine;
use crate::instance::{self, CallerIdentity, InstanceExplanation, Selection};
use crate::request::RequestView;

impl Engine {
    /// Picks an instance of `service` (a group) for a call made while handling `req`.
    pub fn select_instance<R: RequestView + ?Sized>(&self, service: &str, req: &R) -> Selection {
        instance::select(
            self.snapshot(),
            &self.sources,
            service,
            req,
            None,
            false,
            None,
            None,
        )
    }

    /// [`Engine::select_instance`] for a request whose routing headers this process has
    /// already filtered by its own decision (stripped what the decision does not forward, set
    /// what it decided, as `gray_tower::apply_decision` does): they are believed whatever the
    /// request's peer. `gray_tower::call::CallContext` uses it for a request that passed
    /// through this process's `GrayLayer`, so that the decision made here reaches the next
    /// service. Never pass a request whose headers came straight from a client.
    pub fn select_instance_filtered<R: RequestView + ?Sized>(
        &self,
        service: &str,
        req: &R,
    ) -> Selection {
        instance::select(
            self.snapshot(),
            &self.sources,
            service,
            req,
            None,
            true,
            None,
            None,
        )
    }

    /// Like [`Engine::select_instance`] with an explicit caller identity instead of
    /// `release.local`.
    pub fn select_instance_as<R: RequestView + ?Sized>(
        &self,
        service: &str,
        req: &R,
        caller: &CallerIdentity,
    ) -> Selection {
        instance::select(
            self.snapshot(),
            &self.sources,
            service,
            req,
            Some(caller),
            false,
            None,
            None,
        )
    }

    /// Explains [`Engine::select_instance`]. Like [`Engine::explain`], it counts nothing.
    pub fn explain_instance<R: RequestView + ?Sized>(
        &self,
        service: &str,
        req: &R,
    ) -> InstanceExplanation {
        instance::explain(self.snapshot(), &self.sources, service, req)
    }
}

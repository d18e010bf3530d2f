//! The engine's what-if (see [`crate::what_if`]).

use super::Engine;
use crate::compile::registry::StateRegistry;
use crate::compile::{compile, CompileInput};
use crate::error::Result;
use crate::request::RequestView;
use crate::spec::Spec;
use crate::what_if::{compare, WhatIf};

impl Engine {
    /// How `candidate` would route `requests` compared with the live spec, without applying
    /// it: the transition matrix of groups (with the explanations of both sides for up to
    /// three example requests of each changed cell), and per rule what it would take and lose. A
    /// candidate that does not compile is the error (located as by [`Engine::reload`]);
    /// nothing changes either way, and nothing is counted.
    pub fn what_if<R: RequestView>(&self, candidate: Spec, requests: &[R]) -> Result<WhatIf> {
        let live = self.snapshot();
        let candidate = compile(
            candidate,
            CompileInput {
                generation: live.generation + 1,
                previous: None,
                source: None,
            },
            &StateRegistry::default(),
        )?;
        let candidate = std::sync::Arc::new(candidate);
        let explain = |snap: &std::sync::Arc<crate::Snapshot>, req: &R| {
            crate::explain::explain(snap.clone(), &self.sources, req)
        };
        Ok(compare(&live, &candidate, requests, &explain))
    }
}

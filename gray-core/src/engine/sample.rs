//! The live request sample (see [`crate::sample`]).

use super::Engine;
use crate::error::Result;
use crate::request::SimpleRequest;
use crate::sample::{SampleConfig, SampleStats};
use crate::spec::Spec;
use crate::what_if::WhatIf;

impl Engine {
    /// Turns the live sample on with `config` (starting it empty) or off (`None`, dropping
    /// what it held). A config with a zero field is an `InvalidValue` error and changes
    /// nothing.
    pub fn set_sampling(&self, config: Option<SampleConfig>) -> Result<()> {
        self.sampler.configure(config)
    }

    /// The sampled requests, oldest first (empty when sampling is off).
    pub fn sample(&self) -> Vec<SimpleRequest> {
        self.sampler.requests()
    }

    /// How full the sample is and how it is configured.
    pub fn sample_stats(&self) -> SampleStats {
        self.sampler.stats()
    }

    /// [`Engine::what_if`] on the live sample.
    pub fn what_if_live(&self, candidate: Spec) -> Result<WhatIf> {
        self.what_if(candidate, &self.sample())
    }
}

//! Engines fed with Nepxion rules (see [`crate::nepxion`]).

use super::Engine;
use crate::error::Result;
use crate::nepxion::{self, Warning};

impl Engine {
    /// Applies a pushed Nepxion rule (XML or JSON) to the running spec, keeping its services
    /// and instances. As in Nepxion, a rule that fails to import or compile changes nothing
    /// and the previous rule keeps serving. Returns the new generation and the warnings.
    pub fn reload_nepxion(&self, text: &str) -> Result<(u64, Vec<Warning>)> {
        let import = nepxion::import(text)?;
        let ((), generation) = self.update(|spec| {
            import.apply_to(spec);
            Ok(())
        })?;
        Ok((generation, import.warnings))
    }

    /// An engine serving a Nepxion rule (XML or JSON, auto-detected) with no instances; add
    /// services with [`Engine::update`] or the admin calls, or build the spec yourself with
    /// [`nepxion::Import::apply_to`]. Returns the import warnings.
    pub fn from_nepxion(text: &str) -> Result<(Engine, Vec<Warning>)> {
        let import = nepxion::import(text)?;
        let warnings = import.warnings.clone();
        Ok((Engine::new(import.into_spec())?, warnings))
    }
}

//! The set of diff engines a service can use: which one encodes, which one decodes a given delta.

use std::sync::Arc;

use dg_ports::{DiffEngine, Error, Result};

/// Diff engines in order of preference for writing; any of them can read.
#[derive(Clone, Debug)]
pub struct EngineSet {
    engines: Vec<Arc<dyn DiffEngine>>,
    native_default: Option<&'static str>,
}

/// The engine chosen for a write, and why others were passed over.
#[derive(Clone, Debug)]
pub struct EngineChoice {
    /// The engine to encode with.
    pub engine: Arc<dyn DiffEngine>,
    /// One line per engine that was preferred but could not take this input.
    pub passed_over: Vec<String>,
}

impl EngineSet {
    /// Engines in order of preference. The first one is the default for writes.
    pub fn new(engines: Vec<Arc<dyn DiffEngine>>) -> Self {
        EngineSet {
            engines,
            native_default: None,
        }
    }

    /// Makes the engine called `name` the default for dg's native format (the first engine
    /// stays the default for Python deltaglider's format, whose deltas must be VCDIFF). When it
    /// cannot take an input, the others are tried in order.
    pub fn with_native_default(mut self, name: &'static str) -> Self {
        self.native_default = Some(name);
        self
    }

    /// The default engine's name for dg's native format.
    pub fn native_default(&self) -> Option<&'static str> {
        self.native_default
            .filter(|n| self.by_name(n).is_some())
            .or_else(|| self.engines.first().map(|e| e.name()))
    }

    /// The first engine, when it is not `name`: what a native write falls back to.
    pub fn fallback(&self, name: &str) -> Option<Arc<dyn DiffEngine>> {
        self.engines.first().filter(|e| e.name() != name).cloned()
    }

    /// [`EngineSet::choose`] for dg's native format: `wanted`, else the native default.
    pub fn choose_native(
        &self,
        wanted: Option<&str>,
        reference_len: u64,
        target_len: u64,
    ) -> Result<EngineChoice> {
        self.choose(wanted.or(self.native_default()), reference_len, target_len)
    }

    /// The engines' names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.engines.iter().map(|e| e.name()).collect()
    }

    /// The engine called `name`.
    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn DiffEngine>> {
        self.engines.iter().find(|e| e.name() == name)
    }

    /// Picks the engine to encode `target_len` bytes against `reference_len` bytes: the one named
    /// `wanted` (or the default) when it can, else the next one that can, else `Unsupported`.
    pub fn choose(
        &self,
        wanted: Option<&str>,
        reference_len: u64,
        target_len: u64,
    ) -> Result<EngineChoice> {
        let first = match wanted {
            Some(name) => self.by_name(name).cloned().ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown engine `{name}`; available: {}",
                    self.names().join(", ")
                ))
            })?,
            None => self
                .engines
                .first()
                .cloned()
                .ok_or_else(|| Error::Unsupported {
                    what: "delta storage without any diff engine".into(),
                })?,
        };
        let mut passed_over = Vec::new();
        let order =
            std::iter::once(&first).chain(self.engines.iter().filter(|e| e.name() != first.name()));
        for engine in order {
            match engine.supports(reference_len, target_len) {
                Ok(()) => {
                    return Ok(EngineChoice {
                        engine: engine.clone(),
                        passed_over,
                    })
                }
                Err(why) => passed_over.push(format!("{}: {why}", engine.name())),
            }
        }
        Err(Error::Unsupported {
            what: format!(
                "a delta of a {target_len}-byte file against a {reference_len}-byte reference by any engine ({})",
                passed_over.join("; ")
            ),
        })
    }

    /// The engine whose format the delta starting with `prefix` is in.
    pub fn for_delta(&self, prefix: &[u8]) -> Option<&Arc<dyn DiffEngine>> {
        self.engines.iter().find(|e| e.recognizes(prefix))
    }
}

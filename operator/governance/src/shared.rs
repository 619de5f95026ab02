//! The engine in force, shared by the tasks that decide (webhook handlers, reconcilers)
//! and swapped whole when policies change.

use crate::Engine;
use std::sync::{Arc, RwLock};

/// An [`Engine`] that can be replaced while others read it.
#[derive(Default)]
pub struct SharedEngine {
    engine: RwLock<Arc<Engine>>,
}

impl SharedEngine {
    /// Holds `engine`.
    pub fn new(engine: Engine) -> Self {
        SharedEngine {
            engine: RwLock::new(Arc::new(engine)),
        }
    }

    /// The engine in force.
    pub fn engine(&self) -> Arc<Engine> {
        // A poisoned lock only means a writer panicked between two whole engines.
        self.engine
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Puts a new engine in force.
    pub fn replace_engine(&self, engine: Engine) {
        *self.engine.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(engine);
    }
}

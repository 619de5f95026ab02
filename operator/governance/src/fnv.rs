//! FNV-1a: a fast hash for the short strings (field names) hot paths key on. Not
//! resistant to crafted collisions, which only cost time here, never correctness.

use std::hash::{BuildHasherDefault, Hasher};

/// The hasher.
#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Build FNV hashers for `HashMap`/`HashSet`.
pub type BuildFnv = BuildHasherDefault<Fnv>;

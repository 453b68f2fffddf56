//! ixsim-core: every participant of the modelled contact-center cluster as a sans-IO state
//! machine, plus the wire protocol and codec they speak.
//!
//! Architecture invariant: nothing here does I/O, reads a clock, spawns a thread or draws
//! randomness other than from a seeded RNG handed in at construction. Time arrives as `now`.

pub mod buggify;
pub mod clients;
pub mod codec;
pub mod db;
pub mod ha;
pub mod ids;
pub mod is_node;
pub mod kv;
pub mod license;
pub mod machine;
pub mod marks;
pub mod ors;
pub mod protocol;
pub mod proxy;
pub mod trace;
pub mod urs;

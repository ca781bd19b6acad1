//! Synthetic data for benchmarks and demos: the `trades` table of SPEC §9
//! (`velo gen trades`).
//!
//! `gen` is a reserved word in Rust 2024, so the crate root mounts this folder under
//! another name (`velostream::datagen`).

pub mod trades;

pub use trades::{TradesGenerator, write_trades};

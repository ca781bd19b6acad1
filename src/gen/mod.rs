//! Synthetic data for benchmarks and demos: the `trades` table of SPEC §9
//! (`velo gen trades`).
//!
//! The module is `r#gen` because `gen` is a reserved keyword in Rust 2024:
//! `use velostream::r#gen::TradesGenerator;`.

pub mod trades;

pub use trades::{TradesGenerator, write_trades};

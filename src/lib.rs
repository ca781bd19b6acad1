//! # velostream
//!
//! An embeddable, Apache-Arrow-native, vectorized **streaming SQL engine**. Records
//! arrive as Arrow [`RecordBatch`](arrow::array::RecordBatch)es (from Arrow IPC files and
//! streams, CSV, or pushed by a host program); results leave as record batches.
//!
//! The primary types are [`Engine`] (compiles SQL) and [`Query`] (a running query: push
//! batches in, take result batches out), configured by [`QueryOptions`]; every failure
//! is an [`Error`].
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Float64Array, RecordBatch, StringArray};
//! use arrow::datatypes::{DataType, Field, Schema};
//! use velostream::{Engine, QueryOptions};
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("symbol", DataType::Utf8, false),
//!     Field::new("price", DataType::Float64, false),
//! ]));
//! let engine = Engine::with_partitions(2);
//! let mut q = engine.query(
//!     "SELECT symbol, price * 2 AS doubled FROM trades WHERE price > 100",
//!     &[("trades", schema.clone())],
//!     QueryOptions::default(),
//! )?;
//! let batch = RecordBatch::try_new(schema, vec![
//!     Arc::new(StringArray::from(vec!["A", "B"])),
//!     Arc::new(Float64Array::from(vec![99.0, 120.0])),
//! ])?;
//! let out = q.push("trades", batch)?;
//! assert_eq!(out[0].num_rows(), 1);
//! q.finish()?;
//! # Ok::<(), velostream::Error>(())
//! ```
//!
//! ## Data flow
//!
//! Folders follow the path of a batch:
//!
//! ```text
//!  io::open_source ──▶ (io::rechunk) ──▶ Query::push_batches ─────────────▶ io::Sink
//!   IPC file (mmap,                        │
//!   zero-copy), IPC stream,                ▼
//!   CSV                          exec::FilterProject  (expr:: kernels, one pass per
//!                                 WHERE mask → filter   operator per batch; batches in
//!                                 needed columns →      parallel on rayon, order kept)
//!                                 SELECT expressions
//!                                        │ OVER (...) calls: exec::AnalyticOperator
//!                                        ▼ (keys interned, rows dealt to owner threads by
//!                                          key; analytic:: kernels keep the last n rows
//!                                          per key) → one result column per call
//!
//!  SQL text ─▶ sql:: (pre-pass for WINDOW / EMIT / WITH / TVF / ROWS WINDOW BUFFER,
//!              then sqlparser) ─▶ plan:: (names, types, casts) ─▶ exec::PhysicalPlan
//! ```
#![warn(missing_docs)]

pub mod aggregate;
pub mod analytic;
pub mod bench;
pub mod config;
pub mod datagen;
pub mod engine;
pub mod error;
pub mod exec;
pub mod expr;
pub mod io;
pub mod plan;
pub mod simd;
pub mod sql;

pub use config::QueryOptions;
pub use engine::{Engine, ResultIter};
pub use error::{Error, Result};
pub use exec::{AnalyticSplit, Metrics, Query};

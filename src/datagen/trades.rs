//! The `trades` generator: deterministic rows of (ts, trader_id, symbol, price,
//! quantity), built a column at a time.
//!
//! Row `i` depends only on `(seed, i)`: its random values come from a counter-based
//! generator (the SplitMix64 output function applied to `key + n·γ`, with `n = 3i + k`
//! for the k-th random value of the row), so the data is the same whatever the batch size
//! and batches can be built in parallel.
//!
//! ```text
//!   row i:  ts        = 1_700_000_000_000 + i (+ jitter in [0, D] ms)   Timestamp(ms)
//!           trader_id = "TRADER{i % 20}"                                 Utf8
//!           symbol    = "SYM{(i / 20) % 10}"                             Utf8
//!           price     ∈ [100, 150)                                       Float64
//!           quantity  ∈ [100, 1100]                                      Int64
//! ```

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use indicatif::ProgressBar;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::io::{Format, open_sink};

/// Event time of row 0: 2023-11-14T22:13:20Z, in milliseconds.
pub const BASE_TS_MS: i64 = 1_700_000_000_000;
/// Distinct traders (`TRADER0` … `TRADER19`).
pub const TRADERS: u64 = 20;
/// Distinct symbols (`SYM0` … `SYM9`).
pub const SYMBOLS: u64 = 10;
/// Largest batch the generator builds: keeps the string offsets (at most 8 bytes a row)
/// far inside `i32`.
pub const MAX_BATCH_ROWS: usize = 1 << 26;

const PRICE_MIN: f64 = 100.0;
const PRICE_SPAN: f64 = 50.0;
const QUANTITY_MIN: i64 = 100;
const QUANTITY_VALUES: u64 = 1001;

/// SplitMix64's increment (2^64 / φ).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective 64-bit mixer.
#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random values of one row, from the counter-based stream of `key`.
#[derive(Debug, Clone, Copy)]
struct RowRandom {
    key: u64,
}

impl RowRandom {
    fn new(seed: u64) -> Self {
        RowRandom {
            key: mix64(seed.wrapping_add(GAMMA)),
        }
    }

    /// The `k`-th random word of row `i` (k < 3).
    #[inline]
    fn word(self, i: u64, k: u64) -> u64 {
        let n = i.wrapping_mul(3).wrapping_add(k).wrapping_add(1);
        mix64(self.key.wrapping_add(n.wrapping_mul(GAMMA)))
    }

    /// Uniform in [100, 150): 45 random bits, so `100 + 50·u` is exact and below 150.
    #[inline]
    fn price(self, i: u64) -> f64 {
        let u = (self.word(i, 0) >> 19) as f64 * (1.0 / (1u64 << 45) as f64);
        PRICE_MIN + PRICE_SPAN * u
    }

    /// Uniform integer in [100, 1100] (multiply-high: no modulo bias worth mentioning).
    #[inline]
    fn quantity(self, i: u64) -> i64 {
        QUANTITY_MIN + ((self.word(i, 1) as u128 * QUANTITY_VALUES as u128) >> 64) as i64
    }

    /// Uniform integer in [0, disorder_ms].
    #[inline]
    fn jitter(self, i: u64, disorder_ms: u64) -> u64 {
        ((self.word(i, 2) as u128 * (disorder_ms as u128 + 1)) >> 64) as u64
    }
}

/// A string column whose value depends only on `i % cycle`: the distinct values, laid
/// out once.
#[derive(Debug)]
struct CyclicStrings {
    values: Vec<&'static [u8]>,
    /// Row index → value index: `(i / divisor) % values.len()`.
    divisor: u64,
}

impl CyclicStrings {
    fn build(&self, start: u64, len: usize) -> StringArray {
        let max_len = self.values.iter().map(|v| v.len()).max().unwrap_or(0);
        let mut offsets: Vec<i32> = Vec::with_capacity(len + 1);
        let mut bytes: Vec<u8> = Vec::with_capacity(len * max_len);
        offsets.push(0);
        let count = self.values.len() as u64;
        for i in start..start + len as u64 {
            let value = self.values[((i / self.divisor) % count) as usize];
            bytes.extend_from_slice(value);
            // At most MAX_BATCH_ROWS · 8 bytes < 2^31: no overflow.
            offsets.push(bytes.len() as i32);
        }
        // SAFETY: `offsets` start at 0 and never decrease, the last one is `bytes.len()`,
        // and every value is ASCII, so the array is valid UTF-8 at every boundary. The
        // checked constructor would re-validate all of it (a second pass over the column).
        unsafe {
            StringArray::new_unchecked(
                OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)),
                Buffer::from_vec(bytes),
                None,
            )
        }
    }
}

/// Generates the `trades` table (SPEC §9) in batches.
#[derive(Debug)]
pub struct TradesGenerator {
    rows: u64,
    batch_size: usize,
    disorder_ms: u64,
    random: RowRandom,
    next_row: u64,
    schema: SchemaRef,
    traders: CyclicStrings,
    symbols: CyclicStrings,
}

impl TradesGenerator {
    /// `rows` rows in batches of `batch_size` (clamped to 1..=[`MAX_BATCH_ROWS`]), from
    /// `seed`, with event times jittered by up to `disorder_ms`.
    pub fn new(rows: u64, batch_size: usize, seed: u64, disorder_ms: u64) -> Self {
        TradesGenerator {
            rows: rows.min(i64::MAX as u64),
            batch_size: batch_size.clamp(1, MAX_BATCH_ROWS),
            disorder_ms,
            random: RowRandom::new(seed),
            next_row: 0,
            schema: Self::schema(),
            traders: CyclicStrings {
                values: TRADER_NAMES.iter().map(|s| s.as_bytes()).collect(),
                divisor: 1,
            },
            symbols: CyclicStrings {
                values: SYMBOL_NAMES.iter().map(|s| s.as_bytes()).collect(),
                divisor: TRADERS,
            },
        }
    }

    /// The schema: ts, trader_id, symbol, price, quantity, all non-nullable.
    pub fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
            Field::new("trader_id", DataType::Utf8, false),
            Field::new("symbol", DataType::Utf8, false),
            Field::new("price", DataType::Float64, false),
            Field::new("quantity", DataType::Int64, false),
        ]))
    }

    /// Total rows this generator yields.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The batch of rows `start .. start + len` (any range: batches are independent).
    pub fn batch_at(&self, start: u64, len: usize) -> RecordBatch {
        let random = self.random;
        let end = start + len as u64;
        let ts: Vec<i64> = if self.disorder_ms == 0 {
            (start..end)
                .map(|i| BASE_TS_MS.saturating_add(i as i64))
                .collect()
        } else {
            let disorder_ms = self.disorder_ms;
            (start..end)
                .map(|i| {
                    let jitter = random.jitter(i, disorder_ms).min(i64::MAX as u64) as i64;
                    BASE_TS_MS.saturating_add(i as i64).saturating_add(jitter)
                })
                .collect()
        };
        let price: Vec<f64> = (start..end).map(|i| random.price(i)).collect();
        let quantity: Vec<i64> = (start..end).map(|i| random.quantity(i)).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::new(ScalarBuffer::from(ts), None)),
            Arc::new(self.traders.build(start, len)),
            Arc::new(self.symbols.build(start, len)),
            Arc::new(Float64Array::new(ScalarBuffer::from(price), None)),
            Arc::new(Int64Array::new(ScalarBuffer::from(quantity), None)),
        ];
        RecordBatch::try_new(self.schema.clone(), columns)
            .expect("generated columns match the generator's own schema and length")
    }
}

const TRADER_NAMES: [&str; TRADERS as usize] = [
    "TRADER0", "TRADER1", "TRADER2", "TRADER3", "TRADER4", "TRADER5", "TRADER6", "TRADER7",
    "TRADER8", "TRADER9", "TRADER10", "TRADER11", "TRADER12", "TRADER13", "TRADER14", "TRADER15",
    "TRADER16", "TRADER17", "TRADER18", "TRADER19",
];

const SYMBOL_NAMES: [&str; SYMBOLS as usize] = [
    "SYM0", "SYM1", "SYM2", "SYM3", "SYM4", "SYM5", "SYM6", "SYM7", "SYM8", "SYM9",
];

impl Iterator for TradesGenerator {
    type Item = RecordBatch;

    fn next(&mut self) -> Option<RecordBatch> {
        if self.next_row >= self.rows {
            return None;
        }
        let len = (self.rows - self.next_row).min(self.batch_size as u64) as usize;
        let batch = self.batch_at(self.next_row, len);
        self.next_row += len as u64;
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.rows - self.next_row).div_ceil(self.batch_size as u64);
        let left = usize::try_from(left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

/// Generates `rows` trades and writes them to `path` (`-` = stdout) in `format` (else by
/// extension), advancing `progress` by the rows written. Batches are built in parallel
/// on the rayon pool and written in order. Returns the rows written.
///
/// # Errors
/// [`Error::Plan`] for a zero batch size or an unknown output format; the sink's errors
/// otherwise (the target file is untouched unless everything was written).
pub fn write_trades(
    path: &str,
    format: Option<Format>,
    rows: u64,
    batch_size: usize,
    seed: u64,
    disorder_ms: u64,
    progress: Option<&ProgressBar>,
) -> Result<u64> {
    if batch_size == 0 {
        return Err(Error::plan("batch size must be at least 1 row"));
    }
    let generator = TradesGenerator::new(rows, batch_size, seed, disorder_ms);
    let mut sink = open_sink(Some(path), format, TradesGenerator::schema())?;
    let batch_size = generator.batch_size as u64;
    // Build a few batches per thread at a time: enough to keep every core busy, few
    // enough that memory stays at a handful of batches.
    let group = (rayon::current_num_threads() * 2).max(1) as u64;
    let mut start = 0u64;
    while start < generator.rows {
        let starts: Vec<u64> = (0..group)
            .map(|k| start + k * batch_size)
            .take_while(|&s| s < generator.rows)
            .collect();
        let batches: Vec<RecordBatch> = starts
            .par_iter()
            .map(|&s| generator.batch_at(s, (generator.rows - s).min(batch_size) as usize))
            .collect();
        for batch in &batches {
            sink.write(batch)?;
            if let Some(progress) = progress {
                progress.inc(batch.num_rows() as u64);
            }
        }
        start = starts.last().map_or(generator.rows, |&s| s + batch_size);
    }
    sink.finish()?;
    Ok(generator.rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Instant;

    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
    use arrow_select::concat::concat_batches;

    use crate::io::open_source;

    fn all_rows(rows: u64, batch_size: usize, seed: u64, disorder_ms: u64) -> RecordBatch {
        let batches: Vec<RecordBatch> =
            TradesGenerator::new(rows, batch_size, seed, disorder_ms).collect();
        concat_batches(&TradesGenerator::schema(), &batches).unwrap()
    }

    #[test]
    fn same_seed_same_rows_whatever_the_batch_size() {
        let reference = all_rows(5000, 5000, 42, 30);
        for batch_size in [1, 7, 1000, 4999, 8192] {
            assert_eq!(
                all_rows(5000, batch_size, 42, 30),
                reference,
                "{batch_size}"
            );
        }
        // Any range can be built on its own.
        let generator = TradesGenerator::new(5000, 100, 42, 30);
        assert_eq!(generator.batch_at(1234, 10), reference.slice(1234, 10));
        // Another seed, other values.
        assert_ne!(all_rows(5000, 5000, 43, 30).column(3), reference.column(3));
    }

    #[test]
    fn batches_have_the_batch_size_and_the_schema() {
        let sizes: Vec<usize> = TradesGenerator::new(10, 4, 1, 0)
            .map(|b| b.num_rows())
            .collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        assert_eq!(TradesGenerator::new(10, 4, 1, 0).size_hint(), (3, Some(3)));
        assert_eq!(TradesGenerator::new(0, 4, 1, 0).count(), 0);
        // A zero batch size is taken as 1, not an endless loop.
        assert_eq!(TradesGenerator::new(3, 0, 1, 0).count(), 3);

        let schema = TradesGenerator::schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["ts", "trader_id", "symbol", "price", "quantity"]);
        assert!(schema.fields().iter().all(|f| !f.is_nullable()));
        let batch = TradesGenerator::new(3, 3, 1, 0).next().unwrap();
        assert_eq!(batch.schema(), schema);
        assert!(batch.columns().iter().all(|c| c.null_count() == 0));
    }

    #[test]
    fn keys_and_times_follow_the_row_number() {
        let batch = all_rows(1000, 333, 7, 0);
        let ts = batch.column(0).as_primitive::<TimestampMillisecondType>();
        let traders = batch.column(1).as_string::<i32>();
        let symbols = batch.column(2).as_string::<i32>();
        for i in 0..1000usize {
            assert_eq!(ts.value(i), BASE_TS_MS + i as i64);
            assert_eq!(traders.value(i), format!("TRADER{}", i % 20));
            assert_eq!(symbols.value(i), format!("SYM{}", (i / 20) % 10));
        }
    }

    #[test]
    fn prices_and_quantities_cover_their_ranges() {
        let batch = all_rows(200_000, 8192, 3, 0);
        let price = batch.column(3).as_primitive::<Float64Type>().values();
        let quantity = batch.column(4).as_primitive::<Int64Type>().values();
        assert!(price.iter().all(|p| (100.0..150.0).contains(p)));
        assert!(quantity.iter().all(|q| (100..=1100).contains(q)));
        // Uniform: both ends of the quantity range occur, and the means are central.
        assert_eq!(quantity.iter().min(), Some(&100));
        assert_eq!(quantity.iter().max(), Some(&1100));
        let mean_price = price.iter().sum::<f64>() / price.len() as f64;
        let mean_quantity = quantity.iter().sum::<i64>() as f64 / quantity.len() as f64;
        assert!((mean_price - 125.0).abs() < 0.5, "{mean_price}");
        assert!((mean_quantity - 600.0).abs() < 5.0, "{mean_quantity}");
        assert!(price.iter().any(|p| *p < 100.5) && price.iter().any(|p| *p > 149.5));
    }

    #[test]
    fn the_largest_price_stays_below_150() {
        let random = RowRandom { key: 0 };
        // The largest 45-bit fraction.
        let u = ((u64::MAX >> 19) as f64) * (1.0 / (1u64 << 45) as f64);
        assert!(PRICE_MIN + PRICE_SPAN * u < 150.0);
        assert!((100.0..150.0).contains(&random.price(0)));
    }

    #[test]
    fn disorder_jitters_within_its_bound() {
        let disorder_ms = 5;
        let batch = all_rows(10_000, 999, 11, disorder_ms);
        let ts = batch.column(0).as_primitive::<TimestampMillisecondType>();
        let mut seen = [false; 6];
        for i in 0..10_000usize {
            let jitter = ts.value(i) - (BASE_TS_MS + i as i64);
            assert!(
                (0..=disorder_ms as i64).contains(&jitter),
                "row {i}: {jitter}"
            );
            seen[jitter as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "{seen:?}");
        // The rows really are out of order.
        assert!((1..10_000).any(|i| ts.value(i) < ts.value(i - 1)));
        // A huge disorder saturates instead of overflowing.
        let batch = TradesGenerator::new(100, 100, 1, u64::MAX).next().unwrap();
        let ts = batch.column(0).as_primitive::<TimestampMillisecondType>();
        assert!(ts.values().iter().all(|t| *t >= BASE_TS_MS));
    }

    #[test]
    fn write_trades_writes_what_the_generator_yields() {
        let dir = tempfile::tempdir().unwrap();
        let progress = ProgressBar::hidden();
        for name in ["t.arrow", "t.arrows", "t.csv"] {
            let path = dir.path().join(name);
            let path = path.to_str().unwrap();
            let written = write_trades(path, None, 20_000, 3000, 9, 10, Some(&progress)).unwrap();
            assert_eq!(written, 20_000);
            let source = open_source(path, None).unwrap();
            let schema = source.schema();
            let batches: Vec<RecordBatch> = source.collect::<Result<_>>().unwrap();
            let back = concat_batches(&schema, &batches).unwrap();
            assert_eq!(back.num_rows(), 20_000, "{name}");
            if name != "t.csv" {
                assert_eq!(back, all_rows(20_000, 20_000, 9, 10), "{name}");
                assert_eq!(batches.len(), 7, "{name}");
            }
        }
        assert_eq!(progress.position(), 60_000);
        let path = dir.path().join("x.arrow");
        let err = write_trades(path.to_str().unwrap(), None, 10, 0, 1, 0, None).unwrap_err();
        assert!(matches!(err, Error::Plan(_)), "{err:?}");
        assert!(!path.exists());
    }

    /// Speed of generation, of writing an IPC file, and of reading it back through the
    /// memory map. Run with
    /// `cargo test --release --lib measure_speed -- --ignored --nocapture`
    /// (rows from `VELO_MEASURE_ROWS`, default 10 M).
    #[test]
    #[ignore = "measurement, not a test: run in release mode"]
    fn measure_speed() {
        let rows: u64 = std::env::var("VELO_MEASURE_ROWS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(10_000_000);
        let batch_size = 8192;
        let rate = |rows: u64, seconds: f64| rows as f64 / seconds / 1e6;

        let start = Instant::now();
        let generated: usize = TradesGenerator::new(rows, batch_size, 1, 0)
            .map(|b| b.num_rows())
            .sum();
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "generate (1 thread):      {generated} rows in {seconds:.3} s = {:.1} M rows/s",
            rate(rows, seconds)
        );

        let dir = match std::env::var("VELO_MEASURE_DIR") {
            Ok(dir) => tempfile::tempdir_in(dir).unwrap(),
            Err(_) => tempfile::tempdir().unwrap(),
        };
        let path = dir.path().join("trades.arrow");
        let path = path.to_str().unwrap();
        let start = Instant::now();
        write_trades(path, None, rows, batch_size, 1, 0, None).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let bytes = std::fs::metadata(path).unwrap().len();
        println!(
            "generate + write IPC:     {rows} rows, {:.0} MB in {seconds:.3} s = {:.1} M rows/s",
            bytes as f64 / 1e6,
            rate(rows, seconds)
        );

        for pass in ["first", "second", "third"] {
            let start = Instant::now();
            let source = open_source(path, None).unwrap();
            let opened = start.elapsed().as_secs_f64();
            let read: usize = source.map(|b| b.unwrap().num_rows()).sum();
            let seconds = start.elapsed().as_secs_f64();
            println!(
                "mmap read ({pass}):        {read} rows in {seconds:.3} s (open {:.1} ms) = {:.0} M rows/s",
                opened * 1e3,
                rate(rows, seconds)
            );
        }

        // The share of a read that is validation: ours, and arrow's for comparison.
        let batches: Vec<RecordBatch> = open_source(path, None)
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
        let schema = TradesGenerator::schema();
        let start = Instant::now();
        for batch in &batches {
            crate::io::ipc_validate::validate_batch(batch, &schema, batch.num_rows()).unwrap();
        }
        let ours = start.elapsed().as_secs_f64();
        let start = Instant::now();
        for batch in &batches {
            for column in batch.columns() {
                column.to_data().validate_full().unwrap();
            }
        }
        let arrows = start.elapsed().as_secs_f64();
        println!("  of which validate_batch:  {ours:.3} s (arrow's validate_full: {arrows:.3} s)");
        drop(batches);
        let start = Instant::now();
        let file = std::fs::File::open(path).unwrap();
        let reader = arrow::ipc::reader::FileReader::try_new(file, None).unwrap();
        let read: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "arrow FileReader (copy):  {read} rows in {seconds:.3} s = {:.0} M rows/s",
            rate(rows, seconds)
        );
    }
}

//! A human-readable table of the results (arrow's pretty printer), holding only the first
//! and last rows of a large result so memory stays bounded.
//!
//! ```text
//!   batches ─▶ head: first max_rows rows (copied)          ─▶ finish: ≤ max_rows rows → whole table, "12 rows"
//!          └─▶ tail: last max_rows/2 rows (copied, rolling)            > max_rows     → head ⋮ tail,
//!                                                                         "6000 rows (40 shown), 4 columns"
//! ```

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow::util::pretty::pretty_format_batches;
use arrow_select::take::take_record_batch;

use super::sink::Sink;
use super::{arrow_error, io_error};
use crate::error::{Error, Result};

/// Rows shown by default: the first 20 and the last 20.
pub const DEFAULT_TABLE_ROWS: usize = 40;

/// How a NULL reads in the table (an empty cell would look like an empty string).
const NULL_TEXT: &str = "NULL";

/// The filler row between the head and the tail of a large result.
const ELLIPSIS: &str = "⋮";

/// Writes results as a pretty table to `W` when finished.
#[derive(Debug)]
pub struct TableSink<W: Write + Send> {
    writer: W,
    label: PathBuf,
    schema: SchemaRef,
    max_rows: usize,
    /// Copies of the first rows, at most `max_rows` in all.
    head: Vec<RecordBatch>,
    head_rows: usize,
    /// Copies of the latest rows; at least the last `tail_target()` rows once that many
    /// were seen, and at most about twice that.
    tail: VecDeque<RecordBatch>,
    tail_rows: usize,
    total_rows: u64,
}

impl<W: Write + Send> TableSink<W> {
    /// A table of at most `max_rows` rows (the first `max_rows - max_rows / 2` and the
    /// last `max_rows / 2` of a larger result) written to `writer` on finish.
    pub fn new(writer: W, schema: SchemaRef, max_rows: usize) -> Self {
        TableSink {
            writer,
            label: PathBuf::from("-"),
            schema,
            max_rows,
            head: Vec::new(),
            head_rows: 0,
            tail: VecDeque::new(),
            tail_rows: 0,
            total_rows: 0,
        }
    }

    /// Names the output in error messages (default `-`, stdout).
    pub fn with_label(mut self, label: impl AsRef<Path>) -> Self {
        self.label = label.as_ref().to_path_buf();
        self
    }

    fn tail_target(&self) -> usize {
        self.max_rows / 2
    }

    /// Takes the rows of `batch` the table may show.
    ///
    /// # Errors
    /// [`Error::Execution`] if the batch's columns do not match the schema.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_columns() != self.schema.fields().len() {
            return Err(Error::execution(format!(
                "table output: a batch has {} columns, the result schema {}",
                batch.num_columns(),
                self.schema.fields().len()
            )));
        }
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        self.total_rows += rows as u64;
        if self.head_rows < self.max_rows {
            let take = rows.min(self.max_rows - self.head_rows);
            self.head.push(copy_rows(batch, 0, take)?);
            self.head_rows += take;
        }
        let tail_target = self.tail_target();
        if tail_target > 0 {
            let take = rows.min(tail_target);
            self.tail.push_back(copy_rows(batch, rows - take, take)?);
            self.tail_rows += take;
            while let Some(front) = self.tail.front() {
                if self.tail_rows - front.num_rows() < tail_target {
                    break;
                }
                self.tail_rows -= front.num_rows();
                self.tail.pop_front();
            }
        }
        Ok(())
    }

    /// Writes the table and its footer, flushes, and returns the writer.
    ///
    /// # Errors
    /// [`Error::Io`] for a closed stdout pipe; [`Error::Input`] for other write errors.
    pub fn into_inner(mut self) -> Result<W> {
        let text = self.render()?;
        self.writer
            .write_all(text.as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|e| io_error(&self.label, "cannot write", e))?;
        Ok(self.writer)
    }

    /// The table and footer as text.
    fn render(&self) -> Result<String> {
        let columns = self.schema.fields().len();
        let whole = self.total_rows <= self.max_rows as u64;
        // (batch, first row, row count) segments, in display order; `None` is the ⋮ row.
        let mut segments: Vec<Option<(&RecordBatch, usize, usize)>> = Vec::new();
        if whole {
            segments.extend(self.head.iter().map(|b| Some((b, 0, b.num_rows()))));
        } else {
            let mut head_left = self.max_rows - self.tail_target();
            for batch in &self.head {
                let take = batch.num_rows().min(head_left);
                if take > 0 {
                    segments.push(Some((batch, 0, take)));
                }
                head_left -= take;
            }
            segments.push(None);
            let mut skip = self.tail_rows.saturating_sub(self.tail_target());
            for batch in &self.tail {
                let drop = batch.num_rows().min(skip);
                skip -= drop;
                if batch.num_rows() > drop {
                    segments.push(Some((batch, drop, batch.num_rows() - drop)));
                }
            }
        }
        let shown: usize = segments.iter().flatten().map(|(_, _, n)| n).sum();

        let mut text = String::new();
        if columns > 0 {
            let options = FormatOptions::default().with_null(NULL_TEXT);
            let mut cells: Vec<Vec<String>> = vec![Vec::new(); columns];
            for segment in &segments {
                for (column, out) in cells.iter_mut().enumerate() {
                    match segment {
                        None => out.push(ELLIPSIS.to_string()),
                        Some((batch, start, len)) => {
                            let array = batch.column(column);
                            let formatter = ArrayFormatter::try_new(array.as_ref(), &options)
                                .map_err(|e| arrow_error(&self.label, "cannot format", e))?;
                            for row in *start..start + len {
                                out.push(formatter.value(row).to_string());
                            }
                        }
                    }
                }
            }
            let fields: Vec<Field> = self
                .schema
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), DataType::Utf8, true))
                .collect();
            let arrays: Vec<ArrayRef> = cells
                .into_iter()
                .map(|column| Arc::new(StringArray::from(column)) as ArrayRef)
                .collect();
            let table = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
                .and_then(|batch| pretty_format_batches(&[batch]))
                .map_err(|e| arrow_error(&self.label, "cannot format", e))?;
            text.push_str(&table.to_string());
            text.push('\n');
        }
        let plural = |n: u64, word: &str| {
            if n == 1 {
                format!("1 {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        if whole {
            text.push_str(&plural(self.total_rows, "row"));
        } else {
            text.push_str(&format!(
                "{} ({shown} shown), {}",
                plural(self.total_rows, "row"),
                plural(columns as u64, "column")
            ));
        }
        text.push('\n');
        Ok(text)
    }
}

/// A compact copy of `len` rows from `start`: a slice would keep the whole batch alive.
fn copy_rows(batch: &RecordBatch, start: usize, len: usize) -> Result<RecordBatch> {
    let indices = UInt64Array::from_iter_values((start..start + len).map(|i| i as u64));
    Ok(take_record_batch(batch, &indices)?)
}

impl<W: Write + Send> Sink for TableSink<W> {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write_batch(batch)
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.into_inner().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::io::is_broken_pipe;
    use crate::io::test_data::*;

    fn render(batch_sizes: &[usize], max_rows: usize) -> String {
        let buffer = SharedBuffer::default();
        let mut sink = TableSink::new(buffer.clone(), plain_schema(), max_rows);
        for batch in plain_batches(batch_sizes) {
            sink.write_batch(&batch).unwrap();
        }
        sink.into_inner().unwrap();
        buffer.text()
    }

    /// The `qty` cells of the table's data lines, in order (`None` for the ⋮ row).
    fn qty_cells(text: &str) -> Vec<Option<i64>> {
        text.lines()
            .filter(|line| line.starts_with('|') && !line.contains("qty"))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                cells[4].parse().ok()
            })
            .collect()
    }

    #[test]
    fn a_small_result_is_shown_whole() {
        let text = render(&[5, 7], DEFAULT_TABLE_ROWS);
        let qty: Vec<Option<i64>> = (0..12).map(|i| Some(i * 3 - 40)).collect();
        assert_eq!(qty_cells(&text), qty, "{text}");
        assert!(text.trim_end().ends_with("\n12 rows"), "{text}");
        assert!(text.contains("| ts "), "{text}");
        assert!(text.contains("2023-11-14T22:13:21.001"), "{text}");
        assert!(text.contains("NULL"), "{text}");
        assert!(!text.contains(ELLIPSIS));
    }

    #[test]
    fn a_large_result_shows_its_first_and_last_rows() {
        let sizes = [1, 999, 3000, 7, 1993];
        let text = render(&sizes, DEFAULT_TABLE_ROWS);
        let mut expected: Vec<Option<i64>> = (0..20).map(|i| Some(i * 3 - 40)).collect();
        expected.push(None);
        expected.extend((5980..6000).map(|i| Some(i * 3 - 40)));
        assert_eq!(qty_cells(&text), expected, "{text}");
        assert!(text.contains(ELLIPSIS));
        assert!(
            text.trim_end().ends_with("6000 rows (40 shown), 4 columns"),
            "{text}"
        );
    }

    #[test]
    fn the_row_limit_is_configurable() {
        let text = render(&[3, 3, 4], 5);
        // 5 rows: the first 3 and the last 2.
        let expected = vec![Some(-40), Some(-37), Some(-34), None, Some(-16), Some(-13)];
        assert_eq!(qty_cells(&text), expected, "{text}");
        assert!(
            text.trim_end().ends_with("10 rows (5 shown), 4 columns"),
            "{text}"
        );
        // Exactly at the limit: whole.
        let text = render(&[5], 5);
        assert_eq!(qty_cells(&text).len(), 5);
        assert!(text.trim_end().ends_with("5 rows"), "{text}");
    }

    #[test]
    fn memory_stays_bounded() {
        let mut sink = TableSink::new(Vec::new(), plain_schema(), 40);
        for batch in plain_batches(&[3000; 10]) {
            sink.write_batch(&batch).unwrap();
            assert!(sink.head_rows <= 40);
            assert!(sink.tail_rows <= 2 * 20);
            // Copies, not slices of the 3000-row batches.
            for kept in sink.head.iter().chain(&sink.tail) {
                assert!(kept.get_array_memory_size() < 3000 * 8);
            }
        }
    }

    #[test]
    fn empty_and_one_row_results() {
        let text = render(&[], DEFAULT_TABLE_ROWS);
        assert!(text.contains("qty"), "{text}");
        assert!(text.trim_end().ends_with("0 rows"), "{text}");
        let text = render(&[1], DEFAULT_TABLE_ROWS);
        assert!(text.trim_end().ends_with("\n1 row"), "{text}");
    }

    #[test]
    fn a_closed_pipe_is_a_quiet_io_error() {
        let mut sink = TableSink::new(ClosedPipe, plain_schema(), 10);
        sink.write_batch(&plain_batch(0, 3)).unwrap();
        let err = sink.into_inner().unwrap_err();
        assert!(is_broken_pipe(&err), "{err:?}");
    }

    #[test]
    fn a_batch_with_other_columns_is_an_error() {
        let mut sink = TableSink::new(Vec::new(), plain_schema(), 10);
        let err = sink.write_batch(&dict_batch(0, 2)).unwrap_err();
        assert!(matches!(err, Error::Execution(_)), "{err:?}");
    }
}

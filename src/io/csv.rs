//! CSV input: a header row, column types inferred from the first rows, read batch by
//! batch.
//!
//! ```text
//!   file ─▶ infer schema (first INFER_SCHEMA_ROWS rows) ─▶ rewind ─▶ arrow-csv decoder ─▶ batches
//!   stdin ─▶ buffer the first rows ─▶ infer ─▶ (buffered rows ++ rest of stdin) ─▶ decoder
//! ```
//! Inference is arrow-csv's: integers, floats, booleans, dates and ISO-8601 timestamps
//! (`2023-11-14T22:13:20.001`) are recognised; anything else is a string; every column is
//! nullable.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use arrow::csv::reader::Format as CsvFormat;
use arrow::csv::{Reader, ReaderBuilder};
use arrow::datatypes::SchemaRef;

use super::decoded_source::DecodedSource;
use super::{arrow_error, io_error};
use crate::error::{Error, Result};

/// Rows read to infer the column types. Arrow's own default is all rows; 1000 keeps
/// start-up instant on large files while seeing past a few leading empty values.
pub const INFER_SCHEMA_ROWS: usize = 1000;

/// Reads a CSV file with a header row.
pub type CsvSource = DecodedSource<Reader<Box<dyn Read + Send>>>;

impl CsvSource {
    /// Opens the CSV file at `path`, inferring its schema.
    ///
    /// # Errors
    /// [`Error::Input`] if the file is missing, unreadable, empty or malformed.
    pub fn open(path: impl AsRef<Path>, batch_size: usize) -> Result<Self> {
        let path = path.as_ref();
        let mut file = File::open(path).map_err(|e| io_error(path, "", e))?;
        let (schema, _) = infer(path, &mut file)?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| io_error(path, "cannot rewind", e))?;
        Self::build(path, schema, Box::new(file), batch_size)
    }

    /// Reads CSV from `reader` (e.g. stdin), buffering the first rows to infer the
    /// schema; `path` names the input in errors.
    ///
    /// # Errors
    /// As for [`CsvSource::open`].
    pub fn from_reader(
        path: impl AsRef<Path>,
        reader: Box<dyn Read + Send>,
        batch_size: usize,
    ) -> Result<Self> {
        let path = path.as_ref();
        let mut reader = BufReader::new(reader);
        let sample =
            read_lines(&mut reader, INFER_SCHEMA_ROWS + 1).map_err(|e| io_error(path, "", e))?;
        let (schema, _) = infer(path, Cursor::new(&sample))?;
        let input: Box<dyn Read + Send> = Box::new(Cursor::new(sample).chain(reader));
        Self::build(path, schema, input, batch_size)
    }

    fn build(
        path: &Path,
        schema: arrow::datatypes::Schema,
        input: Box<dyn Read + Send>,
        batch_size: usize,
    ) -> Result<Self> {
        let schema = SchemaRef::new(schema);
        let reader = ReaderBuilder::new(schema.clone())
            .with_header(true)
            .with_batch_size(batch_size.max(1))
            .build(input)
            .map_err(|e| arrow_error(path, "cannot read CSV", e))?;
        Ok(DecodedSource::new(
            path.to_path_buf(),
            reader,
            schema,
            "CSV",
        ))
    }
}

/// Infers the schema from the header and the first [`INFER_SCHEMA_ROWS`] rows.
fn infer(path: &Path, input: impl Read) -> Result<(arrow::datatypes::Schema, usize)> {
    let (schema, rows) = CsvFormat::default()
        .with_header(true)
        .infer_schema(input, Some(INFER_SCHEMA_ROWS))
        .map_err(|e| arrow_error(path, "malformed CSV", e))?;
    if schema.fields().is_empty() {
        return Err(Error::input(path, "file is empty (no CSV header row)"));
    }
    Ok((schema, rows))
}

/// Reads up to `lines` lines (with their newlines) into memory.
pub(crate) fn read_lines(reader: &mut impl BufRead, lines: usize) -> std::io::Result<Vec<u8>> {
    let mut sample = Vec::new();
    for _ in 0..lines {
        if reader.read_until(b'\n', &mut sample)? == 0 {
            break;
        }
    }
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::PathBuf;

    use arrow::array::RecordBatch;

    use crate::io::BatchSource;

    use arrow::array::{Array, Int64Array};
    use arrow::datatypes::{DataType, TimeUnit};

    fn write_temp(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn numbered_rows(rows: usize) -> String {
        let mut text = String::from("id,label\n");
        for i in 0..rows {
            text.push_str(&format!("{i},l{i}\n"));
        }
        text
    }

    #[test]
    fn infers_column_types_including_timestamps() {
        let (_dir, path) = write_temp(
            "id,price,name,flag,ts\n\
             1,1.5,a,true,2023-11-14T22:13:20.001\n\
             2,,\"b, c\",false,2023-11-14T22:13:21.500\n",
        );
        let source = CsvSource::open(&path, DEFAULT_BATCH).unwrap();
        let types: Vec<DataType> = source
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            vec![
                DataType::Int64,
                DataType::Float64,
                DataType::Utf8,
                DataType::Boolean,
                DataType::Timestamp(TimeUnit::Millisecond, None),
            ]
        );
        let batches: Vec<RecordBatch> = source.collect::<Result<_>>().unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].num_rows(), 2);
        assert!(batches[0].column(1).is_null(1));
    }

    const DEFAULT_BATCH: usize = crate::io::DEFAULT_BATCH_SIZE;

    #[test]
    fn reads_in_batches_of_the_batch_size() {
        let (_dir, path) = write_temp(&numbered_rows(20_000));
        let sizes: Vec<usize> = CsvSource::open(&path, DEFAULT_BATCH)
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .collect();
        assert_eq!(sizes, vec![8192, 8192, 3616]);
    }

    #[test]
    fn reads_from_a_pipe_past_the_inference_sample() {
        let text = numbered_rows(INFER_SCHEMA_ROWS * 3);
        let source =
            CsvSource::from_reader("-", Box::new(Cursor::new(text.into_bytes())), 1000).unwrap();
        let mut next = 0i64;
        for batch in source {
            let batch = batch.unwrap();
            let ids = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            for id in ids.values() {
                assert_eq!(*id, next);
                next += 1;
            }
        }
        assert_eq!(next, (INFER_SCHEMA_ROWS * 3) as i64);
    }

    #[test]
    fn a_bad_value_after_the_sample_is_an_error_naming_the_file() {
        let mut text = numbered_rows(INFER_SCHEMA_ROWS + 10);
        text.push_str("oops,x\n");
        let (_dir, path) = write_temp(&text);
        let results: Vec<Result<RecordBatch>> =
            CsvSource::open(&path, DEFAULT_BATCH).unwrap().collect();
        let err = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        let message = err.to_string();
        assert!(message.contains("t.csv"), "{message}");
        assert!(message.contains("oops"), "{message}");
        // The error ends the source.
        assert!(results.last().unwrap().is_err());
    }

    #[test]
    fn a_row_with_too_many_fields_is_an_error() {
        let (_dir, path) = write_temp("a,b\n1,2\n3,4,5\n");
        let message = CsvSource::open(&path, DEFAULT_BATCH)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("malformed CSV") && message.contains("line 3"),
            "{message}"
        );
    }

    #[test]
    fn empty_and_missing_files_are_named() {
        let (_dir, path) = write_temp("");
        let message = CsvSource::open(&path, DEFAULT_BATCH)
            .unwrap_err()
            .to_string();
        assert!(message.contains("file is empty"), "{message}");
        let message = CsvSource::open("/no/such.csv", DEFAULT_BATCH)
            .unwrap_err()
            .to_string();
        assert!(message.contains("no such file"), "{message}");
    }
}

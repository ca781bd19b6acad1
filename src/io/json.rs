//! Newline-delimited JSON input: one object per line, schema inferred from the first
//! lines, read batch by batch (the same shape as [`csv`](super::csv)).

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::json::reader::{Reader, ReaderBuilder, infer_json_schema};

use super::csv::read_lines;
use super::source::BatchSource;
use super::{arrow_error, io_error};
use crate::error::{Error, Result};

/// Lines read to infer the schema (see [`INFER_SCHEMA_ROWS`](super::csv::INFER_SCHEMA_ROWS)).
pub const INFER_SCHEMA_LINES: usize = 1000;

/// Reads newline-delimited JSON.
pub struct JsonSource {
    path: PathBuf,
    reader: Reader<BufReader<Box<dyn Read + Send>>>,
    schema: SchemaRef,
    done: bool,
}

impl std::fmt::Debug for JsonSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSource")
            .field("path", &self.path)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl JsonSource {
    /// Opens the NDJSON file at `path`, inferring its schema.
    ///
    /// # Errors
    /// [`Error::Input`] if the file is missing, unreadable, empty or malformed.
    pub fn open(path: impl AsRef<Path>, batch_size: usize) -> Result<Self> {
        let path = path.as_ref();
        let mut file = File::open(path).map_err(|e| io_error(path, "", e))?;
        let schema = infer(path, BufReader::new(&mut file))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| io_error(path, "cannot rewind", e))?;
        Self::build(path, schema, Box::new(file), batch_size)
    }

    /// Reads NDJSON from `reader` (e.g. stdin), buffering the first lines to infer the
    /// schema; `path` names the input in errors.
    ///
    /// # Errors
    /// As for [`JsonSource::open`].
    pub fn from_reader(
        path: impl AsRef<Path>,
        reader: Box<dyn Read + Send>,
        batch_size: usize,
    ) -> Result<Self> {
        let path = path.as_ref();
        let mut reader = BufReader::new(reader);
        let sample =
            read_lines(&mut reader, INFER_SCHEMA_LINES).map_err(|e| io_error(path, "", e))?;
        let schema = infer(path, Cursor::new(&sample))?;
        let input: Box<dyn Read + Send> = Box::new(Cursor::new(sample).chain(reader));
        Self::build(path, schema, input, batch_size)
    }

    fn build(
        path: &Path,
        schema: Schema,
        input: Box<dyn Read + Send>,
        batch_size: usize,
    ) -> Result<Self> {
        let schema = SchemaRef::new(schema);
        let reader = ReaderBuilder::new(schema.clone())
            .with_batch_size(batch_size.max(1))
            .build(BufReader::new(input))
            .map_err(|e| arrow_error(path, "cannot read JSON", e))?;
        Ok(JsonSource {
            path: path.to_path_buf(),
            reader,
            schema,
            done: false,
        })
    }
}

fn infer(path: &Path, input: impl std::io::BufRead) -> Result<Schema> {
    let (schema, _) = infer_json_schema(input, Some(INFER_SCHEMA_LINES))
        .map_err(|e| arrow_error(path, "malformed JSON", e))?;
    if schema.fields().is_empty() {
        return Err(Error::input(path, "file is empty (no JSON objects)"));
    }
    Ok(schema)
}

impl Iterator for JsonSource {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.reader.next()? {
            Ok(batch) => Some(Ok(batch)),
            Err(e) => {
                self.done = true;
                Some(Err(arrow_error(&self.path, "malformed JSON", e)))
            }
        }
    }
}

impl BatchSource for JsonSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn total_rows(&self) -> Option<u64> {
        None
    }
}

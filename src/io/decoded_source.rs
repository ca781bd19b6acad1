//! A [`BatchSource`] over one of Arrow's text decoders (CSV, NDJSON): it names the file
//! in every decoding error and stops after the first one.

use std::path::PathBuf;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;

use super::arrow_error;
use super::source::BatchSource;
use crate::error::Result;

/// Batches from an Arrow decoder `R`, with errors naming `path`.
pub struct DecodedSource<R> {
    path: PathBuf,
    reader: R,
    schema: SchemaRef,
    /// "CSV" or "JSON", for messages.
    format: &'static str,
    done: bool,
}

impl<R> DecodedSource<R> {
    /// Wraps a decoder built for `schema`.
    pub(crate) fn new(path: PathBuf, reader: R, schema: SchemaRef, format: &'static str) -> Self {
        DecodedSource {
            path,
            reader,
            schema,
            format,
            done: false,
        }
    }
}

impl<R> std::fmt::Debug for DecodedSource<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedSource")
            .field("format", &self.format)
            .field("path", &self.path)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl<R> Iterator for DecodedSource<R>
where
    R: Iterator<Item = std::result::Result<RecordBatch, ArrowError>>,
{
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.reader.next()? {
            Ok(batch) => Some(Ok(batch)),
            Err(e) => {
                self.done = true;
                Some(Err(arrow_error(
                    &self.path,
                    &format!("malformed {}", self.format),
                    e,
                )))
            }
        }
    }
}

impl<R> BatchSource for DecodedSource<R>
where
    R: Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send,
{
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn total_rows(&self) -> Option<u64> {
        None
    }
}

//! Newline-delimited JSON input: one object per line, schema inferred from the first
//! lines, read batch by batch (the same shape as [`csv`](super::csv)).

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::json::reader::{Reader, ReaderBuilder, infer_json_schema};

use super::csv::read_lines;
use super::decoded_source::DecodedSource;
use super::{arrow_error, io_error};
use crate::error::{Error, Result};

/// Lines read to infer the schema (see [`INFER_SCHEMA_ROWS`](super::csv::INFER_SCHEMA_ROWS)).
pub const INFER_SCHEMA_LINES: usize = 1000;

/// Reads newline-delimited JSON.
pub type JsonSource = DecodedSource<Reader<BufReader<Box<dyn Read + Send>>>>;

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
        Ok(DecodedSource::new(
            path.to_path_buf(),
            reader,
            schema,
            "JSON",
        ))
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::io::BatchSource;

    use arrow::datatypes::DataType;

    #[test]
    fn reads_objects_with_inferred_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.ndjson");
        std::fs::write(
            &path,
            "{\"id\":1,\"name\":\"a\",\"price\":1.5}\n{\"id\":2,\"price\":2}\n\n{\"id\":3,\"name\":\"c\"}\n",
        )
        .unwrap();
        let source = JsonSource::open(&path, 2).unwrap();
        let schema = source.schema();
        assert_eq!(
            schema.field_with_name("id").unwrap().data_type(),
            &DataType::Int64
        );
        assert_eq!(
            schema.field_with_name("price").unwrap().data_type(),
            &DataType::Float64
        );
        let sizes: Vec<usize> = source.map(|b| b.unwrap().num_rows()).collect();
        assert_eq!(sizes, vec![2, 1]);
    }

    #[test]
    fn reads_from_a_pipe() {
        let text = (0..2500)
            .map(|i| format!("{{\"i\":{i}}}\n"))
            .collect::<String>();
        let source =
            JsonSource::from_reader("-", Box::new(Cursor::new(text.into_bytes())), 1000).unwrap();
        let rows: usize = source.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 2500);
    }

    #[test]
    fn malformed_and_empty_inputs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{\"a\":1}\n{\"a\":\n").unwrap();
        let message = JsonSource::open(&path, 10).unwrap_err().to_string();
        assert!(
            message.contains("bad.json") && message.contains("malformed JSON"),
            "{message}"
        );

        let path = dir.path().join("empty.json");
        std::fs::write(&path, "").unwrap();
        let message = JsonSource::open(&path, 10).unwrap_err().to_string();
        assert!(message.contains("file is empty"), "{message}");
    }
}

//! Sample batches and files shared by the I/O unit tests.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use arrow::ipc::writer::{FileWriter, StreamWriter};

/// Plain columns every format can carry: a timestamp, a nullable string, a nullable
/// float, an integer.
pub fn plain_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("name", DataType::Utf8, true),
        Field::new("price", DataType::Float64, true),
        Field::new("qty", DataType::Int64, true),
    ]))
}

/// `rows` rows starting at row `first`, with NULLs sprinkled in.
pub fn plain_batch(first: i64, rows: usize) -> RecordBatch {
    let ids: Vec<i64> = (first..first + rows as i64).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(
            ids.iter()
                .map(|i| Some(1_700_000_000_000 + i * 1001))
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            ids.iter()
                .map(|i| (i % 5 != 3).then(|| format!("name, \"{i}\"")))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            ids.iter()
                .map(|i| (i % 7 != 2).then_some(*i as f64 * 0.25 + 0.5))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            ids.iter().map(|i| i * 3 - 40).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(plain_schema(), columns).unwrap()
}

/// Plain batches of the given sizes, rows numbered consecutively.
pub fn plain_batches(sizes: &[usize]) -> Vec<RecordBatch> {
    let mut first = 0i64;
    sizes
        .iter()
        .map(|&n| {
            let batch = plain_batch(first, n);
            first += n as i64;
            batch
        })
        .collect()
}

/// A schema with a dictionary-encoded column, which only the IPC formats carry.
pub fn dict_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int64, false),
        Field::new(
            "tag",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
    ]))
}

/// A batch of the dictionary schema.
pub fn dict_batch(first: i64, rows: usize) -> RecordBatch {
    // One dictionary for every batch: an IPC file cannot replace a dictionary.
    let keys: Int32Array = (first..first + rows as i64)
        .map(|i| (i % 4 != 0).then_some((i % 3) as i32))
        .collect();
    let values = Arc::new(StringArray::from(vec!["red", "green", "blue"]));
    let tags = DictionaryArray::<Int32Type>::try_new(keys, values).unwrap();
    RecordBatch::try_new(
        dict_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(first..first + rows as i64)),
            Arc::new(tags),
        ],
    )
    .unwrap()
}

/// The bytes of an Arrow IPC file holding `batches`.
pub fn ipc_file_bytes(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<u8> {
    let mut writer = FileWriter::try_new(Vec::new(), schema).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.into_inner().unwrap()
}

/// The bytes of an Arrow IPC stream holding `batches`.
pub fn ipc_stream_bytes(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<u8> {
    let mut writer = StreamWriter::try_new(Vec::new(), schema).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.into_inner().unwrap()
}

/// A writer into a shared buffer, so a test can read what a sink wrote.
#[derive(Debug, Clone, Default)]
pub struct SharedBuffer(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// What was written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A writer whose reader has gone away (`EPIPE`).
#[derive(Debug)]
pub struct ClosedPipe;

impl std::io::Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
}

/// The columns of `batch` named by `schema`, in its order, cast to its types (for
/// formats that keep neither types nor column order, like CSV and JSON).
pub fn cast_to(batch: &RecordBatch, schema: &SchemaRef) -> RecordBatch {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column_by_name(field.name()).unwrap();
            arrow::compute::cast(column, field.data_type()).unwrap()
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns).unwrap()
}

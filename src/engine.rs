//! The embedding entry point: an [`Engine`] compiles SQL into [`Query`] objects.

use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchReader};
use arrow::datatypes::SchemaRef;

use crate::config::QueryOptions;
use crate::error::{Error, Result};
use crate::exec::workers::{AnalyticSplit, DEFAULT_MIN_PARALLEL_ROWS};
use crate::exec::{PhysicalPlan, Query, Workers};
use crate::io::BatchSource;
use crate::plan::{explain::explain_logical, plan_query};
use crate::sql::{ParsedQuery, parse_sql};

/// Compiles and runs streaming SQL queries.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Float64Array, RecordBatch};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use velostream::{Engine, QueryOptions};
///
/// let schema = Arc::new(Schema::new(vec![Field::new("price", DataType::Float64, false)]));
/// let engine = Engine::with_partitions(1);
/// let mut q = engine.query("SELECT price * 2 AS twice FROM trades WHERE price > 1",
///                          &[("trades", schema.clone())], QueryOptions::default())?;
/// let batch = RecordBatch::try_new(schema, vec![Arc::new(Float64Array::from(vec![0.5, 3.0]))])?;
/// let out = q.push("trades", batch)?;
/// assert_eq!(out[0].num_rows(), 1);
/// q.finish()?;
/// # Ok::<(), velostream::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Engine {
    partitions: usize,
    /// `None` when no worker threads could be started: queries then run on the
    /// caller's thread.
    pool: Option<Arc<rayon::ThreadPool>>,
    /// Calls with fewer rows run on the caller's thread.
    min_parallel_rows: usize,
    /// How analytic queries spread their kernels over the partitions.
    analytic_split: AnalyticSplit,
}

impl Default for Engine {
    /// One partition per available core.
    fn default() -> Self {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Engine::with_partitions(n)
    }
}

impl Engine {
    /// An engine that runs each query on `partitions` threads (at least 1).
    pub fn with_partitions(partitions: usize) -> Self {
        let partitions = partitions.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(partitions)
            .thread_name(|i| format!("velo-worker-{i}"))
            .build()
            .map(Arc::new)
            .ok();
        Engine {
            partitions,
            pool,
            min_parallel_rows: DEFAULT_MIN_PARALLEL_ROWS,
            analytic_split: AnalyticSplit::Auto,
        }
    }

    /// Calls (`Query::push_batches`) with fewer input rows than `rows` run on the
    /// caller's thread, as waking the workers would cost more than they save (default
    /// 16,384). The results are the same either way; `0` hands every call of more than
    /// one batch to the workers (tests of the parallel paths use it).
    #[must_use]
    pub fn with_min_parallel_rows(mut self, rows: usize) -> Self {
        self.min_parallel_rows = rows;
        self
    }

    /// How ROWS-window analytic queries spread their per-key state over the partitions
    /// (default [`AnalyticSplit::Auto`]). The results are the same either way; tests of
    /// each path use it.
    #[must_use]
    pub fn with_analytic_split(mut self, split: AnalyticSplit) -> Self {
        self.analytic_split = split;
        self
    }

    /// The number of partitions (threads) queries run on.
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// Compiles `sql` against the given input schemas.
    ///
    /// # Errors
    /// [`Error::Sql`] with line and column, [`Error::Plan`], [`Error::NotSupported`].
    pub fn query(
        &self,
        sql: &str,
        inputs: &[(&str, SchemaRef)],
        options: QueryOptions,
    ) -> Result<Query> {
        self.compile(&parse_sql(sql)?, inputs, options)
    }

    /// Plans a parsed query against the given input schemas.
    fn compile(
        &self,
        parsed: &ParsedQuery,
        inputs: &[(&str, SchemaRef)],
        options: QueryOptions,
    ) -> Result<Query> {
        let inputs: Vec<(String, SchemaRef)> = inputs
            .iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect();
        let plan = plan_query(parsed, &inputs, &options)?;
        let physical = PhysicalPlan::from_logical(&plan)?;
        Query::new(
            plan,
            physical,
            Workers::new(self.pool.clone(), self.min_parallel_rows)
                .with_analytic_split(self.analytic_split),
            self.partitions,
        )
    }

    /// Compiles `sql` over `sources` (each registered under its name), as
    /// [`Engine::query`], and lets the source the query reads skip the columns the query
    /// does not read ([`Query::input_columns`], [`BatchSource::read_columns`]): an IPC
    /// file then never decodes, checks or even pages in their bytes. The query is
    /// parsed once and planned again against the narrower schema; its results are the same.
    ///
    /// # Errors
    /// As [`Engine::query`].
    pub fn query_source(
        &self,
        sql: &str,
        sources: &mut [(&str, &mut dyn BatchSource)],
        options: QueryOptions,
    ) -> Result<Query> {
        let mut schemas: Vec<(&str, SchemaRef)> =
            sources.iter().map(|(n, s)| (*n, s.schema())).collect();
        // parsed once, planned once or twice
        let parsed = parse_sql(sql)?;
        let query = self.compile(&parsed, &schemas, options.clone())?;
        let read = query.input_name();
        let Some(i) = sources.iter().position(|(n, _)| *n == read).or_else(|| {
            sources
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(read))
        }) else {
            return Ok(query);
        };
        let schema = &schemas[i].1;
        let mut columns = query.input_columns();
        if columns.len() >= schema.fields().len() {
            return Ok(query);
        }
        if columns.is_empty() {
            // COUNT(*) and constants still need the row counts: keep the narrowest column.
            columns.push(narrowest_column(schema));
        }
        match sources[i].1.read_columns(&columns) {
            Some(narrow) => {
                schemas[i].1 = narrow;
                self.compile(&parsed, &schemas, options)
            }
            None => Ok(query),
        }
    }

    /// The logical and physical plans of `sql`, as text.
    ///
    /// # Errors
    /// As [`Engine::query`].
    pub fn explain(
        &self,
        sql: &str,
        inputs: &[(&str, SchemaRef)],
        options: QueryOptions,
    ) -> Result<String> {
        let q = self.query(sql, inputs, options)?;
        let physical = PhysicalPlan::from_logical(q.plan())?;
        Ok(format!(
            "== Logical plan ==\n{}\n== Physical plan ==\n{}",
            explain_logical(q.plan()),
            physical.explain(self.partitions)
        ))
    }

    /// Runs `sql` over every batch of `reader` (registered as `input`) and returns an
    /// iterator over the result batches, flushing at the end of the input.
    ///
    /// # Errors
    /// Compilation errors immediately; reader and execution errors as iterator items.
    pub fn execute_reader<R>(
        &self,
        sql: &str,
        input: &str,
        reader: R,
        options: QueryOptions,
    ) -> Result<ResultIter<R>>
    where
        R: RecordBatchReader,
    {
        let schema = reader.schema();
        let query = self.query(sql, &[(input, schema)], options)?;
        Ok(ResultIter {
            query,
            input: input.to_string(),
            reader: Some(reader),
            pending: std::collections::VecDeque::new(),
        })
    }
}

/// The column of `schema` with the fewest bytes per row (fixed-width ones first).
fn narrowest_column(schema: &arrow::datatypes::Schema) -> usize {
    (0..schema.fields().len())
        .min_by_key(|&i| {
            schema
                .field(i)
                .data_type()
                .primitive_width()
                .unwrap_or(usize::MAX)
        })
        .unwrap_or(0)
}

/// Iterator over the results of [`Engine::execute_reader`].
pub struct ResultIter<R> {
    query: Query,
    input: String,
    reader: Option<R>,
    pending: std::collections::VecDeque<RecordBatch>,
}

impl<R> ResultIter<R> {
    /// The query (for its schema and metrics).
    pub fn query(&self) -> &Query {
        &self.query
    }
}

impl<R: RecordBatchReader> Iterator for ResultIter<R> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some(Ok(b));
            }
            let reader = self.reader.as_mut()?;
            let step = match reader.next() {
                Some(Ok(batch)) if !self.query.is_done() => self.query.push(&self.input, batch),
                Some(Ok(_)) => Ok(Vec::new()),
                Some(Err(e)) => {
                    self.reader = None;
                    return Some(Err(Error::Arrow(e)));
                }
                None => {
                    self.reader = None;
                    self.query.finish()
                }
            };
            match step {
                Ok(out) => self.pending.extend(out),
                Err(e) => {
                    self.reader = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

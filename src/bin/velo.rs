//! `velo`: the command-line front end of velostream (a thin layer over the library).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use velostream::bench::AnalyticSplitArg;
use velostream::config::parse_size_bytes;
use velostream::exec::runner::{RunSettings, run_to_sinks};
use velostream::io::{self, Format};
use velostream::sql::duration::parse_duration_ms;
use velostream::{Engine, Error, QueryOptions};

/// The binary's allocator: batches are allocated on one worker and freed on another many
/// times a second, which glibc's per-thread arenas handle poorly (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// velostream: a vectorized streaming SQL engine over Apache Arrow.
#[derive(Parser, Debug)]
#[command(name = "velo", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a query over the registered inputs and write the results.
    Run(RunArgs),
    /// Print the logical and physical plan of a query.
    Explain(ExplainArgs),
    /// Print an input file's schema and row count.
    Schema {
        /// Arrow IPC file or stream, or CSV.
        path: String,
    },
    /// Generate benchmark data.
    Gen {
        #[command(subcommand)]
        dataset: GenDataset,
    },
    /// Run the benchmark scenarios of SPEC §9.
    Bench(velostream::bench::BenchArgs),
}

#[derive(Subcommand, Debug)]
enum GenDataset {
    /// The trades data set of SPEC §9 (ts, trader_id, symbol, price, quantity).
    Trades {
        /// Number of rows.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Output path (format from the extension: .arrow, .arrows, .csv, .json).
        #[arg(short, long)]
        output: String,
        /// Random seed (the output is identical for the same seed and rows).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Uniform event-time jitter added to ts, e.g. 5s.
        #[arg(long, value_parser = duration_arg, default_value = "0")]
        disorder: i64,
        /// Rows per batch in the output file.
        #[arg(long, default_value_t = 8192)]
        batch_size: usize,
        /// Output format (default from the extension).
        #[arg(long, value_parser = format_arg)]
        format: Option<Format>,
    },
}

/// Inputs and the query text, shared by `run` and `explain`.
#[derive(Args, Debug)]
struct QueryArgs {
    /// Register an input: NAME=PATH (IPC file/stream, CSV, or - for an IPC stream on stdin). Repeatable.
    #[arg(short, long = "input", value_name = "NAME=PATH", value_parser = input_arg)]
    inputs: Vec<(String, String)>,
    /// Read the SQL from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "sql")]
    sql_file: Option<PathBuf>,
    /// The SQL query.
    #[arg(required_unless_present = "sql_file")]
    sql: Option<String>,
    /// Event-time column.
    #[arg(long, value_name = "COL")]
    event_time: Option<String>,
    /// Bounded out-of-orderness, e.g. 5s (default 0).
    #[arg(long, value_name = "DUR", value_parser = duration_arg)]
    watermark_delay: Option<i64>,
    /// Key partitions (threads); default: number of cores.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    partitions: Option<u32>,
    /// How ROWS-window analytics spread their per-key state over the partitions (the
    /// results are the same either way).
    #[arg(long, value_enum, default_value_t = AnalyticSplitArg::Auto)]
    analytic_split: AnalyticSplitArg,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    query: QueryArgs,
    /// Result destination (- for stdout). Default: a table on a terminal, else an IPC stream on stdout.
    #[arg(short, long, value_name = "PATH")]
    output: Option<String>,
    /// Output format: arrow | arrows | csv | json | table (default from the extension).
    #[arg(long, value_name = "FMT", value_parser = format_arg)]
    format: Option<Format>,
    /// Re-chunk the input into batches of N rows (default: as stored).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: Option<u64>,
    /// Write late rows here.
    #[arg(long, value_name = "PATH")]
    late_output: Option<String>,
    /// State memory limit, e.g. 2GB.
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    memory_limit: Option<usize>,
    /// Add the _op column (insert/update/delete) to EMIT CHANGES output.
    #[arg(long)]
    changelog: bool,
    /// Print metrics to stderr at the end.
    #[arg(long)]
    stats: bool,
    /// Never show a progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args, Debug)]
struct ExplainArgs {
    #[command(flatten)]
    query: QueryArgs,
}

fn input_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, p)) if !n.is_empty() && !p.is_empty() => Ok((n.to_string(), p.to_string())),
        _ => Err(format!(
            "expected NAME=PATH (e.g. trades=data/trades.arrow), got '{s}'"
        )),
    }
}

fn duration_arg(s: &str) -> Result<i64, String> {
    parse_duration_ms(s)
}

fn size_arg(s: &str) -> Result<usize, String> {
    parse_size_bytes(s)
}

fn format_arg(s: &str) -> Result<Format, String> {
    Format::from_name(s).map_err(|e| e.to_string())
}

/// How a failed command ends.
enum Failure {
    /// Bad usage: exit code 2.
    Usage(String),
    /// Query or runtime error: exit code 1.
    Runtime(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Runtime(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Explain(args) => explain(args),
        Command::Schema { path } => schema(&path),
        Command::Gen { dataset } => gen_data(dataset),
        Command::Bench(args) => velostream::bench::run_bench(&args).map_err(Failure::Runtime),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            eprintln!("\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(Error::Io(e))) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            // the reader of our output went away (e.g. `| head`): not an error
            ExitCode::SUCCESS
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn sql_text(args: &QueryArgs) -> Result<String, Failure> {
    match (&args.sql, &args.sql_file) {
        (Some(s), _) => Ok(s.clone()),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| {
            Failure::Runtime(Error::input(
                f.clone(),
                format!("cannot read SQL file: {e}"),
            ))
        }),
        (None, None) => Err(Failure::Usage(
            "no SQL given (pass it as an argument or with --sql-file)".into(),
        )),
    }
}

fn engine(args: &QueryArgs) -> Engine {
    match args.partitions {
        Some(n) => Engine::with_partitions(n as usize),
        None => Engine::default(),
    }
    .with_analytic_split(args.analytic_split.into())
}

fn query_options(args: &QueryArgs) -> QueryOptions {
    QueryOptions {
        event_time: args.event_time.clone(),
        watermark_delay_ms: args.watermark_delay,
        ..Default::default()
    }
}

/// Opens every registered input (only to read schemas for `explain`; `run` streams
/// the one the query reads).
/// Registered inputs, opened.
type Inputs = Vec<(String, Box<dyn io::BatchSource>)>;

fn open_inputs(args: &QueryArgs) -> Result<Inputs, Failure> {
    if args.inputs.is_empty() {
        return Err(Failure::Usage(
            "no input registered: pass -i NAME=PATH (e.g. -i trades=data/trades.arrow)".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (name, path) in &args.inputs {
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(Failure::Usage(format!(
                "input '{name}' is registered twice"
            )));
        }
        out.push((name.clone(), io::open_source(path, None)?));
    }
    Ok(out)
}

fn run(args: RunArgs) -> Result<(), Failure> {
    let sql = sql_text(&args.query)?;
    let mut sources = open_inputs(&args.query)?;
    let mut options = query_options(&args.query);
    options.changelog = args.changelog;
    options.memory_limit_bytes = args.memory_limit;
    options.collect_late_rows = args.late_output.is_some();
    let engine = engine(&args.query);
    // The input the query reads decodes only the columns the query reads.
    let mut named: Vec<(&str, &mut dyn io::BatchSource)> = sources
        .iter_mut()
        .map(|(n, s)| (n.as_str(), s.as_mut() as &mut dyn io::BatchSource))
        .collect();
    let mut query = engine.query_source(&sql, &mut named, options)?;
    drop(named);
    if args.late_output.is_some() && !query.is_windowed() {
        return Err(Failure::Usage(
            "--late-output needs a windowed query (WINDOW TUMBLING/SLIDING/SESSION or a window table function): only windows drop late rows".into(),
        ));
    }
    let idx = sources
        .iter()
        .position(|(n, _)| n == query.input_name())
        .ok_or_else(|| Error::internal("the planned input is not registered"))?;
    let (_, source) = sources.swap_remove(idx);
    drop(sources);

    let to_terminal = std::io::stdout().is_terminal();
    let out_path = args.output.as_deref().filter(|p| *p != "-");
    let format = match (args.format, out_path) {
        (Some(f), _) => Some(f),
        (None, Some(p)) => match Format::from_path(std::path::Path::new(p)) {
            Some(f) => Some(f),
            None => {
                return Err(Failure::Usage(format!(
                    "cannot tell the output format of '{p}' from its extension: pass --format arrow|arrows|csv|json|table"
                )));
            }
        },
        (None, None) if to_terminal && args.output.is_none() => Some(Format::Table),
        (None, None) => Some(Format::ArrowStream),
    };
    let mut sink = io::open_sink(out_path, format, query.output_schema())?;
    let mut late_sink = match args.late_output.as_deref() {
        Some(p) => {
            let f = Format::from_path(std::path::Path::new(p)).unwrap_or(Format::ArrowFile);
            Some(io::open_sink(Some(p), Some(f), query.input_schema())?)
        }
        None => None,
    };

    let progress = if !args.no_progress && std::io::stderr().is_terminal() {
        Some(progress_bar(source.total_rows()))
    } else {
        None
    };
    let settings = RunSettings {
        batch_size: args.batch_size.map(|n| n as usize),
        progress: progress.clone(),
        ..RunSettings::default()
    };
    let result = run_to_sinks(
        &mut query,
        source,
        &settings,
        sink.as_mut(),
        match &mut late_sink {
            Some(l) => Some(l.as_mut()),
            None => None,
        },
    );
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    // on failure the sink is dropped unfinished: no output file is left behind
    result?;
    sink.finish()?;
    if let Some(l) = late_sink {
        l.finish()?;
    }
    if args.stats {
        eprintln!("{}", query.metrics());
    }
    Ok(())
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let style = match total {
        Some(_) => ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {human_pos}/{human_len} rows ({per_sec}, eta {eta})",
        ),
        None => ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {human_pos} rows ({per_sec})",
        ),
    };
    if let Ok(s) = style {
        bar.set_style(s);
    }
    // a bar only appears for runs longer than a moment
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn explain(args: ExplainArgs) -> Result<(), Failure> {
    let sql = sql_text(&args.query)?;
    let sources = open_inputs(&args.query)?;
    let refs: Vec<(&str, arrow::datatypes::SchemaRef)> = sources
        .iter()
        .map(|(n, s)| (n.as_str(), s.schema()))
        .collect();
    let text = engine(&args.query).explain(&sql, &refs, query_options(&args.query))?;
    print!("{text}");
    Ok(())
}

fn schema(path: &str) -> Result<(), Failure> {
    let source = io::open_source(path, None)?;
    let schema = source.schema();
    let total = match source.total_rows() {
        Some(n) => n,
        None => {
            let mut n = 0u64;
            for b in source {
                n += b?.num_rows() as u64;
            }
            n
        }
    };
    println!("{path}");
    for f in schema.fields() {
        println!(
            "  {:<20} {:<28} {}",
            f.name(),
            f.data_type().to_string(),
            if f.is_nullable() { "NULL" } else { "NOT NULL" }
        );
    }
    println!("rows: {total}");
    Ok(())
}

fn gen_data(dataset: GenDataset) -> Result<(), Failure> {
    match dataset {
        GenDataset::Trades {
            rows,
            output,
            seed,
            disorder,
            batch_size,
            format,
        } => {
            if batch_size == 0 {
                return Err(Failure::Usage("--batch-size must be at least 1".into()));
            }
            let progress = std::io::stderr()
                .is_terminal()
                .then(|| progress_bar(Some(rows)));
            let written = velostream::datagen::write_trades(
                &output,
                format,
                rows,
                batch_size,
                seed,
                disorder as u64,
                progress.as_ref(),
            )?;
            if let Some(p) = progress {
                p.finish_and_clear();
            }
            eprintln!("wrote {written} rows to {output}");
            Ok(())
        }
    }
}

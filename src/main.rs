use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use evscope::cli::{self, Cli};

// The store-wide folds (verify-snapshots, audit) allocate and free a few small values per
// event, often on another thread than the one that read it: mimalloc's thread-local free
// lists make that about twice as cheap as the system allocator.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging() {
    // Logs go to a file, only when asked for: the terminal belongs to the output (and the TUI).
    let Some(filter) = std::env::var_os("EVSCOPE_LOG") else {
        return;
    };
    let dir = evscope::config::data_dir();
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    // Readable by its owner only: a debug log holds queries and hosts.
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let Ok(file) = opts.open(dir.join("evscope.log")) else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_new(filter.to_string_lossy())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}

/// Transparent huge pages off for this process. On a machine whose kernel gives them to every
/// large enough mapping (`always`), the allocator's regions are backed by 2 MB pages that are
/// mostly empty: the store-wide folds' memory was counted ~40% higher than what they use
/// (verify-snapshots: 87 MB with, 62 MB without), for no measurable speed.
#[cfg(target_os = "linux")]
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and no pointers; it only sets a flag of
    // this process (failure, e.g. an old kernel, leaves things as they were).
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    no_transparent_huge_pages();
    // Panics are reported by color-eyre's hook (no backtrace unless RUST_BACKTRACE is set).
    let _ = color_eyre::install();
    let cli = Cli::parse(); // usage errors exit with code 2
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // Not locked for the whole run: a replay to `jsonl:-` writes to stdout from its sink.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
    let result = runtime.block_on(cli::run(cli, &mut out));
    let flushed = out.flush();
    match result {
        Ok(code) => match flushed {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
            _ => ExitCode::from(code),
        },
        // A reader that went away (`evscope log | head`) is not an error.
        Err(evscope::cli::CliError::OutputClosed) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::from(e.code())
        }
    }
}

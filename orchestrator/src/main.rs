//! `wasmano`: the orchestrator's command line.
//!
//! One binary for everyone: the server (`wasmano serve`) and the client of
//! its API for operators (`package`, `ns`, `op`, `watch`), the
//! specific-manager developer's harness (`wasmano sm new | test | compare |
//! generate | replay | inspect`), offline checks (`validate`, `onboard`,
//! `catalogue`) and `wasmano demo`. Every failure is one line on stderr and
//! a distinct exit code (see [`cli::exit`]); guest logs and diagnostics go
//! to stderr, replies to stdout.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let args = match cli::Args::try_parse() {
        Ok(args) => args,
        // Help and version are answers, not failures.
        Err(error) if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(cli::exit::USAGE);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WASMANO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .compact()
        .init();
    match cli::run(args) {
        Ok(code) => code,
        Err(failure) => {
            // One line, whatever the underlying error's formatting.
            let message = failure.message.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("wasmano: {message}");
            ExitCode::from(failure.code)
        }
    }
}

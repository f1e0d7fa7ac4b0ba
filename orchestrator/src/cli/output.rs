//! What commands print on standard output, through [`out!`] and [`outln!`]
//! rather than `print!`: a reader that goes away early (`wasmano op list |
//! head -3`) ends the command quietly with exit 0, where `print!` would
//! panic.
//!
//! Rust ignores SIGPIPE, so writing to a closed pipe is an error (EPIPE).
//! Restoring the signal's default would let it kill the process on a write
//! to any closed pipe or socket (an HTTP connection, Docker's socket) as
//! well, so the error is handled here, where output is written. Any other
//! write error (a full disk behind a redirection) is one line on stderr and
//! exit 74.

use std::io::Write;

use super::exit;

/// Writes `arguments` to standard output, ending the process quietly (exit 0)
/// when nobody reads it any more and with exit 74 when it cannot be written.
pub fn write(arguments: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(arguments).and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("wasmano: cannot write to standard output: {error}");
            std::process::exit(i32::from(exit::IO_ERROR));
        }
    }
}

/// `print!` for commands: see the [module](self).
macro_rules! out {
    ($($argument:tt)*) => {
        $crate::cli::output::write(format_args!($($argument)*))
    };
}

/// `println!` for commands: see the [module](self).
macro_rules! outln {
    () => {
        $crate::cli::output::write(format_args!("\n"))
    };
    ($($argument:tt)*) => {
        $crate::cli::output::write(format_args!("{}\n", format_args!($($argument)*)))
    };
}

pub(crate) use {out, outln};

//! Logging into the host's logs, tagged there with the manager's id.
//!
//! Natively (in unit tests) lines go to stderr. The macros format like
//! `format!`: `sm_sdk::info!("placed {} VNFs", n)`.

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected, but the event goes on.
    Warn,
    /// Something failed.
    Error,
}

/// Writes one log line.
pub fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        crate::__private::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        eprintln!("[{level:?}] {message}");
    }
}

/// Logs at info level, formatting like `format!`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs at warn level, formatting like `format!`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs at error level, formatting like `format!`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, &::std::format!($($arg)*)) };
}

/// Logs at debug level, formatting like `format!`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, &::std::format!($($arg)*)) };
}

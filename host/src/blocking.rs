//! Running short, bounded blocking work (an invocation, a database call)
//! from async code: in place on a multi-threaded tokio runtime, whose worker
//! hands its other tasks over meanwhile (no round trip through the blocking
//! pool), and on the blocking pool anywhere else.

/// Runs `work` to completion without stalling other tasks; `None` if the
/// blocking-pool thread running it panicked.
pub async fn run_blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_threaded {
        Some(tokio::task::block_in_place(work))
    } else {
        tokio::task::spawn_blocking(work).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn runs_on_the_blocking_pool_on_a_current_thread_runtime() {
        let caller = std::thread::current().id();
        let ran_on = run_blocking(|| std::thread::current().id()).await;
        assert_ne!(ran_on, Some(caller));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_in_place_on_a_multi_threaded_runtime() {
        let caller = std::thread::current().id();
        assert_eq!(run_blocking(move || std::thread::current().id()).await, Some(caller));
    }
}

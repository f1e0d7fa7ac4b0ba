//! Long hooks give the CPU to short ones. A hook still running after its
//! slice ([`HostConfig::demote_after`](crate::HostConfig::demote_after) of
//! real time, then as much of its thread's CPU time again, so that a hook
//! that only waited for the CPU on a busy machine is not taken for a long
//! one: [`Slice`]) spends the rest of its run in Linux's idle scheduling class
//! (`SCHED_IDLE`: it runs when nothing else of the machine wants the CPU,
//! and any other thread that wakes preempts it), and its thread gets its
//! class back when the invocation ends. A manager that loops to its
//! deadline then takes what the orchestrator leaves instead of a core;
//! short hooks, the common case, never notice.
//!
//! An idle thread on a busy machine may not run for a long while, so it
//! would not see its own deadline or interrupt: the host's epoch ticker
//! gives a demoted thread its class back as soon as either is due
//! ([`Demotions::promote_due`]), and the hook is stopped as promptly as any.
//!
//! The thread that runs a hook is one of the async runtime's, so the host
//! demotes only when it can also restore: leaving the idle class takes
//! root, `CAP_SYS_NICE` or an `RLIMIT_NICE` that allows it. Without that
//! privilege (and off Linux) hooks keep their class, and the host says so
//! once, at start.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Whether this process may move a thread into the idle class and back;
/// probed once, on a thread of its own.
pub(crate) fn demotion_allowed() -> bool {
    static ALLOWED: OnceLock<bool> = OnceLock::new();
    *ALLOWED.get_or_init(|| {
        let probe = || {
            let thread = os::current_thread();
            os::normal_policy(thread).is_some_and(|previous| os::make_idle(thread) && os::restore(thread, previous))
        };
        let allowed = std::thread::spawn(probe).join().unwrap_or(false);
        if !allowed {
            tracing::warn!(
                "hooks that run long keep their CPU priority: this process may not move a thread out of the \
                 idle scheduling class (needs root, CAP_SYS_NICE or RLIMIT_NICE), so a looping manager \
                 competes with the orchestrator's own work until its deadline"
            );
        }
        allowed
    })
}

/// A call's time at the orchestrator's priority: `length` of real time,
/// then `length` of its thread's CPU time more. Only the calls that outlive
/// the first part read the thread's CPU clock, once per `length`.
pub(crate) struct Slice {
    length: Duration,
    stage: Stage,
}

enum Stage {
    Wall { until: Instant },
    Cpu { from: Duration, next_look: Instant },
}

impl Slice {
    pub(crate) fn new(started: Instant, length: Duration) -> Self {
        Self {
            length,
            stage: Stage::Wall {
                until: started + length,
            },
        }
    }

    /// When to look again whether the slice is spent.
    pub(crate) fn next_look(&self) -> Instant {
        match self.stage {
            Stage::Wall { until } => until,
            Stage::Cpu { next_look, .. } => next_look,
        }
    }

    /// Whether the slice is spent at `now`; call it on the call's thread.
    pub(crate) fn spent(&mut self, now: Instant) -> bool {
        match self.stage {
            Stage::Wall { until } | Stage::Cpu { next_look: until, .. } if now < until => false,
            Stage::Wall { .. } => {
                self.stage = Stage::Cpu {
                    from: os::thread_cpu_time(),
                    next_look: now + self.length,
                };
                false
            }
            Stage::Cpu { from, .. } => {
                let used = os::thread_cpu_time().saturating_sub(from);
                if used >= self.length {
                    return true;
                }
                self.stage = Stage::Cpu {
                    from,
                    next_look: now + (self.length - used),
                };
                false
            }
        }
    }
}

/// The threads one host's invocations have demoted, until each call ends.
#[derive(Default)]
pub(crate) struct Demotions {
    demoted: Mutex<Vec<Demoted>>,
    /// How many are demoted: the ticker's check without the lock.
    count: AtomicUsize,
    /// How many calls were demoted since the host started.
    total: AtomicU64,
}

/// A demoted thread and when it must get its class back, run or not.
struct Demoted {
    thread: os::Thread,
    previous: i32,
    deadline_at: Instant,
    interrupt: Option<Arc<AtomicBool>>,
}

impl Demotions {
    /// Moves the calling thread to the idle class until the returned guard
    /// is dropped, or until `deadline_at` passes or `interrupt` is set;
    /// `None` if it cannot be moved (or is not in a normal class).
    pub(crate) fn demote_current_thread(
        self: &Arc<Self>,
        deadline_at: Instant,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Option<Demotion> {
        let thread = os::current_thread();
        let previous = os::normal_policy(thread)?;
        // Listed before it is demoted: an idle thread must never hold the
        // lock, since it may not run again for a long while and the ticker
        // would wait for it.
        let due = {
            let interrupt = interrupt.clone();
            move || Instant::now() >= deadline_at || interrupt.is_some_and(|flag| flag.load(Ordering::SeqCst))
        };
        let mut demoted = self.demoted.lock().unwrap_or_else(PoisonError::into_inner);
        demoted.push(Demoted {
            thread,
            previous,
            deadline_at,
            interrupt,
        });
        self.count.store(demoted.len(), Ordering::Release);
        drop(demoted);
        let demotion = Demotion {
            demotions: Arc::clone(self),
            thread,
            previous,
        };
        if !os::make_idle(thread) {
            return None;
        }
        self.total.fetch_add(1, Ordering::Relaxed);
        // The ticker may have passed over it, already due, before it was idle.
        if due() {
            os::restore(thread, previous);
        }
        Some(demotion)
    }

    /// Gives back their class to the demoted threads whose deadline has
    /// passed or whose interrupt is set, so they run and stop.
    pub(crate) fn promote_due(&self, now: Instant) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut demoted = self.demoted.lock().unwrap_or_else(PoisonError::into_inner);
        demoted.retain(|entry| {
            let due =
                now >= entry.deadline_at || entry.interrupt.as_ref().is_some_and(|flag| flag.load(Ordering::SeqCst));
            !(due && os::restore(entry.thread, entry.previous))
        });
        self.count.store(demoted.len(), Ordering::Release);
    }

    /// How many calls were demoted since the host started.
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn forget(&self, thread: os::Thread) {
        let mut demoted = self.demoted.lock().unwrap_or_else(PoisonError::into_inner);
        demoted.retain(|entry| entry.thread != thread);
        self.count.store(demoted.len(), Ordering::Release);
    }
}

/// Store data that keeps a call's demotion until the call ends, so the
/// thread gets its class back before anything else happens on it (the
/// store's teardown, the guest's logs written out).
pub(crate) trait HoldsDemotion {
    fn hold(&mut self, demotion: Demotion);
}

/// One thread's demotion, undone when dropped.
pub(crate) struct Demotion {
    demotions: Arc<Demotions>,
    thread: os::Thread,
    previous: i32,
}

impl Drop for Demotion {
    fn drop(&mut self) {
        // Restored first, so the thread holds the lock only in its own class.
        if !os::restore(self.thread, self.previous) {
            tracing::error!("could not restore a demoted thread's scheduling class");
        }
        self.demotions.forget(self.thread);
    }
}

#[cfg(target_os = "linux")]
mod os {
    use std::time::Duration;

    /// A thread of this process, as the kernel names it.
    pub(super) type Thread = libc::pid_t;

    /// The CPU time the calling thread has used.
    pub(super) fn thread_cpu_time() -> Duration {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes only into `now`.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
            return Duration::ZERO;
        }
        Duration::new(now.tv_sec.try_into().unwrap_or(0), now.tv_nsec.try_into().unwrap_or(0))
    }

    pub(super) fn current_thread() -> Thread {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    }

    /// The policy of `thread` if it is a normal one (not real-time, whose
    /// priority a restore would need too, nor idle already).
    pub(super) fn normal_policy(thread: Thread) -> Option<i32> {
        // SAFETY: sched_getscheduler only reads its argument; on Linux it
        // names one thread.
        let policy = unsafe { libc::sched_getscheduler(thread) };
        matches!(policy, libc::SCHED_OTHER | libc::SCHED_BATCH).then_some(policy)
    }

    /// Moves `thread` to the idle class; whether it could.
    pub(super) fn make_idle(thread: Thread) -> bool {
        let idle = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler only reads its arguments; on Linux it
        // acts on the one thread named.
        unsafe { libc::sched_setscheduler(thread, libc::SCHED_IDLE, &idle) == 0 }
    }

    /// Puts `thread` back in `policy`; whether it could.
    pub(super) fn restore(thread: Thread, policy: i32) -> bool {
        let normal = libc::sched_param { sched_priority: 0 };
        // SAFETY: as in `make_idle`.
        unsafe { libc::sched_setscheduler(thread, policy, &normal) == 0 }
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    pub(super) type Thread = ();

    pub(super) fn thread_cpu_time() -> std::time::Duration {
        std::time::Duration::ZERO
    }

    pub(super) fn current_thread() -> Thread {}

    pub(super) fn normal_policy(_thread: Thread) -> Option<i32> {
        None
    }

    pub(super) fn make_idle(_thread: Thread) -> bool {
        false
    }

    pub(super) fn restore(_thread: Thread, _policy: i32) -> bool {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Duration;

    use super::*;

    fn own_policy() -> i32 {
        // SAFETY: as in `os`.
        unsafe { libc::sched_getscheduler(libc::gettid()) }
    }

    fn privileged() -> bool {
        if demotion_allowed() {
            return true;
        }
        eprintln!("SKIPPED: this process may not restore a thread's scheduling class");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test with the privilege"
        );
        false
    }

    #[test]
    fn a_slice_is_spent_after_its_real_time_and_as_much_cpu_time_again() {
        let length = Duration::from_millis(20);
        let started = Instant::now();
        let mut slice = Slice::new(started, length);
        assert!(!slice.spent(started));
        assert_eq!(slice.next_look(), started + length);
        // Waiting (no CPU used) past the real-time part does not spend it.
        std::thread::sleep(length);
        assert!(!slice.spent(Instant::now()));
        std::thread::sleep(length * 2);
        assert!(!slice.spent(Instant::now()), "spent while sleeping");
        // Burning the CPU does.
        let burning_from = os::thread_cpu_time();
        while os::thread_cpu_time() - burning_from < length {}
        assert!(slice.spent(Instant::now()));
    }

    #[test]
    fn a_demotion_lasts_until_it_is_dropped() {
        if !privileged() {
            return;
        }
        let demotions = Arc::new(Demotions::default());
        std::thread::spawn(move || {
            let before = own_policy();
            let far = Instant::now() + Duration::from_secs(60);
            let demotion = demotions.demote_current_thread(far, None).expect("demoted");
            assert_eq!(own_policy(), libc::SCHED_IDLE);
            assert!(demotions.demote_current_thread(far, None).is_none(), "already idle");
            demotions.promote_due(Instant::now());
            assert_eq!(own_policy(), libc::SCHED_IDLE, "promoted before its deadline");
            drop(demotion);
            assert_eq!(own_policy(), before);
            assert_eq!(demotions.count.load(Ordering::Acquire), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_demoted_thread_is_promoted_at_its_deadline_or_interrupt() {
        if !privileged() {
            return;
        }
        let demotions = Arc::new(Demotions::default());
        std::thread::spawn(move || {
            let before = own_policy();
            let deadline_at = Instant::now() + Duration::from_secs(60);
            let timed = demotions.demote_current_thread(deadline_at, None).expect("demoted");
            demotions.promote_due(deadline_at);
            assert_eq!(own_policy(), before, "still idle at its deadline");
            drop(timed);

            let interrupt = Arc::new(AtomicBool::new(false));
            let _interrupted = demotions
                .demote_current_thread(deadline_at, Some(Arc::clone(&interrupt)))
                .expect("demoted");
            interrupt.store(true, Ordering::SeqCst);
            demotions.promote_due(Instant::now());
            assert_eq!(own_policy(), before, "still idle once interrupted");
        })
        .join()
        .unwrap();
    }
}

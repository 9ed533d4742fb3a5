//! The deadline watchdog: one thread per process that flushes telemetry for invocations still
//! running shortly before their deadline, so that an invocation that times out still reports.
//!
//! A running invocation with a deadline is registered with the watchdog ([`Watchdog::watch`])
//! and released when its handler returns ([`Watchdog::release`]). Each takes one uncontended
//! lock and no allocation once the entry list has grown to the number of invocations that run
//! at once. The thread sleeps until the earliest flush time. When nothing is watched it wakes
//! every [`IDLE_CHECK`], so the next invocation, whose flush time is usually later than that,
//! does not have to wake it.
//!
//! The flush runs on the watchdog's thread without a Tokio runtime context, like the threads
//! of the batch span processor and the periodic metric reader.
//!
//! Because the flush runs on the watchdog's own thread, it also happens for a handler that
//! blocks the thread its runtime polls it on.

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use crate::invocation::DeadlineFlush;

/// How long the watchdog sleeps when no invocation is watched. Lambda's shortest timeout is
/// 1 s, so with the default 300 ms margin a new invocation's flush time comes after it.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// Returns the process-wide watchdog, whose thread starts on first use.
pub(crate) fn watchdog() -> &'static Watchdog {
    static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();
    WATCHDOG.get_or_init(Watchdog::default)
}

/// Invocations waiting for their handler to return, and the thread that flushes them when
/// their flush time comes first.
#[derive(Debug, Default)]
pub(crate) struct Watchdog {
    state: Mutex<State>,
    // Signalled when an invocation's flush time is earlier than the thread's next wake-up.
    earlier: Condvar,
    // Signalled when a flush finishes, for the invocations that wait to be released.
    flushed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    entries: Vec<Entry>,
    thread: ThreadState,
    /// When the thread checks the entries next. Registrations with a later flush time need
    /// not wake it.
    wakes_at: Option<SystemTime>,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum ThreadState {
    #[default]
    NotStarted,
    Running,
    FailedToStart,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    flush_at: SystemTime,
    progress: Progress,
    flush: DeadlineFlush,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Waiting,
    Flushing,
    Flushed,
}

/// The registration of one invocation with the watchdog. Dropping it unreleased, as happens
/// when the invocation's future is cancelled, stops watching the invocation, so its span ends
/// when the invocation is dropped, as it would without a deadline.
#[derive(Debug)]
#[must_use = "a registered invocation stays watched until it is released"]
pub(crate) struct Ticket {
    id: u64,
    released: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.released {
            watchdog().forget(self.id);
        }
    }
}

impl Watchdog {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `flush` at `flush_at` (system time) unless the ticket returned is released first.
    pub(crate) fn watch(&'static self, flush: DeadlineFlush, flush_at: SystemTime) -> Ticket {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.entries.push(Entry {
            id,
            flush_at,
            progress: Progress::Waiting,
            flush,
        });

        if state.wakes_at.is_some_and(|wakes_at| wakes_at <= flush_at) {
            return Ticket {
                id,
                released: false,
            };
        }
        match state.thread {
            ThreadState::Running => self.earlier.notify_one(),
            ThreadState::NotStarted => {
                let spawned = std::thread::Builder::new()
                    .name("spanbill-deadline".to_owned())
                    .spawn(|| self.run());
                state.thread = match spawned {
                    Ok(_) => ThreadState::Running,
                    Err(error) => {
                        tracing::error!(
                            %error,
                            "failed to start the deadline watchdog thread; invocations that \
                             time out will not report"
                        );
                        ThreadState::FailedToStart
                    }
                };
            }
            ThreadState::FailedToStart => {}
        }
        Ticket {
            id,
            released: false,
        }
    }

    /// Stops watching the invocation of `ticket`, and returns whether it was flushed before
    /// its deadline. Waits for a flush that is under way, so that it is exported before the
    /// handler returns and Lambda freezes the process.
    pub(crate) async fn release(&self, mut ticket: Ticket) -> bool {
        match self.try_release(&mut ticket) {
            Some(flushed) => flushed,
            None => self.release_after_flush(&mut ticket).await,
        }
    }

    async fn release_after_flush(&self, ticket: &mut Ticket) -> bool {
        loop {
            let flushed = self.flushed.notified();
            let mut flushed = std::pin::pin!(flushed);
            // Enabled before the check, so a flush that ends in between still wakes this task.
            flushed.as_mut().enable();
            if let Some(released) = self.try_release(ticket) {
                return released;
            }
            flushed.await;
        }
    }

    fn try_release(&self, ticket: &mut Ticket) -> Option<bool> {
        let mut state = self.lock();
        let index = state
            .entries
            .iter()
            .position(|entry| entry.id == ticket.id)
            .expect("a ticket's invocation stays watched until it is released");
        match state.entries[index].progress {
            Progress::Flushing => None,
            progress => {
                state.entries.swap_remove(index);
                ticket.released = true;
                Some(progress == Progress::Flushed)
            }
        }
    }

    /// Stops watching the invocation `id` without waiting for a flush under way, which
    /// then ends by itself.
    fn forget(&self, id: u64) {
        let mut state = self.lock();
        if let Some(index) = state.entries.iter().position(|entry| entry.id == id) {
            state.entries.swap_remove(index);
        }
    }

    fn run(&self) {
        let mut state = self.lock();
        loop {
            let now = SystemTime::now();
            let due = state
                .entries
                .iter_mut()
                .find(|entry| entry.progress == Progress::Waiting && entry.flush_at <= now);
            if let Some(entry) = due {
                entry.progress = Progress::Flushing;
                let id = entry.id;
                let flush = entry.flush.clone();
                // The thread checks again as soon as this flush is done.
                state.wakes_at = Some(now);
                drop(state);

                flush.run();

                state = self.lock();
                if let Some(entry) = state.entries.iter_mut().find(|entry| entry.id == id) {
                    entry.progress = Progress::Flushed;
                }
                self.flushed.notify_waiters();
                continue;
            }

            let wakes_at = state
                .entries
                .iter()
                .filter(|entry| entry.progress == Progress::Waiting)
                .map(|entry| entry.flush_at)
                .min()
                .unwrap_or(now + IDLE_CHECK);
            state.wakes_at = Some(wakes_at);
            let timeout = wakes_at.duration_since(now).unwrap_or_default();
            state = self
                .earlier
                .wait_timeout(state, timeout)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

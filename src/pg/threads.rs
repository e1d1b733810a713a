//! Threads in a PostgreSQL process. A backend, a job and the launcher are single-threaded:
//! PostgreSQL's signal handlers, and pgrx's, may run only on the process's own thread (pgrx's
//! panics on any other, and the process aborts: the postmaster then restarts the whole cluster).
//! The kernel delivers a signal sent to the process to any of its threads that does not block it,
//! so every thread pg_idp starts, or has a library start, blocks every signal: pg_idp starts them
//! all here. Today there is one: a host name lookup (`registry/fetch.rs`), since the C library's
//! resolver cannot be given a time limit.

use std::mem::MaybeUninit;

/// Start `f` on a new thread named `name` that blocks every signal. A new thread inherits the
/// signal mask of the thread that creates it, so the caller blocks every signal for the spawn
/// only and then restores its own mask: a signal that arrives meanwhile stays pending and is
/// handled on the caller's thread when its mask is restored, never on the new one.
pub(crate) fn spawn_blocking_signals<F, T>(name: &str, f: F) -> std::io::Result<std::thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    let mut previous = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initializes the set it is given, and cannot fail for a valid pointer.
    unsafe { libc::sigfillset(all.as_mut_ptr()) };
    // SAFETY: `all` is initialized; on success `previous` receives this thread's mask.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), previous.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    let spawned = std::thread::Builder::new().name(name.to_string()).spawn(f);
    // SAFETY: `previous` was initialized by the successful call above; this restores it.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, previous.as_ptr(), std::ptr::null_mut()) };
    spawned
}

/// What /proc says of this process's threads (tests).
#[cfg(any(test, feature = "pg_test"))]
pub(crate) mod proc_status {
    /// The calling thread's id.
    pub(crate) fn this_thread() -> i32 {
        // SAFETY: gettid takes no argument and cannot fail.
        unsafe { libc::gettid() }
    }

    /// This process's threads named `name` (/proc/self/task/*/comm).
    pub(crate) fn threads_named(name: &str) -> Vec<i32> {
        std::fs::read_dir("/proc/self/task")
            .expect("/proc/self/task")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|tid| {
                std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).is_ok_and(|c| c.trim_end() == name)
            })
            .collect()
    }

    /// The signals thread `tid` blocks (`SigBlk` of /proc/self/task/TID/status): bit n - 1 for
    /// signal n.
    pub(crate) fn blocked(tid: i32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).expect("the thread's status");
        let hex = status.lines().find_map(|l| l.strip_prefix("SigBlk:")).expect("SigBlk in the status");
        u64::from_str_radix(hex.trim(), 16).expect("SigBlk in hex")
    }

    /// The signals that `mask` leaves to a handler: every signal it does not block, but SIGKILL
    /// and SIGSTOP (nothing can block them) and the C library's own 32 and 33 (glibc's
    /// SIGCANCEL and SIGSETXID, which it never lets a thread block, and which run no handler of
    /// PostgreSQL's).
    pub(crate) fn unblocked(mask: u64) -> Vec<i32> {
        (1..=64)
            .filter(|&s| ![libc::SIGKILL, libc::SIGSTOP, 32, 33].contains(&s))
            .filter(|&s| mask & (1u64 << (s - 1)) == 0)
            .collect()
    }
}

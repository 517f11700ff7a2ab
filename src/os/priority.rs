//! Background priority for the threads the library starts: the worker and
//! fjall's flush/compaction thread. A game's frame thread must win the CPU
//! over our housekeeping, on phones with few cores above all.
//!
//! Only scheduling hints live here; nothing here may fail a call.

/// The nice value of our threads: Android's `THREAD_PRIORITY_BACKGROUND`.
#[cfg(any(target_os = "linux", target_os = "android"))]
const BACKGROUND_NICE: libc::c_int = 10;

/// Lowers the calling thread's priority. Threads it starts later inherit
/// it (Linux and Android keep the nice value per thread). Best effort:
/// elsewhere, or if the system refuses, nothing changes.
pub fn lower_current_thread() {
    // Apple: the utility QoS class (below the default of a game's threads);
    // threads a thread starts inherit its class.
    #[cfg(target_vendor = "apple")]
    // SAFETY: sets the calling thread's own QoS class; no memory involved.
    unsafe {
        libc::pthread_set_qos_class_self_np(libc::qos_class_t::QOS_CLASS_UTILITY, 0);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: plain system calls on the calling thread's own id.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, BACKGROUND_NICE);
        }
    }
}

/// Runs `f` on a short-lived thread of background priority, so threads it
/// starts (fjall's, when it opens a database) inherit that priority; on the
/// calling thread if no thread can be started.
pub fn in_background<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let task = parking_lot::Mutex::new(Some(f));
    let run = || task.lock().take().map(|f| f());
    let result = std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("offtrack-open".into())
            .spawn_scoped(scope, || {
                lower_current_thread();
                run()
            });
        match spawned.map(|handle| handle.join()) {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => None,
        }
    });
    match result {
        Some(value) => value,
        // The thread could not be started: the task is still here.
        None => match run() {
            Some(value) => value,
            None => unreachable!("the task runs once, on one thread or the other"),
        },
    }
}

//! A minimal scoped worker pool: `threads` workers pull indices until the work or the patience
//! (a stop flag) runs out.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Calls `f(i)` for every `i < count` on up to `threads` scoped threads, in rough index order.
/// Workers stop taking new indices once `stop` is set.
pub(crate) fn for_each_index(
    count: usize,
    threads: usize,
    stop: &AtomicBool,
    f: impl Fn(usize) + Sync,
) {
    let next = AtomicUsize::new(0);
    let work = || loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= count {
            return;
        }
        f(i);
    };
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        work();
        return;
    }
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
}

//! How many threads a save or a load uses: rayon's global pool (the default), or a
//! pool of its own with a set number of threads
//! ([`SaveOptions::threads`](crate::SaveOptions::threads),
//! [`OpenOptions::threads`](crate::OpenOptions::threads)).
//!
//! Pools are built on first use and kept for the life of the process, one per thread
//! count: a program that saves every few seconds with `threads(2)` builds one pool.

use crate::error::{Error, Result};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

/// Pools made so far, by thread count.
static POOLS: Mutex<Vec<(NonZeroUsize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());

/// The pool of `n` threads, built on first use.
fn pool(n: NonZeroUsize) -> Result<Arc<rayon::ThreadPool>> {
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, pool)) = pools.iter().find(|(m, _)| *m == n) {
        return Ok(Arc::clone(pool));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n.get())
        .thread_name(move |i| format!("strata-{n}-{i}"))
        .build()
        .map_err(|e| Error::Message(format!("cannot start {n} threads: {e}")))?;
    let pool = Arc::new(pool);
    pools.push((n, Arc::clone(&pool)));
    Ok(pool)
}

thread_local! {
    /// The pool the parallel parts of the current save or load run in, when it asked
    /// for a thread count.
    static CURRENT: std::cell::RefCell<Option<Arc<rayon::ThreadPool>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` on the calling thread with `threads` threads for its parallel parts
/// ([`par`]): rayon's global pool when `None`, else the pool of that many threads.
/// `f` need not be `Send`: only the parallel parts move to other threads, so a value
/// that cannot cross threads (one holding an `Rc`) is saved and loaded on this one.
pub(crate) fn run<R>(threads: Option<NonZeroUsize>, f: impl FnOnce() -> Result<R>) -> Result<R> {
    let Some(n) = threads else { return f() };
    let pool = pool(n)?;
    let previous = CURRENT.with(|c| c.replace(Some(pool)));
    /// Puts the previous pool back, also when `f` unwinds.
    struct Restore(Option<Arc<rayon::ThreadPool>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| *c.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(previous);
    f()
}

/// The number of threads [`par`] runs on (read from the pool, without entering it).
pub(crate) fn count() -> usize {
    let pool = CURRENT.with(|c| c.borrow().clone());
    match pool {
        Some(pool) if pool.current_thread_index().is_none() => pool.current_num_threads(),
        _ => rayon::current_num_threads(),
    }
    .max(1)
}

/// Runs `f`, a parallel part of a save or load, in the pool [`run`] chose (on the
/// calling thread when it is one of the pool's threads, as in nested parallel work),
/// or as it is when `run` chose rayon's global pool. Every rayon call of the engine
/// goes through here.
pub(crate) fn par<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let pool = CURRENT.with(|c| c.borrow().clone());
    match pool {
        Some(pool) if pool.current_thread_index().is_none() => pool.install(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::{par, run};
    use std::num::NonZeroUsize;

    #[test]
    fn work_runs_on_as_many_threads_as_asked() -> crate::Result<()> {
        let threads = || par(rayon::current_num_threads);
        assert_eq!(threads(), super::count());
        assert_eq!(run(None, || Ok(threads()))?, rayon::current_num_threads());
        for n in [1, 3] {
            let n = NonZeroUsize::new(n).ok_or(crate::Error::Detached)?;
            assert_eq!(run(Some(n), || Ok(threads()))?, n.get());
            assert_eq!(run(Some(n), || Ok(super::count()))?, n.get());
            // Nested, also from inside the pool: stays in the same pool.
            assert_eq!(run(Some(n), || run(Some(n), || Ok(threads())))?, n.get());
            assert_eq!(run(Some(n), || Ok(par(|| run(Some(n), || Ok(threads())))))??, n.get());
            // The pool is the caller's for the duration of `run` only.
            assert_eq!(threads(), rayon::current_num_threads());
        }
        Ok(())
    }
}

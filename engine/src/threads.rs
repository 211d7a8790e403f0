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

/// Runs `f` with `threads` threads: on the calling thread, with rayon's global pool
/// for its parallel parts, when `None`; else in the pool of that many threads (on the
/// calling thread when it already is one of them, as in a load nested in a load).
pub(crate) fn run<R: Send>(threads: Option<NonZeroUsize>, f: impl FnOnce() -> Result<R> + Send) -> Result<R> {
    let Some(n) = threads else { return f() };
    let pool = pool(n)?;
    if pool.current_thread_index().is_some() { f() } else { pool.install(f) }
}

#[cfg(test)]
mod tests {
    use super::run;
    use std::num::NonZeroUsize;

    #[test]
    fn work_runs_on_as_many_threads_as_asked() -> crate::Result<()> {
        assert_eq!(run(None, || Ok(rayon::current_num_threads()))?, rayon::current_num_threads());
        for n in [1, 3] {
            let n = NonZeroUsize::new(n).ok_or(crate::Error::Detached)?;
            assert_eq!(run(Some(n), || Ok(rayon::current_num_threads()))?, n.get());
            // Nested: stays in the same pool.
            assert_eq!(run(Some(n), || run(Some(n), || Ok(rayon::current_num_threads())))?, n.get());
        }
        Ok(())
    }
}

//! Filling one vector from many parts in parallel, each part decoded straight into its
//! own region of the vector (no per-part vectors to concatenate afterwards), a window
//! of parts at a time.

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// One part's region of the output: its slots, filled in order by [`Region::push`].
pub(crate) struct Region<'a, T> {
    slots: &'a mut [MaybeUninit<T>],
    written: usize,
}

impl<T> Region<'_, T> {
    /// Writes the next slot; `false` (and `value` dropped) when the region is full.
    pub(crate) fn push(&mut self, value: T) -> bool {
        match self.slots.get_mut(self.written) {
            Some(slot) => {
                slot.write(value);
                self.written += 1;
                true
            }
            None => false,
        }
    }

    /// The number of elements the region holds when full.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Drops what was written (the part failed).
    fn abandon(&mut self) {
        for slot in self.slots.get_mut(..self.written).unwrap_or_default() {
            // SAFETY: the first `written` slots were written by `push` and not yet
            // dropped or handed over; `written` is reset so that none is dropped twice.
            unsafe { slot.assume_init_drop() };
        }
        self.written = 0;
    }
}

/// A vector under construction from consecutive parts of known lengths.
pub(crate) struct Filler<T> {
    out: Vec<T>,
    /// Each part's first slot and length.
    parts: Vec<(usize, usize)>,
    /// Elements written in each part (all of it, or none after a failure).
    written: Vec<usize>,
}

impl<T: Send> Filler<T> {
    /// Room for parts of `lens` elements, in order.
    pub(crate) fn new(lens: &[usize]) -> Result<Self> {
        let mut parts = Vec::with_capacity(lens.len());
        let mut total = 0usize;
        for &n in lens {
            parts.push((total, n));
            total = total.checked_add(n).ok_or_else(|| Error::Message(String::from("element count overflows")))?;
        }
        let mut out = Vec::new();
        out.try_reserve_exact(total).map_err(|e| Error::Message(format!("cannot allocate {total} elements: {e}")))?;
        Ok(Self { out, written: vec![0; parts.len()], parts })
    }

    /// Fills parts `first..first + items.len()`, part `first + j` by `fill(&items[j],
    /// region)`, in parallel. A part that fails, or writes fewer elements than its
    /// length, fails the fill; what it wrote is dropped (the rest when the filler is).
    pub(crate) fn fill<P: Sync>(
        &mut self,
        first: usize,
        items: &[P],
        parallel: bool,
        fill: impl Fn(&P, &mut Region<'_, T>) -> Result<()> + Sync,
    ) -> Result<()> {
        let parts = self.parts.get(first..first.saturating_add(items.len())).unwrap_or_default();
        if parts.len() != items.len() {
            return Err(Error::Message(String::from("internal: parts beyond the filler")));
        }
        let mut rest = self.out.spare_capacity_mut();
        let mut consumed = 0usize;
        let mut regions = Vec::with_capacity(parts.len());
        for &(start, len) in parts {
            let skip = start.saturating_sub(consumed).min(rest.len());
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(skip);
            let (head, tail) = tail.split_at_mut(len.min(tail.len()));
            consumed = start.saturating_add(len);
            regions.push(Region { slots: head, written: 0 });
            rest = tail;
        }
        let one = |(region, item): (&mut Region<'_, T>, &P)| {
            let outcome = fill(item, region).and_then(|()| {
                if region.written == region.slots.len() {
                    Ok(region.written)
                } else {
                    Err(Error::Message(format!(
                        "a part decoded to {} elements where {} were declared",
                        region.written,
                        region.slots.len()
                    )))
                }
            });
            if outcome.is_err() {
                crate::deep::dropping(|| region.abandon());
            }
            outcome
        };
        let outcomes: Vec<Result<usize>> = if parallel {
            regions.par_iter_mut().zip(items.par_iter()).map(one).collect()
        } else {
            regions.iter_mut().zip(items.iter()).map(one).collect()
        };
        let mut failure = None;
        for (j, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Ok(n) => {
                    if let Some(w) = self.written.get_mut(first + j) {
                        *w = n;
                    }
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// The vector, once every part is filled.
    pub(crate) fn finish(mut self) -> Result<Vec<T>> {
        if self.parts.iter().zip(&self.written).any(|(&(_, len), &w)| w != len) {
            return Err(Error::Message(String::from("internal: a part was left unfilled")));
        }
        let total = self.parts.last().map_or(0, |&(start, len)| start + len);
        let mut out = std::mem::take(&mut self.out);
        self.written.iter_mut().for_each(|w| *w = 0);
        // SAFETY: the parts are disjoint, consecutive runs of `out`'s first `total`
        // slots, and every part was filled completely (checked above), so every slot in
        // `0..total` was written exactly once; `written` is cleared so that `Drop`
        // touches none of them.
        unsafe { out.set_len(total) };
        Ok(out)
    }
}

impl<T> Drop for Filler<T> {
    fn drop(&mut self) {
        if self.written.iter().all(|&w| w == 0) {
            return;
        }
        // Elements may nest deep: dropped on a stack made for it.
        crate::deep::dropping(|| {
            let spare = self.out.spare_capacity_mut();
            for (&(start, _), &written) in self.parts.iter().zip(&self.written) {
                for slot in spare.get_mut(start..start.saturating_add(written)).unwrap_or_default() {
                    // SAFETY: part `p` wrote its first `written[p]` slots (a filled
                    // part's count is recorded only when it completed), and nothing else
                    // dropped or took them: `finish` clears the counts before handing
                    // them over.
                    unsafe { slot.assume_init_drop() };
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::Filler;
    use crate::error::{Error, Result};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static LIVE: AtomicUsize = AtomicUsize::new(0);

    struct Counted(u32);
    impl Counted {
        fn new(v: u32) -> Self {
            LIVE.fetch_add(1, Ordering::SeqCst);
            Self(v)
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            LIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn fill_all(parts: &[u32], fail_at: Option<u32>, window: usize) -> Result<Vec<Counted>> {
        let lens: Vec<usize> = parts.iter().map(|&p| (p % 7) as usize).collect();
        let mut filler = Filler::new(&lens)?;
        for (w, items) in parts.chunks(window).enumerate() {
            filler.fill(w * window, items, w % 2 == 0, |&p, region| {
                for i in 0..p % 7 {
                    region.push(Counted::new(p * 100 + i));
                }
                if Some(p) == fail_at { Err(Error::Message(String::from("boom"))) } else { Ok(()) }
            })?;
        }
        filler.finish()
    }

    #[test]
    fn parts_fill_their_regions_in_order_and_failures_drop_everything() -> Result<()> {
        let parts: Vec<u32> = (0..50).collect();
        for window in [1, 3, 50] {
            let v = fill_all(&parts, None, window)?;
            let expected: Vec<u32> = parts.iter().flat_map(|&p| (0..p % 7).map(move |i| p * 100 + i)).collect();
            assert_eq!(v.iter().map(|c| c.0).collect::<Vec<_>>(), expected);
            drop(v);
            assert_eq!(LIVE.load(Ordering::SeqCst), 0);
            for fail_at in [0u32, 13, 49] {
                assert!(fill_all(&parts, Some(fail_at), window).is_err());
                assert_eq!(LIVE.load(Ordering::SeqCst), 0, "fail at {fail_at}, window {window}");
            }
        }
        // A part that writes too few is an error; one that writes too many is refused.
        let mut filler = Filler::<Counted>::new(&[2])?;
        let short = filler.fill(0, &[()], false, |(), r| {
            r.push(Counted::new(1));
            Ok(())
        });
        assert!(short.is_err());
        drop(filler);
        let mut filler = Filler::<Counted>::new(&[1])?;
        filler.fill(0, &[()], true, |(), r| {
            assert!(r.push(Counted::new(1)));
            assert!(!r.push(Counted::new(2)));
            Ok(())
        })?;
        assert_eq!(filler.finish()?.len(), 1);
        // Unfilled parts cannot be finished, and dropping the filler drops what was done.
        let mut filler = Filler::<Counted>::new(&[1, 1])?;
        filler.fill(0, &[()], true, |(), r| {
            assert!(r.push(Counted::new(1)));
            Ok(())
        })?;
        assert!(filler.finish().is_err());
        assert_eq!(LIVE.load(Ordering::SeqCst), 0);
        Ok(())
    }
}

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

/// A vector under construction from consecutive parts of known lengths, filled window
/// by window in order: the vector's length covers the windows filled so far.
pub(crate) struct Filler<T> {
    out: Vec<T>,
    /// Each part's first slot and length.
    parts: Vec<(usize, usize)>,
    /// Elements written in each part of a window that failed (the slots past the
    /// vector's length that must be dropped).
    written: Vec<usize>,
}

impl<T: Send> Filler<T> {
    /// Room for parts of `lens` elements, in order: at most `upfront` bytes of it
    /// before the first window. The lengths come from the file and are proven only as
    /// parts decode: past `upfront`, the vector grows window by window, by what the
    /// window's decoded parts hold.
    pub(crate) fn new(lens: &[usize], upfront: u64) -> Result<Self> {
        Self::with_upfront(lens, usize::try_from(upfront).unwrap_or(usize::MAX))
    }

    fn with_upfront(lens: &[usize], upfront: usize) -> Result<Self> {
        let mut parts = Vec::with_capacity(lens.len());
        let mut total = 0usize;
        for &n in lens {
            parts.push((total, n));
            total = total.checked_add(n).ok_or_else(|| Error::Message(String::from("element count overflows")))?;
        }
        let mut out = Vec::new();
        let upfront = total.min(upfront / size_of::<T>().max(1));
        out.try_reserve_exact(upfront)
            .map_err(|e| Error::Message(format!("cannot allocate {upfront} elements: {e}")))?;
        Ok(Self { out, written: vec![0; parts.len()], parts })
    }

    /// Fills parts `first..first + items.len()`, the window after those filled so
    /// far, part `first + j` by `fill(&items[j], region)`, in parallel. A part that
    /// fails, or writes fewer elements than its length, fails the fill; what the window
    /// wrote is dropped (when the filler is).
    pub(crate) fn fill<P: Sync>(
        &mut self,
        first: usize,
        items: &[P],
        parallel: bool,
        fill: impl Fn(&P, &mut Region<'_, T>) -> Result<()> + Sync,
    ) -> Result<()> {
        let parts = self.parts.get(first..first.saturating_add(items.len())).unwrap_or_default();
        let base = self.out.len();
        if parts.len() != items.len() || parts.first().is_some_and(|&(start, _)| start != base) {
            return Err(Error::Message(String::from("internal: parts filled out of order")));
        }
        let end = parts.last().map_or(base, |&(start, len)| start + len);
        let more = end - base;
        if self.out.capacity() - base < more {
            self.out
                .try_reserve_exact(more)
                .map_err(|e| Error::Message(format!("cannot allocate {more} elements: {e}")))?;
        }
        let mut rest = self.out.spare_capacity_mut();
        let mut consumed = base;
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
            crate::threads::par(|| regions.par_iter_mut().zip(items.par_iter()).map(one).collect())
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
        if let Some(e) = failure {
            return Err(e);
        }
        if self.out.capacity() < end {
            return Err(Error::Message(String::from("internal: a window beyond the room made for it")));
        }
        for w in self.written.get_mut(first..first + items.len()).unwrap_or_default() {
            *w = 0;
        }
        // SAFETY: the window's parts are disjoint, consecutive runs of the slots
        // `base..end` (`base` is the length, the window's first part starts there), within
        // the capacity (checked above), and every part was filled completely (each
        // outcome checked its region full), so every slot below `end` is written; their
        // counts were cleared above, so that `Drop` touches none of them.
        unsafe { self.out.set_len(end) };
        Ok(())
    }

    /// The vector, once every part is filled.
    pub(crate) fn finish(mut self) -> Result<Vec<T>> {
        let total = self.parts.last().map_or(0, |&(start, len)| start + len);
        if self.out.len() != total {
            return Err(Error::Message(String::from("internal: a part was left unfilled")));
        }
        Ok(std::mem::take(&mut self.out))
    }
}

impl<T> Drop for Filler<T> {
    fn drop(&mut self) {
        let failed = self.written.iter().any(|&w| w != 0);
        if !failed && self.out.is_empty() {
            return;
        }
        // Elements may nest deep: dropped on a stack made for it.
        crate::deep::dropping(|| {
            if failed {
                let base = self.out.len();
                let spare = self.out.spare_capacity_mut();
                for (&(start, _), &written) in self.parts.iter().zip(&self.written) {
                    let from = start.saturating_sub(base);
                    for slot in spare.get_mut(from..from.saturating_add(written)).unwrap_or_default() {
                        // SAFETY: part `p` of a window that failed wrote its first
                        // `written[p]` slots, past the vector's length (a window's slots
                        // join the length only when the whole window succeeded, and its
                        // counts are cleared then), and nothing else dropped or took
                        // them.
                        unsafe { slot.assume_init_drop() };
                    }
                }
            }
            // The windows filled before.
            drop(std::mem::take(&mut self.out));
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
        // Room made up front for all, some or none of the elements.
        let upfront = match window % 3 {
            0 => usize::MAX,
            1 => 40 * size_of::<Counted>(),
            _ => 0,
        };
        let mut filler = Filler::with_upfront(&lens, upfront)?;
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
        for window in [1, 2, 3, 4, 5, 50] {
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
        let mut filler = Filler::<Counted>::new(&[2], 0)?;
        let short = filler.fill(0, &[()], false, |(), r| {
            r.push(Counted::new(1));
            Ok(())
        });
        assert!(short.is_err());
        drop(filler);
        let mut filler = Filler::<Counted>::new(&[1], 1)?;
        filler.fill(0, &[()], true, |(), r| {
            assert!(r.push(Counted::new(1)));
            assert!(!r.push(Counted::new(2)));
            Ok(())
        })?;
        assert_eq!(filler.finish()?.len(), 1);
        // Unfilled parts cannot be finished, and dropping the filler drops what was done.
        let mut filler = Filler::<Counted>::new(&[1, 1], u64::MAX)?;
        filler.fill(0, &[()], true, |(), r| {
            assert!(r.push(Counted::new(1)));
            Ok(())
        })?;
        assert!(filler.finish().is_err());
        assert_eq!(LIVE.load(Ordering::SeqCst), 0);
        Ok(())
    }
}

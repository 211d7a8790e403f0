//! Collects errors so that a user sees every mistake at once, each at its own span.

use std::cell::RefCell;

#[derive(Default)]
pub struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    pub fn error(&self, spanned: impl quote::ToTokens, msg: impl std::fmt::Display) {
        self.errors.borrow_mut().push(syn::Error::new_spanned(spanned, msg));
    }

    pub fn push(&self, err: syn::Error) {
        self.errors.borrow_mut().push(err);
    }

    /// All errors combined, or `Ok` when there were none.
    pub fn check(self) -> syn::Result<()> {
        let mut errors = self.errors.into_inner().into_iter();
        let Some(mut first) = errors.next() else { return Ok(()) };
        for e in errors {
            first.combine(e);
        }
        Err(first)
    }
}

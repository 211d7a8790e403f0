//! `#[derive(Persist)]` for strata. Use it through `strata::Persist`; see the `strata`
//! crate for the attributes.
//!
//! The derive runs in three stages, one file each: `attr` and `model` parse the
//! input into a checked model (every error collected, each at its span), and `emit`
//! generates code from the model.

mod archived;
mod attr;
mod ctxt;
mod emit;
mod model;
mod stable_hash;
mod ty;

use proc_macro::TokenStream;

/// Derives `strata::Persist`. Field attributes: `lazy`, `shard` (`shard_bytes = N`),
/// `map`, `compress = "zstd"` (or `"zstd(LEVEL)"`, `"fast"`, `"none"`), `rkyv`,
/// `via = "U"`, `default` (`default = "path"`), `alias = "old"`; variant attributes:
/// `alias`, `other`; container attributes: `alias`, `crate = "path"`. The `strata`
/// crate's README documents each.
#[proc_macro_derive(Persist, attributes(strata))]
pub fn derive_persist(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let cx = ctxt::Ctxt::default();
    let container = model::Container::from_ast(&cx, &input);
    match (cx.check(), container) {
        (Ok(()), Some(c)) => emit::expand(&c).into(),
        (Err(e), _) => e.to_compile_error().into(),
        (Ok(()), None) => TokenStream::new(),
    }
}

/// Derives `strata::StableHash` for a key type (derive `Persist` too: its
/// `PartialEq<Key>` for the archived form lets map lookups compare keys in place).
/// Fields are hashed in order; an enum hashes its variant's index first.
#[proc_macro_derive(StableHash, attributes(strata))]
pub fn derive_stable_hash(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let cx = ctxt::Ctxt::default();
    let container = model::Container::from_ast(&cx, &input);
    match (cx.check(), container) {
        (Ok(()), Some(c)) => stable_hash::expand(&c).unwrap_or_else(syn::Error::into_compile_error).into(),
        (Err(e), _) => e.to_compile_error().into(),
        (Ok(()), None) => TokenStream::new(),
    }
}

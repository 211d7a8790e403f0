//! `#[derive(StableHash)]`: the stable key hash of a user type. The comparison of its
//! archived form with the native one that map lookups need comes with
//! `#[derive(Persist)]` (see `compare.rs`).

use crate::model::{Container, Data, Storage, construct};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};

pub fn expand(c: &Container) -> syn::Result<TokenStream> {
    for f in c.all_fields() {
        if !matches!(f.storage, Storage::Inline) {
            return Err(syn::Error::new_spanned(
                f.ty,
                "a key type stores every field inline: remove the strata attribute",
            ));
        }
    }
    let krate: syn::Path = c.attrs.crate_path.clone().unwrap_or_else(|| syn::parse_quote!(::strata));
    let ident = c.ident;
    let (impl_generics, ty_generics, where_clause) = c.generics.split_for_impl();
    let mut hash_where = where_clause.cloned().unwrap_or_else(|| syn::parse_quote!(where));
    for tp in c.generics.type_params() {
        let t = &tp.ident;
        hash_where.predicates.push(syn::parse_quote!(#t: #krate::StableHash));
    }
    let usize_like = |ty: &syn::Type| {
        crate::ty::mentions(ty, &syn::Ident::new("usize", Span::call_site()))
            || crate::ty::mentions(ty, &syn::Ident::new("isize", Span::call_site()))
    };
    for f in c.all_fields() {
        let ty = f.ty;
        if usize_like(ty) {
            return Err(syn::Error::new_spanned(
                ty,
                "key fields of type `usize`/`isize` are not supported: use `u64`/`i64`",
            ));
        }
    }

    let hash_body = match &c.data {
        Data::Struct(_, fields) => {
            let hashes = fields.iter().map(|f| {
                let m = &f.member;
                quote!(#krate::StableHash::stable_hash(&self.#m, __h);)
            });
            quote!(#(#hashes)*)
        }
        Data::Enum(variants) => {
            let mut hash_arms = Vec::new();
            for (index, v) in variants.iter().enumerate() {
                let vi = v.ident;
                let index = index as u32;
                let a: Vec<_> = (0..v.fields.len()).map(|i| format_ident!("__a{}", i)).collect();
                let pa = construct(quote!(Self::#vi), v.style, &v.fields, |f| {
                    let i = v.fields.iter().position(|g| g.member == f.member).unwrap_or(0);
                    a.get(i).map(|n| quote!(#n)).unwrap_or_default()
                });
                hash_arms.push(quote!(#pa => {
                    __h.write(&#index.to_le_bytes());
                    #(#krate::StableHash::stable_hash(#a, __h);)*
                }));
            }
            quote!(match self { #(#hash_arms)* })
        }
    };

    Ok(quote! {
        #[allow(clippy::all, clippy::pedantic)]
        const _: () = {
            impl #impl_generics #krate::StableHash for #ident #ty_generics #hash_where {
                fn stable_hash(&self, __h: &mut #krate::StableHasher) {
                    #hash_body
                }
            }
        };
    })
}

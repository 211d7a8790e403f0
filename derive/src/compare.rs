//! `PartialEq<T>` for the archived form of `T`, so that views compare with plain values
//! (`*elem == User { .. }`, `archived.kind == Kind::Cafe`, map lookups by key).
//!
//! Every field contributes a higher-ranked bound `for<'__strata> ArchivedField:
//! PartialEq<Field>`: a field whose archived form does not compare with its native type
//! (a lazy field's `Promise<T>` and `T`, a sharded vector and a `Vec`) makes the impl
//! not apply instead of failing to compile. Types with recursive fields get none (their
//! bounds would require themselves).

use crate::emit::archived_field_ty;
use crate::model::{Container, Data, Style};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub fn archived_eq(c: &Container, archived: &syn::Ident, private: &TokenStream) -> TokenStream {
    if c.all_fields().any(|f| f.recursive) {
        return TokenStream::new();
    }
    let ident = c.ident;
    let (impl_generics, ty_generics, where_clause) = c.generics.split_for_impl();
    let mut seen = std::collections::HashSet::new();
    let mut bounds: Vec<TokenStream> = c
        .all_fields()
        .map(|f| (archived_field_ty(f, private), f.ty))
        .filter(|(a, ty)| seen.insert((a.to_string(), quote!(#ty).to_string())))
        .map(|(a, ty)| quote!(for<'__strata> #a: ::core::cmp::PartialEq<#ty>,))
        .collect();
    for tp in c.generics.type_params() {
        let t = &tp.ident;
        bounds.push(quote!(#t: #private::rkyv::Archive,));
    }
    let existing = where_clause.filter(|w| !w.predicates.is_empty()).map(|w| {
        let p = &w.predicates;
        if p.trailing_punct() { quote!(#p) } else { quote!(#p,) }
    });
    let body = match &c.data {
        Data::Struct(_, fields) => {
            let eqs = fields.iter().map(|f| {
                let m = &f.member;
                quote!(&& self.#m == other.#m)
            });
            quote!(true #(#eqs)*)
        }
        Data::Enum(variants) => {
            let arms = variants.iter().map(|v| {
                let vi = v.ident;
                let a: Vec<_> = (0..v.fields.len()).map(|i| format_ident!("__a{}", i)).collect();
                let b: Vec<_> = (0..v.fields.len()).map(|i| format_ident!("__b{}", i)).collect();
                let pat = |path: TokenStream, names: &[syn::Ident]| match v.style {
                    Style::Named => {
                        let ms = v.fields.iter().map(|f| &f.member);
                        quote!(#path { #(#ms: #names),* })
                    }
                    Style::Tuple => quote!(#path( #(#names),* )),
                    Style::Unit => path,
                };
                let archived_pat = pat(quote!(#archived::#vi), &a);
                let native_pat = pat(quote!(#ident::#vi), &b);
                quote!((#archived_pat, #native_pat) => true #(&& #a == #b)*)
            });
            let fallback = (variants.len() > 1).then(|| quote!(_ => false,));
            quote!(match (self, other) { #(#arms,)* #fallback })
        }
    };
    quote! {
        #[allow(clippy::all, clippy::pedantic)]
        impl #impl_generics ::core::cmp::PartialEq<#ident #ty_generics> for #archived #ty_generics
        where #existing #(#bounds)*
        {
            fn eq(&self, other: &#ident #ty_generics) -> bool {
                #body
            }
        }
    }
}

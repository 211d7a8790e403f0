//! The archived type of a user's type, as the derive makes it: each field's
//! `with`-wrapper and archived type, and the impls the archived type gets beside rkyv's
//! (`Debug`, and `PartialEq` with the native type).
//!
//! Both impls bound their fields higher-ranked (`for<'__strata> ...`), so that a field
//! whose archived form lacks the trait makes the impl not apply instead of failing to
//! compile: a lazy field's `Promise<T>` does not compare with its `T`, so a type with one
//! has no `PartialEq`. Types with recursive fields get no `PartialEq` (their bounds would
//! require themselves).

use crate::attr::Compress;
use crate::model::{Container, Data, Field, Shape, Storage, Style, binding, construct};
use crate::ty;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The where-clause predicates a type declares, ending with a comma (or nothing).
fn declared(where_clause: Option<&syn::WhereClause>) -> Option<TokenStream> {
    where_clause.filter(|w| !w.predicates.is_empty()).map(|w| {
        let p = &w.predicates;
        if p.trailing_punct() { quote!(#p) } else { quote!(#p,) }
    })
}

pub fn lazy_params(compress: Compress) -> (u8, i32) {
    match compress {
        Compress::Inherit => (0, 0),
        Compress::None => (1, 0),
        Compress::Zstd(l) => (2, l),
    }
}

/// The rkyv `with`-wrapper the shadow applies to a field, if any. A recursive inline
/// field is wrapped once more, in `Deep`, which limits its nesting and grows the stack.
pub fn field_wrapper(f: &Field, private: &TokenStream) -> Option<TokenStream> {
    let marker = &f.marker;
    if f.recursive && matches!(f.storage, Storage::Inline) {
        let inner = plain_wrapper(f, private).unwrap_or_else(|| quote!(#private::rkyv::with::Identity));
        return Some(quote!(#private::Deep<#marker, #inner>));
    }
    plain_wrapper(f, private)
}

/// The wrapper a field's storage asks for, recursion aside.
pub fn plain_wrapper(f: &Field, private: &TokenStream) -> Option<TokenStream> {
    let marker = &f.marker;
    match &f.storage {
        Storage::Lazy(compress) => {
            let (mode, level) = lazy_params(*compress);
            if ty::lazy_inner(f.ty).is_some() {
                return Some(quote!(#private::AsLazy<#marker, #mode, #level>));
            }
            Some(quote!(#private::Lazy<#marker, #mode, #level>))
        }
        Storage::Shard { bytes, compress, shared } => {
            let (mode, level) = lazy_params(*compress);
            let bytes = match bytes {
                Some(n) => quote!(#n),
                None => quote!({ #private::DEFAULT_SHARD_BYTES }),
            };
            if *shared {
                return Some(quote!(#private::AsSharedShards<#marker, #bytes, #mode, #level>));
            }
            Some(quote!(#private::AsShards<#marker, #bytes, #mode, #level>))
        }
        Storage::Map(compress) => {
            let (mode, level) = lazy_params(*compress);
            if f.shared_map_values().is_some() {
                return Some(quote!(#private::AsSharedBuckets<#marker, #mode, #level>));
            }
            Some(quote!(#private::Bucketed<#marker, #mode, #level>))
        }
        Storage::Inline => match &f.via {
            Some(u) => Some(quote!(#private::Via<#u>)),
            None => ty::wrapper(f.ty, private),
        },
        Storage::Shared(Shape::Direct) => Some(quote!(#private::Shared<#marker>)),
        Storage::Shared(_) => Some(quote!(#private::rkyv::with::Map<#private::Shared<#marker>>)),
        Storage::Rkyv => None,
    }
}

/// The archived type of a field, as the shadow archives it.
pub fn archived_field_ty(f: &Field, private: &TokenStream) -> TokenStream {
    let ty = f.ty;
    let rkyv = quote!(#private::rkyv);
    let with = field_wrapper(f, private);
    match with {
        Some(w) => quote!(<#w as #rkyv::with::ArchiveWith<#ty>>::Archived),
        None => quote!(<#ty as #rkyv::Archive>::Archived),
    }
}

/// `Debug` for the archived type, printed like the native type's derived `Debug`. Its
/// bounds are higher-ranked so that a field whose archived form has no `Debug` makes
/// the impl not apply instead of failing to compile.
pub fn archived_debug(c: &Container, archived: &syn::Ident, private: &TokenStream) -> TokenStream {
    let (impl_generics, ty_generics, where_clause) = c.generics.split_for_impl();
    // Bounds only for fields whose types mention a type parameter (deduplicated): the
    // others are concrete, and autoref dispatch picks `Debug` or `..` for them.
    let mut seen = std::collections::HashSet::new();
    let mut bounds: Vec<TokenStream> = c
        .all_fields()
        .filter(|f| c.generics.type_params().any(|tp| ty::mentions(f.ty, &tp.ident)))
        .map(|f| archived_field_ty(f, private))
        .filter(|a| seen.insert(a.to_string()))
        .map(|a| quote!(#a: ::core::fmt::Debug,))
        .collect();
    for tp in c.generics.type_params() {
        let t = &tp.ident;
        bounds.push(quote!(#t: #private::rkyv::Archive,));
    }
    let existing = declared(where_clause);
    let name = c.ident.to_string();
    let fields_of = |style: Style, fields: &[Field], access: &dyn Fn(&Field) -> TokenStream, label: &str| match style {
        Style::Named => {
            let parts = fields.iter().map(|f| {
                let n = match &f.member {
                    syn::Member::Named(n) => n.to_string().trim_start_matches("r#").to_owned(),
                    syn::Member::Unnamed(i) => i.index.to_string(),
                };
                let a = access(f);
                quote!(.field(#n, &#private::Shown(|__f: &mut ::core::fmt::Formatter<'_>| {
                    use #private::{ViaDebug as _, ViaOpaque as _};
                    (&&#private::DebugField(#a)).strata_fmt(__f)
                })))
            });
            quote!(__f.debug_struct(#label) #(#parts)* .finish())
        }
        Style::Tuple => {
            let parts = fields.iter().map(|f| {
                let a = access(f);
                quote!(.field(&#private::Shown(|__f: &mut ::core::fmt::Formatter<'_>| {
                    use #private::{ViaDebug as _, ViaOpaque as _};
                    (&&#private::DebugField(#a)).strata_fmt(__f)
                })))
            });
            quote!(__f.debug_tuple(#label) #(#parts)* .finish())
        }
        Style::Unit => quote!(__f.write_str(#label)),
    };
    let body = match &c.data {
        Data::Struct(style, fields) => fields_of(
            *style,
            fields,
            &|f| {
                let m = &f.member;
                quote!(&self.#m)
            },
            &name,
        ),
        Data::Enum(variants) => {
            let arms = variants.iter().map(|v| {
                let vi = v.ident;
                let bind = |f: &Field| binding(&v.fields, f);
                let pat = construct(quote!(#archived::#vi), v.style, &v.fields, bind);
                let body = fields_of(v.style, &v.fields, &bind, &vi.to_string());
                quote!(#pat => #body)
            });
            quote!(match self { #(#arms,)* })
        }
    };
    quote! {
        impl #impl_generics ::core::fmt::Debug for #archived #ty_generics where #existing #(#bounds)* {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                #body
            }
        }
    }
}

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
    let existing = declared(where_clause);
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
                let nth = |names: &[syn::Ident], f: &Field| {
                    let i = v.fields.iter().position(|g| g.member == f.member).unwrap_or(0);
                    names.get(i).map(|n| quote!(#n)).unwrap_or_default()
                };
                let archived_pat = construct(quote!(#archived::#vi), v.style, &v.fields, |f| nth(&a, f));
                let native_pat = construct(quote!(#ident::#vi), v.style, &v.fields, |f| nth(&b, f));
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

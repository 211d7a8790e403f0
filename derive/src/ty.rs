//! What the derive needs to know about a field's type, read from its syntax.

use proc_macro2::TokenStream;
use quote::quote;
use syn::visit::Visit;

/// Why a type cannot be stored, if it obviously cannot.
pub fn rejection(ty: &syn::Type) -> Option<&'static str> {
    match ty {
        syn::Type::Reference(_) => Some(
            "references cannot be stored: strata loads owned values; use an owned type such as `String` or `Vec<T>`",
        ),
        syn::Type::Ptr(_) => Some("raw pointers cannot be stored"),
        syn::Type::BareFn(_) => Some("function pointers cannot be stored"),
        syn::Type::TraitObject(_) => Some("trait objects cannot be stored: strata needs a concrete type"),
        syn::Type::ImplTrait(_) => Some("`impl Trait` cannot be stored: strata needs a concrete type"),
        syn::Type::Never(_) => Some("`!` cannot be stored"),
        syn::Type::Infer(_) => Some("the field's type must be written out"),
        syn::Type::Macro(_) => Some(
            "types produced by macros cannot be analysed by `#[derive(Persist)]`; name the type, or mark the field `#[strata(rkyv)]`",
        ),
        syn::Type::Slice(_) => Some("unsized slices cannot be stored; use `Vec<T>`"),
        syn::Type::Paren(p) => rejection(&p.elem),
        syn::Type::Group(g) => rejection(&g.elem),
        syn::Type::Array(a) => rejection(&a.elem),
        syn::Type::Tuple(t) => t.elems.iter().find_map(rejection),
        syn::Type::Path(p) => p.path.segments.iter().find_map(|seg| match &seg.arguments {
            syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                // `Box<[T]>`, `Arc<[T]>`, `Rc<[T]>`: an owned or shared slice.
                syn::GenericArgument::Type(syn::Type::Slice(s))
                    if seg.ident == "Box" || seg.ident == "Arc" || seg.ident == "Rc" || seg.ident == "Cow" =>
                {
                    rejection(&s.elem)
                }
                syn::GenericArgument::Type(t) => rejection(t),
                _ => None,
            }),
            _ => None,
        }),
        _ => None,
    }
}

/// The last path segment's name and its type arguments, for a plain path type.
fn head(ty: &syn::Type) -> Option<(String, Vec<&syn::Type>)> {
    let syn::Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let seg = p.path.segments.last()?;
    let args = match &seg.arguments {
        syn::PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        syn::PathArguments::None => Vec::new(),
        syn::PathArguments::Parenthesized(_) => return None,
    };
    Some((seg.ident.to_string(), args))
}

/// The `T` of an `Arc<T>` or `Rc<T>` whose `T` is sized (not a slice or `str`): such a
/// field is shared across the archive.
pub fn arc_inner(ty: &syn::Type) -> Option<&syn::Type> {
    match head(ty)? {
        (name, args) if name == "Arc" || name == "Rc" => match args.as_slice() {
            [syn::Type::Slice(_)] => None,
            [t] if is_named(t, &["str"]) => None,
            [t] => Some(*t),
            _ => None,
        },
        _ => None,
    }
}

/// The `T` of a `Vec<Arc<T>>` (sized `T`): sharded, its elements are stored as shared
/// fields are. (`Rc`s cannot be sharded: their parts are handled in parallel.)
pub fn shard_arc_inner(ty: &syn::Type) -> Option<&syn::Type> {
    match head(ty)? {
        (name, args) if name == "Vec" => {
            let elem = args.first()?;
            arc_inner(elem).filter(|_| is_named(elem, &["Arc"]))
        }
        _ => None,
    }
}

/// The `K` and `T` of a `HashMap<K, Arc<T>>` or `BTreeMap<K, Arc<T>>` (sized `T`): as a
/// bucketed map, its values are stored as shared fields are.
pub fn map_arc_value(ty: &syn::Type) -> Option<(&syn::Type, &syn::Type)> {
    match head(ty)? {
        (name, args) if name == "HashMap" || name == "BTreeMap" => {
            let (k, v) = (args.first()?, args.get(1)?);
            arc_inner(v).filter(|_| is_named(v, &["Arc"])).map(|t| (*k, t))
        }
        _ => None,
    }
}

/// The `K` and `V` of a `strata::Mapped<K, V>` (a bucketed map, owned or streamed).
pub fn mapped_args(ty: &syn::Type) -> Option<(&syn::Type, &syn::Type)> {
    match head(ty)? {
        (name, args) if name == "Mapped" => match args.as_slice() {
            [k, v] => Some((*k, *v)),
            _ => None,
        },
        _ => None,
    }
}

/// The `T` of a `strata::Lazy<T>` (a value in a chunk of its own, owned or left in its
/// archive): `Lazy<T>` or `strata::Lazy<T>`, not another crate's `Lazy` (`once_cell`'s).
pub fn lazy_inner(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let ours = p.path.segments.len() == 1 || p.path.segments.first().is_some_and(|s| s.ident == "strata");
    match head(ty)? {
        (name, args) if name == "Lazy" && ours => match args.as_slice() {
            [t] => Some(*t),
            _ => None,
        },
        _ => None,
    }
}

/// The `T` of a `strata::Sharded<T>` (a sharded vector, owned or streamed).
pub fn sharded_inner(ty: &syn::Type) -> Option<&syn::Type> {
    match head(ty)? {
        (name, args) if name == "Sharded" => match args.as_slice() {
            [t] => Some(*t),
            _ => None,
        },
        _ => None,
    }
}

/// Where the `Arc`s (or `Rc`s) of a shared field are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The field is the `Arc`.
    Direct,
    /// The field is a `Vec` of them.
    InVec,
    /// The field is an `Option` of one.
    InOption,
}

/// Where the shared `Arc<T>`s (or `Rc<T>`s) of a field of this type are, and their `T`:
/// the field itself, or the elements of a `Vec` or `Option` field.
pub fn shared_arc(ty: &syn::Type) -> Option<(Shape, &syn::Type)> {
    if let Some(inner) = arc_inner(ty) {
        return Some((Shape::Direct, inner));
    }
    match head(ty)? {
        (name, args) if name == "Vec" || name == "Option" => {
            let inner = arc_inner(args.first()?)?;
            Some((if name == "Vec" { Shape::InVec } else { Shape::InOption }, inner))
        }
        _ => None,
    }
}

/// Whether `ty` is one of the standard types stored as another type's archived form
/// (`strata::__private::StoredAs`), directly or inside `Option`/`Vec`: `Wrapping<T>` and
/// `Reverse<T>` (as `T`), `BinaryHeap<T>`, `LinkedList<T>` and `arrayvec`'s
/// `ArrayVec<T, N>` (as `Vec<T>`), and
/// `Cow<'static, str>` / `Cow<'static, [T]>` (as `String` / `Vec<T>`).
pub fn stored_as(ty: &syn::Type) -> bool {
    let Some((name, args)) = head(ty) else { return false };
    match (name.as_str(), args.as_slice()) {
        ("Wrapping" | "Reverse" | "BinaryHeap" | "LinkedList" | "ArrayVec", [inner]) => {
            wrapper(inner, &TokenStream::new()).is_none()
        }
        ("Cow", [syn::Type::Slice(_)]) => true,
        ("Cow", [t]) => is_named(t, &["str"]),
        ("Option" | "Vec", [inner]) => stored_as(inner),
        _ => false,
    }
}

/// The rkyv `with`-wrapper a field of this type needs: 64-bit `usize`/`isize`,
/// deterministic hash maps and sets, and the types of [`stored_as`], directly or inside
/// one `Option`/`Vec`.
pub fn wrapper(ty: &syn::Type, private: &TokenStream) -> Option<TokenStream> {
    let (name, args) = head(ty)?;
    match (name.as_str(), args.as_slice()) {
        ("Wrapping" | "Reverse", [_]) if stored_as(ty) => Some(quote!(#private::AsInner)),
        ("BinaryHeap" | "LinkedList" | "ArrayVec", [_]) if stored_as(ty) => Some(quote!(#private::AsVec)),
        ("Cow", [_]) if stored_as(ty) => Some(quote!(#private::rkyv::with::AsOwned)),
        ("usize", []) => Some(quote!(#private::AsU64)),
        ("isize", []) => Some(quote!(#private::AsI64)),
        ("SystemTime", []) => Some(quote!(#private::AsEpochTime)),
        ("PathBuf" | "OsString", []) => Some(quote!(#private::AsOsBytes)),
        ("HashMap", [_, _, ..]) | ("HashSet", [_, ..]) => Some(quote!(#private::Deterministic)),
        ("Option" | "Vec", [inner]) => {
            let w = wrapper(inner, private)?;
            Some(quote!(#private::rkyv::with::Map<#w>))
        }
        _ => None,
    }
}

/// An expression building the schema text of the type (`__s` is the builder).
pub fn describe(ty: &syn::Type, krate: &syn::Path) -> TokenStream {
    if let Some(inner) = lazy_inner(ty) {
        return describe(inner, krate);
    }
    if let Some(inner) = sharded_inner(ty) {
        let inner = describe(inner, krate);
        return quote!(::std::format!("Vec<{}>", #inner));
    }
    if stored_as(ty) {
        return quote!(__s.of::<<#ty as #krate::__private::StoredAs>::Stored>());
    }
    if let Some((name, args)) = head(ty) {
        match (name.as_str(), args.as_slice()) {
            ("usize" | "isize", []) => return quote!(::std::string::String::from(#name)),
            ("SystemTime", []) => return quote!(#krate::__private::describe_epoch_time(__s)),
            ("PathBuf" | "OsString", []) => return quote!(::std::string::String::from("Vec<u8>")),
            ("Option" | "Vec", [inner]) if wrapper(inner, &quote!(#krate::__private)).is_some() => {
                let inner = describe(inner, krate);
                let fmt = format!("{name}<{{}}>");
                return quote!(::std::format!(#fmt, #inner));
            }
            _ => {}
        }
    }
    quote!(__s.of::<#ty>())
}

/// Whether `ty` mentions a type the derive stores through a wrapper of its own because
/// it is not `Persist` itself (`usize`, `isize`, `SystemTime`, `PathBuf`, `OsString`, and
/// the types of [`stored_as`]): such fields are not walked as their own type.
pub fn stored_by_wrapper(ty: &syn::Type) -> bool {
    stored_as(ty)
        || ["usize", "isize", "SystemTime", "PathBuf", "OsString"]
            .iter()
            .any(|n| mentions(ty, &syn::Ident::new(n, proc_macro2::Span::call_site())))
}

/// Whether `ty` mentions a type stored as bytes out of line (`PathBuf`, `OsString`).
pub fn stored_as_bytes(ty: &syn::Type) -> bool {
    ["PathBuf", "OsString"].iter().any(|n| mentions(ty, &syn::Ident::new(n, proc_macro2::Span::call_site())))
}

/// Whether the type's syntax names `ident` anywhere (a recursive field).
pub fn mentions(ty: &syn::Type, ident: &syn::Ident) -> bool {
    struct Finder<'a> {
        ident: &'a syn::Ident,
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_path_segment(&mut self, seg: &'ast syn::PathSegment) {
            if seg.ident == *self.ident {
                self.found = true;
            }
            syn::visit::visit_path_segment(self, seg);
        }
    }
    let mut f = Finder { ident, found: false };
    f.visit_type(ty);
    f.found
}

/// Whether the type is a plain path whose last segment is one of `names`.
pub fn is_named(ty: &syn::Type, names: &[&str]) -> bool {
    head(ty).is_some_and(|(name, _)| names.contains(&name.as_str()))
}

/// The schema expression of a `#[strata(map)]` field's type: its key and value
/// described one by one (the map itself is bucketed, not an inline `Persist` map).
pub fn describe_map(ty: &syn::Type, krate: &syn::Path) -> TokenStream {
    match head(ty) {
        Some((name, args)) if !args.is_empty() => {
            let parts: Vec<TokenStream> = args.iter().map(|a| describe(a, krate)).collect();
            // A `strata::Mapped` is stored as a `HashMap` field is.
            let name = if name == "Mapped" { "HashMap" } else { name.as_str() };
            let fmt = format!("{name}<{}>", vec!["{}"; parts.len()].join(", "));
            quote!(::std::format!(#fmt, #(#parts),*))
        }
        _ => describe(ty, krate),
    }
}

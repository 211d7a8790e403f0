//! The derive's model of the input: containers, variants, fields, and how each field
//! is stored. Everything `emit` needs, checked, with errors already reported.

use crate::attr::{self, Compress, ContainerAttrs, DefaultValue};
use crate::ctxt::Ctxt;
use crate::ty;
use proc_macro2::TokenStream;
use quote::quote;

pub use crate::ty::Shape;

pub enum Storage {
    Inline,
    Lazy(Compress),
    /// `bytes`: the field's `shard_bytes`, or the engine's default when `None`.
    /// `shared`: a `Vec<Arc<T>>`, whose elements are stored as shared fields are.
    Shard {
        bytes: Option<u64>,
        compress: Compress,
        shared: bool,
    },
    Map(Compress),
    Rkyv,
    /// An `Arc<T>` or `Rc<T>` field (sized `T`), or a `Vec`/`Option` of them: a chunk of
    /// its own per allocation in the archive, described as `lazy T` (`Vec<lazy T>`, ...).
    Shared(Shape),
}

pub struct Field<'a> {
    pub member: syn::Member,
    /// The field's name in paths: `history`, `0`, `Variant.field`.
    pub label: String,
    /// The marker type that carries `label` to the writer (chunked fields only).
    pub marker: syn::Ident,
    pub vis: &'a syn::Visibility,
    pub ty: &'a syn::Type,
    pub storage: Storage,
    /// The field's type names the container itself (recursion through an inline
    /// `Box`, `Vec` or `Option`): its rkyv bounds must be omitted.
    pub recursive: bool,
    /// What the field reads as from a file that lacks it.
    pub default: Option<DefaultValue>,
    /// Names the field had in files written before.
    pub aliases: Vec<String>,
    /// The type the field is stored as (`#[strata(via = "U")]`).
    pub via: Option<syn::Type>,
}

impl Field<'_> {
    /// The key type and the pointee of a bucketed map field whose values are `Arc`s
    /// (`HashMap<K, Arc<T>>`, `BTreeMap<K, Arc<T>>`): its values are stored as shared
    /// fields are.
    pub fn shared_map_values(&self) -> Option<(&syn::Type, &syn::Type)> {
        match self.storage {
            Storage::Map(_) if self.via.is_none() => crate::ty::map_arc_value(self.ty),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Named,
    Tuple,
    Unit,
}

pub struct Variant<'a> {
    pub ident: &'a syn::Ident,
    pub style: Style,
    pub fields: Vec<Field<'a>>,
    /// Names the variant had in files written before.
    pub aliases: Vec<String>,
    /// Reads any variant a file holds that the type does not know (a unit variant).
    pub other: bool,
}

pub enum Data<'a> {
    Struct(Style, Vec<Field<'a>>),
    Enum(Vec<Variant<'a>>),
}

pub struct Container<'a> {
    pub ident: &'a syn::Ident,
    pub vis: &'a syn::Visibility,
    pub generics: &'a syn::Generics,
    pub data: Data<'a>,
    pub attrs: ContainerAttrs,
}

impl<'a> Container<'a> {
    pub fn from_ast(cx: &Ctxt, input: &'a syn::DeriveInput) -> Option<Self> {
        let attrs = attr::container(cx, &input.attrs);
        for lt in input.generics.lifetimes() {
            cx.error(
                lt,
                "types with lifetime parameters cannot derive `Persist`: stored values are loaded as owned values",
            );
        }
        let data = match &input.data {
            syn::Data::Struct(s) => {
                let (style, fields) = fields(cx, &input.ident, None, &s.fields);
                Data::Struct(style, fields)
            }
            syn::Data::Enum(e) => {
                if e.variants.is_empty() {
                    cx.error(&input.ident, "an enum without variants has no value to store");
                }
                if input.ident == "Tag" {
                    cx.error(
                        &input.ident,
                        "an enum cannot be named `Tag`: rkyv's enum derive names a type of its own `ArchivedTag`; rename the enum",
                    );
                }
                let variants: Vec<Variant> = e
                    .variants
                    .iter()
                    .map(|v| {
                        let a = attr::variant(cx, &v.attrs);
                        if let Some((_, d)) = &v.discriminant {
                            cx.error(d, "explicit discriminants are not supported: strata stores the variant's index");
                        }
                        let (style, fields) = fields(cx, &input.ident, Some(&v.ident), &v.fields);
                        if let (Some(span), false) = (a.other, style == Style::Unit) {
                            cx.push(syn::Error::new(span, "`other` belongs on a unit variant: it reads variants it does not know, which hold nothing it could keep"));
                        }
                        Variant { ident: &v.ident, style, fields, aliases: a.aliases, other: a.other.is_some() }
                    })
                    .collect();
                check_aliases(
                    cx,
                    variants.iter().map(|v| (v.ident.to_string(), &v.aliases[..], v.ident.span())),
                    "variant",
                );
                if variants.iter().filter(|v| v.other).count() > 1 {
                    cx.error(&input.ident, "only one variant can be `#[strata(other)]`");
                }
                Data::Enum(variants)
            }
            syn::Data::Union(u) => {
                cx.error(
                    u.union_token,
                    "unions cannot derive `Persist`: strata cannot tell which field holds the value",
                );
                return None;
            }
        };
        Some(Container { ident: &input.ident, vis: &input.vis, generics: &input.generics, data, attrs })
    }

    /// Every field of the container, across variants.
    pub fn all_fields(&self) -> Box<dyn Iterator<Item = &Field<'a>> + '_> {
        match &self.data {
            Data::Struct(_, f) => Box::new(f.iter()),
            Data::Enum(vs) => Box::new(vs.iter().flat_map(|v| v.fields.iter())),
        }
    }
}

fn fields<'a>(
    cx: &Ctxt,
    container: &syn::Ident,
    variant: Option<&syn::Ident>,
    fields: &'a syn::Fields,
) -> (Style, Vec<Field<'a>>) {
    let style = match fields {
        syn::Fields::Named(_) => Style::Named,
        syn::Fields::Unnamed(_) => Style::Tuple,
        syn::Fields::Unit => Style::Unit,
    };
    let out = fields
        .iter()
        .zip(fields.members())
        .map(|(f, member)| {
            let handle = ty::sharded_inner(&f.ty).is_some()
                || ty::mapped_args(&f.ty).is_some()
                || ty::lazy_inner(&f.ty).is_some();
            let a = attr::field(cx, &f.attrs, handle);
            if let Some(why) = ty::rejection(&f.ty)
                && a.rkyv.is_none()
            {
                cx.error(&f.ty, why);
            }
            let storage =
                if a.lazy.is_some() || (ty::lazy_inner(&f.ty).is_some() && a.rkyv.is_none() && a.via.is_none()) {
                    Storage::Lazy(a.compress)
                } else if let Some(span) = a.shard {
                    if !ty::is_named(&f.ty, &["Vec"]) && ty::sharded_inner(&f.ty).is_none() {
                        cx.push(syn::Error::new(span, "`shard` applies to `Vec<T>` and `strata::Sharded<T>` fields"));
                    }
                    let shared = a.rkyv.is_none() && a.via.is_none() && ty::shard_arc_inner(&f.ty).is_some();
                    Storage::Shard { bytes: a.shard_bytes, compress: a.compress, shared }
                } else if ty::sharded_inner(&f.ty).is_some() && a.rkyv.is_none() && a.via.is_none() && a.map.is_none() {
                    Storage::Shard { bytes: a.shard_bytes, compress: a.compress, shared: false }
                } else if let Some(span) = a.map {
                    if !ty::is_named(&f.ty, &["HashMap", "BTreeMap", "HashSet", "BTreeSet", "Mapped"]) {
                        cx.push(syn::Error::new(
                            span,
                            "`map` applies to `HashMap`, `BTreeMap`, `HashSet`, `BTreeSet` and `strata::Mapped` fields",
                        ));
                    }
                    Storage::Map(a.compress)
                } else if ty::mapped_args(&f.ty).is_some() && a.rkyv.is_none() && a.via.is_none() {
                    Storage::Map(a.compress)
                } else if a.rkyv.is_some() {
                    Storage::Rkyv
                } else if let (None, Some((shape, _))) = (&a.via, ty::shared_arc(&f.ty)) {
                    Storage::Shared(shape)
                } else {
                    Storage::Inline
                };
            let recursive =
                a.via.is_none() && matches!(storage, Storage::Inline | Storage::Rkyv) && ty::mentions(&f.ty, container);
            if let (Some(attr::DefaultValue::Function(p)), Storage::Shard { .. } | Storage::Map(_)) =
                (&a.default, &storage)
            {
                cx.error(
                    p,
                    "a sharded vector or map added to a type reads as empty: use `#[strata(default)]`, not a function",
                );
            }
            let member_name = match &member {
                syn::Member::Named(n) => n.to_string().trim_start_matches("r#").to_owned(),
                syn::Member::Unnamed(i) => i.index.to_string(),
            };
            let label = match variant {
                Some(v) => format!("{v}.{member_name}"),
                None => member_name.clone(),
            };
            let marker = match variant {
                Some(v) => quote::format_ident!("__StrataName_{}_{}_{}", container, v, member_name),
                None => quote::format_ident!("__StrataName_{}_{}", container, member_name),
            };
            Field {
                member,
                label,
                marker,
                vis: &f.vis,
                ty: &f.ty,
                storage,
                recursive,
                default: a.default,
                aliases: a.aliases,
                via: a.via.map(|(t, _)| t),
            }
        })
        .collect::<Vec<_>>();
    check_aliases(
        cx,
        out.iter().map(|f| {
            let name = match &f.member {
                syn::Member::Named(n) => n.to_string().trim_start_matches("r#").to_owned(),
                syn::Member::Unnamed(i) => i.index.to_string(),
            };
            (name, &f.aliases[..], syn::spanned::Spanned::span(f.ty))
        }),
        "field",
    );
    (style, out)
}

/// Reports an alias that names another field or variant of the same type, or that two
/// of them share: a file's name must select one member.
fn check_aliases<'s>(cx: &Ctxt, members: impl Iterator<Item = (String, &'s [String], proc_macro2::Span)>, what: &str) {
    let members: Vec<_> = members.collect();
    let mut seen: Vec<&str> = members.iter().map(|(name, _, _)| name.as_str()).collect();
    for (name, aliases, span) in &members {
        for alias in *aliases {
            if alias == name {
                cx.push(syn::Error::new(*span, format!("alias `{alias}` is the {what}'s own name")));
            } else if seen.contains(&alias.as_str()) {
                cx.push(syn::Error::new(
                    *span,
                    format!("alias `{alias}` names another {what} or another {what}'s alias: a file's `{alias}` must select one {what}"),
                ));
            } else {
                seen.push(alias);
            }
        }
    }
}

/// A value or pattern of `path`'s shape: `path { a: v, b: v }`, `path(v, v)` or `path`,
/// with `value` for each field.
pub fn construct(
    path: TokenStream,
    style: Style,
    fields: &[Field],
    value: impl Fn(&Field) -> TokenStream,
) -> TokenStream {
    match style {
        Style::Named => {
            let inits = fields.iter().map(|f| {
                let m = &f.member;
                let v = value(f);
                quote!(#m: #v)
            });
            quote!(#path { #(#inits,)* })
        }
        Style::Tuple => {
            let vals = fields.iter().map(&value);
            quote!(#path( #(#vals,)* ))
        }
        Style::Unit => path,
    }
}

/// The binding `__f{i}` of field `f` of `fields` in a pattern (its position in the list).
pub fn binding(fields: &[Field], f: &Field) -> TokenStream {
    let i = fields.iter().position(|g| g.member == f.member).unwrap_or(0);
    let b = quote::format_ident!("__f{}", i);
    quote!(#b)
}

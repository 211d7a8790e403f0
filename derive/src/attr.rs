//! `#[strata(...)]` attributes, parsed into typed settings.

use crate::ctxt::Ctxt;
use syn::spanned::Spanned;

/// Container attributes: `#[strata(crate = "path")]`, `#[strata(alias = "OldName")]`.
#[derive(Default)]
pub struct ContainerAttrs {
    pub crate_path: Option<syn::Path>,
    /// Names the type had in files written before (schema evolution).
    pub aliases: Vec<String>,
}

/// What an added field reads as when a file lacks it.
#[derive(Clone)]
pub enum DefaultValue {
    /// `#[strata(default)]`: `Default::default()`.
    Trait,
    /// `#[strata(default = "path::to::fn")]`.
    Function(syn::ExprPath),
}

/// Variant attributes: `#[strata(alias = "Old")]`, `#[strata(other)]`.
#[derive(Default)]
pub struct VariantAttrs {
    pub aliases: Vec<String>,
    pub other: Option<proc_macro2::Span>,
}

/// Parses `alias = "name"`: a Rust identifier.
fn alias(cx: &Ctxt, meta: &syn::meta::ParseNestedMeta<'_>, out: &mut Vec<String>) -> syn::Result<()> {
    let lit: syn::LitStr = meta.value()?.parse()?;
    let name = lit.value();
    if syn::parse_str::<syn::Ident>(&name).is_err() {
        cx.error(&lit, "an alias is a name, e.g. `alias = \"old_name\"`");
    } else if out.contains(&name) {
        cx.error(&lit, format!("alias `{name}` is already given"));
    } else {
        out.push(name);
    }
    Ok(())
}

/// How a field is compressed when it is lazy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compress {
    /// The save's default.
    Inherit,
    /// Never compressed.
    None,
    /// zstd at a level.
    Zstd(i32),
}

/// Field attributes.
pub struct FieldAttrs {
    /// What the field reads as from a file that lacks it (schema evolution).
    pub default: Option<DefaultValue>,
    /// Names the field had in files written before.
    pub aliases: Vec<String>,
    pub lazy: Option<proc_macro2::Span>,
    pub rkyv: Option<proc_macro2::Span>,
    pub shard: Option<proc_macro2::Span>,
    pub shard_bytes: Option<u64>,
    pub map: Option<proc_macro2::Span>,
    pub compress: Compress,
    pub compress_span: Option<proc_macro2::Span>,
    /// The type a field of a type that is not `Persist` is stored as.
    pub via: Option<(syn::Type, proc_macro2::Span)>,
}

fn set_once<T>(cx: &Ctxt, slot: &mut Option<T>, value: T, span: &syn::Path, name: &str) {
    if slot.is_some() {
        cx.error(span, format!("`{name}` is already specified"));
    } else {
        *slot = Some(value);
    }
}

pub fn container(cx: &Ctxt, attrs: &[syn::Attribute]) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("strata")) {
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                match lit.parse::<syn::Path>() {
                    Ok(p) => set_once(cx, &mut out.crate_path, p, &meta.path, "crate"),
                    Err(_) => cx.error(&lit, "expected a path, e.g. `crate = \"my_strata\"`"),
                }
                Ok(())
            } else if meta.path.is_ident("alias") {
                alias(cx, &meta, &mut out.aliases)
            } else if ["lazy", "rkyv", "compress", "default", "shard", "map"].iter().any(|a| meta.path.is_ident(a)) {
                Err(meta.error("this attribute belongs on a field, not on the type"))
            } else {
                Err(meta.error("unknown strata attribute; expected `crate = \"...\"` or `alias = \"...\"`"))
            }
        });
        if let Err(e) = res {
            cx.push(e);
        }
    }
    out
}

pub fn field(cx: &Ctxt, attrs: &[syn::Attribute], handle: bool) -> FieldAttrs {
    let mut out = FieldAttrs {
        default: None,
        aliases: Vec::new(),
        lazy: None,
        rkyv: None,
        shard: None,
        shard_bytes: None,
        map: None,
        compress: Compress::Inherit,
        compress_span: None,
        via: None,
    };
    for attr in attrs.iter().filter(|a| a.path().is_ident("strata")) {
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("lazy") {
                set_once(cx, &mut out.lazy, meta.path.span(), &meta.path, "lazy");
                Ok(())
            } else if meta.path.is_ident("rkyv") {
                set_once(cx, &mut out.rkyv, meta.path.span(), &meta.path, "rkyv");
                Ok(())
            } else if meta.path.is_ident("shard") {
                set_once(cx, &mut out.shard, meta.path.span(), &meta.path, "shard");
                Ok(())
            } else if meta.path.is_ident("map") {
                set_once(cx, &mut out.map, meta.path.span(), &meta.path, "map");
                Ok(())
            } else if meta.path.is_ident("shard_bytes") {
                let lit: syn::LitInt = meta.value()?.parse()?;
                match lit.base10_parse::<u64>() {
                    Ok(n) if (1024..=(1 << 30)).contains(&n) => {
                        set_once(cx, &mut out.shard_bytes, n, &meta.path, "shard_bytes");
                    }
                    _ => cx.error(&lit, "`shard_bytes` takes a byte count from 1024 to 1073741824 (1 GiB)"),
                }
                Ok(())
            } else if meta.path.is_ident("compress") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                if out.compress_span.is_some() {
                    cx.error(&meta.path, "`compress` is already specified");
                }
                out.compress_span = Some(lit.span());
                match parse_compress(&lit.value()) {
                    Some(c) => out.compress = c,
                    None => {
                        cx.error(&lit, "expected `\"zstd\"`, `\"zstd(LEVEL)\"` with LEVEL in 1..=22 or -131072..=-1, `\"fast\"` (zstd -1) or `\"none\"`")
                    }
                }
                Ok(())
            } else if meta.path.is_ident("default") {
                let value = if meta.input.peek(syn::Token![=]) {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    match lit.parse::<syn::ExprPath>() {
                        Ok(p) => DefaultValue::Function(p),
                        Err(_) => {
                            cx.error(&lit, "expected a function's path, e.g. `default = \"defaults::level\"`");
                            DefaultValue::Trait
                        }
                    }
                } else {
                    DefaultValue::Trait
                };
                set_once(cx, &mut out.default, value, &meta.path, "default");
                Ok(())
            } else if meta.path.is_ident("alias") {
                alias(cx, &meta, &mut out.aliases)
            } else if meta.path.is_ident("via") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                match lit.parse::<syn::Type>() {
                    Ok(t) => set_once(cx, &mut out.via, (t, lit.span()), &meta.path, "via"),
                    Err(_) => cx.error(&lit, "expected a type, e.g. `via = \"[u8; 16]\"`"),
                }
                Ok(())
            } else if meta.path.is_ident("crate") {
                Err(meta.error("`crate` belongs on the type, not on a field"))
            } else if meta.path.is_ident("other") {
                Err(meta.error("`other` belongs on an enum's unit variant"))
            } else {
                Err(meta.error("unknown strata field attribute; expected `lazy`, `shard`, `shard_bytes = N`, `map`, `compress = \"...\"`, `rkyv`, `via = \"...\"`, `default`, `default = \"...\"` or `alias = \"...\"`"))
            }
        });
        if let Err(e) = res {
            cx.push(e);
        }
    }
    let kinds: Vec<(&str, proc_macro2::Span)> =
        [("lazy", out.lazy), ("shard", out.shard), ("map", out.map), ("rkyv", out.rkyv)]
            .into_iter()
            .filter_map(|(n, s)| s.map(|s| (n, s)))
            .collect();
    if let [(first, _), (second, span), ..] = kinds.as_slice() {
        cx.push(syn::Error::new(
            *span,
            format!("`{first}` and `{second}` cannot be combined: a field is stored one way"),
        ));
    }
    // A `strata::Sharded` or `strata::Mapped` field is chunked without saying so.
    let chunked = handle || out.lazy.is_some() || out.shard.is_some() || out.map.is_some();
    if let (true, Some((_, span))) = (chunked || out.rkyv.is_some(), &out.via) {
        cx.push(syn::Error::new(
            *span,
            "`via` applies to inline fields only: it cannot be combined with `lazy`, `shard`, `map` or `rkyv`",
        ));
    }
    if let (false, Some(span)) = (chunked, out.compress_span) {
        cx.push(syn::Error::new(span, "`compress` applies to `lazy`, `shard` and `map` fields only"));
    }
    if out.shard_bytes.is_some()
        && out.shard.is_none()
        && !handle
        && let Some(attr) = attrs.iter().find(|a| a.path().is_ident("strata"))
    {
        cx.error(attr, "`shard_bytes` applies to `shard` fields only: add `shard`");
    }
    out
}

fn parse_compress(s: &str) -> Option<Compress> {
    let s = s.trim();
    if s == "none" {
        return Some(Compress::None);
    }
    if s == "zstd" {
        return Some(Compress::Zstd(3));
    }
    if s == "fast" {
        // `strata::Codec::FAST`.
        return Some(Compress::Zstd(-1));
    }
    let level = s.strip_prefix("zstd(")?.strip_suffix(')')?.trim().parse::<i32>().ok()?;
    ((-131_072..=22).contains(&level) && level != 0).then_some(Compress::Zstd(level))
}

pub fn variant(cx: &Ctxt, attrs: &[syn::Attribute]) -> VariantAttrs {
    let mut out = VariantAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("strata")) {
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("alias") {
                alias(cx, &meta, &mut out.aliases)
            } else if meta.path.is_ident("other") {
                set_once(cx, &mut out.other, meta.path.span(), &meta.path, "other");
                Ok(())
            } else {
                Err(meta.error(
                    "unknown strata variant attribute; expected `alias = \"...\"` or `other` (put field attributes on the variant's fields)",
                ))
            }
        });
        if let Err(e) = res {
            cx.push(e);
        }
    }
    out
}

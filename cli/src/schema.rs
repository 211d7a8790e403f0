//! `strata schema`: a file's stored schema as Rust-like declarations.

use strata::schema::{Def, Field, Schema, Storage, Ty, Variant, render};

/// The declarations of every type `schema` names, the root's first, then by name;
/// with `layout`, each type's archived size and alignment and each field's offset.
pub fn declarations(schema: &Schema, layout: bool) -> String {
    let mut out = format!("// root: {}\n", render(&schema.root));
    let root = match &schema.root {
        Ty::Named(name, _) => Some(name.as_str()),
        _ => None,
    };
    let mut names: Vec<&String> = schema.types.keys().collect();
    names.sort_by_key(|n| (Some(n.as_str()) != root, n.as_str()));
    for name in names {
        if let Some(def) = schema.types.get(name) {
            out.push('\n');
            declare(&mut out, name, def, layout.then_some(schema));
        }
    }
    out
}

/// Declares `def`; with `layout` (the schema), its size, alignment and padding, and
/// each field's offset.
fn declare(out: &mut String, name: &str, def: &Def, layout: Option<&Schema>) {
    let (size, align, aliases) = match def {
        Def::Struct { size, align, aliases, .. } | Def::Enum { size, align, aliases, .. } => (size, align, aliases),
    };
    attrs(out, "", &aliases.iter().map(|a| format!("alias = \"{a}\"")).collect::<Vec<_>>());
    let note = match layout {
        Some(schema) => format!(" // size {size}, align {align}{}", padding_note(schema, def)),
        None => String::new(),
    };
    let layout = layout.is_some();
    match def {
        Def::Struct { tuple: true, fields, .. } => {
            let parts: Vec<String> = fields.iter().map(|f| inline_field(f, layout)).collect();
            out.push_str(&format!("struct {name}({});{note}\n", parts.join(", ")));
        }
        Def::Struct { fields, .. } => {
            out.push_str(&format!("struct {name} {{{note}\n"));
            for f in fields {
                field(out, "    ", f, layout);
            }
            out.push_str("}\n");
        }
        Def::Enum { variants, .. } => {
            out.push_str(&format!("enum {name} {{{note}\n"));
            for v in variants {
                variant(out, v, layout);
            }
            out.push_str("}\n");
        }
    }
}

/// A struct's padding, and the smaller size its fields would take ordered by
/// alignment; empty for a struct without padding and for an enum.
fn padding_note(schema: &Schema, def: &Def) -> String {
    let Ok(Some(p)) = schema.struct_padding(def) else { return String::new() };
    if p.own == 0 {
        return String::new();
    }
    let mut note = format!(", {} bytes of padding", p.own);
    if p.reordered_size < p.size {
        note.push_str(&format!("; {} bytes declared as {}", p.reordered_size, p.reordered.join(", ")));
    }
    note
}

fn variant(out: &mut String, v: &Variant, layout: bool) {
    let mut notes: Vec<String> = v.aliases.iter().map(|a| format!("alias = \"{a}\"")).collect();
    if v.other {
        notes.insert(0, String::from("other"));
    }
    attrs(out, "    ", &notes);
    if v.fields.is_empty() {
        out.push_str(&format!("    {},\n", v.name));
    } else if v.tuple {
        let parts: Vec<String> = v.fields.iter().map(|f| inline_field(f, layout)).collect();
        out.push_str(&format!("    {}({}),\n", v.name, parts.join(", ")));
    } else {
        out.push_str(&format!("    {} {{\n", v.name));
        for f in &v.fields {
            field(out, "        ", f, layout);
        }
        out.push_str("    },\n");
    }
}

/// The `#[strata(...)]` words of a field.
fn notes(f: &Field) -> Vec<String> {
    let mut notes = Vec::new();
    match f.storage {
        Storage::Inline if matches!(&f.ty, Ty::Opaque { name, .. } if name.starts_with("rkyv ")) => {
            notes.push(String::from("rkyv"));
        }
        Storage::Inline => {}
        Storage::Lazy => notes.push(String::from("lazy")),
        Storage::Shard => notes.push(String::from("shard")),
        Storage::Map => notes.push(String::from("map")),
    }
    if f.default {
        notes.push(String::from("default"));
    }
    notes.extend(f.aliases.iter().map(|a| format!("alias = \"{a}\"")));
    notes
}

fn ty(f: &Field) -> String {
    match &f.ty {
        Ty::Opaque { name, .. } => name.strip_prefix("rkyv ").unwrap_or(name).to_owned(),
        other => rust(other),
    }
}

/// A type expression as Rust: a `lazy T` inside a type is what an `Arc<T>` field's
/// `Vec` or `Option` stores.
fn rust(t: &Ty) -> String {
    match t {
        Ty::Lazy(t) => format!("Arc<{}>", rust(t)),
        Ty::Vec(t) => format!("Vec<{}>", rust(t)),
        Ty::Option(t) => format!("Option<{}>", rust(t)),
        Ty::Boxed(t) => format!("Box<{}>", rust(t)),
        Ty::Array(t, n) => format!("[{}; {n}]", rust(t)),
        Ty::Tuple(ts) => format!("({},)", ts.iter().map(rust).collect::<Vec<_>>().join(", ")),
        other => render(other),
    }
}

fn field(out: &mut String, indent: &str, f: &Field, layout: bool) {
    attrs(out, indent, &notes(f));
    let at = if layout { format!(" // @{}", f.offset) } else { String::new() };
    out.push_str(&format!("{indent}{}: {},{at}\n", f.name, ty(f)));
}

/// A positional field, its notes inline.
fn inline_field(f: &Field, layout: bool) -> String {
    let notes = notes(f);
    let attrs = if notes.is_empty() { String::new() } else { format!("#[strata({})] ", notes.join(", ")) };
    let at = if layout { format!(" /* @{} */", f.offset) } else { String::new() };
    format!("{attrs}{}{at}", ty(f))
}

fn attrs(out: &mut String, indent: &str, notes: &[String]) {
    if !notes.is_empty() {
        out.push_str(&format!("{indent}#[strata({})]\n", notes.join(", ")));
    }
}

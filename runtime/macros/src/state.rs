//! `#[derive(Live)]`: field markers of the state struct.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr};

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let name = &input.ident;
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    let rename_all = serde_str(&input.attrs, "rename_all");
    let mut server_only = Vec::new();
    let mut redacted = Vec::new();
    if let Data::Struct(s) = &input.data {
        if let Fields::Named(fields) = &s.fields {
            for f in &fields.named {
                let Some(ident) = &f.ident else { continue };
                let key = serde_str(&f.attrs, "rename")
                    .unwrap_or_else(|| apply_rename_all(&ident.to_string(), rename_all.as_deref()));
                for attr in f.attrs.iter().filter(|a| a.path().is_ident("live")) {
                    attr.parse_nested_meta(|m| {
                        if m.path.is_ident("server_only") {
                            server_only.push(key.clone());
                            Ok(())
                        } else if m.path.is_ident("redact") {
                            redacted.push(key.clone());
                            Ok(())
                        } else {
                            Err(m.error(
                                "unknown `live` field option: expected `server_only` or `redact`",
                            ))
                        }
                    })?;
                }
            }
        }
    } else if let Some(attr) = input.attrs.iter().find(|a| a.path().is_ident("live")) {
        return Err(syn::Error::new_spanned(
            attr,
            "`live` markers are only supported on structs with named fields",
        ));
    }
    Ok(quote! {
        impl #impl_g ::fluxlive::LiveState for #name #ty_g #where_g {
            const SERVER_ONLY: &'static [&'static str] = &[#(#server_only),*];
            const REDACTED: &'static [&'static str] = &[#(#redacted),*];
        }
    })
}

/// The string value of `#[serde(<key> = "...")]`, if present.
fn serde_str(attrs: &[syn::Attribute], key: &str) -> Option<String> {
    let mut out = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        // Other serde options are not ours to judge: serde reports them.
        let _ = attr.parse_nested_meta(|m| {
            if m.path.is_ident(key) {
                let s: LitStr = m.value()?.parse()?;
                out = Some(s.value());
            } else if m.input.peek(syn::Token![=]) {
                let _: syn::Expr = m.value()?.parse()?;
            }
            Ok(())
        });
    }
    out
}

fn apply_rename_all(field: &str, rule: Option<&str>) -> String {
    let words: Vec<&str> = field.split('_').filter(|w| !w.is_empty()).collect();
    let cap = |w: &str| {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    match rule {
        Some("camelCase") => words
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { (*w).to_owned() } else { cap(w) })
            .collect(),
        Some("PascalCase") => words.iter().map(|w| cap(w)).collect(),
        Some("kebab-case") => words.join("-"),
        Some("SCREAMING_SNAKE_CASE") => field.to_uppercase(),
        Some("SCREAMING-KEBAB-CASE") => words.join("-").to_uppercase(),
        Some("lowercase") => field.to_lowercase(),
        Some("UPPERCASE") => field.to_uppercase(),
        _ => field.to_owned(),
    }
}

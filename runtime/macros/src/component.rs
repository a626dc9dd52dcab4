//! `#[live_component]`: the action table and lifecycle wiring of an `impl` block.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::{
    parse::Parser, punctuated::Punctuated, spanned::Spanned, FnArg, Ident, ImplItem, ImplItemFn,
    ItemImpl, LitStr, Meta, Pat, ReturnType, Token, Type,
};

const HOOKS: [&str; 3] = ["on_mount", "on_unmount", "on_props_changed"];

struct Param {
    ident: Ident,
    name: String,
    ty: Type,
    is_ctx: bool,
    redacted: bool,
}

struct Action {
    ident: Ident,
    name: String,
    params: Vec<Param>,
    is_async: bool,
    returns_result: bool,
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut imp: ItemImpl = syn::parse2(item)?;
    if let Some((_, path, _)) = &imp.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "#[live_component] goes on an inherent `impl Type { .. }` block, not a trait impl",
        ));
    }
    if !imp.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &imp.generics,
            "live components cannot be generic: each registered type needs one name",
        ));
    }
    let self_ty = imp.self_ty.clone();
    let mut name = type_name(&self_ty)?;
    let mut shared = false;
    let args = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)?;
    for meta in args {
        match &meta {
            Meta::Path(p) if p.is_ident("shared") => shared = true,
            Meta::NameValue(nv) if nv.path.is_ident("name") => {
                let lit: LitStr = syn::parse2(nv.value.to_token_stream())?;
                name = lit.value();
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    meta,
                    "unknown #[live_component] option: expected `shared` or `name = \"...\"`",
                ))
            }
        }
    }

    let mut actions = Vec::new();
    let mut handlers = Vec::new();
    let mut mount: Option<(Vec<Param>, bool)> = None;
    let mut hooks: Vec<(String, bool, bool)> = Vec::new();
    for item in &mut imp.items {
        let ImplItem::Fn(f) = item else { continue };
        let is_action = take_attr(&mut f.attrs, "action");
        let is_handler = take_attr(&mut f.attrs, "handler");
        let fname = f.sig.ident.to_string();
        if is_action && is_handler {
            return Err(syn::Error::new_spanned(
                &f.sig,
                "a method is either an #[action] (callable by clients and the bus) or a #[handler] (the bus only), not both",
            ));
        }
        if is_action {
            actions.push(parse_action(f)?);
        } else if is_handler {
            handlers.push(parse_action(f)?);
        } else if fname == "mount" {
            if f.sig.receiver().is_some() {
                return Err(syn::Error::new_spanned(
                    &f.sig,
                    "`mount` builds the component: it takes (props, ctx) and no `self`",
                ));
            }
            if f.sig.asyncness.is_some() {
                return Err(syn::Error::new_spanned(
                    f.sig.asyncness,
                    "`mount` must be synchronous; load data in `async fn on_mount(&mut self, ctx: &mut Ctx)`",
                ));
            }
            let params = parse_params(f)?;
            mount = Some((params, returns_result(&f.sig.output)));
        } else if HOOKS.contains(&fname.as_str()) {
            if !matches!(f.sig.receiver(), Some(r) if r.mutability.is_some() && r.reference.is_some())
            {
                return Err(syn::Error::new_spanned(
                    &f.sig,
                    format!("`{fname}` must take `&mut self`"),
                ));
            }
            hooks.push((
                fname,
                f.sig.asyncness.is_some(),
                returns_result(&f.sig.output),
            ));
        }
        for input in f.sig.inputs.iter_mut() {
            if let FnArg::Typed(pt) = input {
                take_attr(&mut pt.attrs, "redact");
            }
        }
    }

    let name_lit = LitStr::new(&name, Span::call_site());
    let action_metas = actions.iter().map(|a| {
        let n = &a.name;
        let params = a.params.iter().filter(|p| !p.is_ctx).map(|p| &p.name);
        let red = a
            .params
            .iter()
            .filter(|p| p.redacted)
            .map(|p| &p.name);
        quote! { ::fluxlive::ActionMeta { name: #n, params: &[#(#params),*], redacted_params: &[#(#red),*] } }
    });
    let n_actions = actions.len();
    let handler_names: Vec<&String> = actions
        .iter()
        .chain(handlers.iter())
        .map(|a| &a.name)
        .collect();
    let arms: Vec<TokenStream> = actions
        .iter()
        .chain(handlers.iter())
        .map(action_arm)
        .collect();

    let (props_ty, create) = match &mount {
        None => (
            quote!(::fluxlive::NoProps),
            quote! {
                let _ = (props, ctx);
                ::std::result::Result::Ok(<Self as ::std::default::Default>::default())
            },
        ),
        Some((params, is_result)) => {
            let data: Vec<&Param> = params.iter().filter(|p| !p.is_ctx).collect();
            if data.len() > 1 {
                return Err(syn::Error::new_spanned(
                    &data[1].ty,
                    "`mount` takes one props value (a struct deriving Deserialize) and optionally `ctx: &mut Ctx`",
                ));
            }
            let props_ty = data
                .first()
                .map(|p| p.ty.to_token_stream())
                .unwrap_or_else(|| quote!(::fluxlive::NoProps));
            let call_args = params
                .iter()
                .map(|p| if p.is_ctx { quote!(ctx) } else { quote!(props) });
            let ignore = if data.is_empty() {
                quote!(let _ = props;)
            } else {
                quote!()
            };
            let ignore_ctx = if params.iter().any(|p| p.is_ctx) {
                quote!()
            } else {
                quote!(let _ = &ctx;)
            };
            let conv = if *is_result {
                quote! {
                    match __out {
                        ::std::result::Result::Ok(v) => ::std::result::Result::Ok(v),
                        ::std::result::Result::Err(e) => {
                            let detail = {
                                #[allow(unused_imports)]
                                use ::fluxlive::__private::{ViaNothing as _, ViaSerialize as _};
                                (&::fluxlive::__private::DetailProbe(&e)).detail()
                            };
                            ::std::result::Result::Err(::fluxlive::ActionError::failed(#name_lit, "mount", &e, detail))
                        }
                    }
                }
            } else {
                quote!(::std::result::Result::Ok(__out))
            };
            (
                props_ty,
                quote! {
                    #ignore
                    #ignore_ctx
                    let __out = <#self_ty>::mount(#(#call_args),*);
                    #conv
                },
            )
        }
    };

    let hook_fns = hooks.iter().map(|(h, is_async, is_result)| {
        let ident = format_ident!("{}", h);
        let conv = output_conversion(
            &name_lit.to_token_stream(),
            &LitStr::new(h, Span::call_site()),
            *is_result,
        );
        let (trait_fn, sig_extra, call) = match h.as_str() {
            "on_mount" => (quote!(mounted), quote!(), quote!(self.#ident(ctx))),
            "on_unmount" => (quote!(unmounting), quote!(), quote!(self.#ident(ctx))),
            _ => (
                quote!(props_changed),
                quote!(props: Self::Props,),
                quote!(self.#ident(props, ctx)),
            ),
        };
        let body = if *is_async {
            quote! {
                ::fluxlive::Step::Pending(::std::boxed::Box::pin(async move {
                    let __out = #call.await;
                    #conv
                }))
            }
        } else {
            quote! {
                let __out = #call;
                ::fluxlive::Step::Ready(#conv)
            }
        };
        quote! {
            fn #trait_fn<'a>(&'a mut self, #sig_extra ctx: &'a mut ::fluxlive::Ctx) -> ::fluxlive::Step<'a> {
                #body
            }
        }
    });

    Ok(quote! {
        #imp

        impl ::fluxlive::Component for #self_ty {
            type Props = #props_ty;
            const NAME: &'static str = #name_lit;
            const SHARED: bool = #shared;
            const HANDLERS: &'static [&'static str] = &[#(#handler_names),*];

            fn meta() -> &'static ::fluxlive::TypeMeta {
                static ACTIONS: [::fluxlive::ActionMeta; #n_actions] = [#(#action_metas),*];
                static META: ::fluxlive::TypeMeta = ::fluxlive::TypeMeta {
                    name: #name_lit,
                    redacted_fields: <#self_ty as ::fluxlive::LiveState>::REDACTED,
                    actions: &ACTIONS,
                };
                &META
            }

            fn create(props: Self::Props, ctx: &mut ::fluxlive::Ctx) -> ::std::result::Result<Self, ::fluxlive::ActionError> {
                #create
            }

            #(#hook_fns)*

            #[allow(unused_variables, unused_mut)]
            fn dispatch<'a>(
                &'a mut self,
                method: &str,
                args: ::std::vec::Vec<::fluxlive::__private::Value>,
                ctx: &'a mut ::fluxlive::Ctx,
            ) -> ::fluxlive::Step<'a> {
                match method {
                    #(#arms)*
                    _ => ::fluxlive::Step::Ready(::std::result::Result::Err(
                        ::fluxlive::ActionError::unknown_method(#name_lit, method),
                    )),
                }
            }
        }
    })
}

fn action_arm(a: &Action) -> TokenStream {
    let name = &a.name;
    let ident = &a.ident;
    let component = quote!(<Self as ::fluxlive::Component>::NAME);
    let data: Vec<&Param> = a.params.iter().filter(|p| !p.is_ctx).collect();
    let names = data.iter().map(|p| &p.name);
    let types = data
        .iter()
        .map(|p| p.ty.to_token_stream().to_string().replace(' ', ""));
    let decls = data.iter().map(|p| {
        let id = &p.ident;
        let ty = &p.ty;
        quote! {
            let #id: #ty = match __args.next() {
                ::std::result::Result::Ok(v) => v,
                ::std::result::Result::Err(e) => return ::fluxlive::Step::Ready(::std::result::Result::Err(e)),
            };
        }
    });
    let call_args = a.params.iter().map(|p| {
        if p.is_ctx {
            quote!(ctx)
        } else {
            p.ident.to_token_stream()
        }
    });
    let lit = LitStr::new(name, Span::call_site());
    let conv = output_conversion(&component, &lit, a.returns_result);
    let body = if a.is_async {
        quote! {
            ::fluxlive::Step::Pending(::std::boxed::Box::pin(async move {
                let __out = self.#ident(#(#call_args),*).await;
                #conv
            }))
        }
    } else {
        quote! {
            let __out = self.#ident(#(#call_args),*);
            ::fluxlive::Step::Ready(#conv)
        }
    };
    quote! {
        #lit => {
            let mut __args = match ::fluxlive::__private::Args::new(
                #component, #lit, args, &[#(#names),*], &[#(#types),*],
            ) {
                ::std::result::Result::Ok(a) => a,
                ::std::result::Result::Err(e) => return ::fluxlive::Step::Ready(::std::result::Result::Err(e)),
            };
            #(#decls)*
            #body
        }
    }
}

/// Turns `__out` (the method's return value) into `Result<Value, ActionError>`.
fn output_conversion(component: &TokenStream, method: &LitStr, is_result: bool) -> TokenStream {
    if is_result {
        quote! {
            match __out {
                ::std::result::Result::Ok(v) => ::fluxlive::__private::ok_value(#component, #method, v),
                ::std::result::Result::Err(e) => {
                    let detail = {
                        #[allow(unused_imports)]
                        use ::fluxlive::__private::{ViaNothing as _, ViaSerialize as _};
                        (&::fluxlive::__private::DetailProbe(&e)).detail()
                    };
                    ::std::result::Result::Err(::fluxlive::ActionError::failed(#component, #method, &e, detail))
                }
            }
        }
    } else {
        quote!(::fluxlive::__private::ok_value(#component, #method, __out))
    }
}

fn parse_action(f: &ImplItemFn) -> syn::Result<Action> {
    match f.sig.receiver() {
        Some(r) if r.reference.is_some() => {}
        Some(r) => {
            return Err(syn::Error::new_spanned(
                r,
                "an #[action] takes `&mut self` or `&self`, not `self` by value",
            ))
        }
        None => {
            return Err(syn::Error::new_spanned(
                &f.sig,
                "an #[action] must take `&mut self` or `&self`",
            ))
        }
    }
    if !f.sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &f.sig.generics,
            "actions cannot be generic: arguments are decoded from JSON into concrete types",
        ));
    }
    Ok(Action {
        ident: f.sig.ident.clone(),
        name: f.sig.ident.to_string(),
        params: parse_params(f)?,
        is_async: f.sig.asyncness.is_some(),
        returns_result: returns_result(&f.sig.output),
    })
}

fn parse_params(f: &ImplItemFn) -> syn::Result<Vec<Param>> {
    let mut out = Vec::new();
    for (i, input) in f.sig.inputs.iter().enumerate() {
        let FnArg::Typed(pt) = input else { continue };
        let (ident, name) = match &*pt.pat {
            Pat::Ident(pi) => (
                pi.ident.clone(),
                pi.ident.to_string().trim_start_matches('_').to_owned(),
            ),
            other => (format_ident!("__arg{}", i), {
                let _ = other.span();
                format!("arg{i}")
            }),
        };
        let ident = if matches!(&*pt.pat, Pat::Ident(_)) {
            ident
        } else {
            return Err(syn::Error::new_spanned(
                &pt.pat,
                "use a plain name for action parameters (it names the argument in error messages)",
            ));
        };
        let is_ctx = is_ctx_type(&pt.ty);
        if is_ctx && !matches!(&*pt.ty, Type::Reference(r) if r.mutability.is_some()) {
            return Err(syn::Error::new_spanned(
                &pt.ty,
                "take the context as `ctx: &mut Ctx`",
            ));
        }
        let redacted = pt.attrs.iter().any(|a| a.path().is_ident("redact"));
        out.push(Param {
            ident,
            name,
            ty: (*pt.ty).clone(),
            is_ctx,
            redacted,
        });
    }
    Ok(out)
}

fn is_ctx_type(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => is_ctx_type(&r.elem),
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Ctx"),
        _ => false,
    }
}

fn returns_result(out: &ReturnType) -> bool {
    match out {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

fn take_attr(attrs: &mut Vec<syn::Attribute>, name: &str) -> bool {
    let before = attrs.len();
    attrs.retain(|a| !a.path().is_ident(name));
    attrs.len() != before
}

fn type_name(ty: &Type) -> syn::Result<String> {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .ok_or_else(|| syn::Error::new_spanned(ty, "expected a type name")),
        _ => Err(syn::Error::new_spanned(
            ty,
            "#[live_component] goes on `impl TypeName { .. }`",
        )),
    }
}

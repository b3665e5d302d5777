//! `#[catalog_app]`: put it on an app's `impl App for …` block and it writes what a catalog app
//! otherwise repeats — `App::kind`, and the whole `nassella_apps::CatalogApp` impl (the kind,
//! the one-line summary, the example instance) — from one line:
//!
//! ```ignore
//! #[catalog_app(kind = "uptime-kuma", summary = "Uptime monitoring", example = Self::new("status.example.com"))]
//! impl App for UptimeKuma {
//!     fn contribute(&self, cx: &AppContext<'_>) -> Contribution { … }
//! }
//! ```
//!
//! `kind` is a string literal (checked here: 1 to 40 lowercase letters, digits and `-`, starting
//! with a letter, since it is the default app id and names files and units) or, for an impl
//! generic over a flavour, a constant expression such as `F::KIND`. `summary` is a string
//! literal or constant expression; `example` any expression of type `Self`.
//!
//! The generated code names `::nassella_apps::CatalogApp`, so crates outside the catalog can use
//! the attribute too (the catalog itself declares `extern crate self as nassella_apps`).

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{parse_macro_input, Expr, ExprLit, ItemImpl, Lit, Token};

struct Args {
    kind: Expr,
    summary: Expr,
    example: Expr,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let pairs = Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated(input)?;
        let (mut kind, mut summary, mut example) = (None, None, None);
        for pair in pairs {
            let slot = if pair.path.is_ident("kind") {
                &mut kind
            } else if pair.path.is_ident("summary") {
                &mut summary
            } else if pair.path.is_ident("example") {
                &mut example
            } else {
                return Err(syn::Error::new_spanned(
                    &pair.path,
                    "expected `kind`, `summary` or `example`",
                ));
            };
            if slot.replace(pair.value).is_some() {
                return Err(syn::Error::new_spanned(&pair.path, "given twice"));
            }
        }
        let missing = |what: &str| {
            syn::Error::new(
                Span::call_site(),
                format!("#[catalog_app] needs `{what} = …`"),
            )
        };
        Ok(Self {
            kind: kind.ok_or_else(|| missing("kind"))?,
            summary: summary.ok_or_else(|| missing("summary"))?,
            example: example.ok_or_else(|| missing("example"))?,
        })
    }
}

/// Whether a literal kind is a valid default app id.
fn kind_ok(kind: &str) -> bool {
    (1..=40).contains(&kind.len())
        && kind.starts_with(|c: char| c.is_ascii_lowercase())
        && !kind.ends_with('-')
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Writes `App::kind` into the `impl App for …` block it is put on, and the
/// `nassella_apps::CatalogApp` impl of the same type. See the crate documentation.
#[proc_macro_attribute]
pub fn catalog_app(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(args as Args);
    let mut item = parse_macro_input!(item as ItemImpl);
    if let Expr::Lit(ExprLit {
        lit: Lit::Str(s), ..
    }) = &args.kind
    {
        if !kind_ok(&s.value()) {
            return syn::Error::new_spanned(
                s,
                "a kind is 1 to 40 lowercase letters, digits and '-', starting with a letter and not ending with '-' (it is the default app id)",
            )
            .to_compile_error()
            .into();
        }
    }
    let is_app_impl = item
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|seg| seg.ident == "App");
    if !is_app_impl {
        return syn::Error::new_spanned(
            &item.self_ty,
            "#[catalog_app] goes on the `impl App for …` block",
        )
        .to_compile_error()
        .into();
    }
    let Args {
        kind,
        summary,
        example,
    } = args;
    item.items.insert(
        0,
        syn::parse_quote! {
            fn kind(&self) -> &str {
                #kind
            }
        },
    );
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let self_ty = &item.self_ty;
    quote! {
        #item

        impl #impl_generics ::nassella_apps::CatalogApp for #self_ty #where_clause {
            const KIND: &'static str = #kind;
            const SUMMARY: &'static str = #summary;

            fn example() -> Self {
                #example
            }
        }
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::kind_ok;

    #[test]
    fn kinds_that_can_be_ids() {
        for good in ["hello", "uptime-kuma", "a1", &"a".repeat(40)] {
            assert!(kind_ok(good), "{good}");
        }
        for bad in [
            "",
            "Hello",
            "1app",
            "-x",
            "x-",
            "a_b",
            "a.b",
            "a b",
            &"a".repeat(41),
        ] {
            assert!(!kind_ok(bad), "{bad}");
        }
    }
}

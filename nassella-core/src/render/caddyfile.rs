//! A small typed writer for the Caddyfile: directives with arguments and nested blocks, quoted
//! where a token needs it. Rendering from values keeps the output well-formed whatever the input.

/// One Caddyfile line, with an optional `{ … }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    name: String,
    args: Vec<String>,
    block: Option<Vec<Directive>>,
}

impl Directive {
    /// A directive `name` with `args`.
    #[must_use]
    pub fn new<S: Into<String>>(
        name: impl Into<String>,
        args: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            name: name.into(),
            args: args.into_iter().map(Into::into).collect(),
            block: None,
        }
    }

    /// Give the directive a block.
    #[must_use]
    pub fn block(mut self, children: Vec<Directive>) -> Self {
        self.block = Some(children);
        self
    }

    fn write(&self, depth: usize, out: &mut String) {
        out.push_str(&"\t".repeat(depth));
        out.push_str(&self.name);
        let opening = if self.name.is_empty() { "{\n" } else { " {\n" };
        for a in &self.args {
            out.push(' ');
            out.push_str(&quote(a));
        }
        match &self.block {
            None => out.push('\n'),
            Some(children) => {
                out.push_str(opening);
                for c in children {
                    c.write(depth + 1, out);
                }
                out.push_str(&"\t".repeat(depth));
                out.push_str("}\n");
            }
        }
    }
}

/// Quote a token if it would otherwise split or open a block.
fn quote(token: &str) -> String {
    let plain = !token.is_empty()
        && !token.contains(|c: char| {
            c.is_whitespace() || crate::values::is_control(c) || "\"`#\\".contains(c)
        })
        && token != "{"
        && token != "}";
    if plain {
        token.to_owned()
    } else if !token.contains('`') && !token.contains(crate::values::is_control) {
        format!("`{token}`")
    } else {
        // Double quotes, with `\`, `"` and every control character escaped: the token stays
        // one token on one line (Caddy's lexer reads `\"` and `\\`; a line break is written
        // `\n`, which reaches Caddy as the two characters, never as a new line).
        let mut out = String::from("\"");
        for c in token.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                c if crate::values::is_control(c) => {
                    out.push_str(&crate::values::escape_controls(&c.to_string()));
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

/// A whole Caddyfile: top-level blocks separated by blank lines.
#[must_use]
pub fn write(blocks: &[Directive]) -> String {
    let mut out = String::new();
    for (i, b) in blocks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        b.write(0, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        let f = write(&[
            Directive::new("a.example.com", Vec::<String>::new()).block(vec![
                Directive::new("respond", [r#"{"m.server":"x:443"}"#, "200"]),
                Directive::new("header", ["X", "a b"]),
            ]),
        ]);
        assert_eq!(
            f,
            "a.example.com {\n\trespond `{\"m.server\":\"x:443\"}` 200\n\theader X `a b`\n}\n"
        );
    }

    #[test]
    fn a_token_stays_one_token_on_one_line() {
        let f = write(&[Directive::new("", Vec::<String>::new()).block(vec![
            Directive::new("email", ["a@b.c\\"]),
            Directive::new("x", ["a\n}\nevil.com {", "b`c\rd"]),
        ])]);
        assert_eq!(
            f,
            "{\n\temail `a@b.c\\`\n\tx \"a\\n}\\nevil.com {\" \"b`c\\rd\"\n}\n"
        );
        assert_eq!(f.lines().count(), 4);
    }
}

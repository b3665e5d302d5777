//! The checks every app with a first administrator needs: a user name the app accepts, and an
//! email address it will take.

/// Which letters a user name may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Letters {
    /// `A-Z` and `a-z`.
    Any,
    /// `a-z` only.
    Lowercase,
}

/// Why `name` is not a user name of 1 to `max` characters made of letters, digits and the
/// bytes in `others`; `None` when it is. The message names `field` and lists what is allowed.
#[must_use]
pub fn user_name_problem(
    field: &str,
    name: &str,
    max: usize,
    letters: Letters,
    others: &str,
) -> Option<String> {
    let letter = |b: u8| match letters {
        Letters::Any => b.is_ascii_alphabetic(),
        Letters::Lowercase => b.is_ascii_lowercase(),
    };
    let ok = (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|b| letter(b) || b.is_ascii_digit() || others.as_bytes().contains(&b));
    if ok {
        return None;
    }
    let mut allowed: Vec<String> = others.chars().map(|c| format!("'{c}'")).collect();
    let last = allowed.pop();
    let kind = match letters {
        Letters::Any => "letters",
        Letters::Lowercase => "lowercase letters",
    };
    let list = match last {
        Some(last) if allowed.is_empty() => format!("{kind}, digits or {last}"),
        Some(last) => format!("{kind}, digits, {} or {last}", allowed.join(", ")),
        None => format!("{kind} or digits"),
    };
    Some(format!("{field} `{name}` must be 1 to {max} {list}"))
}

/// Why `email` (the value of setting `field`) is not an address like `alice@example.com`:
/// something before one `@`, a dotted domain after it, no white space or quotes (it is passed
/// to the app's command line inside quotes).
#[must_use]
pub fn email_problem(field: &str, email: &str) -> Option<String> {
    let ok = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.contains('@')
    }) && !email
        .contains(|c: char| c.is_whitespace() || c.is_control() || c == '\'' || c == '"');
    (!ok).then(|| format!("{field} `{email}` is not an email address like `alice@example.com`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_explains() {
        assert_eq!(
            user_name_problem("admin_user", "alice.b", 64, Letters::Any, "_.@-"),
            None
        );
        assert_eq!(
            user_name_problem("admin_user", "", 64, Letters::Any, "_.@-").as_deref(),
            Some("admin_user `` must be 1 to 64 letters, digits, '_', '.', '@' or '-'")
        );
        assert!(user_name_problem("admin_user", "Alice", 64, Letters::Lowercase, "._=-").is_some());
        assert!(user_name_problem("admin_user", &"a".repeat(65), 64, Letters::Any, "").is_some());
    }

    #[test]
    fn email_addresses() {
        assert_eq!(email_problem("admin_email", "me@git.example.com"), None);
        for bad in [
            "",
            "me",
            "@example.com",
            "me@localhost",
            "a b@example.com",
            "me@x@y.com",
            "\"@x.com",
        ] {
            assert!(email_problem("admin_email", bad).is_some(), "{bad:?}");
        }
    }
}

//! Name rules for the slug families of Syncano (spec-core §1.11): input is stripped and
//! lowercased, must start with a letter, end with a letter or number, use only the family's
//! characters and be at most 64 characters long.

/// Which characters a slug family allows besides letters and numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlugFamily {
    /// Instance names: letters, numbers, hyphens; min 5; no `--`; reserved words.
    Instance,
    /// Class names: letters, numbers, underscores; not self/user/users/acl.
    Class,
    /// Channels, groups, endpoints, templates: letters, numbers, underscores, hyphens.
    Generic,
}

const RESERVED_INSTANCE_NAMES: &[&str] = &[
    "devcenter",
    "support",
    "sentry",
    "admin",
    "platform",
    "redirect",
    "media",
    "signup",
    "login",
    "instance_subdomain",
    "my_instance",
    "myinstance",
    "panel",
    "account",
    "noinstance",
    "public",
    "template1",
    "status",
];

const RESERVED_CLASS_NAMES: &[&str] = &["self", "user", "users", "acl"];

impl SlugFamily {
    fn allows(self, c: char) -> bool {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || match self {
                SlugFamily::Instance => c == '-',
                SlugFamily::Class => c == '_',
                SlugFamily::Generic => c == '_' || c == '-',
            }
    }

    fn charset_message(self) -> &'static str {
        match self {
            SlugFamily::Instance => {
                "Enter a valid value consisting of letters, numbers or hyphens."
            }
            SlugFamily::Class => {
                "Enter a valid value consisting of letters, numbers or underscores."
            }
            SlugFamily::Generic => {
                "Enter a valid value consisting of letters, numbers, underscores or hyphens."
            }
        }
    }
}

/// Normalises and validates a slug; on failure returns every message Django would give.
pub fn validate_slug(raw: &str, family: SlugFamily) -> Result<String, Vec<String>> {
    let name = raw.trim().to_lowercase();
    let mut errors = Vec::new();
    if name.is_empty() {
        return Err(vec![crate::errors::msg::BLANK.to_string()]);
    }
    let count = name.chars().count();
    if count > 64 {
        errors.push(format!(
            "Ensure this value has at most 64 characters (it has {count})."
        ));
    }
    if family == SlugFamily::Instance && count < 5 {
        errors.push(format!(
            "Ensure this value has at least 5 characters (it has {count})."
        ));
    }
    if !name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
        errors.push("Value has to start with a letter.".to_string());
    }
    if !name
        .chars()
        .last()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        errors.push("Value has to end with a letter or a number.".to_string());
    }
    if !name.chars().all(|c| family.allows(c)) {
        errors.push(family.charset_message().to_string());
    }
    match family {
        SlugFamily::Instance => {
            if name.contains("--") {
                errors.push("Double hyphens are reserved.".to_string());
            }
            if RESERVED_INSTANCE_NAMES.contains(&name.as_str()) {
                errors.push("Unable to use that value. Please choose a different one.".to_string());
            }
        }
        SlugFamily::Class => {
            if RESERVED_CLASS_NAMES.contains(&name.as_str()) {
                errors.push("Unable to use that value. Please choose a different one.".to_string());
            }
        }
        SlugFamily::Generic => {}
    }
    if errors.is_empty() {
        Ok(name)
    } else {
        Err(errors)
    }
}

/// Whether a name taken from a URL could name an instance (`^[a-z0-9-_]{0,64}$` after
/// lowercasing); anything else is "Instance was not found." without touching the store.
pub fn plausible_instance_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A permissive email check in the spirit of Django's `EmailValidator`.
pub fn valid_email(email: &str) -> bool {
    let Some((user, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let user_ok = !user.is_empty()
        && user.len() <= 64
        && !user.starts_with('.')
        && !user.ends_with('.')
        && !user.contains("..")
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    user_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names() {
        assert_eq!(
            validate_slug(" My-Inst ", SlugFamily::Instance),
            Ok("my-inst".into())
        );
        assert!(validate_slug("abc", SlugFamily::Instance).is_err());
        assert!(validate_slug("ab--cd", SlugFamily::Instance).is_err());
        assert!(validate_slug("admin", SlugFamily::Instance).is_err());
        assert!(validate_slug("1abcd", SlugFamily::Instance).is_err());
        assert!(validate_slug("abcd-", SlugFamily::Instance).is_err());
        assert!(validate_slug("ab_cd", SlugFamily::Instance).is_err());
    }

    #[test]
    fn class_and_generic_names() {
        assert_eq!(
            validate_slug("Books_2", SlugFamily::Class),
            Ok("books_2".into())
        );
        assert!(validate_slug("user", SlugFamily::Class).is_err());
        assert!(validate_slug("my-class", SlugFamily::Class).is_err());
        assert_eq!(
            validate_slug("chat-room_1", SlugFamily::Generic),
            Ok("chat-room_1".into())
        );
    }

    #[test]
    fn emails() {
        assert!(valid_email("geralt@rivia.org"));
        assert!(valid_email("a.b+c@sub.example.com"));
        assert!(!valid_email("nope"));
        assert!(!valid_email("a@b"));
        assert!(!valid_email("a@@b.com"));
        assert!(!valid_email("a b@c.com"));
    }
}

//! Account fields that parse instead of validate: once an [`Email`] or a
//! [`Password`] exists it is valid, so handlers past the edge never re-check.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::input_error::{InputError, InputKind};

/// A syntactically valid email address, trimmed; compared case-insensitively by
/// the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    /// RFC 5321/5322 syntax (the `email_address` crate), without display
    /// names or address literals, and a domain with a dot: an address mail
    /// can reach on the internet.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let email = raw.trim();
        let invalid = || InputError::new(InputKind::InvalidEmail, "email is not a valid address");
        if email.len() > Self::MAX_LEN {
            return Err(invalid());
        }
        let options = email_address::Options::default()
            .without_display_text()
            .without_domain_literal();
        let parsed = email_address::EmailAddress::parse_with_options(email, options)
            .map_err(|_| invalid())?;
        let domain = parsed.domain();
        let reachable = domain.contains('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !reachable {
            return Err(invalid());
        }
        Ok(Self(parsed.email().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key the login limiter and the unique index use.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A password that meets the rules: 10 to 128 characters, not all one character,
/// and not the email address itself. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 10;
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str, email: &Email) -> Result<Self, InputError> {
        let len = raw.chars().count();
        let weak = |msg: &str| InputError::new(InputKind::WeakPassword, msg);
        if len < Self::MIN_LEN {
            return Err(weak("password must be at least 10 characters"));
        }
        if len > Self::MAX_LEN {
            return Err(weak("password must be at most 128 characters"));
        }
        let mut chars = raw.chars();
        let first = chars.next();
        if chars.all(|c| Some(c) == first) {
            return Err(weak("password must not repeat a single character"));
        }
        if raw.eq_ignore_ascii_case(email.as_str()) {
            return Err(weak("password must not be the email address"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A person's display name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let name = raw.trim();
        crate::text::check("name", name, gavel_workflows::text::Lines::One)?;
        let len = name.chars().count();
        if len == 0 || len > 100 {
            return Err(InputError::new(
                InputKind::InvalidName,
                "name must be 1 to 100 printable characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an account may do. `admin` is only ever made by `gavel admin create-user`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    sqlx::Type,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Role {
    Bidder,
    Seller,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> Email {
        Email::parse(s).expect("valid email")
    }

    #[test]
    fn emails_parse_only_when_plausible() {
        assert_eq!(email("  Ada@Example.com ").as_str(), "Ada@Example.com");
        assert_eq!(email("Ada@Example.com").normalized(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@x.io",
            "ada@x..io",
            "ada@.x.io",
        ] {
            assert_eq!(
                Email::parse(bad).unwrap_err().code(),
                "invalid_email",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn passwords_follow_the_rules() {
        let e = email("ada@example.com");
        assert!(Password::parse("correct horse battery", &e).is_ok());
        for bad in ["short", "aaaaaaaaaaaa", "ADA@example.com", &"x1".repeat(65)] {
            assert_eq!(
                Password::parse(bad, &e).unwrap_err().code(),
                "weak_password",
                "{bad:?}"
            );
        }
        assert_eq!(
            format!(
                "{:?}",
                Password::parse("correct horse battery", &e).unwrap()
            ),
            "Password([redacted])"
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"n".repeat(101)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
    }
}

//! Accounts and authentication: parsed account fields, password hashing, JWTs,
//! the [`AuthUser`] extractor with its role guard, sessions and token versions (revocation),
//! and the login and sign-up limits.

pub mod fields;
pub mod jwt;
pub mod limiter;
pub mod password;
pub mod user;
pub mod versions;

pub use fields::{DisplayName, Email, Password, Role};
pub use jwt::JwtKeys;
pub use limiter::{LimitError, LoginLimiter, LoginLimits};
pub use user::{AuthUser, RoleError};
pub use versions::TokenVersions;

//! Accounts and authentication: parsed account fields, password hashing, JWTs,
//! the [`AuthUser`] extractor with its role guard, and the login rate limiter.

pub mod fields;
pub mod jwt;
pub mod limiter;
pub mod password;
pub mod user;

pub use fields::{DisplayName, Email, Password, Role};
pub use jwt::JwtKeys;
pub use limiter::{LoginLimiter, LoginLimits};
pub use user::AuthUser;

//! Access tokens: HS256 JWTs with `exp`, issuer and audience checked and the
//! algorithm pinned, so `alg: none` or any other algorithm is refused.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Role;
use crate::error::ApiError;

const ISSUER: &str = "gavel";
const AUDIENCE: &str = "gavel-api";

/// What a token asserts about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// The user's token version at issue; tokens from before versions
    /// existed count as version 0.
    #[serde(default)]
    pub ver: i32,
    /// The session the token belongs to (ended by signing out); tokens from
    /// before sessions existed have none and are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

/// Signing and verification keys derived from `GAVEL_JWT_SECRET`.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    /// Keys the CSRF tokens' MAC; derived from the same secret, never the
    /// secret itself.
    csrf_key: [u8; 32],
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // No leeway: tokens are issued and checked by Gavel's own servers,
        // and a token's session ends at its expiry (by the database's clock),
        // so a token accepted past its expiry would only meet an ended
        // session and be refused for the wrong reason.
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            ttl,
            csrf_key: derive_csrf_key(bytes),
        }
    }

    /// The key for binding CSRF tokens to a session.
    pub fn csrf_key(&self) -> &[u8; 32] {
        &self.csrf_key
    }

    /// Issues a token for `user` valid from `now` for the configured lifetime.
    pub fn issue(
        &self,
        user: Uuid,
        role: Role,
        version: i32,
        session: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), ApiError> {
        let expires_at = now + self.ttl;
        let claims = Claims {
            sub: user,
            role,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            ver: version,
            sid: Some(session),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok((token, expires_at))
    }

    /// Verifies signature, algorithm, expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized("token_expired", "the access token has expired")
                }
                _ => ApiError::unauthorized("invalid_token", "the access token is not valid"),
            })
    }
}

/// HMAC-SHA256 of a fixed label under the JWT secret: a key of its own for
/// CSRF tokens, so neither use can be turned into the other.
fn derive_csrf_key(secret: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret)
        .expect("HMAC takes a key of any length");
    mac.update(b"gavel csrf token key v1");
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(
            &SecretString::from("test-secret-test-secret-32-bytes!"),
            Duration::hours(1),
        )
    }

    #[test]
    fn a_fresh_token_round_trips() {
        let id = Uuid::new_v4();
        let (token, _) = keys()
            .issue(id, Role::Seller, 0, Uuid::new_v4(), Utc::now())
            .unwrap();
        let claims = keys().verify(&token).unwrap();
        assert_eq!((claims.sub, claims.role), (id, Role::Seller));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let (token, _) = keys()
            .issue(
                Uuid::new_v4(),
                Role::Bidder,
                0,
                Uuid::new_v4(),
                Utc::now() - Duration::hours(2),
            )
            .unwrap();
        assert_eq!(keys().verify(&token).unwrap_err().code, "token_expired");
    }

    /// A token just past its expiry is expired, not accepted for a few more
    /// seconds: its session (which ends with it) would then be refused as
    /// `session_ended`, a code that tells a client to sign in for the wrong
    /// reason.
    #[test]
    fn a_token_just_past_its_expiry_is_expired() {
        let (token, _) = keys()
            .issue(
                Uuid::new_v4(),
                Role::Bidder,
                0,
                Uuid::new_v4(),
                Utc::now() - Duration::hours(1) - Duration::seconds(2),
            )
            .unwrap();
        assert_eq!(keys().verify(&token).unwrap_err().code, "token_expired");
    }

    #[test]
    fn another_secret_or_algorithm_is_refused() {
        let other = JwtKeys::new(
            &SecretString::from("another-secret-another-secret-32"),
            Duration::hours(1),
        );
        let (token, _) = other
            .issue(Uuid::new_v4(), Role::Admin, 0, Uuid::new_v4(), Utc::now())
            .unwrap();
        assert_eq!(keys().verify(&token).unwrap_err().code, "invalid_token");

        let claims = Claims {
            sub: Uuid::new_v4(),
            role: Role::Admin,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: Utc::now().timestamp(),
            exp: Utc::now().timestamp() + 3600,
            ver: 0,
            sid: None,
        };
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(b"test-secret-test-secret-32-bytes!"),
        )
        .unwrap();
        assert_eq!(keys().verify(&hs512).unwrap_err().code, "invalid_token");
    }
}

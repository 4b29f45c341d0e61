//! One-click unsubscribe for optional notices (RFC 8058): the signed link
//! each one carries, its two headers, and the check the API makes when the
//! link is followed.
//!
//! A token names the account and the [`NoticeKind`] and is signed with a
//! random key of that account kept in `unsubscribe_keys`
//! (HMAC-SHA256(key, "unsubscribe|<user>|<kind>")): the worker signs, the
//! API checks, and neither holds the other's secrets. Changing the account
//! or the kind in a token breaks its signature, and another account's key
//! signs nothing of this one. Tokens do not expire: a link in an old email
//! still stops that kind.
//!
//! For senders of new optional notices: call [`Mailer::unsubscribe`] for the
//! recipient and kind, put [`Unsubscribe::headers`] on the
//! [`OutgoingEmail`](crate::brevo::OutgoingEmail) (one message per
//! recipient: the headers are that recipient's) and [`Unsubscribe::link`]
//! in its body; check [`gavel_store::preferences`] right before sending.

use gavel_store::{
    StoreError,
    preferences::{self, NoticeKind, UNSUBSCRIBE_KEY_LEN},
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

use super::{EmailLink, MailError, Mailer};

/// The path (on the public URL) that unsubscribe links open and one-click
/// POSTs go to.
pub const UNSUBSCRIBE_PATH: &str = "/unsubscribe";

/// The `List-Unsubscribe-Post` value RFC 8058 prescribes, also the body a
/// mail client POSTs.
pub const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// What an optional notice carries so its reader can stop its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub kind: NoticeKind,
    /// `https://…/unsubscribe?token=…`: opening it shows a button; a POST
    /// to it stops the kind.
    pub url: String,
}

impl Unsubscribe {
    /// The RFC 8058 headers: `List-Unsubscribe: <url>` and
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    pub fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("List-Unsubscribe".to_owned(), format!("<{}>", self.url)),
            ("List-Unsubscribe-Post".to_owned(), ONE_CLICK.to_owned()),
        ]
    }

    /// The visible link at the foot of the email.
    pub fn link(&self) -> EmailLink {
        EmailLink {
            text: format!("Stop {}", notice_words(self.kind)),
            url: self.url.clone(),
        }
    }
}

/// A kind of notice in words, as emails and pages name it.
pub fn notice_words(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Outbid => "outbid and lost-lot emails",
        NoticeKind::EndingSoon => "ending-soon emails about lots you bid on",
        NoticeKind::WatchedLots => "ending-soon emails about lots you watch",
        NoticeKind::SavedSearchDigest => "saved-search digests",
    }
}

impl Mailer {
    /// The unsubscribe link and headers of a `kind` notice to `user` (its
    /// key is made the first time).
    pub async fn unsubscribe(
        &self,
        user: Uuid,
        kind: NoticeKind,
    ) -> Result<Unsubscribe, MailError> {
        let fresh: [u8; UNSUBSCRIBE_KEY_LEN] = rand::random();
        let key = preferences::unsubscribe_key(&self.db, user, &fresh).await?;
        Ok(Unsubscribe {
            kind,
            url: format!(
                "{}{UNSUBSCRIBE_PATH}?token={}",
                self.public_url,
                token(&key, user, kind)
            ),
        })
    }
}

/// The account and kind a token names, when its signature holds; `None`
/// for anything else (malformed, altered, or an account without a key).
pub async fn verify(db: &PgPool, token: &str) -> Result<Option<(Uuid, NoticeKind)>, StoreError> {
    let Some((user, kind, signature)) = parse(token) else {
        return Ok(None);
    };
    let Some(key) = preferences::existing_unsubscribe_key(db, user).await? else {
        return Ok(None);
    };
    Ok(mac(&key, user, kind)
        .verify_slice(&signature)
        .is_ok()
        .then_some((user, kind)))
}

/// `<user, 32 hex>.<kind>.<signature, 64 hex>`.
fn token(key: &[u8], user: Uuid, kind: NoticeKind) -> String {
    let signature = hex::encode(mac(key, user, kind).finalize().into_bytes());
    format!("{}.{}.{signature}", user.simple(), kind.as_str())
}

fn parse(token: &str) -> Option<(Uuid, NoticeKind, Vec<u8>)> {
    let mut parts = token.trim().split('.');
    let (user, kind, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || user.len() != 32 || signature.len() != 64 {
        return None;
    }
    Some((
        Uuid::try_parse(user).ok()?,
        NoticeKind::parse(kind)?,
        hex::decode(signature).ok()?,
    ))
}

fn mac(key: &[u8], user: Uuid, kind: NoticeKind) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(format!("unsubscribe|{user}|{}", kind.as_str()).as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(key: &[u8], token: &str) -> Option<(Uuid, NoticeKind)> {
        let (user, kind, signature) = parse(token)?;
        mac(key, user, kind)
            .verify_slice(&signature)
            .is_ok()
            .then_some((user, kind))
    }

    #[test]
    fn a_token_names_its_account_and_kind_and_nothing_else_passes() {
        let key = [7u8; 32];
        let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let good = token(&key, ada, NoticeKind::Outbid);
        assert_eq!(checks(&key, &good), Some((ada, NoticeKind::Outbid)));

        // Another kind or account under the same signature fails.
        let signature = good.rsplit('.').next().unwrap();
        let other_kind = format!("{}.ending_soon.{signature}", ada.simple());
        assert_eq!(checks(&key, &other_kind), None);
        let other_user = format!("{}.outbid.{signature}", bob.simple());
        assert_eq!(checks(&key, &other_user), None);
        // Another account's key does not sign this one's links.
        assert_eq!(checks(&[8u8; 32], &good), None);
        // A flipped digit, a cut token, rubbish.
        let mut flipped = good.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(checks(&key, &String::from_utf8(flipped).unwrap()), None);
        assert_eq!(checks(&key, &good[..good.len() - 2]), None);
        for junk in ["", "x", "..", &format!("{good}.x")] {
            assert_eq!(checks(&key, junk), None, "{junk}");
        }
    }

    #[test]
    fn the_headers_are_rfc_8058s() {
        let unsubscribe = Unsubscribe {
            kind: NoticeKind::Outbid,
            url: "https://gavel.test/unsubscribe?token=t".into(),
        };
        assert_eq!(
            unsubscribe.headers(),
            vec![
                (
                    "List-Unsubscribe".to_owned(),
                    "<https://gavel.test/unsubscribe?token=t>".to_owned()
                ),
                (
                    "List-Unsubscribe-Post".to_owned(),
                    "List-Unsubscribe=One-Click".to_owned()
                ),
            ]
        );
    }
}

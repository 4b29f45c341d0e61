//! Identifiers and amounts as types, so an auction id cannot be passed where a
//! user id is wanted and money is never a bare integer. Each is
//! `#[serde(transparent)]` (and `sqlx(transparent)` with the `sqlx` feature):
//! recorded payloads and table columns keep exactly the bytes they had.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(pub Uuid);

        impl $name {
            pub const fn new(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// An auction: also the suffix of its workflow id.
    AuctionId
);
uuid_id!(
    /// An account (bidder, seller or admin).
    UserId
);

/// An amount in a currency's minor units (kobo, pesewas, cents). Sums are
/// checked by the callers that make them; `MAX_AMOUNT` bounds every input.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
pub struct Minor(pub i64);

impl Minor {
    pub const ZERO: Minor = Minor(0);

    pub const fn get(self) -> i64 {
        self.0
    }
}

impl From<i64> for Minor {
    fn from(amount: i64) -> Self {
        Self(amount)
    }
}

impl From<Minor> for i64 {
    fn from(amount: Minor) -> i64 {
        amount.0
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_amounts_serialize_as_the_bare_values_they_wrap() {
        let id = Uuid::from_u128(7);
        assert_eq!(
            serde_json::to_string(&AuctionId(id)).unwrap(),
            serde_json::to_string(&id).unwrap()
        );
        assert_eq!(serde_json::to_string(&Minor(150_000)).unwrap(), "150000");
        let back: UserId = serde_json::from_str(&serde_json::to_string(&id).unwrap()).unwrap();
        assert_eq!(back, UserId(id));
    }
}

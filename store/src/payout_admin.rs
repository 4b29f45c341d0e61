//! What an admin reads of a payout (`sales` by its public `payout_id`) to
//! act on it, such as finalizing a transfer that waits for an OTP. The sale's
//! own moves stay in [`super::sales`].

use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// A payout as an admin names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRef {
    pub payout_id: i64,
    pub invoice_id: Uuid,
    pub payout_state: String,
}

/// The payout numbered `payout_id`, if there is one.
pub async fn payout(db: &PgPool, payout_id: i64) -> Result<Option<PayoutRef>> {
    Ok(sqlx::query_as!(
        PayoutRef,
        "SELECT payout_id, invoice_id, payout_state FROM sales WHERE payout_id = $1",
        payout_id
    )
    .fetch_optional(db)
    .await?)
}

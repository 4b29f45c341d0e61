//! The `payout_accounts` table: the bank account a seller is paid into,
//! `pending` once Paystack resolved its name and `confirmed` (with its
//! transfer recipient) once the seller confirmed that name; and the sales
//! held for want of one.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// An account as stored, in either state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PayoutAccount {
    pub currency: String,
    pub bank_code: String,
    pub bank_name: String,
    pub account_number: String,
    pub account_name: String,
    /// Paystack's `RCP_…`; always set on the confirmed account.
    pub recipient_code: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A resolved account waiting for its seller's confirmation.
#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    pub currency: &'a str,
    pub bank_code: &'a str,
    pub bank_name: &'a str,
    pub account_number: &'a str,
    pub account_name: &'a str,
}

/// A seller's accounts: the one paid into and the one waiting to replace it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    pub confirmed: Option<PayoutAccount>,
    pub pending: Option<PayoutAccount>,
}

/// Keeps `account` as `user_id`'s pending account (replacing an older
/// pending one; the confirmed one stays until this one is confirmed).
pub async fn save_pending(db: &PgPool, user_id: Uuid, account: NewAccount<'_>) -> Result<()> {
    sqlx::query!(
        "INSERT INTO payout_accounts (user_id, state, currency, bank_code, bank_name,
             account_number, account_name)
         VALUES ($1, 'pending', $2, $3, $4, $5, $6)
         ON CONFLICT (user_id, state) DO UPDATE SET currency = EXCLUDED.currency,
             bank_code = EXCLUDED.bank_code, bank_name = EXCLUDED.bank_name,
             account_number = EXCLUDED.account_number, account_name = EXCLUDED.account_name,
             recipient_code = NULL, created_at = now(), updated_at = now()",
        user_id,
        account.currency,
        account.bank_code,
        account.bank_name,
        account.account_number,
        account.account_name,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Makes `user_id`'s pending account the confirmed one, paid through
/// `recipient_code`, replacing the old confirmed one in one transaction.
/// `expected` is the pending account the recipient was made for: when the
/// pending row changed meanwhile (another look-up), nothing changes and
/// `None` is answered. The replaced account's recipient is not deactivated
/// here: a payout to it may still be retried under its reference.
pub async fn confirm(
    db: &PgPool,
    user_id: Uuid,
    expected: &PayoutAccount,
    recipient_code: &str,
    bank_name: &str,
) -> Result<Option<PayoutAccount>> {
    let mut tx = db.begin().await?;
    let pending = sqlx::query_as!(
        PayoutAccount,
        "DELETE FROM payout_accounts
         WHERE user_id = $1 AND state = 'pending' AND updated_at = $2 AND account_number = $3
             AND bank_code = $4
         RETURNING currency, bank_code, bank_name, account_number, account_name, recipient_code,
             updated_at",
        user_id,
        expected.updated_at,
        expected.account_number,
        expected.bank_code,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(pending) = pending else {
        return Ok(None);
    };
    sqlx::query!(
        "DELETE FROM payout_accounts WHERE user_id = $1 AND state = 'confirmed'",
        user_id
    )
    .execute(&mut *tx)
    .await?;
    let confirmed = sqlx::query_as!(
        PayoutAccount,
        "INSERT INTO payout_accounts (user_id, state, currency, bank_code, bank_name,
             account_number, account_name, recipient_code)
         VALUES ($1, 'confirmed', $2, $3, $4, $5, $6, $7)
         RETURNING currency, bank_code, bank_name, account_number, account_name, recipient_code,
             updated_at",
        user_id,
        pending.currency,
        pending.bank_code,
        bank_name,
        pending.account_number,
        pending.account_name,
        recipient_code,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(confirmed))
}

/// `user_id`'s confirmed and pending accounts.
pub async fn of_user(db: &PgPool, user_id: Uuid) -> Result<Accounts> {
    let rows = sqlx::query_as!(
        StatedRow,
        r#"SELECT state, currency, bank_code, bank_name, account_number, account_name,
               recipient_code, updated_at
           FROM payout_accounts WHERE user_id = $1"#,
        user_id
    )
    .fetch_all(db)
    .await?;
    Ok(sorted(rows))
}

/// A row with its state, before [`sorted`] files it.
struct StatedRow {
    state: String,
    currency: String,
    bank_code: String,
    bank_name: String,
    account_number: String,
    account_name: String,
    recipient_code: Option<String>,
    updated_at: DateTime<Utc>,
}

/// A user's rows filed by state (the primary key allows one of each).
fn sorted(rows: Vec<StatedRow>) -> Accounts {
    let mut accounts = Accounts::default();
    for row in rows {
        let account = PayoutAccount {
            currency: row.currency,
            bank_code: row.bank_code,
            bank_name: row.bank_name,
            account_number: row.account_number,
            account_name: row.account_name,
            recipient_code: row.recipient_code,
            updated_at: row.updated_at,
        };
        if row.state == "confirmed" {
            accounts.confirmed = Some(account);
        } else {
            accounts.pending = Some(account);
        }
    }
    accounts
}

/// Forgets `user_id`'s pending account; whether there was one.
pub async fn delete_pending(db: &PgPool, user_id: Uuid) -> Result<bool> {
    let deleted = sqlx::query!(
        "DELETE FROM payout_accounts WHERE user_id = $1 AND state = 'pending'",
        user_id
    )
    .execute(db)
    .await?;
    Ok(deleted.rows_affected() > 0)
}

/// Forgets both of `user_id`'s accounts; what was deleted.
pub async fn delete_all(db: &PgPool, user_id: Uuid) -> Result<Accounts> {
    let rows = sqlx::query_as!(
        StatedRow,
        "DELETE FROM payout_accounts WHERE user_id = $1
         RETURNING state, currency, bank_code, bank_name, account_number, account_name,
             recipient_code, updated_at",
        user_id
    )
    .fetch_all(db)
    .await?;
    Ok(sorted(rows))
}

/// The sales of `seller_id` whose payout waits for a payout account (their
/// workflows are nudged once one is confirmed).
pub async fn held_sales(db: &PgPool, seller_id: Uuid) -> Result<Vec<Uuid>> {
    let ids = sqlx::query_scalar!(
        "SELECT invoice_id FROM sales
         WHERE seller_id = $1 AND payout_state = 'held' AND held_reason = 'no_payout_account'",
        seller_id
    )
    .fetch_all(db)
    .await?;
    Ok(ids)
}

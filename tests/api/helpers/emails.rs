//! The emails a lot sent, as the tests read them: from the `emails` table
//! and from the Brevo stand-in, the sale's own apart from the optional
//! notices that race with it, and a wait for a list to become what is expected.

use super::*;

/// Optional notices that go out at their own moments: a lot's ending-soon
/// check runs on its own timer and adds emails whenever it finds a bidder
/// waiting, so on a short lot whether one goes out races the bids and the
/// settlement. A sale's email lists leave them out here, once; the tests of
/// those notices (watchlist.rs) read them on their own.
const OPTIONAL_NOTICES: &[&str] = &["ending_soon"];

fn optional(kind: &str) -> bool {
    OPTIONAL_NOTICES.contains(&kind)
}

/// Every email stored for the auction, optional notices included:
/// (kind, recipient email, status), in order.
pub async fn all_emails(app: &TestApp, auction_id: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT kind, recipient_email, status FROM emails WHERE auction_id = $1::uuid
         ORDER BY created_at, kind",
    )
    .bind(auction_id)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// The sale's own emails: (kind, recipient email, status), in order, the
/// optional notices left out.
pub async fn emails(app: &TestApp, auction_id: &str) -> Vec<(String, String, String)> {
    let mut emails = all_emails(app, auction_id).await;
    emails.retain(|(kind, _, _)| !optional(kind));
    emails
}

/// The kinds of the sale's own emails (and to whom) right now.
pub async fn sent_kinds(app: &TestApp, auction_id: &str) -> Vec<(String, String)> {
    emails(app, auction_id)
        .await
        .into_iter()
        .map(|(kind, to, _)| (kind, to))
        .collect()
}

/// The optional notices sent for the auction (and to whom), for a test
/// whose lot makes them certain.
pub async fn optional_notices(app: &TestApp, auction_id: &str) -> Vec<(String, String)> {
    all_emails(app, auction_id)
        .await
        .into_iter()
        .filter(|(kind, _, _)| optional(kind))
        .map(|(kind, to, _)| (kind, to))
        .collect()
}

/// How many sale emails the Brevo stand-in was asked to send: each
/// account's verification link is its own, and the optional notices are
/// left out.
pub async fn sale_emails_at_brevo(brevo: &wiremock::MockServer) -> usize {
    brevo
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| {
            let body = String::from_utf8_lossy(&request.body);
            !body.contains("gavel-verify_email")
                && !OPTIONAL_NOTICES
                    .iter()
                    .any(|kind| body.contains(&format!("gavel-{kind}")))
        })
        .count()
}

/// The Brevo stand-in's requests for `kind` emails to `to`, oldest first,
/// as their JSON bodies.
pub async fn brevo_sent(brevo: &wiremock::MockServer, kind: &str, to: &str) -> Vec<Value> {
    brevo
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|b| b["tags"][0] == format!("gavel-{kind}") && b["to"][0]["email"] == to)
        .collect()
}

/// Waits up to `secs` for the emails `read` finds (in any order) to be
/// `expected` (sorted): each is written once sent, and under load the last
/// may lag.
pub async fn sent_become<T, F, Fut>(secs: u64, expected: &[T], read: F)
where
    T: Ord + std::fmt::Debug,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<T>>,
{
    eventually(secs, || async {
        let mut sent = read().await;
        sent.sort();
        if sent == expected {
            Ok(())
        } else {
            Err(format!("sent {sent:?}, expected {expected:?}"))
        }
    })
    .await;
}

//! The closing wave: many auctions ending within a minute, each won by a
//! bidder with a stored card. How late each close shows on the auction's
//! public page, how late the rules closed it, how soon its winner is invoiced
//! with a way to pay, and that each is settled once.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use gavel_api::auth::Role;
use gavel_store::{auctions, emails};
use serde_json::Value;
use uuid::Uuid;

use crate::{measure::percentile, stack::Stack};

/// The figures of a closing wave.
#[derive(Debug, serde::Serialize)]
pub struct Wave {
    pub auctions: usize,
    /// Page: the first public GET showing the auction closed, after its end.
    pub page_late_p50_ms: f64,
    pub page_late_p99_ms: f64,
    pub page_late_max_ms: f64,
    /// Pages never seen closed within a minute of their end.
    pub page_never_closed: usize,
    /// Rules: the `closed` event's time after the end.
    pub lateness_p50_ms: f64,
    pub lateness_p99_ms: f64,
    /// From each end until its invoice was paid by card or had a pay link.
    pub invoiced_p50_secs: f64,
    pub invoiced_p99_secs: f64,
    pub invoiced_max_secs: f64,
    pub not_invoiced: usize,
    pub settled_after_last_end_secs: f64,
    pub unsettled: i64,
    pub duplicate_charges: i64,
    pub duplicate_emails: i64,
    pub emails: usize,
}

/// Polls `auction`'s public page from just before `ends_at` until it shows
/// the auction closed; how long after the end that answer arrived.
async fn watch_page(stack: Arc<Stack>, auction: Uuid, ends_at: DateTime<Utc>) -> Option<Duration> {
    let early = (ends_at - Utc::now() - chrono::Duration::milliseconds(300))
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(early).await;
    let url = format!("{}/auctions/{auction}", stack.api_url);
    let give_up = ends_at + chrono::Duration::seconds(60);
    while Utc::now() < give_up {
        if let Ok(response) = stack.http.get(&url).send().await
            && let Ok(body) = response.json::<Value>().await
            && !matches!(body["status"].as_str(), Some("open" | "scheduled") | None)
        {
            return Some((Utc::now() - ends_at).to_std().unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// `n` auctions ending within one minute, each won by a bidder with a
/// stored card.
pub async fn closing_wave(stack: &Arc<Stack>, n: usize) -> Wave {
    let seller = stack.users(Role::Seller, 1).await.remove(0);
    let winners = stack.users(Role::Bidder, n).await;
    stack.cards(&winners).await;
    // Creating them takes a while; the wave starts after.
    let first_end = Utc::now() + chrono::Duration::seconds(30 + i64::try_from(n / 20).unwrap());
    let ends: Vec<DateTime<Utc>> = (0..n)
        .map(|i| first_end + chrono::Duration::milliseconds(i64::try_from(i * 60_000 / n).unwrap()))
        .collect();
    let made = futures::stream::iter(ends.clone())
        .map(|ends_at| {
            let (stack, seller) = (stack.clone(), seller.clone());
            async move { stack.auction_until(&seller, ends_at).await }
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    futures::stream::iter(made.iter().zip(&winners))
        .for_each_concurrent(16, |(auction, winner)| {
            let stack = stack.clone();
            async move {
                let (_, status, body) = stack.bid(winner, *auction, 100).await;
                assert_eq!(status, 201, "{body}");
            }
        })
        .await;
    assert!(
        Utc::now() < first_end,
        "the wave started before every auction was made"
    );
    let emails_before = stack.emails_sent().await;
    let pages: Vec<_> = made
        .iter()
        .zip(&ends)
        .map(|(auction, ends_at)| tokio::spawn(watch_page(stack.clone(), *auction, *ends_at)))
        .collect();
    let end_of: HashMap<Uuid, DateTime<Utc>> = made.iter().copied().zip(ends.clone()).collect();

    // Invoiced with a way to pay: charged (paid) or given a pay link. The
    // database's paid_at where there is one, else when this poll saw it.
    let mut invoiced: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    let last_end = *ends.last().unwrap();
    // Settling takes seconds; five minutes past the last end is a failure.
    let deadline = Instant::now()
        + (last_end - Utc::now()).to_std().unwrap_or_default()
        + Duration::from_secs(300);
    let mut unsettled;
    loop {
        let rows: Vec<(Uuid, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT auction_id, paid_at FROM invoices WHERE auction_id = ANY($1)
               AND (status = 'paid' OR authorization_url IS NOT NULL)",
        )
        .bind(&made)
        .fetch_all(&stack.db)
        .await
        .unwrap();
        let now = Utc::now();
        for (auction, paid_at) in rows {
            invoiced.entry(auction).or_insert(paid_at.unwrap_or(now));
        }
        unsettled = auctions::unsettled_among(&stack.db, &made).await.unwrap();
        if (unsettled == 0 && invoiced.len() == n) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let settled_after = (Utc::now() - last_end).to_std().unwrap_or_default();

    // Two charges of one invoice would be two Paystack references for it.
    let mut per_invoice: HashMap<String, HashSet<String>> = HashMap::new();
    for request in stack.paystack.received_requests().await.unwrap_or_default() {
        if request.url.path() != "/transaction/charge_authorization" {
            continue;
        }
        let charge: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let reference = charge["reference"].as_str().unwrap_or_default().to_owned();
        let invoice = reference.split('.').next().unwrap_or_default().to_owned();
        per_invoice.entry(invoice).or_default().insert(reference);
    }
    let duplicate_charges = per_invoice
        .values()
        .map(|refs| i64::try_from(refs.len()).unwrap() - 1)
        .sum();
    let duplicate_emails = emails::duplicates_among(&stack.db, &made).await.unwrap();

    let mut closes: Vec<Duration> = auctions::ends_and_closes(&stack.db, &made)
        .await
        .unwrap()
        .iter()
        .map(|(ends, closed)| (*closed - *ends).to_std().unwrap_or_default())
        .collect();
    closes.sort();
    let mut page = Vec::new();
    let mut page_never_closed = 0;
    for task in pages {
        match task.await.unwrap() {
            Some(late) => page.push(late),
            None => page_never_closed += 1,
        }
    }
    page.sort();
    let mut paid: Vec<Duration> = invoiced
        .iter()
        .map(|(auction, at)| (*at - end_of[auction]).to_std().unwrap_or_default())
        .collect();
    paid.sort();
    let secs = |ms: f64| ms / 1_000.0;
    Wave {
        auctions: n,
        page_late_p50_ms: percentile(&page, 0.5),
        page_late_p99_ms: percentile(&page, 0.99),
        page_late_max_ms: percentile(&page, 1.0),
        page_never_closed,
        lateness_p50_ms: percentile(&closes, 0.5),
        lateness_p99_ms: percentile(&closes, 0.99),
        invoiced_p50_secs: secs(percentile(&paid, 0.5)),
        invoiced_p99_secs: secs(percentile(&paid, 0.99)),
        invoiced_max_secs: secs(percentile(&paid, 1.0)),
        not_invoiced: n - invoiced.len(),
        settled_after_last_end_secs: settled_after.as_secs_f64(),
        unsettled,
        duplicate_charges,
        duplicate_emails,
        emails: stack.emails_sent().await.saturating_sub(emails_before),
    }
}

//! The stand-in's side of paying sellers: banks, account names, transfer
//! recipients, transfers from a stand-in balance with their webhooks, and
//! the open `/_gavel/transfers` page that picks what the next transfer does.

use std::{collections::HashMap, time::Duration};

use axum::{
    Form, Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Shared, deliver, escape, ok, refused};

/// What the next transfer does (then it is back to `Succeed`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Outcome {
    #[default]
    Succeed,
    Fail,
    Reverse,
    Otp,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Succeed => "succeed",
            Outcome::Fail => "fail",
            Outcome::Reverse => "reverse",
            Outcome::Otp => "otp",
        }
    }

    fn of(word: &str) -> Option<Self> {
        [
            Outcome::Succeed,
            Outcome::Fail,
            Outcome::Reverse,
            Outcome::Otp,
        ]
        .into_iter()
        .find(|o| o.word() == word)
    }
}

#[derive(Debug, Clone)]
struct StandTransfer {
    id: u64,
    reference: String,
    transfer_code: String,
    amount: i64,
    fee: i64,
    currency: String,
    reason: String,
    recipient_code: String,
    status: &'static str,
    /// What it does once it leaves `pending`.
    outcome: Outcome,
    created_at: String,
}

pub(super) struct Payouts {
    transfers: HashMap<String, StandTransfer>,
    /// References, oldest first (for the page).
    order: Vec<String>,
    next: Outcome,
    /// The stand-in balance, minor units.
    balance: i64,
}

impl Default for Payouts {
    fn default() -> Self {
        Self {
            transfers: HashMap::new(),
            order: Vec::new(),
            next: Outcome::Succeed,
            // ₦100,000,000.
            balance: 10_000_000_000,
        }
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Payouts> {
    shared
        .payouts
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A handful of NGN banks, as `GET /bank` lists them.
const BANKS: [(&str, &str, &str, u64); 8] = [
    ("Test Bank", "test-bank", "001", 1),
    ("Access Bank", "access-bank", "044", 3),
    ("Guaranty Trust Bank", "guaranty-trust-bank", "058", 9),
    ("First Bank of Nigeria", "first-bank-of-nigeria", "011", 7),
    (
        "United Bank For Africa",
        "united-bank-for-africa",
        "033",
        18,
    ),
    ("Zenith Bank", "zenith-bank", "057", 21),
    ("Kuda Bank", "kuda-bank", "50211", 67),
    ("Opay", "paycom", "999992", 171),
];

fn bank(code: &str) -> Option<(&'static str, &'static str, &'static str, u64)> {
    BANKS.into_iter().find(|b| b.2 == code)
}

pub(super) async fn banks() -> Response {
    let data: Vec<Value> = BANKS
        .iter()
        .map(|(name, slug, code, id)| {
            json!({ "name": name, "slug": slug, "code": code, "longcode": "", "gateway": null,
                    "pay_with_bank": false, "active": true, "is_deleted": false,
                    "country": "Nigeria", "currency": "NGN", "type": "nuban", "id": id })
        })
        .collect();
    Json(json!({
        "status": true, "message": "Banks retrieved", "data": data,
        "meta": { "next": null, "previous": null, "perPage": 50 }
    }))
    .into_response()
}

const FIRST: [&str; 8] = [
    "ADAEZE", "BOLA", "CHINEDU", "DAMILOLA", "EMEKA", "FUNMI", "IBRAHIM", "NGOZI",
];
const LAST: [&str; 8] = [
    "OKAFOR", "ADEYEMI", "BELLO", "NWOSU", "OLAWALE", "EZE", "ABUBAKAR", "OKONKWO",
];

/// A made-up account holder, the same for the same number every run.
fn account_name(number: &str) -> Option<String> {
    if number.len() != 10 || !number.bytes().all(|b| b.is_ascii_digit()) || number == "0000000000" {
        return None;
    }
    let n: u64 = number.parse().ok()?;
    let first = FIRST[usize::try_from(n % 8).ok()?];
    let last = LAST[usize::try_from((n / 8) % 8).ok()?];
    Some(format!("{first} {last}"))
}

#[derive(Deserialize)]
pub(super) struct ResolveQuery {
    #[serde(default)]
    account_number: String,
    #[serde(default)]
    bank_code: String,
}

fn unresolved() -> Response {
    refused(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Could not resolve account name. Check parameters or try again.",
    )
}

pub(super) async fn resolve(Query(query): Query<ResolveQuery>) -> Response {
    let (Some(name), Some((_, _, _, bank_id))) =
        (account_name(&query.account_number), bank(&query.bank_code))
    else {
        return unresolved();
    };
    ok(
        "Account number resolved",
        json!({ "account_number": query.account_number, "account_name": name, "bank_id": bank_id }),
    )
}

/// The recipient code for an account: it names the bank and the account,
/// so it is stable and still valid in a later run.
fn recipient_code(bank_code: &str, account_number: &str) -> String {
    format!("RCP_{bank_code}x{account_number}")
}

/// The bank and account a stand-in recipient code names.
fn recipient_of(code: &str) -> Option<(&'static str, &'static str, &'static str, u64, String)> {
    let (bank_code, account) = code.strip_prefix("RCP_")?.split_once('x')?;
    let (name, slug, code, id) = bank(bank_code)?;
    account_name(account)?;
    Some((name, slug, code, id, account.to_owned()))
}

fn recipient_id(code: &str) -> u64 {
    code.bytes().fold(56_824_902_u64, |id, b| {
        id.wrapping_mul(31).wrapping_add(u64::from(b))
    }) % 90_000_000
}

fn recipient_json(code: &str) -> Value {
    let Some((bank_name, _, bank_code, _, account)) = recipient_of(code) else {
        return json!({ "recipient_code": code });
    };
    let name = account_name(&account).unwrap_or_default();
    json!({
        "active": true, "currency": "NGN", "description": "", "domain": "test", "email": null,
        "id": recipient_id(code), "integration": 463_433, "metadata": null, "name": name,
        "recipient_code": code, "type": "nuban", "is_deleted": false,
        "details": { "authorization_code": null, "account_number": account,
                     "account_name": name, "bank_code": bank_code, "bank_name": bank_name }
    })
}

pub(super) async fn create_recipient(Json(body): Json<Value>) -> Response {
    let account = body["account_number"].as_str().unwrap_or_default();
    let bank_code = body["bank_code"].as_str().unwrap_or_default();
    if account_name(account).is_none() || bank(bank_code).is_none() {
        return unresolved();
    }
    let code = recipient_code(bank_code, account);
    (
        StatusCode::CREATED,
        Json(json!({
            "status": true, "message": "Transfer recipient created successfully",
            "data": recipient_json(&code)
        })),
    )
        .into_response()
}

pub(super) async fn delete_recipient(Path(code): Path<String>) -> Response {
    if recipient_of(&code).is_none() {
        return refused(StatusCode::NOT_FOUND, "Transfer recipient not found");
    }
    Json(json!({ "status": true, "message": "Transfer recipient set as inactive" })).into_response()
}

/// Paystack's NGN transfer fee: ₦10 up to ₦5,000, ₦25 up to ₦50,000, else ₦50.
fn fee(amount: i64) -> i64 {
    if amount <= 500_000 {
        1_000
    } else if amount <= 5_000_000 {
        2_500
    } else {
        5_000
    }
}

fn transfer_json(t: &StandTransfer, recipient_object: bool) -> Value {
    let mut data = json!({
        "integration": 463_433, "domain": "test", "amount": t.amount, "currency": t.currency,
        "source": "balance", "reason": t.reason,
        "recipient": if recipient_object { recipient_json(&t.recipient_code) }
                     else { json!(recipient_id(&t.recipient_code)) },
        "status": t.status, "transfer_code": t.transfer_code, "id": t.id,
        "reference": t.reference, "failures": null, "titan_code": null,
        "transferred_at": null, "createdAt": t.created_at, "updatedAt": t.created_at,
    });
    if recipient_object {
        data["fee_charged"] = json!(if t.status == "success" { t.fee } else { 0 });
    }
    data
}

fn event(t: &StandTransfer) -> Value {
    let event = match t.status {
        "success" => "transfer.success",
        "reversed" => "transfer.reversed",
        _ => "transfer.failed",
    };
    let mut data = transfer_json(t, true);
    data["integration"] =
        json!({ "id": 463_433, "is_live": false, "business_name": "Gavel stand-in" });
    if let Some(map) = data.as_object_mut().filter(|_| t.status != "success") {
        map.remove("fee_charged");
    }
    json!({ "event": event, "data": data })
}

/// About a second after `pending`, the transfer ends as its outcome says and
/// its webhook goes to the API.
fn settle_later(shared: &Shared, reference: String) {
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ended = {
            let mut payouts = lock(&shared);
            let Some(t) = payouts.transfers.get_mut(&reference) else {
                return;
            };
            if t.status != "pending" {
                return;
            }
            t.status = match t.outcome {
                Outcome::Fail => "failed",
                Outcome::Reverse => "reversed",
                Outcome::Succeed | Outcome::Otp => "success",
            };
            let t = t.clone();
            if t.status != "success" {
                // The money is back in the balance.
                payouts.balance += t.amount + t.fee;
            }
            t
        };
        deliver(&shared, &event(&ended)).await;
    });
}

pub(super) async fn transfer(State(shared): State<Shared>, Json(body): Json<Value>) -> Response {
    let (Some(reference), Some(amount), Some(recipient)) = (
        body["reference"].as_str(),
        body["amount"].as_i64(),
        body["recipient"].as_str(),
    ) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "reference, amount and recipient are required",
        );
    };
    if amount <= 0 {
        return refused(StatusCode::BAD_REQUEST, "Invalid amount");
    }
    if recipient_of(recipient).is_none() {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({ "status": false, "message": "Invalid transfer recipient",
                         "code": "invalid_transfer_recipient", "type": "validation_error" }),
            ),
        )
            .into_response();
    }
    let created = {
        let mut payouts = lock(&shared);
        if payouts.transfers.contains_key(reference) {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "status": false,
                    "message": "Please provide a unique reference. Reference already exists on a transfer",
                    "code": "duplicate_transfer_reference", "type": "validation_error" })),
            )
                .into_response();
        }
        let fee = fee(amount);
        if amount + fee > payouts.balance {
            return refused(
                StatusCode::BAD_REQUEST,
                "Your balance is not enough to fulfil this request",
            );
        }
        payouts.balance -= amount + fee;
        let outcome = std::mem::take(&mut payouts.next);
        let id = 860_703_114 + payouts.order.len() as u64;
        let t = StandTransfer {
            id,
            reference: reference.to_owned(),
            transfer_code: format!("TRF_standin{id}"),
            amount,
            fee,
            currency: body["currency"].as_str().unwrap_or("NGN").to_owned(),
            reason: body["reason"].as_str().unwrap_or_default().to_owned(),
            recipient_code: recipient.to_owned(),
            status: if outcome == Outcome::Otp {
                "otp"
            } else {
                "pending"
            },
            outcome,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        payouts.order.push(reference.to_owned());
        payouts.transfers.insert(reference.to_owned(), t.clone());
        t
    };
    if created.status == "pending" {
        settle_later(&shared, created.reference.clone());
    }
    ok("Transfer has been queued", transfer_json(&created, false))
}

pub(super) async fn verify_transfer(
    State(shared): State<Shared>,
    Path(reference): Path<String>,
) -> Response {
    match lock(&shared).transfers.get(&reference) {
        Some(t) => ok("Transfer retrieved", transfer_json(t, true)),
        None => refused(StatusCode::NOT_FOUND, "Transfer not found"),
    }
}

/// The stand-in's OTP.
const OTP: &str = "123456";

pub(super) async fn finalize(State(shared): State<Shared>, Json(body): Json<Value>) -> Response {
    let code = body["transfer_code"].as_str().unwrap_or_default();
    let otp = body["otp"].as_str().unwrap_or_default();
    let (answer, failed) = {
        let mut payouts = lock(&shared);
        let Some(t) = payouts
            .transfers
            .values_mut()
            .find(|t| t.transfer_code == code && t.status == "otp")
        else {
            return refused(StatusCode::BAD_REQUEST, "Transfer code is invalid");
        };
        if otp == OTP {
            t.status = "pending";
            (t.clone(), false)
        } else {
            t.status = "failed";
            let t = t.clone();
            payouts.balance += t.amount + t.fee;
            (t, true)
        }
    };
    if failed {
        let shared = shared.clone();
        let body = event(&answer);
        tokio::spawn(async move { deliver(&shared, &body).await });
        return refused(StatusCode::BAD_REQUEST, "Invalid OTP provided");
    }
    settle_later(&shared, answer.reference.clone());
    ok("Transfer has been queued", transfer_json(&answer, false))
}

pub(super) async fn balance(State(shared): State<Shared>) -> Response {
    let balance = lock(&shared).balance;
    ok(
        "Balances retrieved",
        json!([{ "currency": "NGN", "balance": balance }]),
    )
}

/// The open page: the transfers, the balance, and what the next one does.
pub(super) async fn page(State(shared): State<Shared>) -> Response {
    let payouts = lock(&shared);
    let rows: String = payouts
        .order
        .iter()
        .rev()
        .filter_map(|r| payouts.transfers.get(r))
        .map(|t| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"status\">{}</td></tr>",
                escape(&t.reference),
                escape(&gavel_api::web::money::format(t.amount, &t.currency)),
                escape(&t.recipient_code),
                escape(&t.transfer_code),
                t.status
            )
        })
        .collect();
    let buttons: String = [
        (Outcome::Succeed, "succeed"),
        (Outcome::Fail, "fail"),
        (Outcome::Reverse, "reverse"),
        (Outcome::Otp, "ask for OTP"),
    ]
    .into_iter()
    .map(|(o, label)| {
        format!(
            "<button type=\"submit\" name=\"outcome\" value=\"{}\"{}>next transfer: {label}</button> ",
            o.word(),
            if payouts.next == o { " aria-pressed=\"true\"" } else { "" }
        )
    })
    .collect();
    let balance = gavel_api::web::money::format(payouts.balance, "NGN");
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Paystack stand-in: transfers</title></head><body>\
         <h1>Paystack stand-in: transfers</h1>\
         <p>Gavel's local stand-in for Paystack's transfers: no money moves.</p>\
         <p>Balance: <strong id=\"balance\">{}</strong></p>\
         <form method=\"post\" action=\"/_gavel/transfers/balance\">\
         <label>New balance (₦, whole naira) <input name=\"naira\" inputmode=\"numeric\"></label> \
         <button type=\"submit\">Set balance</button></form>\
         <p>The next transfer will: <strong id=\"next\">{}</strong> (OTP: {OTP})</p>\
         <form method=\"post\" action=\"/_gavel/transfers/next\">{buttons}</form>\
         <table><thead><tr><th>Reference</th><th>Amount</th><th>Recipient</th><th>Code</th>\
         <th>Status</th></tr></thead><tbody>{rows}</tbody></table></body></html>",
        escape(&balance),
        payouts.next.word(),
    ))
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct NextForm {
    outcome: String,
}

pub(super) async fn set_next(State(shared): State<Shared>, Form(form): Form<NextForm>) -> Response {
    let Some(outcome) = Outcome::of(&form.outcome) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "outcome is succeed, fail, reverse or otp",
        )
            .into_response();
    };
    lock(&shared).next = outcome;
    Redirect::to("/_gavel/transfers").into_response()
}

#[derive(Deserialize)]
pub(super) struct BalanceForm {
    naira: String,
}

pub(super) async fn set_balance(
    State(shared): State<Shared>,
    Form(form): Form<BalanceForm>,
) -> Response {
    let Some(minor) = form
        .naira
        .trim()
        .replace(',', "")
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .and_then(|n| n.checked_mul(100))
    else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "the balance is whole naira, 0 or more",
        )
            .into_response();
    };
    lock(&shared).balance = minor;
    Redirect::to("/_gavel/transfers").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_recipients_are_stable_per_account() {
        assert_eq!(account_name("0001234567"), account_name("0001234567"));
        assert!(account_name("0000000000").is_none());
        assert!(account_name("123").is_none());
        let code = recipient_code("058", "0001234567");
        assert_eq!(code, "RCP_058x0001234567");
        assert_eq!(recipient_of(&code).unwrap().0, "Guaranty Trust Bank");
        assert!(recipient_of("RCP_999x0001234567").is_none());
    }
}

//! Saved cards only with the buyer's consent: a card that paid a checkout is
//! kept for later wins only when the buyer asked (`save_card` when asking to
//! pay), is listed at `GET /me/cards`, and once removed is never charged.

use gavel_api::routes::invoices::{InvoiceList, InvoiceResponse};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{
    Mock, Request, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    helpers::{eventually, expect_error, expect_json, expect_status},
    stand_ins::*,
};

async fn invoices_of_bola(s: &Scene) -> Vec<InvoiceResponse> {
    let list: InvoiceList = expect_json(
        s.app.get("/api/v1/me/invoices", Some(&s.bola.token)).await,
        StatusCode::OK,
    )
    .await;
    list.items
}

async fn cards(s: &Scene) -> Vec<Value> {
    let list: Value = expect_json(
        s.app.get("/api/v1/me/cards", Some(&s.bola.token)).await,
        StatusCode::OK,
    )
    .await;
    list["items"].as_array().cloned().unwrap_or_default()
}

/// Paystack charges saved cards successfully (whatever reference is sent).
async fn mount_card_charges(s: &Scene) {
    Mock::given(method("POST"))
        .and(path("/transaction/charge_authorization"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            ResponseTemplate::new(200).set_body_json(json!({
                "status": true, "message": "Charge attempted",
                "data": { "id": 4_099_260_999_u64, "status": "success", "reference": body["reference"],
                          "amount": body["amount"], "currency": "NGN", "gateway_response": "Approved",
                          "authorization": { "authorization_code": body["authorization_code"],
                                             "reusable": true, "signature": "SIG_card",
                                             "last4": "4081", "brand": "visa" } }
            }))
        })
        .mount(&s.paystack)
        .await;
}

/// Bola wins a first auction, asks to pay (saying whether to keep the
/// card), and pays on the checkout.
async fn first_win_paid(s: &Scene, save_card: Option<bool>) {
    let (_, reference) = awaiting_pay_link(s, "https://checkout.paystack.com/first").await;
    let invoice = bola_invoice(s).await;
    let body = match save_card {
        Some(save) => json!({ "save_card": save }),
        None => json!({}),
    };
    let response = s
        .app
        .post_json(
            &format!("/api/v1/invoices/{}/pay", invoice.id),
            &body,
            Some(&s.bola.token),
        )
        .await;
    expect_status(response, StatusCode::OK).await;
    mount_verified(&s.paystack, &reference, invoice.total).await;
    let body = charge_success(&reference, invoice.total);
    expect_status(
        post_webhook(&s.app, &body, Some(&sign(&body))).await,
        StatusCode::OK,
    )
    .await;
    eventually(30, || async {
        match bola_invoice(s).await.status.as_str() {
            "paid" => Ok(()),
            other => Err(format!("invoice {other}")),
        }
    })
    .await;
}

/// Bola wins another auction: its invoice once it is paid or has a link.
async fn next_win(s: &Scene) -> InvoiceResponse {
    let auction = won_by_bola(s).await;
    eventually(30, || async {
        let invoices = invoices_of_bola(s).await;
        match invoices
            .into_iter()
            .find(|i| i.auction_id.to_string() == auction)
        {
            Some(i) if i.status == "paid" || i.pay_link.is_some() => Ok(i),
            other => Err(format!("not settled yet: {other:?}")),
        }
    })
    .await
}

async fn card_charges(s: &Scene) -> usize {
    s.paystack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/transaction/charge_authorization")
        .count()
}

#[tokio::test]
async fn a_card_is_not_saved_without_consent_and_the_next_win_gets_a_pay_link() {
    let s = scene().await;
    mount_card_charges(&s).await;
    first_win_paid(&s, None).await;
    assert_eq!(
        s.app
            .count("SELECT count(*) FROM payment_authorizations")
            .await,
        0,
        "no card kept without consent"
    );
    assert_eq!(cards(&s).await, Vec::<Value>::new());
    let second = next_win(&s).await;
    assert_eq!(second.status, "open", "{second:?}");
    assert!(second.pay_link.is_some());
    assert_eq!(card_charges(&s).await, 0);
}

#[tokio::test]
async fn a_card_saved_with_consent_pays_the_next_win_until_it_is_removed() {
    let s = scene().await;
    mount_card_charges(&s).await;
    first_win_paid(&s, Some(true)).await;
    let saved = eventually(30, || async {
        let saved = cards(&s).await;
        if saved.len() == 1 {
            Ok(saved)
        } else {
            Err(format!("{saved:?}"))
        }
    })
    .await;
    assert_eq!(saved[0]["last4"], "4081");
    assert_eq!(saved[0]["brand"], "visa");
    assert!(
        saved[0].get("authorization_code").is_none(),
        "the code that charges the card is never shown: {saved:?}"
    );
    // Nobody else sees or removes Bola's card.
    let id = saved[0]["id"].as_i64().unwrap();
    let response = s
        .app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/cards/{id}"),
            Some(&s.ada.token),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NOT_FOUND).await;

    let second = next_win(&s).await;
    assert_eq!(second.status, "paid", "{second:?}");
    assert_eq!(card_charges(&s).await, 1);

    // Bola removes it: the third win gets a pay link.
    let response = s
        .app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/cards/{id}"),
            Some(&s.bola.token),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(cards(&s).await, Vec::<Value>::new());
    let third = next_win(&s).await;
    assert_eq!(third.status, "open", "{third:?}");
    assert!(third.pay_link.is_some());
    assert_eq!(card_charges(&s).await, 1, "a removed card is not charged");
}

#[tokio::test]
async fn the_me_page_asks_before_the_pay_link_and_lists_and_removes_saved_cards() {
    let s = scene().await;
    let (_, reference) = awaiting_pay_link(&s, "https://checkout.paystack.com/web").await;
    let invoice = bola_invoice(&s).await;
    let cookie = format!(
        "gavel_session={}; gavel_csrf={}",
        s.bola.token,
        "c0de".repeat(16)
    );
    let me = || async {
        s.app
            .request(reqwest::Method::GET, "/me", None)
            .header(reqwest::header::COOKIE, cookie.clone())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let page = me().await;
    // Forms carry a token bound to the session: the page's, not the cookie's.
    let csrf = crate::helpers::form_token(&page);
    assert!(page.contains("Use this card for my future wins"), "{page}");
    assert!(page.contains("My saved cards"));
    let save_card = || async {
        sqlx::query_scalar::<_, bool>("SELECT save_card FROM invoices WHERE id = $1")
            .bind(invoice.id)
            .fetch_one(&s.app.db)
            .await
            .unwrap()
    };
    // Without the page's token nothing is recorded.
    let refused = s
        .app
        .http
        .post(s.app.url(&format!("/me/invoices/{}/pay", invoice.id)))
        .header(reqwest::header::COOKIE, cookie.clone())
        .form(&[("csrf", "wrong"), ("save_card", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(!save_card().await);
    let pay = s
        .app
        .http
        .post(s.app.url(&format!("/me/invoices/{}/pay", invoice.id)))
        .header(reqwest::header::COOKIE, cookie.clone())
        .form(&[("csrf", csrf.as_str()), ("save_card", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(pay.status(), StatusCode::OK);
    let checkout = pay.text().await.unwrap();
    assert!(checkout.contains("Continue to Paystack"));
    assert!(
        checkout.contains("will be kept to pay your future wins"),
        "{checkout}"
    );
    assert!(save_card().await, "the box was ticked");

    mount_verified(&s.paystack, &reference, invoice.total).await;
    let body = charge_success(&reference, invoice.total);
    expect_status(
        post_webhook(&s.app, &body, Some(&sign(&body))).await,
        StatusCode::OK,
    )
    .await;
    let saved = eventually(30, || async {
        let saved = cards(&s).await;
        if saved.len() == 1 {
            Ok(saved)
        } else {
            Err(format!("{saved:?}"))
        }
    })
    .await;
    let page = me().await;
    assert!(page.contains("visa ending 4081"), "{page}");
    let id = saved[0]["id"].as_i64().unwrap();
    let removed = s
        .app
        .http
        .post(s.app.url(&format!("/me/cards/{id}/remove")))
        .header(reqwest::header::COOKIE, cookie.clone())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        removed.headers()[reqwest::header::LOCATION],
        "/me?said=card_removed"
    );
    assert!(cards(&s).await.is_empty());
    assert!(!me().await.contains("visa ending 4081"));
}

#[tokio::test]
async fn asking_to_pay_takes_an_object_or_nothing() {
    let s = scene().await;
    awaiting_pay_link(&s, "https://checkout.paystack.com/shape").await;
    let invoice = bola_invoice(&s).await;
    let pay = format!("/api/v1/invoices/{}/pay", invoice.id);
    // A list is not the object the route documents, even when serde could
    // read `[true]` as `{"save_card": true}`.
    for body in [
        json!([]),
        json!([true]),
        json!(true),
        json!("yes"),
        json!(null),
    ] {
        let response = s.app.post_json(&pay, &body, Some(&s.bola.token)).await;
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    }
    assert_eq!(
        s.app
            .count("SELECT count(*) FROM invoices WHERE save_card")
            .await,
        0,
        "a refused body recorded nothing"
    );
    for body in [json!({}), json!({ "save_card": false })] {
        let response = s.app.post_json(&pay, &body, Some(&s.bola.token)).await;
        expect_status(response, StatusCode::OK).await;
    }
}

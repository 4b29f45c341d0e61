//! Every kind of email as a person sees it: the lot's emails rendered by the
//! mailer the worker uses, from a real lot (with its photo) and a real
//! invoice, and the account emails and the saved-search digest as the Brevo
//! stand-in received them; each opened in Chromium at a phone's width in
//! light and dark mode. The screenshots
//! are kept in `target/email-screenshots/`; with `GAVEL_SCREENSHOTS=1` the
//! won email's is written to `docs/screenshots/email-won.png` for the README.

use std::{path::PathBuf, time::Duration};

use fantoccini::{Client, Locator};
use gavel_activities::{brevo::Mailbox, mailer::Mailer};
use gavel_workflows::contract::settlement::{EmailJob, EmailKind};
use serde_json::{Value, json};
use wiremock::{
    Mock,
    matchers::{method, path},
};

use crate::{
    browser::Driver,
    helpers::{auction_body, eventually, settlement_args},
    stand_ins::{bola_pay_link, checkout, scene},
};

/// Every kind of email a lot's workflows send.
const KINDS: [EmailKind; 26] = [
    EmailKind::Outbid,
    EmailKind::Won,
    EmailKind::SecondChance,
    EmailKind::Sold,
    EmailKind::AuctionLost,
    EmailKind::PaymentReminder,
    EmailKind::Receipt,
    EmailKind::SaleCompleted,
    EmailKind::NoSale,
    EmailKind::Unsold,
    EmailKind::OfferAccepted,
    EmailKind::PayLink,
    EmailKind::Refund,
    EmailKind::AuctionCancelled,
    EmailKind::Dispute,
    EmailKind::ShipBy,
    EmailKind::LotShipped,
    EmailKind::LotReceived,
    EmailKind::NotShipped,
    EmailKind::ClaimOpened,
    EmailKind::ClaimAnswered,
    EmailKind::ClaimToDecide,
    EmailKind::PayoutSent,
    EmailKind::PayoutHeld,
    EmailKind::PayoutProblem,
    EmailKind::EndingSoon,
];

/// A phone's viewport: 375 px wide, tall enough for the longest email.
const PHONE: (u32, u32) = (375, 1500);

fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/email-screenshots")
}

/// A 1200×900 photo of the lot, made here (a warm gradient).
fn lot_photo() -> Vec<u8> {
    let image = image::RgbImage::from_fn(1200, 900, |x, y| {
        image::Rgb([120 + (x * 100 / 1200) as u8, 70 + (y * 60 / 900) as u8, 30])
    });
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

/// Reads `script`'s answer in `client`'s page.
async fn page_value(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

#[tokio::test]
async fn every_kind_of_email_reads_at_a_phones_width_in_light_and_dark_mode() {
    let s = scene().await;
    Mock::given(method("POST"))
        .and(path("/transaction/initialize"))
        .respond_with(checkout("https://checkout.paystack.com/looks"))
        .mount(&s.paystack)
        .await;
    // Bola saves a search the lot will match (before it is listed).
    let saved = s
        .app
        .post_json(
            "/api/v1/me/saved-searches",
            &json!({ "q": "iroko" }),
            Some(&s.bola.token),
        )
        .await;
    assert_eq!(saved.status(), reqwest::StatusCode::CREATED);
    // And a lot still open when the digest runs (one that has ended is not
    // news).
    let mut open_lot = auction_body(3_600);
    open_lot["title"] = json!("Iroko bench, Ibadan");
    s.app.create_auction(&s.seller, &open_lot).await;
    let mut body = auction_body(6);
    body["title"] = json!("Carved iroko stool, Oyo, 1950s");
    body["anti_sniping"] = json!({ "window_secs": 0, "extension_secs": 1 });
    let lot = s.app.create_auction(&s.seller, &body).await.id.to_string();
    let form = reqwest::multipart::Form::new().part(
        "images",
        reqwest::multipart::Part::bytes(lot_photo()).file_name("stool.png"),
    );
    let uploaded = s
        .app
        .http
        .post(s.app.url(&format!("/api/v1/auctions/{lot}/images")))
        .bearer_auth(&s.seller.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), reqwest::StatusCode::CREATED);
    s.app.bid_ok(&s.ada, &lot, 1_000, None).await;
    s.app.bid_ok(&s.bola, &lot, 1_500, None).await;
    s.app.wait_for_status(&lot, "awaiting_payment", 30).await;
    let invoice = bola_pay_link(&s).await;
    let number = invoice.number.clone();

    // The won email Brevo received: its button goes to Gavel's page for
    // the invoice, not to Paystack; money reads as on the pages.
    let won = eventually(30, || async {
        let requests = s.brevo.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
            .find(|email| email["tags"][0] == "gavel-won")
            .ok_or_else(|| "no won email yet".to_owned())
    })
    .await;
    let html = won["htmlContent"].as_str().unwrap();
    let text = won["textContent"].as_str().unwrap();
    let public_url = settlement_args().public_url;
    let invoice_page = format!("{public_url}/me#invoice-{number}");
    assert!(html.contains(&format!("href=\"{invoice_page}\"")), "{html}");
    assert!(!html.contains("checkout.paystack.com"), "{html}");
    assert!(text.contains(&format!("Pay now: {invoice_page}")), "{text}");
    assert!(text.contains("₦15") && !text.contains("NGN"), "{text}");
    assert!(html.contains("/display.jpg\""), "the lot's photo: {html}");

    // Every kind, rendered as the worker renders it, to Bola, with links to
    // this API (so the photo loads).
    let mailer = Mailer::new(
        s.app.db.clone(),
        None,
        Mailbox::parse("Gavel <auctions@gavel.test>").unwrap(),
        s.app.address.clone(),
    );
    let dir = screenshots_dir();
    std::fs::create_dir_all(&dir).unwrap();
    // (name, file, whether it shows the lot's photo)
    let mut pages: Vec<(String, PathBuf, bool)> = Vec::new();
    for kind in KINDS {
        let job = EmailJob {
            kind,
            auction_id: lot.parse().unwrap(),
            recipient_id: s.bola.id.parse().unwrap(),
            occasion: 1,
            invoice_id: Some(invoice.id),
            pay_link: Some("https://checkout.paystack.com/looks".into()),
            amount: Some(1_500),
            card_pending: false,
        };
        let (subject, html, text) = mailer.preview(&job).await.unwrap();
        assert!(!subject.is_empty(), "{kind:?}");
        for body in [&html, &text] {
            assert!(body.contains("Carved iroko stool"), "{kind:?}: {body}");
            assert!(
                !body.contains("NGN "),
                "{kind:?} shows money as a code: {body}"
            );
        }
        // Optional notices, and only they, carry their one-click way out.
        let optional = matches!(
            kind,
            EmailKind::Outbid | EmailKind::AuctionLost | EmailKind::EndingSoon
        );
        assert_eq!(
            html.contains("/unsubscribe?token="),
            optional,
            "{kind:?}: {html}"
        );
        let file = dir.join(format!("{}.html", kind.as_str()));
        std::fs::write(&file, &html).unwrap();
        pages.push((kind.as_str().to_owned(), file, true));
    }

    // The emails that are not about one lot, as Brevo received them: the
    // address check, a password reset, and the saved-search digest.
    let reset = s
        .app
        .post_json(
            "/api/v1/auth/password-reset",
            &json!({ "email": s.bola.email }),
            None,
        )
        .await;
    assert_eq!(reset.status(), reqwest::StatusCode::ACCEPTED);
    crate::saved_searches::run_digest(&s.app).await;
    for tag in ["verify_email", "password_reset", "saved_search_digest"] {
        let email = eventually(30, || async {
            let requests = s.brevo.received_requests().await.unwrap_or_default();
            requests
                .iter()
                .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
                .find(|email| email["tags"][0] == format!("gavel-{tag}").as_str())
                .ok_or_else(|| format!("no {tag} email yet"))
        })
        .await;
        let html = email["htmlContent"].as_str().unwrap();
        assert!(html.contains("class=\"gv-card\""), "{tag}: {html}");
        if tag == "saved_search_digest" {
            assert!(html.contains("Iroko bench, Ibadan"), "{html}");
            assert!(!html.contains("Carved iroko stool"), "ended: {html}");
            // An optional notice: its way out, in the footer and the headers.
            assert!(html.contains("/unsubscribe?token="), "{html}");
            assert_eq!(
                email["headers"]["List-Unsubscribe-Post"],
                "List-Unsubscribe=One-Click"
            );
        }
        let file = dir.join(format!("{tag}.html"));
        std::fs::write(&file, html).unwrap();
        pages.push((tag.to_owned(), file, false));
    }

    let driver = Driver::start().await;
    for (mode, flags) in [("light", &[][..]), ("dark", &["--force-dark-mode"][..])] {
        let browser = driver.browser_with(PHONE, flags).await;
        for (kind, file, with_photo) in &pages {
            browser
                .goto(&format!("file://{}", file.display()))
                .await
                .unwrap();
            browser
                .wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css("a.gv-button, td.gv-card"))
                .await
                .unwrap();
            // Nothing wider than the phone: no sideways scrolling.
            let width = page_value(&browser, "return document.documentElement.scrollWidth").await;
            assert!(
                width.as_u64().unwrap() <= u64::from(PHONE.0),
                "{kind} is {width} px wide in {mode} mode"
            );
            // The photo came from Gavel and loaded.
            let photo = page_value(
                &browser,
                "const i = document.querySelector('img'); \
                 return i && i.complete ? i.naturalWidth : 0",
            )
            .await;
            assert_eq!(
                photo.as_u64().unwrap() > 0,
                *with_photo,
                "{kind}: the photo"
            );
            let card = page_value(
                &browser,
                "return getComputedStyle(document.querySelector('.gv-card')).backgroundColor",
            )
            .await;
            let dark = card == "rgb(35, 32, 28)";
            assert_eq!(
                dark,
                mode == "dark",
                "{kind:?} card is {card} in {mode} mode"
            );
            let png = browser.screenshot().await.unwrap();
            let shot = dir.join(format!("{kind}-{mode}.png"));
            std::fs::write(&shot, &png).unwrap();
            if kind == "won" && mode == "light" && std::env::var_os("GAVEL_SCREENSHOTS").is_some() {
                let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("docs/screenshots/email-won.png");
                std::fs::write(readme, &png).unwrap();
            }
        }
        browser.close().await.unwrap();
    }
    eprintln!("email screenshots: {}", dir.display());
}

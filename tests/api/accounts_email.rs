//! Verified email end to end, and the account pages (verify, forgot and
//! reset password): the links are taken from the emails the Brevo stand-in
//! received (or, with no Brevo, from the `emails` table) and followed as a
//! person would. The password reset's API is in `password_reset.rs`.

use gavel_api::routes::auth::{AccountEmailResponse, AccountEmailStatus, AuthResponse, MeResponse};
use reqwest::{StatusCode, header};
use secrecy::ExposeSecret;
use serde_json::json;
use wiremock::MockServer;

use crate::{
    helpers::{
        PASSWORD, TestApp, TestUser, auction_body, eventually, expect_error, expect_json,
        expect_status, settlement_args, spawn_app, spawn_app_with_settlement,
    },
    sessions::Jar,
};

/// The app with a Brevo stand-in that accepts every email.
pub(crate) async fn with_brevo() -> (TestApp, MockServer) {
    let brevo = gavel_testkit::mail::brevo().await;
    let mut settlement = settlement_args();
    settlement.brevo_api_key = Some(secrecy::SecretString::from("xkeysib-test"));
    settlement.brevo_base_url = brevo.uri();
    (spawn_app_with_settlement(settlement).await, brevo)
}

/// Signs up (not verified): the user and their first session's token.
pub(crate) async fn sign_up(app: &TestApp, role: &str) -> TestUser {
    let email = format!("{role}-{}@example.com", uuid::Uuid::new_v4().simple());
    let body: AuthResponse = expect_json(
        app.register(&email, PASSWORD, "New Person", role).await,
        StatusCode::CREATED,
    )
    .await;
    TestUser {
        id: body.user.id.to_string(),
        email,
        handle: body.user.handle,
        token: body.token,
    }
}

/// The 64-hex-digit token after `name?token=` in `text`, if any.
fn token_in(text: &str, page: &str) -> Option<String> {
    let marker = format!("{page}?token=");
    let at = text.find(&marker)? + marker.len();
    let token: String = text[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (token.len() == 64).then_some(token)
}

/// The tokens of the `kind` emails Brevo received for `to`, oldest first.
pub(crate) async fn brevo_tokens(
    brevo: &MockServer,
    kind: &str,
    to: &str,
    page: &str,
) -> Vec<String> {
    crate::helpers::brevo_sent(brevo, kind, to)
        .await
        .iter()
        .map(|b| token_in(b["textContent"].as_str().unwrap(), page).expect("a link"))
        .collect()
}

/// Waits for the `n`-th `kind` email to `to` at Brevo; every token so far.
pub(crate) async fn wait_for_tokens(
    brevo: &MockServer,
    kind: &str,
    to: &str,
    page: &str,
    n: usize,
) -> Vec<String> {
    eventually(20, || async {
        let tokens = brevo_tokens(brevo, kind, to, page).await;
        if tokens.len() >= n {
            Ok(tokens)
        } else {
            Err(format!("{} of {n} {kind} emails to {to}", tokens.len()))
        }
    })
    .await
}

pub(crate) async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/verify-email",
        &json!({ "token": token }),
        None,
    )
    .await
}

async fn me(app: &TestApp, token: &str) -> MeResponse {
    expect_json(app.me(token).await, StatusCode::OK).await
}

#[tokio::test]
async fn a_new_account_bids_with_the_same_session_once_the_emailed_link_is_followed() {
    let (app, brevo) = with_brevo().await;
    let seller = app.user("seller").await;
    let lot = app.create_auction(&seller, &auction_body(120)).await.id;
    let ada = sign_up(&app, "bidder").await;
    assert!(!me(&app, &ada.token).await.email_verified);

    // Browsing works; bidding does not, yet.
    expect_status(
        app.get(&format!("/api/v1/auctions/{lot}"), None).await,
        StatusCode::OK,
    )
    .await;
    let refused = app.bid(&ada, &lot.to_string(), 1_000, None, None).await;
    expect_error(refused, StatusCode::FORBIDDEN, "email_unverified").await;
    // Nor does selling.
    let sam = sign_up(&app, "seller").await;
    let listing = app
        .post_json("/api/v1/auctions", &auction_body(120), Some(&sam.token))
        .await;
    expect_error(listing, StatusCode::FORBIDDEN, "email_unverified").await;
    assert_eq!(app.count("SELECT count(*) FROM auctions").await, 1);

    // The link in the email Brevo got; the stored copy does not carry it.
    let token = wait_for_tokens(&brevo, "verify_email", &ada.email, "/verify-email", 1)
        .await
        .remove(0);
    let stored = app
        .count(&format!(
            "SELECT count(*) FROM emails WHERE kind = 'verify_email' \
             AND recipient_email = '{}' AND text_body NOT LIKE '%{token}%'",
            ada.email
        ))
        .await;
    assert_eq!(stored, 1, "one email recorded, without its link");

    // Garbled and guessed tokens are refused and change nothing.
    for wrong in [
        "garbled".to_owned(),
        token[..63].to_owned(),
        hex_of_random(),
        format!("{token}00"),
    ] {
        expect_error(
            verify(&app, &wrong).await,
            StatusCode::BAD_REQUEST,
            "invalid_link",
        )
        .await;
    }
    assert!(!me(&app, &ada.token).await.email_verified);

    let verified: AccountEmailResponse =
        expect_json(verify(&app, &token).await, StatusCode::OK).await;
    assert_eq!(verified.status, AccountEmailStatus::Verified);
    // The session from before the link bids now.
    assert!(me(&app, &ada.token).await.email_verified);
    app.bid_ok(&ada, &lot.to_string(), 1_000, None).await;
    // The link works once.
    expect_error(
        verify(&app, &token).await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;

    // An expired link is refused.
    let bola = sign_up(&app, "bidder").await;
    let late = wait_for_tokens(&brevo, "verify_email", &bola.email, "/verify-email", 1)
        .await
        .remove(0);
    sqlx::query("UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1::uuid")
        .bind(&bola.id)
        .execute(&app.db)
        .await
        .unwrap();
    expect_error(
        verify(&app, &late).await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    let refused = app.bid(&bola, &lot.to_string(), 5_000, None, None).await;
    expect_error(refused, StatusCode::FORBIDDEN, "email_unverified").await;
}

fn hex_of_random() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[tokio::test]
async fn asking_for_another_verification_link_is_rate_limited() {
    let app = spawn_app().await;
    let ada = sign_up(&app, "bidder").await;
    let resend = || async {
        app.request(
            reqwest::Method::POST,
            "/api/v1/auth/verify-email/resend",
            Some(&ada.token),
        )
        .send()
        .await
        .unwrap()
    };
    for _ in 0..3 {
        let sent: AccountEmailResponse = expect_json(resend().await, StatusCode::ACCEPTED).await;
        assert_eq!(sent.status, AccountEmailStatus::Sent);
    }
    let limited = resend().await;
    assert!(limited.headers().contains_key(header::RETRY_AFTER));
    expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "too_many_resends").await;
    // Four links were recorded (no Brevo here): the last one works.
    let emails = app
        .count(&format!(
            "SELECT count(*) FROM emails WHERE kind = 'verify_email' AND recipient_email = '{}'",
            ada.email
        ))
        .await;
    assert_eq!(emails, 4, "the sign-up's link and three more");
    let (text,): (String,) = sqlx::query_as(
        "SELECT text_body FROM emails WHERE kind = 'verify_email' AND recipient_email = $1 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(&ada.email)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let token = token_in(&text, "/verify-email").expect("a link");
    expect_status(verify(&app, &token).await, StatusCode::OK).await;
    expect_error(
        resend().await,
        StatusCode::CONFLICT,
        "email_already_verified",
    )
    .await;
}

#[tokio::test]
async fn an_account_an_admin_makes_is_verified() {
    let app = spawn_app().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args([
            "admin",
            "create-user",
            "--email",
            "made@example.com",
            "--role",
            "bidder",
        ])
        .env("DATABASE_URL", app.db_url.expose_secret())
        .env("GAVEL_ADMIN_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    crate::helpers::succeeded(&output);
    let signed_in: AuthResponse = expect_json(
        app.login("made@example.com", PASSWORD).await,
        StatusCode::OK,
    )
    .await;
    assert!(me(&app, &signed_in.token).await.email_verified);
    assert_eq!(
        app.count("SELECT count(*) FROM emails WHERE kind = 'verify_email'")
            .await,
        0,
        "no link to follow"
    );
    let seller = app.user("seller").await;
    let lot = app.create_auction(&seller, &auction_body(120)).await.id;
    let made = TestUser {
        id: signed_in.user.id.to_string(),
        email: "made@example.com".into(),
        handle: signed_in.user.handle,
        token: signed_in.token,
    };
    app.bid_ok(&made, &lot.to_string(), 1_000, None).await;
}

/// The forgotten-password pages, without Brevo (the link is read from the
/// recorded email), and the verification link's page.
#[tokio::test]
async fn the_forgot_password_pages_lead_from_sign_in_to_a_new_password() {
    let app = spawn_app().await;
    let ada = app.user("bidder").await;
    let mut browser = Jar::default();
    let sign_in = app.get("/signin", None).await.text().await.unwrap();
    assert!(
        sign_in.contains(r#"<a href="/forgot-password">Forgot your password?</a>"#),
        "{sign_in}"
    );
    let csrf = browser.token_of(&app, "/forgot-password").await;
    let asked = |email: String, csrf: String| {
        let mut browser = browser.clone();
        let app = &app;
        async move {
            let response = browser
                .post(
                    app,
                    "/forgot-password",
                    &[("csrf", &csrf), ("email", &email)],
                )
                .await;
            (response.status(), response.text().await.unwrap())
        }
    };
    let unknown = asked("nobody@example.com".into(), csrf.clone()).await;
    let known = asked(ada.email.clone(), csrf.clone()).await;
    assert_eq!(known.0, StatusCode::OK);
    assert!(known.1.contains("Check your email"), "{}", known.1);
    assert_eq!(
        unknown, known,
        "the same page whether or not the account exists"
    );

    let text = eventually(20, || async {
        sqlx::query_as::<_, (String,)>(
            "SELECT text_body FROM emails WHERE kind = 'password_reset' AND recipient_email = $1",
        )
        .bind(&ada.email)
        .fetch_optional(&app.db)
        .await
        .unwrap()
        .map(|(text,)| text)
        .ok_or_else(|| "no reset email yet".to_owned())
    })
    .await;
    let token = token_in(&text, "/reset-password").expect("a link");
    assert!(text.contains(&format!("http://gavel.test/reset-password?token={token}")));
    let form = browser
        .token_of(&app, &format!("/reset-password?token={token}"))
        .await;
    let page = app
        .get(&format!("/reset-password?token={token}"), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!(r#"name="token" value="{token}""#)));
    let weak = browser
        .post(
            &app,
            "/reset-password",
            &[
                ("csrf", &form),
                ("token", &token),
                ("new_password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let done = browser
        .post(
            &app,
            "/reset-password",
            &[
                ("csrf", &form),
                ("token", &token),
                ("new_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[header::LOCATION], "/signin?reset=done");
    let told = app
        .get("/signin?reset=done", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(told.contains("Your password is changed"), "{told}");
    expect_status(
        app.login(&ada.email, "a brand new password").await,
        StatusCode::OK,
    )
    .await;
    let again = browser
        .post(
            &app,
            "/reset-password",
            &[
                ("csrf", &form),
                ("token", &token),
                ("new_password", "yet another password"),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("already used or expired")
    );

    // An unverified account's page offers another link.
    let bola = sign_up(&app, "bidder").await;
    let mut signed_in = Jar {
        session: Some(bola.token.clone()),
        ..Jar::default()
    };
    let mine = signed_in.token_of(&app, "/me").await;
    assert!(
        signed_in
            .page(&app, "/me")
            .await
            .contains("Email me another link")
    );
    let resent = signed_in
        .post(&app, "/me/verify-email/resend", &[("csrf", &mine)])
        .await;
    assert_eq!(resent.status(), StatusCode::ACCEPTED);
    assert!(resent.text().await.unwrap().contains("Check your email"));
    // The lot page's bid form says why it was refused.
    let seller = app.user("seller").await;
    let lot = app.create_auction(&seller, &auction_body(120)).await.id;
    let form = signed_in.token_of(&app, &format!("/auctions/{lot}")).await;
    let bid = signed_in
        .post(
            &app,
            &format!("/auctions/{lot}/bid"),
            &[("csrf", &form), ("max", "5000")],
        )
        .await;
    assert_eq!(
        bid.headers()[header::LOCATION],
        format!("/auctions/{lot}?said=email_unverified")
    );
    let said = signed_in
        .page(&app, &format!("/auctions/{lot}?said=email_unverified"))
        .await;
    assert!(
        said.contains("Confirm your email address before you bid"),
        "{said}"
    );
    // The verification link's page posts its token (the latest link).
    let (text,): (String,) = sqlx::query_as(
        "SELECT text_body FROM emails WHERE kind = 'verify_email' AND recipient_email = $1 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(&bola.email)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let token = token_in(&text, "/verify-email").expect("a link");
    let page = app
        .get(&format!("/verify-email?token={token}"), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!(r#"name="token" value="{token}""#)));
    assert!(
        !me(&app, &bola.token).await.email_verified,
        "opening the link changes nothing"
    );
    let mut visitor = Jar::default();
    let csrf = visitor
        .token_of(&app, &format!("/verify-email?token={token}"))
        .await;
    let confirmed = visitor
        .post(&app, "/verify-email", &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert!(
        confirmed
            .text()
            .await
            .unwrap()
            .contains("Email address confirmed")
    );
    assert!(me(&app, &bola.token).await.email_verified);
    assert!(
        !signed_in
            .page(&app, "/me")
            .await
            .contains("Email me another link")
    );
}

/// An unverified seller sets up no payout account, through the API or the
/// `/me` forms: refused before Paystack is asked, nothing is stored.
#[tokio::test]
async fn an_unverified_seller_cannot_set_up_a_payout_account() {
    let s = crate::stand_ins::scene().await;
    crate::payout_accounts::mount_paystack(&s).await;
    let sam = sign_up(&s.app, "seller").await;
    let account = json!({ "currency": "NGN", "bank_code": "058", "account_number": "0001234567" });
    let looked_up = s
        .app
        .request(
            reqwest::Method::PUT,
            "/api/v1/me/payout-account",
            Some(&sam.token),
        )
        .json(&account)
        .send()
        .await
        .unwrap();
    expect_error(looked_up, StatusCode::FORBIDDEN, "email_unverified").await;
    let confirmed = s
        .app
        .request(
            reqwest::Method::POST,
            "/api/v1/me/payout-account/confirm",
            Some(&sam.token),
        )
        .send()
        .await
        .unwrap();
    expect_error(confirmed, StatusCode::FORBIDDEN, "email_unverified").await;

    // The page forms answer the same.
    let mut browser = Jar {
        session: Some(sam.token.clone()),
        ..Jar::default()
    };
    let csrf = browser.token_of(&s.app, "/me").await;
    let form = browser
        .post(
            &s.app,
            "/me/payout-account",
            &[
                ("csrf", &csrf),
                ("bank_code", "058"),
                ("account_number", "0001234567"),
            ],
        )
        .await;
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
    assert!(
        form.text()
            .await
            .unwrap()
            .contains("Confirm your email address before you add a payout account")
    );
    let form = browser
        .post(&s.app, "/me/payout-account/confirm", &[("csrf", &csrf)])
        .await;
    assert_eq!(form.status(), StatusCode::FORBIDDEN);

    assert_eq!(
        s.app
            .count(&format!(
                "SELECT count(*) FROM payout_accounts WHERE user_id = '{}'",
                sam.id
            ))
            .await,
        0,
        "nothing is stored"
    );
    for (verb, at) in [("GET", "/bank/resolve"), ("POST", "/transferrecipient")] {
        assert_eq!(
            crate::payout_accounts::calls(&s, verb, at).await,
            0,
            "{verb} {at}"
        );
    }
}

/// An unverified seller's `/sell` form is refused before its photos are
/// read: not even a file that is no picture is looked at.
#[tokio::test]
async fn an_unverified_sellers_sell_form_is_refused_before_its_photos_are_read() {
    let app = spawn_app().await;
    let sam = sign_up(&app, "seller").await;
    let mut browser = Jar {
        session: Some(sam.token.clone()),
        ..Jar::default()
    };
    let csrf = browser.token_of(&app, "/sell").await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("key", uuid::Uuid::new_v4().to_string())
        .text("title", "Stool")
        .text("description", "Three legs.")
        .text("currency", "NGN")
        .text("starting_price", "5000")
        .text("ends_in_minutes", "600")
        .part(
            "images",
            // Read, it would be refused as no picture (422).
            reqwest::multipart::Part::bytes(b"not a picture".to_vec()).file_name("p.png"),
        );
    let response = app
        .http
        .post(app.url("/sell"))
        .header(header::COOKIE, browser.header())
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let page = response.text().await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(
        page.contains("Confirm your email address before you sell"),
        "{page}"
    );
    assert_eq!(app.count("SELECT count(*) FROM auctions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM auction_images").await, 0);
}

/// The pages a link opens keep its token out of caches and `Referer`s.
#[tokio::test]
async fn the_link_pages_are_not_cached_and_send_no_referrer() {
    let app = spawn_app().await;
    let token = hex_of_random();
    for page in ["/reset-password", "/verify-email"] {
        let response = app.get(&format!("{page}?token={token}"), None).await;
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        let headers = response.headers();
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{page}");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{page}");
    }
    // Other pages keep the site's policy.
    let signin = app.get("/signin", None).await;
    assert_eq!(signin.headers()[header::REFERRER_POLICY], "same-origin");
}

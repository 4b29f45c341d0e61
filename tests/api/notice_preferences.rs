//! Notice preferences and one-click unsubscribe: `GET`/`PUT
//! /api/v1/me/preferences`, the `/me` form, and the outbid email's
//! `List-Unsubscribe` link followed from what the Brevo stand-in received,
//! with no sign-in, as a mail client (RFC 8058) and a person would.

use gavel_api::service::notices::NoticePreferences;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::{
    accounts_email::with_brevo,
    helpers::{TestApp, TestUser, auction_body, eventually, expect_error, expect_json, spawn_app},
    sessions::Jar,
};

const PREFERENCES: &str = "/api/v1/me/preferences";

async fn preferences(app: &TestApp, user: &TestUser) -> NoticePreferences {
    expect_json(
        app.get(PREFERENCES, Some(&user.token)).await,
        StatusCode::OK,
    )
    .await
}

fn defaults() -> NoticePreferences {
    NoticePreferences {
        outbid: true,
        ending_soon: true,
        watched_lots: true,
        saved_search_digest: true,
        ending_soon_lead_secs: 3600,
    }
}

#[tokio::test]
async fn preferences_default_to_every_notice_and_are_replaced_whole() {
    let app = spawn_app().await;
    let ada = app.user("bidder").await;
    assert_eq!(preferences(&app, &ada).await, defaults());

    let chosen = json!({
        "outbid": false, "ending_soon": true, "watched_lots": false,
        "saved_search_digest": true, "ending_soon_lead_secs": 60,
    });
    let kept: NoticePreferences = expect_json(
        app.put_json(PREFERENCES, &chosen, Some(&ada.token)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(preferences(&app, &ada).await, kept);
    assert!(!kept.outbid && !kept.watched_lots && kept.ending_soon_lead_secs == 60);

    // A lead outside a minute to a week, or a missing field: 422, nothing kept.
    for lead in [59, 604_801, -1] {
        let mut body = chosen.clone();
        body["outbid"] = json!(true);
        body["ending_soon_lead_secs"] = json!(lead);
        let refused = expect_error(
            app.put_json(PREFERENCES, &body, Some(&ada.token)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ending_soon_lead",
        )
        .await;
        assert_eq!(
            refused.error.details.unwrap()["field"],
            "ending_soon_lead_secs"
        );
    }
    let partial = json!({ "outbid": true });
    expect_error(
        app.put_json(PREFERENCES, &partial, Some(&ada.token)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    let week = json!({
        "outbid": true, "ending_soon": true, "watched_lots": true,
        "saved_search_digest": true, "ending_soon_lead_secs": 604_800,
    });
    assert_eq!(preferences(&app, &ada).await, kept, "refusals kept nothing");
    expect_json::<NoticePreferences>(
        app.put_json(PREFERENCES, &week, Some(&ada.token)).await,
        StatusCode::OK,
    )
    .await;

    // One account's choices are its own; signed out, none.
    let bola = app.user("bidder").await;
    assert_eq!(preferences(&app, &bola).await, defaults());
    expect_error(
        app.get(PREFERENCES, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

/// The Brevo requests for `kind` emails to `to`, oldest first.
async fn sent_to(brevo: &MockServer, kind: &str, to: &str) -> Vec<Value> {
    crate::helpers::brevo_sent(brevo, kind, to).await
}

/// The status of the `kind` email to `user` about `auction`, once stored.
async fn email_status(app: &TestApp, auction: &str, user: &TestUser) -> Option<String> {
    sqlx::query_scalar(
        "SELECT status FROM emails WHERE kind = 'outbid' AND auction_id = $1::uuid \
         AND recipient_id = $2::uuid",
    )
    .bind(auction)
    .bind(&user.id)
    .fetch_optional(&app.db)
    .await
    .unwrap()
}

/// `url`'s path and query, to ask this app.
fn path_of(url: &str) -> String {
    let url = reqwest::Url::parse(url).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap())
}

#[tokio::test]
async fn the_outbid_emails_one_click_unsubscribe_stops_the_next_one_and_only_that() {
    let (app, brevo) = with_brevo().await;
    let (_seller, [ada, bola], lot) = app.scene::<2>(&auction_body(300)).await;
    let lot = lot.id.to_string();
    app.bid_ok(&ada, &lot, 1_000, None).await;
    app.bid_ok(&bola, &lot, 1_100, None).await;

    // Ada's outbid email: both RFC 8058 headers, and the same link in its body.
    let first = eventually(30, || async {
        sent_to(&brevo, "outbid", &ada.email)
            .await
            .pop()
            .ok_or_else(|| "no outbid email yet".to_owned())
    })
    .await;
    let headers = &first["headers"];
    assert_eq!(
        headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click",
        "{headers}"
    );
    let listed = headers["List-Unsubscribe"].as_str().expect("the header");
    let url = listed
        .strip_prefix('<')
        .and_then(|u| u.strip_suffix('>'))
        .expect("<url>");
    assert!(url.contains("/unsubscribe?token="), "{url}");
    assert!(first["textContent"].as_str().unwrap().contains(url));
    assert!(
        first["htmlContent"]
            .as_str()
            .unwrap()
            .contains(&format!("href=\"{}\"", url.replace('&', "&#38;")))
    );
    // Mail a person must get carries none (an account email here).
    for verify in sent_to(&brevo, "verify_email", &ada.email).await {
        assert!(verify["headers"].get("List-Unsubscribe").is_none());
    }
    let link = path_of(url);
    let token = link.split("token=").nth(1).unwrap().to_owned();

    // Opening the link (a mail scanner does) changes nothing.
    let opened = app.get(&link, None).await;
    assert_eq!(opened.status(), StatusCode::OK);
    assert_eq!(opened.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(opened.headers()[header::REFERRER_POLICY], "no-referrer");
    let page = opened.text().await.unwrap();
    assert!(page.contains("Stop outbid and lost-lot emails"), "{page}");
    assert!(preferences(&app, &ada).await.outbid);
    let button = page
        .split("action=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|action| action.starts_with("/unsubscribe"))
        .expect("the page's form")
        .to_owned();
    assert_eq!(button, link, "the button posts to the link itself");

    // Altered tokens do nothing: another kind, another account, a flipped
    // digit, made up.
    let (user_part, rest) = token.split_once('.').unwrap();
    let signature = rest.rsplit('.').next().unwrap();
    let bola_id = uuid::Uuid::parse_str(&bola.id)
        .unwrap()
        .simple()
        .to_string();
    let mut flipped = token.clone();
    let last = if flipped.ends_with('0') { "1" } else { "0" };
    flipped.replace_range(flipped.len() - 1.., last);
    for bad in [
        format!("{user_part}.ending_soon.{signature}"),
        format!("{bola_id}.outbid.{signature}"),
        flipped,
        "nonsense".to_owned(),
    ] {
        let answer = app
            .http
            .post(app.url(&format!("/unsubscribe?token={bad}")))
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            app.get(&format!("/unsubscribe?token={bad}"), None)
                .await
                .status(),
            StatusCode::BAD_REQUEST
        );
        expect_error(
            app.post_json("/api/v1/unsubscribe", &json!({ "token": bad }), None)
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_unsubscribe_link",
        )
        .await;
    }
    assert_eq!(preferences(&app, &ada).await, defaults());
    assert_eq!(preferences(&app, &bola).await, defaults());

    // The mail client's one-click POST: no cookie, no CSRF token, from
    // another origin; twice.
    for _ in 0..2 {
        let done = app
            .http
            .post(app.url(&link))
            .header(header::ORIGIN, "https://mail.example.net")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), StatusCode::OK);
    }
    assert_eq!(
        preferences(&app, &ada).await,
        NoticePreferences {
            outbid: false,
            ..defaults()
        }
    );
    // The page's button, pressed afterwards: 200, nothing more changes.
    let pressed = app
        .http
        .post(app.url(&button))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), StatusCode::OK);
    assert!(
        pressed
            .text()
            .await
            .unwrap()
            .contains("no more outbid and lost-lot emails")
    );
    assert_eq!(
        preferences(&app, &ada).await,
        NoticePreferences {
            outbid: false,
            ..defaults()
        }
    );

    // Another lot (its own outbid window): Bola is outbid by Ada and hears
    // of it; Ada, outbid in turn, does not. Her notice is kept as skipped.
    let (_, [], other) = app.scene::<0>(&auction_body(300)).await;
    let other = other.id.to_string();
    app.bid_ok(&bola, &other, 1_000, None).await;
    app.bid_ok(&ada, &other, 1_100, None).await;
    app.bid_ok(&bola, &other, 1_200, None).await;
    eventually(30, || async {
        match (
            email_status(&app, &other, &ada).await.as_deref(),
            email_status(&app, &other, &bola).await.as_deref(),
        ) {
            (Some("skipped"), Some("sent")) => Ok(()),
            seen => Err(format!("ada's and bola's outbid emails: {seen:?}")),
        }
    })
    .await;
    let to_bola = sent_to(&brevo, "outbid", &bola.email).await;
    assert_eq!(to_bola.len(), 1);
    assert!(to_bola[0]["headers"]["List-Unsubscribe"].is_string());
    assert_eq!(
        sent_to(&brevo, "outbid", &ada.email).await.len(),
        1,
        "nothing new for Ada"
    );

    // The JSON form of the link works as well (again: no change).
    let again: Value = expect_json(
        app.post_json("/api/v1/unsubscribe", &json!({ "token": token }), None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["stopped"], "outbid");
}

#[tokio::test]
async fn the_me_page_form_saves_the_notice_choices() {
    let app = spawn_app().await;
    let ada = app.user("bidder").await;
    let mut browser = Jar::default();
    let signed_in = browser.sign_in(&app, &ada.email, "/me").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let csrf = browser.token_of(&app, "/me").await;
    let page = app
        .http
        .get(app.url("/me"))
        .header(header::COOKIE, browser.header())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"name="outbid" value="on" checked"#),
        "{page}"
    );
    assert!(page.contains(r#"name="lead_minutes""#) && page.contains(r#"value="60""#));

    // Only the ticked boxes are sent; 30 minutes.
    let saved = browser
        .post(
            &app,
            "/me/preferences",
            &[
                ("csrf", &csrf),
                ("ending_soon", "on"),
                ("saved_search_digest", "on"),
                ("lead_minutes", "30"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let chosen = NoticePreferences {
        outbid: false,
        ending_soon: true,
        watched_lots: false,
        saved_search_digest: true,
        ending_soon_lead_secs: 1_800,
    };
    assert_eq!(preferences(&app, &ada).await, chosen);

    // Refused: a lead over a week (422), a stale form (403); nothing kept.
    let too_long = browser
        .post(
            &app,
            "/me/preferences",
            &[("csrf", &csrf), ("outbid", "on"), ("lead_minutes", "10081")],
        )
        .await;
    assert_eq!(too_long.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_long.text().await.unwrap().contains("7 days"));
    let stale = browser
        .post(
            &app,
            "/me/preferences",
            &[("csrf", "0"), ("outbid", "on"), ("lead_minutes", "60")],
        )
        .await;
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    assert_eq!(preferences(&app, &ada).await, chosen);
}

//! The pages over plain HTTP: security headers, escaping, CSRF, the session
//! cookie and hashed assets. Photos are `photo_forms.rs`; what a browser does
//! with the pages is `browser.rs`.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{auction_body, expect_error, expect_status, spawn_app};

#[tokio::test]
async fn pages_carry_a_strict_csp_and_escape_what_people_typed() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let mut body = auction_body(600);
    body["title"] = json!("<script>alert('t')</script> stool");
    body["description"] = json!("<img src=x onerror=alert(1)>");
    let lot = app.create_auction(&seller, &body).await;
    for path in ["/".to_owned(), format!("/auctions/{}", lot.id)] {
        let response = app.get(&path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = response.text().await.unwrap();
        assert!(
            html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"),
            "{path}: the title is escaped: {html}"
        );
        assert!(!html.contains("<script>alert"), "{path}");
        assert!(!html.contains("<img src=x"), "{path}");
        for tag in html.split("<script").skip(1) {
            assert!(
                tag.trim_start().starts_with("src="),
                "{path}: no inline script"
            );
        }
    }
    let missing = app
        .get(&format!("/auctions/{}", uuid::Uuid::new_v4()), None)
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn forms_need_the_csrf_token_and_a_sign_up_sets_a_safe_session_cookie() {
    let app = spawn_app().await;
    let page = app.get("/signup", None).await;
    let cookie = page
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("gavel_csrf="))
        .expect("a CSRF cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let anonymous = cookie["gavel_csrf=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    // The form carries a token bound to this browser's cookie, not the
    // cookie's own value.
    let token = crate::helpers::form_token(&html);
    assert_eq!(token.len(), 64);
    assert_ne!(token, anonymous);

    let form = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("name", "Ada Lovelace".to_owned()),
            ("email", "ada@example.com".to_owned()),
            ("password", "correct horse battery".to_owned()),
            ("role", "bidder".to_owned()),
            ("next", "/me".to_owned()),
        ]
    };
    // A cross-site form: the browser sends the cookie, but the page cannot
    // know the token (nor is the cookie's value the token).
    for csrf in [
        "",
        "0000000000000000000000000000000000000000000000000000000000000000",
        anonymous.as_str(),
    ] {
        let response = app
            .http
            .post(app.url("/signup"))
            .header(header::COOKIE, format!("gavel_csrf={anonymous}"))
            .form(&form(csrf))
            .send()
            .await
            .unwrap();
        let html = response.text().await.unwrap();
        assert!(html.contains("This form has expired"), "{html}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM users").await,
        0,
        "no account was made"
    );

    let response = app
        .http
        .post(app.url("/signup"))
        .header(header::COOKIE, format!("gavel_csrf={anonymous}"))
        .form(&form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/me");
    let session = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("gavel_session="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "plain http in tests: not Secure"
    );
    let jwt = session["gavel_session=".len()..].split(';').next().unwrap();
    // The page knows her; the same token works as a bearer for the API.
    let me = app
        .http
        .get(app.url("/me"))
        .header(
            header::COOKIE,
            format!("gavel_session={jwt}; gavel_csrf={anonymous}"),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(me.contains("Ada Lovelace"), "{me}");
    expect_status(app.me(jwt).await, StatusCode::OK).await;
    // Someone else's page leads elsewhere: only paths on this site.
    let response = app
        .http
        .post(app.url("/signin"))
        .header(header::COOKIE, format!("gavel_csrf={anonymous}"))
        .form(&[
            ("csrf", token.as_str()),
            ("email", "ada@example.com"),
            ("password", "correct horse battery"),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::LOCATION], "/");
}

#[tokio::test]
async fn assets_are_named_by_their_hash_and_cached_for_a_year() {
    let app = spawn_app().await;
    let html = app.get("/", None).await.text().await.unwrap();
    for ext in ["css", "js"] {
        let start = html.find("/assets/gavel-").expect("an asset link");
        let rest = &html[start..];
        let path = rest[..rest.find('"').unwrap()].to_owned();
        let path = if path.ends_with(ext) {
            path
        } else {
            let other = html[start + 1..].find("/assets/gavel-").unwrap() + start + 1;
            let rest = &html[other..];
            rest[..rest.find('"').unwrap()].to_owned()
        };
        let response = app.get(&path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
    }
    assert_eq!(
        app.get("/assets/gavel-0000.css", None).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_bidder_starts_selling_and_a_seller_bids_on_other_lots() {
    let app = spawn_app().await;
    let (seller, [ada], lot) = app.scene(&auction_body(600)).await;
    // A seller bids on someone else's lot like anyone.
    let other_seller = app.user("seller").await;
    let response = app
        .bid(&other_seller, &lot.id.to_string(), 1_000, None, None)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    expect_error(
        app.bid(&seller, &lot.id.to_string(), 5_000, None, None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "own_auction",
    )
    .await;
    // A bidder becomes a seller; the old bidder token is revoked.
    let refused = app
        .post_json("/api/v1/auctions", &auction_body(600), Some(&ada.token))
        .await;
    expect_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    let upgraded: Value = expect_status(
        app.post_json("/api/v1/auth/seller", &json!({}), Some(&ada.token))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(upgraded["user"]["role"], "seller");
    let token = upgraded["token"].as_str().unwrap();
    expect_error(
        app.me(&ada.token).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let created = app
        .post_json("/api/v1/auctions", &auction_body(600), Some(token))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    // Asking again changes nothing.
    let again: Value = expect_status(
        app.post_json("/api/v1/auth/seller", &json!({}), Some(token))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["user"]["role"], "seller");
    expect_status(app.me(token).await, StatusCode::OK).await;
}

#[tokio::test]
async fn every_page_has_a_favicon_and_a_description() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let mut body = auction_body(600);
    body["description"] = json!("A walnut stool, hand-made in Kano and oiled.");
    let lot = app.create_auction(&seller, &body).await;
    let icon = app.get("/favicon.ico", None).await;
    assert_eq!(icon.status(), StatusCode::OK);
    let kind = icon.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("image/"), "{kind}");
    for path in [
        "/".to_owned(),
        "/signin".to_owned(),
        format!("/auctions/{}", lot.id),
    ] {
        let html = app.get(&path, None).await.text().await.unwrap();
        assert!(
            html.contains("<meta name=\"description\" content=\""),
            "{path}"
        );
        let at = html
            .find("rel=\"icon\"")
            .unwrap_or_else(|| panic!("{path}: no icon link"));
        let href = &html[at..];
        let href = &href[href.find("href=\"").unwrap() + 6..];
        let href = &href[..href.find('"').unwrap()];
        assert!(href.starts_with("/assets/"), "{path}: {href}");
        let linked = app.get(href, None).await;
        assert_eq!(linked.status(), StatusCode::OK, "{href}");
        assert!(
            linked.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("image/"),
            "{href}"
        );
        assert!(
            linked.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
    }
    let html = app
        .get(&format!("/auctions/{}", lot.id), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(
            "<meta name=\"description\" content=\"A walnut stool, hand-made in Kano and oiled."
        ),
        "the lot's page describes the lot"
    );
}

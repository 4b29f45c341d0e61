//! Sessions in the browser and for API clients: signing out ends the session
//! on the server (its cookie and the same token as a bearer), here at once and
//! on another replica within the revocation delay; a password change revokes
//! older tokens at once here even with requests racing it; the CSRF token is
//! bound to the session. Where signing in sends you is `sign_in_redirects.rs`.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use reqwest::{StatusCode, header};
use serde_json::json;

use crate::helpers::{
    ApiProcess, PASSWORD, TestApp, eventually, expect_error, expect_status, form_token, set_cookie,
    settlement_args, spawn_app,
};

/// A browser's cookies, as it would send them.
#[derive(Default, Clone)]
pub(crate) struct Jar {
    pub(crate) csrf: Option<String>,
    pub(crate) session: Option<String>,
}

impl Jar {
    pub(crate) fn header(&self) -> String {
        let mut parts = Vec::new();
        if let Some(csrf) = &self.csrf {
            parts.push(format!("gavel_csrf={csrf}"));
        }
        if let Some(session) = &self.session {
            parts.push(format!("gavel_session={session}"));
        }
        parts.join("; ")
    }

    /// `GET path` with these cookies.
    pub(crate) async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        app.http
            .get(app.url(path))
            .header(header::COOKIE, self.header())
            .send()
            .await
            .unwrap()
    }

    /// The page at `path` as this browser gets it.
    pub(crate) async fn page(&self, app: &TestApp, path: &str) -> String {
        self.get(app, path).await.text().await.unwrap()
    }

    fn take(&mut self, response: &reqwest::Response) {
        if let Some(csrf) = set_cookie(response, "gavel_csrf") {
            self.csrf = Some(csrf);
        }
        if let Some(session) = set_cookie(response, "gavel_session") {
            self.session = Some(session).filter(|s| !s.is_empty());
        }
    }

    /// Opens `path` and returns the token its forms carry.
    pub(crate) async fn token_of(&mut self, app: &TestApp, path: &str) -> String {
        let response = app
            .http
            .get(app.url(path))
            .header(header::COOKIE, self.header())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        self.take(&response);
        form_token(&response.text().await.unwrap())
    }

    pub(crate) async fn post(
        &mut self,
        app: &TestApp,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let response = app
            .http
            .post(app.url(path))
            .header(header::COOKIE, self.header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.take(&response);
        response
    }

    /// Signs in through the real form; the answer (a redirect when it worked).
    pub(crate) async fn sign_in(
        &mut self,
        app: &TestApp,
        email: &str,
        next: &str,
    ) -> reqwest::Response {
        let csrf = self.token_of(app, "/signin").await;
        self.post(
            app,
            "/signin",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("password", PASSWORD),
                ("next", next),
            ],
        )
        .await
    }
}

async fn status_at(app: &TestApp, base: &str, token: &str) -> StatusCode {
    app.http
        .get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn signing_out_ends_that_session_at_once_here_and_soon_on_another_replica() {
    let settlement = settlement_args();
    let a = spawn_app().await;
    // Replica B re-reads sessions every second (the setting under test).
    let b = ApiProcess::spawn_with_env(&a, &settlement, &[("GAVEL_REVOCATION_SECS", "1")]).await;
    // A script signed in through the API: its own session.
    let script = a.user("bidder").await;
    let mut browser = Jar::default();
    let signed_in = browser.sign_in(&a, &script.email, "/me").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = browser.session.clone().expect("a session cookie");
    for base in [&a.address, &b.address] {
        assert_eq!(status_at(&a, base, &cookie).await, StatusCode::OK);
        assert_eq!(status_at(&a, base, &script.token).await, StatusCode::OK);
    }

    let copied = browser.clone();
    let csrf = browser.token_of(&a, "/me").await;
    let out = browser.post(&a, "/signout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(browser.session.is_none(), "the cookie is cleared");

    // At once on this replica: the copied cookie is no session, the same
    // token as a bearer is refused.
    let me = a
        .http
        .get(a.url("/me"))
        .header(header::COOKIE, copied.header())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::SEE_OTHER, "sent to sign in");
    assert!(
        me.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/signin")
    );
    expect_error(
        a.me(&cookie).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    // On the other replica within its delay.
    eventually(5, || async {
        match status_at(&a, &b.address, &cookie).await {
            StatusCode::UNAUTHORIZED => Ok(()),
            other => Err(format!("B still takes the ended session: {other}")),
        }
    })
    .await;
    // The script's session is another one: it goes on.
    for base in [&a.address, &b.address] {
        assert_eq!(status_at(&a, base, &script.token).await, StatusCode::OK);
    }

    // An API client ends its own session.
    let out = a
        .http
        .post(a.url("/api/v1/auth/logout"))
        .bearer_auth(&script.token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    expect_error(
        a.me(&script.token).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    eventually(5, || async {
        match status_at(&a, &b.address, &script.token).await {
            StatusCode::UNAUTHORIZED => Ok(()),
            other => Err(format!("B still takes the ended session: {other}")),
        }
    })
    .await;
    let again = a
        .http
        .post(a.url("/api/v1/auth/logout"))
        .bearer_auth(&script.token)
        .send()
        .await
        .unwrap();
    expect_error(again, StatusCode::UNAUTHORIZED, "session_ended").await;
    // The API's clients find it in the contract.
    let spec = expect_status(a.get("/api/v1/openapi.json", None).await, StatusCode::OK).await;
    let logout = &spec["paths"]["/auth/logout"]["post"];
    assert_eq!(logout["operationId"], "sign_out");
    for status in ["204", "401"] {
        assert!(
            logout["responses"][status].is_object(),
            "{status}: {logout}"
        );
    }
    // Signing in again makes a new session.
    let login = a.login(&script.email, PASSWORD).await;
    let body = expect_status(login, StatusCode::OK).await;
    let fresh = body["token"].as_str().unwrap();
    assert_eq!(status_at(&a, &b.address, fresh).await, StatusCode::OK);
}

#[tokio::test]
async fn a_password_change_refuses_the_old_token_at_once_while_requests_race_it() {
    let app = Arc::new(spawn_app().await);
    let user = app.user("bidder").await;
    let mut token = user.token.clone();
    let passwords = [PASSWORD, "another horse battery", "a third horse battery"];
    for round in 0..6 {
        let stop = Arc::new(AtomicBool::new(false));
        let mut racers = Vec::new();
        for _ in 0..16 {
            let (app, stop, token) = (app.clone(), stop.clone(), token.clone());
            racers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let _ = app.me(&token).await;
                }
            }));
        }
        let changed = app
            .post_json(
                "/api/v1/auth/password",
                &json!({
                    "current_password": passwords[round % 3],
                    "new_password": passwords[(round + 1) % 3],
                }),
                Some(&token),
            )
            .await;
        let body = expect_status(changed, StatusCode::OK).await;
        // The answer is in: the old token is refused, every time.
        for _ in 0..20 {
            let response = app.me(&token).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "round {round}: the old token still works after the change"
            );
        }
        stop.store(true, Ordering::Relaxed);
        for racer in racers {
            racer.await.unwrap();
        }
        token = body["token"].as_str().unwrap().to_owned();
        expect_status(app.me(&token).await, StatusCode::OK).await;
    }
}

#[tokio::test]
async fn a_planted_csrf_cookie_with_a_matching_field_forges_no_form() {
    let app = spawn_app().await;
    let user = app.user("bidder").await;
    let mut browser = Jar::default();
    browser.sign_in(&app, &user.email, "/").await;
    let session = browser.session.clone().unwrap();
    // A sibling domain sets a CSRF cookie it knows and posts the same value.
    let planted = "5eed".repeat(16);
    let forged = app
        .http
        .post(app.url("/me/seller"))
        .header(
            header::COOKIE,
            format!("gavel_session={session}; gavel_csrf={planted}"),
        )
        .form(&[("csrf", planted.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE email = $1")
        .bind(&user.email)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role, "bidder", "nothing changed");
    // The page's own token, with whatever CSRF cookie the browser holds,
    // still works.
    let csrf = browser.token_of(&app, "/me").await;
    let done = browser.post(&app, "/me/seller", &[("csrf", &csrf)]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[header::LOCATION], "/sell");
}

#[tokio::test]
async fn signing_in_again_in_one_browser_ends_the_session_it_replaces() {
    let app = spawn_app().await;
    let ada = app.user("bidder").await;
    let bola = app.user("bidder").await;
    let mut browser = Jar::default();
    browser.sign_in(&app, &ada.email, "/").await;
    let first = browser.session.clone().unwrap();
    expect_status(app.me(&first).await, StatusCode::OK).await;
    // Another account signs in at the same browser: Ada's cookie is gone
    // from it, and a copy of it is refused too.
    let answer = browser.sign_in(&app, &bola.email, "/").await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let second = browser.session.clone().unwrap();
    assert_ne!(first, second);
    expect_error(
        app.me(&first).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    expect_status(app.me(&second).await, StatusCode::OK).await;
    expect_status(app.me(&ada.token).await, StatusCode::OK).await;
}

/// The `sid` a token names.
fn session_of(token: &str) -> uuid::Uuid {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_fresh_token_for_the_same_session_keeps_the_session_alive_as_long() {
    let app = spawn_app().await;
    let user = app.user("bidder").await;
    let sid = session_of(&user.token);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    // Becoming a seller hands out a new token for the same session, expiring
    // later than the first: the session must last as long as it.
    let body = expect_status(
        app.post_json("/api/v1/auth/seller", &json!({}), Some(&user.token))
            .await,
        StatusCode::OK,
    )
    .await;
    let token = body["token"].as_str().unwrap();
    assert_eq!(session_of(token), sid);
    let expires_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["expires_at"].clone()).unwrap();
    let session_ends: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT expires_at FROM sessions WHERE id = $1")
            .bind(sid)
            .fetch_one(&app.db)
            .await
            .unwrap();
    // PostgreSQL keeps microseconds.
    let expires_at = chrono::SubsecRound::trunc_subsecs(expires_at, 6);
    assert!(
        session_ends >= expires_at,
        "the session ends at {session_ends}, before its token ({expires_at})"
    );
}

/// Login CSRF: a page on another site plants a `gavel_csrf` cookie, learns
/// that cookie's form token from `GET /signin`, and posts the attacker's
/// email and password with it. The browser says where the form came from
/// (`Origin`, `Sec-Fetch-Site`): such a post is refused, so the visitor is
/// not signed in to the attacker's account, and no form from elsewhere
/// changes anything for a signed-in visitor either.
#[tokio::test]
async fn a_form_posted_from_another_site_is_refused_even_with_a_planted_cookie() {
    let app = spawn_app().await;
    let attacker = app.user("bidder").await;
    let planted = "5eed".repeat(16);
    let cookie = format!("gavel_csrf={planted}");
    let page = app
        .http
        .get(app.url("/signin"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let token = form_token(&page.text().await.unwrap());
    let cross_site = [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("origin", "https://gavel.test"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ];
    for (name, value) in cross_site {
        let signed_in = app
            .http
            .post(app.url("/signin"))
            .header(header::COOKIE, &cookie)
            .header(name, value)
            .form(&[
                ("csrf", token.as_str()),
                ("email", attacker.email.as_str()),
                ("password", PASSWORD),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            set_cookie(&signed_in, "gavel_session"),
            None,
            "{name}: {value}"
        );
        expect_error(signed_in, StatusCode::FORBIDDEN, "csrf_failed").await;
        let signed_up = app
            .http
            .post(app.url("/signup"))
            .header(header::COOKIE, &cookie)
            .header(name, value)
            .form(&[
                ("csrf", token.as_str()),
                ("name", "Mallory"),
                ("email", "planted@example.com"),
                ("password", PASSWORD),
                ("role", "bidder"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            set_cookie(&signed_up, "gavel_session"),
            None,
            "{name}: {value}"
        );
        expect_error(signed_up, StatusCode::FORBIDDEN, "csrf_failed").await;
    }
    let accounts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE email = 'planted@example.com'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(accounts, 0, "no account made from another site");
    // A signed-in visitor's own form token does not help another site.
    let victim = app.user("bidder").await;
    let mut browser = Jar::default();
    browser.sign_in(&app, &victim.email, "/").await;
    let csrf = browser.token_of(&app, "/me").await;
    let forged = app
        .http
        .post(app.url("/me/seller"))
        .header(header::COOKIE, browser.header())
        .header("origin", "http://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    expect_error(forged, StatusCode::FORBIDDEN, "csrf_failed").await;
    // This site's own forms, as a browser sends them, still work.
    for (name, value) in [
        ("origin", "http://gavel.test"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-site", "none"),
    ] {
        let mut browser = Jar::default();
        let csrf = browser.token_of(&app, "/signin").await;
        let response = app
            .http
            .post(app.url("/signin"))
            .header(header::COOKIE, browser.header())
            .header(name, value)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", victim.email.as_str()),
                ("password", PASSWORD),
                ("next", "/me"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name}: {value}");
        assert!(
            set_cookie(&response, "gavel_session").is_some(),
            "{name}: {value}"
        );
    }
}

/// A cookie planted for a parent domain (or a longer path) is sent beside
/// this site's own under the same name, and first: two session cookies are
/// read as none, so neither the planted session nor the real one is used.
#[tokio::test]
async fn two_session_cookies_are_read_as_none() {
    let app = spawn_app().await;
    let (attacker, victim) = (app.user("bidder").await, app.user("bidder").await);
    let mut browser = Jar::default();
    browser.sign_in(&app, &victim.email, "/").await;
    let real = browser.session.clone().unwrap();
    let mut theirs = Jar::default();
    theirs.sign_in(&app, &attacker.email, "/").await;
    let planted = theirs.session.clone().unwrap();
    for cookies in [
        format!("gavel_session={planted}; gavel_session={real}"),
        format!("gavel_session=x; gavel_session={real}"),
    ] {
        let me = app
            .http
            .get(app.url("/me"))
            .header(header::COOKIE, &cookies)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::SEE_OTHER, "{cookies}");
        assert!(
            me.headers()[header::LOCATION]
                .to_str()
                .unwrap()
                .starts_with("/signin"),
            "{cookies}"
        );
    }
}

/// A sign-out whose form had expired (its token no longer matches) must not
/// look like it worked: the visitor is still signed in, so they are told so
/// and given a fresh form, and the session lives on until they use it.
#[tokio::test]
async fn a_sign_out_that_fails_says_so_and_offers_a_fresh_form() {
    let app = spawn_app().await;
    let user = app.user("bidder").await;
    let mut browser = Jar::default();
    browser.sign_in(&app, &user.email, "/").await;
    let session = browser.session.clone().unwrap();
    let stale = browser.post(&app, "/signout", &[("csrf", "0ld")]).await;
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    assert_eq!(set_cookie(&stale, "gavel_session"), None, "still signed in");
    let fresh = form_token(&stale.text().await.unwrap());
    assert_eq!(
        status_at(&app, &app.address, &session).await,
        StatusCode::OK
    );
    let done = browser.post(&app, "/signout", &[("csrf", &fresh)]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(set_cookie(&done, "gavel_session").as_deref(), Some(""));
    assert_eq!(
        status_at(&app, &app.address, &session).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A sign-up is one decision: when its session cannot be recorded, no
/// account is left behind (a retry signs up, not `email_taken`); and the
/// pruning of expired sessions a sign-in does on the side never fails it.
#[tokio::test]
async fn a_sign_up_whose_session_fails_leaves_no_account_and_pruning_fails_no_sign_in() {
    let app = spawn_app().await;
    let other = app.user("bidder").await;
    let email = format!("whole-{}@example.com", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_session() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'no' USING ERRCODE = '40001'; END $$;
         CREATE TRIGGER refuse_session BEFORE INSERT ON sessions
         FOR EACH ROW EXECUTE FUNCTION refuse_session();",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let refused = app
        .register(&email, PASSWORD, "Ada Lovelace", "bidder")
        .await;
    expect_error(
        refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(accounts, 0, "no account without its session");
    // Pruning now fails; signing up and in must not.
    sqlx::raw_sql(
        "DROP TRIGGER refuse_session ON sessions;
         CREATE TRIGGER refuse_prune BEFORE DELETE ON sessions
         FOR EACH ROW EXECUTE FUNCTION refuse_session();
         INSERT INTO sessions (id, user_id, expires_at)
         SELECT gen_random_uuid(), id, now() - interval '1 day' FROM users;",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let created = app
        .register(&email, PASSWORD, "Ada Lovelace", "bidder")
        .await;
    expect_status(created, StatusCode::CREATED).await;
    let signed_in = app.login(&other.email, PASSWORD).await;
    expect_status(signed_in, StatusCode::OK).await;
    let expired: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE expires_at < now()")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(expired >= 1, "the prune really failed");
}

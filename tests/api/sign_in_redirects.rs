//! Where signing in or up sends you: whatever `next` says, the form lands
//! on this site and never fails for it.

use reqwest::{StatusCode, header};

use crate::{
    helpers::{PASSWORD, http_args, spawn_app, spawn_app_with},
    sessions::Jar,
};

#[tokio::test]
async fn signing_in_or_up_stays_on_this_site_whatever_next_says() {
    let app = spawn_app().await;
    let user = app.user("bidder").await;
    let tricks = [
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/\r\n/evil.example/x", "/"),
        ("\t//evil.example", "/"),
        ("/auctions\u{1}", "/"),
        ("/me\u{7f}", "/"),
        ("http://gavel.test/me", "/me"),
        ("/auctions?q=vase#top", "/auctions?q=vase#top"),
        ("/caf\u{e9}", "/caf%C3%A9"),
        // Dot segments that collapse into an empty first segment.
        ("/.//evil.example", "/"),
        ("/..//evil.example", "/"),
        ("/%2e//evil.example", "/"),
        ("/a/..//evil.example", "/"),
        ("\\.\\\\evil.example", "/"),
        ("/./\\evil.example", "/"),
        ("/%2e%2e//evil.example/y", "/"),
        ("../../..//evil.example", "/"),
        ("http://gavel.test/.//evil.example", "/"),
        ("/a/./b/../c", "/a/c"),
    ];
    // The form itself never carries such a path either.
    let form = app
        .http
        .get(app.url("/signin?next=%2F%2E%2F%2Fevil.example"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!form.contains("//evil.example"), "{form}");
    for (next, expected) in tricks {
        let mut browser = Jar::default();
        let response = browser.sign_in(&app, &user.email, next).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(response.headers()[header::LOCATION], expected, "{next:?}");
        assert!(browser.session.is_some(), "{next:?}: signed in");
    }
    for (i, (next, expected)) in tricks.into_iter().enumerate() {
        let mut browser = Jar::default();
        let csrf = browser.token_of(&app, "/signup").await;
        let email = format!("trick{i}@example.com");
        let response = browser
            .post(
                &app,
                "/signup",
                &[
                    ("csrf", &csrf),
                    ("name", "Ada Lovelace"),
                    ("email", &email),
                    ("password", PASSWORD),
                    ("role", "bidder"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(response.headers()[header::LOCATION], expected, "{next:?}");
    }
}

/// `count` generated `next` values: any string, paths made of what escapes
/// are made of (slashes, backslashes, tabs, newlines, control characters,
/// `:`, `@`, `%`, non-ASCII), two slashes broken up by tabs or newlines
/// before a host, and dot segments (plain, percent-encoded) among slashes
/// and backslashes.
fn generated_nexts(count: usize) -> Vec<String> {
    use proptest::{prelude::*, strategy::ValueTree, test_runner::TestRunner};
    let mut runner = TestRunner::deterministic();
    let strategy = prop_oneof![
        any::<String>(),
        "/[/\\\\\t\n\r .:@a-z%0-9\u{0}-\u{1f}\u{7f}é]{0,16}",
        "(https?:)?[\t\n]{0,2}[/\\\\][\t\n]{0,2}[/\\\\][\t\n]{0,2}(evil\\.example|gavel\\.test)[/a-z]{0,4}",
        "((http://gavel\\.test)?|[./\\\\]{0,3})([/\\\\]|\\.|\\.\\.|%2[eE]|%2[eE]%2[eE]|[a-z]){0,8}([/\\\\]{1,3}evil\\.example)?",
    ];
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Where a browser on this site goes for `location` (it drops tabs and
/// newlines as it resolves).
fn lands_on(location: &str) -> url::Url {
    url::Url::parse("http://gavel.test/signin")
        .unwrap()
        .join(location)
        .unwrap()
}

#[tokio::test]
async fn whatever_next_says_no_form_sends_anyone_off_site_or_fails() {
    let mut http = http_args();
    http.limits.logins_per_ip = 100_000;
    let app = spawn_app_with(http).await;
    let user = app.user("bidder").await;
    let site = url::Url::parse("http://gavel.test").unwrap().origin();
    for (i, next) in generated_nexts(40).into_iter().enumerate() {
        for form in ["/signin", "/signup"] {
            let page = app
                .http
                .get(app.url(form))
                .query(&[("next", &next)])
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), StatusCode::OK, "{form} {next:?}");
        }
        let mut browser = Jar::default();
        let signed_in = browser.sign_in(&app, &user.email, &next).await;
        let mut browser = Jar::default();
        let csrf = browser.token_of(&app, "/signup").await;
        let email = format!("next{i}@example.com");
        let signed_up = browser
            .post(
                &app,
                "/signup",
                &[
                    ("csrf", &csrf),
                    ("name", "Ada Lovelace"),
                    ("email", &email),
                    ("password", PASSWORD),
                    ("role", "bidder"),
                    ("next", &next),
                ],
            )
            .await;
        for (form, response) in [("/signin", signed_in), ("/signup", signed_up)] {
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{form} {next:?}");
            let location = response.headers()[header::LOCATION].to_str().unwrap();
            assert_eq!(
                lands_on(location).origin(),
                site,
                "{form} {next:?} → {location:?}"
            );
        }
    }
}

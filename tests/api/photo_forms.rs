//! Photos over plain HTTP: the API's upload (checked by content, re-encoded,
//! served for a year), reordering and removal, and the lot page's photo forms.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, auction_body, expect_error, expect_status, spawn_app};

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 40])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn upload(
    app: &TestApp,
    auction: &str,
    token: &str,
    files: Vec<(&str, Vec<u8>)>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in files {
        form = form.part(
            "images",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    }
    app.http
        .post(app.url(&format!("/api/v1/auctions/{auction}/images")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn photos_are_checked_by_content_re_encoded_and_served_for_a_year() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let bidder = app.user("bidder").await;
    let lot = app
        .create_auction(&seller, &auction_body(600))
        .await
        .id
        .to_string();

    let added: Value = expect_status(
        upload(
            &app,
            &lot,
            &seller.token,
            vec![("stool.png", png(2_400, 1_200))],
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let url = added["images"][0]["display"].as_str().unwrap().to_owned();
    assert_eq!(
        url.replace("display", "thumb"),
        added["images"][0]["thumb"].as_str().unwrap()
    );
    let served = app.get(&url, None).await;
    assert_eq!(served.headers()[header::CONTENT_TYPE], "image/jpeg");
    assert!(
        served.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    let bytes = served.bytes().await.unwrap();
    let shown = image::load_from_memory(&bytes).unwrap();
    assert_eq!(
        (shown.width(), shown.height()),
        (1_600, 800),
        "resized to the display size"
    );
    let thumb = app
        .get(&url.replace("display", "thumb"), None)
        .await
        .bytes()
        .await
        .unwrap();
    assert!(image::load_from_memory(&thumb).unwrap().width() <= 480);

    // Not a form at all: the one error shape, as everywhere.
    let response = app
        .post_json(
            &format!("/api/v1/auctions/{lot}/images"),
            &json!({}),
            Some(&seller.token),
        )
        .await;
    expect_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // Not a picture, whatever its name says.
    let response = upload(
        &app,
        &lot,
        &seller.token,
        vec![("cat.png", b"GIF89a not really".to_vec())],
    )
    .await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_image").await;
    let response = upload(
        &app,
        &lot,
        &seller.token,
        vec![("huge.png", vec![0x89; 5 * 1024 * 1024 + 1])],
    )
    .await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_image").await;
    let response = upload(&app, &lot, &bidder.token, vec![("mine.png", png(10, 10))]).await;
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    // Eight in all.
    let seven: Vec<(&str, Vec<u8>)> = (0..7).map(|_| ("more.png", png(20, 20))).collect();
    expect_status(
        upload(&app, &lot, &seller.token, seven).await,
        StatusCode::CREATED,
    )
    .await;
    let response = upload(&app, &lot, &seller.token, vec![("ninth.png", png(20, 20))]).await;
    expect_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_many_images",
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM auction_images WHERE auction_id = '{lot}'"
        ))
        .await,
        8
    );
    // The lot's card and page show them.
    let html = app
        .get(&format!("/auctions/{lot}"), None)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches("/display.jpg").count(), 8);
}

/// The ids of a `Photos` answer, in order.
fn photo_ids(photos: &Value) -> Vec<String> {
    photos["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_seller_reorders_photos_any_time_and_removes_them_until_the_first_bid() {
    let app = spawn_app().await;
    let (seller, [bidder], lot) = app.scene(&auction_body(600)).await;
    let lot = lot.id.to_string();
    let images = format!("/api/v1/auctions/{lot}/images");
    let added = expect_status(
        upload(
            &app,
            &lot,
            &seller.token,
            vec![
                ("a.png", png(30, 20)),
                ("b.png", png(40, 20)),
                ("c.png", png(50, 20)),
            ],
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let [a, b, c]: [String; 3] = photo_ids(&added).try_into().unwrap();
    assert_eq!(added["images"][1]["width"], 40);
    let bytes_of = |id: &str| {
        let url = format!("/images/{id}/display.jpg");
        let app = &app;
        async move { app.get(&url, None).await.bytes().await.unwrap() }
    };
    let photo_a = bytes_of(&a).await;

    // Anyone lists them; only the seller reorders them.
    let put = |order: Value, token: &str| {
        app.request(reqwest::Method::PUT, &images, Some(token))
            .json(&json!({ "order": order }))
            .send()
    };
    expect_error(
        put(json!([c, b, a]), &bidder.token).await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for wrong in [
        json!([c, b]),
        json!([c, b, a, a]),
        json!([c, c, a]),
        json!([c, b, uuid::Uuid::new_v4()]),
    ] {
        expect_error(
            put(wrong, &seller.token).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_photo_order",
        )
        .await;
    }
    let listed = expect_status(app.get(&images, None).await, StatusCode::OK).await;
    assert_eq!(
        photo_ids(&listed),
        [a.as_str(), b.as_str(), c.as_str()],
        "a refused order changes nothing"
    );
    let reordered = expect_status(
        put(json!([c, a, b]), &seller.token).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(photo_ids(&reordered), [c.as_str(), a.as_str(), b.as_str()]);
    assert_eq!(
        bytes_of(&a).await,
        photo_a,
        "a photo's URL keeps its picture"
    );
    let index = app.get("/", None).await.text().await.unwrap();
    assert!(
        index.contains(&format!("/images/{c}/thumb.jpg")),
        "the new cover"
    );

    // Removing closes the gap; the removed photo is gone.
    let remove = |id: &str, token: &str| {
        app.request(
            reqwest::Method::DELETE,
            &format!("{images}/{id}"),
            Some(token),
        )
        .send()
    };
    expect_error(
        remove(&a, &bidder.token).await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        remove(&uuid::Uuid::new_v4().to_string(), &seller.token)
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "image_not_found",
    )
    .await;
    let left = expect_status(remove(&c, &seller.token).await.unwrap(), StatusCode::OK).await;
    assert_eq!(photo_ids(&left), [a.as_str(), b.as_str()]);
    assert_eq!(
        app.get(&format!("/images/{c}/display.jpg"), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let positions: Vec<(String, i16)> = sqlx::query_as(
        "SELECT id::text, position FROM auction_images WHERE auction_id = $1::uuid ORDER BY position",
    )
    .bind(&lot)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(positions, [(a.clone(), 1), (b.clone(), 2)]);
    // Another upload goes after them.
    let more = expect_status(
        upload(&app, &lot, &seller.token, vec![("d.png", png(20, 20))]).await,
        StatusCode::CREATED,
    )
    .await;
    let d = photo_ids(&more)[2].clone();

    // Once someone bids, photos stay (they bid on what they saw); the cover
    // can still change.
    app.bid_ok(&bidder, &lot, 1_000, None).await;
    expect_error(
        remove(&a, &seller.token).await.unwrap(),
        StatusCode::CONFLICT,
        "auction_has_bids",
    )
    .await;
    let reordered = expect_status(
        put(json!([d, a, b]), &seller.token).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(photo_ids(&reordered), [d.as_str(), a.as_str(), b.as_str()]);
}

#[tokio::test]
async fn the_lot_page_lets_its_seller_add_photos_choose_the_cover_and_remove_one() {
    let app = spawn_app().await;
    let (seller, [bidder], lot) = app.scene(&auction_body(600)).await;
    let lot = lot.id.to_string();
    let page = format!("/auctions/{lot}");
    let anonymous = "5eed".repeat(16);
    let cookie = |user: &crate::helpers::TestUser| {
        format!("gavel_session={}; gavel_csrf={anonymous}", user.token)
    };
    let html_for = |user: &crate::helpers::TestUser| {
        let request = app
            .request(reqwest::Method::GET, &page, None)
            .header(header::COOKIE, cookie(user));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let add_form = |csrf: &str, files: Vec<Vec<u8>>| {
        let mut form = reqwest::multipart::Form::new().text("csrf", csrf.to_owned());
        for bytes in files {
            form = form.part(
                "images",
                reqwest::multipart::Part::bytes(bytes).file_name("p.png"),
            );
        }
        app.http
            .post(app.url(&format!("/auctions/{lot}/photos")))
            .header(header::COOKIE, cookie(&seller))
            .multipart(form)
            .send()
    };
    // Each session's forms carry a token of its own.
    let csrf = crate::helpers::form_token(&html_for(&seller).await);
    let bidder_csrf = crate::helpers::form_token(&html_for(&bidder).await);
    assert_ne!(csrf, bidder_csrf);
    let count_sql = format!("SELECT count(*) FROM auction_images WHERE auction_id = '{lot}'");
    let stored = || app.count(&count_sql);

    assert!(html_for(&seller).await.contains("Add photos"));
    assert!(
        !html_for(&bidder).await.contains("Add photos"),
        "only the seller manages photos"
    );
    // Without the page's token nothing is stored.
    let refused = add_form("not-the-token", vec![png(30, 30)]).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("This form has expired")
    );
    assert_eq!(stored().await, 0);
    let added = add_form(&csrf, vec![png(30, 30), png(60, 30)])
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert_eq!(added.headers()[header::LOCATION], page);
    let listed = expect_status(
        app.get(&format!("/api/v1/auctions/{lot}/images"), None)
            .await,
        StatusCode::OK,
    )
    .await;
    let [first, second]: [String; 2] = photo_ids(&listed).try_into().unwrap();

    let html = html_for(&seller).await;
    let cover_action = format!("/auctions/{lot}/photos/{second}/cover");
    assert!(
        html.contains(&cover_action),
        "the second photo can be the cover"
    );
    assert!(
        !html.contains(&format!("/photos/{first}/cover")),
        "the cover already is"
    );
    let post = |action: String, user: &crate::helpers::TestUser, token: &str| {
        app.http
            .post(app.url(&action))
            .header(header::COOKIE, cookie(user))
            .form(&[("csrf", token)])
            .send()
    };
    // The bidder, even with a valid token, may not.
    let response = post(cover_action.clone(), &bidder, &bidder_csrf)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = post(cover_action, &seller, &csrf).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let listed = expect_status(
        app.get(&format!("/api/v1/auctions/{lot}/images"), None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(photo_ids(&listed), [second.as_str(), first.as_str()]);

    let response = post(
        format!("/auctions/{lot}/photos/{first}/remove"),
        &seller,
        &csrf,
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored().await, 1);
    // After a bid the page offers no removal, and a hand-made one is refused
    // in words.
    app.bid_ok(&bidder, &lot, 1_000, None).await;
    let html = html_for(&seller).await;
    assert!(!html.contains("/remove\""), "{html}");
    assert!(html.contains("its photos stay"));
    let response = post(
        format!("/auctions/{lot}/photos/{second}/remove"),
        &seller,
        &csrf,
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("not removed"));
    assert_eq!(stored().await, 1);
}

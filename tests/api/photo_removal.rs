//! Removing a photo races the first bid: the auction's workflow decides
//! both, in one order, and a removal it grants is committed or nothing is.

use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{
    TestApp, TestUser, auction_body, expect_error, expect_status, record_history, spawn_app,
};

fn png() -> Vec<u8> {
    let image = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8, y as u8, 9]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A lot of `seller`'s with one photo: (lot, photo).
async fn lot_with_a_photo(app: &TestApp, seller: &TestUser) -> (String, String) {
    let lot = app
        .create_auction(seller, &auction_body(600))
        .await
        .id
        .to_string();
    let photo = lot_photo(app, seller, &lot).await;
    (lot, photo)
}

/// The names of the updates the lot's workflow accepted, in its order.
async fn accepted_updates(app: &TestApp, lot: &str) -> Vec<String> {
    let json = app
        .auction_handle(lot)
        .fetch_history(Default::default())
        .to_json()
        .await
        .unwrap();
    let history: Value = serde_json::from_slice(json.as_ref()).unwrap();
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| {
            let accepted = &event["attributes"]["WorkflowExecutionUpdateAcceptedEventAttributes"];
            accepted["accepted_request"]["input"]["name"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn a_photo_removal_racing_the_first_bid_is_decided_in_the_order_bids_are() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let bidder = app.user("bidder").await;
    let mut lots = Vec::new();
    for _ in 0..16 {
        lots.push(lot_with_a_photo(&app, &seller).await);
    }
    let answers = join_all(lots.iter().enumerate().map(|(i, (lot, photo))| {
        let removal = app
            .request(
                Method::DELETE,
                &format!("/api/v1/auctions/{lot}/images/{photo}"),
                Some(&seller.token),
            )
            .send();
        let bid = app.bid(&bidder, lot, 1_000, None, None);
        // Bids sent 0 to 70 ms after the removal, so both sides win some.
        let offset = Duration::from_millis(10 * (i as u64 % 8));
        async move {
            let bid = async {
                tokio::time::sleep(offset).await;
                bid.await
            };
            let (removal, bid) = tokio::join!(removal, bid);
            (removal.unwrap().status(), bid.status())
        }
    }))
    .await;
    let mut removed = 0;
    for ((lot, _), (removal, bid)) in lots.iter().zip(&answers) {
        assert_eq!(*bid, StatusCode::CREATED, "the bid on {lot}");
        let stored = app
            .count(&format!(
                "SELECT count(*) FROM auction_images WHERE auction_id = '{lot}'"
            ))
            .await;
        let updates = accepted_updates(&app, lot).await;
        let first_bid = updates.iter().position(|u| u == "place_bids");
        let removal_granted = updates.iter().position(|u| u == "remove_photo");
        match *removal {
            StatusCode::OK => {
                removed += 1;
                assert_eq!(stored, 0, "{lot}: answered removed, still stored");
                // The removal was decided before the bid, in the order the
                // workflow took them.
                assert!(
                    removal_granted.is_some() && removal_granted < first_bid,
                    "{lot}: removal answered 200 but the workflow took {updates:?}"
                );
            }
            StatusCode::CONFLICT => {
                assert_eq!(stored, 1, "{lot}: refused, yet removed");
                assert_eq!(removal_granted, None, "{lot}: {updates:?}");
            }
            other => panic!("{lot}: the removal answered {other}"),
        }
    }
    eprintln!(
        "{removed} of {} removals won their race with the first bid",
        lots.len()
    );
}

#[tokio::test]
async fn a_granted_removal_is_in_the_auctions_history_and_a_late_one_is_refused() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let bidder = app.user("bidder").await;
    let admin = app.admin().await;
    let (lot, photo) = lot_with_a_photo(&app, &seller).await;
    let remove = |photo: &str| {
        app.request(
            Method::DELETE,
            &format!("/api/v1/auctions/{lot}/images/{photo}"),
            Some(&seller.token),
        )
        .send()
    };
    expect_status(remove(&photo).await.unwrap(), StatusCode::OK).await;
    expect_error(
        remove(&photo).await.unwrap(),
        StatusCode::NOT_FOUND,
        "image_not_found",
    )
    .await;
    let added = lot_photo(&app, &seller, &lot).await;
    app.bid_ok(&bidder, &lot, 1_000, None).await;
    expect_error(
        remove(&added).await.unwrap(),
        StatusCode::CONFLICT,
        "auction_has_bids",
    )
    .await;
    let stored = app
        .count(&format!(
            "SELECT count(*) FROM auction_images WHERE auction_id = '{lot}'"
        ))
        .await;
    assert_eq!(stored, 1, "the refused removal changed nothing");
    assert_eq!(
        accepted_updates(&app, &lot).await,
        ["remove_photo", "place_bids"]
    );
    let cancelled = app
        .post_json(
            &format!("/api/v1/auctions/{lot}/cancel"),
            &serde_json::json!({ "reason": "withdrawn" }),
            Some(&admin.token),
        )
        .await;
    expect_status(cancelled, StatusCode::OK).await;
    app.wait_for_status(&lot, "cancelled", 15).await;
    record_history(&app.auction_handle(&lot), "auction_photo_removed").await;
}

/// Adds one photo to `lot`; its id.
async fn lot_photo(app: &TestApp, seller: &TestUser, lot: &str) -> String {
    let form = reqwest::multipart::Form::new().part(
        "images",
        reqwest::multipart::Part::bytes(png()).file_name("p.png"),
    );
    let response = app
        .http
        .post(app.url(&format!("/api/v1/auctions/{lot}/images")))
        .bearer_auth(&seller.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let added = expect_status(response, StatusCode::CREATED).await;
    added["images"][0]["id"].as_str().unwrap().to_owned()
}

//! The pages in a real browser: Debian's Chromium, headless, driven through
//! ChromeDriver (WebDriver, `fantoccini`). Every person is a browser session
//! of their own, with their own cookies. When a scenario fails, a screenshot
//! of every session is saved to `target/browser-screenshots/`; with
//! `GAVEL_SCREENSHOTS=1` the auction page's screenshot for the README is
//! written to `docs/screenshots/auction.png`.

use std::{
    panic::AssertUnwindSafe,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::helpers::{TestApp, http_args, settlement_args, shared_temporal, spawn_app_on};

/// A ChromeDriver on a free port, stopped when dropped.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub(crate) async fn start() -> Self {
        let port = gavel::dev_server::free_port().unwrap();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/setup installs chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        let started = Instant::now();
        while reqwest::get(&status).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, url }
    }

    /// A new browser: its own profile, so its own cookies.
    async fn browser(&self) -> Client {
        self.browser_with((1280, 1000), &[]).await
    }

    /// A new browser whose viewport is `size` (width, height), started with
    /// `flags` besides the usual ones.
    pub(crate) async fn browser_with(&self, size: (u32, u32), flags: &[&str]) -> Client {
        let profile = std::env::temp_dir().join(format!("gavel-chromium-{}", uuid::Uuid::new_v4()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--window-size={},{}", size.0, size.1),
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let mut capabilities = capabilities;
        let args = capabilities["goog:chromeOptions"]["args"]
            .as_array_mut()
            .expect("args");
        args.extend(flags.iter().map(|flag| json!(flag)));
        // A window is at least 500 px wide: narrower is a phone's screen.
        if size.0 < 500 {
            capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": { "width": size.0, "height": size.1, "pixelRatio": 2 },
            });
        }
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots")
}

/// Runs `scenario`; when it fails, saves what each browser showed.
async fn with_screenshots<F>(name: &str, people: &[(&str, &Client)], scenario: F)
where
    F: std::future::Future<Output = ()>,
{
    let outcome = AssertUnwindSafe(scenario).catch_unwind().await;
    if let Err(panic) = outcome {
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap();
        for (who, client) in people {
            if let Ok(png) = client.screenshot().await {
                let path = dir.join(format!("{name}-{who}.png"));
                let _ = std::fs::write(&path, png);
                eprintln!("screenshot: {}", path.display());
            }
        }
        std::panic::resume_unwind(panic);
    }
}

async fn fill(client: &Client, css: &str, text: &str) {
    let field = appeared(client, css).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// The element, once the page shows it: a page that just navigated may
/// still be loading when the next step looks for it.
async fn appeared(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

async fn click(client: &Client, css: &str) {
    appeared(client, css).await.click().await.unwrap();
}

async fn text(client: &Client, css: &str) -> String {
    appeared(client, css).await.text().await.unwrap()
}

/// Waits until the element's text contains `wanted`; how long it took.
async fn wait_for_text(client: &Client, css: &str, wanted: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(shown) = element.text().await
            && shown.contains(wanted)
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{css} never said {wanted:?} within {within:?} (it says {:?})",
            text(client, css).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reloads `url` until `css` is on the page (at most 30 s).
async fn reload_until(client: &Client, url: &str, css: &str, missing: &str) {
    let started = Instant::now();
    loop {
        client.goto(url).await.unwrap();
        if client.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{missing}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn sign_up(client: &Client, app: &TestApp, name: &str, role: &str) {
    client.goto(&app.url("/signup")).await.unwrap();
    fill(client, "input[name=name]", name).await;
    let email = format!("{}-{}@example.com", role, uuid::Uuid::new_v4().simple());
    fill(client, "input[name=email]", &email).await;
    fill(client, "input[name=password]", "correct horse battery").await;
    client
        .find(Locator::Css("select[name=role]"))
        .await
        .unwrap()
        .select_by_value(role)
        .await
        .unwrap();
    click(client, "main form button[type=submit]").await;
    wait_for_text(
        client,
        "header.site nav",
        "Sign out",
        Duration::from_secs(10),
    )
    .await;
    app.mark_verified(&email).await;
}

/// A small PNG to upload, made here.
fn photo() -> PathBuf {
    let path = std::env::temp_dir().join(format!("gavel-lot-{}.png", uuid::Uuid::new_v4()));
    let image = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 120])
    });
    image.save(&path).unwrap();
    path
}

#[tokio::test]
async fn a_sale_in_three_browsers_sell_bid_outbid_live_close_pay_ship_and_pay_out() {
    // Paystack is Gavel's own stand-in (as in `gavel dev`), and Gavel sits
    // at a known address so the checkout can send the buyer back to it.
    let port = gavel::dev_server::free_port().unwrap();
    let address = format!("http://127.0.0.1:{port}");
    let api_url = std::sync::Arc::new(std::sync::OnceLock::new());
    api_url.set(address.clone()).unwrap();
    let stand_in = gavel::paystack_stand_in::start(api_url).await.unwrap();
    let mut http = http_args();
    http.http_addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut settlement = settlement_args();
    settlement.paystack_secret_key = Some(stand_in.secret_key());
    settlement.paystack_base_url = stand_in.base_url.clone();
    settlement.public_url = address.clone();
    // The buyer confirms receipt at once; claims close two seconds later.
    settlement.claim_window_secs = 2;
    let app = spawn_app_on(shared_temporal(), http, settlement).await;
    let driver = Driver::start().await;
    let seller = driver.browser().await;
    let ada = driver.browser().await;
    let bola = driver.browser().await;
    let people = [("seller", &seller), ("ada", &ada), ("bola", &bola)];
    with_screenshots("sale", &people, async {
        // The seller signs up and puts a lot up, with a photo.
        sign_up(&seller, &app, "Sade Seller", "seller").await;
        // The bank account she is paid into: looked up, then confirmed.
        seller.goto(&app.url("/me")).await.unwrap();
        seller
            .find(Locator::Css("#payout-bank option[value='058']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        fill(&seller, "#payout-number", "0123456789").await;
        click(&seller, "form[action='/me/payout-account'] button").await;
        click(&seller, "form[action='/me/payout-account/confirm'] button").await;
        wait_for_text(
            &seller,
            "main",
            "Your sales are paid into",
            Duration::from_secs(10),
        )
        .await;
        seller.goto(&app.url("/sell")).await.unwrap();
        fill(&seller, "input[name=title]", "Carved Iroko stool").await;
        fill(
            &seller,
            "textarea[name=description]",
            "Hand carved <b>not bold</b>",
        )
        .await;
        fill(&seller, "input[name=starting_price]", "50").await;
        fill(&seller, "input[name=ends_in_minutes]", "0.75").await;
        fill(&seller, "input[name=window_secs]", "5").await;
        fill(&seller, "input[name=extension_secs]", "5").await;
        let file = photo();
        seller
            .find(Locator::Css("input[name=images]"))
            .await
            .unwrap()
            .send_keys(&file.display().to_string())
            .await
            .unwrap();
        click(&seller, "main form button[type=submit]").await;
        wait_for_text(&seller, "h1", "Carved Iroko stool", Duration::from_secs(15)).await;
        let lot_url = seller.current_url().await.unwrap().to_string();
        assert!(lot_url.contains("/auctions/"), "{lot_url}");
        let description = text(&seller, ".prose").await;
        assert!(
            description.contains("<b>not bold</b>"),
            "text is shown as typed, not as markup"
        );
        let photo_src = seller
            .find(Locator::Css(".gallery img"))
            .await
            .unwrap()
            .attr("src")
            .await
            .unwrap()
            .unwrap();
        assert!(photo_src.ends_with("/display.jpg"), "{photo_src}");

        // Two bidders, each in their own browser.
        sign_up(&ada, &app, "Ada Bidder", "bidder").await;
        sign_up(&bola, &app, "Bola Bidder", "bidder").await;
        ada.goto(&lot_url).await.unwrap();
        bola.goto(&lot_url).await.unwrap();
        fill(&ada, "input[name=max]", "80").await;
        click(&ada, "#bid-form button").await;
        wait_for_text(&ada, "#said", "You lead", Duration::from_secs(10)).await;
        // Bola sees Ada's bid arrive without reloading.
        wait_for_text(&bola, "#bid-count", "1", Duration::from_secs(2)).await;

        // Bola bids less than Ada's maximum, from the keyboard (Enter in the
        // field sends the form): Ada's proxy outbids her at once.
        fill(&bola, "input[name=max]", &format!("70{}", Key::Enter)).await;
        wait_for_text(
            &bola,
            "#said",
            "a proxy bid outbid you",
            Duration::from_secs(10),
        )
        .await;
        let took = wait_for_text(&ada, "#price", "₦72.50", Duration::from_secs(2)).await;
        eprintln!("Ada's page showed Bola's bid {took:?} after Bola heard back");
        assert_eq!(text(&ada, "#bid-count").await, "2");
        // The chart's scale, in words beside it.
        wait_for_text(&ada, "#chart-range", "to ₦72.50", Duration::from_secs(2)).await;
        wait_for_text(
            &ada,
            "#said",
            "You still lead, now at ₦72.50",
            Duration::from_secs(2),
        )
        .await;
        if std::env::var_os("GAVEL_SCREENSHOTS").is_some() {
            ada.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
            let png = ada.screenshot().await.unwrap();
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("auction.png"), png).unwrap();
        }

        // The close happens live on both pages.
        wait_for_text(&ada, "#status", "Sold", Duration::from_secs(90)).await;
        wait_for_text(&ada, "#said", "You won", Duration::from_secs(5)).await;
        wait_for_text(&bola, "#status", "Sold", Duration::from_secs(10)).await;

        // Ada's invoice, with its Pay button, on her page.
        let started = Instant::now();
        loop {
            ada.goto(&app.url("/me")).await.unwrap();
            if ada
                .find(Locator::Css("form[action$='/pay'] button"))
                .await
                .is_ok()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no invoice to pay on /me"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(text(&ada, "main").await.contains("Carved Iroko stool"));
        // She pays: Gavel's page, Paystack's checkout, and back.
        click(&ada, "form[action$='/pay'] button").await;
        wait_for_text(&ada, "h1", "Pay with Paystack", Duration::from_secs(15)).await;
        click(&ada, "#checkout").await;
        wait_for_text(&ada, "h1", "Paystack stand-in", Duration::from_secs(10)).await;
        click(&ada, "#pay").await;
        wait_for_text(&ada, "h1", "Thank you", Duration::from_secs(10)).await;
        let started = Instant::now();
        loop {
            ada.goto(&app.url("/me")).await.unwrap();
            if text(&ada, "main").await.contains("paid") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the invoice never showed paid"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        seller.goto(&lot_url).await.unwrap();
        wait_for_text(&seller, "#status", "Sold and paid", Duration::from_secs(30)).await;
        // Bola's page says she lost.
        bola.goto(&app.url("/me")).await.unwrap();
        wait_for_text(&bola, "main", "lost", Duration::from_secs(5)).await;

        // The seller ships, Ada says it arrived, and the seller is paid.
        let shipped = "form[action$='/shipped'] button";
        reload_until(&seller, &app.url("/me"), shipped, "no sale to ship on /me").await;
        fill(
            &seller,
            "form[action$='/shipped'] input[name=carrier]",
            "GIG Logistics",
        )
        .await;
        fill(
            &seller,
            "form[action$='/shipped'] input[name=tracking]",
            "GIG-1234",
        )
        .await;
        click(&seller, shipped).await;
        let received = "form[action$='/received'] button";
        reload_until(&ada, &app.url("/me"), received, "nothing to receive on /me").await;
        assert!(text(&ada, "main").await.contains("GIG-1234"));
        click(&ada, received).await;
        let started = Instant::now();
        loop {
            seller.goto(&app.url("/me")).await.unwrap();
            let page = text(&seller, "main").await;
            if page.contains("paid") && page.contains("gvl-po-") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the payout never showed paid on the seller's /me: {page}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // ₦72.50 less 10 % commission (₦7.25): ₦65.25 paid out.
        assert!(text(&seller, "main").await.contains("₦65.25"));
        let found = gavel_store::sales::reconcile(&app.db).await.unwrap();
        assert!(found.is_empty(), "{found:?}");
    })
    .await;
    for (_, client) in people {
        let _ = client.clone().close().await;
    }
}

#[tokio::test]
async fn a_watcher_gets_the_ending_soon_alert_and_unsubscribes_from_it_in_the_browser() {
    // Gavel at a known address: the emailed link leads back to it.
    let port = gavel::dev_server::free_port().unwrap();
    let address = format!("http://127.0.0.1:{port}");
    let mut http = http_args();
    http.http_addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut settlement = settlement_args();
    settlement.public_url = address.clone();
    let app = spawn_app_on(shared_temporal(), http, settlement).await;
    let seller = app.user("seller").await;
    // Ten minutes left: inside the default hour's notice, so the alert is
    // due as soon as someone watches.
    let lot = app
        .create_auction(&seller, &crate::helpers::auction_body(600))
        .await
        .id;
    let driver = Driver::start().await;
    let ada = driver.browser().await;
    with_screenshots("watch", &[("ada", &ada)], async {
        sign_up(&ada, &app, "Ada Watcher", "bidder").await;
        ada.goto(&app.url(&format!("/auctions/{lot}")))
            .await
            .unwrap();
        click(&ada, "#watch-form button").await;
        wait_for_text(&ada, "#watch-form", "Unwatch", Duration::from_secs(10)).await;
        ada.goto(&app.url("/me")).await.unwrap();
        wait_for_text(&ada, "main", "Carved stool", Duration::from_secs(10)).await;

        // The alert is recorded (no Brevo here) with its way out.
        let (recipient, body): (uuid::Uuid, String) = crate::helpers::eventually(30, || async {
            sqlx::query_as(
                "SELECT recipient_id, text_body FROM emails
                 WHERE kind = 'ending_soon' AND auction_id = $1",
            )
            .bind(lot)
            .fetch_optional(&app.db)
            .await
            .unwrap()
            .ok_or_else(|| "no ending-soon email yet".to_owned())
        })
        .await;
        let start = body
            .find(&format!("{address}/unsubscribe?token="))
            .expect(&body);
        let link: String = body[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();

        // Followed as a person would: the page asks, the button stops it.
        ada.goto(&link).await.unwrap();
        wait_for_text(
            &ada,
            "main",
            "Stop ending-soon emails",
            Duration::from_secs(10),
        )
        .await;
        let watched_lots_on = || async {
            gavel_store::preferences::get(&app.db, recipient)
                .await
                .unwrap()
                .watched_lots
        };
        assert!(watched_lots_on().await, "opening the link changes nothing");
        click(&ada, "main form button[type=submit]").await;
        wait_for_text(
            &ada,
            "main",
            "You will get no more",
            Duration::from_secs(10),
        )
        .await;
        assert!(!watched_lots_on().await);
        let other = gavel_store::preferences::get(&app.db, recipient)
            .await
            .unwrap();
        assert!(
            other.outbid && other.ending_soon,
            "only that kind: {other:?}"
        );
        // And /me says so.
        ada.goto(&app.url("/me")).await.unwrap();
        let checked = appeared(&ada, "input[name=watched_lots]")
            .await
            .prop("checked")
            .await
            .unwrap();
        assert_eq!(checked.as_deref(), Some("false"));
    })
    .await;
}

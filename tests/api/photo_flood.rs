//! Photo uploads under attack: waves of crafted pictures sent faster than the
//! request timeout lets them finish. Run against a separate `gavel api`
//! process (not the in-process app) so its memory is its own: the test's own
//! crafted files, the worker and every other test in this binary would
//! otherwise be counted in the same `VmRSS`.

use std::{
    io::Write,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use flate2::{Compression, Crc, write::ZlibEncoder};
use futures::StreamExt;
use reqwest::StatusCode;

use crate::helpers::{
    ApiProcess, TestUser, auction_body, eventually, http_args, settlement_args, spawn_app,
    spawn_app_with,
};

/// What the API process may grow by while the flood runs: two decodes at
/// their 256 MiB budget, the bytes uploads may hold (96 MiB), and the
/// allocator's slack.
const GROWTH_BOUND_MIB: u64 = 700;
/// Slowest answer allowed to a health check or a bid during the flood: a
/// little over this API's own 2 s request timeout, past which it answers
/// 503 anyway. Tighter bounds measure how busy the test machine's other
/// tests keep its two cores, not the flood (a bid goes through Temporal and
/// a worker shared with them); starved, the probes answered 503 or not at
/// all.
const QUICK: Duration = Duration::from_millis(2_500);
/// An answer that read (almost) nothing of a body that never ends: before
/// the watch there was none at all within the client's 10 s; a few seconds
/// leave room for a busy test machine.
const PROMPT: Duration = Duration::from_secs(5);

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend(kind);
    out.extend(data);
    out.extend(crc.sum().to_be_bytes());
}

/// A PNG (8-bit RGB) of `width`×`height` with `idat` as its compressed data.
fn png_with(width: u32, height: u32, idat: &[u8]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// The compressed rows of a black `width`×`height` RGB picture: a few
/// hundred KB that inflate to `width × height × 3` bytes.
fn black_rows(width: u32, height: u32) -> Vec<u8> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    let row = vec![0u8; 1 + width as usize * 3];
    for _ in 0..height {
        z.write_all(&row).unwrap();
    }
    z.finish().unwrap()
}

/// Resident and peak kibibytes of process `pid`.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

async fn upload(
    http: &reqwest::Client,
    base: &str,
    lot: &str,
    token: &str,
    files: Vec<Vec<u8>>,
) -> StatusCode {
    let mut form = reqwest::multipart::Form::new();
    for bytes in files {
        form = form.part(
            "images",
            reqwest::multipart::Part::bytes(bytes).file_name("p.png"),
        );
    }
    match http
        .post(format!("{base}/api/v1/auctions/{lot}/images"))
        .bearer_auth(token)
        .multipart(form)
        .timeout(Duration::from_secs(30))
        .send()
        .await
    {
        Ok(response) => response.status(),
        // The process may drop a request it has refused mid-body.
        Err(_) => StatusCode::IM_A_TEAPOT,
    }
}

/// Times a health check and a bid, over and over, until `done`.
async fn probe(
    http: reqwest::Client,
    base: String,
    bidder: TestUser,
    lot: String,
    done: Arc<AtomicBool>,
) -> Vec<(String, Duration)> {
    let mut slow = Vec::new();
    let mut amount = 1_000;
    while !done.load(Ordering::Relaxed) {
        let asked = Instant::now();
        let health = http
            .get(format!("{base}/api/v1/health"))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let took = asked.elapsed();
        match health {
            Ok(r) if r.status() == StatusCode::OK && took < QUICK => {}
            other => slow.push((format!("health: {:?}", other.map(|r| r.status())), took)),
        }
        let asked = Instant::now();
        let bid = http
            .post(format!("{base}/api/v1/auctions/{lot}/bids"))
            .bearer_auth(&bidder.token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&serde_json::json!({ "amount": amount }))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let took = asked.elapsed();
        match bid {
            Ok(r) if r.status() == StatusCode::CREATED && took < QUICK => {}
            other => slow.push((format!("bid: {:?}", other.map(|r| r.status())), took)),
        }
        amount += 10_000;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    slow
}

#[tokio::test]
async fn a_flood_of_crafted_photos_across_request_timeouts_keeps_memory_bounded_and_bids_quick() {
    let app = spawn_app().await;
    let api = ApiProcess::spawn_with_env(
        &app,
        &settlement_args(),
        &[("GAVEL_REQUEST_TIMEOUT_SECS", "2")],
    )
    .await;
    let base = api.address.clone();
    let seller = app.user("seller").await;
    let bidder = app.user("bidder").await;
    let mut lots = Vec::new();
    for _ in 0..6 {
        lots.push(
            app.create_auction(&seller, &auction_body(900))
                .await
                .id
                .to_string(),
        );
    }
    let probe_lot = app
        .create_auction(&seller, &auction_body(900))
        .await
        .id
        .to_string();

    // 144 megapixels in ~420 KB (432 MB decoded); 39 megapixels, just under
    // the pixel budget; and a 2 KB file whose header claims 121 megapixels.
    let (huge, near, liar) = tokio::task::spawn_blocking(|| {
        let huge = png_with(12_000, 12_000, &black_rows(12_000, 12_000));
        let near = png_with(6_000, 6_500, &black_rows(6_000, 6_500));
        let liar = png_with(11_000, 11_000, &black_rows(11_000, 64)[..2048]);
        (huge, near, liar)
    })
    .await
    .unwrap();
    eprintln!(
        "crafted: {} KB, {} KB, {} KB",
        huge.len() / 1024,
        near.len() / 1024,
        liar.len() / 1024
    );

    let pid = api.pid();
    let before = memory_kib(pid, "VmRSS");
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = tokio::spawn({
        let (peak, done) = (peak.clone(), done.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(memory_kib(pid, "VmRSS"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    // The probes' own connections: what they time is the server, not a
    // connection an upload left behind.
    let probes = tokio::spawn(probe(
        reqwest::Client::new(),
        base.clone(),
        bidder,
        probe_lot,
        done.clone(),
    ));
    let grown_mib = |peak: &AtomicU64| peak.load(Ordering::Relaxed).saturating_sub(before) / 1024;

    let mut uploads = Vec::new();
    for wave in 0..3 {
        // A wave outlives the 2 s request timeout: the point of the attack.
        if wave > 0 {
            tokio::time::sleep(Duration::from_millis(2_500)).await;
        }
        if grown_mib(&peak) > GROWTH_BOUND_MIB {
            break; // already failed; spare the machine the rest
        }
        let files = [
            vec![huge.clone()],
            vec![huge.clone()],
            vec![near.clone()],
            vec![near.clone()],
            vec![liar.clone()],
            vec![huge.clone(), near.clone(), liar.clone(), huge.clone()],
        ];
        for (i, files) in files.into_iter().enumerate() {
            let (http, base, token) = (app.http.clone(), base.clone(), seller.token.clone());
            let lot = lots[(wave * 6 + i) % lots.len()].clone();
            uploads.push(tokio::spawn(async move {
                upload(&http, &base, &lot, &token, files).await
            }));
        }
    }
    let mut statuses = Vec::new();
    for upload in uploads {
        statuses.push(upload.await.unwrap());
    }
    // Decodes left running by timed-out requests count too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    done.store(true, Ordering::Relaxed);
    monitor.await.unwrap();
    let slow = probes.await.unwrap();
    let peak_hwm = memory_kib(pid, "VmHWM");
    let grown = grown_mib(&peak).max(peak_hwm.saturating_sub(before) / 1024);
    eprintln!(
        "uploads answered {statuses:?}; RSS {} MiB before, grew by {grown} MiB at most; slow probes: {slow:?}",
        before / 1024
    );
    assert!(
        grown < GROWTH_BOUND_MIB,
        "the API grew by {grown} MiB under the flood"
    );
    assert!(slow.is_empty(), "slow or failed during the flood: {slow:?}");
    assert!(
        statuses.iter().all(|s| [
            StatusCode::CREATED,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::SERVICE_UNAVAILABLE
        ]
        .contains(s)),
        "{statuses:?}"
    );
    // Once the flood is over, an ordinary photo goes in.
    let small = png_with(64, 48, &black_rows(64, 48));
    let fresh = app
        .create_auction(&seller, &auction_body(900))
        .await
        .id
        .to_string();
    eventually(60, || async {
        match upload(&app.http, &base, &fresh, &seller.token, vec![small.clone()]).await {
            StatusCode::CREATED => Ok(()),
            other => Err(format!("upload answered {other}")),
        }
    })
    .await;
}

/// A noisy PNG of `width`×`height`: it compresses to about its raw size.
fn noisy_png(width: u32, height: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_u32;
    let image = image::RgbImage::from_fn(width, height, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let [a, b, c, _] = seed.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn a_photo_form_is_judged_by_its_token_and_role_before_any_file_is_read() {
    let app = spawn_app().await;
    let (seller, [bidder], lot) = app.scene(&auction_body(600)).await;
    let cookie = |user: &TestUser| format!("gavel_session={}", user.token);
    // Each form carries its viewer's token (bound to their session), read
    // from a page as a browser would: so a refusal below is for the order or
    // the role, never for a wrong token.
    let token_on = |user: &TestUser, path: String| {
        let request = app
            .http
            .get(app.url(&path))
            .header(reqwest::header::COOKIE, cookie(user));
        async move {
            let page = request.send().await.unwrap().text().await.unwrap();
            crate::helpers::form_token(&page)
        }
    };
    let seller_token = token_on(&seller, format!("/auctions/{}", lot.id)).await;
    let bidder_token = token_on(&bidder, "/".to_owned()).await;
    let not_a_picture =
        || reqwest::multipart::Part::bytes(b"just text".to_vec()).file_name("p.png");

    // The file before the token: refused for the token, the file unread
    // (unread, it cannot be called "not a picture").
    let form = reqwest::multipart::Form::new()
        .part("images", not_a_picture())
        .text("csrf", seller_token.clone());
    let response = app
        .http
        .post(app.url(&format!("/auctions/{}/photos", lot.id)))
        .header(reqwest::header::COOKIE, cookie(&seller))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let page = response.text().await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("This form has expired"), "{page}");

    // A bidder's sell form, token first: refused for the role (before any
    // of it is read) with the status the photo form gives.
    let form = reqwest::multipart::Form::new()
        .text("csrf", bidder_token.clone())
        .text("title", "Stool")
        .part("images", not_a_picture());
    let response = app
        .http
        .post(app.url("/sell"))
        .header(reqwest::header::COOKIE, cookie(&bidder))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let page = response.text().await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("Selling needs a seller account"), "{page}");
    assert!(!page.contains("not a JPEG"), "{page}");
}

#[tokio::test]
async fn an_upload_past_the_lots_room_is_refused_as_its_bytes_arrive() {
    let app = spawn_app().await;
    let (seller, [], lot) = app.scene(&auction_body(600)).await;
    let lot = lot.id.to_string();
    let small = png_with(64, 48, &black_rows(64, 48));
    let status = upload(&app.http, &app.address, &lot, &seller.token, vec![small; 7]).await;
    assert_eq!(status, StatusCode::CREATED);
    // Room for one photo: 5 MB and the form. A 3 MB photo and 4 MB of a
    // field no one asked for pass it.
    let big = tokio::task::spawn_blocking(|| noisy_png(1_000, 1_000))
        .await
        .unwrap();
    assert!(big.len() > 2_900_000, "{}", big.len());
    let form = reqwest::multipart::Form::new()
        .part(
            "images",
            reqwest::multipart::Part::bytes(big).file_name("p.png"),
        )
        .text("notes", "x".repeat(4 << 20));
    let status = app
        .http
        .post(app.url(&format!("/api/v1/auctions/{lot}/images")))
        .bearer_auth(&seller.token)
        .multipart(form)
        .send()
        .await
        .map_or(StatusCode::IM_A_TEAPOT, |r| r.status());
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let stored = app
        .count(&format!(
            "SELECT count(*) FROM auction_images WHERE auction_id = '{lot}'"
        ))
        .await;
    assert_eq!(stored, 7);
}

#[tokio::test]
async fn uploads_holding_the_processs_bytes_turn_the_next_away_at_once() {
    // Time enough for the held uploads to stay while the test fills up.
    let mut http = http_args();
    http.request_timeout_secs = 120;
    let app = spawn_app_with(http).await;

    let (seller, [], lot) = app.scene(&auction_body(600)).await;
    let lot = lot.id.to_string();
    let url = app.url(&format!("/api/v1/auctions/{lot}/images"));
    // Uploads that send 4.9 MB of a file and then nothing more: their bytes
    // are held while they wait. 19 at once, then one more each round, until
    // 20 of them hold
    // all but 2.6 MB of what the process allows uploads (96 MiB) and a
    // 3 MB photo is turned away.
    let hog = || {
        let head = b"--hog\r\nContent-Disposition: form-data; name=\"images\"; filename=\"p.png\"\r\nContent-Type: image/png\r\n\r\n".to_vec();
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = std::iter::once(Ok(head))
            .chain((0..49).map(|_| Ok(vec![7u8; 100_000])))
            .collect();
        let body = futures::stream::iter(chunks).chain(futures::stream::pending());
        let request = app
            .http
            .post(&url)
            .bearer_auth(&seller.token)
            .header("content-type", "multipart/form-data; boundary=hog")
            .body(reqwest::Body::wrap_stream(body));
        tokio::spawn(request.send())
    };
    let photo = tokio::task::spawn_blocking(|| noisy_png(1_000, 1_000))
        .await
        .unwrap();
    let hogs = std::sync::Mutex::new((0..19).map(|_| hog()).collect::<Vec<_>>());
    let refused = eventually(60, || async {
        hogs.lock().unwrap().push(hog());
        // Its bytes on their way before the photo follows.
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A lot with room each time: a full one is refused before its bytes.
        let lot = app.create_auction(&seller, &auction_body(600)).await.id;
        let asked = Instant::now();
        let form = reqwest::multipart::Form::new().part(
            "images",
            reqwest::multipart::Part::bytes(photo.clone()).file_name("p.png"),
        );
        let response = app
            .http
            .post(app.url(&format!("/api/v1/auctions/{lot}/images")))
            .bearer_auth(&seller.token)
            .multipart(form)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|err| err.to_string())?;
        let took = asked.elapsed();
        match response.status() {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(took < QUICK, "turned away after {took:?}");
                Ok(response)
            }
            other => Err(format!("answered {other} (not yet full)")),
        }
    })
    .await;
    assert!(refused.headers().contains_key("retry-after"));
    // Its bytes were never read: the client must not reuse the connection.
    assert_eq!(refused.headers()["connection"], "close");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy", "{body}");
    for hog in hogs.into_inner().unwrap() {
        hog.abort();
    }
}

/// A multipart body that sends `head`, then `pad` bytes of `a` (64 KiB at a
/// time), then nothing more, never ending: answered at all, it was answered
/// before its end.
fn endless_body(head: &[u8], pad: usize) -> reqwest::Body {
    let chunk = 64 * 1024;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = std::iter::once(Ok(head.to_vec()))
        .chain((0..pad.div_ceil(chunk)).map(move |_| Ok(vec![b'a'; chunk])))
        .collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks).chain(futures::stream::pending()))
}

/// How long `request` takes to be answered, and its status and body (none
/// when it was not answered within 10 s).
async fn timed(request: reqwest::RequestBuilder) -> (Duration, Option<(StatusCode, String)>) {
    let asked = Instant::now();
    let answer = match request.timeout(Duration::from_secs(10)).send().await {
        Ok(response) => {
            let status = response.status();
            Some((status, response.text().await.unwrap_or_default()))
        }
        Err(_) => None,
    };
    (asked.elapsed(), answer)
}

#[tokio::test]
async fn a_part_header_or_preamble_that_never_ends_is_refused_after_a_few_kib() {
    let app = spawn_app().await;
    let (seller, [], lot) = app.scene(&auction_body(600)).await;
    let cookie = format!("gavel_session={}", seller.token);
    let endless_header =
        b"--b\r\nContent-Disposition: form-data; name=\"images\"; filename=\"a.jpg\"\r\nX-Pad: ";
    let forty_mib = 40 << 20;
    let api = format!("/api/v1/auctions/{}/images", lot.id);
    let cases = [
        ("a header on the API", api.clone(), &endless_header[..]),
        ("a header on /sell", "/sell".to_owned(), &endless_header[..]),
        ("a preamble on the API", api, &b""[..]),
        ("a preamble on /sell", "/sell".to_owned(), &b""[..]),
    ];
    for (case, path, head) in cases {
        let request = app
            .http
            .post(app.url(&path))
            .bearer_auth(&seller.token)
            .header(reqwest::header::COOKIE, &cookie)
            .header("content-type", "multipart/form-data; boundary=b")
            .body(endless_body(head, forty_mib));
        let (took, answer) = timed(request).await;
        let (status, body) = answer.unwrap_or_else(|| panic!("{case}: no answer in {took:?}"));
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{case}: {body}");
        assert!(took < PROMPT, "{case}: answered after {took:?}");
        if path.starts_with("/api") {
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"]["code"], "payload_too_large", "{case}: {body}");
        } else {
            assert!(body.contains("16 KiB"), "{case}: {body}");
        }
    }
    // Nothing of them is held: a photo goes in at once afterwards.
    let photo = png_with(64, 48, &black_rows(64, 48));
    let status = upload(
        &app.http,
        &app.address,
        &lot.id.to_string(),
        &seller.token,
        vec![photo],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_bidders_sell_form_is_refused_before_its_body_is_read() {
    let app = spawn_app().await;
    let (_, [bidder], _) = app.scene(&auction_body(600)).await;
    // A body that never comes: only a refusal that reads none of it answers.
    let request = app
        .http
        .post(app.url("/sell"))
        .header(
            reqwest::header::COOKIE,
            format!("gavel_session={}", bidder.token),
        )
        .header("content-type", "multipart/form-data; boundary=b")
        .body(endless_body(b"--b\r\n", 0));
    let (took, answer) = timed(request).await;
    let (status, page) = answer.unwrap_or_else(|| panic!("no answer in {took:?}"));
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("Selling needs a seller account"), "{page}");
    assert!(took < PROMPT, "answered after {took:?}");
}

#[tokio::test]
async fn a_sell_form_with_photos_goes_through_the_watch_and_its_refusals_carry_their_status() {
    let app = spawn_app().await;
    let seller = app.user("seller").await;
    let cookie = format!("gavel_session={}", seller.token);
    let page = app
        .http
        .get(app.url("/sell"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = crate::helpers::form_token(&page);
    let photo = || {
        reqwest::multipart::Part::bytes(png_with(64, 48, &black_rows(64, 48))).file_name("p.png")
    };
    let form = |price: &str| {
        reqwest::multipart::Form::new()
            .text("csrf", token.clone())
            .text("key", uuid::Uuid::new_v4().to_string())
            .text("title", "Stool")
            .text("description", "Three legs.")
            .text("currency", "NGN")
            .text("starting_price", price.to_owned())
            .text("ends_in_minutes", "600")
    };
    let post = |form: reqwest::multipart::Form| {
        app.http
            .post(app.url("/sell"))
            .header(reqwest::header::COOKIE, &cookie)
            .multipart(form)
            .send()
    };

    // Refusals answer the form again, with their status.
    let response = post(form("a lot").part("images", photo())).await.unwrap();
    let status = response.status();
    let page = response.text().await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Starting price"), "{page}");
    let not_a_picture = reqwest::multipart::Part::bytes(b"text".to_vec()).file_name("p.png");
    let response = post(form("5000").part("images", not_a_picture))
        .await
        .unwrap();
    let status = response.status();
    let page = response.text().await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("not a JPEG"), "{page}");

    // Two photos and the form around them: the lot, with both.
    let response = post(form("5000").part("images", photo()).part("images", photo()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let lot = response.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .trim_start_matches("/auctions/")
        .to_owned();
    let stored = app
        .count(&format!(
            "SELECT count(*) FROM auction_images WHERE auction_id = '{lot}'"
        ))
        .await;
    assert_eq!(stored, 2);
}

#[tokio::test]
async fn a_multipart_boundary_longer_than_the_rfc_allows_is_refused_unread() {
    let app = spawn_app().await;
    let (seller, [_bidder], lot) = app.scene(&auction_body(600)).await;
    let boundary = "b".repeat(71);
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"images\"; filename=\"a.png\"\r\n\r\nx\r\n--{boundary}--\r\n"
    );
    let response = app
        .http
        .post(app.url(&format!("/api/v1/auctions/{}/images", lot.id)))
        .bearer_auth(&seller.token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_boundary", "{body}");
}

//! Reading a live stream (SSE) the way a browser does.

use std::collections::HashMap;

use futures::StreamExt;

use super::*;

/// A minimal SSE reader over a streaming response.
pub struct EventStream {
    chunks: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

#[derive(Debug)]
pub struct SseEvent {
    pub id: i64,
    pub kind: String,
    pub data: Value,
}

impl EventStream {
    /// The auction's live stream on `app`'s API.
    pub async fn open(app: &TestApp, auction_id: &str, last_event_id: Option<i64>) -> Self {
        Self::open_at(&app.http, &app.address, auction_id, last_event_id).await
    }

    /// The auction's live stream on the API at `address` (another replica).
    pub async fn open_at(
        http: &reqwest::Client,
        address: &str,
        auction_id: &str,
        last_event_id: Option<i64>,
    ) -> Self {
        let mut request = http.get(format!("{address}/api/v1/auctions/{auction_id}/events"));
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            chunks: response
                .bytes_stream()
                .map(|r| r.map(|b| b.to_vec()))
                .boxed(),
            buffer: String::new(),
        }
    }

    pub async fn next(&mut self) -> SseEvent {
        self.try_next().await.expect("the stream stays open")
    }

    /// The next event, or `None` when the server ended the stream.
    pub async fn try_next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut fields: HashMap<&str, String> = HashMap::new();
                for line in block.lines() {
                    if let Some((name, value)) = line.split_once(':') {
                        fields.insert(name, value.trim_start().to_owned());
                    }
                }
                if let (Some(id), Some(kind), Some(data)) =
                    (fields.get("id"), fields.get("event"), fields.get("data"))
                {
                    return Some(SseEvent {
                        id: id.parse().unwrap(),
                        kind: kind.clone(),
                        data: serde_json::from_str(data).unwrap(),
                    });
                }
                continue; // a keep-alive comment
            }
            // Longer than the keep-alive (15 s) and the backstop (15 s).
            let chunk = tokio::time::timeout(Duration::from_secs(40), self.chunks.next())
                .await
                .expect("a chunk within 40 s")?
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

//! Talking to the API over HTTP: requests, sign-up and log-in, and checks
//! of a response's status and error code.

use super::*;

/// A registered user and their token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub handle: String,
    pub token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.http.request(method, self.url(path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        self.send_json(Method::POST, path, body, token).await
    }

    /// A `PUT` with no body (watching a lot names it in the path).
    pub async fn put(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::PUT, path, token).send().await.unwrap()
    }

    pub async fn put_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        self.send_json(Method::PUT, path, body, token).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::DELETE, path, token)
            .send()
            .await
            .unwrap()
    }

    /// A `DELETE` that carries a body (deleting an account sends its password).
    pub async fn delete_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        self.send_json(Method::DELETE, path, body, token).await
    }

    async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> Response {
        self.request(method, path, token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, email: &str, password: &str, name: &str, role: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({ "email": email, "password": password, "name": name, "role": role }),
            None,
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({ "email": email, "password": password }),
            None,
        )
        .await
    }

    /// Marks the account with `email` verified through the database (tests
    /// of verification itself follow the emailed link instead).
    pub async fn mark_verified(&self, email: &str) {
        sqlx::query("UPDATE users SET email_verified_at = now() WHERE lower(email) = lower($1)")
            .bind(email)
            .execute(&self.db)
            .await
            .unwrap();
    }

    pub async fn me(&self, token: &str) -> Response {
        self.get("/api/v1/auth/me", Some(token)).await
    }

    /// Registers a user with [`PASSWORD`] and a unique email, its address
    /// verified (as if the emailed link was followed), so it bids and sells.
    pub async fn user(&self, role: &str) -> TestUser {
        let email = format!("{role}-{}@example.com", uuid::Uuid::new_v4().simple());
        let response = self.register(&email, PASSWORD, "Test User", role).await;
        let body: AuthResponse = expect_json(response, StatusCode::CREATED).await;
        self.mark_verified(&email).await;
        TestUser {
            id: body.user.id.to_string(),
            handle: body.user.handle,
            email,
            token: body.token,
        }
    }
}
/// Asserts a command succeeded and returns its standard output.
pub fn succeeded(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the status and reads the body as the API's own response type
/// `T` (a body that does not fit the type fails the test).
pub async fn expect_json<T: DeserializeOwned>(response: Response, status: StatusCode) -> T {
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|err| {
        panic!(
            "the body is not a {}: {err}; body: {text}",
            type_name::<T>()
        )
    })
}

/// Asserts the status and returns the body as JSON, for checks of the raw
/// shape (a field that must be absent, a header-only answer).
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// What a bid is answered: its verdict, or the error it was refused with.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum BidAnswer {
    Accepted(BidResponse),
    Refused(ErrorBody),
}

impl BidAnswer {
    /// The refusal's code; `None` for an accepted bid.
    pub fn refusal(&self) -> Option<&str> {
        match self {
            BidAnswer::Accepted(_) => None,
            BidAnswer::Refused(body) => Some(&body.error.code),
        }
    }
}

/// Asserts an error response: status, stable code, and the one error shape.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> ErrorBody {
    let body: ErrorBody = expect_json(response, status).await;
    assert_eq!(body.error.code, code, "body: {body:?}");
    body
}

/// The `Set-Cookie` value of cookie `name` in `response`, if it sets one.
pub fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c[name.len() + 1..].split(';').next().unwrap().to_owned())
}

/// The CSRF token a page's forms carry (bound to the viewer's session).
pub fn form_token(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

//! The console's cookie session: the desk's own session token (from password login) in an
//! `HttpOnly`, `SameSite=Strict` cookie, and a per-session CSRF token derived from it that every
//! form carries (so a form posted from elsewhere is refused even where SameSite is not honoured).

use axum::http::header::{self, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

pub const COOKIE_NAME: &str = "fxdesk_session";

/// The session token from the `Cookie` header, if any.
pub fn token_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|token| !token.is_empty() && token.len() <= 200)
}

/// `Set-Cookie` for a new session lasting `max_age_s`.
pub fn set_cookie(token: &str, max_age_s: i64) -> HeaderValue {
    let text = format!(
        "{COOKIE_NAME}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_s}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("fxdesk_session=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The CSRF token of a session: a hash of the session token (which only its holder knows).
pub fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::digest(format!("fxdesk-console-csrf:{session_token}").as_bytes());
    hex::encode(&digest[..16])
}

/// Compares in time independent of where the first difference is.
pub fn csrf_ok(session_token: &str, presented: &str) -> bool {
    let expected = csrf_token(session_token);
    expected.len() == presented.len()
        && expected
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; fxdesk_session=tok123; b=2"),
        );
        assert_eq!(token_from(&headers).as_deref(), Some("tok123"));
        assert!(csrf_ok("tok123", &csrf_token("tok123")));
        assert!(!csrf_ok("tok123", &csrf_token("tok124")));
        assert!(!csrf_ok("tok123", ""));
    }
}

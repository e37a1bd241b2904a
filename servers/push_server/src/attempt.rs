//! What one request to a provider came to, and the time helpers the JWT caches share.

use std::time::{SystemTime, UNIX_EPOCH};

/// The result of one request to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Accepted by the provider.
    Delivered,
    /// The provider says the token will never work again: clear it.
    TokenDead(String),
    /// Worth another try after a back-off (429, 5xx, a connection or credential failure).
    Retry(String),
    /// Refused for good.
    Failed(String),
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The first characters of a provider's answer, for a log line.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(200).collect()
}

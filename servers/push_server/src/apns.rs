//! APNs provider API over HTTP/2 with token-based authentication (PROTOCOL §11.1).
//!
//! Each request is `POST /3/device/<token>` with an ES256 JWT (`kid` = key id, `iss` = team
//! id, `iat`) signed with the `.p8` key; the JWT is reused for [`JWT_REFRESH_SECS`] (Apple
//! refuses one older than an hour and throttles refreshing more often than every 20 min) and
//! replaced at once when Apple calls it expired or invalid. Normal pushes are `alert`
//! (priority 10, sound), silent ones `background` (priority 5, `content-available`). No
//! `apns-collapse-id` is sent: every chat message is its own notification, and background
//! pushes are never shown.

use std::fmt;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use log::debug;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::attempt::{Attempt, excerpt, unix_now};
use crate::config::ApnsConfig;
use crate::push::Push;

/// Sound played for normal pushes, as the original's.
pub const SOUND: &str = "bingbong.aiff";
/// Largest payload APNs accepts for a notification.
pub const MAX_PAYLOAD: usize = 4096;
/// Apple may drop an undelivered notification after this long.
pub const EXPIRATION_SECS: u64 = 3600;
/// A provider JWT is replaced after this long (Apple's limit is one hour).
pub const JWT_REFRESH_SECS: u64 = 50 * 60;

/// Why APNs cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ApnsError {
    /// The `.p8` key file cannot be read.
    #[error("cannot read the APNs key {path}")]
    KeyFile {
        /// The file named by `ApnsKeyPath`.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file is not a PKCS#8 P-256 key.
    #[error("the APNs key {path} is not a PKCS#8 EC key")]
    Key {
        /// The file named by `ApnsKeyPath`.
        path: String,
    },
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

/// The cached provider JWT and when it was issued.
#[derive(Default)]
struct CachedJwt {
    token: String,
    issued: u64,
}

/// An APNs client: endpoint, topic and the signing key.
pub(crate) struct Apns {
    client: reqwest::Client,
    base_url: String,
    topic: String,
    key_id: String,
    team_id: String,
    key: EncodingKey,
    jwt: Mutex<CachedJwt>,
}

impl fmt::Debug for Apns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key and the JWT stay out of logs.
        f.debug_struct("Apns")
            .field("base_url", &self.base_url)
            .field("topic", &self.topic)
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .finish_non_exhaustive()
    }
}

/// APNs' error body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    reason: String,
}

impl Apns {
    /// Reads the key named in `config`.
    pub(crate) fn new(
        config: &ApnsConfig,
        base_url: String,
        client: reqwest::Client,
    ) -> Result<Self, ApnsError> {
        let key = load_key(&config.key_path)?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            topic: config.topic.clone(),
            key_id: config.key_id.clone(),
            team_id: config.team_id.clone(),
            key,
            jwt: Mutex::new(CachedJwt::default()),
        })
    }

    /// The provider JWT, signed anew when the cached one is too old or `renew` is set.
    fn jwt(&self, renew: bool) -> Result<String, jsonwebtoken::errors::Error> {
        let now = unix_now();
        let mut cached = self.jwt.lock().unwrap_or_else(PoisonError::into_inner);
        if renew || cached.token.is_empty() || now >= cached.issued + JWT_REFRESH_SECS {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some(self.key_id.clone());
            let claims = Claims {
                iss: &self.team_id,
                iat: now,
            };
            cached.token = jsonwebtoken::encode(&header, &claims, &self.key)?;
            cached.issued = now;
        }
        Ok(cached.token.clone())
    }

    /// Sends one notification.
    pub(crate) async fn send(&self, push: &Push) -> Attempt {
        let body = payload(push).to_string();
        if body.len() > MAX_PAYLOAD {
            return Attempt::Failed(format!("payload of {} bytes", body.len()));
        }
        let jwt = match self.jwt(false) {
            Ok(jwt) => jwt,
            Err(e) => return Attempt::Failed(format!("cannot sign the JWT: {e}")),
        };
        let (push_type, priority) = if push.silent {
            ("background", "5")
        } else {
            ("alert", "10")
        };
        let request = self
            .client
            .post(format!("{}/3/device/{}", self.base_url, push.token))
            .header("authorization", format!("bearer {jwt}"))
            .header("apns-topic", &self.topic)
            .header("apns-push-type", push_type)
            .header("apns-priority", priority)
            .header(
                "apns-expiration",
                (unix_now() + EXPIRATION_SECS).to_string(),
            )
            .header("content-type", "application/json")
            .body(body);
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(format!("request failed: {e}")),
        };
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        let reason = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.reason)
            .unwrap_or_default();
        debug!("apns answered: status={status} reason={reason}");
        match (status, reason.as_str()) {
            (200, _) => Attempt::Delivered,
            (410, _) | (400, "BadDeviceToken") | (_, "Unregistered") => {
                Attempt::TokenDead(format!("{status} {reason}"))
            }
            (403, "ExpiredProviderToken" | "InvalidProviderToken") => {
                // Sign a new one for the retry.
                if let Err(e) = self.jwt(true) {
                    return Attempt::Failed(format!("cannot sign the JWT: {e}"));
                }
                Attempt::Retry(format!("{status} {reason}"))
            }
            (429 | 500..=599, _) => Attempt::Retry(format!("{status} {reason}")),
            _ => Attempt::Failed(format!("{status} {}", excerpt(&bytes))),
        }
    }
}

/// Reads a `.p8` key (PKCS#8 PEM).
fn load_key(path: &Path) -> Result<EncodingKey, ApnsError> {
    let pem = std::fs::read(path).map_err(|source| ApnsError::KeyFile {
        path: path.display().to_string(),
        source,
    })?;
    EncodingKey::from_ec_pem(&pem).map_err(|_| ApnsError::Key {
        path: path.display().to_string(),
    })
}

/// The JSON payload: `aps` {`alert` {`body`}, `badge`, `sound`} for a normal push, `aps`
/// {`badge`, `content-available`} for a silent one, and msg_server's data as `custom`.
pub fn payload(push: &Push) -> serde_json::Value {
    let aps = if push.silent {
        json!({ "badge": push.badge, "content-available": 1 })
    } else {
        json!({
            "alert": { "body": &*push.flash },
            "badge": push.badge,
            "sound": SOUND,
        })
    };
    json!({ "aps": aps, "custom": &*push.data })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::push::Provider;

    fn push(silent: bool) -> Push {
        Push {
            provider: Provider::Apns,
            user_id: 7,
            token: "ab".repeat(32),
            flash: Arc::from("tt1:hi \"you\""),
            data: Arc::from("{\"from_id\":12}"),
            badge: 3,
            silent,
        }
    }

    #[test]
    fn normal_payload_has_alert_badge_and_sound() {
        assert_eq!(
            payload(&push(false)),
            json!({
                "aps": {"alert": {"body": "tt1:hi \"you\""}, "badge": 3, "sound": "bingbong.aiff"},
                "custom": "{\"from_id\":12}",
            })
        );
    }

    #[test]
    fn silent_payload_has_badge_and_content_available_only() {
        assert_eq!(
            payload(&push(true)),
            json!({"aps": {"badge": 3, "content-available": 1}, "custom": "{\"from_id\":12}"})
        );
    }
}

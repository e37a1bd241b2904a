//! FCM HTTP v1 (PROTOCOL §11.1): `POST /v1/projects/<project>/messages:send` with an OAuth2
//! access token obtained from the service account's `token_uri` by an RS256 JWT assertion
//! (scope `firebase.messaging`), cached until a minute before it expires.
//!
//! A normal push carries a `notification` (the alert text) and `data` (`custom`, `badge`),
//! with Android priority high, the default sound and the badge as notification count; a silent
//! push is a data-only message at normal priority.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use log::debug;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;

use crate::attempt::{Attempt, excerpt, unix_now};
use crate::push::Push;

/// OAuth2 scope of the FCM send API.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// An access token is replaced this long before Google's `expires_in` runs out.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// Lifetime asked for in the JWT assertion (Google's maximum).
const ASSERTION_SECS: u64 = 3600;

/// Why FCM cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum FcmError {
    /// The service-account file cannot be read.
    #[error("cannot read the FCM service account {path}")]
    File {
        /// The file named by `FcmServiceAccountPath`.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a service-account JSON with a usable RSA key.
    #[error("the FCM service account {path} is not usable: {reason}")]
    Invalid {
        /// The file named by `FcmServiceAccountPath`.
        path: String,
        /// What is wrong (never the key itself).
        reason: String,
    },
}

/// The fields used from a Google service-account JSON file.
#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: String,
    token_uri: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

/// FCM's error body: `error.status` and, in `error.details`, the FCM `errorCode`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorInfo,
}

#[derive(Deserialize, Default)]
struct ErrorInfo {
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "errorCode", default)]
    error_code: String,
}

/// A cached access token.
struct AccessToken {
    token: String,
    valid_until: Instant,
}

/// An FCM client for one project.
pub(crate) struct Fcm {
    client: reqwest::Client,
    send_url: String,
    token_uri: String,
    client_email: String,
    key: EncodingKey,
    access: Mutex<Option<AccessToken>>,
}

impl fmt::Debug for Fcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key and the access token stay out of logs.
        f.debug_struct("Fcm")
            .field("send_url", &self.send_url)
            .field("token_uri", &self.token_uri)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl Fcm {
    /// Reads the service account; `base_url` is the FCM host, `token_uri` overrides the file's.
    pub(crate) fn new(
        account_path: &Path,
        base_url: &str,
        token_uri: Option<&str>,
        client: reqwest::Client,
    ) -> Result<Self, FcmError> {
        let path = account_path.display().to_string();
        let text = std::fs::read(account_path).map_err(|source| FcmError::File {
            path: path.clone(),
            source,
        })?;
        let account: ServiceAccount =
            serde_json::from_slice(&text).map_err(|e| FcmError::Invalid {
                path: path.clone(),
                reason: json_error(&e),
            })?;
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes()).map_err(|_| {
            FcmError::Invalid {
                path: path.clone(),
                reason: "private_key is not an RSA PEM key".to_owned(),
            }
        })?;
        Ok(Self {
            client,
            send_url: format!(
                "{}/v1/projects/{}/messages:send",
                base_url.trim_end_matches('/'),
                account.project_id
            ),
            token_uri: token_uri.map_or(account.token_uri, str::to_owned),
            client_email: account.client_email,
            key,
            access: Mutex::new(None),
        })
    }

    /// A valid access token: the cached one, or a new one from the token endpoint.
    async fn access_token(&self) -> Result<String, String> {
        let mut access = self.access.lock().await;
        if let Some(a) = access.as_ref().filter(|a| Instant::now() < a.valid_until) {
            return Ok(a.token.clone());
        }
        let now = unix_now();
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat: now,
            exp: now + ASSERTION_SECS,
        };
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| format!("cannot sign the assertion: {e}"))?;
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        );
        let response = self
            .client
            .post(&self.token_uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| format!("token request failed: {e}"))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        if status != 200 {
            return Err(format!("token endpoint answered {status}"));
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| format!("token endpoint answer not understood: {e}"))?;
        let lifetime = Duration::from_secs(answer.expires_in).saturating_sub(TOKEN_MARGIN);
        *access = Some(AccessToken {
            token: answer.access_token.clone(),
            valid_until: Instant::now() + lifetime,
        });
        debug!(
            "fcm access token renewed: valid_for={}s",
            lifetime.as_secs()
        );
        Ok(answer.access_token)
    }

    /// Sends one message.
    pub(crate) async fn send(&self, push: &Push) -> Attempt {
        let token = match self.access_token().await {
            Ok(t) => t,
            Err(e) => return Attempt::Retry(e),
        };
        let response = match self
            .client
            .post(&self.send_url)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(message(push).to_string())
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(format!("request failed: {e}")),
        };
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        if status == 200 {
            return Attempt::Delivered;
        }
        let error = serde_json::from_slice::<ErrorBody>(&bytes)
            .unwrap_or_default()
            .error;
        let code = error
            .details
            .iter()
            .map(|d| d.error_code.as_str())
            .find(|c| !c.is_empty())
            .unwrap_or(error.status.as_str());
        debug!("fcm answered: status={status} code={code}");
        match (status, code) {
            (_, "UNREGISTERED" | "INVALID_ARGUMENT") => {
                Attempt::TokenDead(format!("{status} {code}"))
            }
            (401, _) => {
                // The access token was revoked or expired early: fetch a new one.
                *self.access.lock().await = None;
                Attempt::Retry(format!("{status} {code}"))
            }
            (429 | 500..=599, _) => Attempt::Retry(format!("{status} {code}")),
            _ => Attempt::Failed(format!("{status} {}", excerpt(&bytes))),
        }
    }
}

/// What is wrong with the service-account file, without quoting it: serde_json's message for
/// a value of the wrong type would include the value, which may be the key.
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("missing field") {
        text
    } else {
        format!(
            "not a service-account JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    }
}

/// The v1 message for `push`.
pub fn message(push: &Push) -> serde_json::Value {
    let data = json!({ "custom": &*push.data, "badge": push.badge.to_string() });
    let message = if push.silent {
        json!({
            "token": push.token,
            "data": data,
            "android": { "priority": "normal" },
        })
    } else {
        json!({
            "token": push.token,
            "notification": { "body": &*push.flash },
            "data": data,
            "android": {
                "priority": "high",
                "notification": { "sound": "default", "notification_count": push.badge },
            },
        })
    };
    json!({ "message": message })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::push::Provider;

    fn push(silent: bool) -> Push {
        Push {
            provider: Provider::Fcm,
            user_id: 7,
            token: "fcm-token:1".to_owned(),
            flash: Arc::from("hi"),
            data: Arc::from("{}"),
            badge: 2,
            silent,
        }
    }

    #[test]
    fn normal_message_has_notification_data_and_high_priority() {
        let m = message(&push(false));
        assert_eq!(m["message"]["token"], "fcm-token:1");
        assert_eq!(m["message"]["notification"]["body"], "hi");
        assert_eq!(m["message"]["data"]["badge"], "2");
        assert_eq!(m["message"]["data"]["custom"], "{}");
        assert_eq!(m["message"]["android"]["priority"], "high");
        assert_eq!(
            m["message"]["android"]["notification"]["notification_count"],
            2
        );
    }

    #[test]
    fn unusable_service_accounts_are_refused_without_quoting_the_key() {
        let dir = std::env::temp_dir().join(format!("fcm-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let client = crate::http_client::build(None).unwrap();
        let fields = r#""project_id": "p", "client_email": "e", "token_uri": "https://t""#;
        for (name, text, expect) in [
            (
                "typed.json",
                format!("{{{fields}, \"private_key\": 424242}}"),
                "line 1",
            ),
            (
                "missing.json",
                format!("{{{fields}}}"),
                "missing field `private_key`",
            ),
            (
                "notrsa.json",
                format!("{{{fields}, \"private_key\": \"SECRET\"}}"),
                "not an RSA",
            ),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            let err = Fcm::new(&path, "https://h", None, client.clone()).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(expect), "{shown}");
            assert!(
                !shown.contains("424242") && !shown.contains("SECRET"),
                "{shown}"
            );
        }
        assert!(matches!(
            Fcm::new(&dir.join("absent.json"), "https://h", None, client),
            Err(FcmError::File { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn silent_message_is_data_only() {
        let m = message(&push(true));
        assert!(m["message"].get("notification").is_none());
        assert_eq!(m["message"]["android"]["priority"], "normal");
        assert_eq!(m["message"]["data"]["badge"], "2");
    }
}

//! The APNs legacy binary protocol as the original speaks it (PROTOCOL §11.1): the payload
//! JSON, the command-2 frame, and the pluggable sender frames are handed to.
//!
//! Frame: command byte 2, u32 big-endian length of the items, then items `{id u8, len u16 BE,
//! data}`: 1 device token (32 bytes from 64 hex characters), 2 payload (at most 256 bytes),
//! 3 notification id (u32 BE), 4 expiration (u32 BE), 5 priority (1 byte).
//!
//! Delivery needs TLS with the client certificate to Apple, which this build does not include:
//! [`DropSender`], the default, logs each frame and drops it (after warning once at start-up
//! whether the certificate files are missing). A deployment that can reach Apple plugs in its
//! own [`ApnsSender`] through `Server::bind_with_sender`.

use std::fmt;

use log::{debug, warn};

use crate::config::Config;

/// Largest payload APNs accepts on this protocol.
pub const MAX_PAYLOAD: usize = 256;
/// Priority item value: send immediately.
pub const PRIORITY_IMMEDIATELY: u8 = 10;
/// Sound played for normal pushes.
const SOUND: &str = "bingbong.aiff";

/// Why a frame could not be built (the push result is then 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The token is not 64 hexadecimal characters.
    #[error("device token is not 64 hex characters")]
    BadToken,
    /// The payload is empty or longer than 256 bytes.
    #[error("payload of {0} bytes does not fit")]
    PayloadSize(usize),
}

/// Builds the payload JSON: `aps` {`alert` {`body`}, `badge`, `sound`} for normal pushes,
/// `aps` {`badge`} only for silent ones, and `custom`, in jsonxx's layout (keys sorted, tab
/// indentation, `": "`, the last comma of each level replaced by a space).
pub fn payload(flash: &str, custom: &str, badge: u32, sound: bool) -> String {
    let mut aps = String::new();
    if sound {
        let alert = if flash.is_empty() {
            "\t\t\"alert\": {\n\t\t},\n".to_owned()
        } else {
            format!(
                "\t\t\"alert\": {{\n\t\t\t\"body\": \"{}\" \n\t\t}},\n",
                escape(flash)
            )
        };
        aps.push_str(&alert);
        aps.push_str(&format!(
            "\t\t\"badge\": {badge},\n\t\t\"sound\": \"{SOUND}\" \n"
        ));
    } else {
        aps.push_str(&format!("\t\t\"badge\": {badge} \n"));
    }
    format!(
        "{{\n\t\"aps\": {{\n{aps}\t}},\n\t\"custom\": \"{}\" \n}} \n",
        escape(custom)
    )
}

/// jsonxx string escaping: control characters as `\u00xx` (or their short forms), `"`, `\`
/// and `/` backslashed, everything else (including UTF-8) as is.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Decodes a 64-character hex device token.
fn token_bytes(token: &str) -> Result<[u8; 32], FrameError> {
    let hex = token.as_bytes();
    if hex.len() != 64 {
        return Err(FrameError::BadToken);
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(FrameError::BadToken),
    };
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(out)
}

/// One notification for the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification<'a> {
    /// Device token, 64 hex characters.
    pub token: &'a str,
    /// Payload JSON.
    pub payload: &'a str,
    /// Per-session notification counter.
    pub id: u32,
    /// Unix time after which Apple may drop it.
    pub expiration: u32,
    /// Delivery priority.
    pub priority: u8,
}

impl Notification<'_> {
    /// The command-2 frame.
    pub fn frame(&self) -> Result<Vec<u8>, FrameError> {
        let token = token_bytes(self.token)?;
        let payload = self.payload.as_bytes();
        if payload.is_empty() || payload.len() > MAX_PAYLOAD {
            return Err(FrameError::PayloadSize(payload.len()));
        }
        let mut items = Vec::with_capacity(3 * 5 + 32 + payload.len() + 4 + 4 + 1);
        let mut item = |id: u8, data: &[u8]| {
            items.push(id);
            let len = u16::try_from(data.len()).expect("items are at most 256 bytes");
            items.extend_from_slice(&len.to_be_bytes());
            items.extend_from_slice(data);
        };
        item(1, &token);
        item(2, payload);
        item(3, &self.id.to_be_bytes());
        item(4, &self.expiration.to_be_bytes());
        item(5, &[self.priority]);
        let mut frame = Vec::with_capacity(5 + items.len());
        frame.push(2);
        let len = u32::try_from(items.len()).expect("a frame is a few hundred bytes");
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&items);
        Ok(frame)
    }
}

/// Where built frames go: the connection to Apple's gateway in a full deployment.
pub trait ApnsSender: Send + 'static {
    /// Hands one frame to the gateway. Delivery problems are the sender's to log and retry;
    /// the push result reported to msg_server was decided when the frame was built, as in the
    /// original.
    fn send(&mut self, frame: &[u8]);
}

/// The default sender: there is no TLS client in this build, so every frame is logged and
/// dropped.
pub struct DropSender {
    dropped: u64,
}

impl DropSender {
    /// A sender for `config`; warns once about why pushes will not reach Apple.
    pub fn new(config: &Config) -> Self {
        let missing: Vec<String> = [&config.cert_path, &config.key_path]
            .into_iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if missing.is_empty() {
            warn!(
                "apns delivery needs a tls sender, pushes are dropped: gateway={}",
                config.gateway()
            );
        } else {
            warn!(
                "apns certificates missing, pushes are dropped: missing={}",
                missing.join(",")
            );
        }
        Self { dropped: 0 }
    }
}

impl fmt::Debug for DropSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropSender")
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl ApnsSender for DropSender {
    fn send(&mut self, frame: &[u8]) {
        self.dropped += 1;
        debug!(
            "apns frame dropped: bytes={} dropped={}",
            frame.len(),
            self.dropped
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "00112233445566778899aabbccddeeffFFEEDDCCBBAA99887766554433221100";
    const DATA: &str = "{\n\t\"from_id\": 12,\n\t\"msg_type\": 1 \n} \n";

    #[test]
    fn normal_payload_has_alert_badge_and_sound_in_jsonxx_layout() {
        assert_eq!(
            payload("tt1:hi \"you\"", DATA, 3, true),
            "{\n\t\"aps\": {\n\t\t\"alert\": {\n\t\t\t\"body\": \"tt1:hi \\\"you\\\"\" \n\t\t},\n\
             \t\t\"badge\": 3,\n\t\t\"sound\": \"bingbong.aiff\" \n\t},\n\
             \t\"custom\": \"{\\n\\t\\\"from_id\\\": 12,\\n\\t\\\"msg_type\\\": 1 \\n} \\n\" \n} \n"
        );
    }

    #[test]
    fn silent_payload_has_only_the_badge() {
        assert_eq!(
            payload("ignored", "c", 0, false),
            "{\n\t\"aps\": {\n\t\t\"badge\": 0 \n\t},\n\t\"custom\": \"c\" \n} \n"
        );
        assert!(payload("", "c", 1, true).contains("\t\t\"alert\": {\n\t\t},\n"));
    }

    #[test]
    fn escaping_follows_jsonxx() {
        assert_eq!(
            escape("a/b\\c\u{1}\u{1f}\t你好"),
            "a\\/b\\\\c\\u0001\\u001f\\t你好"
        );
    }

    #[test]
    fn frame_layout_is_command_2_with_five_items() {
        let payload = payload("hi", "d", 1, true);
        let frame = Notification {
            token: TOKEN,
            payload: &payload,
            id: 0x0102_0304,
            expiration: 0x5566_7788,
            priority: PRIORITY_IMMEDIATELY,
        }
        .frame()
        .unwrap();
        let items_len = 3 + 32 + 3 + payload.len() + 3 + 4 + 3 + 4 + 3 + 1;
        assert_eq!(frame[0], 2);
        assert_eq!(&frame[1..5], &(items_len as u32).to_be_bytes());
        assert_eq!(frame.len(), 5 + items_len);
        assert_eq!(&frame[5..8], &[1, 0, 32]);
        assert_eq!(&frame[8..12], &[0x00, 0x11, 0x22, 0x33]);
        assert_eq!(&frame[36..40], &[0x33, 0x22, 0x11, 0x00]);
        let p = 40;
        assert_eq!(frame[p], 2);
        assert_eq!(&frame[p + 1..p + 3], &(payload.len() as u16).to_be_bytes());
        assert_eq!(&frame[p + 3..p + 3 + payload.len()], payload.as_bytes());
        let rest = &frame[p + 3 + payload.len()..];
        assert_eq!(
            rest,
            &[
                3, 0, 4, 1, 2, 3, 4, 4, 0, 4, 0x55, 0x66, 0x77, 0x88, 5, 0, 1, 10
            ]
        );
    }

    #[test]
    fn bad_tokens_and_oversized_payloads_are_refused() {
        let ok = payload("x", "y", 1, true);
        let frame = |token: &str, payload: &str| {
            Notification {
                token,
                payload,
                id: 1,
                expiration: 1,
                priority: 10,
            }
            .frame()
        };
        assert_eq!(frame(&TOKEN[..62], &ok), Err(FrameError::BadToken));
        assert_eq!(frame(&format!("{TOKEN}00"), &ok), Err(FrameError::BadToken));
        let not_hex = TOKEN.replace('a', "g");
        assert_eq!(frame(&not_hex, &ok), Err(FrameError::BadToken));
        let long = payload(&"x".repeat(300), "y", 1, true);
        assert_eq!(
            frame(TOKEN, &long),
            Err(FrameError::PayloadSize(long.len()))
        );
        assert_eq!(frame(TOKEN, ""), Err(FrameError::PayloadSize(0)));
        assert!(frame(TOKEN, &ok).is_ok());
    }
}

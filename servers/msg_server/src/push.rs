//! The text of push notifications (BEHAVIOUR §4 steps 2–4, PROTOCOL §11.2): the `flash` line
//! shown on the phone and the `data` JSON handed to the app.
//!
//! Pure functions; the push round itself (tokens, presence, sending) is in
//! `handler::push_round`. Message text never reaches a log from here.

use teamtalk_proto::pb::base_define::MsgType;

/// Marks the start of an image URL embedded in message text.
const IMAGE_START: &str = "&$#@~^@[{:";
/// Marks the end of an image URL embedded in message text.
const IMAGE_END: &str = ":}]&$~@#@";
/// Shown when the text cannot be shown (images, unknown sender): "you received a message".
pub(crate) const GENERIC_FLASH: &str = "您收到了一条消息";
/// Longest flash kept before `...` is appended, in bytes (the original's 40 − 3).
const FLASH_MAX_BYTES: usize = 37;

/// Whether `msg_type` is a group message type.
pub(crate) fn is_group(msg_type: i32) -> bool {
    msg_type == MsgType::GroupText as i32 || msg_type == MsgType::GroupAudio as i32
}

/// Whether `msg_type` carries encrypted text (as opposed to audio).
pub(crate) fn is_text(msg_type: i32) -> bool {
    msg_type == MsgType::SingleText as i32 || msg_type == MsgType::GroupText as i32
}

/// The notification line for a message. `plain` is the decrypted text (text types only);
/// `sender_nick` is the sender's nick if the sender is logged in on this msg_server.
pub(crate) fn flash(msg_type: i32, plain: &str, sender_nick: Option<&str>) -> String {
    // The original compares the first start marker with the *first* end marker anywhere in
    // the text, so an end marker before the image does not count as an image.
    if let (Some(start), Some(end)) = (plain.find(IMAGE_START), plain.find(IMAGE_END)) {
        if start < end {
            return GENERIC_FLASH.to_owned();
        }
    }
    let Some(nick) = sender_nick else {
        return GENERIC_FLASH.to_owned();
    };
    let mut text = if msg_type == MsgType::GroupAudio as i32 {
        format!("{nick}在群聊中发送了一条语音消息")
    } else if msg_type == MsgType::SingleAudio as i32 {
        format!("{nick}给您发送了一条语音消息")
    } else {
        format!("{nick}:{plain}")
    };
    if text.len() > FLASH_MAX_BYTES {
        // Cut on a character boundary so the alert stays valid UTF-8 (KNOWN_DEFECTS D-PUSH-1).
        let mut cut = FLASH_MAX_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// The `data` JSON in the original's jsonxx layout: keys sorted, tab indentation, `": "`
/// between key and value, and the last comma of each level replaced by a space.
pub(crate) fn data_json(from_id: u32, msg_type: i32, to_session_id: u32) -> String {
    if is_group(msg_type) {
        format!(
            "{{\n\t\"from_id\": {from_id},\n\t\"group_id\": {to_session_id},\n\t\"msg_type\": \
             {msg_type} \n}} \n"
        )
    } else {
        format!("{{\n\t\"from_id\": {from_id},\n\t\"msg_type\": {msg_type} \n}} \n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_json_matches_the_documented_layout() {
        assert_eq!(
            data_json(12, 1, 99),
            "{\n\t\"from_id\": 12,\n\t\"msg_type\": 1 \n} \n"
        );
        assert_eq!(
            data_json(12, 17, 5),
            "{\n\t\"from_id\": 12,\n\t\"group_id\": 5,\n\t\"msg_type\": 17 \n} \n"
        );
    }

    #[test]
    fn flash_shows_nick_and_text_for_a_known_sender() {
        assert_eq!(flash(1, "hi", Some("bob")), "bob:hi");
        assert_eq!(flash(1, "hi", None), GENERIC_FLASH);
        assert_eq!(flash(2, "", Some("bob")), "bob给您发送了一条语音消息");
        // 1 + 39 bytes: over the limit; 1 + 12 characters of 3 bytes fit in 37.
        assert_eq!(flash(18, "", Some("b")), "b在群聊中发送了一条语音消...");
    }

    #[test]
    fn images_give_the_generic_text_only_when_both_markers_are_in_order() {
        let img = format!("look {IMAGE_START}http://x/a.png{IMAGE_END}");
        assert_eq!(flash(1, &img, Some("bob")), GENERIC_FLASH);
        let reversed = format!("{IMAGE_END} then {IMAGE_START}");
        assert!(flash(1, &reversed, Some("bob")).starts_with("bob:"));
        // Only the first end marker counts: one before the image hides it, as in the original.
        let stray_end = format!("{IMAGE_END} {IMAGE_START}http://x/a.png{IMAGE_END}");
        assert!(flash(1, &stray_end, Some("bob")).starts_with("bob:"));
    }

    #[test]
    fn long_flash_is_cut_on_a_character_boundary() {
        let ascii = flash(1, &"a".repeat(60), Some("n"));
        assert_eq!(ascii.len(), FLASH_MAX_BYTES + 3);
        assert!(ascii.ends_with("..."));
        // "n:" is 2 bytes, then 3-byte characters: 35 bytes remain, so 11 characters fit.
        let cjk = flash(1, &"语".repeat(20), Some("n"));
        assert_eq!(cjk, format!("n:{}...", "语".repeat(11)));
        let exact = flash(1, &"a".repeat(35), Some("n"));
        assert_eq!(exact.len(), 37);
        assert!(!exact.ends_with("..."));
    }
}

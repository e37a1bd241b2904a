//! Password hashing and message-text encryption as TeamTalk clients and servers do them
//! (PROTOCOL §7.1, §7.2).
//!
//! * Clients send `md5_hex(plaintext password)`; the database keeps
//!   `md5_hex(md5_hex(plain) ‖ salt)` ([`salted_password`]), and db_proxy checks a login by
//!   computing [`salt_client_hash`] over what the client sent.
//! * Text messages (`msg_type` 0x01 and 0x11) carry `base64(AES-256-ECB(block(plain)))`, where
//!   `block` zero-pads the plaintext to whole 16-byte blocks and stores its length as a big-endian
//!   `u32` in the last four bytes, adding a block when the remainder leaves no room
//!   ([`encrypt_text`], [`decrypt_text`]).
//!
//! Part of the protocol crate because clients, msg_server (push text) and db_proxy (the audio
//! placeholder) all need the same rule; it is pure computation. Decryption never panics: any
//! malformed input is a [`CryptoError`].

use aes::Aes256;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use md5::{Digest, Md5};

/// The AES key of the sample configuration and of the official clients.
pub const DEFAULT_AES_KEY: &[u8; 32] = b"12345678901234567890123456789012";

const BLOCK: usize = 16;
const LEN_FIELD: usize = 4;

/// Lenient decoder for the text path: padding is stripped before decoding, and the last
/// character's unused bits are not checked (the original decoder ignores them too).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Why a ciphertext could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The text is not valid base64 (a byte outside the alphabet, or an impossible length).
    #[error("ciphertext is not valid base64")]
    Base64,
    /// The decoded ciphertext is empty or not a whole number of 16-byte blocks.
    #[error("ciphertext length {0} is not a non-zero multiple of 16")]
    BadLength(usize),
    /// The length stored in the last four bytes does not fit in the buffer.
    #[error("embedded plaintext length {length} exceeds the {capacity} bytes available")]
    BadEmbeddedLength {
        /// Length read from the last four plaintext bytes.
        length: u32,
        /// Bytes available in front of the length field.
        capacity: usize,
    },
}

/// Lowercase hex MD5 of `data`: what a client sends as its password (PROTOCOL §7.1).
pub fn md5_hex(data: impl AsRef<[u8]>) -> String {
    format!("{:x}", Md5::digest(data.as_ref()))
}

/// The value stored in `IMUser.password` for a plaintext password and salt:
/// `md5_hex(md5_hex(plain) ‖ salt)`.
pub fn salted_password(plain: &str, salt: &str) -> String {
    salt_client_hash(&md5_hex(plain), salt)
}

/// What db_proxy compares with `IMUser.password`: `md5_hex(client_hash ‖ salt)`, where
/// `client_hash` is the password field of the login request.
pub fn salt_client_hash(client_hash: &str, salt: &str) -> String {
    let mut input = String::with_capacity(client_hash.len() + salt.len());
    input.push_str(client_hash);
    input.push_str(salt);
    md5_hex(input)
}

/// Encrypts message text as clients do: length-suffixed block layout, AES-256-ECB with `key`,
/// standard base64 with padding. Returns the ASCII text that goes into `msg_data`.
pub fn encrypt_text(plain: impl AsRef<[u8]>, key: &[u8; 32]) -> String {
    let plain = plain.as_ref();
    let n = plain.len();
    let rem = n % BLOCK;
    let mut blocks = n.div_ceil(BLOCK);
    if rem == 0 || rem > BLOCK - LEN_FIELD {
        blocks += 1;
    }
    let mut buf = vec![0u8; blocks * BLOCK];
    buf[..n].copy_from_slice(plain);
    // Texts beyond 4 GiB cannot occur in a PDU (capped far lower); saturate rather than wrap.
    let len = u32::try_from(n).unwrap_or(u32::MAX);
    let at = buf.len() - LEN_FIELD;
    buf[at..].copy_from_slice(&len.to_be_bytes());

    let cipher = Aes256::new(GenericArray::from_slice(key));
    for block in buf.chunks_exact_mut(BLOCK) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    STANDARD.encode(&buf)
}

/// Decrypts `msg_data` of a text message. Whitespace and `=` in the base64 text are skipped; any
/// other byte outside the alphabet is an error, as are lengths that are not whole blocks and an
/// embedded length that would reach into the length field itself.
pub fn decrypt_text(cipher_text: impl AsRef<[u8]>, key: &[u8; 32]) -> Result<Vec<u8>, CryptoError> {
    let compact: Vec<u8> = cipher_text
        .as_ref()
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    let mut buf = LENIENT_BASE64
        .decode(&compact)
        .map_err(|_| CryptoError::Base64)?;
    if buf.is_empty() || buf.len() % BLOCK != 0 {
        return Err(CryptoError::BadLength(buf.len()));
    }

    let cipher = Aes256::new(GenericArray::from_slice(key));
    for block in buf.chunks_exact_mut(BLOCK) {
        cipher.decrypt_block(GenericArray::from_mut_slice(block));
    }
    let at = buf.len() - LEN_FIELD;
    let length = u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    // The original only checks `length <= total`; anything past `at` would be the length field.
    if length as usize > at {
        return Err(CryptoError::BadEmbeddedLength {
            length,
            capacity: at,
        });
    }
    buf.truncate(length as usize);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_password_hash_matches_the_documented_vector() {
        assert_eq!(md5_hex("test123"), "cc03e747a6afbbcbf8be7668acfebee5");
    }

    #[test]
    fn salted_password_matches_the_documented_vector() {
        assert_eq!(
            salted_password("test123", "1234"),
            "4e66e8c029d64e67f7aadf045ca45851"
        );
        assert_eq!(
            salt_client_hash("cc03e747a6afbbcbf8be7668acfebee5", "1234"),
            "4e66e8c029d64e67f7aadf045ca45851"
        );
    }

    #[test]
    fn encryption_matches_the_documented_vectors() {
        let vectors: [(&str, &str); 3] = [
            ("hello", "nnZSBwfPCz60q69ddmfIJA=="),
            (
                "0123456789abcdef",
                "BY1wZOT9JPljcE5qNjw9cQfU6OB7fpsvZh6GP3dYB9g=",
            ),
            ("[语音]", "QhGXlpFjvMFUNrtl1aaPzA=="),
        ];
        for (plain, cipher) in vectors {
            assert_eq!(encrypt_text(plain, DEFAULT_AES_KEY), cipher, "{plain}");
            assert_eq!(
                decrypt_text(cipher, DEFAULT_AES_KEY).unwrap(),
                plain.as_bytes(),
                "{cipher}"
            );
        }
    }

    #[test]
    fn block_count_follows_the_padding_rule() {
        // r in 1..=12 fits the length field in the last block; r == 0 or r > 12 adds one.
        for (n, blocks) in [
            (0, 1),
            (1, 1),
            (12, 1),
            (13, 2),
            (16, 2),
            (28, 2),
            (29, 3),
            (32, 3),
        ] {
            let text = encrypt_text(vec![b'x'; n], DEFAULT_AES_KEY);
            let raw = STANDARD.decode(&text).unwrap();
            assert_eq!(raw.len(), blocks * BLOCK, "n={n}");
        }
    }

    #[test]
    fn round_trips_every_length_up_to_a_few_blocks() {
        let key = [7u8; 32];
        for n in 0..70 {
            let plain: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            let cipher = encrypt_text(&plain, &key);
            assert_eq!(decrypt_text(&cipher, &key).unwrap(), plain, "n={n}");
        }
    }

    #[test]
    fn whitespace_and_padding_are_skipped() {
        let plain = decrypt_text(" nnZSBwfP\r\nCz60q69d\tdmfIJA", DEFAULT_AES_KEY).unwrap();
        assert_eq!(plain, b"hello");
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert_eq!(
            decrypt_text("nnZSBwfP*z60q69ddmfIJA==", DEFAULT_AES_KEY),
            Err(CryptoError::Base64)
        );
        assert_eq!(
            decrypt_text("", DEFAULT_AES_KEY),
            Err(CryptoError::BadLength(0))
        );
        assert_eq!(
            decrypt_text("aGVsbG8=", DEFAULT_AES_KEY),
            Err(CryptoError::BadLength(5))
        );
        // One whole block decrypted with the wrong key: the embedded length is noise.
        let wrong_key = [1u8; 32];
        assert!(matches!(
            decrypt_text("nnZSBwfPCz60q69ddmfIJA==", &wrong_key),
            Err(CryptoError::BadEmbeddedLength { .. }) | Ok(_)
        ));
        // Decrypting every short byte string must never panic.
        for len in 0..40usize {
            let junk: Vec<u8> = (0..len).map(|i| (i * 91 % 256) as u8).collect();
            let _ = decrypt_text(&junk, DEFAULT_AES_KEY);
            let _ = decrypt_text(STANDARD.encode(&junk), DEFAULT_AES_KEY);
        }
    }

    #[test]
    fn embedded_length_reaching_the_length_field_is_rejected() {
        // Build a block whose plaintext length field says 13 (> 16 - 4).
        let mut block = [0u8; BLOCK];
        block[12..].copy_from_slice(&13u32.to_be_bytes());
        let cipher = Aes256::new(GenericArray::from_slice(DEFAULT_AES_KEY));
        cipher.encrypt_block(GenericArray::from_mut_slice(&mut block));
        assert_eq!(
            decrypt_text(STANDARD.encode(block), DEFAULT_AES_KEY),
            Err(CryptoError::BadEmbeddedLength {
                length: 13,
                capacity: 12
            })
        );
    }
}

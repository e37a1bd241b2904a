//! The two pieces of TeamTalk cryptography db_proxy_server needs (PROTOCOL §7): the salted
//! password hash checked at login and set at registration, and AES-256-ECB text encryption for
//! the `[语音]` placeholder shown for audio messages. Kept here, instead of borrowed from the
//! client library, so the storage tier builds on its own.

use aes::Aes256;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};

const BLOCK: usize = 16;
const LEN_FIELD: usize = 4;

/// Lowercase hex MD5 of `data` (what a client sends as its password).
pub fn md5_hex(data: impl AsRef<[u8]>) -> String {
    format!("{:x}", Md5::digest(data.as_ref()))
}

/// The value kept in `IMUser.password` for what a client sends (`client_hash`) and a salt:
/// `md5hex(client_hash ‖ salt)`.
pub fn salt_client_hash(client_hash: &str, salt: &str) -> String {
    md5_hex(format!("{client_hash}{salt}"))
}

/// Encrypts text as the clients do: zero-padded 16-byte blocks with the plaintext length as a
/// big-endian u32 in the last 4 bytes (one more block when the remainder leaves no room),
/// AES-256-ECB, standard base64.
pub fn encrypt_text(plain: impl AsRef<[u8]>, key: &[u8; 32]) -> String {
    let plain = plain.as_ref();
    let n = plain.len();
    let mut blocks = n.div_ceil(BLOCK);
    let rem = n % BLOCK;
    if rem == 0 || rem > BLOCK - LEN_FIELD {
        blocks += 1;
    }
    let mut buf = vec![0u8; blocks * BLOCK];
    buf[..n].copy_from_slice(plain);
    let at = buf.len() - LEN_FIELD;
    buf[at..].copy_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
    let cipher = Aes256::new(GenericArray::from_slice(key));
    for block in buf.chunks_exact_mut(BLOCK) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    STANDARD.encode(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8; 32] = b"12345678901234567890123456789012";

    #[test]
    fn documented_password_vector() {
        let client = md5_hex("test123");
        assert_eq!(client, "cc03e747a6afbbcbf8be7668acfebee5");
        assert_eq!(
            salt_client_hash(&client, "1234"),
            "4e66e8c029d64e67f7aadf045ca45851"
        );
    }

    #[test]
    fn documented_text_vectors() {
        assert_eq!(encrypt_text("hello", KEY), "nnZSBwfPCz60q69ddmfIJA==");
        assert_eq!(
            encrypt_text("0123456789abcdef", KEY),
            "BY1wZOT9JPljcE5qNjw9cQfU6OB7fpsvZh6GP3dYB9g="
        );
        assert_eq!(encrypt_text("[语音]", KEY), "QhGXlpFjvMFUNrtl1aaPzA==");
    }
}

//! Helpers for tests that talk to a server's port directly, below the client library.

use std::io::{ErrorKind, Read};

/// Reads and drops whatever `stream` yields until the server ends the connection (EOF, a
/// reset, or — on a TLS stream — an alert surfacing as an error); `false` when it is still
/// open when a read times out (the caller sets the socket's read timeout).
pub fn closed_by_peer(stream: &mut impl Read) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

//! Bytes on a logged-in client connection of an in-process msg_server, through its real reactor
//! and dispatch: the post-login surface. The first byte picks the client type (PC or mobile);
//! the rest follows a successful login. Back ends are a stand-in that validates every login and
//! answers nothing else, so forwarded requests end at msg_server's request deadline. Nothing may
//! panic, hang the loop, or break a back-end link (the stand-in panics on an unframeable PDU, and
//! a later login failing shows a lost link).

#![no_main]

use libfuzzer_sys::fuzz_target;
use teamtalk_fuzz::harness::{msg_server_with_backends, session_exchange};

fuzz_target!(|data: &[u8]| {
    session_exchange(msg_server_with_backends(), data);
});

//! Bytes on a client connection of an in-process msg_server, through its real reactor and
//! dispatch. Back ends are down (closed ports), so only the pre-login surface is reachable:
//! HEARTBEAT, LOGIN (answered "no db server"), TIME and REGIST; everything else must be
//! ignored, and nothing may panic or hang the loop.

#![no_main]

use libfuzzer_sys::fuzz_target;
use teamtalk_fuzz::harness::{exchange, msg_server};

fuzz_target!(|data: &[u8]| {
    exchange(msg_server(), data);
});

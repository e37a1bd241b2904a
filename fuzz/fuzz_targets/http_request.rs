//! netlib's HTTP request parser (login_server, http_msg_server): a complete request reports how
//! many bytes it used, and the same request parses from exactly those bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netlib::http::Request;

fuzz_target!(|data: &[u8]| {
    let Ok(Some((request, used))) = Request::parse(data) else {
        return;
    };
    assert!(used <= data.len());
    let _ = request.header("content-length");
    let _ = request.header("Host");
    match Request::parse(&data[..used]) {
        Ok(Some((again, used_again))) => {
            assert_eq!(used_again, used);
            assert_eq!(again.body, request.body);
            assert_eq!(again.target, request.target);
        }
        other => panic!("a parsed request does not parse from its own bytes: {other:?}"),
    }
});

//! http_msg_server's request decision: the JSON body read the jsoncpp way and the `/query/`
//! dispatch, with and without an app key and caller allow-list.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netlib::Conf;

const TARGETS: [&str; 4] = [
    "/query/CreateGroup",
    "/query/ChangeMembers",
    "/query/Other",
    "/elsewhere",
];

fn configs() -> &'static [http_msg_server::Config; 2] {
    static CONFIGS: OnceLock<[http_msg_server::Config; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        // Back ends on a closed port: only the decision is under test.
        let base = "ListenIP=127.0.0.1\nListenPort=0\nDBServerIP1=127.0.0.1\nDBServerPort1=1\n\
                    DBServerIP2=127.0.0.1\nDBServerPort2=1\nRouteServerIP1=127.0.0.1\n\
                    RouteServerPort1=1\n";
        let open = Conf::parse(base);
        let strict = Conf::parse(&format!("{base}AppKey=secret\nAllowIP=127.0.0.1\n"));
        [
            http_msg_server::Config::from_conf(&open).expect("valid conf"),
            http_msg_server::Config::from_conf(&strict).expect("valid conf"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    // First byte: which target, which config, whether db_proxy is up, whether the caller is
    // allowed, the kick interface; the rest is the body.
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    // Bit 5: teamtalk-rs's own interface instead.
    let target = if selector & 32 == 0 {
        TARGETS[usize::from(selector & 3)]
    } else {
        "/query/KickUser"
    };
    let config = &configs()[usize::from(selector >> 2 & 1)];
    let db_available = selector & 8 == 0;
    let peer = (selector & 16 == 0).then_some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let _ = http_msg_server::query::handle(target, body, peer, config, db_available);
    if let Some(root) = http_msg_server::json::parse_document(body) {
        let _ = http_msg_server::json::as_uint(&root);
        let _ = http_msg_server::json::as_string(&root);
        let _ = http_msg_server::json::size(&root);
        let _ = http_msg_server::json::element(&root, 0);
    }
});

//! The `*.conf` reader over arbitrary text, then every server's typed config on the result:
//! a bad conf is a `ConfError`, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netlib::Conf;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let conf = Conf::parse(&text);
    let _ = login_server::Config::from_conf(&conf);
    let _ = route_server::Config::from_conf(&conf);
    let _ = db_proxy_server::Config::from_conf(&conf);
    let _ = msg_server::Config::from_conf(&conf);
    let _ = file_server::Config::from_conf(&conf);
    let _ = msfs::Config::from_conf(&conf);
    let _ = http_msg_server::Config::from_conf(&conf);
    let _ = push_server::Config::from_conf(&conf);
});

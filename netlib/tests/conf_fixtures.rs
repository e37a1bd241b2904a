//! The original sample confs (kept verbatim as fixtures) parse to exactly the pairs the original
//! reader sees: inline `#` comments after tabs and spaces, UTF-8 comments, commented-out keys,
//! empty values, keys the code never reads.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use netlib::Conf;

#[path = "fixtures/expected.rs"]
mod expected;

fn fixture(name: &str) -> Conf {
    Conf::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

#[test]
fn every_original_sample_conf_parses_to_the_original_pairs() {
    assert_eq!(expected::EXPECTED.len(), 16);
    for (name, pairs) in expected::EXPECTED {
        let conf = fixture(name);
        let want: BTreeMap<&str, &str> = pairs.iter().copied().collect();
        for (key, value) in &want {
            assert_eq!(conf.get(key), Some(*value), "{name}: {key}");
        }
        // Nothing beyond the expected keys: compare against every `key=` candidate in the file.
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name),
        )
        .unwrap();
        for line in text.lines() {
            if let Some((key, _)) = line.split_once('=') {
                let key = key.trim_matches([' ', '\t']);
                if !want.contains_key(key) {
                    assert_eq!(conf.get(key), None, "{name}: unexpected key {key}");
                }
            }
        }
    }
}

#[test]
fn quirks_of_the_samples() {
    let db = fixture("auto_setup_dbproxyserver.conf");
    assert_eq!(db.require_num::<u32>("ThreadNum").unwrap(), 48);
    assert_eq!(
        db.require_names("CacheInstances").unwrap(),
        ["unread", "group_set", "token", "sync", "group_member"]
    );
    let msg = fixture("auto_setup_msgserver.conf");
    assert_eq!(msg.get("IpAddr1"), Some("127.0.0.1"));
    assert_eq!(msg.server_list("LoginServer").unwrap().len(), 1);
    assert_eq!(msg.server_list("DBServer").unwrap().len(), 2);
    let login = fixture("auto_setup_loginserver.conf");
    assert_eq!(
        login.require_list("MsgServerListenIP").unwrap(),
        ["0.0.0.0"]
    );
    // An empty value is a missing key, so the in-tree msfs example does not start.
    let msfs = fixture("server_src_msfs.conf.example");
    assert!(msfs.require("BaseDir").is_err());
    // The auto_setup file_server conf uses keys the code never reads.
    let fs = fixture("auto_setup_fileserver.conf");
    assert!(fs.require("ClientListenIP").is_err());
    assert_eq!(fs.get("Address"), Some("0.0.0.0"));
    let push = fixture("auto_setup_pushserver.conf");
    assert_eq!(push.get("SandBox"), Some("0"));
}

//! Logging set-up: `log` macros everywhere, `env_logger` initialised once by each binary's main
//! (level from `RUST_LOG`, `info` by default) or by the testkit.

/// Initialises logging for a server binary.
pub fn init() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
}

/// Initialises logging for tests; repeated calls are harmless.
pub fn init_for_tests() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .is_test(true)
        .try_init();
}

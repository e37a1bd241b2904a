//! Process conventions shared by every server binary (CONFIG.md §1): the `-v` flag, the
//! `server.pid` file in the working directory.

use std::io;
use std::path::Path;

/// Build time in the C `__DATE__ __TIME__` form (`Mar 24 2015 17:32:10`), set by build.rs.
pub const BUILD_TIME: &str = env!("TT_BUILD_TIME");

/// If the only argument is `-v`, the text the original prints (`version` is e.g.
/// `Some("LoginServer/1.0")`; msg_server prints only the build line).
pub fn version_text(args: &[String], version: Option<&str>) -> Option<String> {
    if args.len() != 2 || args[1] != "-v" {
        return None;
    }
    let build = format!("Server Build: {BUILD_TIME}");
    Some(match version {
        Some(v) => format!("Server Version: {v}\n{build}"),
        None => build,
    })
}

/// Writes `server.pid` (the decimal pid, no trailing newline) into `dir`.
pub fn write_pid_file(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("server.pid"), std::process::id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_only_for_a_single_dash_v() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let text = version_text(&args(&["x", "-v"]), Some("RouteServer/1.0")).unwrap();
        assert!(text.starts_with("Server Version: RouteServer/1.0\nServer Build: "));
        assert!(version_text(&args(&["x", "-v", "y"]), None).is_none());
        assert!(version_text(&args(&["x"]), None).is_none());
        assert!(
            version_text(&args(&["x", "-v"]), None)
                .unwrap()
                .starts_with("Server Build: ")
        );
    }

    #[test]
    fn pid_file_has_no_newline() {
        let dir = std::env::temp_dir().join(format!("netlib-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_pid_file(&dir).unwrap();
        let text = std::fs::read_to_string(dir.join("server.pid")).unwrap();
        assert_eq!(text, std::process::id().to_string());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Command-line parsing for `tt` (clap derive): global options (accepted before or after the
//! subcommand), one subcommand with its own options, and the help texts.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tt_client::pb::base_define::ClientType;
use tt_client::{ClientTransport, TlsOptions};

/// Default login_server discovery URL.
pub(crate) const DEFAULT_LOGIN_URL: &str = "http://127.0.0.1:8080/msg_server";

const EXIT_CODES: &str = "\
EXIT CODES:
    0   success
    1   usage error (bad or missing arguments)
    2   connection error (login_server or msg_server unreachable, connection lost, kicked)
    3   login refused (wrong password or unknown user, server-side failure)
    4   request failed (no answer in time, bad answer, or the server reported a failure)
    5   no such user or group (or you are not a member of the group)

USER is a user id or a login name (alice); GROUP_ID is a group id.";

pub(crate) const CHAT_HELP: &str = "\
Reads lines from standard input. Plain text is sent to the current target.
    /to USER           talk to a user (id or login name)
    /group GROUP_ID    talk to a group
    /unread            show unread counters
    /read              mark the conversation with the current target read
    /history [N]       show the last N messages with the current target
    /users             list all users
    /groups            list your groups
    /status USER...    show online status
    /help              show this help
    /quit              leave (so does end of input)
Incoming messages are printed as they arrive: [sender] text.";

/// `tt`: TeamTalk command line client.
#[derive(Debug, Parser)]
#[command(
    name = "tt",
    version,
    about = "tt - TeamTalk command line client",
    after_help = EXIT_CODES
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options shared by every subcommand.
#[derive(Clone, Args)]
pub(crate) struct Global {
    /// login_server discovery URL
    #[arg(long, global = true, value_name = "URL", default_value = DEFAULT_LOGIN_URL)]
    pub(crate) login_url: String,
    /// connect to this msg_server directly (skip discovery)
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub(crate) server: Option<String>,
    /// user name
    #[arg(long, global = true, value_name = "NAME", env = "TT_USER")]
    pub(crate) user: Option<String>,
    /// password
    #[arg(
        long,
        global = true,
        value_name = "PASSWORD",
        env = "TT_PASSWORD",
        hide_env_values = true
    )]
    pub(crate) password: Option<String>,
    /// client type to log in as
    #[arg(long, global = true, value_enum, value_name = "TYPE", default_value_t = Kind::Pc)]
    pub(crate) client_type: Kind,
    /// connect and request timeout, seconds
    #[arg(long, global = true, value_name = "SECONDS", default_value = "10",
          value_parser = parse_timeout)]
    pub(crate) timeout: Duration,
    /// 32-character message encryption key [default: the sample key]
    #[arg(long, global = true, value_name = "KEY", value_parser = parse_aes_key)]
    pub(crate) aes_key: Option<[u8; 32]>,
    /// connect over TLS (with discovery: to the msg_server's advertised TLS port)
    #[arg(long, global = true)]
    pub(crate) tls: bool,
    /// connect over WebSocket (with --tls: WebSocket over TLS)
    #[arg(long, global = true)]
    pub(crate) ws: bool,
    /// WebSocket request path (with discovery the advertised one is used)
    #[arg(long, global = true, value_name = "PATH", default_value = "/ws")]
    pub(crate) ws_path: String,
    /// PEM file of the CA to trust for TLS [default: the public web roots]
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
    /// name the server's TLS certificate must carry [default: the address connected to]
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) tls_name: Option<String>,
    /// log protocol traffic to stderr
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
}

impl Global {
    /// The transport the options ask for.
    pub(crate) fn transport(&self) -> ClientTransport {
        ClientTransport {
            tls: self.tls.then(|| TlsOptions {
                ca_file: self.ca.clone(),
                server_name: self.tls_name.clone(),
            }),
            ws_path: self.ws.then(|| self.ws_path.clone()),
        }
    }
}

impl fmt::Debug for Global {
    // Keep the password and key out of any debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Global")
            .field("login_url", &self.login_url)
            .field("server", &self.server)
            .field("user", &self.user)
            .field("client_type", &self.client_type)
            .field("timeout", &self.timeout)
            .field("transport", &self.transport())
            .field("verbose", &self.verbose)
            .finish_non_exhaustive()
    }
}

/// The client types `--client-type` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// Windows PC client
    #[value(alias = "windows")]
    Pc,
    /// Mac client
    Mac,
    /// iPhone client
    Ios,
    /// Android client
    Android,
}

impl Kind {
    /// The protocol's client type.
    pub(crate) fn client_type(self) -> ClientType {
        match self {
            Self::Pc => ClientType::Windows,
            Self::Mac => ClientType::Mac,
            Self::Ios => ClientType::Ios,
            Self::Android => ClientType::Android,
        }
    }
}

/// The subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub(crate) enum Command {
    /// log in and print your user details
    #[command(after_help = "Exits 0 when the login succeeds, 3 with the reason when refused.")]
    Login,
    /// send a text message to a user or a group; prints the message id
    #[command(after_help = "The words of TEXT are joined with spaces. \
                            Use -- before a text starting with '-'.")]
    Send {
        #[command(flatten)]
        target: SendTarget,
        /// the message
        #[arg(required = true, allow_negative_numbers = true, value_name = "TEXT")]
        text: Vec<String>,
    },
    /// show unread message counters per session
    Unread,
    /// mark a conversation read up to its newest message
    Read {
        #[command(flatten)]
        target: WithTarget,
    },
    /// show recent messages of a conversation, oldest first
    History {
        #[command(flatten)]
        target: WithTarget,
        /// number of messages
        #[arg(long, value_name = "N", default_value_t = 20,
              value_parser = clap::value_parser!(u32).range(1..))]
        count: u32,
    },
    /// list all users (id, nick, login name, department)
    Users,
    /// list your groups with their members
    Groups,
    /// show users' online status (online, offline, leave)
    Status {
        /// user ids or login names
        #[arg(required = true, value_name = "USER")]
        users: Vec<UserRef>,
    },
    /// print incoming messages until Ctrl-C or SECONDS have passed
    #[command(after_help = "Received messages are acknowledged as the official clients do.")]
    Listen {
        /// stop after this many seconds (then exit 0)
        #[arg(long = "for", value_name = "SECONDS", value_parser = parse_duration)]
        duration: Option<Duration>,
    },
    /// interactive mode (type /help inside)
    #[command(after_help = CHAT_HELP)]
    Chat,
    /// print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_help = "e.g. tt completions bash > /etc/bash_completion.d/tt")]
    Completions {
        /// the shell
        shell: clap_complete::Shell,
    },
}

/// `--to USER` or `--group GROUP_ID`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct SendTarget {
    /// the user (id or login name)
    #[arg(long, value_name = "USER")]
    to: Option<UserRef>,
    /// the group
    #[arg(long, value_name = "GROUP_ID", value_parser = parse_id)]
    group: Option<u32>,
}

/// `--with USER` or `--group GROUP_ID`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct WithTarget {
    /// the user (id or login name)
    #[arg(long, value_name = "USER")]
    with: Option<UserRef>,
    /// the group
    #[arg(long, value_name = "GROUP_ID", value_parser = parse_id)]
    group: Option<u32>,
}

/// Who a message or query is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A user, by id or name.
    User(UserRef),
    /// A group id.
    Group(u32),
}

impl SendTarget {
    /// The chosen target (clap guarantees exactly one).
    pub(crate) fn target(&self) -> Target {
        match (&self.to, self.group) {
            (Some(u), _) => Target::User(u.clone()),
            (None, g) => Target::Group(g.unwrap_or_default()),
        }
    }
}

impl WithTarget {
    /// The chosen target (clap guarantees exactly one).
    pub(crate) fn target(&self) -> Target {
        match (&self.with, self.group) {
            (Some(u), _) => Target::User(u.clone()),
            (None, g) => Target::Group(g.unwrap_or_default()),
        }
    }
}

/// A user as given on the command line: an id, or a login name looked up on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserRef {
    /// A user id.
    Id(u32),
    /// A login name (`IMUser.name`).
    Name(String),
}

impl FromStr for UserRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("expected a user id or login name".to_owned());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return parse_id(s).map(Self::Id);
        }
        Ok(Self::Name(s.to_owned()))
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// Parses a user or group id (a positive 32-bit number).
pub(crate) fn parse_id(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .ok()
        .filter(|id| *id != 0)
        .ok_or_else(|| format!("invalid id {s:?}: expected a positive number"))
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v < 1e6)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("invalid timeout {s:?}: expected seconds"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("invalid duration {s:?}: expected seconds"))
}

fn parse_aes_key(s: &str) -> Result<[u8; 32], String> {
    s.as_bytes()
        .try_into()
        .map_err(|_| format!("expected 32 bytes, got {}", s.len()))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn run(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tt").chain(args.iter().copied()))
    }

    fn command(args: &[&str]) -> Command {
        run(args).unwrap().command
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = run(&[
            "--user",
            "alice",
            "send",
            "--to",
            "2",
            "--password=pw",
            "hello",
            "world",
            "--client-type",
            "android",
        ])
        .unwrap();
        assert_eq!(cli.global.user.as_deref(), Some("alice"));
        assert_eq!(cli.global.password.as_deref(), Some("pw"));
        assert_eq!(cli.global.client_type, Kind::Android);
        let Command::Send { target, text } = cli.command else {
            panic!("not send");
        };
        assert_eq!(target.target(), Target::User(UserRef::Id(2)));
        assert_eq!(text.join(" "), "hello world");
    }

    #[test]
    fn subcommands_parse() {
        assert_eq!(command(&["login"]), Command::Login);
        let Command::Send { target, text } = command(&["send", "--group", "5", "--", "-1 is"])
        else {
            panic!("not send");
        };
        assert_eq!(
            (target.target(), text.join(" ")),
            (Target::Group(5), "-1 is".into())
        );
        let Command::History { target, count } = command(&["history", "--with", "bob"]) else {
            panic!("not history");
        };
        assert_eq!(
            (target.target(), count),
            (Target::User(UserRef::Name("bob".into())), 20)
        );
        let Command::Read { target } = command(&["read", "--group", "3"]) else {
            panic!("not read");
        };
        assert_eq!(target.target(), Target::Group(3));
        assert_eq!(
            command(&["status", "1", "carol"]),
            Command::Status {
                users: vec![UserRef::Id(1), UserRef::Name("carol".into())]
            }
        );
        assert_eq!(
            command(&["listen", "--for", "1.5"]),
            Command::Listen {
                duration: Some(Duration::from_millis(1500))
            }
        );
        assert_eq!(
            command(&["completions", "bash"]),
            Command::Completions {
                shell: clap_complete::Shell::Bash
            }
        );
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &[][..],
            &["frobnicate"],
            &["send", "hello"],
            &["send", "--to", "0", "hi"],
            &["send", "--to", "1"],
            &["send", "--to", "1", "--group", "2", "hi"],
            &["history"],
            &["history", "--with", "1", "--count", "0"],
            &["status"],
            &["login", "extra"],
            &["login", "--to", "1"],
            &["--client-type", "fax", "login"],
            &["--timeout", "-1", "login"],
            &["--aes-key", "short", "login"],
            &["--bogus", "login"],
            &["login", "--user"],
            &["completions", "tcsh"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
    }
}

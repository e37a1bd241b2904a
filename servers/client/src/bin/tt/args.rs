//! Command-line parsing for `tt`: global options (accepted before or after the subcommand),
//! one subcommand with its own options, and the help texts.

use std::time::Duration;

use tt_client::pb::base_define::ClientType;

/// Default login_server discovery URL.
pub(crate) const DEFAULT_LOGIN_URL: &str = "http://127.0.0.1:8080/msg_server";
/// Default number of messages `tt history` shows.
const DEFAULT_HISTORY_COUNT: u32 = 20;

pub(crate) const MAIN_HELP: &str = "\
tt - TeamTalk command line client

USAGE:
    tt [OPTIONS] <COMMAND> [ARGS]

COMMANDS:
    login                     log in and print your user details
    send --to USER_ID TEXT    send a text message to a user
    send --group GROUP_ID TEXT
                              send a text message to a group
    unread                    show unread message counters
    history --with USER_ID [--count N]
                              show recent messages with a user (or --group GROUP_ID)
    users                     list all users
    groups                    list your groups
    status USER_ID...         show users' online status
    listen [--for SECONDS]    print incoming messages until Ctrl-C or SECONDS have passed
    chat                      interactive mode (type /help inside)
    help [COMMAND]            show this help or a command's help

OPTIONS:
    --login-url URL           login_server discovery URL [default: http://127.0.0.1:8080/msg_server]
    --server HOST:PORT        connect to this msg_server directly (skip discovery)
    --user NAME               user name (or env TT_USER)
    --password PASSWORD       password (or env TT_PASSWORD)
    --client-type TYPE        pc, mac, ios or android [default: pc]
    --timeout SECONDS         connect and request timeout [default: 10]
    --aes-key KEY             32-character message encryption key [default: the sample key]
    -v, --verbose             log protocol traffic to stderr
    -h, --help                show help (also after a command: tt send --help)

EXIT CODES:
    0   success
    1   usage error (bad or missing arguments)
    2   connection error (login_server or msg_server unreachable, connection lost, kicked)
    3   login refused (wrong password or unknown user, server-side failure)
    4   request failed (no answer in time, bad answer, or the server reported a failure)
";

const LOGIN_HELP: &str = "\
tt login - log in and print your user details

USAGE:
    tt [OPTIONS] login

Exits 0 when the login succeeds, 3 with the reason when it is refused.
Global options: see tt --help.
";

const SEND_HELP: &str = "\
tt send - send a text message

USAGE:
    tt [OPTIONS] send --to USER_ID TEXT...
    tt [OPTIONS] send --group GROUP_ID TEXT...

The words of TEXT are joined with spaces. Use -- before a text starting with '-'.
Prints the message id the server assigned.
";

const UNREAD_HELP: &str = "\
tt unread - show unread message counters per session

USAGE:
    tt [OPTIONS] unread
";

const HISTORY_HELP: &str = "\
tt history - show recent messages of a conversation, oldest first

USAGE:
    tt [OPTIONS] history --with USER_ID [--count N]
    tt [OPTIONS] history --group GROUP_ID [--count N]

OPTIONS:
    --count N    number of messages [default: 20]
";

const USERS_HELP: &str = "\
tt users - list all users (id, nick, real name, department)

USAGE:
    tt [OPTIONS] users
";

const GROUPS_HELP: &str = "\
tt groups - list your groups with their members

USAGE:
    tt [OPTIONS] groups
";

const STATUS_HELP: &str = "\
tt status - show users' online status (online, offline, leave)

USAGE:
    tt [OPTIONS] status USER_ID...
";

const LISTEN_HELP: &str = "\
tt listen - print incoming messages as [sender] text

USAGE:
    tt [OPTIONS] listen [--for SECONDS]

Runs until Ctrl-C, or until SECONDS have passed (then exits 0).
Received messages are acknowledged as the official clients do.
";

pub(crate) const CHAT_HELP: &str = "\
tt chat - interactive mode

USAGE:
    tt [OPTIONS] chat

Reads lines from standard input. Plain text is sent to the current target.
    /to USER_ID        talk to a user
    /group GROUP_ID    talk to a group
    /unread            show unread counters
    /history [N]       show the last N messages with the current target
    /users             list all users
    /groups            list your groups
    /status USER_ID... show online status
    /help              show this help
    /quit              leave (so does end of input)
Incoming messages are printed as they arrive: [sender] text.
";

/// Who a message or history query is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A user id.
    User(u32),
    /// A group id.
    Group(u32),
}

/// The subcommand and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Login,
    Send { target: Target, text: String },
    Unread,
    History { target: Target, count: u32 },
    Users,
    Groups,
    Status { ids: Vec<u32> },
    Listen { duration: Option<Duration> },
    Chat,
}

/// Options shared by every subcommand.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Global {
    pub(crate) login_url: String,
    pub(crate) server: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) client_type: ClientType,
    pub(crate) timeout: Duration,
    pub(crate) aes_key: Option<[u8; 32]>,
    pub(crate) verbose: bool,
}

impl std::fmt::Debug for Global {
    // Keep the password and key out of any debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Global")
            .field("login_url", &self.login_url)
            .field("server", &self.server)
            .field("user", &self.user)
            .field("client_type", &self.client_type)
            .field("timeout", &self.timeout)
            .field("verbose", &self.verbose)
            .finish_non_exhaustive()
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Print this help text and exit 0.
    Help(&'static str),
    /// Run a command.
    Run(Global, Command),
}

/// Environment values the parser falls back to.
#[derive(Debug, Default)]
pub(crate) struct Env {
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
}

/// Parses `args` (without the program name). The error is a usage message.
pub(crate) fn parse(args: &[String], env: Env) -> Result<Parsed, String> {
    let mut global = Global {
        login_url: DEFAULT_LOGIN_URL.to_owned(),
        server: None,
        user: env.user,
        password: env.password,
        client_type: ClientType::Windows,
        timeout: Duration::from_secs(10),
        aes_key: None,
        verbose: false,
    };
    let mut command: Option<String> = None;
    let mut help = false;
    // Subcommand options and positional words, in order.
    let mut local: Vec<(String, Option<String>)> = Vec::new();
    let mut positional: Vec<String> = Vec::new();

    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            positional.extend(it.by_ref().cloned());
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("option {name} needs a value")),
            }
        };
        match name {
            "-h" | "--help" => help = true,
            "-v" | "--verbose" => global.verbose = true,
            "--login-url" => global.login_url = value(name)?,
            "--server" => global.server = Some(value(name)?),
            "--user" => global.user = Some(value(name)?),
            "--password" => global.password = Some(value(name)?),
            "--client-type" => global.client_type = parse_client_type(&value(name)?)?,
            "--timeout" => {
                let v = value(name)?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s < 1e6)
                    .ok_or_else(|| format!("invalid --timeout {v:?}: expected seconds"))?;
                global.timeout = Duration::from_secs_f64(secs);
            }
            "--aes-key" => {
                let v = value(name)?;
                let key: [u8; 32] = v.as_bytes().try_into().map_err(|_| {
                    format!("invalid --aes-key: expected 32 bytes, got {}", v.len())
                })?;
                global.aes_key = Some(key);
            }
            "--to" | "--group" | "--with" | "--count" | "--for" => {
                local.push((name.to_owned(), Some(value(name)?)));
            }
            _ if name.starts_with('-') && name.len() > 1 && !is_number(name) => {
                return Err(format!("unknown option {name}"));
            }
            _ if command.is_none() => command = Some(arg.clone()),
            _ => positional.push(arg.clone()),
        }
    }

    let Some(command) = command else {
        return if help {
            Ok(Parsed::Help(MAIN_HELP))
        } else {
            Err("no command given".to_owned())
        };
    };
    if command == "help" {
        return match positional.first() {
            None => Ok(Parsed::Help(MAIN_HELP)),
            Some(c) => command_help(c)
                .map(Parsed::Help)
                .ok_or_else(|| format!("unknown command {c:?}")),
        };
    }
    let command_help =
        command_help(&command).ok_or_else(|| format!("unknown command {command:?}"))?;
    if help {
        return Ok(Parsed::Help(command_help));
    }
    let cmd = build_command(&command, &local, positional)?;
    Ok(Parsed::Run(global, cmd))
}

fn command_help(command: &str) -> Option<&'static str> {
    Some(match command {
        "login" => LOGIN_HELP,
        "send" => SEND_HELP,
        "unread" => UNREAD_HELP,
        "history" => HISTORY_HELP,
        "users" => USERS_HELP,
        "groups" => GROUPS_HELP,
        "status" => STATUS_HELP,
        "listen" => LISTEN_HELP,
        "chat" => CHAT_HELP,
        _ => return None,
    })
}

fn is_number(s: &str) -> bool {
    s.parse::<f64>().is_ok()
}

fn build_command(
    command: &str,
    local: &[(String, Option<String>)],
    positional: Vec<String>,
) -> Result<Command, String> {
    let allowed: &[&str] = match command {
        "send" => &["--to", "--group"],
        "history" => &["--with", "--group", "--count"],
        "listen" => &["--for"],
        _ => &[],
    };
    for (name, _) in local {
        if !allowed.contains(&name.as_str()) {
            return Err(format!("option {name} does not apply to {command}"));
        }
    }
    let get = |name: &str| {
        local
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    };
    let no_positional = |positional: &[String]| match positional.first() {
        Some(extra) => Err(format!("unexpected argument {extra:?} for {command}")),
        None => Ok(()),
    };
    let target = |user_opt: &str| -> Result<Target, String> {
        match (get(user_opt), get("--group")) {
            (Some(_), Some(_)) => Err(format!("give either {user_opt} or --group, not both")),
            (Some(u), None) => Ok(Target::User(parse_id(user_opt, &u)?)),
            (None, Some(g)) => Ok(Target::Group(parse_id("--group", &g)?)),
            (None, None) => Err(format!(
                "{command} needs {user_opt} USER_ID or --group GROUP_ID"
            )),
        }
    };
    Ok(match command {
        "login" => {
            no_positional(&positional)?;
            Command::Login
        }
        "send" => {
            let target = target("--to")?;
            if positional.is_empty() {
                return Err("send needs the message TEXT".to_owned());
            }
            let text = positional.join(" ");
            if text.is_empty() {
                return Err("refusing to send an empty message".to_owned());
            }
            Command::Send { target, text }
        }
        "unread" => {
            no_positional(&positional)?;
            Command::Unread
        }
        "history" => {
            no_positional(&positional)?;
            let target = target("--with")?;
            let count =
                match get("--count") {
                    Some(c) => c.parse::<u32>().ok().filter(|c| *c > 0).ok_or_else(|| {
                        format!("invalid --count {c:?}: expected a positive number")
                    })?,
                    None => DEFAULT_HISTORY_COUNT,
                };
            Command::History { target, count }
        }
        "users" => {
            no_positional(&positional)?;
            Command::Users
        }
        "groups" => {
            no_positional(&positional)?;
            Command::Groups
        }
        "status" => {
            if positional.is_empty() {
                return Err("status needs at least one USER_ID".to_owned());
            }
            let ids = positional
                .iter()
                .map(|p| parse_id("USER_ID", p))
                .collect::<Result<_, _>>()?;
            Command::Status { ids }
        }
        "listen" => {
            no_positional(&positional)?;
            let duration = match get("--for") {
                Some(s) => Some(
                    s.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e9)
                        .map(Duration::from_secs_f64)
                        .ok_or_else(|| format!("invalid --for {s:?}: expected seconds"))?,
                ),
                None => None,
            };
            Command::Listen { duration }
        }
        "chat" => {
            no_positional(&positional)?;
            Command::Chat
        }
        other => return Err(format!("unknown command {other:?}")),
    })
}

/// Parses a user or group id (a positive 32-bit number).
pub(crate) fn parse_id(what: &str, s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .ok()
        .filter(|id| *id != 0)
        .ok_or_else(|| format!("invalid {what} {s:?}: expected a positive number"))
}

fn parse_client_type(s: &str) -> Result<ClientType, String> {
    match s.to_ascii_lowercase().as_str() {
        "pc" | "windows" => Ok(ClientType::Windows),
        "mac" => Ok(ClientType::Mac),
        "ios" => Ok(ClientType::Ios),
        "android" => Ok(ClientType::Android),
        _ => Err(format!(
            "invalid --client-type {s:?}: expected pc, mac, ios or android"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, String> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        parse(&args, Env::default())
    }

    fn command(args: &[&str]) -> Command {
        match run(args).unwrap() {
            Parsed::Run(_, c) => c,
            Parsed::Help(_) => panic!("help"),
        }
    }

    #[test]
    fn global_options_go_anywhere() {
        let Parsed::Run(g, c) = run(&[
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
        .unwrap() else {
            panic!()
        };
        assert_eq!(g.user.as_deref(), Some("alice"));
        assert_eq!(g.password.as_deref(), Some("pw"));
        assert_eq!(g.client_type, ClientType::Android);
        assert_eq!(
            c,
            Command::Send {
                target: Target::User(2),
                text: "hello world".into()
            }
        );
    }

    #[test]
    fn subcommands_parse() {
        assert_eq!(command(&["login"]), Command::Login);
        assert_eq!(
            command(&["send", "--group", "5", "--", "-1 is a number"]),
            Command::Send {
                target: Target::Group(5),
                text: "-1 is a number".into()
            }
        );
        assert_eq!(
            command(&["history", "--with", "3"]),
            Command::History {
                target: Target::User(3),
                count: 20
            }
        );
        assert_eq!(
            command(&["history", "--group", "3", "--count", "5"]),
            Command::History {
                target: Target::Group(3),
                count: 5
            }
        );
        assert_eq!(
            command(&["status", "1", "2"]),
            Command::Status { ids: vec![1, 2] }
        );
        assert_eq!(
            command(&["listen", "--for", "1.5"]),
            Command::Listen {
                duration: Some(Duration::from_millis(1500))
            }
        );
        assert_eq!(command(&["listen"]), Command::Listen { duration: None });
    }

    #[test]
    fn help_is_available_everywhere() {
        assert_eq!(run(&["--help"]).unwrap(), Parsed::Help(MAIN_HELP));
        assert_eq!(run(&["help"]).unwrap(), Parsed::Help(MAIN_HELP));
        assert_eq!(run(&["send", "--help"]).unwrap(), Parsed::Help(SEND_HELP));
        assert_eq!(run(&["-h", "chat"]).unwrap(), Parsed::Help(CHAT_HELP));
        assert_eq!(run(&["help", "listen"]).unwrap(), Parsed::Help(LISTEN_HELP));
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &[][..],
            &["frobnicate"],
            &["send", "hello"],
            &["send", "--to", "x", "hi"],
            &["send", "--to", "1"],
            &["send", "--to", "1", "--group", "2", "hi"],
            &["history"],
            &["history", "--with", "1", "--count", "0"],
            &["status"],
            &["status", "abc"],
            &["login", "extra"],
            &["login", "--to", "1"],
            &["--client-type", "fax", "login"],
            &["--timeout", "-1", "login"],
            &["--aes-key", "short", "login"],
            &["--bogus", "login"],
            &["login", "--user"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn environment_fills_user_and_password() {
        let env = Env {
            user: Some("bob".into()),
            password: Some("pw".into()),
        };
        let Parsed::Run(g, _) = parse(&["login".to_owned()], env).unwrap() else {
            panic!()
        };
        assert_eq!(g.user.as_deref(), Some("bob"));
        assert_eq!(g.password.as_deref(), Some("pw"));
    }
}

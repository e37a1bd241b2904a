//! `tt-admin`: departments, users and groups of a TeamTalk organisation from the command line
//! (see the crate README). Exit status: 0 done, 1 refused or failed (the reason on stderr,
//! nothing written), 2 usage error.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tt_admin::group::{Change, HttpMsgServer};
use tt_admin::user::NewUser;
use tt_admin::{audit, department, import, user};

#[derive(Debug, Parser)]
#[command(
    name = "tt-admin",
    version,
    about = "Administer a TeamTalk organisation"
)]
struct Args {
    /// The TeamTalk database (db_proxy_server's master).
    #[arg(
        long,
        env = "TT_ADMIN_MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306/teamtalk"
    )]
    mysql_url: String,
    /// Who is making the change, for the audit log.
    #[arg(long, env = "TT_ADMIN_ACTOR", default_value = "tt-admin")]
    actor: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Departments.
    #[command(subcommand)]
    Department(DepartmentCmd),
    /// Users.
    #[command(subcommand)]
    User(UserCmd),
    /// Groups, through http_msg_server.
    Group {
        /// http_msg_server's address.
        #[arg(
            long,
            env = "TT_ADMIN_HTTP_MSG_SERVER",
            default_value = "127.0.0.1:8400"
        )]
        http_msg_server: String,
        /// Its `AppKey`, if its conf sets one.
        #[arg(long, env = "TT_ADMIN_APP_KEY", default_value = "")]
        app_key: String,
        #[command(subcommand)]
        command: GroupCmd,
    },
    /// The newest audit log entries.
    Audit {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
enum DepartmentCmd {
    /// List departments (id, parent, name).
    List,
    /// Create a department.
    Add {
        name: String,
        /// Parent department id (0: top level).
        #[arg(long, default_value_t = 0)]
        parent: u32,
    },
    /// Rename a department.
    Rename { id: u32, name: String },
    /// Move a department under another (0: top level).
    Move { id: u32, parent: u32 },
    /// Delete an empty department.
    Delete { id: u32 },
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// List users whose name or nick contains TEXT.
    List {
        #[arg(default_value = "")]
        text: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Create a user.
    Add {
        name: String,
        /// Department id.
        #[arg(long)]
        department: u32,
        /// Password (prefer TT_ADMIN_PASSWORD: arguments are visible to other local users).
        #[arg(long, env = "TT_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "")]
        nick: String,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, default_value = "")]
        phone: String,
        /// 0 unknown, 1 male, 2 female.
        #[arg(long, default_value_t = 0)]
        sex: u32,
    },
    /// Set a user's password.
    Password {
        name: String,
        #[arg(long, env = "TT_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Refuse a user's logins from now on.
    Disable { name: String },
    /// Allow a disabled user to log in again.
    Enable { name: String },
    /// Create the users of a CSV file (name,password,department[,nick[,email[,phone[,sex]]]]);
    /// all or nothing.
    Import { file: std::path::PathBuf },
}

#[derive(Debug, Subcommand)]
enum GroupCmd {
    /// Create a normal group; prints its id.
    Create {
        name: String,
        /// Owner's user id.
        #[arg(long)]
        owner: u32,
        /// Member user ids (the owner is added).
        #[arg(long, value_delimiter = ',')]
        members: Vec<u32>,
    },
    /// Add members to a group.
    Add {
        group: u32,
        /// The group's owner (the change is made in its name).
        #[arg(long)]
        owner: u32,
        #[arg(long, value_delimiter = ',', required = true)]
        members: Vec<u32>,
    },
    /// Remove members from a group.
    Remove {
        group: u32,
        #[arg(long)]
        owner: u32,
        #[arg(long, value_delimiter = ',', required = true)]
        members: Vec<u32>,
    },
    /// List groups: id, name, type, creator, members.
    List {
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Rename a group (clients see it at their next group sync).
    Rename { group: u32, name: String },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tt-admin: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let actor = args.actor.as_str();
    match args.command {
        Command::Department(cmd) => departments(&mut connect(&args.mysql_url)?, actor, cmd),
        Command::User(cmd) => users(&mut connect(&args.mysql_url)?, actor, cmd),
        Command::Audit { limit } => {
            for e in audit::recent(&mut connect(&args.mysql_url)?, limit)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    e.created, e.actor, e.action, e.target, e.detail
                );
            }
            Ok(())
        }
        Command::Group {
            http_msg_server,
            app_key,
            command,
        } => {
            let server = HttpMsgServer {
                addr: http_msg_server,
                app_key,
            };
            // Connected first: a change is only made when its audit entry can be written.
            group(&mut connect(&args.mysql_url)?, actor, &server, command)
        }
    }
}

fn connect(url: &str) -> anyhow::Result<mysql::Conn> {
    let opts = mysql::Opts::from_url(url).context("--mysql-url")?;
    mysql::Conn::new(opts).context("connecting to MySQL")
}

fn departments(conn: &mut mysql::Conn, actor: &str, cmd: DepartmentCmd) -> anyhow::Result<()> {
    match cmd {
        DepartmentCmd::List => {
            for d in department::list(conn)? {
                println!("{}\t{}\t{}", d.id, d.parent, d.name);
            }
        }
        DepartmentCmd::Add { name, parent } => {
            println!("{}", department::add(conn, actor, &name, parent)?);
        }
        DepartmentCmd::Rename { id, name } => department::rename(conn, actor, id, &name)?,
        DepartmentCmd::Move { id, parent } => department::move_to(conn, actor, id, parent)?,
        DepartmentCmd::Delete { id } => department::delete(conn, actor, id)?,
    }
    Ok(())
}

fn users(conn: &mut mysql::Conn, actor: &str, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::List { text, limit } => {
            for u in user::list(conn, &text, limit)? {
                let state = if u.enabled { "enabled" } else { "disabled" };
                println!("{}\t{}\t{}\t{}\t{state}", u.id, u.name, u.nick, u.depart);
            }
        }
        UserCmd::Add {
            name,
            department,
            password,
            nick,
            email,
            phone,
            sex,
        } => {
            let new = NewUser {
                name,
                nick,
                password,
                depart: department,
                sex,
                email,
                phone,
            };
            println!("{}", user::add(conn, actor, &new)?);
        }
        UserCmd::Password { name, password } => {
            user::set_password(conn, actor, &name, &password)?;
        }
        UserCmd::Disable { name } => user::set_enabled(conn, actor, &name, false)?,
        UserCmd::Enable { name } => user::set_enabled(conn, actor, &name, true)?,
        UserCmd::Import { file } => {
            let csv = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let ids = import::users(conn, actor, &csv)?;
            println!("{} users imported", ids.len());
        }
    }
    Ok(())
}

fn group(
    conn: &mut mysql::Conn,
    actor: &str,
    server: &HttpMsgServer,
    command: GroupCmd,
) -> anyhow::Result<()> {
    match command {
        GroupCmd::Create {
            name,
            owner,
            mut members,
        } => {
            if !members.contains(&owner) {
                members.push(owner);
            }
            let id = server.create_group(owner, &name, &members)?;
            let detail = format!("owner {owner}, {} members", members.len());
            audit::record_done(
                conn,
                actor,
                "group.create",
                &format!("group {id} {name}"),
                &detail,
            )?;
            println!("{id}");
        }
        GroupCmd::Add {
            group,
            owner,
            members,
        } => {
            server.change_members(owner, group, Change::Add, &members)?;
            audit::record_done(
                conn,
                actor,
                "group.add_members",
                &format!("group {group}"),
                &ids(&members),
            )?;
        }
        GroupCmd::Remove {
            group,
            owner,
            members,
        } => {
            server.change_members(owner, group, Change::Remove, &members)?;
            audit::record_done(
                conn,
                actor,
                "group.remove_members",
                &format!("group {group}"),
                &ids(&members),
            )?;
        }
        GroupCmd::List { limit } => {
            for g in tt_admin::group::list(conn, limit)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    g.id, g.name, g.kind, g.creator, g.members
                );
            }
        }
        GroupCmd::Rename { group, name } => tt_admin::group::rename(conn, actor, group, &name)?,
    }
    Ok(())
}

fn ids(members: &[u32]) -> String {
    members
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

//! The pages: one handler per form and per view, each checking the session (and, for a POST,
//! its CSRF token) first, and HTML rendered on the server with maud (values are escaped by
//! the template). A change that succeeds redirects to its page with a notice; one that is
//! refused shows the same page with the reason, answered with a 4xx (5xx when the database or
//! http_msg_server failed), and writes nothing (the library checks before it writes).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use tt_admin::department::Department;
use tt_admin::group::{Change, Group};
use tt_admin::user::{NewUser, Profile, User};
use tt_admin::{AdminError, audit, department, group, user};

use crate::account;
use crate::dashboard::Status;
use crate::session::{LOCK_TIME, Session, random_token, tokens_match};
use crate::web::{
    App, Failure, LOGIN_COOKIE, Peer, SESSION_COOKIE, cookie, see_other, see_other_with_cookie,
};

/// Most users a search lists.
const SEARCH_LIMIT: u32 = 200;
/// Most groups listed.
const GROUP_LIMIT: u32 = 1000;
/// Most audit entries shown.
const AUDIT_LIMIT: u32 = 200;
/// Longest value taken from a sign-in form (argon2 would hash anything; bound the work).
const MAX_SIGN_IN_FIELD: usize = 256;

type AppState = State<Arc<App>>;

/// A page refused before any page could be built (no session, bad CSRF token).
pub fn refusal(status: StatusCode, why: &str) -> Response {
    let body = layout(
        "Refused",
        None,
        None,
        Some(why),
        html! {
            p { a href="/login" { "Sign in" } " · " a href="/" { "Dashboard" } }
        },
    );
    (status, body).into_response()
}

/// Unknown paths.
pub async fn not_found() -> Response {
    refusal(StatusCode::NOT_FOUND, "No such page.")
}

fn to_login() -> Response {
    see_other("/login")
}

/// The frame of every page.
fn layout(
    title: &str,
    session: Option<&Session>,
    notice: Option<&str>,
    error: Option<&str>,
    body: Markup,
) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · TeamTalk admin" }
                    style { (STYLE) }
                }
                body {
                    header {
                        strong { "TeamTalk admin" }
                        @if let Some(s) = session {
                            nav {
                                a href="/" { "Dashboard" }
                                a href="/departments" { "Departments" }
                                a href="/users" { "Users" }
                                a href="/groups" { "Groups" }
                                a href="/audit" { "Audit log" }
                            }
                            form.signout method="post" action="/logout" {
                                (csrf(s))
                                span { (s.admin) }
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                    main {
                        h1 { (title) }
                        @if let Some(n) = notice { p.notice role="status" { (n) } }
                        @if let Some(e) = error { p.error role="alert" { (e) } }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
}

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#222}\
header{display:flex;gap:1.5em;align-items:center;background:#234;color:#fff;padding:.6em 1em}\
header a{color:#cde;margin-right:1em}header form{margin-left:auto}header span{margin-right:.5em}\
main{padding:1em 2em;max-width:70em}table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#eef}\
.notice{background:#dfd;border:1px solid #9c9;padding:.5em}\
.error{background:#fdd;border:1px solid #c99;padding:.5em}\
fieldset{margin:1em 0;border:1px solid #ccc}label{margin-right:1em}\
input,select,button{font:inherit;margin:.15em .3em .15em 0}.ok{color:#070}.bad{color:#b00}";

fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

fn page(
    app: &App,
    session: &Session,
    title: &str,
    error: Option<&Failure>,
    body: Markup,
) -> Response {
    let notice = app.sessions.take_notice(&session.id);
    let status = error.map_or(StatusCode::OK, Failure::status);
    let message = error.map(ToString::to_string);
    let html = layout(
        title,
        Some(session),
        notice.as_deref(),
        message.as_deref(),
        body,
    );
    (status, html).into_response()
}

fn number(field: &str, value: &str) -> Result<u32, Failure> {
    value
        .trim()
        .parse()
        .map_err(|_| Failure::Input(format!("{field}: choose one (a number is expected)")))
}

// ---- sign-in -------------------------------------------------------------------------------

/// The sign-in form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignIn {
    name: String,
    password: String,
    csrf: String,
}

/// The sign-in form with its CSRF token (the value of the `LOGIN_COOKIE` it was given).
fn login_page(status: StatusCode, error: Option<&str>, token: &str) -> Response {
    let body = html! {
        form method="post" action="/login" {
            input type="hidden" name="csrf" value=(token);
            p { label { "Name " input name="name" autocomplete="username" required autofocus; } }
            p { label { "Password " input type="password" name="password"
                autocomplete="current-password" required; } }
            button type="submit" { "Sign in" }
        }
    };
    (status, layout("Sign in", None, None, error, body)).into_response()
}

/// A sign-in form with a new token, and the cookie that carries it.
fn fresh_login_page(app: &App, status: StatusCode, error: Option<&str>) -> Response {
    let token = random_token();
    let mut page = login_page(status, error, &token);
    if let Ok(value) = axum::http::HeaderValue::from_str(&app.login_cookie_header(&token)) {
        page.headers_mut()
            .insert(axum::http::header::SET_COOKIE, value);
    }
    page
}

/// `GET /login`.
pub async fn login_form(State(app): AppState, headers: HeaderMap) -> Response {
    if app.session(&headers).is_some() {
        return see_other("/");
    }
    fresh_login_page(&app, StatusCode::OK, None)
}

/// `POST /login`: the form's CSRF token must match its cookie; throttled per source address
/// and per name; a success opens a session.
pub async fn login(
    State(app): AppState,
    peer: Peer,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    let Some(token) = cookie(&headers, LOGIN_COOKIE).filter(|t| tokens_match(t, &form.csrf)) else {
        log::warn!("admin sign-in without a valid form token: peer={}", peer.0);
        return fresh_login_page(
            &app,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired or did not come from this console. Sign in again."),
        );
    };
    // A refusal shows the form again with the same token: its cookie stays valid.
    let form_again = |status, error| login_page(status, error, &token);
    let ip_key = format!("ip:{}", peer.0.ip());
    let name_key = format!("name:{}", form.name);
    if let Some(left) = app
        .throttle
        .locked_for(&ip_key)
        .max(app.throttle.locked_for(&name_key))
    {
        let minutes = left.as_secs().div_ceil(60);
        return form_again(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many failed sign-ins. Try again in {minutes} minute(s) (locks last {} \
                 minutes).",
                LOCK_TIME.as_secs() / 60
            )),
        );
    }
    if form.name.is_empty()
        || form.password.is_empty()
        || form.name.len() > MAX_SIGN_IN_FIELD
        || form.password.len() > MAX_SIGN_IN_FIELD
    {
        return form_again(
            StatusCode::BAD_REQUEST,
            Some("Enter your name and your password."),
        );
    }
    let (name, password) = (form.name.clone(), form.password);
    let verified = app
        .db(move |conn| Ok(account::verify(conn, &name, &password)?))
        .await;
    match verified {
        Ok(true) => {
            app.throttle.clear(&name_key);
            app.throttle.clear(&ip_key);
            let session = app.sessions.open(&form.name);
            log::info!("admin signed in: admin={} peer={}", form.name, peer.0);
            see_other_with_cookie("/", &app.session_cookie_header(&session))
        }
        Ok(false) => {
            app.throttle.fail(&ip_key);
            app.throttle.fail(&name_key);
            log::warn!(
                "admin sign-in refused: admin={:?} peer={}",
                form.name,
                peer.0
            );
            form_again(StatusCode::UNAUTHORIZED, Some("Wrong name or password."))
        }
        Err(e) => form_again(e.status(), Some(&e.to_string())),
    }
}

/// A form with only its CSRF token.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Plain {
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(State(app): AppState, headers: HeaderMap, Form(form): Form<Plain>) -> Response {
    let session = match app.post_session(&headers, &form.csrf) {
        Ok(s) => s,
        Err(refused) => return refused,
    };
    app.sessions.close(&session.id);
    see_other_with_cookie(
        "/login",
        &format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    )
}

// ---- dashboard -----------------------------------------------------------------------------

/// `GET /`: the servers' state.
pub async fn dashboard(State(app): AppState, headers: HeaderMap) -> Response {
    let Some(session) = app.session(&headers) else {
        return to_login();
    };
    let statuses = app.dashboard.poll(&app.config.monitors).await;
    page(&app, &session, "Dashboard", None, dashboard_view(&statuses))
}

fn dashboard_view(statuses: &[Status]) -> Markup {
    // A fold from +0: an empty f64 sum is -0, which would show as "-0".
    let online = statuses
        .iter()
        .filter(|s| s.name.starts_with("msg_server"))
        .filter_map(|s| s.online_users)
        .fold(0.0, |total, n| total + n);
    html! {
        @if statuses.is_empty() {
            p { "No servers are configured (MonitorName1/MonitorURL1 … in adminserver.conf)." }
        } @else {
            p { "Users online on the msg_servers: " strong { (online) } }
            table {
                tr { th { "Server" } th { "Health" } th { "Ready" } th { "Online users" }
                     th { "Messages received" } th { "Messages / minute" } th { "Metrics" } }
                @for s in statuses {
                    tr {
                        td { (s.name) }
                        td { @if s.healthy { span.ok { "up" } } @else { span.bad { "down" } } }
                        td { @match &s.ready {
                            Ok(()) => { span.ok { "ready" } }
                            Err(why) => { span.bad { "not ready: " (why) } }
                        } }
                        td { @if let Some(n) = s.online_users { (n) } @else { "–" } }
                        td { @if let Some(n) = s.messages_total { (n) } @else { "–" } }
                        td { @if let Some(r) = s.messages_per_minute { (format!("{r:.1}")) }
                             @else { "–" } }
                        td { (s.url) }
                    }
                }
            }
            p { "Messages per minute are measured between two loads of this page; reload to \
                 refresh." }
        }
    }
}

// ---- departments ---------------------------------------------------------------------------

/// The department forms' fields (each form uses some of them).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DepartmentForm {
    csrf: String,
    id: String,
    name: String,
    parent: String,
}

async fn departments_page(app: &Arc<App>, session: &Session, error: Option<&Failure>) -> Response {
    match app.db(|conn| Ok(department::list(conn)?)).await {
        Ok(list) => page(
            app,
            session,
            "Departments",
            error,
            departments_view(session, &list),
        ),
        Err(e) => page(app, session, "Departments", Some(&e), html! {}),
    }
}

fn department_options(list: &[Department], top: bool) -> Markup {
    html! {
        @if top { option value="0" { "(top level)" } }
        @for d in list { option value=(d.id) { (d.name) " (" (d.id) ")" } }
    }
}

fn departments_view(session: &Session, list: &[Department]) -> Markup {
    let mut children: BTreeMap<u32, Vec<&Department>> = BTreeMap::new();
    for d in list {
        children.entry(d.parent).or_default().push(d);
    }
    // Departments whose parent is gone still show, at the top.
    let ids: std::collections::HashSet<u32> = list.iter().map(|d| d.id).collect();
    let roots: Vec<&Department> = list
        .iter()
        .filter(|d| d.parent == 0 || !ids.contains(&d.parent))
        .collect();
    html! {
        @if list.is_empty() { p { "No departments yet." } }
        ul.tree { @for d in roots { (tree_node(d, &children, 0)) } }
        fieldset { legend { "Create a department" }
            form method="post" action="/departments/add" { (csrf(session))
                label { "Name " input name="name" required maxlength="64"; }
                label { "Under " select name="parent" { (department_options(list, true)) } }
                button type="submit" { "Create" } } }
        @if !list.is_empty() {
            fieldset { legend { "Rename" }
                form method="post" action="/departments/rename" { (csrf(session))
                    select name="id" { (department_options(list, false)) }
                    label { "New name " input name="name" required maxlength="64"; }
                    button type="submit" { "Rename" } } }
            fieldset { legend { "Move" }
                form method="post" action="/departments/move" { (csrf(session))
                    select name="id" { (department_options(list, false)) }
                    label { "Under " select name="parent" { (department_options(list, true)) } }
                    button type="submit" { "Move" } } }
            fieldset { legend { "Delete (only when it has no users and no departments)" }
                form method="post" action="/departments/delete" { (csrf(session))
                    select name="id" { (department_options(list, false)) }
                    button type="submit" { "Delete" } } }
        }
    }
}

fn tree_node(d: &Department, children: &BTreeMap<u32, Vec<&Department>>, depth: usize) -> Markup {
    // The library refuses cycles; the depth bound only guards rows written by others.
    html! {
        li { (d.name) " " small { "(" (d.id) ")" }
            @if let Some(kids) = children.get(&d.id).filter(|_| depth < 32) {
                ul { @for k in kids { (tree_node(k, children, depth + 1)) } }
            }
        }
    }
}

/// `GET /departments`.
pub async fn departments(State(app): AppState, headers: HeaderMap) -> Response {
    let Some(session) = app.session(&headers) else {
        return to_login();
    };
    departments_page(&app, &session, None).await
}

macro_rules! post_session {
    ($app:expr, $headers:expr, $form:expr) => {
        match $app.post_session(&$headers, &$form.csrf) {
            Ok(session) => session,
            Err(refused) => return refused,
        }
    };
}

/// `POST /departments/add`.
pub async fn department_add(
    State(app): AppState,
    headers: HeaderMap,
    Form(form): Form<DepartmentForm>,
) -> Response {
    let session = post_session!(app, headers, form);
    let actor = session.admin.clone();
    let name = form.name.clone();
    let result = app
        .db(move |conn| {
            let parent = number("parent", &form.parent)?;
            Ok(department::add(conn, &actor, &form.name, parent)?)
        })
        .await;
    match result {
        Ok(id) => app.done(
            &session,
            format!("Department {name} created (id {id})."),
            "/departments",
        ),
        Err(e) => departments_page(&app, &session, Some(&e)).await,
    }
}

/// `POST /departments/rename`.
pub async fn department_rename(
    State(app): AppState,
    headers: HeaderMap,
    Form(form): Form<DepartmentForm>,
) -> Response {
    let session = post_session!(app, headers, form);
    let actor = session.admin.clone();
    let name = form.name.clone();
    let result = app
        .db(move |conn| {
            let id = number("department", &form.id)?;
            Ok(department::rename(conn, &actor, id, &form.name)?)
        })
        .await;
    match result {
        Ok(()) => app.done(
            &session,
            format!("Department renamed to {name}."),
            "/departments",
        ),
        Err(e) => departments_page(&app, &session, Some(&e)).await,
    }
}

/// `POST /departments/move`.
pub async fn department_move(
    State(app): AppState,
    headers: HeaderMap,
    Form(form): Form<DepartmentForm>,
) -> Response {
    let session = post_session!(app, headers, form);
    let actor = session.admin.clone();
    let result = app
        .db(move |conn| {
            let id = number("department", &form.id)?;
            let parent = number("parent", &form.parent)?;
            Ok(department::move_to(conn, &actor, id, parent)?)
        })
        .await;
    match result {
        Ok(()) => app.done(&session, "Department moved.".into(), "/departments"),
        Err(e) => departments_page(&app, &session, Some(&e)).await,
    }
}

/// `POST /departments/delete`.
pub async fn department_delete(
    State(app): AppState,
    headers: HeaderMap,
    Form(form): Form<DepartmentForm>,
) -> Response {
    let session = post_session!(app, headers, form);
    let actor = session.admin.clone();
    let result = app
        .db(move |conn| {
            let id = number("department", &form.id)?;
            Ok(department::delete(conn, &actor, id)?)
        })
        .await;
    match result {
        Ok(()) => app.done(&session, "Department deleted.".into(), "/departments"),
        Err(e) => departments_page(&app, &session, Some(&e)).await,
    }
}

// ---- users ---------------------------------------------------------------------------------

/// The user search.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Search {
    q: String,
}

/// The user forms' fields (each form uses some of them).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserForm {
    csrf: String,
    name: String,
    nick: String,
    password: String,
    depart: String,
    sex: String,
    email: String,
    phone: String,
    enabled: String,
}

fn department_name(list: &[Department], id: u32) -> String {
    list.iter()
        .find(|d| d.id == id)
        .map_or_else(|| format!("({id})"), |d| d.name.clone())
}

fn sex_options(selected: u32) -> Markup {
    html! {
        @for (value, label) in [(0, "unknown"), (1, "male"), (2, "female")] {
            option value=(value) selected[value == selected] { (label) }
        }
    }
}

async fn users_page(
    app: &Arc<App>,
    session: &Session,
    search: String,
    error: Option<&Failure>,
) -> Response {
    let q = search.clone();
    let loaded = app
        .db(move |conn| Ok((user::list(conn, &q, SEARCH_LIMIT)?, department::list(conn)?)))
        .await;
    match loaded {
        Ok((users, departs)) => page(
            app,
            session,
            "Users",
            error,
            users_view(session, &search, &users, &departs),
        ),
        Err(e) => page(app, session, "Users", Some(&e), html! {}),
    }
}

fn users_view(session: &Session, search: &str, users: &[User], departs: &[Department]) -> Markup {
    html! {
        form method="get" action="/users" {
            label { "Name or nick contains " input name="q" value=(search); }
            button type="submit" { "Search" }
        }
        table {
            tr { th { "Id" } th { "Name" } th { "Nick" } th { "Department" } th { "Status" }
                 th {} }
            @for u in users {
                tr {
                    td { (u.id) } td { (u.name) } td { (u.nick) }
                    td { (department_name(departs, u.depart)) }
                    td { @if u.enabled { span.ok { "enabled" } } @else { span.bad { "disabled" } } }
                    td { a href={ "/users/edit?name=" (urlencode(&u.name)) } { "edit" } }
                }
            }
        }
        @if users.len() == SEARCH_LIMIT as usize {
            p { "Only the first " (SEARCH_LIMIT) " are listed; narrow the search." }
        }
        fieldset { legend { "Create a user" }
            @if departs.is_empty() { p { "Create a department first." } }
            form method="post" action="/users/add" { (csrf(session))
                label { "Name " input name="name" required maxlength="32"; }
                label { "Nick " input name="nick" maxlength="32"; }
                label { "Password " input type="password" name="password" required
                    autocomplete="new-password" maxlength="128"; }
                br;
                label { "Department " select name="depart" { (department_options(departs, false)) } }
                label { "Sex " select name="sex" { (sex_options(0)) } }
                label { "E-mail " input type="email" name="email" maxlength="64"; }
                label { "Phone " input name="phone" maxlength="11"; }
                button type="submit" { "Create" }
            }
        }
    }
}

/// `GET /users?q=`.
pub async fn users(
    State(app): AppState,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let Some(session) = app.session(&headers) else {
        return to_login();
    };
    users_page(&app, &session, search.q, None).await
}

/// `POST /users/add`: the library stores the original's salted password hash.
pub async fn user_add(
    State(app): AppState,
    headers: HeaderMap,
    Form(form): Form<UserForm>,
) -> Response {
    let session = post_session!(app, headers, form);
    let actor = session.admin.clone();
    let name = form.name.clone();
    let result = app
        .db(move |conn| {
            let new = NewUser {
                name: form.name,
                nick: form.nick,
                password: form.password,
                depart: number("department", &form.depart)?,
                sex: number("sex", &form.sex)?,
                email: form.email,
                phone: form.phone,
            };
            Ok(user::add(conn, &actor, &new)?)
        })
        .await;
    match result {
        Ok(id) => app.done(
            &session,
            format!("User {name} created (id {id})."),
            "/users",
        ),
        Err(e) => users_page(&app, &session, String::new(), Some(&e)).await,
    }
}

/// The user named in the query.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NameQuery {
    name: String,
}

async fn user_edit_page(
    app: &Arc<App>,
    session: &Session,
    name: String,
    error: Option<&Failure>,
) -> Response {
    let loaded = app
        .db(move |conn| Ok((user::find(conn, &name)?, department::list(conn)?)))
        .await;
    match loaded {
        Ok(((u, profile), departs)) => {
            let title = format!("User {}", u.name);
            let body = user_edit_view(session, &u, &profile, &departs);
            page(app, session, &title, error, body)
        }
        Err(e) => page(
            app,
            session,
            "User",
            Some(error.unwrap_or(&e)),
            html! {
                p { a href="/users" { "Back to the users" } }
            },
        ),
    }
}

fn user_edit_view(session: &Session, u: &User, p: &Profile, departs: &[Department]) -> Markup {
    html! {
        p { "Id " (u.id) ", " @if u.enabled { span.ok { "enabled" } } @else { span.bad { "disabled" } }
            " · " a href="/users" { "all users" } }
        fieldset { legend { "Profile" }
            form method="post" action="/users/profile" { (csrf(session))
                input type="hidden" name="name" value=(u.name);
                label { "Nick " input name="nick" value=(p.nick) required maxlength="32"; }
                label { "Department " select name="depart" {
                    @for d in departs {
                        option value=(d.id) selected[d.id == p.depart] { (d.name) " (" (d.id) ")" }
                    } } }
                br;
                label { "Sex " select name="sex" { (sex_options(p.sex)) } }
                label { "E-mail " input type="email" name="email" value=(p.email) maxlength="64"; }
                label { "Phone " input name="phone" value=(p.phone) maxlength="11"; }
                button type="submit" { "Save" }
            } }
        fieldset { legend { "Reset the password" }
            form method="post" action="/users/password" { (csrf(session))
                input type="hidden" name="name" value=(u.name);
                label { "New password " input type="password" name="password" required
                    autocomplete="new-password" maxlength="128"; }
                button type="submit" { "Set" }
            } }
        fieldset { legend { "Sign-in" }
            form method="post" action="/users/status" { (csrf(session))
                input type="hidden" name="name" value=(u.name);
                @if u.enabled {
                    input type="hidden" name="enabled" value="0";
                    p { "A disabled user is refused at the next login, and its open connections \
                         are closed." }
                    button type="submit" { "Disable" }
                } @else {
                    input type="hidden" name="enabled" value="1";
                    button type="submit" { "Enable" }
                }
            } }
    }
}

/// `GET /users/edit?name=`.
pub async fn user_edit(
    State(app): AppState,
    headers: HeaderMap,
    Query(query): Query<NameQuery>,
) -> Response {
    let Some(session) = app.session(&headers) else {
        return to_login();
    };
    user_edit_page(&app, &session, query.name, None).await
}

fn edit_url(name: &str) -> String {
    format!("/users/edit?name={}", urlencode(name))
}

/// `POST /users/profile`.
pub async fn user_profile(
    State(app): AppState,
    headers: HeaderMap,
    Form(form): Form<UserForm>,
) -> Response {
    let session = post_session!(app, headers, form);
    let actor = session.admin.clone();
    let name = form.name.clone();
    let result = app
        .db(move |conn| {
            let profile = Profile {
                nick: form.nick,
                depart: number("department", &form.depart)?,
                sex: number("sex", &form.sex)?,
                email: form.email,
                phone: form.phone,
            };
            Ok(user::set_profile(conn, &actor, &form.name, &profile)?)
        })
        .await;
    match result {
        Ok(()) => app.done(&session, "Profile saved.".into(), &edit_url(&name)),
        Err(e) => user_edit_page(&app, &session, name, Some(&e)).await,
    }
}

/// `POST /users/password`.
pub async fn user_password(
    State(app): AppState,
    headers: HeaderMap,
    Form(form): Form<UserForm>,
) -> Response {
    let session = post_session!(app, headers, form);
    let actor = session.admin.clone();
    let name = form.name.clone();
    let result = app
        .db(move |conn| {
            Ok(user::set_password(
                conn,
                &actor,
                &form.name,
                &form.password,
            )?)
        })
        .await;
    match result {
        Ok(()) => app.done(&session, "Password set.".into(), &edit_url(&name)),
        Err(e) => user_edit_page(&app, &session, name, Some(&e)).await,
    }
}

/// `POST /users/status`: enable (`enabled=1`) or disable (`enabled=0`). A disabled user's
/// open connections are then closed through http_msg_server; if that fails the user stays
/// disabled (refused at the next login) and the page says so.
pub async fn user_status(
    State(app): AppState,
    headers: HeaderMap,
    Form(form): Form<UserForm>,
) -> Response {
    let session = post_session!(app, headers, form);
    let actor = session.admin.clone();
    let name = form.name.clone();
    let enable = form.enabled == "1";
    let server = app.http_msg_server.clone();
    let result = app
        .db(move |conn| {
            if !matches!(form.enabled.as_str(), "0" | "1") {
                return Err(Failure::Input("enabled: 0 or 1".into()));
            }
            user::set_enabled(conn, &actor, &form.name, enable)?;
            if enable {
                return Ok("User enabled.".to_owned());
            }
            let (u, _) = user::find(conn, &form.name)?;
            Ok(match server.kick_user(u.id) {
                Ok(()) => "User disabled; any open connection was closed.".to_owned(),
                Err(e) => format!(
                    "User disabled (refused at the next login), but open connections could not \
                     be closed: {e}"
                ),
            })
        })
        .await;
    match result {
        Ok(notice) => app.done(&session, notice, &edit_url(&name)),
        Err(e) => user_edit_page(&app, &session, name, Some(&e)).await,
    }
}

// ---- groups --------------------------------------------------------------------------------

/// The group forms' fields (each form uses some of them).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GroupForm {
    csrf: String,
    id: String,
    name: String,
    owner: String,
    members: String,
    change: String,
}

/// User ids from a list of names or ids (commas or spaces between them), each looked up.
fn resolve_users(conn: &mut mysql::Conn, text: &str) -> Result<Vec<u32>, Failure> {
    let mut ids = Vec::new();
    for token in text
        .split([',', ' ', '\n', '\r', '\t'])
        .filter(|t| !t.is_empty())
    {
        let found = match token.parse::<u32>() {
            Ok(id) => user::by_ids(conn, &[id])?.into_iter().next().map(|u| u.id),
            Err(_) => match user::find(conn, token) {
                Ok((u, _)) => Some(u.id),
                Err(AdminError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            },
        };
        let id =
            found.ok_or_else(|| Failure::Admin(AdminError::NotFound(format!("user {token:?}"))))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

async fn groups_page(app: &Arc<App>, session: &Session, error: Option<&Failure>) -> Response {
    match app.db(|conn| Ok(group::list(conn, GROUP_LIMIT)?)).await {
        Ok(list) => page(app, session, "Groups", error, groups_view(session, &list)),
        Err(e) => page(app, session, "Groups", Some(&e), html! {}),
    }
}

fn groups_view(session: &Session, list: &[Group]) -> Markup {
    html! {
        table {
            tr { th { "Id" } th { "Name" } th { "Type" } th { "Creator" } th { "Members" } th {} }
            @for g in list {
                tr { td { (g.id) } td { (g.name) }
                     td { @if g.kind == 1 { "normal" } @else { "temporary" } }
                     td { (g.creator) } td { (g.members) }
                     td { a href={ "/groups/view?id=" (g.id) } { "members" } } }
            }
        }
        fieldset { legend { "Create a group (through http_msg_server)" }
            form method="post" action="/groups/add" { (csrf(session))
                label { "Name " input name="name" required maxlength="256"; }
                label { "Owner (user name) " input name="owner" required; }
                p { small { "The owner is the first member. http_msg_server makes every group \
                    as the administrator, user 0, which is what the creator column shows." } }
                br;
                label { "Members (user names or ids, comma separated) "
                    input name="members" size="60"; }
                button type="submit" { "Create" }
            } }
    }
}

/// `GET /groups`.
pub async fn groups(State(app): AppState, headers: HeaderMap) -> Response {
    let Some(session) = app.session(&headers) else {
        return to_login();
    };
    groups_page(&app, &session, None).await
}

/// `POST /groups/add`: created through http_msg_server, then audited.
pub async fn group_add(
    State(app): AppState,
    headers: HeaderMap,
    Form(form): Form<GroupForm>,
) -> Response {
    let session = post_session!(app, headers, form);
    let actor = session.admin.clone();
    let name = form.name.clone();
    let server = app.http_msg_server.clone();
    let result = app
        .db(move |conn| {
            let owner = *resolve_users(conn, &form.owner)?
                .first()
                .ok_or_else(|| Failure::Input("owner: a user name is needed".into()))?;
            let mut members = vec![owner];
            for id in resolve_users(conn, &form.members)? {
                if id != owner {
                    members.push(id);
                }
            }
            let id = server.create_group(owner, &form.name, &members)?;
            audit::record_done(
                conn,
                &actor,
                "group.create",
                &format!("group {id} {}", form.name),
                &format!("owner {owner}, {} members", members.len()),
            )?;
            Ok(id)
        })
        .await;
    match result {
        Ok(id) => app.done(
            &session,
            format!("Group {name} created (id {id})."),
            "/groups",
        ),
        Err(e) => groups_page(&app, &session, Some(&e)).await,
    }
}

/// The group named in the query.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IdQuery {
    id: String,
}

async fn group_page(
    app: &Arc<App>,
    session: &Session,
    id: String,
    error: Option<&Failure>,
) -> Response {
    let loaded = app
        .db(move |conn| {
            let id = number("group", &id)?;
            let g = group::find(conn, id)?;
            let ids = group::members(conn, id)?;
            let members = user::by_ids(conn, &ids)?;
            Ok((g, members))
        })
        .await;
    match loaded {
        Ok((g, members)) => {
            let title = format!("Group {}", g.name);
            page(
                app,
                session,
                &title,
                error,
                group_view_markup(session, &g, &members),
            )
        }
        Err(e) => page(
            app,
            session,
            "Group",
            Some(error.unwrap_or(&e)),
            html! {
                p { a href="/groups" { "Back to the groups" } }
            },
        ),
    }
}

fn group_view_markup(session: &Session, g: &Group, members: &[User]) -> Markup {
    html! {
        p { "Id " (g.id) ", creator " (g.creator) " · " a href="/groups" { "all groups" } }
        table {
            tr { th { "Id" } th { "Name" } th { "Nick" } }
            @for u in members { tr { td { (u.id) } td { (u.name) } td { (u.nick) } } }
        }
        fieldset { legend { "Members (through http_msg_server: online members are notified)" }
            form method="post" action="/groups/members" { (csrf(session))
                input type="hidden" name="id" value=(g.id);
                select name="change" { option value="add" { "Add" } option value="remove" { "Remove" } }
                label { "User names or ids " input name="members" required size="50"; }
                button type="submit" { "Apply" }
            } }
        fieldset { legend { "Rename" }
            form method="post" action="/groups/rename" { (csrf(session))
                input type="hidden" name="id" value=(g.id);
                label { "New name " input name="name" required maxlength="256"; }
                button type="submit" { "Rename" }
            } }
    }
}

/// `GET /groups/view?id=`.
pub async fn group_view(
    State(app): AppState,
    headers: HeaderMap,
    Query(query): Query<IdQuery>,
) -> Response {
    let Some(session) = app.session(&headers) else {
        return to_login();
    };
    group_page(&app, &session, query.id, None).await
}

/// `POST /groups/rename`.
pub async fn group_rename(
    State(app): AppState,
    headers: HeaderMap,
    Form(form): Form<GroupForm>,
) -> Response {
    let session = post_session!(app, headers, form);
    let actor = session.admin.clone();
    let id = form.id.clone();
    let result = app
        .db(move |conn| {
            let id = number("group", &form.id)?;
            Ok(group::rename(conn, &actor, id, &form.name)?)
        })
        .await;
    match result {
        Ok(()) => app.done(
            &session,
            "Group renamed.".into(),
            &format!("/groups/view?id={}", id.trim()),
        ),
        Err(e) => group_page(&app, &session, id, Some(&e)).await,
    }
}

/// `POST /groups/members`: added or removed through http_msg_server in the creator's name,
/// then audited.
pub async fn group_members(
    State(app): AppState,
    headers: HeaderMap,
    Form(form): Form<GroupForm>,
) -> Response {
    let session = post_session!(app, headers, form);
    let actor = session.admin.clone();
    let id = form.id.clone();
    let server = app.http_msg_server.clone();
    let result = app
        .db(move |conn| {
            let id = number("group", &form.id)?;
            let change = match form.change.as_str() {
                "add" => Change::Add,
                "remove" => Change::Remove,
                _ => return Err(Failure::Input("change: add or remove".into())),
            };
            let g = group::find(conn, id)?;
            let members = resolve_users(conn, &form.members)?;
            server.change_members(g.creator, id, change, &members)?;
            let action = if change == Change::Add {
                "group.add_members"
            } else {
                "group.remove_members"
            };
            let list = members
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            audit::record_done(
                conn,
                &actor,
                action,
                &format!("group {id} {}", g.name),
                &list,
            )?;
            Ok(members.len())
        })
        .await;
    match result {
        Ok(n) => app.done(
            &session,
            format!("Members changed ({n} user(s))."),
            &format!("/groups/view?id={}", id.trim()),
        ),
        Err(e) => group_page(&app, &session, id, Some(&e)).await,
    }
}

// ---- audit ---------------------------------------------------------------------------------

/// `GET /audit`: the newest changes, newest first.
pub async fn audit(State(app): AppState, headers: HeaderMap) -> Response {
    let Some(session) = app.session(&headers) else {
        return to_login();
    };
    match app.db(|conn| Ok(audit::recent(conn, AUDIT_LIMIT)?)).await {
        Ok(entries) => {
            let body = html! {
                table {
                    tr { th { "When (UTC)" } th { "Who" } th { "What" } th { "On" } th { "Detail" } }
                    @for e in &entries {
                        tr { td { (when(e.created)) } td { (e.actor) } td { (e.action) }
                             td { (e.target) } td { (e.detail) } }
                    }
                }
            };
            page(&app, &session, "Audit log", None, body)
        }
        Err(e) => page(&app, &session, "Audit log", Some(&e), html! {}),
    }
}

fn when(unix: u32) -> String {
    chrono::DateTime::from_timestamp(i64::from(unix), 0).map_or_else(
        || unix.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// `text` percent-encoded for a query string value.
fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(urlencode("ann lee&x=1"), "ann%20lee%26x%3D1");
        assert_eq!(urlencode("李"), "%E6%9D%8E");
    }

    #[test]
    fn pages_escape_what_they_show() {
        let session = crate::session::Sessions::new(std::time::Duration::from_secs(9)).open("a");
        let d = Department {
            id: 1,
            name: "<script>x</script>".into(),
            parent: 0,
        };
        let html = departments_view(&session, &[d]).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
    }
}

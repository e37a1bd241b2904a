//! The HTTP side: the router, the shared state, sessions from cookies, CSRF checks on every
//! POST, and how a failure becomes a page. Every change goes through the `tt_admin` library
//! (blocking MySQL and HTTP calls) on tokio's blocking pool, so no request stalls the others.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, HeaderMap, HeaderValue, LOCATION,
    REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use log::error;
use tt_admin::AdminError;
use tt_admin::group::HttpMsgServer;

use crate::account::AccountError;
use crate::config::Config;
use crate::dashboard::Dashboard;
use crate::pages;
use crate::session::{Session, Sessions, Throttle, csrf_matches};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tt_admin_session";
/// Cookie holding the sign-in form's CSRF token: the form's hidden `csrf` field must equal it
/// (double submit), so another site cannot sign a browser in to an account of its choosing.
pub const LOGIN_COOKIE: &str = "tt_admin_login";
/// Largest form accepted (the biggest is a member list of 500 names).
const MAX_FORM: usize = 64 * 1024;

/// What every handler shares.
#[derive(Debug)]
pub struct App {
    /// The conf.
    pub config: Config,
    /// MySQL connections (the organisation's database).
    pub pool: mysql::Pool,
    /// Signed-in sessions.
    pub sessions: Sessions,
    /// Failed sign-ins.
    pub throttle: Throttle,
    /// The dashboard's probes and previous samples.
    pub dashboard: Dashboard,
    /// http_msg_server, for group changes.
    pub http_msg_server: HttpMsgServer,
}

/// Why a request was not done, as the page shows it.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The library refused or failed the operation.
    #[error("{0}")]
    Admin(#[from] AdminError),
    /// An administrator account operation failed.
    #[error("{0}")]
    Account(#[from] AccountError),
    /// No MySQL connection could be had.
    #[error("database: {0}")]
    Db(#[from] mysql::Error),
    /// A form field that cannot be read (e.g. a number that is not one).
    #[error("{0}")]
    Input(String),
    /// The blocking task died.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Failure {
    /// The HTTP status the page is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Admin(AdminError::Invalid { .. } | AdminError::Line { .. }) | Self::Input(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Account(AccountError::InvalidName(_)) => StatusCode::BAD_REQUEST,
            Self::Admin(AdminError::Exists(_) | AdminError::Refused(_))
            | Self::Account(AccountError::Exists(_)) => StatusCode::CONFLICT,
            Self::Admin(AdminError::NotFound(_)) => StatusCode::NOT_FOUND,
            Self::Admin(AdminError::Http(_)) => StatusCode::BAD_GATEWAY,
            Self::Admin(AdminError::Db(_) | AdminError::NoInsertId)
            | Self::Account(AccountError::Db(_) | AccountError::Hash(_))
            | Self::Db(_)
            | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl App {
    /// Runs `f` with a MySQL connection on the blocking pool.
    pub async fn db<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut mysql::Conn) -> Result<T, Failure> + Send + 'static,
    ) -> Result<T, Failure> {
        let app = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = app.pool.get_conn()?;
            f(conn.as_mut())
        })
        .await
        .map_err(|e| Failure::Internal(e.to_string()))?;
        if let Err(e) = &result {
            if e.status().is_server_error() {
                // An operator must look: the page shows it too, the log keeps it.
                error!("admin request failed: err={e}");
            }
        }
        result
    }

    /// The live session the request's cookie names.
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        self.sessions.touch(&session_cookie(headers)?)
    }

    /// The session of a POST whose form carried `csrf`, or the refusal to answer with.
    pub fn post_session(&self, headers: &HeaderMap, csrf: &str) -> Result<Session, Response> {
        let Some(session) = self.session(headers) else {
            return Err(pages::refusal(
                StatusCode::FORBIDDEN,
                "You are not signed in (or your session ended). Sign in and try again.",
            ));
        };
        if !csrf_matches(&session, csrf) {
            return Err(pages::refusal(
                StatusCode::FORBIDDEN,
                "The form was refused: its security token is missing or stale. Reload the page \
                 and submit it again.",
            ));
        }
        Ok(session)
    }

    /// After a change: leaves `notice` for the next page and sends the browser to `to`
    /// (post/redirect/get, so a reload does not post again).
    pub fn done(&self, session: &Session, notice: String, to: &str) -> Response {
        self.sessions.set_notice(&session.id, notice);
        see_other(to)
    }

    /// The `Set-Cookie` value carrying the sign-in form's CSRF token (`LOGIN_COOKIE`), sent
    /// only back to `/login`, for half an hour.
    pub fn login_cookie_header(&self, token: &str) -> String {
        let secure = if self.config.cookie_secure {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{LOGIN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/login; Max-Age=1800{secure}"
        )
    }

    /// The `Set-Cookie` value of a new session.
    pub fn session_cookie_header(&self, session: &Session) -> String {
        let secure = if self.config.cookie_secure {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{secure}",
            session.id
        )
    }
}

/// A 303 to `to`.
pub fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// A 303 to `to` that also sets (or clears) the session cookie.
pub fn see_other_with_cookie(to: &str, cookie: &str) -> Response {
    let mut response = see_other(to);
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// The session id in the request's cookies.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// The value of the cookie `wanted`, if the request carries it.
pub fn cookie(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == wanted).then(|| value.to_owned())
        })
}

/// Headers on every answer: no caching of admin pages, no framing, no scripts at all.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Every route.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(pages::dashboard))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/departments", get(pages::departments))
        .route("/departments/add", post(pages::department_add))
        .route("/departments/rename", post(pages::department_rename))
        .route("/departments/move", post(pages::department_move))
        .route("/departments/delete", post(pages::department_delete))
        .route("/users", get(pages::users))
        .route("/users/add", post(pages::user_add))
        .route("/users/edit", get(pages::user_edit))
        .route("/users/profile", post(pages::user_profile))
        .route("/users/password", post(pages::user_password))
        .route("/users/status", post(pages::user_status))
        .route("/groups", get(pages::groups))
        .route("/groups/add", post(pages::group_add))
        .route("/groups/view", get(pages::group_view))
        .route("/groups/rename", post(pages::group_rename))
        .route("/groups/members", post(pages::group_members))
        .route("/audit", get(pages::audit))
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

/// The source address of a request, for sign-in throttling.
pub type Peer = axum::extract::ConnectInfo<SocketAddr>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; tt_admin_session=abc; b=2"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        headers.insert(COOKIE, HeaderValue::from_static("xtt_admin_session=abc"));
        assert_eq!(session_cookie(&headers), None);
    }
}

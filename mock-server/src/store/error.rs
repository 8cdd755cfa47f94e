//! Belvo's domain error catalogue: every failure the store can report, with Belvo's exact
//! HTTP status, `code` and `message` (belvo-api.md §2). Rendering to JSON lives in `http/error.rs`.

use std::fmt;

use uuid::Uuid;

/// One field-validation problem, rendered as one element of Belvo's error array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// The MFA challenge carried by a 428 `token_required` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaChallenge {
    /// 32 lowercase hex characters.
    pub session: String,
    /// Seconds until the session expires.
    pub expiry: u64,
    pub link: Uuid,
}

/// Why a login to the institution failed (`login_error`); each has Belvo's exact message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginFailure {
    InvalidCredentials,
    Locked,
    Forbidden,
}

impl LoginFailure {
    pub fn message(self) -> &'static str {
        match self {
            Self::InvalidCredentials => "Invalid credentials provided to login to the institution",
            Self::Locked => {
                "The user account is locked, user needs to contact the institution to unlock it"
            }
            Self::Forbidden => "The user account access was forbidden by the institution",
        }
    }
}

/// Every error the domain can answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// One element per bad field (400).
    Validation(Vec<FieldError>),
    NotFound,
    TokenRequired(MfaChallenge),
    SessionExpired,
    Login(LoginFailure),
    TooManySessions,
    InstitutionDown,
    InstitutionUnavailable,
    InvalidLink,
    InvalidCredentialsStorage,
    InvalidFetchResources,
    /// Resources the institution does not offer were asked for; carries what it does offer.
    InvalidResources(&'static [&'static str]),
    UnconfirmedLink,
    InvalidAccessModeSwitch,
    LinkRefreshed {
        minutes: i64,
    },
    /// The sync link DELETE rate limit (5 a minute) was hit.
    Throttled {
        seconds: i64,
    },
    RequestTimeout,
    Unexpected,
}

impl Error {
    pub fn field(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    /// The HTTP status Belvo answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::TokenRequired(_) => 428,
            Self::LinkRefreshed { .. } => 409,
            Self::Throttled { .. } => 429,
            Self::RequestTimeout => 408,
            Self::Unexpected => 500,
            _ => 400,
        }
    }

    /// `(code, message)` pairs, one per element of the error array, with an optional field.
    pub fn elements(&self) -> Vec<(Option<&str>, &'static str, String)> {
        let single = |code: &'static str, message: &str| vec![(None, code, message.to_owned())];
        match self {
            Self::Validation(fields) => fields
                .iter()
                .map(|f| (Some(f.field.as_str()), f.code, f.message.clone()))
                .collect(),
            Self::NotFound => single("not_found", "Not found"),
            Self::TokenRequired(_) => {
                single("token_required", crate::event::TOKEN_REQUIRED_MESSAGE)
            }
            Self::SessionExpired => single(
                "session_expired",
                "The session you are trying to resume has expired, please start again from register/retrieve endpoint",
            ),
            Self::Login(failure) => single("login_error", failure.message()),
            Self::TooManySessions => single(
                "too_many_sessions",
                "Impossible to login, a session is already opened with the institution for these credentials",
            ),
            Self::InstitutionDown => single(
                "institution_down",
                "The financial institution is down, try again later",
            ),
            Self::InstitutionUnavailable => single(
                "institution_unavailable",
                "The financial institution is unavailable",
            ),
            Self::InvalidLink => single(
                "invalid_link",
                "The link has been invalidated. You may need to update link credentials",
            ),
            Self::InvalidCredentialsStorage => single(
                "invalid_credentials_storage",
                "Recurrent links must store the credentials",
            ),
            Self::InvalidFetchResources => single(
                "invalid_fetch_resources",
                "Single links without stored credentials must fetch resources",
            ),
            Self::InvalidResources(supported) => vec![(
                Some("resources"),
                "invalid",
                format!(
                    "The institution only supports the following resources: {}",
                    supported.join(", ")
                ),
            )],
            Self::UnconfirmedLink => single(
                "unconfirmed_link",
                "The link creation has not been completed yet",
            ),
            // Belvo's text, trailing quote included (spec 1.35.0).
            Self::InvalidAccessModeSwitch => single(
                "invalid_access_mode_switch",
                "This link doesn't have stored credentials hence it can't be switched to recurrent mode\"",
            ),
            Self::LinkRefreshed { minutes } => single(
                "link_refreshed",
                &format!(
                    "The link has already been refreshed. Please wait {minutes} minutes before trying again."
                ),
            ),
            Self::Throttled { seconds } => single(
                "throttled",
                &format!("Request was throttled. Expected available in {seconds} seconds."),
            ),
            Self::RequestTimeout => single(
                "request_timeout",
                "The request timed out, you can retry asking for less data by changing your query parameters",
            ),
            Self::Unexpected => single(
                "unexpected_error",
                "Belvo is unable to process the request due to an internal system issue or to an unsupported response from an institution",
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .elements()
            .into_iter()
            .map(|(field, code, message)| match field {
                Some(field) => format!("{field}: {code}: {message}"),
                None => format!("{code}: {message}"),
            })
            .collect();
        write!(f, "{}", parts.join("; "))
    }
}

impl std::error::Error for Error {}

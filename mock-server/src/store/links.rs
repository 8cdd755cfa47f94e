//! Links: the request rules of `LinksRequestEmploymentBrazil`, the scenarios a password can
//! trigger, and the Link object Belvo renders (belvo-api.md §3). Sessions are `sessions.rs`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::{Error, LoginFailure};
use super::fields::{Fields, NOT_VALID, Text};
use super::institutions::{self, ALL_RESOURCES, INSS_RESOURCES};
use super::query::Filter;
use crate::clock::format_timestamp;
use crate::event::{Event, Notice, Resource};
pub use crate::scenario::Scenario;

pub const ACCESS_MODES: &[&str] = &["single", "recurrent"];
pub const STATUSES: &[&str] = &["valid", "invalid", "unconfirmed", "token_required"];
pub const REFRESH_RATES: &[&str] = &["6h", "12h", "24h", "7d", "30d"];

/// How often Belvo refreshes a recurrent link (the values `refresh_rate` takes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RefreshRate {
    #[serde(rename = "6h")]
    SixHours,
    #[serde(rename = "12h")]
    TwelveHours,
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
}

impl RefreshRate {
    /// How long after a recurrent link's last update its next scheduled refresh runs.
    pub fn period(self) -> chrono::Duration {
        match self {
            Self::SixHours => chrono::Duration::hours(6),
            Self::TwelveHours => chrono::Duration::hours(12),
            Self::Day => chrono::Duration::days(1),
            Self::Week => chrono::Duration::days(7),
            Self::Month => chrono::Duration::days(30),
        }
    }
}

/// The refresh rate Belvo gives recurrent links.
const DEFAULT_REFRESH_RATE: RefreshRate = RefreshRate::Week;
/// Data retention and single-link credential storage default (365 days).
const DEFAULT_RETENTION: &str = "365d";

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessMode {
    Single,
    Recurrent,
}

impl AccessMode {
    fn parse(s: &str) -> Self {
        if s == "single" {
            Self::Single
        } else {
            Self::Recurrent
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Recurrent => "recurrent",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    Valid,
    Invalid,
    Unconfirmed,
    TokenRequired,
}

impl LinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Unconfirmed => "unconfirmed",
            Self::TokenRequired => "token_required",
        }
    }
}

/// The error the institution login answers with, for scenarios that fail the login.
pub fn login_error(scenario: Scenario) -> Option<Error> {
    Some(match scenario {
        Scenario::Invalid => Error::Login(LoginFailure::InvalidCredentials),
        Scenario::Locked => Error::Login(LoginFailure::Locked),
        Scenario::Forbidden => Error::Login(LoginFailure::Forbidden),
        Scenario::InstitutionDown => Error::InstitutionDown,
        Scenario::InstitutionUnavailable => Error::InstitutionUnavailable,
        Scenario::TooManySessions => Error::TooManySessions,
        Scenario::Timeout => Error::RequestTimeout,
        Scenario::Unexpected => Error::Unexpected,
        Scenario::NoMfa | Scenario::NoData | Scenario::TokenRequired => return None,
    })
}

/// The INSS password's rules (8 to 70 characters, kept as typed), for a new link and for
/// new credentials alike.
const PASSWORD: Text = Text {
    min: Some(8),
    max: Some(70),
    keep_whitespace: true,
    ..Text::REQUIRED
};

/// The MFA token that is always refused.
pub const WRONG_TOKEN: &str = "000000";

/// A stored link. The CPF and scenario are private to the fake: Belvo never renders them. Its
/// serde form is the database row (every field but the institution, which is always INSS).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Link {
    pub id: Uuid,
    #[serde(skip, default = "inss")]
    pub institution: &'static str,
    pub access_mode: AccessMode,
    pub last_accessed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub external_id: Option<String>,
    pub institution_user_id: String,
    pub status: LinkStatus,
    pub created_by: Uuid,
    pub refresh_rate: Option<RefreshRate>,
    pub credentials_storage: String,
    pub fetch_resources: Vec<String>,
    /// `None` for a single link given none, as Belvo's INSS link guide shows (§11.1).
    pub stale_in: Option<String>,
    /// The user's CPF, 11 digits: the seed of all their data.
    pub cpf: String,
    pub scenario: Option<Scenario>,
    /// The last explicit refresh, for the 10-minute cooldown.
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// When a link just switched from single to recurrent gets its historical update (the
    /// next day, spec 1.223), before joining the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub historical_due: Option<DateTime<Utc>>,
    /// Its status changes, oldest first (the last [`HISTORY`]), for the dashboard.
    #[serde(default)]
    pub history: Vec<StatusChange>,
    /// Insertion order within the tenant; lists are newest first.
    pub seq: u64,
}

/// Status changes kept per link.
pub const HISTORY: usize = 20;

/// One change of a link's status, and what caused it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusChange {
    pub at: DateTime<Utc>,
    pub status: LinkStatus,
    pub cause: String,
}

impl Link {
    /// A webhook about this link, caused by `request_id`.
    pub fn event(&self, request_id: Uuid, notice: Notice) -> Event {
        Event {
            link_id: self.id,
            request_id,
            external_id: self.external_id.clone(),
            notice,
        }
    }

    /// Sets the status, noting the change in the link's history.
    pub fn set_status(&mut self, status: LinkStatus, at: DateTime<Utc>, cause: &str) {
        self.status = status;
        if self.history.len() >= HISTORY {
            self.history.remove(0);
        }
        self.history.push(StatusChange {
            at,
            status,
            cause: cause.to_owned(),
        });
    }

    /// When the schedule refreshes this link next: recurrent and `valid` links only, at their
    /// `refresh_rate` after their last update (or at their pending historical update).
    pub fn next_refresh(&self) -> Option<DateTime<Utc>> {
        if self.status != LinkStatus::Valid || self.access_mode != AccessMode::Recurrent {
            return None;
        }
        if let Some(due) = self.historical_due {
            return Some(due);
        }
        let last = self.last_accessed_at?;
        last.checked_add_signed(self.refresh_rate?.period())
    }

    /// The resources its historical updates fetch (its `fetch_resources` this fake serves).
    pub fn resources(&self) -> Vec<Resource> {
        self.fetch_resources
            .iter()
            .filter_map(|r| Resource::parse(r))
            .collect()
    }

    /// The Link object exactly as Belvo renders it.
    pub fn to_json(&self) -> Value {
        self.view(FIELDS)
    }

    /// The link with only `keys` (in that order), for filtering without rendering it whole.
    pub fn view(&self, keys: &[&str]) -> Value {
        let fields = keys.iter().map(|key| ((*key).to_owned(), self.field(key)));
        Value::Object(fields.collect())
    }

    fn field(&self, key: &str) -> Value {
        match key {
            "id" => json!(self.id),
            "institution" => json!(self.institution),
            "access_mode" => json!(self.access_mode.as_str()),
            "last_accessed_at" => json!(self.last_accessed_at.map(format_timestamp)),
            "created_at" => json!(format_timestamp(self.created_at)),
            "external_id" => json!(self.external_id),
            "institution_user_id" => json!(self.institution_user_id),
            "status" => json!(self.status.as_str()),
            "created_by" => json!(self.created_by),
            "refresh_rate" => json!(self.refresh_rate),
            "credentials_storage" => json!(self.credentials_storage),
            "fetch_resources" => json!(self.fetch_resources),
            "stale_in" => json!(self.stale_in),
            _ => Value::Null,
        }
    }
}

/// A link's fields on the wire, in Belvo's order.
const FIELDS: &[&str] = &[
    "id",
    "institution",
    "access_mode",
    "last_accessed_at",
    "created_at",
    "external_id",
    "institution_user_id",
    "status",
    "created_by",
    "refresh_rate",
    "credentials_storage",
    "fetch_resources",
    "stale_in",
];

fn inss() -> &'static str {
    institutions::INSS
}

/// Belvo's 44-character per-user id: stable for a CPF at an institution.
pub fn institution_user_id(institution: &str, cpf: &str) -> String {
    let digest = Sha256::digest(format!("{institution}:{cpf}").as_bytes());
    URL_SAFE.encode(digest)
}

/// A `POST /api/links/` body that passed every rule.
#[derive(Clone, Debug)]
pub struct NewLink {
    pub institution: &'static str,
    pub cpf: String,
    pub scenario: Option<Scenario>,
    pub access_mode: AccessMode,
    pub external_id: Option<String>,
    pub credentials_storage: String,
    pub fetch_resources: Vec<String>,
    pub stale_in: Option<String>,
}

/// The CPF in a username: 11 digits or `XXX.XXX.XXX-XX` (nothing else), with valid check
/// digits and not all digits equal. Returns the 11 digits.
fn parse_cpf(username: &str) -> Option<String> {
    stdbr_core::cpf::is_valid_strict(username).ok()?;
    Some(stdbr_core::cpf::remove_symbols(username))
}

pub(super) fn credentials_storage_ok(value: &str) -> bool {
    match value {
        "store" | "nostore" => true,
        days => days_value(days).is_some_and(|n| (1..=365).contains(&n)),
    }
}

/// `Nd` with 1 to 3 digits.
fn days_value(value: &str) -> Option<u32> {
    let digits = value.strip_suffix('d')?;
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reads `stale_in` (pattern `^\d{1,3}d$`).
pub(super) fn stale_in(fields: &mut Fields<'_>) -> Option<String> {
    let value = fields.text("stale_in", Text::OPTIONAL)?;
    if days_value(&value).is_none() {
        fields.add("stale_in", "invalid", NOT_VALID);
        return None;
    }
    Some(value)
}

/// Reads `fetch_resources`: names Belvo does not know are `invalid_choice`.
pub(super) fn fetch_resources(fields: &mut Fields<'_>) -> Option<Vec<String>> {
    fields.choice_list("fetch_resources", ALL_RESOURCES)
}

/// Resources known to Belvo but not offered by INSS are refused as a whole (`invalid`/`resources`).
pub(super) fn check_supported(resources: &[String]) -> Result<(), Error> {
    if resources
        .iter()
        .all(|r| INSS_RESOURCES.contains(&r.as_str()))
    {
        Ok(())
    } else {
        Err(Error::InvalidResources(INSS_RESOURCES))
    }
}

impl NewLink {
    /// Applies every rule of `LinksRequestEmploymentBrazil`. Extra keys the SDKs send
    /// (`save_data`, `username_type`, `token`, …) are ignored.
    pub fn validate(body: &Map<String, Value>) -> Result<Self, Error> {
        let mut f = Fields::new(body);
        let institution = f.text("institution", Text::REQUIRED);
        let username = f.text("username", Text::REQUIRED);
        let password = f.text("password", PASSWORD);
        let external_id = f.text(
            "external_id",
            Text {
                allow_null: true,
                min: Some(3),
                max: Some(256),
                ..Text::OPTIONAL
            },
        );
        let access_mode = f.choice("access_mode", ACCESS_MODES);
        let resources = fetch_resources(&mut f);
        let storage = f.text("credentials_storage", Text::OPTIONAL);
        if let Some(s) = &storage
            && !credentials_storage_ok(s)
        {
            f.add("credentials_storage", "invalid", NOT_VALID);
        }
        let stale_in = stale_in(&mut f);

        let institution = institution.and_then(|name| {
            if institutions::exists(&name) {
                Some(institutions::INSS)
            } else {
                f.add(
                    "institution",
                    "does_not_exist",
                    format!("Object with name={name} does not exist."),
                );
                None
            }
        });
        let cpf = username.and_then(|u| {
            let cpf = parse_cpf(&u);
            if cpf.is_none() {
                f.add("username", "invalid", NOT_VALID);
            }
            cpf
        });
        f.finish()?;
        let (Some(institution), Some(cpf), Some(password)) = (institution, cpf, password) else {
            // `finish` reports every missing required field, so this is unreachable.
            return Err(Error::Unexpected);
        };

        let access_mode = access_mode.map_or(AccessMode::Recurrent, AccessMode::parse);
        if let Some(resources) = &resources {
            check_supported(resources)?;
        }
        let credentials_storage = match (access_mode, storage) {
            (AccessMode::Recurrent, Some(s)) if s != "store" => {
                return Err(Error::InvalidCredentialsStorage);
            }
            (_, Some(s)) => s,
            (AccessMode::Recurrent, None) => "store".to_owned(),
            (AccessMode::Single, None) => DEFAULT_RETENTION.to_owned(),
        };
        if credentials_storage == "nostore" && resources.as_ref().is_none_or(Vec::is_empty) {
            return Err(Error::InvalidFetchResources);
        }
        Ok(Self {
            institution,
            cpf,
            scenario: Scenario::from_name(&password),
            access_mode,
            // Belvo forces `null` when it detects personal data (spec 1.223); the value is
            // never stored, echoed or logged.
            external_id: external_id.filter(|id| !super::pii::contains_pii(id)),
            credentials_storage,
            fetch_resources: resources
                .unwrap_or_else(|| INSS_RESOURCES.iter().map(|s| (*s).to_owned()).collect()),
            // A recurrent link keeps its data for the default retention; a single one given
            // none has `null`, as in the guide's PATCH response.
            stale_in: stale_in.or_else(|| {
                (access_mode == AccessMode::Recurrent).then(|| DEFAULT_RETENTION.to_owned())
            }),
        })
    }

    pub fn into_link(
        self,
        id: Uuid,
        created_by: Uuid,
        now: DateTime<Utc>,
        status: LinkStatus,
        seq: u64,
    ) -> Link {
        Link {
            id,
            institution: self.institution,
            access_mode: self.access_mode,
            last_accessed_at: (status == LinkStatus::Valid).then_some(now),
            created_at: now,
            external_id: self.external_id,
            institution_user_id: institution_user_id(self.institution, &self.cpf),
            status,
            created_by,
            refresh_rate: match self.access_mode {
                AccessMode::Recurrent => Some(DEFAULT_REFRESH_RATE),
                AccessMode::Single => None,
            },
            credentials_storage: self.credentials_storage,
            fetch_resources: self.fetch_resources,
            stale_in: self.stale_in,
            cpf: self.cpf,
            scenario: self.scenario,
            last_refresh_at: None,
            historical_due: None,
            history: vec![StatusChange {
                at: now,
                status,
                cause: "created".to_owned(),
            }],
            seq,
        }
    }
}

/// A `PATCH /api/links/` body: resume a login paused by a 428.
#[derive(Clone, Debug)]
pub struct Resume {
    pub link: Uuid,
    pub session: String,
    /// `None` when no token was sent: the institution still wants one.
    pub token: Option<String>,
}

impl Resume {
    pub fn validate(body: &Map<String, Value>) -> Result<Self, Error> {
        let mut f = Fields::new(body);
        let session = f.text("session", Text::REQUIRED);
        let link = f.uuid("link", true);
        let token = f.text("token", Text::OPTIONAL);
        f.boolean("save_data");
        f.finish()?;
        match (link, session) {
            (Some(link), Some(session)) => Ok(Self {
                link,
                session,
                token,
            }),
            _ => Err(Error::Unexpected),
        }
    }
}

/// A `PATCH /api/links/{id}/` body: access mode, retention and resources to fetch.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub access_mode: Option<AccessMode>,
    pub stale_in: Option<String>,
    pub fetch_resources: Option<Vec<String>>,
}

impl Options {
    pub fn validate(body: &Map<String, Value>) -> Result<Self, Error> {
        let mut f = Fields::new(body);
        let access_mode = f.choice("access_mode", ACCESS_MODES).map(AccessMode::parse);
        let stale_in = stale_in(&mut f);
        let fetch_resources = fetch_resources(&mut f);
        f.finish()?;
        if let Some(resources) = &fetch_resources {
            check_supported(resources)?;
        }
        Ok(Self {
            access_mode,
            stale_in,
            fetch_resources,
        })
    }

    /// Applies the change; a link without stored credentials cannot become recurrent.
    pub fn apply(self, link: &mut Link) -> Result<(), Error> {
        if self.access_mode == Some(AccessMode::Recurrent)
            && link.access_mode != AccessMode::Recurrent
        {
            if link.credentials_storage == "nostore" {
                return Err(Error::InvalidAccessModeSwitch);
            }
            link.access_mode = AccessMode::Recurrent;
            link.credentials_storage = "store".to_owned();
            link.refresh_rate = Some(DEFAULT_REFRESH_RATE);
            link.stale_in
                .get_or_insert_with(|| DEFAULT_RETENTION.to_owned());
        } else if self.access_mode == Some(AccessMode::Single) {
            link.access_mode = AccessMode::Single;
            link.refresh_rate = None;
        }
        if let Some(stale_in) = self.stale_in {
            link.stale_in = Some(stale_in);
        }
        if let Some(resources) = self.fetch_resources {
            link.fetch_resources = resources;
        }
        Ok(())
    }
}

/// A `PUT /api/links/{id}/` body: the user's new password (`password2`/`token` accepted).
pub fn validate_credentials(body: &Map<String, Value>) -> Result<Option<Scenario>, Error> {
    let mut f = Fields::new(body);
    let password = f.text("password", PASSWORD);
    f.text("password2", Text::OPTIONAL);
    f.text("token", Text::OPTIONAL);
    f.finish()?;
    Ok(password.as_deref().and_then(Scenario::from_name))
}

/// A `POST /api/links/{id}/refresh/` body: optional `fetch_resources`.
pub fn validate_refresh(body: &Map<String, Value>) -> Result<Vec<Resource>, Error> {
    let mut f = Fields::new(body);
    let resources = fetch_resources(&mut f);
    f.finish()?;
    let resources = resources
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| INSS_RESOURCES.iter().map(|s| (*s).to_owned()).collect());
    check_supported(&resources)?;
    Ok(resources
        .iter()
        .filter_map(|r| Resource::parse(r))
        .collect())
}

/// The filters of `GET /api/links/` (spec 1.223.0).
pub fn filters() -> Vec<Filter> {
    let mut filters = vec![
        Filter::uuid("id", &["id"]),
        Filter::uuid_in("id__in", &["id"]),
        Filter::text("institution", &["institution"]),
        Filter::text_in("institution__in", &["institution"]),
        Filter::choice("access_mode", &["access_mode"], ACCESS_MODES),
        Filter::text("external_id", &["external_id"]),
        Filter::text_in("external_id__in", &["external_id"]),
        Filter::text("institution_user_id", &["institution_user_id"]),
        Filter::text_in("institution_user_id__in", &["institution_user_id"]),
        Filter::nullable_choice("refresh_rate", &["refresh_rate"], REFRESH_RATES),
        Filter::choice("status", &["status"], STATUSES),
        Filter::choice_in("status__in", &["status"], STATUSES),
        Filter::uuid_not_in("created_by__not_in", &["created_by"]),
    ];
    filters.extend(Filter::created_at());
    filters
}

#[cfg(test)]
mod tests;

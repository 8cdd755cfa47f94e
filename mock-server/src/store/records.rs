//! Owners and Brazilian employments stored for a link: the records Belvo renders ("Owner
//! Standard (Multi-Region)" and `EmploymentBrazil`), their ids, the request rules of the
//! retrieve endpoints, and the list filters.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::Error;
use super::fields::{Fields, Text};
use super::query::Filter;
use crate::clock::format_timestamp;
use crate::fixtures::{Employment, Owner};

/// The stable id of the `index`-th record of `kind` fetched for `link`: unique per link, and
/// the same on every retrieve so refreshed data keeps its ids.
pub fn record_id(link: Uuid, kind: &str, index: usize) -> Uuid {
    let digest = Sha256::digest(format!("{link}/{kind}/{index}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// One stored owner.
#[derive(Clone, Debug)]
pub struct OwnerRecord {
    pub id: Uuid,
    pub link: Uuid,
    pub collected_at: DateTime<Utc>,
    /// When this data point was last new (see [`Fetched::created_at`]).
    pub created_at: DateTime<Utc>,
    /// The link's CPF (11 digits): the owner's `document_id`.
    pub cpf: String,
    pub owner: Owner,
}

impl OwnerRecord {
    pub fn to_json(&self) -> Value {
        let o = &self.owner;
        json!({
            "id": self.id,
            "link": self.link,
            "internal_identification": o.internal_identification,
            "collected_at": format_timestamp(self.collected_at),
            "created_at": format_timestamp(self.created_at),
            "display_name": o.display_name,
            "email": o.email,
            "phone_number": o.phone_number,
            "address": o.address,
            "document_id": {"document_type": "CPF", "document_number": self.cpf},
            "business_name": o.business_name,
            "first_name": o.first_name,
            "last_name": o.last_name,
            "second_last_name": o.second_last_name,
        })
    }
}

/// One stored employment.
#[derive(Clone, Debug)]
pub struct EmploymentRecord {
    pub id: Uuid,
    pub link: Uuid,
    pub collected_at: DateTime<Utc>,
    /// When this data point was last new (see [`Fetched::created_at`]).
    pub created_at: DateTime<Utc>,
    pub employment: Employment,
}

impl EmploymentRecord {
    pub fn to_json(&self) -> Value {
        let e = &self.employment;
        json!({
            "id": self.id,
            "link": self.link,
            "created_at": format_timestamp(self.created_at),
            "collected_at": format_timestamp(self.collected_at),
            "start_date": e.start_date,
            "end_date": e.end_date,
            "employer_data": e.employer_data,
            "occupations": e.occupations,
            "salaries": e.salaries,
        })
    }
}

/// One stored record: which item of the person it is, its id and when it was collected.
/// The content is regenerated from (seed, CPF, collection day) when rendered, so a link's
/// data costs a few dozen bytes however long the salary history is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fetched {
    pub index: usize,
    pub id: Uuid,
    pub collected_at: DateTime<Utc>,
    /// When the record was last new: the refresh that first found it, or found it changed
    /// (a new salary month, an end date). `None`: its collection (a historical update
    /// collects everything anew).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

impl Fetched {
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at.unwrap_or(self.collected_at)
    }
}

/// What has been fetched for one link; `None` means never fetched (an empty list).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct LinkData {
    pub owners: Option<Vec<Fetched>>,
    pub employments: Option<Vec<Fetched>>,
}

impl LinkData {
    /// The ids of every owner and employment in it.
    pub fn ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.owners
            .iter()
            .flatten()
            .chain(self.employments.iter().flatten())
            .map(|f| f.id)
    }
}

/// A `POST /api/owners/` body.
#[derive(Clone, Debug)]
pub struct OwnersRetrieve {
    pub link: Uuid,
    pub token: Option<String>,
    pub save_data: bool,
}

impl OwnersRetrieve {
    pub fn validate(body: &Map<String, Value>) -> Result<Self, Error> {
        let mut f = Fields::new(body);
        let link = f.uuid("link", true);
        let token = f.text(
            "token",
            Text {
                allow_null: true,
                ..Text::OPTIONAL
            },
        );
        let save_data = f.boolean("save_data");
        f.finish()?;
        let link = link.ok_or(Error::Unexpected)?;
        Ok(Self {
            link,
            token,
            save_data: save_data.unwrap_or(true),
        })
    }
}

/// A `POST /api/br/employments/` body.
#[derive(Clone, Debug)]
pub struct EmploymentsRetrieve {
    pub link: Uuid,
    pub date_from: Option<NaiveDate>,
    pub date_to: Option<NaiveDate>,
    pub save_data: bool,
}

const DATE_FORMAT: &str = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.";

fn date_field(f: &mut Fields<'_>, name: &str) -> Option<NaiveDate> {
    let text = f.text(name, Text::OPTIONAL)?;
    let parsed = (text.len() == 10)
        .then(|| NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok())
        .flatten();
    if parsed.is_none() {
        f.add(name, "invalid", DATE_FORMAT);
    }
    parsed
}

impl EmploymentsRetrieve {
    /// `link` required; `date_from`/`date_to` as `YYYY-MM-DD`, in order, not after `today`.
    pub fn validate(body: &Map<String, Value>, today: NaiveDate) -> Result<Self, Error> {
        let mut f = Fields::new(body);
        let link = f.uuid("link", true);
        let date_from = date_field(&mut f, "date_from");
        let date_to = date_field(&mut f, "date_to");
        let save_data = f.boolean("save_data");
        if let Some(to) = date_to
            && to > today
        {
            f.add("date_to", "invalid", "date_to cannot be in the future.");
        }
        if let (Some(from), Some(to)) = (date_from, date_to)
            && from > to
        {
            f.add("date_from", "invalid", "date_from cannot be after date_to.");
        }
        f.finish()?;
        Ok(Self {
            link: link.ok_or(Error::Unexpected)?,
            date_from,
            date_to,
            save_data: save_data.unwrap_or(true),
        })
    }

    /// Whether an employment overlaps the requested period.
    pub fn covers(&self, employment: &Employment) -> bool {
        let starts_in_time = self.date_to.is_none_or(|to| employment.start_date <= to);
        let ends_in_time = match (self.date_from, employment.end_date) {
            (Some(from), Some(end)) => end >= from,
            _ => true,
        };
        starts_in_time && ends_in_time
    }
}

/// The filters of `GET /api/owners/` (spec 1.223.0).
pub fn owner_filters() -> Vec<Filter> {
    let mut filters = vec![
        Filter::uuid("link", &["link"]),
        Filter::uuid_in("link__in", &["link"]),
        Filter::uuid("id", &["id"]),
        Filter::uuid_in("id__in", &["id"]),
        Filter::text("email", &["email"]),
        Filter::contains("display_name__icontains", &["display_name"]),
    ];
    filters.extend(Filter::created_at());
    filters
}

/// The filters of `GET /api/br/employments/` (spec 1.223.0).
pub fn employment_filters() -> Vec<Filter> {
    let mut filters = vec![
        Filter::uuid("link", &["link"]),
        Filter::uuid_in("link__in", &["link"]),
        Filter::uuid("id", &["id"]),
        Filter::uuid_in("id__in", &["id"]),
    ];
    filters.extend(Filter::dates(
        [
            "start_date",
            "start_date__gt",
            "start_date__gte",
            "start_date__lt",
            "start_date__lte",
            "start_date__range",
        ],
        &["start_date"],
    ));
    filters.extend(Filter::dates(
        [
            "end_date",
            "end_date__gt",
            "end_date__gte",
            "end_date__lt",
            "end_date__lte",
            "end_date__range",
        ],
        &["end_date"],
    ));
    filters.extend(Filter::created_at());
    filters
}

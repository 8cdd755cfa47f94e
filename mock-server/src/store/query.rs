//! Query-string filters with django-filter's rules: unknown parameters are ignored, empty values
//! mean "no filter", `__in` lists are comma-separated, dates compare on `YYYY-MM-DD`, and a bad
//! value is a 400 naming the parameter. Filters run over the JSON a record renders to, so owners
//! and employments reuse them unchanged.

use chrono::NaiveDate;
use serde_json::Value;
use uuid::Uuid;

use super::error::{Error, FieldError};

/// The decoded query string, in order, duplicates kept (the last one wins, as in Django).
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// Decodes a raw (percent-encoded) query string.
    pub fn parse(raw: &str) -> Self {
        Self(
            form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Non-empty comma-separated items of `name`.
    pub fn list(&self, name: &str) -> Option<Vec<&str>> {
        self.get(name).map(split_list).filter(|l| !l.is_empty())
    }

    /// Checks every filter parameter that is present; all bad ones are reported together.
    pub fn compile(&self, filters: &[Filter]) -> Result<Compiled, Error> {
        let mut errors = Vec::new();
        let mut tests = Vec::new();
        for filter in filters {
            let Some(raw) = self.get(filter.param).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            match filter.kind.compile(raw) {
                Ok(test) => tests.push((filter.path, test)),
                Err((code, message)) => errors.push(FieldError::new(filter.param, code, message)),
            }
        }
        if errors.is_empty() {
            Ok(Compiled(tests))
        } else {
            Err(Error::Validation(errors))
        }
    }
}

fn split_list(raw: &str) -> Vec<&str> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// One accepted query parameter and the record field it tests.
#[derive(Clone, Debug)]
pub struct Filter {
    param: &'static str,
    path: &'static [&'static str],
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Text,
    TextIn,
    Contains,
    Within,
    WithinAny,
    AllOf,
    Choice(&'static [&'static str]),
    ChoiceIn(&'static [&'static str]),
    /// A choice where the literal `null` matches a JSON null.
    NullableChoice(&'static [&'static str]),
    Uuid,
    UuidIn,
    UuidNotIn,
    Date(DateOp),
}

#[derive(Clone, Copy, Debug)]
enum DateOp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
    Range,
}

type Problem = (&'static str, String);

impl Kind {
    fn compile(&self, raw: &str) -> Result<Test, Problem> {
        let raw = raw.trim();
        Ok(match self {
            Kind::Text => Test::Equals(vec![Value::String(raw.to_owned())]),
            Kind::TextIn => Test::Equals(
                split_list(raw)
                    .into_iter()
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            ),
            Kind::Contains => Test::Contains(raw.to_lowercase()),
            Kind::Within => Test::HasAny(vec![raw.to_owned()]),
            Kind::WithinAny => Test::HasAny(split_list(raw).into_iter().map(Into::into).collect()),
            Kind::AllOf => Test::HasAll(split_list(raw).into_iter().map(Into::into).collect()),
            Kind::Choice(choices) => Test::Equals(vec![choose(choices, raw)?]),
            Kind::ChoiceIn(choices) => Test::Equals(
                split_list(raw)
                    .into_iter()
                    .map(|item| choose(choices, item))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::NullableChoice(choices) => {
                if raw == "null" {
                    Test::Equals(vec![Value::Null])
                } else {
                    Test::Equals(vec![choose(choices, raw)?])
                }
            }
            Kind::Uuid => Test::Equals(vec![uuid(raw)?]),
            Kind::UuidIn => Test::Equals(
                split_list(raw)
                    .into_iter()
                    .map(uuid)
                    .collect::<Result<_, _>>()?,
            ),
            Kind::UuidNotIn => Test::NotEquals(
                split_list(raw)
                    .into_iter()
                    .map(uuid)
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Date(op) => {
                let (from, to) = match op {
                    DateOp::Range => {
                        let parts = split_list(raw);
                        let [a, b] = parts.as_slice() else {
                            return Err(("invalid", "Enter a valid date range.".to_owned()));
                        };
                        (date(a)?, date(b)?)
                    }
                    _ => {
                        let d = date(raw)?;
                        (d, d)
                    }
                };
                Test::Date(*op, from, to)
            }
        })
    }
}

fn choose(choices: &[&'static str], raw: &str) -> Result<Value, Problem> {
    if choices.contains(&raw) {
        Ok(Value::String(raw.to_owned()))
    } else {
        Err((
            "invalid_choice",
            format!("Select a valid choice. {raw} is not one of the available choices."),
        ))
    }
}

fn uuid(raw: &str) -> Result<Value, Problem> {
    Uuid::try_parse(raw)
        .map(|u| Value::String(u.hyphenated().to_string()))
        .map_err(|_| ("invalid", "Enter a valid UUID.".to_owned()))
}

/// A `YYYY-MM-DD` date, or the date part of an ISO 8601 timestamp (older specs allowed both).
fn date(raw: &str) -> Result<NaiveDate, Problem> {
    let day = raw.get(..10).unwrap_or(raw);
    let full_ok = raw.len() == 10 || raw.as_bytes().get(10).is_some_and(|b| *b == b'T');
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .filter(|_| full_ok)
        .ok_or(("invalid", "Enter a valid date.".to_owned()))
}

#[derive(Clone, Debug)]
enum Test {
    Equals(Vec<Value>),
    NotEquals(Vec<Value>),
    Contains(String),
    HasAny(Vec<String>),
    HasAll(Vec<String>),
    Date(DateOp, NaiveDate, NaiveDate),
}

impl Test {
    fn matches(&self, value: &Value) -> bool {
        match self {
            Test::Equals(options) => options.contains(value),
            Test::NotEquals(options) => !options.contains(value),
            Test::Contains(needle) => value
                .as_str()
                .is_some_and(|s| s.to_lowercase().contains(needle)),
            Test::HasAny(wanted) => strings(value).any(|s| wanted.iter().any(|w| w == s)),
            Test::HasAll(wanted) => wanted.iter().all(|w| strings(value).any(|s| s == w)),
            Test::Date(op, from, to) => {
                let Some(day) = value
                    .as_str()
                    .and_then(|s| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok())
                else {
                    // A null date (an open `end_date`) matches no date comparison, as in SQL.
                    return false;
                };
                match op {
                    DateOp::Eq => day == *from,
                    DateOp::Gt => day > *from,
                    DateOp::Gte => day >= *from,
                    DateOp::Lt => day < *from,
                    DateOp::Lte => day <= *from,
                    DateOp::Range => day >= *from && day <= *to,
                }
            }
        }
    }
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Filters checked and ready to run over records.
#[derive(Debug)]
pub struct Compiled(Vec<(&'static [&'static str], Test)>);

impl Compiled {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The top-level keys the filters read: a record rendered with only these matches as the
    /// whole record does.
    pub fn keys(&self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = self
            .0
            .iter()
            .filter_map(|(path, _)| path.first().copied())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    pub fn matches(&self, record: &Value) -> bool {
        self.0.iter().all(|(path, test)| {
            let value = path
                .iter()
                .try_fold(record, |v, key| v.get(key))
                .unwrap_or(&Value::Null);
            test.matches(value)
        })
    }
}

impl Filter {
    const fn new(param: &'static str, path: &'static [&'static str], kind: Kind) -> Self {
        Self { param, path, kind }
    }
    pub const fn text(param: &'static str, path: &'static [&'static str]) -> Self {
        Self::new(param, path, Kind::Text)
    }
    pub const fn text_in(param: &'static str, path: &'static [&'static str]) -> Self {
        Self::new(param, path, Kind::TextIn)
    }
    /// Case-insensitive substring.
    pub const fn contains(param: &'static str, path: &'static [&'static str]) -> Self {
        Self::new(param, path, Kind::Contains)
    }
    /// The record's array holds this value.
    pub const fn within(param: &'static str, path: &'static [&'static str]) -> Self {
        Self::new(param, path, Kind::Within)
    }
    /// The record's array holds one of these values.
    pub const fn within_any(param: &'static str, path: &'static [&'static str]) -> Self {
        Self::new(param, path, Kind::WithinAny)
    }
    /// The record's array holds all of these values.
    pub const fn all_of(param: &'static str, path: &'static [&'static str]) -> Self {
        Self::new(param, path, Kind::AllOf)
    }
    pub const fn choice(
        param: &'static str,
        path: &'static [&'static str],
        choices: &'static [&'static str],
    ) -> Self {
        Self::new(param, path, Kind::Choice(choices))
    }
    pub const fn choice_in(
        param: &'static str,
        path: &'static [&'static str],
        choices: &'static [&'static str],
    ) -> Self {
        Self::new(param, path, Kind::ChoiceIn(choices))
    }
    pub const fn nullable_choice(
        param: &'static str,
        path: &'static [&'static str],
        choices: &'static [&'static str],
    ) -> Self {
        Self::new(param, path, Kind::NullableChoice(choices))
    }
    pub const fn uuid(param: &'static str, path: &'static [&'static str]) -> Self {
        Self::new(param, path, Kind::Uuid)
    }
    pub const fn uuid_in(param: &'static str, path: &'static [&'static str]) -> Self {
        Self::new(param, path, Kind::UuidIn)
    }
    pub const fn uuid_not_in(param: &'static str, path: &'static [&'static str]) -> Self {
        Self::new(param, path, Kind::UuidNotIn)
    }

    /// `created_at` and its `__gt/__gte/__lt/__lte/__range` (the day of the record's creation).
    pub fn created_at() -> impl Iterator<Item = Self> {
        Self::dates(
            [
                "created_at",
                "created_at__gt",
                "created_at__gte",
                "created_at__lt",
                "created_at__lte",
                "created_at__range",
            ],
            &["created_at"],
        )
    }

    /// `name`, `name__gt`, `__gte`, `__lt`, `__lte` and `__range` on a date or timestamp field.
    pub fn dates(
        params: [&'static str; 6],
        path: &'static [&'static str],
    ) -> impl Iterator<Item = Self> {
        let ops = [
            DateOp::Eq,
            DateOp::Gt,
            DateOp::Gte,
            DateOp::Lt,
            DateOp::Lte,
            DateOp::Range,
        ];
        params
            .into_iter()
            .zip(ops)
            .map(move |(param, op)| Self::new(param, path, Kind::Date(op)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(query: &str, filters: &[Filter], record: &Value) -> Result<bool, Error> {
        Params::parse(query)
            .compile(filters)
            .map(|c| c.matches(record))
    }

    #[test]
    fn empty_and_unknown_parameters_filter_nothing() {
        let filters = [Filter::choice("status", &["status"], &["valid"])];
        let record = json!({"status": "invalid"});
        assert_eq!(run("status=&whatever=1", &filters, &record), Ok(true));
    }

    #[test]
    fn bad_choices_are_a_validation_error_naming_the_parameter() {
        let filters = [Filter::choice_in(
            "status__in",
            &["status"],
            &["valid", "invalid"],
        )];
        let Err(Error::Validation(errors)) = run("status__in=valid,nope", &filters, &json!({}))
        else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].field, "status__in");
        assert_eq!(errors[0].code, "invalid_choice");
        assert_eq!(
            errors[0].message,
            "Select a valid choice. nope is not one of the available choices."
        );
    }

    #[test]
    fn date_filters_compare_the_day_of_a_timestamp() {
        let filters: Vec<Filter> = Filter::dates(
            [
                "created_at",
                "created_at__gt",
                "created_at__gte",
                "created_at__lt",
                "created_at__lte",
                "created_at__range",
            ],
            &["created_at"],
        )
        .collect();
        let record = json!({"created_at": "2024-05-10T23:59:59.000001Z"});
        assert_eq!(run("created_at=2024-05-10", &filters, &record), Ok(true));
        assert_eq!(
            run("created_at__gt=2024-05-10", &filters, &record),
            Ok(false)
        );
        assert_eq!(
            run("created_at__gte=2024-05-10", &filters, &record),
            Ok(true)
        );
        assert_eq!(
            run("created_at__lt=2024-05-11", &filters, &record),
            Ok(true)
        );
        assert_eq!(
            run("created_at__range=2024-05-01,2024-05-09", &filters, &record),
            Ok(false)
        );
        assert_eq!(
            run("created_at__range=2024-05-01,2024-05-31", &filters, &record),
            Ok(true)
        );
        assert!(run("created_at=yesterday", &filters, &record).is_err());
        assert!(run("created_at__range=2024-05-01", &filters, &record).is_err());
    }

    #[test]
    fn null_dates_match_no_comparison() {
        let filters: Vec<Filter> = Filter::dates(
            ["d", "d__gt", "d__gte", "d__lt", "d__lte", "d__range"],
            &["end_date"],
        )
        .collect();
        assert_eq!(
            run("d__gte=2000-01-01", &filters, &json!({"end_date": null})),
            Ok(false)
        );
    }

    #[test]
    fn lists_are_comma_separated_and_the_last_duplicate_wins() {
        let params = Params::parse("id=a&id=b&x=1,%202,,3");
        assert_eq!(params.get("id"), Some("b"));
        assert_eq!(params.list("x"), Some(vec!["1", "2", "3"]));
    }
}

//! The schema set: every file of `schemas/`, loaded once, `$ref`s resolved offline by `$id`,
//! formats (uuid, date, date-time, email, uri) validated. A [`Violation`] names the instance
//! path and the schema path, never the offending value (it may be personal data), and says
//! what kind of difference it is ([`Kind`]) and so whether an app may break ([`Class`]);
//! [`assert_schema`], for tests against the fake, shows everything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

/// Where the repository's schemas are when built from this checkout.
pub fn default_dir() -> PathBuf {
    // test-kit/ sits beside schemas/ at the workspace root.
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas"))
}

/// Whether a difference can break an app written against the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// A key the app reads is gone, or holds another type or an unknown value.
    Breaking,
    /// Something the app can ignore: an added key, another timestamp precision or offset, a
    /// key absent where `null` would be allowed.
    Additive,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Breaking => "breaking",
            Self::Additive => "additive",
        }
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of difference a violation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A required key is missing and `null` would not do either.
    MissingKey,
    /// A required key is absent where `null` would be accepted (null vs absent).
    AbsentNotNull,
    /// Keys the schema does not list.
    AddedKey,
    /// An RFC 3339 timestamp in another precision or offset than the pattern's.
    TimestampForm,
    /// Another JSON type.
    TypeChange,
    /// A value outside an `enum` or other than a `const`.
    OutsideEnum,
    /// A string that is not the `format` (date-time, uuid, uri, …) or does not match a
    /// pattern.
    FormatChange,
    /// Anything else (bounds, lengths, combinators).
    Other,
}

impl Kind {
    pub fn class(self) -> Class {
        match self {
            Self::AbsentNotNull | Self::AddedKey | Self::TimestampForm => Class::Additive,
            Self::MissingKey
            | Self::TypeChange
            | Self::OutsideEnum
            | Self::FormatChange
            | Self::Other => Class::Breaking,
        }
    }

    /// The kind in words, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Self::MissingKey => "missing required key",
            Self::AbsentNotNull => "absent where null is allowed",
            Self::AddedKey => "added key",
            Self::TimestampForm => "other timestamp precision or offset",
            Self::TypeChange => "type change",
            Self::OutsideEnum => "value outside the enum",
            Self::FormatChange => "format change",
            Self::Other => "constraint",
        }
    }
}

/// One way a body breaks a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub schema: String,
    /// JSON pointer into the body, e.g. `/results/0/salaries/3/month`.
    pub instance_path: String,
    /// JSON pointer into the schema, e.g. `/properties/month/pattern`.
    pub schema_path: String,
    /// What is wrong, with the value masked.
    pub message: String,
    pub kind: Kind,
}

impl Violation {
    pub fn class(&self) -> Class {
        self.kind.class()
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.instance_path.is_empty() {
            "/"
        } else {
            &self.instance_path
        };
        write!(
            f,
            "{}: at {at}: {} (schema {})",
            self.schema, self.message, self.schema_path
        )
    }
}

/// Compiled validators by file name (`link.json`, …).
pub struct SchemaSet {
    validators: HashMap<String, jsonschema::Validator>,
}

impl std::fmt::Debug for SchemaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The names say which set this is; compiled validators would only be noise.
        f.debug_struct("SchemaSet")
            .field("schemas", &self.names())
            .finish()
    }
}

impl SchemaSet {
    /// Loads every `*.json` of `dir`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut schemas = Vec::new();
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry
                .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
                .path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let schema: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| format!("{} has no UTF-8 name", path.display()))?
                .to_owned();
            let id = schema["$id"]
                .as_str()
                .ok_or_else(|| format!("{} has no $id", path.display()))?
                .to_owned();
            schemas.push((name, id, schema));
        }
        // One registry holds them all, so a `$ref` to another file resolves by its `$id`
        // without touching the network.
        let registry = jsonschema::Registry::new()
            .extend(schemas.iter().map(|(_, id, s)| (id.clone(), s.clone())))
            .map_err(|e| format!("schemas do not register: {e}"))?
            .prepare()
            .map_err(|e| format!("schemas do not resolve: {e}"))?;
        let mut validators = HashMap::new();
        for (name, _, schema) in &schemas {
            let validator = jsonschema::options()
                .with_registry(&registry)
                .should_validate_formats(true)
                .offline()
                .build(schema)
                .map_err(|e| format!("schema {name} does not compile: {e}"))?;
            validators.insert(name.clone(), validator);
        }
        Ok(Self { validators })
    }

    /// The repository's `schemas/` ([`default_dir`]), compiled once per process.
    ///
    /// # Panics
    /// When the folder does not load: a test cannot check anything without it.
    pub fn repo() -> &'static Self {
        static SET: OnceLock<SchemaSet> = OnceLock::new();
        SET.get_or_init(|| {
            let dir = default_dir();
            Self::load(&dir)
                .unwrap_or_else(|e| panic!("schemas/ loads from {}: {e}", dir.display()))
        })
    }

    /// The file names of the set, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.validators.keys().cloned().collect();
        names.sort();
        names
    }

    /// Every violation of `body` against `schema` (empty when it conforms).
    pub fn validate(&self, schema: &str, body: &Value) -> Vec<Violation> {
        let Some(validator) = self.validators.get(schema) else {
            return vec![Violation {
                schema: schema.to_owned(),
                instance_path: String::new(),
                schema_path: String::new(),
                message: "no such schema in schemas/".to_owned(),
                kind: Kind::Other,
            }];
        };
        violations(schema, validator, body)
    }

    /// Panics with every violation, values shown, when `body` does not match `schema`.
    pub fn assert_conforms(&self, schema: &str, body: &Value) {
        let validator = self
            .validators
            .get(schema)
            .unwrap_or_else(|| panic!("no schema named {schema}"));
        // Unmasked on purpose: these bodies come from the fake, and the value is what a
        // failing test needs to show.
        let problems: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            problems.is_empty(),
            "body does not match {schema}:\n{}\nbody: {body:#}",
            problems.join("\n")
        );
    }
}

/// Every violation of `body` against `validator`, masked and classified; `label` names the
/// schema in each.
pub(crate) fn violations(
    label: &str,
    validator: &jsonschema::Validator,
    body: &Value,
) -> Vec<Violation> {
    use jsonschema::error::ValidationErrorKind as K;
    validator
        .iter_errors(body)
        // A body that more than one `oneOf` branch accepts says something of the schema (its
        // branches overlap), nothing of the body.
        .filter(|e| !matches!(e.kind(), K::OneOfMultipleValid { .. }))
        .map(|e| Violation {
            schema: label.to_owned(),
            instance_path: e.instance_path().to_string(),
            schema_path: e.schema_path().to_string(),
            // `propertyNames` errors print the offending key even masked.
            message: match e.kind() {
                K::PropertyNames { .. } => "a property name is not allowed".to_owned(),
                _ => e.masked().to_string(),
            },
            kind: kind_of(&e, validator, body),
        })
        .collect()
}

/// The kind of one error. A missing key is tried again as `null`: when that validates there,
/// the difference is only null vs absent. A failed `oneOf`/`anyOf` is the kind of the branch
/// the body came closest to.
fn kind_of(
    error: &jsonschema::ValidationError<'_>,
    validator: &jsonschema::Validator,
    body: &Value,
) -> Kind {
    use jsonschema::error::ValidationErrorKind as K;
    match error.kind() {
        K::Required { property } => {
            let at = error.instance_path().to_string();
            let Some(name) = property.as_str() else {
                return Kind::MissingKey;
            };
            let mut with_null = body.clone();
            let Some(Value::Object(object)) = with_null.pointer_mut(&at) else {
                return Kind::MissingKey;
            };
            object.insert(name.to_owned(), Value::Null);
            let child = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
            // Null is as good as absent when the key's error goes and none takes its place
            // (a `oneOf` around the key still failing counts as staying).
            let before = validator.iter_errors(body).count();
            let after: Vec<String> = validator
                .iter_errors(&with_null)
                .map(|e| e.instance_path().to_string())
                .collect();
            let still = after.len() >= before
                || after
                    .iter()
                    .any(|p| *p == child || p.starts_with(&format!("{child}/")));
            if still {
                Kind::MissingKey
            } else {
                Kind::AbsentNotNull
            }
        }
        K::AnyOf { context } | K::OneOfNotValid { context } => {
            closest_branch(context, validator, body)
        }
        other => plain_kind(other, error.instance().as_ref()),
    }
}

/// The kind of an error from its keyword alone.
fn plain_kind(kind: &jsonschema::error::ValidationErrorKind, instance: &Value) -> Kind {
    use jsonschema::error::ValidationErrorKind as K;
    match kind {
        K::Required { .. } => Kind::MissingKey,
        K::AdditionalProperties { .. } | K::UnevaluatedProperties { .. } => Kind::AddedKey,
        // A timestamp pattern (it has the `T`) missed by a valid RFC 3339 timestamp: another
        // precision or offset. Any other pattern (a date, a month) missed is a format change.
        K::Pattern { pattern } => match instance {
            Value::String(s)
                if pattern.contains('T') && chrono::DateTime::parse_from_rfc3339(s).is_ok() =>
            {
                Kind::TimestampForm
            }
            _ => Kind::FormatChange,
        },
        K::Format { .. } => Kind::FormatChange,
        K::Type { .. } => Kind::TypeChange,
        K::Enum { .. } | K::Constant { .. } => Kind::OutsideEnum,
        _ => Kind::Other,
    }
}

/// The kind of the branch with the fewest errors, leaving out branches for another type
/// altogether (a nullable object's `null` branch); breaking when any of its errors is. Its
/// errors are classified as top-level ones (a missing key retried as `null` too: their
/// instance paths are the body's).
fn closest_branch(
    context: &[Vec<jsonschema::ValidationError<'static>>],
    validator: &jsonschema::Validator,
    body: &Value,
) -> Kind {
    use jsonschema::error::ValidationErrorKind as K;
    let other_type = |branch: &Vec<jsonschema::ValidationError<'static>>| {
        branch.len() == 1 && matches!(branch[0].kind(), K::Type { .. })
    };
    let closest = context
        .iter()
        .filter(|b| !other_type(b))
        .min_by_key(|b| b.len())
        .or_else(|| context.iter().min_by_key(|b| b.len()));
    let Some(branch) = closest else {
        return Kind::Other;
    };
    let kinds: Vec<Kind> = branch.iter().map(|e| kind_of(e, validator, body)).collect();
    kinds
        .iter()
        .copied()
        .find(|k| k.class() == Class::Breaking)
        .or_else(|| kinds.first().copied())
        .unwrap_or(Kind::Other)
}

/// Panics with every violation when `body` does not match `schemas/<schema>`.
pub fn assert_schema(schema: &str, body: &Value) {
    SchemaSet::repo().assert_conforms(schema, body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kinds(schema: &Value, body: &Value) -> Vec<(String, Kind)> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .unwrap_or_else(|e| panic!("{e}"));
        violations("test", &validator, body)
            .into_iter()
            .map(|v| (v.instance_path, v.kind))
            .collect()
    }

    #[test]
    fn differences_are_classified_by_what_an_app_reading_them_would_see() {
        let schema = json!({
            "type": "object",
            "required": ["id", "note", "at", "status"],
            "additionalProperties": false,
            "properties": {
                "id": {"type": "string"},
                "note": {"type": ["string", "null"]},
                "at": {"type": "string", "pattern": "^[0-9T:-]+\\.[0-9]{6}Z$"},
                "status": {"enum": ["valid", "invalid"]},
                "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                "count": {"type": "integer"}
            }
        });
        let body = json!({
            "at": "2026-12-02T00:58:51.649+00:00", "status": "gone", "month": "2024",
            "count": "3", "extra": 1
        });
        let mut found = kinds(&schema, &body);
        found.sort_by_key(|(at, _)| at.clone());
        let classes: Vec<(&str, Kind, Class)> = found
            .iter()
            .map(|(at, k)| (at.as_str(), *k, k.class()))
            .collect();
        assert!(
            classes.contains(&("", Kind::MissingKey, Class::Breaking)),
            "{classes:?}"
        );
        assert!(
            classes.contains(&("", Kind::AbsentNotNull, Class::Additive)),
            "{classes:?}"
        );
        assert!(
            classes.contains(&("", Kind::AddedKey, Class::Additive)),
            "{classes:?}"
        );
        assert!(classes.contains(&("/at", Kind::TimestampForm, Class::Additive)));
        assert!(classes.contains(&("/status", Kind::OutsideEnum, Class::Breaking)));
        assert!(classes.contains(&("/month", Kind::FormatChange, Class::Breaking)));
        assert!(classes.contains(&("/count", Kind::TypeChange, Class::Breaking)));
        assert_eq!(classes.len(), 7, "{classes:?}");
    }

    #[test]
    fn a_failed_one_of_takes_the_kind_of_the_closest_branch() {
        let schema = json!({"anyOf": [
            {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
            {"type": "null"}
        ]});
        assert_eq!(
            kinds(&schema, &json!({"id": 3})),
            vec![(String::new(), Kind::TypeChange)]
        );
        assert_eq!(
            kinds(&schema, &json!({})),
            vec![(String::new(), Kind::MissingKey)]
        ); // Inside a branch, a key that may be null is only absent.
        let schema = json!({"oneOf": [
            {"type": "object", "required": ["id", "email"], "properties": {
                "id": {"type": "string"}, "email": {"type": ["string", "null"]}}},
            {"type": "array"}
        ]});
        assert_eq!(
            kinds(&schema, &json!({"id": "x"})),
            vec![(String::new(), Kind::AbsentNotNull)]
        );
    }

    #[test]
    fn only_a_timestamp_pattern_missed_by_a_timestamp_is_another_timestamp_form() {
        let schema = json!({"properties": {
            "day": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
            "at": {"type": "string", "pattern": "^[0-9-]+T[0-9:]+\\.[0-9]{6}Z$"}
        }});
        let body = json!({"day": "2026-12-02T00:58:51Z", "at": "2026-12-02T00:58:51+00:00"});
        let mut found = kinds(&schema, &body);
        found.sort_by_key(|(at, _)| at.clone());
        assert_eq!(
            found,
            vec![
                ("/at".to_owned(), Kind::TimestampForm),
                ("/day".to_owned(), Kind::FormatChange)
            ]
        );
    }

    #[test]
    fn a_body_two_branches_accept_is_no_difference() {
        let schema = json!({"oneOf": [{"type": "object"}, {"required": []}]});
        assert!(kinds(&schema, &json!({"a": 1})).is_empty());
    }
}

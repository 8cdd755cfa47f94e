//! Field validation with Django REST Framework's rules and wording, which is what Belvo answers
//! with: every bad field is collected (one error element each) before the request is refused.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::{Error, FieldError};

pub const REQUIRED: &str = "This field is required.";
pub const NOT_NULL: &str = "This field may not be null.";
pub const NOT_BLANK: &str = "This field may not be blank.";
/// Belvo's message for a value that fails a pattern (spec 1.223.0, 400 validation messages).
pub const NOT_VALID: &str = "Entered value is not valid.";

/// Rules of one DRF `CharField`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Text {
    pub required: bool,
    pub allow_null: bool,
    pub min: Option<usize>,
    pub max: Option<usize>,
    /// DRF trims surrounding white space unless told not to (passwords are kept verbatim).
    pub keep_whitespace: bool,
}

impl Text {
    pub const REQUIRED: Self = Self {
        required: true,
        allow_null: false,
        min: None,
        max: None,
        keep_whitespace: false,
    };
    pub const OPTIONAL: Self = Self {
        required: false,
        ..Self::REQUIRED
    };
}

/// Python's name for a JSON value's type, as DRF puts it in messages.
pub fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Collects field errors while reading a JSON object.
#[derive(Debug)]
pub struct Fields<'a> {
    body: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn new(body: &'a Map<String, Value>) -> Self {
        Self {
            body,
            errors: Vec::new(),
        }
    }

    pub fn add(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    /// A nested DRF serializer's field: the JSON object at `name` (`None` when absent or not
    /// an object, which is an error).
    pub fn object(&mut self, name: &str) -> Option<&'a Map<String, Value>> {
        match self.body.get(name)? {
            Value::Object(map) => Some(map),
            other => {
                let message = format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    python_type(other)
                );
                self.add(name, "invalid", message);
                None
            }
        }
    }

    /// Takes over a nested object's errors, each named `prefix.field` (the error array has
    /// one level of names).
    pub fn absorb(&mut self, prefix: &str, inner: Fields<'_>) {
        for error in inner.errors {
            self.errors.push(FieldError {
                field: format!("{prefix}.{}", error.field),
                ..error
            });
        }
    }

    /// `Ok(())` when no field was bad, else the whole list as one 400.
    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }

    /// Looks a field up; reports `required` / `null` and returns `None` for those cases.
    fn present(&mut self, name: &str, required: bool, allow_null: bool) -> Option<&'a Value> {
        match self.body.get(name) {
            None => {
                if required {
                    self.add(name, "required", REQUIRED);
                }
                None
            }
            Some(Value::Null) => {
                if !allow_null {
                    self.add(name, "null", NOT_NULL);
                }
                None
            }
            Some(value) => Some(value),
        }
    }

    /// A DRF `CharField`: numbers are turned into text, booleans, lists and objects refused.
    pub fn text(&mut self, name: &str, rules: Text) -> Option<String> {
        let value = self.present(name, rules.required, rules.allow_null)?;
        let raw = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                self.add(name, "invalid", "Not a valid string.");
                return None;
            }
        };
        let text = if rules.keep_whitespace {
            raw
        } else {
            raw.trim().to_owned()
        };
        if text.is_empty() {
            self.add(name, "blank", NOT_BLANK);
            return None;
        }
        let chars = text.chars().count();
        if let Some(max) = rules.max
            && chars > max
        {
            self.add(
                name,
                "max_length",
                format!("Ensure this field has no more than {max} characters."),
            );
            return None;
        }
        if let Some(min) = rules.min
            && chars < min
        {
            self.add(
                name,
                "min_length",
                format!("Ensure this field has at least {min} characters."),
            );
            return None;
        }
        Some(text)
    }

    /// A DRF `ChoiceField`.
    pub fn choice(&mut self, name: &str, choices: &[&'static str]) -> Option<&'static str> {
        let value = self.present(name, false, false)?;
        self.pick(name, value, choices)
    }

    fn pick(
        &mut self,
        name: &str,
        value: &Value,
        choices: &[&'static str],
    ) -> Option<&'static str> {
        let shown = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match choices
            .iter()
            .find(|c| Value::String((**c).to_owned()) == *value)
        {
            Some(choice) => Some(choice),
            None => {
                self.add(
                    name,
                    "invalid_choice",
                    format!("\"{shown}\" is not a valid choice."),
                );
                None
            }
        }
    }

    /// A DRF `ListField(child=ChoiceField)`; `Some(vec![])` for an empty list.
    pub fn choice_list(&mut self, name: &str, choices: &[&'static str]) -> Option<Vec<String>> {
        let value = self.present(name, false, false)?;
        let Value::Array(items) = value else {
            self.add(
                name,
                "not_a_list",
                format!(
                    "Expected a list of items but got type \"{}\".",
                    python_type(value)
                ),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let picked = self.pick(name, item, choices)?;
            if !out.iter().any(|o| o == picked) {
                out.push(picked.to_owned());
            }
        }
        Some(out)
    }

    /// A DRF `BooleanField` (accepts what DRF accepts: true/false, "true"/"false", 1/0).
    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        let value = self.present(name, false, false)?;
        let parsed = match value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) if n.as_i64() == Some(1) => Some(true),
            Value::Number(n) if n.as_i64() == Some(0) => Some(false),
            Value::String(s) => match s.as_str() {
                "true" | "True" | "TRUE" | "1" | "yes" | "on" => Some(true),
                "false" | "False" | "FALSE" | "0" | "no" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.add(name, "invalid", "Must be a valid boolean.");
        }
        parsed
    }

    /// A DRF `UUIDField`.
    pub fn uuid(&mut self, name: &str, required: bool) -> Option<Uuid> {
        let value = self.present(name, required, false)?;
        match value.as_str().map(str::trim) {
            Some("") => {
                self.add(name, "blank", NOT_BLANK);
                None
            }
            Some(s) => match Uuid::try_parse(s) {
                Ok(id) => Some(id),
                Err(_) => {
                    self.add(name, "invalid", "Must be a valid UUID.");
                    None
                }
            },
            None => {
                self.add(name, "invalid", "Must be a valid UUID.");
                None
            }
        }
    }

    /// A DRF `FloatField` with a lower bound.
    pub fn number_at_least(&mut self, name: &str, required: bool, min: f64) -> Option<f64> {
        let value = self.present(name, required, false)?;
        let parsed = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|n| n.is_finite());
        match parsed {
            None => {
                self.add(name, "invalid", "A valid number is required.");
                None
            }
            Some(n) if n < min => {
                self.add(
                    name,
                    "min_value",
                    format!("Ensure this value is greater than or equal to {min}."),
                );
                None
            }
            Some(n) => Some(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn every_bad_field_is_reported_once_with_drf_wording() {
        let body = object(json!({"b": null, "c": "  ", "d": true, "e": "ab"}));
        let mut f = Fields::new(&body);
        assert_eq!(f.text("a", Text::REQUIRED), None);
        assert_eq!(f.text("b", Text::REQUIRED), None);
        assert_eq!(f.text("c", Text::REQUIRED), None);
        assert_eq!(f.text("d", Text::REQUIRED), None);
        let short = Text {
            min: Some(3),
            ..Text::REQUIRED
        };
        assert_eq!(f.text("e", short), None);
        let Err(Error::Validation(errors)) = f.finish() else {
            panic!("expected validation errors");
        };
        let got: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.code, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", "required", "This field is required."),
                ("b", "null", "This field may not be null."),
                ("c", "blank", "This field may not be blank."),
                ("d", "invalid", "Not a valid string."),
                (
                    "e",
                    "min_length",
                    "Ensure this field has at least 3 characters."
                ),
            ]
        );
    }

    #[test]
    fn numbers_become_text_like_drf_char_fields() {
        let body = object(json!({"n": 12345678909u64}));
        let mut f = Fields::new(&body);
        assert_eq!(f.text("n", Text::REQUIRED).as_deref(), Some("12345678909"));
        assert!(f.finish().is_ok());
    }

    #[test]
    fn choices_and_lists_name_the_bad_value() {
        let body = object(json!({"mode": "sometimes", "list": "OWNERS", "ok": ["A", "A", "B"]}));
        let mut f = Fields::new(&body);
        assert_eq!(f.choice("mode", &["single"]), None);
        assert_eq!(f.choice_list("list", &["OWNERS"]), None);
        assert_eq!(
            f.choice_list("ok", &["A", "B"]),
            Some(vec!["A".to_owned(), "B".to_owned()])
        );
        let Err(Error::Validation(errors)) = f.finish() else {
            panic!("expected validation errors");
        };
        assert_eq!(errors[0].message, "\"sometimes\" is not a valid choice.");
        assert_eq!(
            errors[1].message,
            "Expected a list of items but got type \"str\"."
        );
    }
}

//! Personal data out of reports and recordings: names, CPF, e-mails, phones, addresses and ids
//! are replaced by placeholders of the same type and format, so a redacted body still
//! validates against `schemas/` and still shows the API's shape.

use std::collections::HashMap;

use serde_json::{Map, Value};
use uuid::Uuid;

/// Replaces the same id by the same placeholder within one recording.
#[derive(Debug, Default)]
pub struct Redactor {
    uuids: HashMap<String, String>,
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && Uuid::try_parse(s).is_ok()
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// A stable placeholder UUID (version 4 layout) for this id.
    fn uuid(&mut self, original: &str) -> String {
        let next = self.uuids.len() + 1;
        self.uuids
            .entry(original.to_owned())
            .or_insert_with(|| format!("00000000-0000-4000-8000-{next:012}"))
            .clone()
    }

    /// A redacted copy of a response body.
    pub fn body(&mut self, value: &Value) -> Value {
        self.walk(None, value)
    }

    fn walk(&mut self, key: Option<&str>, value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.walk(Some(k), v));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.walk(key, v)).collect()),
            Value::String(s) => Value::String(self.string(key, s)),
            other => other.clone(),
        }
    }

    fn string(&mut self, key: Option<&str>, s: &str) -> String {
        match key {
            Some(
                "display_name" | "first_name" | "last_name" | "second_last_name" | "business_name",
            ) => "REDACTED".to_owned(),
            Some("email") => "redacted@example.com".to_owned(),
            Some("phone_number") => "+55-00-00000-0000".to_owned(),
            Some("address") => "REDACTED ADDRESS".to_owned(),
            Some("document_number" | "internal_identification" | "username") => {
                "00000000000".to_owned()
            }
            Some("institution_user_id") => "R".repeat(44),
            Some("password" | "password2" | "token") => "[redacted]".to_owned(),
            _ if is_uuid(s) => self.uuid(s),
            _ if is_hex32(s) => "0".repeat(32),
            _ => s.to_owned(),
        }
    }

    /// A request path with ids replaced (`/api/links/{id}/`), query values of ids too.
    pub fn path(&mut self, path: &str) -> String {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let segments: Vec<String> = path
            .split('/')
            .map(|seg| {
                if is_uuid(seg) || is_hex32(seg) {
                    "{id}".to_owned()
                } else {
                    seg.to_owned()
                }
            })
            .collect();
        let mut out = segments.join("/");
        if !query.is_empty() {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) if is_uuid(v) || is_hex32(v) => format!("{k}={{id}}"),
                    _ => pair.to_owned(),
                })
                .collect();
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn personal_data_and_ids_are_replaced_keeping_their_shape() {
        let mut r = Redactor::new();
        let link = "30cb4806-6e00-48a4-91c9-ca55968576c8";
        let body = json!({
            "id": link, "link": link, "display_name": "Maria Silva", "email": "maria@x.com",
            "document_id": {"document_type": "CPF", "document_number": "52998224725"},
            "second_last_name": null, "request_id": "9e7b283c6efa449c9c028a16b5c249fb",
            "employer_data": {"code": "11222333000181"}
        });
        let out = r.body(&body);
        assert_eq!(
            out["id"], out["link"],
            "the same id maps to the same placeholder"
        );
        assert_ne!(out["id"], link);
        assert_eq!(out["display_name"], "REDACTED");
        assert_eq!(out["email"], "redacted@example.com");
        assert_eq!(out["document_id"]["document_type"], "CPF");
        assert_eq!(out["document_id"]["document_number"], "00000000000");
        assert_eq!(out["second_last_name"], Value::Null);
        assert_eq!(out["request_id"], "0".repeat(32));
        assert_eq!(out["employer_data"]["code"], "11222333000181");
        assert_eq!(
            r.path(&format!("/api/owners/?link={link}&page=2")),
            "/api/owners/?link={id}&page=2"
        );
        assert_eq!(r.path(&format!("/api/links/{link}/")), "/api/links/{id}/");
    }
}

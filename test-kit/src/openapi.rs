//! The check of a response body against Belvo's own OpenAPI document
//! (`../shared/reference/openapi.json`, beside the checkout): the operation is found by path
//! template, method and status, and its JSON response schema is validated, OpenAPI 3.0
//! `nullable` rewritten as JSON Schema.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::schemas::Violation;

/// The `$id` the document is registered under, so fragments of it resolve offline.
const SPEC_ID: &str = "https://belvo-mock.dev/belvo-openapi-1.223.0.json";

/// Belvo's OpenAPI 1.223.0 document, rewritten from OpenAPI 3.0 schema objects to JSON
/// Schema (`nullable: true` becomes a `null` type), with a validator per response compiled on
/// first use.
pub struct Spec {
    registry: jsonschema::Registry<'static>,
    doc: Value,
    /// By JSON pointer to the response schema; `None` when the spec documents no JSON body.
    validators: Mutex<HashMap<String, Option<Arc<jsonschema::Validator>>>>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The document is megabytes of JSON; its version says which one it is.
        f.debug_struct("Spec")
            .field("version", &self.doc["info"]["version"])
            .finish_non_exhaustive()
    }
}

/// What the spec says of one response that it documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecCheck {
    /// The operation checked, as the spec names it: `get /api/owners/ 200`.
    pub operation: String,
    /// Every violation, values shown (empty when the body conforms).
    pub problems: Vec<String>,
}

impl Spec {
    /// Where the document is when built from this checkout: `shared/` beside it.
    pub fn default_path() -> PathBuf {
        // test-kit/ is one level below the checkout, which shared/ sits beside.
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/openapi.json"
        ))
    }

    /// Reads and rewrites the document at `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "Belvo's spec is read from {} (shared/ beside the checkout): {e}",
                path.display()
            )
        })?;
        let mut doc: Value =
            serde_json::from_str(&text).map_err(|e| format!("the spec is not JSON: {e}"))?;
        // belvo-api.md §3.1 and §10.17: Belvo forces `external_id` to null (PII detected, or
        // none given) although 1.223.0 stopped marking it nullable; v1.35 did.
        if let Some(external_id) =
            doc.pointer_mut("/components/schemas/Link/properties/external_id")
        {
            external_id["nullable"] = Value::Bool(true);
        }
        // belvo-api.md §11.1: Belvo's INSS link guide, which wins over the spec's generic
        // examples for `inss_br_employment`, shows a single link's `"stale_in": null` and the
        // 428's `inputless` `token_generation_data` with `"value": null`.
        for pointer in [
            "/components/schemas/stale_in",
            "/components/schemas/TokenRequiredResponse/properties/token_generation_data/properties/value",
        ] {
            if let Some(schema) = doc.pointer_mut(pointer) {
                schema["nullable"] = Value::Bool(true);
            }
        }
        nullable_to_json_schema(&mut doc);
        let registry = jsonschema::Registry::new()
            .extend([(SPEC_ID.to_owned(), doc.clone())])
            .map_err(|e| format!("the spec does not register: {e}"))?
            .prepare()
            .map_err(|e| format!("the spec does not resolve: {e}"))?;
        Ok(Self {
            registry,
            doc,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// The document at [`Spec::default_path`], loaded once per process.
    ///
    /// # Panics
    /// When it does not load: the check is meaningless without it.
    pub fn shared() -> &'static Self {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| Self::load(&Self::default_path()).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Validates `body` against the response schema the spec gives this operation and status.
    /// `Ok(None)` when the spec documents no JSON body for it (nothing to check); `Err` when
    /// the spec's schema does not compile. Values are shown: for bodies from the fake.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<Option<SpecCheck>, String> {
        let Some((operation, validator)) = self.operation(method, path, status)? else {
            return Ok(None);
        };
        let problems = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        Ok(Some(SpecCheck {
            operation,
            problems,
        }))
    }

    /// Like [`Spec::check`], for bodies from anywhere: every violation masked (the body may
    /// hold personal data) and classified, named `Belvo's spec (get /api/owners/ 200)`.
    pub fn violations(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<Option<Vec<Violation>>, String> {
        let Some((operation, validator)) = self.operation(method, path, status)? else {
            return Ok(None);
        };
        let label = format!("Belvo's spec ({operation})");
        Ok(Some(crate::schemas::violations(&label, &validator, body)))
    }

    /// The operation (`get /api/owners/ 200`) and its compiled response schema, or `None` when
    /// the spec documents no JSON body for it. `path` may be a URL's path with a query.
    fn operation(
        &self,
        method: &str,
        path: &str,
        status: u16,
    ) -> Result<Option<(String, Arc<jsonschema::Validator>)>, String> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let Some(template) = self.path_template(path) else {
            return Ok(None);
        };
        let mut method = method.to_ascii_lowercase();
        // The spec lists only the open-finance owner shapes for PATCH /api/owners/, although
        // the MFA resume returns what POST returns (Owner Standard for INSS): check it as POST.
        if method == "patch" && template == "/api/owners/" {
            method = "post".to_owned();
        }
        // A response is either inline or a `$ref` to `#/components/responses/...`.
        let response = format!(
            "/paths/{}/{method}/responses/{status}",
            pointer_escape(&template)
        );
        let response = match self
            .doc
            .pointer(&format!("{response}/$ref"))
            .and_then(Value::as_str)
        {
            Some(target) => target.trim_start_matches('#').to_owned(),
            None => response,
        };
        let pointer = format!("{response}/content/application~1json/schema");
        Ok(self
            .validator(&pointer)?
            .map(|v| (format!("{method} {template} {status}"), v)))
    }

    /// The compiled schema at `pointer`, from the cache or built now.
    fn validator(&self, pointer: &str) -> Result<Option<Arc<jsonschema::Validator>>, String> {
        // A poisoned lock only loses the cache: compile again rather than fail.
        let cached = self
            .validators
            .lock()
            .ok()
            .and_then(|c| c.get(pointer).cloned());
        if let Some(v) = cached {
            return Ok(v);
        }
        let built = match self.doc.pointer(pointer) {
            None => None,
            Some(_) => {
                // `{id}` must be percent-encoded inside a URI fragment.
                let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
                let schema = serde_json::json!({"$ref": format!("{SPEC_ID}#{fragment}")});
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft4)
                    .with_registry(&self.registry)
                    .should_validate_formats(true)
                    .offline()
                    .build(&schema)
                    .map_err(|e| format!("spec schema {pointer} compiles: {e}"))?;
                Some(Arc::new(validator))
            }
        };
        if let Ok(mut c) = self.validators.lock() {
            c.insert(pointer.to_owned(), built.clone());
        }
        Ok(built)
    }

    /// The spec's path template matching a concrete `/api/...` path (`{id}` matches a segment).
    fn path_template(&self, path: &str) -> Option<String> {
        let paths = self.doc["paths"].as_object()?;
        let wanted: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        paths.keys().find_map(|template| {
            let parts: Vec<&str> = template.trim_end_matches('/').split('/').collect();
            let matches = parts.len() == wanted.len()
                && parts
                    .iter()
                    .zip(&wanted)
                    .all(|(t, w)| t == w || (t.starts_with('{') && t.ends_with('}')));
            matches.then(|| template.clone())
        })
    }
}

/// Panics with every violation when `body` does not match the response schema Belvo's spec
/// ([`Spec::shared`]) gives this operation and status. Returns `false` when the spec
/// documents no JSON body for it (nothing to check).
pub fn assert_spec(method: &str, path: &str, status: u16, body: &Value) -> bool {
    let Some(checked) = Spec::shared()
        .check(method, path, status, body)
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        return false;
    };
    assert!(
        checked.problems.is_empty(),
        "body does not match Belvo's spec for {}:\n{}\nbody: {body:#}",
        checked.operation,
        checked.problems.join("\n")
    );
    true
}

/// The path templates the contract suite's flow calls; the contract tier is what the spec
/// says of their responses.
pub const CONTRACT_PATHS: &[&str] = &[
    "/api/institutions/",
    "/api/links/",
    "/api/links/{id}/",
    "/api/owners/",
    "/api/owners/{id}/",
    "/api/br/employments/",
    "/api/br/employments/{id}/",
    "/api/token/",
];

/// Keys of an OpenAPI or schema object that are prose or samples, not structure.
fn is_prose(key: &str) -> bool {
    matches!(
        key,
        "description" | "example" | "examples" | "summary" | "title" | "externalDocs"
    ) || key.starts_with("x-")
}

/// Keys whose value is a map of names (a property called `description` is not prose).
fn holds_names(key: &str) -> bool {
    matches!(
        key,
        "properties"
            | "patternProperties"
            | "definitions"
            | "mapping"
            | "content"
            | "headers"
            | "responses"
    )
}

fn strip_prose(value: &Value, names: bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| names || !is_prose(k))
                .map(|(k, v)| (k.clone(), strip_prose(v, !names && holds_names(k))))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| strip_prose(v, false)).collect()),
        other => other.clone(),
    }
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The contract tier's document, derived from Belvo's OpenAPI document `raw` (as published,
/// before [`Spec::load`]'s corrections): the responses of [`CONTRACT_PATHS`] and every
/// component they reach through `$ref`, with descriptions, examples, summaries, titles and
/// vendor extensions left out. What remains is structure (keys, types, enums, formats,
/// nullability), which [`Spec::load`] reads like the whole document.
pub fn contract_extract(raw: &Value) -> Value {
    const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];
    let mut paths = serde_json::Map::new();
    for template in CONTRACT_PATHS {
        let Some(item) = raw["paths"][*template].as_object() else {
            continue;
        };
        let operations: serde_json::Map<String, Value> = item
            .iter()
            .filter(|(method, op)| {
                METHODS.contains(&method.as_str()) && op.get("responses").is_some()
            })
            .map(|(method, op)| {
                (
                    method.clone(),
                    serde_json::json!({"responses": strip_prose(&op["responses"], true)}),
                )
            })
            .collect();
        paths.insert((*template).to_owned(), Value::Object(operations));
    }
    let mut doc = serde_json::json!({
        "openapi": raw["openapi"],
        "info": {"title": raw["info"]["title"], "version": raw["info"]["version"]},
        "paths": paths,
        "components": {},
    });
    let mut pending = Vec::new();
    refs(&doc["paths"], &mut pending);
    let mut seen = std::collections::BTreeSet::new();
    while let Some(target) = pending.pop() {
        let Some(pointer) = target.strip_prefix('#') else {
            continue;
        };
        if !seen.insert(pointer.to_owned()) {
            continue;
        }
        let Some(found) = raw.pointer(pointer) else {
            continue;
        };
        let stripped = strip_prose(found, false);
        refs(&stripped, &mut pending);
        let segments: Vec<String> = pointer
            .trim_start_matches('/')
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        put(&mut doc, &segments, stripped);
    }
    doc
}

/// Puts `value` at the path `segments` of `slot`, creating the maps on the way.
fn put(slot: &mut Value, segments: &[String], value: Value) {
    match segments.split_first() {
        None => *slot = value,
        Some((first, rest)) => {
            if !slot.is_object() {
                *slot = Value::Object(serde_json::Map::new());
            }
            if let Value::Object(map) = slot {
                put(map.entry(first.clone()).or_insert(Value::Null), rest, value);
            }
        }
    }
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema: `null` joins the type (or, with no type,
/// the schema becomes `anyOf [itself, null]`) and the enum.
fn nullable_to_json_schema(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.remove("nullable") == Some(Value::Bool(true)) {
                match map.get_mut("type") {
                    Some(Value::String(t)) => {
                        let t = t.clone();
                        map.insert("type".into(), serde_json::json!([t, "null"]));
                    }
                    Some(_) => {}
                    None => {
                        let inner = Value::Object(std::mem::take(map));
                        map.insert("anyOf".into(), serde_json::json!([inner, {"type": "null"}]));
                    }
                }
                if let Some(Value::Array(options)) = map.get_mut("enum")
                    && !options.contains(&Value::Null)
                {
                    options.push(Value::Null);
                }
            }
            map.values_mut().for_each(nullable_to_json_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_json_schema),
        _ => {}
    }
}

/// A JSON-pointer segment for `s` (RFC 6901: `~` and `/` escaped).
fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nullable_becomes_a_null_type_an_any_of_and_a_null_enum_member() {
        let mut schema = json!({
            "properties": {
                "a": {"type": "string", "nullable": true, "enum": ["x"]},
                "b": {"$ref": "#/x", "nullable": true},
                "c": {"type": "string", "nullable": false}
            }
        });
        nullable_to_json_schema(&mut schema);
        assert_eq!(
            schema,
            json!({
                "properties": {
                    "a": {"type": ["string", "null"], "enum": ["x", null]},
                    "b": {"anyOf": [{"$ref": "#/x"}, {"type": "null"}]},
                    "c": {"type": "string"}
                }
            })
        );
    }

    #[test]
    fn pointer_segments_escape_tilde_then_slash() {
        assert_eq!(pointer_escape("/api/a~b/"), "~1api~1a~0b~1");
    }
}

//! The schema set: every file of `schemas/`, loaded once, `$ref`s resolved offline by `$id`,
//! formats (uuid, date, date-time, email, uri) validated. A violation names the instance path
//! and the schema path, never the offending value (it may be personal data).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where the repository's schemas are when built from this checkout.
pub fn default_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas"))
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
        let mut names: Vec<&String> = self.validators.keys().collect();
        names.sort();
        f.debug_struct("SchemaSet")
            .field("schemas", &names)
            .finish()
    }
}

impl SchemaSet {
    /// Loads every `*.json` of `dir`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut schemas = Vec::new();
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
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
                .unwrap_or_default()
                .to_owned();
            let id = schema["$id"]
                .as_str()
                .ok_or_else(|| format!("{} has no $id", path.display()))?
                .to_owned();
            schemas.push((name, id, schema));
        }
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
            }];
        };
        validator
            .iter_errors(body)
            .map(|e| Violation {
                schema: schema.to_owned(),
                instance_path: e.instance_path().to_string(),
                schema_path: e.schema_path().to_string(),
                message: e.masked().to_string(),
            })
            .collect()
    }
}

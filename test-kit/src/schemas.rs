//! The schema set: every file of `schemas/`, loaded once, `$ref`s resolved offline by `$id`,
//! formats (uuid, date, date-time, email, uri) validated. A [`Violation`] names the instance
//! path and the schema path, never the offending value (it may be personal data);
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

/// Panics with every violation when `body` does not match `schemas/<schema>`.
pub fn assert_schema(schema: &str, body: &Value) {
    SchemaSet::repo().assert_conforms(schema, body);
}

//! The two tiers every body is checked at. *Contract*: what Belvo's spec promises for the
//! operation and status (`schemas/contract/belvo-openapi.json`, derived from the spec).
//! *Shape*: the fake's exact form (`schemas/`). Against a belvo-mock every difference fails;
//! against any other target only a breaking contract difference does, and the rest is drift.

use std::path::{Path, PathBuf};

use serde_json::Value;
use test_kit::{Class, SchemaSet, Spec, Violation};

/// Where the contract tier's document is when built from this checkout.
pub fn default_spec_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/contract/belvo-openapi.json"
    ))
}

/// Both tiers, loaded once per run.
pub struct Tiers {
    pub shape: SchemaSet,
    pub contract: Spec,
}

impl std::fmt::Debug for Tiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tiers")
            .field("shape", &self.shape)
            .field("contract", &self.contract)
            .finish()
    }
}

/// What one body's checks found, split by whether it fails the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub failing: Vec<Violation>,
    /// Shape differences, and additive contract ones, from a target that is not a belvo-mock.
    pub drift: Vec<Violation>,
}

impl Tiers {
    pub fn load(schemas: &Path, spec: &Path) -> Result<Self, String> {
        Ok(Self {
            shape: SchemaSet::load(schemas)?,
            contract: Spec::load(spec)?,
        })
    }

    /// Checks `body`, the answer `status` to `method path`, at both tiers: the contract tier
    /// when the spec documents a JSON body for it, the shape tier when `shape` names a schema.
    /// `exact`: the target is a belvo-mock, whose every difference is a bug.
    pub fn judge(
        &self,
        method: &str,
        path: &str,
        status: u16,
        shape: Option<&str>,
        body: &Value,
        exact: bool,
    ) -> Verdict {
        let contract = match self.contract.violations(method, path, status, body) {
            Ok(found) => found.unwrap_or_default(),
            Err(problem) => vec![Violation {
                schema: "Belvo's spec".to_owned(),
                instance_path: String::new(),
                schema_path: String::new(),
                message: problem,
                kind: test_kit::Kind::Other,
            }],
        };
        let shape = shape
            .filter(|s| !s.is_empty())
            .map(|s| self.shape.validate(s, body))
            .unwrap_or_default();
        split(contract, shape, exact)
    }
}

/// Sorts violations into failing and drift (see the module comment). A shape difference at the
/// same place and of the same kind as a contract one is that one again: it is not repeated.
pub fn split(contract: Vec<Violation>, shape: Vec<Violation>, exact: bool) -> Verdict {
    if exact {
        return Verdict {
            failing: contract.into_iter().chain(shape).collect(),
            drift: Vec::new(),
        };
    }
    let repeats = |v: &Violation| {
        contract
            .iter()
            .any(|c| c.instance_path == v.instance_path && c.kind == v.kind)
    };
    let shape: Vec<Violation> = shape.into_iter().filter(|v| !repeats(v)).collect();
    let (failing, additive): (Vec<_>, Vec<_>) = contract
        .into_iter()
        .partition(|v| v.class() == Class::Breaking);
    Verdict {
        failing,
        drift: additive.into_iter().chain(shape).collect(),
    }
}

/// `breaking (type change)`: the class and kind of a violation, for report lines.
pub fn label(v: &Violation) -> String {
    format!("{} ({})", v.class(), v.kind.describe())
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_kit::Kind;

    fn violation(schema: &str, at: &str, kind: Kind) -> Violation {
        Violation {
            schema: schema.to_owned(),
            instance_path: at.to_owned(),
            schema_path: String::new(),
            message: String::new(),
            kind,
        }
    }

    #[test]
    fn against_another_target_only_breaking_contract_differences_fail() {
        let contract = vec![
            violation("spec", "/status", Kind::MissingKey),
            violation("spec", "/external_id", Kind::AbsentNotNull),
        ];
        let shape = vec![
            violation("link.json", "/status", Kind::MissingKey),
            violation("link.json", "/created_at", Kind::TimestampForm),
            violation("link.json", "", Kind::AddedKey),
        ];
        let verdict = split(contract.clone(), shape.clone(), false);
        assert_eq!(verdict.failing, vec![contract[0].clone()]);
        assert_eq!(
            verdict.drift,
            vec![contract[1].clone(), shape[1].clone(), shape[2].clone()],
            "the shape's /status repeats the contract's and is not listed again"
        );
        let exact = split(contract, shape, true);
        assert_eq!(exact.failing.len(), 5);
        assert!(exact.drift.is_empty());
    }
}

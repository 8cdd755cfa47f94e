//! Drift between a recorded set of responses (ideally from real Belvo) and what the fake
//! answers now: keys added, removed, or with another JSON type, per step of the flow.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

/// Every key path of a body (`results[].salaries[].month`) with the JSON types seen there.
pub type Shape = BTreeMap<String, BTreeSet<&'static str>>;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(path: &str, v: &Value, out: &mut Shape) {
    out.entry(path.to_owned()).or_default().insert(kind(v));
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, child, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(&format!("{path}[]"), item, out);
            }
        }
        _ => {}
    }
}

pub fn shape(v: &Value) -> Shape {
    let mut out = Shape::new();
    walk("", v, &mut out);
    out
}

/// How one step's body differs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drift {
    pub step: String,
    /// Keys the fake has and the recording does not.
    pub added: Vec<String>,
    /// Keys the recording has and the fake does not.
    pub removed: Vec<String>,
    /// `(path, recorded types, fake types)` where no non-null type is shared.
    pub retyped: Vec<(String, String, String)>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.retyped.is_empty()
    }
}

fn names(types: &BTreeSet<&'static str>) -> String {
    types.iter().copied().collect::<Vec<_>>().join("|")
}

/// Compares a recorded body with the fake's body for the same step. A null on one side
/// and a value on the other is not drift (nullable fields).
pub fn compare(step: &str, recorded: &Value, fake: &Value) -> Drift {
    let (r, f) = (shape(recorded), shape(fake));
    let mut drift = Drift {
        step: step.to_owned(),
        ..Drift::default()
    };
    for (path, types) in &f {
        match r.get(path) {
            None => drift.added.push(path.clone()),
            Some(rt) => {
                let strip = |t: &BTreeSet<&'static str>| -> BTreeSet<&'static str> {
                    t.iter().copied().filter(|k| *k != "null").collect()
                };
                let (a, b) = (strip(rt), strip(types));
                if !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) {
                    drift.retyped.push((path.clone(), names(rt), names(types)));
                }
            }
        }
    }
    drift.removed = r.keys().filter(|p| !f.contains_key(*p)).cloned().collect();
    drift
}

/// A recorded set: `(step name, status, body)` of every file, in file order.
pub fn load(dir: &Path) -> Result<Vec<(String, u64, Value)>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let entry: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
        let step = entry["step"].as_str().unwrap_or_default().to_owned();
        let status = entry["status"].as_u64().unwrap_or_default();
        out.push((step, status, entry["body"].clone()));
    }
    Ok(out)
}

/// The readable drift report.
pub fn report(drifts: &[Drift]) -> String {
    let differing: Vec<&Drift> = drifts.iter().filter(|d| !d.is_empty()).collect();
    if differing.is_empty() {
        return format!("no drift over {} recorded responses\n", drifts.len());
    }
    let mut out = format!(
        "drift in {} of {} recorded responses\n",
        differing.len(),
        drifts.len()
    );
    for d in differing {
        out.push_str(&format!("{}:\n", d.step));
        for p in &d.added {
            out.push_str(&format!("  + {p} (only the fake has it)\n"));
        }
        for p in &d.removed {
            out.push_str(&format!("  - {p} (only the recording has it)\n"));
        }
        for (p, was, now) in &d.retyped {
            out.push_str(&format!("  ~ {p}: recorded {was}, fake {now}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn added_removed_and_retyped_keys_are_reported_but_nulls_are_not_drift() {
        let recorded = json!({"a": 1, "b": "x", "c": null, "items": [{"k": "v"}]});
        let fake = json!({"a": "1", "c": "now set", "d": true, "items": [{"k": "v", "n": 2}]});
        let d = compare("step", &recorded, &fake);
        assert_eq!(d.added, vec!["d", "items[].n"]);
        assert_eq!(d.removed, vec!["b"]);
        assert_eq!(
            d.retyped,
            vec![("a".to_owned(), "number".to_owned(), "string".to_owned())]
        );
        assert!(compare("same", &recorded, &recorded).is_empty());
    }
}

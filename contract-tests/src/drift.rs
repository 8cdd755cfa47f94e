//! Recorded sets of responses (ideally from real Belvo) checked the way a live run is, at
//! both tiers, and compared with what the fake answers now (keys added, removed, or with
//! another JSON type), every difference classified breaking or additive.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use test_kit::Class;

use crate::tiers::{Tiers, label};

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

/// One recorded response, as [`crate::runner`] writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The file's name, e.g. `07-list-owners--page-1-.json`.
    pub file: String,
    pub step: String,
    pub method: String,
    /// Redacted, e.g. `/api/owners/{id}/`.
    pub path: String,
    pub status: u64,
    /// The shape schema its status called for.
    pub schema: Option<String>,
    pub body: Value,
}

/// A recorded set: every `*.json` file of `dir`, in file order.
pub fn load(dir: &Path) -> Result<Vec<Recorded>, String> {
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
        let str_of = |key: &str| entry[key].as_str().unwrap_or_default().to_owned();
        out.push(Recorded {
            file: file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            step: str_of("step"),
            method: str_of("method"),
            path: str_of("path"),
            status: entry["status"].as_u64().unwrap_or_default(),
            schema: entry["schema"].as_str().map(str::to_owned),
            body: entry["body"].clone(),
        });
    }
    Ok(out)
}

/// One difference a recorded set shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The recorded file it is about.
    pub file: String,
    pub class: Class,
    /// It fails the set (see [`check_set`]).
    pub failing: bool,
    /// The difference in words, its class first.
    pub text: String,
}

/// What [`check_set`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetCheck {
    pub responses: usize,
    pub findings: Vec<Finding>,
}

impl SetCheck {
    pub fn passed(&self) -> bool {
        self.responses > 0 && self.findings.iter().all(|f| !f.failing)
    }

    pub fn count(&self, class: Class) -> usize {
        self.findings.iter().filter(|f| f.class == class).count()
    }

    /// The readable report: a summary line, then every finding.
    pub fn text(&self) -> String {
        let failing = self.findings.iter().filter(|f| f.failing).count();
        let mut out = format!(
            "{} recorded responses; differences: {} breaking, {} additive; {failing} fail the set, {} are drift (noted, not failures)\n",
            self.responses,
            self.count(Class::Breaking),
            self.count(Class::Additive),
            self.findings.len() - failing,
        );
        for f in &self.findings {
            let mark = if f.failing { '!' } else { '~' };
            out.push_str(&format!("  {mark} {}: {}\n", f.file, f.text));
        }
        out
    }
}

/// Checks a recorded set as a live run checks a target, and compares it with `fake` (the
/// fake's answers to the same flow, recorded now). `exact`: the set was recorded from a
/// belvo-mock, so every difference is a bug and fails. Otherwise only a breaking contract
/// difference fails; the shape tier and the comparison with the fake are drift notes.
pub fn check_set(recorded: &[Recorded], fake: &[Recorded], tiers: &Tiers, exact: bool) -> SetCheck {
    let mut check = SetCheck {
        responses: recorded.len(),
        findings: Vec::new(),
    };
    for entry in recorded {
        let status = u16::try_from(entry.status).unwrap_or_default();
        let verdict = tiers.judge(
            &entry.method,
            &entry.path,
            status,
            entry.schema.as_deref(),
            &entry.body,
            exact,
        );
        // From a belvo-mock every difference fails, so it is not called drift.
        let note = |text: String| match text.strip_prefix("drift, ") {
            Some(plain) if exact => plain.to_owned(),
            _ => text,
        };
        let mut add = |class, failing, text: String| {
            let text = note(text);
            check.findings.push(Finding {
                file: entry.file.clone(),
                class,
                failing,
                text,
            });
        };
        for v in &verdict.failing {
            add(v.class(), true, format!("{}: {v}", label(v)));
        }
        for v in &verdict.drift {
            add(v.class(), false, format!("drift, {}: {v}", label(v)));
        }
        let Some(now) = fake
            .iter()
            .find(|f| f.step == entry.step && f.status == entry.status)
        else {
            add(
                Class::Breaking,
                exact,
                format!(
                    "the fake's flow has no step {:?} answering {}",
                    entry.step, entry.status
                ),
            );
            continue;
        };
        let drift = compare(&entry.step, &entry.body, &now.body);
        let fake_shape = shape(&now.body);
        for path in &drift.removed {
            add(
                Class::Additive,
                exact,
                format!("drift, additive (added key): {path} is only in the recording"),
            );
        }
        for path in &drift.added {
            let only_null = fake_shape
                .get(path)
                .is_some_and(|t| t.iter().all(|k| *k == "null"));
            if only_null {
                add(
                    Class::Additive,
                    exact,
                    format!(
                        "drift, additive (absent where null is allowed): the fake sends {path} as null, the recording has no such key"
                    ),
                );
            } else {
                add(
                    Class::Breaking,
                    exact,
                    format!(
                        "drift, breaking (missing key): the fake sends {path}, the recording has no such key"
                    ),
                );
            }
        }
        for (path, was, now) in &drift.retyped {
            add(
                Class::Breaking,
                exact,
                format!(
                    "drift, breaking (type change): {path} is {was} in the recording, {now} in the fake"
                ),
            );
        }
    }
    check
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

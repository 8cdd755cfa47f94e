//! The run's report: every step (request, status, latency, failing violations, drift,
//! checks), every difference classified breaking or additive, as readable text and as JUnit
//! XML for CI. Paths are already redacted; no body is included.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JUnit, TestCase, TestCaseStatus, TestSuite};
use test_kit::{Class, Violation};

use crate::tiers::label;

/// One step of the flow: a request and what was checked about it, or a cross-check alone.
#[derive(Clone, Debug, Default)]
pub struct Step {
    pub name: String,
    /// `GET /api/links/{id}/` (redacted), or empty for a cross-check.
    pub request: String,
    pub status: Option<u16>,
    pub latency: Duration,
    /// Differences that fail the step.
    pub violations: Vec<Violation>,
    /// Differences that are noted, not failures: the fake's exact shape, or an additive
    /// contract difference, on a target that is not a belvo-mock.
    pub drift: Vec<Violation>,
    /// Failed expectations, in words (a status, an error code, a cross-check): breaking.
    pub failures: Vec<String>,
    /// What was found, for the reader (counts, totals).
    pub notes: Vec<String>,
}

impl Step {
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.failures.is_empty()
    }

    /// Every problem as one line each, classified.
    pub fn problems(&self) -> Vec<String> {
        self.failures
            .iter()
            .map(|f| format!("breaking: {f}"))
            .chain(self.violations.iter().map(|v| format!("{}: {v}", label(v))))
            .collect()
    }

    /// Every drift note as one line each, classified.
    pub fn drift_lines(&self) -> Vec<String> {
        self.drift
            .iter()
            .map(|v| format!("drift, {}: {v}", label(v)))
            .collect()
    }

    /// How many differences of `class` the step found, failing or drift.
    pub fn count(&self, class: Class) -> usize {
        let expectations = if class == Class::Breaking {
            self.failures.len()
        } else {
            0
        };
        expectations
            + self
                .violations
                .iter()
                .chain(&self.drift)
                .filter(|v| v.class() == class)
                .count()
    }
}

/// The whole run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// `in-process fake`, or the base URL.
    pub target: String,
    pub steps: Vec<Step>,
    pub duration: Duration,
}

impl Report {
    pub fn passed(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(Step::passed)
    }

    pub fn failed_steps(&self) -> usize {
        self.steps.iter().filter(|s| !s.passed()).count()
    }

    /// The summary of the classification: `differences: 3 breaking, 12 additive; 3 fail the
    /// run, 12 are drift (noted, not failures)`.
    pub fn classes(&self) -> String {
        let sum = |f: &dyn Fn(&Step) -> usize| self.steps.iter().map(f).sum::<usize>();
        let breaking = sum(&|s| s.count(Class::Breaking));
        let additive = sum(&|s| s.count(Class::Additive));
        let failing = sum(&|s| s.failures.len() + s.violations.len());
        let drift = sum(&|s| s.drift.len());
        format!(
            "differences: {breaking} breaking, {additive} additive; {failing} fail the run, {drift} are drift (noted, not failures)"
        )
    }

    /// The readable report. `timings: false` leaves out latencies and the duration (for
    /// snapshots, which must not change from run to run).
    pub fn text(&self, timings: bool) -> String {
        let mut out = format!(
            "contract-tests against {}: {} steps, {} passed, {} failed",
            self.target,
            self.steps.len(),
            self.steps.len() - self.failed_steps(),
            self.failed_steps()
        );
        if timings {
            out.push_str(&format!(" in {} ms", self.duration.as_millis()));
        }
        out.push('\n');
        out.push_str(&self.classes());
        out.push('\n');
        for step in &self.steps {
            let mark = if step.passed() { "ok  " } else { "FAIL" };
            out.push_str(&format!("{mark} {}", step.name));
            if !step.request.is_empty() {
                out.push_str(&format!(" — {}", step.request));
                if let Some(status) = step.status {
                    out.push_str(&format!(" → {status}"));
                }
                if timings {
                    out.push_str(&format!(" ({} ms)", step.latency.as_millis()));
                }
            }
            out.push('\n');
            for note in &step.notes {
                out.push_str(&format!("       {note}\n"));
            }
            for problem in step.problems() {
                out.push_str(&format!("       ! {problem}\n"));
            }
            for drift in step.drift_lines() {
                out.push_str(&format!("       ~ {drift}\n"));
            }
        }
        out
    }

    /// JUnit XML: one test case per step, failures with every problem and drift line; a step
    /// with drift alone is skipped with a message (drift is a warning, not a failure).
    pub fn junit(&self) -> String {
        let mut suite = TestSuite::new("belvo-contract");
        suite.set_time(self.duration);
        for step in &self.steps {
            let problems = step.problems();
            let drift = step.drift_lines();
            let status = if !step.passed() {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(problems.first().cloned().unwrap_or_default());
                status.set_description(
                    problems
                        .iter()
                        .chain(&drift)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                status
            } else if !drift.is_empty() {
                let mut status = TestCaseStatus::skipped();
                status.set_message(format!(
                    "drift, not a failure: {} difference(s) from the fake's exact shape",
                    drift.len()
                ));
                status.set_description(drift.join("\n"));
                status
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(step.name.clone(), status);
            case.set_classname(if step.request.is_empty() {
                "check".to_owned()
            } else {
                step.request.clone()
            });
            case.set_time(step.latency);
            suite.add_test_case(case);
        }
        let mut report = JUnit::new(format!("contract-tests against {}", self.target));
        report.add_test_suite(suite);
        report
            .to_string()
            .unwrap_or_else(|e| format!("<!-- JUnit serialisation failed: {e} -->"))
    }
}

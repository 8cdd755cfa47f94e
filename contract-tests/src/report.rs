//! The run's report: every step (request, status, latency, schema violations, checks), as
//! readable text and as JUnit XML for CI. Paths are already redacted; no body is included.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JUnit, TestCase, TestCaseStatus, TestSuite};
use test_kit::Violation;

/// One step of the flow: a request and what was checked about it, or a cross-check alone.
#[derive(Clone, Debug, Default)]
pub struct Step {
    pub name: String,
    /// `GET /api/links/{id}/` (redacted), or empty for a cross-check.
    pub request: String,
    pub status: Option<u16>,
    pub latency: Duration,
    pub violations: Vec<Violation>,
    /// Failed expectations, in words.
    pub failures: Vec<String>,
    /// What was found, for the reader (counts, totals).
    pub notes: Vec<String>,
}

impl Step {
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.failures.is_empty()
    }

    /// Every problem as one line each.
    pub fn problems(&self) -> Vec<String> {
        self.failures
            .iter()
            .cloned()
            .chain(self.violations.iter().map(ToString::to_string))
            .collect()
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
        }
        out
    }

    /// JUnit XML: one test case per step, failures with every problem.
    pub fn junit(&self) -> String {
        let mut suite = TestSuite::new("belvo-contract");
        suite.set_time(self.duration);
        for step in &self.steps {
            let status = if step.passed() {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let problems = step.problems();
                status.set_message(problems.first().cloned().unwrap_or_default());
                status.set_description(problems.join("\n"));
                status
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

//! Scenarios: behaviour a user asks for by the link's password (or a per-CPF fixture's
//! `scenario` key). The names are the README's scenarios table.

use std::fmt;

/// One scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Scenario {
    #[serde(rename = "mock:no-mfa")]
    NoMfa,
    #[serde(rename = "mock:invalid")]
    Invalid,
    #[serde(rename = "mock:locked")]
    Locked,
    #[serde(rename = "mock:forbidden")]
    Forbidden,
    #[serde(rename = "mock:institution-down")]
    InstitutionDown,
    #[serde(rename = "mock:institution-unavailable")]
    InstitutionUnavailable,
    #[serde(rename = "mock:too-many-sessions")]
    TooManySessions,
    #[serde(rename = "mock:timeout")]
    Timeout,
    #[serde(rename = "mock:unexpected")]
    Unexpected,
    #[serde(rename = "mock:no-data")]
    NoData,
    /// Logs in normally; the link's next refresh finds the institution asking for a new MFA
    /// token (status `token_required`, a `LINK` `token_required` webhook).
    #[serde(rename = "mock:token-required")]
    TokenRequired,
}

impl Scenario {
    pub const ALL: &'static [(&'static str, Scenario)] = &[
        ("mock:no-mfa", Scenario::NoMfa),
        ("mock:invalid", Scenario::Invalid),
        ("mock:locked", Scenario::Locked),
        ("mock:forbidden", Scenario::Forbidden),
        ("mock:institution-down", Scenario::InstitutionDown),
        (
            "mock:institution-unavailable",
            Scenario::InstitutionUnavailable,
        ),
        ("mock:too-many-sessions", Scenario::TooManySessions),
        ("mock:timeout", Scenario::Timeout),
        ("mock:unexpected", Scenario::Unexpected),
        ("mock:no-data", Scenario::NoData),
        ("mock:token-required", Scenario::TokenRequired),
    ];

    /// The scenario with this exact name (a password or a fixture's `scenario`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("", |(n, _)| n)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

//! The institution catalogue: the one institution this fake serves, `inss_br_employment`
//! (belvo-api.md §6.3), and the list filters of `GET /api/institutions/`.

use serde_json::{Value, json};

use super::error::Error;
use super::query::{Filter, Params};
use crate::config::MfaMode;

/// Belvo's name of the Brazilian INSS employment institution.
pub const INSS: &str = "inss_br_employment";

/// Belvo's integer id for INSS is not public; this one is stable and documented in the README.
pub const INSS_ID: i64 = 2034;

/// What INSS offers; the order is the one Belvo prints in `invalid` resource errors.
pub const INSS_RESOURCES: &[&str] = &["EMPLOYMENTS", "OWNERS"];

/// Every resource name Belvo knows (InstitutionPublicApi `resources`).
pub const ALL_RESOURCES: &[&str] = &[
    "ACCOUNTS",
    "BALANCES",
    "BILLS",
    "EMPLOYMENTS",
    "EMPLOYMENT_RECORDS",
    "FINANCIAL_STATEMENTS",
    "INCOMES",
    "INVESTMENTS",
    "INVESTMENT_TRANSACTIONS",
    "INVOICES",
    "OWNERS",
    "RECURRING_EXPENSES",
    "RISK_INSIGHTS",
    "TRANSACTIONS",
    "TAX_COMPLIANCE_STATUS",
    "TAX_RETENTIONS",
    "TAX_RETURNS",
    "TAX_STATUS",
];

/// The INSS record. `features` follows the fake's MFA mode, so a widget or app that reads it
/// learns the truth about this fake: with `--mfa always` a token will be asked for.
pub fn inss(mfa: MfaMode) -> Value {
    let features = match mfa {
        MfaMode::Always => json!([{
            "name": "token_required",
            "description": "The institution may require a token during link creation or login"
        }]),
        MfaMode::Never => json!([]),
    };
    json!({
        "id": INSS_ID,
        "name": INSS,
        "type": "employment",
        "website": "https://meu.inss.gov.br/",
        "display_name": "INSS",
        "country_codes": ["BR"],
        "primary_color": "#1351b4",
        "logo": null,
        "icon_logo": null,
        "text_logo": null,
        "code": null,
        "form_fields": [
            {
                "name": "username",
                "type": "text",
                "label": "CPF",
                "validation": r"^(\d{11})$|^(\d{3}\.){2}\d{3}-\d{2}$",
                "placeholder": "123.456.789-09",
                "validation_message": "CPF inválido"
            },
            {
                "name": "password",
                "type": "password",
                "label": "Senha",
                "validation": "^.{8,70}$",
                "placeholder": "Senha do Meu INSS",
                "validation_message": "A senha deve ter entre 8 e 70 caracteres"
            }
        ],
        "features": features,
        "resources": INSS_RESOURCES,
        "integration_type": "credentials",
        "status": "healthy",
        "openbanking_information": null
    })
}

/// Whether a known institution name was given.
pub fn exists(name: &str) -> bool {
    name == INSS
}

/// The catalogue filtered by the query of `GET /api/institutions/`.
pub fn list(mfa: MfaMode, params: &Params) -> Result<Vec<Value>, Error> {
    let filters = [
        Filter::text("name", &["name"]),
        Filter::text_in("name__in", &["name"]),
        Filter::contains("display_name", &["display_name"]),
        Filter::within("country_code", &["country_codes"]),
        Filter::within_any("country_code__in", &["country_codes"]),
        Filter::choice("type", &["type"], &["bank", "fiscal", "employment"]),
        Filter::choice_in("type__in", &["type"], &["bank", "fiscal", "employment"]),
        Filter::choice("status", &["status"], &["healthy", "down"]),
        Filter::choice_in("status__in", &["status"], &["healthy", "down"]),
        Filter::text("website", &["website"]),
        Filter::all_of("resources__allin", &["resources"]),
    ];
    let compiled = params.compile(&filters)?;
    Ok([inss(mfa)]
        .into_iter()
        .filter(|record| compiled.matches(record))
        .collect())
}

/// The record with this integer id (as a string from the path); anything else is `not_found`.
pub fn detail(mfa: MfaMode, id: &str) -> Result<Value, Error> {
    match id.parse::<i64>() {
        Ok(INSS_ID) => Ok(inss(mfa)),
        _ => Err(Error::NotFound),
    }
}

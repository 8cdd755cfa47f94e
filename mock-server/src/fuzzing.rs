//! The request parsing layer in one function, for the fuzzer (`mock-server/fuzz`): the bytes
//! are split into a query string and a body, and go through everything that reads client
//! input without HTTP — query decoding and every filter set, pagination and projections, JSON
//! parsing and every body validator. It must never panic.

use serde_json::{Value, json};

use crate::http::pagination::paginate;
use crate::store::links::{
    NewLink, Options, Resume, filters, validate_credentials, validate_refresh,
};
use crate::store::query::Params;
use crate::store::records::{
    EmploymentsRetrieve, OwnersRetrieve, employment_filters, owner_filters,
};
use crate::store::{fields::Fields, institutions};

/// Records of each shape for the filters to run over.
fn samples() -> Vec<Value> {
    vec![
        json!({"id": "0d3ffb69-f83b-456e-ad8e-208d0998d71d", "link": "30cb4806-6e00-48a4-91c9-ca55968576c8",
               "status": "valid", "created_at": "2022-02-09T08:45:50.406032Z", "start_date": "2022-01-01",
               "end_date": null, "refresh_rate": null, "country_codes": ["BR"], "display_name": "Ana"}),
        json!({"start_date": 5, "end_date": "x", "created_at": []}),
        json!(null),
    ]
}

/// Feeds `data` to the parsing layer. Input: `<query>\n<body>` (no newline: all query).
pub fn exercise(data: &[u8]) {
    let (query, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    let params = Params::parse(&String::from_utf8_lossy(query));
    for set in [filters(), owner_filters(), employment_filters()] {
        if let Ok(compiled) = params.compile(&set) {
            for record in samples() {
                compiled.matches(&record);
            }
        }
    }
    let _ = institutions::list(crate::MfaMode::Always, &params);
    let _ = paginate(samples(), &params, "http://fuzz", "/api/links/");

    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        let _ = NewLink::validate(&map);
        let _ = Resume::validate(&map);
        let _ = Options::validate(&map);
        let _ = validate_credentials(&map);
        let _ = validate_refresh(&map);
        let _ = OwnersRetrieve::validate(&map);
        let _ = EmploymentsRetrieve::validate(&map, chrono::NaiveDate::MIN);
        let _ = EmploymentsRetrieve::validate(&map, chrono::NaiveDate::MAX);
        let mut fields = Fields::new(&map);
        let _ = fields.number_at_least("seconds", true, 0.0);
        let _ = fields.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped seed corpus goes through without a panic (what the fuzzer starts from).
    #[test]
    fn the_seed_corpus_parses_without_panicking() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/parse");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if let Ok(bytes) = std::fs::read(entry.path()) {
                exercise(&bytes);
                seen += 1;
            }
        }
        assert!(seen >= 5, "the seed corpus has files");
    }
}

//! The generator over 1,000 CPFs: every record validates against schemas/ and keeps the
//! realism invariants (dates, periods, pay rules, CNPJ check digits, distributions).

use chrono::{Datelike, NaiveDate, Utc};
use mock_server::fixtures::{self, money};
use mock_server::{EmploymentRecord, OwnerRecord, record_id};
use uuid::Uuid;

use crate::support::assert_schema;

fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

fn parse_month(m: &str) -> (i32, u32) {
    let year = m[..4].parse().unwrap_or(0);
    let month = m[5..].parse().unwrap_or(0);
    (year, month)
}

fn cents(amount: f64) -> i64 {
    let c = (amount * 100.0).round();
    assert!(
        (amount * 100.0 - c).abs() < 1e-6,
        "{amount} has two decimals at most"
    );
    c as i64
}

#[test]
fn a_thousand_generated_people_validate_and_look_real() {
    let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default();
    let salary_months = 60;
    let now = Utc::now();
    let mut counts = [0usize; 6];
    let (mut urban, mut rural, mut unidentified) = (0usize, 0usize, 0usize);
    let mut alphanumeric = 0;
    let mut current = 0;
    for cpf in fixtures::cpfs_for(42, 1000) {
        let person = fixtures::generate(1, &cpf, today, salary_months);
        let link = Uuid::new_v4();
        let owner = OwnerRecord {
            id: record_id(link, "owner", 0),
            link,
            collected_at: now,
            created_at: now,
            cpf: cpf.clone(),
            owner: person.owner.clone(),
        };
        let owner_json = owner.to_json();
        assert_schema("owner.json", &owner_json);
        assert_eq!(owner_json["document_id"]["document_number"], cpf.as_str());
        let phone = person.owner.phone_number.clone().unwrap_or_default();
        assert!(phone.starts_with("+55-") && phone.len() == 17, "{phone}");

        let n = person.employments.len();
        assert!(n <= 5);
        counts[n] += 1;
        let mut previous_end: Option<NaiveDate> = None;
        let mut ids = std::collections::HashSet::new();
        ids.insert(owner.id);
        for (index, e) in person.employments.iter().enumerate() {
            let record = EmploymentRecord {
                id: record_id(link, "employment", index),
                link,
                collected_at: now,
                created_at: now,
                employment: e.clone(),
            };
            assert!(ids.insert(record.id), "record ids are unique per link");
            let json = record.to_json();
            assert_schema("employment.json", &json);
            for s in json["salaries"].as_array().into_iter().flatten() {
                cents(s["base_amount"].as_f64().unwrap_or(-1.0));
                cents(s["retained_amount"].as_f64().unwrap_or(-1.0));
            }

            // Periods: in order, never in the future, only the latest may be open.
            assert!(e.start_date <= today);
            if let Some(prev) = previous_end {
                assert!(prev < e.start_date, "{cpf}: periods overlap");
            }
            match e.end_date {
                Some(end) => {
                    assert!(end >= e.start_date && end <= today);
                    previous_end = Some(end);
                }
                None => {
                    assert_eq!(index, n - 1, "{cpf}: only the latest job is current");
                    current += 1;
                    previous_end = Some(today);
                }
            }

            // Employer: CNPJ with valid check digits; letters only for recent registrations.
            let code = &e.employer_data.code;
            assert_eq!(code.len(), 14);
            assert!(stdbr_core::cnpj::is_valid_strict(code).is_ok(), "{code}");
            if code.bytes().any(|b| b.is_ascii_uppercase()) {
                alphanumeric += 1;
                assert!(e.start_date >= NaiveDate::from_ymd_opt(2026, 7, 1).unwrap_or_default());
            }
            let activity = &e.employer_data.economic_activity;
            let b = activity.as_bytes();
            assert!(
                b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && &activity[6..9] == " - "
            );
            assert!(e.employer_data.name.len() >= 5);

            // Occupations: contiguous, covering the employment exactly.
            let occupations = &e.occupations;
            assert!(!occupations.is_empty());
            assert_eq!(occupations[0].start_date, e.start_date);
            assert_eq!(occupations[occupations.len() - 1].end_date, e.end_date);
            for pair in occupations.windows(2) {
                let end = pair[0].end_date.unwrap_or_default();
                assert_eq!(end.succ_opt(), Some(pair[1].start_date));
            }
            for o in occupations {
                let code = o.name.rsplit(" - ").next().unwrap_or_default();
                assert_eq!(o.name, format!("{} - {code}", o.description));
                assert!(code.len() == 7 && code.as_bytes()[4] == b'-', "{}", o.name);
                match o.locale.as_deref() {
                    Some("Urbana") => urban += 1,
                    Some("Rural") => rural += 1,
                    Some("Não Identificado") => unidentified += 1,
                    other => panic!("locale {other:?}"),
                }
            }

            // Salaries: one REGULAR a month inside the period and the window, a THIRTEENTH
            // each December, never below the minimum wage, INSS retained by the table.
            let first =
                month_index(e.start_date).max(month_index(today) - salary_months as i32 + 1);
            let last = month_index(e.end_date.unwrap_or(today));
            let mut regular_months = Vec::new();
            let mut thirteenth_months = Vec::new();
            for s in &e.salaries {
                assert_eq!(s.currency, "BRL");
                let (year, month) = parse_month(&s.month);
                let index = year * 12 + month as i32 - 1;
                assert!(
                    index >= first && index <= last,
                    "{cpf}: {} outside the period",
                    s.month
                );
                let base = s.base_amount;
                let table = money::inss_table(year, month);
                assert_eq!(s.retained_amount, money::inss_contribution(base, table));
                match s.kind.as_deref() {
                    Some("REGULAR") => {
                        assert!(
                            base >= money::minimum_wage(year, month),
                            "{cpf} {}",
                            s.month
                        );
                        regular_months.push(index);
                    }
                    Some("THIRTEENTH") => {
                        assert_eq!(month, 12);
                        thirteenth_months.push(index);
                    }
                    other => panic!("type {other:?}"),
                }
            }
            let expected: Vec<i32> = (first..=last).collect();
            assert_eq!(regular_months, expected, "{cpf}: one REGULAR per month");
            let decembers: Vec<i32> = expected.iter().copied().filter(|i| i % 12 == 11).collect();
            assert_eq!(
                thirteenth_months, decembers,
                "{cpf}: one THIRTEENTH per December"
            );
        }
    }
    // Distributions: a few percent have no employment; most occupations are urban.
    assert!((10..=100).contains(&counts[0]), "{counts:?}");
    assert!(counts[1..].iter().all(|c| *c > 0), "{counts:?}");
    let total = urban + rural + unidentified;
    assert!(urban * 100 / total >= 70, "{urban}/{total}");
    assert!(rural > 0 && unidentified > 0 && unidentified * 100 / total < 10);
    assert!(current > 300, "the latest job is often current: {current}");
    assert!(alphanumeric > 0, "new employers get alphanumeric CNPJs");
}

//! Personal data in a link's `external_id`. Belvo forces the field to `null` when "the
//! identifier contains PII" (spec 1.223; belvo-api.md §11.4) without publishing its rules, so
//! the fake's are its own: a valid CPF or CNPJ in any format (digits alone, punctuated, or
//! inside other text), an e-mail address, or a Brazilian phone number. Phone numbers need a
//! cue that they are one (a `+55`/`55` prefix, a `(DD)` area code, or a mobile's 11 digits
//! with a 9 after the area code), so ordinary 10-digit ids are not taken for landlines.

/// Whether `text` holds any personal data the fake recognises.
pub fn contains_pii(text: &str) -> bool {
    has_email(text)
        || number_runs(text).any(|run| is_document(&run) || is_phone(&run))
        || text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|token| token.len() == 14 && stdbr_core::cnpj::is_valid_lenient(token))
        || formatted_cnpjs(text)
}

/// A `local@domain.tld`-shaped address anywhere in `text`.
fn has_email(text: &str) -> bool {
    text.split(char::is_whitespace).any(|word| {
        let Some((local, domain)) = word.rsplit_once('@') else {
            return false;
        };
        let domain = domain.trim_end_matches(['.', ',', ';', '>', ')']);
        !local.is_empty()
            && domain
                .split_once('.')
                .is_some_and(|(host, tld)| !host.is_empty() && !tld.is_empty())
    })
}

/// A run of characters a number may be written with, with its digits and whether it was
/// written as a phone number (a `+` or parentheses).
struct Run {
    digits: String,
    phone_cues: bool,
}

fn number_runs(text: &str) -> impl Iterator<Item = Run> + '_ {
    text.split(|c: char| !(c.is_ascii_digit() || " .-/()+".contains(c)))
        .map(|run| Run {
            digits: run.chars().filter(char::is_ascii_digit).collect(),
            phone_cues: run.contains('+') || (run.contains('(') && run.contains(')')),
        })
        .filter(|run| run.digits.len() >= 10)
}

fn is_document(run: &Run) -> bool {
    match run.digits.len() {
        11 => stdbr_core::cpf::is_valid_lenient(&run.digits),
        14 => stdbr_core::cnpj::is_valid_lenient(&run.digits),
        _ => false,
    }
}

/// Anatel's area codes (DDD) in use.
const AREA_CODES: &[u8] = &[
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43,
    44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77,
    79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
];

fn is_phone(run: &Run) -> bool {
    let digits = run.digits.as_str();
    let (national, prefixed) = match digits.len() {
        12 | 13 if digits.starts_with("55") => (&digits[2..], true),
        10 | 11 => (digits, false),
        _ => return false,
    };
    let area = national[..2].parse::<u8>().unwrap_or(0);
    if !AREA_CODES.contains(&area) {
        return false;
    }
    let subscriber = &national[2..];
    let mobile = subscriber.len() == 9 && subscriber.starts_with('9');
    let landline = subscriber.len() == 8 && matches!(subscriber.as_bytes()[0], b'2'..=b'5');
    (mobile && (prefixed || run.phone_cues || national.len() == 11))
        || (landline && (prefixed || run.phone_cues))
}

/// `XX.XXX.XXX/XXXX-DD` with letters allowed in the first twelve places (the alphanumeric
/// CNPJ), anywhere in `text`.
fn formatted_cnpjs(text: &str) -> bool {
    const MASK: &[u8] = b"AA.AAA.AAA/AAAA-DD";
    let bytes = text.as_bytes();
    bytes.windows(MASK.len()).any(|window| {
        let shaped = window.iter().zip(MASK).all(|(b, m)| match m {
            b'A' => b.is_ascii_alphanumeric(),
            b'D' => b.is_ascii_digit(),
            sep => b == sep,
        });
        shaped && std::str::from_utf8(window).is_ok_and(stdbr_core::cnpj::is_valid_lenient)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_in_any_format_are_personal_data() {
        for text in [
            "52998224725",
            "529.982.247-25",
            "user-529.982.247-25",
            "cpf52998224725",
            "11.222.333/0001-81",
            "11222333000181",
            "acme 11222333000181 account",
            "12.ABC.345/01DE-35",
            "12ABC34501DE35",
        ] {
            assert!(contains_pii(text), "{text}");
        }
    }

    #[test]
    fn e_mails_and_brazilian_phones_are_personal_data() {
        for text in [
            "maria.silva@example.com.br",
            "contact: joao@exemplo.com",
            "+55 11 91234-5678",
            "5511912345678",
            "(11) 91234-5678",
            "11912345678",
            "(21) 3456-7890",
            "+55 (21) 3456-7890",
        ] {
            assert!(contains_pii(text), "{text}");
        }
    }

    #[test]
    fn ordinary_ids_are_not() {
        for text in [
            "user-3f2a",
            "order-1733000000",
            "52998224724",
            "12345678901234",
            "a@b",
            "@handle",
            "b5b6a1f0-2d4c-4b39-9a8e-0e8f5a7c1d2e",
            "customer_42",
            "2026-12-01",
        ] {
            assert!(!contains_pii(text), "{text}");
        }
    }
}

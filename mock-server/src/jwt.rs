//! JSON Web Tokens signed with HMAC-SHA512 (`HS512`, what Belvo's widget access tokens use):
//! compact form `base64url(header).base64url(claims).base64url(signature)`, no padding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha512;

type HmacSha512 = Hmac<Sha512>;

/// Signs `claims` (a JSON object) with `secret`.
pub fn sign_hs512(secret: &[u8], claims: &Value) -> String {
    let header = json!({"alg": "HS512", "typ": "JWT"});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = mac(secret, signing_input.as_bytes())
        .finalize()
        .into_bytes();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The claims of a token `secret` signed, if the signature holds (checked in constant time)
/// and the header says HS512. Expiry is the caller's: it is a claim like any other.
pub fn verify_hs512(secret: &[u8], token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let check = mac(secret, format!("{header}.{claims}").as_bytes());
    check.verify_slice(&signature).ok()?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header["alg"] != "HS512" {
        return None;
    }
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
    claims.is_object().then_some(claims)
}

fn mac(secret: &[u8], input: &[u8]) -> HmacSha512 {
    // HMAC takes a key of any length (longer ones are hashed first): this cannot fail.
    let mut mac = <HmacSha512 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(input);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 ("Jefe"): the MAC under the token is standard HMAC-SHA512.
    #[test]
    fn the_signature_is_rfc_4231_hmac_sha512() {
        let tag = mac(b"Jefe", b"what do ya want for nothing?")
            .finalize()
            .into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn a_signed_token_verifies_with_its_secret_only_and_not_once_changed() {
        let claims = json!({"token_type": "access", "jti": "abc", "exp": 1});
        let token = sign_hs512(b"server secret", &claims);
        assert_eq!(token.split('.').count(), 3);
        assert!(!token.contains('='), "no padding: {token}");
        let header = token.split('.').next().unwrap_or_default();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(header).ok(),
            Some(br#"{"alg":"HS512","typ":"JWT"}"#.to_vec())
        );
        assert_eq!(verify_hs512(b"server secret", &token), Some(claims));
        assert_eq!(verify_hs512(b"another secret", &token), None);
        let forged = format!(
            "{}.{}.{}",
            header,
            URL_SAFE_NO_PAD.encode(r#"{"token_type":"access","jti":"abc","exp":9}"#),
            token.rsplit('.').next().unwrap_or_default()
        );
        assert_eq!(verify_hs512(b"server secret", &forged), None);
        assert_eq!(verify_hs512(b"server secret", "not.a.token.at-all"), None);
        assert_eq!(verify_hs512(b"server secret", ""), None);
    }
}

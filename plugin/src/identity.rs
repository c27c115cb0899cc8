//! Who is asking the REST API. The gateway authenticates; the component
//! verifies: a bearer token signed with a configured key (`jwt`), or the
//! identity headers a gateway sets beside a shared secret (`trusted-header`).
//! A request without a verified identity is refused, never given a default user.

use crate::error::{Result, config};
use crate::platform::Platform;
use crate::settings::unwrap_base64;
use crate::validate;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub email: String,
    pub groups: Vec<String>,
    /// In one of `admin-groups`: manages resources and accounts, sees everything.
    pub admin: bool,
}

/// Tokens a few seconds off the gateway's clock still pass.
const CLOCK_LEEWAY_SECONDS: u64 = 30;
/// The longest token lifetime accepted unless `jwt-max-lifetime` says otherwise.
const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

enum Keys {
    /// One key, from `jwt-hs256-secret` or `jwt-public-key`.
    Single(DecodingKey),
    /// A static JWKS: the token's `kid` picks the key.
    Set(JwkSet),
}

/// A static `jwt-jwks`. Only the members RFC 7517/7518 define for the key
/// types we verify (RSA, EC) or must recognise to refuse (oct, OKP) are
/// read: jsonwebtoken's own JWK types cost the component ~25 KB.
#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    k: Option<String>,
}

impl JwkSet {
    /// The key a token's `kid` names; without a `kid`, the only key.
    fn find(&self, kid: Option<&str>) -> Option<&Jwk> {
        match kid {
            Some(kid) => self.keys.iter().find(|key| key.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }
}

impl Jwk {
    /// None when a member its `kty` needs is missing or not base64url.
    fn decoding_key(&self) -> Option<DecodingKey> {
        match self.kty.as_str() {
            "RSA" => DecodingKey::from_rsa_components(self.n.as_ref()?, self.e.as_ref()?).ok(),
            "EC" => DecodingKey::from_ec_components(self.x.as_ref()?, self.y.as_ref()?).ok(),
            // Ed25519: a key of its own family, which `accepted_algorithms` refuses.
            "OKP" => DecodingKey::from_ed_components(self.x.as_ref()?).ok(),
            "oct" => DecodingKey::from_secret(&URL_SAFE_NO_PAD.decode(self.k.as_ref()?).ok()?).ok(),
            _ => None,
        }
    }
}

/// `jwt-public-key`: an SPKI `PUBLIC KEY` (RSA or EC) or a PKCS#1 `RSA
/// PUBLIC KEY`, in PEM. Read with RustCrypto's `pem-rfc7468` and `spki`
/// (already there for the signatures) instead of jsonwebtoken's `use_pem`,
/// whose ASN.1 parser cost the component ~60 KB.
fn public_key_from_pem(pem: &str) -> Option<DecodingKey> {
    const RSA_ENCRYPTION: spki::ObjectIdentifier =
        spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    const EC_PUBLIC_KEY: spki::ObjectIdentifier =
        spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).ok()?;
    match label {
        "RSA PUBLIC KEY" => Some(DecodingKey::from_rsa_der(&der)),
        "PUBLIC KEY" => {
            let info = spki::SubjectPublicKeyInfoRef::try_from(der.as_slice()).ok()?;
            let key = info.subject_public_key.as_bytes()?;
            match info.algorithm.oid {
                RSA_ENCRYPTION => Some(DecodingKey::from_rsa_der(key)),
                EC_PUBLIC_KEY => Some(DecodingKey::from_ec_der(key)),
                _ => None,
            }
        }
        _ => None,
    }
}

struct Jwt {
    keys: Keys,
    issuer: Option<String>,
    audience: Option<String>,
    /// Tokens living longer than this (`exp` − `iat`, or `exp` − now) are refused.
    max_lifetime: Duration,
    email_claim: String,
    groups_claim: String,
}

struct TrustedHeader {
    user: String,
    groups: String,
    secret_name: String,
    secret: String,
}

enum Mode {
    Jwt(Jwt),
    TrustedHeader(TrustedHeader),
}

/// The `auth-mode`, `jwt-*`, `trusted-header-*` and `admin-groups` keys.
pub struct Auth {
    mode: Mode,
    pub admin_groups: Vec<String>,
}

/// Why a request is not authenticated (a 401); never echoes a credential.
#[derive(Debug, PartialEq)]
pub struct Unauthenticated(pub String);

fn unauthenticated(why: impl Into<String>) -> Unauthenticated {
    Unauthenticated(why.into())
}

impl Auth {
    pub fn load(platform: &dyn Platform) -> Result<Auth> {
        let get = |key: &str| -> Result<Option<String>> {
            Ok(platform
                .config(key)?
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty()))
        };
        let or = |key: &str, default: &str| -> Result<String> {
            Ok(get(key)?.unwrap_or_else(|| default.to_string()))
        };
        let mode = match or("auth-mode", "jwt")?.as_str() {
            "jwt" => Mode::Jwt(Jwt {
                keys: jwt_keys(
                    get("jwt-hs256-secret")?,
                    get("jwt-public-key")?
                        .map(|v| unwrap_base64("jwt-public-key", v))
                        .transpose()?,
                    get("jwt-jwks")?
                        .map(|v| unwrap_base64("jwt-jwks", v))
                        .transpose()?,
                )?,
                issuer: get("jwt-issuer")?,
                audience: get("jwt-audience")?,
                max_lifetime: match get("jwt-max-lifetime")? {
                    None => DEFAULT_MAX_LIFETIME,
                    Some(text) => humantime::parse_duration(&text)
                        .ok()
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| {
                            config("jwt-max-lifetime must be a duration like 12h or 1d, above zero")
                        })?,
                },
                email_claim: or("jwt-email-claim", "email")?,
                groups_claim: or("jwt-groups-claim", "groups")?,
            }),
            "trusted-header" => Mode::TrustedHeader(TrustedHeader {
                user: or("trusted-header-user", "x-pam-user")?.to_ascii_lowercase(),
                groups: or("trusted-header-groups", "x-pam-groups")?.to_ascii_lowercase(),
                secret_name: or("trusted-header-secret-name", "x-pam-gateway-secret")?
                    .to_ascii_lowercase(),
                secret: get("trusted-header-secret")?.ok_or_else(|| {
                    config("auth-mode trusted-header needs trusted-header-secret")
                })?,
            }),
            other => {
                return Err(config(format!(
                    "auth-mode must be jwt or trusted-header, not {other:?}"
                )));
            }
        };
        // Set but empty means no administrators, never the default group.
        let admin_groups = platform
            .config("admin-groups")?
            .unwrap_or_else(|| "pam-admins".to_string())
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect();
        Ok(Auth { mode, admin_groups })
    }

    /// Whether callers present bearer tokens (401s then say so).
    pub fn wants_bearer_token(&self) -> bool {
        matches!(self.mode, Mode::Jwt(_))
    }

    /// An identity header sent more than once, which makes the request
    /// ambiguous (a client's copy beside the gateway's): refused as a 400.
    pub fn repeated_header(&self, headers: &HeaderMap) -> Option<String> {
        let names: Vec<&str> = match &self.mode {
            Mode::Jwt(_) => vec![http::header::AUTHORIZATION.as_str()],
            Mode::TrustedHeader(t) => vec![&t.user, &t.groups, &t.secret_name],
        };
        names
            .into_iter()
            .find(|name| headers.get_all(*name).iter().count() > 1)
            .map(str::to_string)
    }

    /// The caller, from the request's headers; the email in its canonical
    /// (lowercase) form, so one person is one user everywhere.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, Unauthenticated> {
        let mut identity = match &self.mode {
            Mode::Jwt(jwt) => jwt.verify(headers)?,
            Mode::TrustedHeader(trusted) => trusted.verify(headers)?,
        };
        identity.admin = identity
            .groups
            .iter()
            .any(|g| self.admin_groups.contains(g));
        identity.email = validate::user_email("user", &identity.email)
            .map_err(|_| unauthenticated("the identity's email is not a valid email address"))?;
        Ok(identity)
    }
}

fn jwt_keys(
    secret: Option<String>,
    public_key: Option<String>,
    jwks: Option<String>,
) -> Result<Keys> {
    match (secret, public_key, jwks) {
        (Some(secret), None, None) => DecodingKey::from_secret(secret.as_bytes())
            .map(Keys::Single)
            .map_err(|e| config(format!("jwt-hs256-secret is not usable: {e}"))),
        (None, Some(pem), None) => public_key_from_pem(&pem)
            .map(Keys::Single)
            .ok_or_else(|| config("jwt-public-key must be an RSA or EC public key in PEM")),
        (None, None, Some(jwks)) => serde_json::from_str::<JwkSet>(&jwks)
            .map(Keys::Set)
            .map_err(|e| config(format!("jwt-jwks is not a JSON Web Key Set: {e}"))),
        (None, None, None) => Err(config(
            "auth-mode jwt needs one of jwt-hs256-secret, jwt-public-key or jwt-jwks",
        )),
        _ => Err(config(
            "set only one of jwt-hs256-secret, jwt-public-key and jwt-jwks",
        )),
    }
}

/// What each kind of key verifies; anything else in `alg` is refused,
/// so a token cannot pick a weaker or confused algorithm.
fn accepted_algorithms(key: &DecodingKey) -> &'static [Algorithm] {
    match key.family() {
        AlgorithmFamily::Hmac => &[Algorithm::HS256],
        AlgorithmFamily::Rsa => &[Algorithm::RS256],
        AlgorithmFamily::Ec => &[Algorithm::ES256, Algorithm::ES384],
        // Ed25519 keys (an `OKP` in a JWKS) are not supported: refused.
        AlgorithmFamily::Ed => &[],
    }
}

impl Jwt {
    fn verify(&self, headers: &HeaderMap) -> Result<Identity, Unauthenticated> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| unauthenticated("an Authorization: Bearer token is required"))?;
        crate::jwt_crypto::install();
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthenticated("the bearer token is not a JWT"))?;
        let found;
        let key = match &self.keys {
            Keys::Single(key) => key,
            Keys::Set(set) => {
                let jwk = set
                    .find(header.kid.as_deref())
                    .ok_or_else(|| unauthenticated("no key in jwt-jwks matches the token's kid"))?;
                found = jwk
                    .decoding_key()
                    .ok_or_else(|| unauthenticated("the matching key in jwt-jwks is not usable"))?;
                &found
            }
        };
        if !accepted_algorithms(key).contains(&header.alg) {
            return Err(unauthenticated(format!(
                "tokens signed with {:?} are not accepted by the configured key",
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = CLOCK_LEEWAY_SECONDS;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        required.extend(self.issuer.as_ref().map(|_| "iss"));
        required.extend(self.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        match &self.issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let claims = jsonwebtoken::decode::<Value>(token.as_bytes(), key, &validation)
            .map_err(|e| unauthenticated(format!("the bearer token was refused: {}", reason(&e))))?
            .claims;
        self.check_claims(&claims)?;
        let email = claims
            .get(&self.email_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                unauthenticated(format!("the token has no {} claim", self.email_claim))
            })?;
        let groups = match claims.get(&self.groups_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(list)) => split_groups(list),
            Some(_) => {
                return Err(unauthenticated(format!(
                    "the {} claim must be a list of strings",
                    self.groups_claim
                )));
            }
        };
        Ok(Identity {
            email: email.to_string(),
            groups,
            admin: false,
        })
    }
}

impl Jwt {
    /// What the library leaves to us: `iss`/`aud` present as the configured
    /// strings (not merely absent or `null`), a bounded lifetime, and no
    /// `email_verified: false`.
    fn check_claims(&self, claims: &Value) -> Result<(), Unauthenticated> {
        let refused = |why: &str| unauthenticated(format!("the bearer token was refused: {why}"));
        if let Some(issuer) = &self.issuer
            && claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
        {
            return Err(refused("its issuer (iss) is not jwt-issuer"));
        }
        if let Some(audience) = &self.audience {
            let listed = match claims.get("aud") {
                Some(Value::String(one)) => one == audience,
                Some(Value::Array(many)) => many.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !listed {
                return Err(refused("its audience (aud) is not jwt-audience"));
            }
        }
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let now = jsonwebtoken::get_current_timestamp();
        // An `iat` in the future must not shorten the lifetime counted.
        let start = match claims.get("iat") {
            None => now,
            Some(iat) => iat
                .as_u64()
                .ok_or_else(|| refused("its issued-at time (iat) is not a number"))?
                .min(now),
        };
        if exp.saturating_sub(start) > self.max_lifetime.as_secs() {
            return Err(refused(
                "it lives longer than jwt-max-lifetime allows (exp - iat, or exp - now)",
            ));
        }
        if matches!(claims.get("email_verified"), Some(Value::Bool(false))) {
            return Err(refused(
                "its email is not verified (email_verified is false)",
            ));
        }
        Ok(())
    }
}

/// The rule a token broke, without echoing any part of it.
fn reason(error: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "it has expired (exp)",
        ErrorKind::ImmatureSignature => "it is not valid yet (nbf)",
        ErrorKind::InvalidIssuer => "its issuer (iss) is not jwt-issuer",
        ErrorKind::InvalidAudience => "its audience (aud) is not jwt-audience",
        ErrorKind::MissingRequiredClaim(_) => {
            "it lacks a required claim (exp, or iss/aud when set)"
        }
        ErrorKind::InvalidSignature => "its signature does not verify",
        _ => "it is malformed",
    }
}

fn split_groups(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

impl TrustedHeader {
    fn verify(&self, headers: &HeaderMap) -> Result<Identity, Unauthenticated> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let presented = header(&self.secret_name).unwrap_or_default();
        // Constant-time, so the secret cannot be guessed byte by byte.
        if !bool::from(presented.as_bytes().ct_eq(self.secret.as_bytes())) {
            return Err(unauthenticated(format!(
                "identity headers are accepted only with a valid {} header",
                self.secret_name
            )));
        }
        // A value that is there but not visible ASCII (UTF-8 from the
        // gateway, say) is named as such, not reported missing.
        let email = headers
            .get(&self.user)
            .map(|value| value.to_str())
            .transpose()
            .map_err(|_| {
                unauthenticated(format!(
                    "the {} header must be visible ASCII: an email address",
                    self.user
                ))
            })?
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| unauthenticated(format!("the {} header is required", self.user)))?;
        Ok(Identity {
            email: email.to_string(),
            groups: header(&self.groups).map(split_groups).unwrap_or_default(),
            admin: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fake;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "an-hs256-secret-of-enough-length!";

    fn auth(pairs: &[(&str, &str)]) -> Result<Auth> {
        let mut fake = Fake::default();
        for (k, v) in pairs {
            fake.config.insert(k.to_string(), v.to_string());
        }
        Auth::load(&&fake)
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn hs256(claims: Value) -> String {
        signed_hs256(SECRET.as_bytes(), &claims)
    }

    /// Signs with the component's own provider (its test-only HS256 signer),
    /// installed first, so the tests pass whether or not another crate in
    /// the build turns on jsonwebtoken's `rust_crypto` default provider.
    fn signed_hs256(secret: &[u8], claims: &Value) -> String {
        crate::jwt_crypto::install();
        let key = EncodingKey::from_secret(secret).unwrap();
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn a_valid_hs256_token_names_the_user_and_groups() {
        let auth = auth(&[("jwt-hs256-secret", SECRET), ("jwt-issuer", "idp")]).unwrap();
        let token = hs256(json!({
            "email": "alice@example.com", "groups": ["ops", "pam-admins"],
            "exp": now() + 300, "iss": "idp",
        }));
        let who = auth.authenticate(&bearer(&token)).unwrap();
        assert_eq!(who.email, "alice@example.com");
        assert_eq!(who.groups, ["ops", "pam-admins"]);
        assert!(who.admin);
    }

    #[test]
    fn tokens_that_break_a_rule_are_refused_with_the_rule() {
        let auth = auth(&[
            ("jwt-hs256-secret", SECRET),
            ("jwt-issuer", "idp"),
            ("jwt-audience", "pam"),
        ])
        .unwrap();
        let good =
            json!({"email": "a@example.com", "exp": now() + 300, "iss": "idp", "aud": "pam"});
        let cases = [
            (json!({"exp": now() - 3600}), "exp"),
            (json!({"nbf": now() + 3600}), "nbf"),
            (json!({"iss": "someone-else"}), "iss"),
            (json!({"aud": "other"}), "aud"),
            (json!({"email": null}), "email"),
        ];
        for (change, rule) in cases {
            let mut claims = good.clone();
            for (k, v) in change.as_object().unwrap() {
                if v.is_null() {
                    claims.as_object_mut().unwrap().remove(k);
                } else {
                    claims[k] = v.clone();
                }
            }
            let Err(Unauthenticated(why)) = auth.authenticate(&bearer(&hs256(claims))) else {
                panic!("{rule}: accepted")
            };
            assert!(why.contains(rule), "{rule}: {why}");
        }
        // Signed with another secret.
        let forged = signed_hs256(b"another-secret-another-secret!!!", &good);
        let Err(Unauthenticated(why)) = auth.authenticate(&bearer(&forged)) else {
            panic!("forged token accepted")
        };
        assert!(why.contains("signature"), "{why}");
        assert!(!why.contains(&forged), "the token is never echoed");
        // iss and aud are required when configured: absent or null is refused.
        for claim in ["iss", "aud"] {
            for absent in [None, Some(Value::Null), Some(json!(7))] {
                let mut claims = good.clone();
                match &absent {
                    None => drop(claims.as_object_mut().unwrap().remove(claim)),
                    Some(v) => claims[claim] = v.clone(),
                }
                let Err(Unauthenticated(why)) = auth.authenticate(&bearer(&hs256(claims))) else {
                    panic!("{claim} = {absent:?}: accepted")
                };
                assert!(why.contains(claim), "{claim}: {why}");
            }
        }
        let mut listed = good.clone();
        listed["aud"] = json!(["other", "pam"]);
        assert!(
            auth.authenticate(&bearer(&hs256(listed))).is_ok(),
            "aud in a list"
        );
        // Lifetime: exp - iat, or exp - now without iat, at most 24 h by default.
        for (change, why_part) in [
            (
                json!({"iat": now(), "exp": now() + 25 * 3600}),
                "jwt-max-lifetime",
            ),
            (json!({"exp": now() + 25 * 3600}), "jwt-max-lifetime"),
            (
                json!({"iat": now() + 24 * 3600, "exp": now() + 25 * 3600}),
                "jwt-max-lifetime",
            ),
            (json!({"iat": "yesterday"}), "iat"),
            (json!({"email_verified": false}), "email_verified"),
        ] {
            let mut claims = good.clone();
            for (k, v) in change.as_object().unwrap() {
                claims[k] = v.clone();
            }
            let Err(Unauthenticated(why)) = auth.authenticate(&bearer(&hs256(claims))) else {
                panic!("{change}: accepted")
            };
            assert!(why.contains(why_part), "{change}: {why}");
        }
        let mut verified = good.clone();
        verified["email_verified"] = json!(true);
        verified["iat"] = json!(now() - 3600);
        verified["exp"] = json!(now() + 23 * 3600 - 60);
        assert!(auth.authenticate(&bearer(&hs256(verified))).is_ok());
        // No header, or not a bearer token.
        assert!(auth.authenticate(&HeaderMap::new()).is_err());
        assert!(auth.authenticate(&bearer("not-a-jwt")).is_err());
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        let auth = auth(&[("jwt-hs256-secret", SECRET)]).unwrap();
        let claims = json!({"email": "a@example.com", "exp": now() + 300});
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let token = format!("{}.{}.", encode(&json!({"alg": "none"})), encode(&claims));
        assert!(auth.authenticate(&bearer(&token)).is_err());
    }

    #[test]
    fn trusted_headers_need_the_shared_secret() {
        let auth = auth(&[
            ("auth-mode", "trusted-header"),
            ("trusted-header-secret", "s3cret"),
        ])
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-pam-user", "bob@example.com".parse().unwrap());
        headers.insert("x-pam-groups", "ops, dev".parse().unwrap());
        assert!(auth.authenticate(&headers).is_err(), "no secret header");
        headers.insert("x-pam-gateway-secret", "wrong".parse().unwrap());
        assert!(auth.authenticate(&headers).is_err(), "wrong secret");
        headers.insert("x-pam-gateway-secret", "s3cret".parse().unwrap());
        let who = auth.authenticate(&headers).unwrap();
        assert_eq!(who.email, "bob@example.com");
        assert_eq!(who.groups, ["ops", "dev"]);
        assert!(!who.admin);
        assert_eq!(auth.repeated_header(&headers), None);
        // The email is canonical: one person, one user.
        headers.insert("x-pam-user", "Bob@Example.COM".parse().unwrap());
        assert_eq!(
            auth.authenticate(&headers).unwrap().email,
            "bob@example.com"
        );
        // A user header that is not ASCII is refused as such; an empty one as missing.
        let refusal = |value: &[u8]| {
            let mut odd = headers.clone();
            odd.insert("x-pam-user", http::HeaderValue::from_bytes(value).unwrap());
            match auth.authenticate(&odd) {
                Err(Unauthenticated(why)) => why,
                Ok(who) => panic!("accepted as {}", who.email),
            }
        };
        assert_eq!(
            refusal("jürgen@example.com".as_bytes()),
            "the x-pam-user header must be visible ASCII: an email address"
        );
        assert_eq!(refusal(b"  "), "the x-pam-user header is required");
        // A second copy of an identity header, in either order, is ambiguous.
        for header in ["x-pam-user", "x-pam-groups", "x-pam-gateway-secret"] {
            let mut twice = headers.clone();
            twice.append(header, "mallory@example.com".parse().unwrap());
            assert_eq!(auth.repeated_header(&twice).as_deref(), Some(header));
        }
    }

    #[test]
    fn an_empty_admin_groups_means_no_administrators() {
        let token =
            hs256(json!({"email": "a@example.com", "groups": ["pam-admins"], "exp": now() + 60}));
        let default = auth(&[("jwt-hs256-secret", SECRET)]).unwrap();
        assert!(default.authenticate(&bearer(&token)).unwrap().admin);
        let none = auth(&[("jwt-hs256-secret", SECRET), ("admin-groups", "")]).unwrap();
        assert!(none.admin_groups.is_empty());
        assert!(!none.authenticate(&bearer(&token)).unwrap().admin);
        let mut twice = bearer(&token);
        twice.append(http::header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(
            none.repeated_header(&twice).as_deref(),
            Some("authorization")
        );
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let message = |pairs: &[(&str, &str)]| match auth(pairs) {
            Err(e) => e.message(),
            Ok(_) => panic!("accepted {pairs:?}"),
        };
        assert!(message(&[]).contains("jwt-hs256-secret"));
        assert!(message(&[("auth-mode", "magic")]).contains("auth-mode"));
        assert!(message(&[("auth-mode", "trusted-header")]).contains("trusted-header-secret"));
        assert!(message(&[("jwt-public-key", "not pem")]).contains("jwt-public-key"));
        assert!(message(&[("jwt-jwks", "{}")]).contains("jwt-jwks"));
        assert!(
            message(&[("jwt-hs256-secret", SECRET), ("jwt-max-lifetime", "0s")])
                .contains("jwt-max-lifetime")
        );
        assert!(
            message(&[("jwt-hs256-secret", SECRET), ("jwt-jwks", "{\"keys\":[]}")])
                .contains("only one")
        );
    }

    const RSA_SPKI: &str = "-----BEGIN PUBLIC KEY-----\nMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDuoOqv7Xl3LuG3O5ANJS3LGxuM\nF++ahsbaROnA00ChMgqYG8j+hDGHFYvsbN1Z8040xKUUG7faefTZQgsvz16pfvsN\njmyRKJLYtf8Tw3PAy+2vanNpVm87DzST1UyhPo3XpZLzCrBOHagOM0vkN5JwUU+G\nz8HHRJSEKpBjMGMxeQIDAQAB\n-----END PUBLIC KEY-----\n";
    const RSA_PKCS1: &str = "-----BEGIN RSA PUBLIC KEY-----\nMIGJAoGBAO6g6q/teXcu4bc7kA0lLcsbG4wX75qGxtpE6cDTQKEyCpgbyP6EMYcV\ni+xs3VnzTjTEpRQbt9p59NlCCy/PXql++w2ObJEokti1/xPDc8DL7a9qc2lWbzsP\nNJPVTKE+jdelkvMKsE4dqA4zS+Q3knBRT4bPwcdElIQqkGMwYzF5AgMBAAE=\n-----END RSA PUBLIC KEY-----\n";
    const EC_P256: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEX0zwGH4oluBqs0Z8JL/xFmZQzZiq\n+Rv0170Y7oMnXaUgHF0ZAXwvYmFhzBh+pT4j9skDgh7l7ho6RE1WRfGq/g==\n-----END PUBLIC KEY-----\n";
    const ED25519: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAej/4a17ClenNxjK4ZQUdC9n8NQPfLgXcXwB1Lbj+TZY=\n-----END PUBLIC KEY-----\n";

    fn key_bytes(key: &DecodingKey) -> &[u8] {
        match key.kind() {
            jsonwebtoken::DecodingKeyKind::SecretOrDer(bytes) => bytes,
            jsonwebtoken::DecodingKeyKind::RsaModulusExponent { .. } => panic!("not DER"),
        }
    }

    #[test]
    fn public_keys_in_pem_are_read_as_rsa_or_ec_and_others_refused() {
        use rsa::pkcs1::DecodeRsaPublicKey;
        for pem in [RSA_SPKI, RSA_PKCS1] {
            let key = public_key_from_pem(pem).expect("an RSA key");
            assert_eq!(key.family(), AlgorithmFamily::Rsa);
            assert!(rsa::PublicKey::from_pkcs1_der(key_bytes(&key)).is_ok());
        }
        let key = public_key_from_pem(EC_P256).expect("an EC key");
        assert_eq!(key.family(), AlgorithmFamily::Ec);
        assert!(p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes(&key)).is_ok());
        // Ed25519, a private-key label, a broken body: refused at load.
        let private = RSA_SPKI.replace("PUBLIC KEY", "PRIVATE KEY");
        let broken = RSA_SPKI.replace("MIGf", "MIG!");
        for bad in [ED25519, private.as_str(), broken.as_str(), "not pem", ""] {
            assert!(public_key_from_pem(bad).is_none(), "{bad}");
        }
        let Err(crate::model::Error::Config(why)) = auth(&[("jwt-public-key", ED25519)]) else {
            panic!("an Ed25519 key was accepted")
        };
        assert!(
            why.contains("jwt-public-key") && why.contains("RSA or EC"),
            "{why}"
        );
    }

    #[test]
    fn jwks_keys_are_picked_by_kid_and_unusable_ones_are_refused() {
        let set: JwkSet = serde_json::from_value(json!({"keys": [
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AQ", "y": "Ag", "use": "sig"},
            {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB", "alg": "RS256"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AQ"},
            {"kty": "oct", "kid": "oct", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "no-modulus", "e": "AQAB"},
            {"kty": "XYZ", "kid": "unknown"}
        ]}))
        .unwrap();
        let family = |kid| {
            set.find(Some(kid))
                .and_then(Jwk::decoding_key)
                .map(|k| k.family())
        };
        assert_eq!(family("ec"), Some(AlgorithmFamily::Ec));
        assert_eq!(family("rsa"), Some(AlgorithmFamily::Rsa));
        // An Ed25519 key loads as its own family, which no algorithm accepts.
        assert_eq!(family("ed"), Some(AlgorithmFamily::Ed));
        assert!(
            accepted_algorithms(&set.find(Some("ed")).unwrap().decoding_key().unwrap()).is_empty()
        );
        assert_eq!(family("oct"), Some(AlgorithmFamily::Hmac));
        assert_eq!(family("no-modulus"), None);
        assert_eq!(family("unknown"), None);
        assert!(set.find(Some("missing")).is_none());
        // Without a kid, only a set of one key answers.
        assert!(set.find(None).is_none());
        let one: JwkSet =
            serde_json::from_value(json!({"keys": [{"kty": "EC", "x": "AQ", "y": "Ag"}]})).unwrap();
        assert!(one.find(None).is_some());
    }
}

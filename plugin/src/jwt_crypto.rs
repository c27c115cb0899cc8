//! The cryptography `jsonwebtoken` verifies tokens with: only the
//! algorithms `identity` accepts (HS256, RS256, ES256, ES384), and only
//! verification. jsonwebtoken's own RustCrypto provider also brings EdDSA
//! and every signing path (RSA private-key operations, RFC 6979 nonces),
//! which the component never runs but would still carry.

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind, Result};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::{BoxedUint, Pkcs1v15Sign};
use sha2::{Digest, Sha256};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(unsupported()),
        rsa_pub_components_from_public_key: |_| Err(unsupported()),
        ec_pub_components_from_private_key: |_, _| Err(unsupported()),
        ed_pub_components_from_private_key: |_, _: &EllipticCurve| Err(unsupported()),
        compute_digest: |_, _: ThumbprintHash| Err(unsupported()),
    },
};

/// Makes this the process's provider; later calls change nothing.
pub fn install() {
    let _ = PROVIDER.install_default();
}

fn unsupported() -> Error {
    ErrorKind::InvalidAlgorithm.into()
}

/// A key checked against its family once, when the verifier is made.
enum Key {
    Hs256(Hmac<Sha256>),
    Rs256(rsa::PublicKey),
    Es256(p256::ecdsa::VerifyingKey),
    Es384(p384::ecdsa::VerifyingKey),
}

struct Verify {
    algorithm: Algorithm,
    key: Key,
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let bytes = || match key.kind() {
        DecodingKeyKind::SecretOrDer(bytes) => Ok(bytes.as_slice()),
        DecodingKeyKind::RsaModulusExponent { .. } => Err(Error::from(ErrorKind::InvalidKeyFormat)),
    };
    use AlgorithmFamily as Family;
    let key = match (algorithm, key.family()) {
        (Algorithm::HS256, Family::Hmac) => Key::Hs256(
            Hmac::new_from_slice(bytes()?).map_err(|_| Error::from(ErrorKind::InvalidKeyFormat))?,
        ),
        (Algorithm::RS256, Family::Rsa) => Key::Rs256(match key.kind() {
            DecodingKeyKind::SecretOrDer(der) => rsa::PublicKey::from_pkcs1_der(der)
                .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?,
            DecodingKeyKind::RsaModulusExponent { n, e } => rsa::PublicKey::new(
                BoxedUint::from_be_slice_vartime(n),
                BoxedUint::from_be_slice_vartime(e),
            )
            .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?,
        }),
        (Algorithm::ES256, Family::Ec) => Key::Es256(
            p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes()?)
                .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?,
        ),
        (Algorithm::ES384, Family::Ec) => Key::Es384(
            p384::ecdsa::VerifyingKey::from_sec1_bytes(bytes()?)
                .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?,
        ),
        // A supported algorithm with another family's key.
        (Algorithm::HS256 | Algorithm::RS256 | Algorithm::ES256 | Algorithm::ES384, _) => {
            return Err(ErrorKind::InvalidKeyFormat.into());
        }
        _ => return Err(unsupported()),
    };
    Ok(Box::new(Verify {
        algorithm: *algorithm,
        key,
    }))
}

impl Verifier<Vec<u8>> for Verify {
    fn verify(&self, message: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        match &self.key {
            // `verify_slice` compares in constant time.
            Key::Hs256(mac) => {
                let mut mac = mac.clone();
                mac.update(message);
                mac.verify_slice(sig).map_err(signature::Error::from_source)
            }
            Key::Rs256(key) => key
                .verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message), sig)
                .map_err(signature::Error::from_source),
            Key::Es256(key) => key.verify(
                message,
                &p256::ecdsa::Signature::from_slice(sig).map_err(signature::Error::from_source)?,
            ),
            Key::Es384(key) => key.verify(
                message,
                &p384::ecdsa::Signature::from_slice(sig).map_err(signature::Error::from_source)?,
            ),
        }
    }
}

impl JwtVerifier for Verify {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// The component never signs. Unit tests sign HS256 tokens to verify.
fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    #[cfg(test)]
    if *algorithm == Algorithm::HS256 && key.family() == AlgorithmFamily::Hmac {
        let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
            .map_err(|_| Error::from(ErrorKind::InvalidKeyFormat))?;
        return Ok(Box::new(TestSigner(mac)));
    }
    let _ = (algorithm, key);
    Err(unsupported())
}

#[cfg(test)]
struct TestSigner(Hmac<Sha256>);

#[cfg(test)]
impl signature::Signer<Vec<u8>> for TestSigner {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let mut mac = self.0.clone();
        mac.update(message);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

#[cfg(test)]
impl JwtSigner for TestSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// Our verifier itself: in a workspace test build jsonwebtoken's own
    /// provider may be the process default, depending on which test ran first.
    fn verify(
        signature: &str,
        message: &[u8],
        key: &DecodingKey,
        algorithm: Algorithm,
    ) -> Result<bool> {
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
        Ok(verifier(&algorithm, key)?
            .verify(message, &signature)
            .is_ok())
    }
    use p384::ecdsa::signature::Signer;

    fn es384_key_and_signature(message: &[u8]) -> (DecodingKey, String) {
        let signing = p384::ecdsa::SigningKey::from_slice(&[7u8; 48]).unwrap();
        let point = signing.verifying_key().to_sec1_point(false);
        let key = DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            &URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        )
        .unwrap();
        let signature: p384::ecdsa::Signature = signing.sign(message);
        (key, URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    #[test]
    fn es384_signatures_verify_and_a_changed_message_does_not() {
        let (key, signature) = es384_key_and_signature(b"header.claims");
        assert!(verify(&signature, b"header.claims", &key, Algorithm::ES384).unwrap());
        assert!(!verify(&signature, b"header.claimz", &key, Algorithm::ES384).unwrap());
        // The same key may not be used for another algorithm or curve.
        assert!(verify(&signature, b"header.claims", &key, Algorithm::RS256).is_err());
        assert!(verify(&signature, b"header.claims", &key, Algorithm::ES256).is_err());
        // A truncated or empty signature is a refusal, not a panic.
        let short = &signature[..signature.len() / 2];
        assert!(!verify(short, b"header.claims", &key, Algorithm::ES384).unwrap());
        assert!(!verify("", b"header.claims", &key, Algorithm::ES384).unwrap());
    }

    #[test]
    fn eddsa_and_unlisted_algorithms_are_refused() {
        let ed = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode([1u8; 32])).unwrap();
        assert!(verify("c2ln", b"m", &ed, Algorithm::EdDSA).is_err());
        let secret = DecodingKey::from_secret(b"a-secret").unwrap();
        assert!(verify("c2ln", b"m", &secret, Algorithm::HS512).is_err());
    }
}

"""Keys and tokens from an independent JWT implementation (joserfc), for the
REST API's RS256/ES256/JWKS tests. Prints JSON:
  rsa_public_pem, ec_jwks       what pam-aws is configured with
  rs256, es256                  valid tokens for EMAIL
  es256_unknown_kid             signed by a key that is not in the JWKS
  hs256_confused                HS256 "signed" with the RSA public key as the
                                secret: the classic algorithm-confusion forgery

usage: make_tokens.py EMAIL
"""

import base64
import hashlib
import hmac
import json
import sys
import time

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

email = sys.argv[1]
now = int(time.time())
claims = {"email": email, "groups": ["dev"], "exp": now + 600, "iat": now}

rsa = RSAKey.generate_key(2048)
ec = ECKey.generate_key("P-256", parameters={"kid": "pam-e2e-1"})
stranger = ECKey.generate_key("P-256", parameters={"kid": "pam-e2e-2"})
rsa_public_pem = rsa.as_pem(private=False).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


signing_input = ".".join(
    b64url(json.dumps(part).encode()) for part in ({"alg": "HS256", "typ": "JWT"}, claims)
)
forged = hmac.new(rsa_public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()

print(json.dumps({
    "rsa_public_pem": rsa_public_pem,
    "ec_jwks": KeySet([ec]).as_dict(private=False),
    "rs256": jwt.encode({"alg": "RS256"}, claims, rsa),
    "es256": jwt.encode({"alg": "ES256", "kid": "pam-e2e-1"}, claims, ec),
    "es256_unknown_kid": jwt.encode({"alg": "ES256", "kid": "pam-e2e-2"}, claims, stranger),
    "hs256_confused": f"{signing_input}.{b64url(forged)}",
}))

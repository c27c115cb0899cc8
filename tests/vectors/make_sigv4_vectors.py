"""Writes sigv4_sts.json: AssumeRole requests signed by botocore at fixed
times, for every partition, with permanent and temporary credentials. The
plugin's unit tests sign the same requests and must get the same headers.

usage: python tests/vectors/make_sigv4_vectors.py > tests/vectors/sigv4_sts.json
"""

import datetime
import json
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CASES = [
    ("aws permanent", "https://sts.us-east-1.amazonaws.com/", "us-east-1", None, "2026-11-29T05:13:53Z"),
    ("aws temporary", "https://sts.eu-west-1.amazonaws.com/", "eu-west-1", "FQoGZXIvYXdzEXAMPLE//token+/=", "2026-02-28T23:59:59Z"),
    ("aws-cn", "https://sts.cn-north-1.amazonaws.com.cn/", "cn-north-1", None, "2025-01-01T00:00:00Z"),
    ("aws-us-gov temporary", "https://sts.us-gov-west-1.amazonaws.com/", "us-gov-west-1", "IQoJb3JpZ2luX2VjEXAMPLE", "2026-06-15T12:30:45Z"),
]

BODY = (
    "Action=AssumeRole&Version=2011-06-15"
    "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FPamTarget"
    "&RoleSessionName=alice%40example.com&ExternalId=proj-1&DurationSeconds=1800"
)


def sign(url, region, token, when):
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    request = AWSRequest(
        method="POST",
        url=url,
        data=BODY,
        headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    moment = datetime.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ")
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        SigV4Auth(credentials, "sts", region).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


vectors = []
for name, url, region, token, when in CASES:
    headers = sign(url, region, token, when)
    vectors.append(
        {
            "name": name,
            "url": url,
            "region": region,
            "session_token": token,
            "time": when,
            "body": BODY,
            "authorization": headers["authorization"],
            "x-amz-date": headers["x-amz-date"],
        }
    )
print(json.dumps(vectors, indent=2))

"""Creates the IAM world the end-to-end tests and the demo use in a running
moto server, then switches moto's IAM auth on so that every later call is
checked: SigV4 signature, identity policies, trust policies and ExternalId.

Prints one JSON object: the base user's keys and the role ARNs.

usage: moto_setup.py ENDPOINT EXTERNAL_ID SESSION_NAME...
  SESSION_NAME: role session names hop 1 will use. moto matches a trust
  policy's principal against the assumed-role *session* ARN, so the Target
  Role trusts those session ARNs (AWS itself would take the role ARN).
"""

import json
import sys
import urllib.request

import boto3

ACCOUNT = "123456789012"


def main() -> None:
    endpoint, external_id, *session_names = sys.argv[1:]
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )

    user = iam.create_user(UserName="pam-broker")["User"]["Arn"]
    key = iam.create_access_key(UserName="pam-broker")["AccessKey"]

    def trust(principals):
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": principals},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
                    }
                ],
            }
        )

    resource_role = iam.create_role(
        RoleName="PamResourceRole", AssumeRolePolicyDocument=trust(user)
    )["Role"]["Arn"]
    sessions = [f"arn:aws:sts::{ACCOUNT}:assumed-role/PamResourceRole/{n}" for n in session_names]
    target_role = iam.create_role(
        RoleName="PamTargetRole", AssumeRolePolicyDocument=trust(sessions), MaxSessionDuration=3600
    )["Role"]["Arn"]
    # Trusts the Resource Role too, but the Resource Role may not assume it.
    other_role = iam.create_role(
        RoleName="PamOtherRole", AssumeRolePolicyDocument=trust(sessions)
    )["Role"]["Arn"]

    def allow_assume(role_arn):
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}],
            }
        )

    iam.put_user_policy(
        UserName="pam-broker", PolicyName="assume-resource-role", PolicyDocument=allow_assume(resource_role)
    )
    iam.put_role_policy(
        RoleName="PamResourceRole", PolicyName="assume-target-role", PolicyDocument=allow_assume(target_role)
    )
    # Revocation: the Resource Role reads and writes the Target Role's inline policy.
    iam.put_role_policy(
        RoleName="PamResourceRole",
        PolicyName="revoke-target-sessions",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["iam:GetRolePolicy", "iam:PutRolePolicy"], "Resource": target_role}
                ],
            }
        ),
    )
    # An auditor the tests use to read back (and seed) what revocation writes.
    iam.create_user(UserName="auditor")
    auditor = iam.create_access_key(UserName="auditor")["AccessKey"]
    iam.put_user_policy(
        UserName="auditor",
        PolicyName="role-policies",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["iam:GetRolePolicy", "iam:PutRolePolicy"], "Resource": "*"}
                ],
            }
        ),
    )

    # From here on moto authenticates and authorizes every request.
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(request).read()

    print(
        json.dumps(
            {
                "access_key_id": key["AccessKeyId"],
                "secret_access_key": key["SecretAccessKey"],
                "user_arn": user,
                "resource_role_arn": resource_role,
                "target_role_arn": target_role,
                "other_role_arn": other_role,
                "auditor_access_key_id": auditor["AccessKeyId"],
                "auditor_secret_access_key": auditor["SecretAccessKey"],
            }
        )
    )


if __name__ == "__main__":
    main()

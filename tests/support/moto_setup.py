"""Creates the IAM world the end-to-end tests and the demo use in a running
moto server, then switches moto's IAM auth on so that every later call is
checked: SigV4 signature, identity policies, trust policies and ExternalId.

Prints one JSON object: the base user's keys and the role ARNs, for the
`aws` partition at the top level and for `aws-cn` and `aws-us-gov` under
"partitions" (moto keeps an IAM per partition, chosen by the signing region).

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
PARTITIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resource):
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


def create_world(endpoint, partition, external_id, session_names):
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=PARTITIONS[partition],
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )

    def trust(principals):
        return policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": principals},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        )

    user = iam.create_user(UserName="pam-broker")["User"]["Arn"]
    key = iam.create_access_key(UserName="pam-broker")["AccessKey"]
    resource_role = iam.create_role(RoleName="PamResourceRole", AssumeRolePolicyDocument=trust(user))["Role"]["Arn"]
    sessions = [f"arn:{partition}:sts::{ACCOUNT}:assumed-role/PamResourceRole/{n}" for n in session_names]
    target_role = iam.create_role(
        RoleName="PamTargetRole", AssumeRolePolicyDocument=trust(sessions), MaxSessionDuration=3600
    )["Role"]["Arn"]
    # Trusts the Resource Role too, but the Resource Role may not assume it.
    other_role = iam.create_role(RoleName="PamOtherRole", AssumeRolePolicyDocument=trust(sessions))["Role"]["Arn"]

    iam.put_user_policy(
        UserName="pam-broker",
        PolicyName="assume-resource-role",
        PolicyDocument=policy(allow("sts:AssumeRole", resource_role)),
    )
    # Assume the Target Role; for revocation, read and write its inline policy.
    iam.put_role_policy(
        RoleName="PamResourceRole",
        PolicyName="assume-and-revoke",
        PolicyDocument=policy(
            allow("sts:AssumeRole", target_role),
            allow(
                ["iam:ListRolePolicies", "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy"],
                target_role,
            ),
        ),
    )
    # An auditor the tests use to read back (and seed) what revocation writes.
    iam.create_user(UserName="auditor")
    auditor = iam.create_access_key(UserName="auditor")["AccessKey"]
    iam.put_user_policy(
        UserName="auditor",
        PolicyName="role-policies",
        PolicyDocument=policy(allow(["iam:ListRolePolicies", "iam:GetRolePolicy", "iam:PutRolePolicy"], "*")),
    )
    return {
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
        "user_arn": user,
        "resource_role_arn": resource_role,
        "target_role_arn": target_role,
        "other_role_arn": other_role,
        "auditor_access_key_id": auditor["AccessKeyId"],
        "auditor_secret_access_key": auditor["SecretAccessKey"],
    }


def main() -> None:
    endpoint, external_id, *session_names = sys.argv[1:]
    world = create_world(endpoint, "aws", external_id, session_names)
    world["partitions"] = {
        partition: create_world(endpoint, partition, external_id, session_names)
        for partition in ("aws-cn", "aws-us-gov")
    }

    # From here on moto authenticates and authorizes every request.
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(request).read()
    print(json.dumps(world))


if __name__ == "__main__":
    main()

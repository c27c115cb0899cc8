"""The whole flow through the Python package against moto (IAM auth on)
and the fake sign-in endpoint, which tests/e2e/embedding.rs starts and
names in PAM_AWS_TEST_* variables."""

import os
from urllib.parse import parse_qs, urlparse

import pytest

from pam_aws_console import Broker, BrokerError

ADMIN = "root@example.com"


def env(name: str) -> str:
    value = os.environ.get(f"PAM_AWS_TEST_{name}")
    if not value:
        pytest.fail(f"PAM_AWS_TEST_{name} is not set: run through cargo test (tests/e2e/embedding.rs)")
    return value


@pytest.fixture
def world() -> dict:
    names = ["MOTO", "SIGNIN", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "RESOURCE_ROLE", "TARGET_ROLE",
             "OTHER_ROLE", "EXTERNAL_ID", "USER"]
    return {name.lower(): env(name) for name in names}


def config(world: dict) -> dict:
    return {
        "aws-access-key-id": world["access_key_id"],
        "aws-secret-access-key": world["secret_access_key"],
        "sts-endpoint": world["moto"],
        "iam-endpoint": world["moto"],
        "federation-endpoint": world["signin"],
        "external-id": world["external_id"],
    }


def test_a_grant_runs_both_hops_and_keeps_its_records_in_the_callers_store(world: dict) -> None:
    store: dict = {}
    broker = Broker(config(world), store)
    resource = broker.create_resource(ADMIN, "prod", world["resource_role"])
    assert resource["name"] == "prod" and resource["external_id"] == world["external_id"]
    account = broker.create_account(ADMIN, "prod", "admin", world["target_role"], "30m", allow=[world["user"]])
    assert account["session_duration_seconds"] == 1800

    grant = broker.access("prod", "admin", world["user"])
    url = urlparse(grant["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == world["signin"]
    query = parse_qs(url.query)
    assert query["Action"] == ["login"] and query["SigninToken"]
    session = grant["session"]
    assert session["user"] == world["user"]
    assert session["role_session_name"] == world["user"], "the email is the session name"
    assert session["assumed_role_arn"].endswith(f"assumed-role/PamTargetRole/{world['user']}")

    assert [s["id"] for s in broker.list_sessions(user=world["user"])] == [session["id"]]
    actions = [e["action"] for e in broker.list_audit_events()]
    assert actions[:3] == ["access.grant", "account.create", "resource.create"]
    assert store, "the records are in the caller's store"
    for value in store.values():
        assert world["secret_access_key"].encode() not in value and b"SessionToken" not in value

    assert broker.revoke_session(ADMIN, session["id"])["status"] == "revoked"
    # Another broker over the same store sees the same records.
    assert [r["name"] for r in Broker(config(world), store).list_resources()] == ["prod"]


def test_bad_input_and_aws_refusals_raise_the_typed_error(world: dict) -> None:
    broker = Broker(config(world), {})
    broker.create_resource(ADMIN, "prod", world["resource_role"])
    with pytest.raises(BrokerError) as bad:
        broker.create_account(ADMIN, "prod", "admin", world["target_role"], "2h")
    assert bad.value.kind == "invalid-input" and bad.value.detail["field"] == "duration"
    with pytest.raises(BrokerError) as refused:
        broker.create_account(ADMIN, "prod", "other", world["other_role"], "30m")
    assert refused.value.kind == "aws"
    assert refused.value.detail["code"] == "AccessDenied" and refused.value.detail["hop"] == "target-role"
    assert refused.value.detail["hint"]
    assert broker.list_accounts("prod") == []
    # AWS's refusal is audited as denied; the bad input left no trace.
    events = [(e["action"], e["outcome"]) for e in broker.list_audit_events(2)]
    assert events == [("account.create", "denied"), ("resource.create", "success")]

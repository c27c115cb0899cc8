// The whole flow through the Node package against moto (IAM auth on) and
// the fake sign-in endpoint, which tests/e2e/embedding.rs starts and names
// in PAM_AWS_TEST_* variables.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import test from 'node:test';
import { BrokerError, open } from '../src/index.js';

function required(name) {
  const value = process.env[`PAM_AWS_TEST_${name}`];
  if (!value) throw new Error(`PAM_AWS_TEST_${name} is not set: run through cargo test (tests/e2e/embedding.rs)`);
  return value;
}

const world = {
  moto: required('MOTO'),
  signin: required('SIGNIN'),
  keyId: required('ACCESS_KEY_ID'),
  secret: required('SECRET_ACCESS_KEY'),
  resourceRole: required('RESOURCE_ROLE'),
  targetRole: required('TARGET_ROLE'),
  otherRole: required('OTHER_ROLE'),
  externalId: required('EXTERNAL_ID'),
  user: required('USER'),
};
const ADMIN = 'root@example.com';
const GATEWAY_SECRET = 'node-gateway-secret';

function config() {
  return {
    'aws-access-key-id': world.keyId,
    'aws-secret-access-key': world.secret,
    'sts-endpoint': world.moto,
    'iam-endpoint': world.moto,
    'federation-endpoint': world.signin,
    'external-id': world.externalId,
    'auth-mode': 'trusted-header',
    'trusted-header-secret': GATEWAY_SECRET,
  };
}

test('a grant runs both hops and keeps its session and audit in the caller\'s store', async () => {
  const store = new Map();
  const broker = await open({ config: config(), store });

  const resource = await broker.createResource(ADMIN, { name: 'prod', roleArn: world.resourceRole });
  assert.equal(resource.name, 'prod');
  assert.equal(resource.externalId, world.externalId);
  const account = await broker.createAccount(ADMIN, {
    resource: 'prod', name: 'admin', roleArn: world.targetRole, duration: '30m', allow: [world.user],
  });
  assert.equal(account.sessionDurationSeconds, 1800);

  const grant = await broker.access({ resource: 'prod', account: 'admin', user: world.user });
  const url = new URL(grant.url);
  assert.equal(`${url.origin}${url.pathname}`, world.signin);
  assert.equal(url.searchParams.get('Action'), 'login');
  assert.ok(url.searchParams.get('SigninToken'));
  assert.equal(grant.session.user, world.user);
  assert.equal(grant.session.roleSessionName, world.user, 'the email is the session name');
  assert.match(grant.session.assumedRoleArn, new RegExp(`assumed-role/PamTargetRole/${world.user}$`));

  const sessions = await broker.listSessions({ user: world.user });
  assert.deepEqual(sessions.map((s) => s.id), [grant.session.id]);
  const events = await broker.listAuditEvents();
  assert.deepEqual(events.map((e) => e.action).slice(0, 3), ['access.grant', 'account.create', 'resource.create']);
  assert.ok([...store.keys()].length > 0, 'the records are in the caller\'s store');
  for (const value of store.values()) {
    const text = new TextDecoder().decode(value);
    assert.ok(!text.includes(world.secret) && !text.includes('SessionToken'), 'no secret is stored');
  }

  const revoked = await broker.revokeSession(ADMIN, grant.session.id);
  assert.equal(revoked.status, 'revoked');

  // A second broker over the same store sees the same records.
  const again = await open({ config: config(), store });
  assert.deepEqual((await again.listResources()).map((r) => r.name), ['prod']);
});

test('bad input and AWS refusals reject with the typed error and change nothing', async () => {
  const store = new Map();
  const broker = await open({ config: config(), store });
  await broker.createResource(ADMIN, { name: 'prod', roleArn: world.resourceRole });

  await assert.rejects(
    broker.createAccount(ADMIN, { resource: 'prod', name: 'admin', roleArn: world.targetRole, duration: '2h' }),
    (error) => {
      assert.ok(error instanceof BrokerError);
      assert.equal(error.payload.tag, 'invalid-input');
      assert.equal(error.payload.val.field, 'duration');
      return true;
    },
  );
  await assert.rejects(
    broker.createAccount(ADMIN, { resource: 'prod', name: 'other', roleArn: world.otherRole, duration: '30m' }),
    (error) => {
      assert.equal(error.payload.tag, 'aws');
      assert.equal(error.payload.val.code, 'AccessDenied');
      assert.equal(error.payload.val.hop, 'target-role');
      assert.ok(error.payload.val.hint.length > 0);
      return true;
    },
  );
  assert.deepEqual((await broker.listAccounts('prod')).map((a) => a.name), []);
  // AWS's refusal is audited as denied; the bad input left no trace at all.
  const failures = (await broker.listAuditEvents(2)).map((e) => [e.action, e.outcome]);
  assert.deepEqual(failures, [['account.create', 'denied'], ['resource.create', 'success']]);
});

test('handler serves the REST API on http.createServer', async () => {
  const broker = await open({ config: config(), store: new Map() });
  await broker.createResource(ADMIN, { name: 'prod', roleArn: world.resourceRole });
  const server = createServer(broker.handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const as = (user, groups) => ({
      'x-pam-user': user, 'x-pam-groups': groups, 'x-pam-gateway-secret': GATEWAY_SECRET,
    });
    const listed = await fetch(`${base}/v1/resources`, { headers: as(ADMIN, 'pam-admins') });
    assert.equal(listed.status, 200);
    assert.deepEqual((await listed.json()).map((r) => r.name), ['prod']);
    const anonymous = await fetch(`${base}/v1/resources`);
    assert.equal(anonymous.status, 401);
    const page = await fetch(`${base}/`, { headers: as(ADMIN, 'pam-admins') });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy'), /default-src 'self'/);
  } finally {
    server.close();
    await broker.close();
  }
});

//! A host in memory for the native unit tests: scripted HTTP answers, a
//! settable clock, a map for the key-value bucket.

use crate::error::Result;
use crate::model::{Account, Resource};
use crate::platform::{KeyValue, Platform, SendError};
use crate::store::{Records, Stored};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime};

/// A host in memory: scripted HTTP answers, a settable clock.
#[derive(Default)]
pub struct Fake {
    pub kv: RefCell<BTreeMap<String, Vec<u8>>>,
    pub answers: RefCell<VecDeque<(u16, String)>>,
    pub sent: RefCell<Vec<http::Request<Vec<u8>>>>,
    pub clock: Cell<u64>,
    pub config: HashMap<String, String>,
    pub slept: RefCell<Vec<Duration>>,
    /// Seconds each request takes on the clock.
    pub tick: Cell<u64>,
    /// Every request is refused by egress policy.
    pub refuse_egress: Cell<bool>,
    /// Keys read so far (`get` and `get-many`): what a list costs.
    pub reads: Cell<usize>,
    /// Config keys read so far, in order: each is a call out of the component.
    pub config_reads: RefCell<Vec<String>>,
}

impl KeyValue for Fake {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.reads.set(self.reads.get() + 1);
        Ok(self.kv.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.kv.borrow_mut().insert(key.to_string(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.kv.borrow_mut().remove(key);
        Ok(())
    }
    fn keys(&self) -> Result<Vec<String>> {
        Ok(self.kv.borrow().keys().cloned().collect())
    }
    fn increment(&self, key: &str, delta: u64) -> Result<u64> {
        let mut kv = self.kv.borrow_mut();
        let value = kv.entry(key.to_string()).or_insert_with(|| b"0".to_vec());
        let next = std::str::from_utf8(value).unwrap().parse::<u64>().unwrap() + delta;
        *value = next.to_string().into_bytes();
        Ok(next)
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.reads.set(self.reads.get() + keys.len());
        let kv = self.kv.borrow();
        Ok(keys.iter().map(|key| kv.get(key).cloned()).collect())
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<()> {
        let mut kv = self.kv.borrow_mut();
        for (key, value) in entries {
            kv.insert(key.clone(), value.clone());
        }
        Ok(())
    }
    fn delete_many(&self, keys: &[String]) -> Result<()> {
        let mut kv = self.kv.borrow_mut();
        for key in keys {
            kv.remove(key);
        }
        Ok(())
    }
}

impl Platform for &Fake {
    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, SendError> {
        self.sent.borrow_mut().push(request);
        self.clock.set(self.clock.get() + self.tick.get());
        if self.refuse_egress.get() {
            return Err(SendError::Refused(
                "not on the egress allow-list".to_string(),
            ));
        }
        let (status, body) = self
            .answers
            .borrow_mut()
            .pop_front()
            .ok_or(SendError::Failed("connection refused".to_string()))?;
        Ok(http::Response::builder()
            .status(status)
            .body(body.into_bytes())
            .unwrap())
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(self.clock.get())
    }
    fn sleep(&self, duration: Duration) {
        self.slept.borrow_mut().push(duration);
    }
    fn config(&self, key: &str) -> Result<Option<String>> {
        self.config_reads.borrow_mut().push(key.to_string());
        Ok(self.config.get(key).cloned())
    }
    fn store(&self) -> &dyn KeyValue {
        *self
    }
}

pub fn fake() -> Fake {
    let config = [
        ("aws-access-key-id", "AKIDBASE"),
        ("aws-secret-access-key", "base-secret"),
        ("sts-endpoint", "https://sts.test"),
        ("federation-endpoint", "https://signin.test/federation"),
        ("external-id", "proj-1"),
    ];
    Fake {
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        clock: Cell::new(1_800_000_000),
        ..Fake::default()
    }
}

pub const RESOURCE_ROLE: &str = "arn:aws:iam::123456789012:role/PamResourceRole";
pub const TARGET_ROLE: &str = "arn:aws:iam::123456789012:role/PamTarget";

pub fn assumed(role: &str, key: &str, expiration: &str, request_id: &str) -> (u16, String) {
    let body = format!(
        "<AssumeRoleResponse><AssumeRoleResult><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/{role}/alice@example.com</Arn>\
         <AssumedRoleId>AROAEXAMPLE:alice@example.com</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>{key}</AccessKeyId>\
         <SecretAccessKey>{key}-secret</SecretAccessKey><SessionToken>{key}-token</SessionToken><Expiration>{expiration}</Expiration>\
         </Credentials></AssumeRoleResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></AssumeRoleResponse>"
    );
    (200, body)
}

/// Stores a resource and an account directly, as a previous run would have.
pub fn seed(fake: &Fake) {
    let resource = Resource {
        id: "r1".into(),
        name: "prod".into(),
        role_arn: RESOURCE_ROLE.into(),
        external_id: "proj-1".into(),
        aws_account_id: "123456789012".into(),
        partition: "aws".into(),
        source_identity: true,
        created_at: "2027-01-15T08:00:00Z".into(),
    };
    let catalog = crate::catalog::Catalog::default();
    let directory = crate::directory::Directory::new(&catalog, Records::new(fake));
    directory.insert_resource(Stored::new(resource)).unwrap();
    let account = Account {
        id: "a1".into(),
        resource: "prod".into(),
        name: "admin".into(),
        description: None,
        role_arn: TARGET_ROLE.into(),
        session_duration: "30m".into(),
        session_duration_seconds: 1800,
        region: None,
        service: None,
        allow: vec![],
        created_at: "2027-01-15T08:00:00Z".into(),
    };
    directory.insert_account(Stored::new(account)).unwrap();
}

/// A successful hop 1 (request id `req-1`).
pub fn hop1_answer() -> (u16, String) {
    assumed(
        "PamResourceRole",
        "ASIAHOP1",
        "2027-01-15T08:15:00Z",
        "req-1",
    )
}

/// Scripts hop 1, hop 2 (expiring at `expiration`) and a sign-in token.
pub fn answer_a_grant(fake: &Fake, expiration: &str) {
    fake.answers.borrow_mut().extend([
        hop1_answer(),
        assumed("PamTarget", "ASIAHOP2", expiration, "req-2"),
        (200, r#"{"SigninToken":"tok"}"#.to_string()),
    ]);
}

/// A filter that lets every session through (first page of 100).
pub fn every_session() -> crate::model::SessionFilter {
    crate::sessions::unfiltered()
}

/// A session record as a grant at `created` (Unix seconds) would store it,
/// lasting `minutes`.
pub fn session_at(
    user: &str,
    resource: &str,
    account: &str,
    created: u64,
    minutes: u64,
) -> crate::model::Session {
    let time = |seconds: u64| {
        crate::clock::rfc3339(time::OffsetDateTime::from_unix_timestamp(seconds as i64).unwrap())
    };
    crate::model::Session {
        id: crate::store::new_id(),
        resource: resource.into(),
        account: account.into(),
        user: user.into(),
        role_arn: TARGET_ROLE.into(),
        assumed_role_arn: format!("arn:aws:sts::123456789012:assumed-role/PamTarget/{user}"),
        assumed_role_id: format!("AROAEXAMPLE:{user}"),
        role_session_name: user.into(),
        source_identity: None,
        created_at: time(created),
        expires_at: time(created + minutes * 60),
        status: crate::model::SessionStatus::Active,
    }
}

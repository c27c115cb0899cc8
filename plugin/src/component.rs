//! The WIT shell: [`Platform`] over the WASI imports, and the exported
//! `broker` interface handed to [`Broker`]. No logic lives here.

use crate::bindings::exports::pam::aws_console::broker::Guest;
use crate::bindings::wasi::clocks0_2_0::monotonic_clock;
use crate::bindings::wasi::config::store as wasi_config;
use crate::bindings::wasi::http0_2_0::outgoing_handler;
use crate::bindings::wasi::http0_2_0::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingResponse, Method, OutgoingRequest,
    RequestOptions, Scheme,
};
use crate::bindings::wasi::io0_2_0::poll;
use crate::bindings::wasi::keyvalue::store as wasi_kv;
use crate::bindings::wasi::keyvalue::{atomics as wasi_atomics, batch as wasi_batch};
use crate::broker::Broker;
use crate::error::{Result, config, storage};
use crate::model::{
    AccessGrant, AccessRequest, Account, AuditEvent, CredentialsGrant, Error, MigrationReport,
    NewAccount, NewResource, PruneReport, Resource, Session, SessionFilter,
};
use crate::platform::{KeyValue, Platform, SendError};
use crate::wasi_body::{self, ReadError};
use std::time::{Duration, SystemTime};

/// Per-request network limits; the host may enforce tighter ones.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(15);
/// STS and sign-in answers are a few KiB; anything far larger is refused.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

pub(crate) struct Wasi {
    bucket: Bucket,
}

struct Bucket(wasi_kv::Bucket);

fn kv_error(e: wasi_kv::Error) -> Error {
    storage(match e {
        wasi_kv::Error::NoSuchStore => "the key-value bucket does not exist".to_string(),
        wasi_kv::Error::AccessDenied => "access to the key-value bucket was denied".to_string(),
        wasi_kv::Error::Other(why) => why,
    })
}

impl KeyValue for Bucket {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.0.get(key).map_err(kv_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.0.set(key, value).map_err(kv_error)
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.0.delete(key).map_err(kv_error)
    }

    fn increment(&self, key: &str, delta: u64) -> Result<u64> {
        wasi_atomics::increment(&self.0, key, delta).map_err(kv_error)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let found = wasi_batch::get_many(&self.0, keys).map_err(kv_error)?;
        if found.len() != keys.len() {
            return Err(storage(
                "the host answered get-many with the wrong number of values",
            ));
        }
        Ok(found
            .into_iter()
            .map(|entry| entry.map(|(_, value)| value))
            .collect())
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<()> {
        wasi_batch::set_many(&self.0, entries).map_err(kv_error)
    }

    fn delete_many(&self, keys: &[String]) -> Result<()> {
        wasi_batch::delete_many(&self.0, keys).map_err(kv_error)
    }

    fn keys(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.0.list_keys(cursor).map_err(kv_error)?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) if Some(next) != cursor => cursor = Some(next),
                _ => return Ok(keys),
            }
        }
    }
}

fn read_config(key: &str) -> Result<Option<String>> {
    wasi_config::get(key).map_err(|e| {
        config(match e {
            wasi_config::Error::Upstream(why) | wasi_config::Error::Io(why) => {
                format!("cannot read {key}: {why}")
            }
        })
    })
}

impl Wasi {
    pub(crate) fn open() -> Result<Wasi> {
        let name = read_config("kv-bucket")?.unwrap_or_default();
        let bucket = wasi_kv::open(&name).map_err(kv_error)?;
        Ok(Wasi {
            bucket: Bucket(bucket),
        })
    }
}

impl Platform for Wasi {
    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, SendError> {
        send(request)
    }

    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) {
        monotonic_clock::subscribe_duration(nanos(duration)).block();
    }

    fn config(&self, key: &str) -> Result<Option<String>> {
        read_config(key)
    }

    fn store(&self) -> &dyn KeyValue {
        &self.bucket
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// One request through `wasi:http/outgoing-handler`, with timeouts and a
/// size cap. Errors never include the URL: a sign-in URL holds credentials.
fn send(request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, SendError> {
    let failed = SendError::Failed;
    let (parts, body) = request.into_parts();
    let mut headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect();
    // A known length, not chunked transfer: what AWS endpoints expect.
    if !body.is_empty() && !parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        headers.push((
            "content-length".to_string(),
            body.len().to_string().into_bytes(),
        ));
    }
    let fields = Fields::from_list(&headers)
        .map_err(|e| failed(format!("invalid request header: {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match parts.method {
        http::Method::GET => Method::Get,
        http::Method::POST => Method::Post,
        ref other => Method::Other(other.to_string()),
    };
    let scheme = match parts.uri.scheme_str() {
        Some("http") => Scheme::Http,
        _ => Scheme::Https,
    };
    let set = [
        outgoing.set_method(&method),
        outgoing.set_scheme(Some(&scheme)),
        outgoing.set_authority(parts.uri.authority().map(|a| a.as_str())),
        outgoing.set_path_with_query(parts.uri.path_and_query().map(|p| p.as_str())),
    ];
    if set.iter().any(Result::is_err) {
        return Err(failed(
            "the request URL was refused by the host".to_string(),
        ));
    }
    let options = RequestOptions::new();
    // Hosts that do not support a timeout answer Err; the deadline below still applies.
    let _ = options.set_connect_timeout(Some(nanos(CONNECT_TIMEOUT)));
    let _ = options.set_first_byte_timeout(Some(nanos(RESPONSE_TIMEOUT)));
    let _ = options.set_between_bytes_timeout(Some(nanos(RESPONSE_TIMEOUT)));

    let outgoing_body = outgoing
        .body()
        .map_err(|()| failed("the request body was already taken".to_string()))?;
    let future = outgoing_handler::handle(outgoing, Some(options)).map_err(send_error)?;
    // A refused request closes the body early; its reason arrives on `future`.
    let body_written = wasi_body::write(outgoing_body, &body);
    let response = wait_for(&future)?;
    body_written.map_err(failed)?;
    read_response(response).map_err(failed)
}

/// The response, or an error once the whole-request deadline passes.
fn wait_for(future: &FutureIncomingResponse) -> Result<IncomingResponse, SendError> {
    let limit = CONNECT_TIMEOUT + RESPONSE_TIMEOUT;
    let deadline = monotonic_clock::subscribe_duration(nanos(limit));
    let ready = future.subscribe();
    loop {
        if let Some(answer) = future.get() {
            return answer
                .map_err(|()| SendError::Failed("the response was already taken".to_string()))?
                .map_err(send_error);
        }
        let woken = poll::poll(&[&ready, &deadline]);
        if woken.contains(&1) && !woken.contains(&0) {
            return Err(SendError::TimedOut(format!(
                "no response within {}s",
                limit.as_secs()
            )));
        }
    }
}

fn send_error(code: ErrorCode) -> SendError {
    match code {
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => {
            SendError::TimedOut(format!("request timed out: {code:?}"))
        }
        ErrorCode::HttpRequestDenied => {
            SendError::Refused("the host's egress policy does not allow this endpoint".to_string())
        }
        other => SendError::Failed(format!("request failed: {other:?}")),
    }
}

fn read_response(response: IncomingResponse) -> Result<http::Response<Vec<u8>>, String> {
    let status = response.status();
    let body = response
        .consume()
        .map_err(|()| "the response body was already taken".to_string())?;
    let bytes = wasi_body::read(body, MAX_RESPONSE_BYTES).map_err(|e| match e {
        ReadError::TooLarge => format!("the response is larger than {MAX_RESPONSE_BYTES} bytes"),
        ReadError::Failed(why) => why,
    })?;
    http::Response::builder()
        .status(status)
        .body(bytes)
        .map_err(|e| format!("invalid response: {e}"))
}

fn broker() -> Result<Broker<Wasi>> {
    Broker::open(Wasi::open()?)
}

pub(crate) struct Component;

impl Guest for Component {
    fn create_resource(actor: String, input: NewResource) -> Result<Resource> {
        broker()?.create_resource(&actor, input)
    }

    fn list_resources() -> Result<Vec<Resource>> {
        broker()?.list_resources()
    }

    fn get_resource(name: String) -> Result<Resource> {
        broker()?.get_resource(&name)
    }

    fn delete_resource(actor: String, name: String) -> Result<()> {
        broker()?.delete_resource(&actor, &name)
    }

    fn create_account(actor: String, input: NewAccount) -> Result<Account> {
        broker()?.create_account(&actor, input)
    }

    fn list_accounts(resource: Option<String>) -> Result<Vec<Account>> {
        broker()?.list_accounts(resource.as_deref())
    }

    fn get_account(resource: String, name: String) -> Result<Account> {
        broker()?.get_account(&resource, &name)
    }

    fn delete_account(actor: String, resource: String, name: String) -> Result<()> {
        broker()?.delete_account(&actor, &resource, &name)
    }

    fn access(request: AccessRequest) -> Result<AccessGrant> {
        let broker = broker()?;
        broker.access(broker.prepare(&request)?)
    }

    fn credentials(request: AccessRequest) -> Result<CredentialsGrant> {
        let broker = broker()?;
        let issued = broker.credentials(broker.prepare(&request)?)?;
        Ok(issued.into_grant())
    }

    fn list_sessions(filter: SessionFilter) -> Result<Vec<Session>> {
        Ok(broker()?.list_sessions(filter)?.items)
    }

    fn revoke_session(actor: String, id: String) -> Result<Session> {
        broker()?.revoke_session(&actor, &id)
    }

    fn revoke_user(
        actor: String,
        resource: String,
        account: String,
        user: String,
    ) -> Result<Vec<Session>> {
        broker()?.revoke_user(&actor, &resource, &account, &user)
    }

    fn list_audit_events(limit: Option<u32>, before: Option<String>) -> Result<Vec<AuditEvent>> {
        Ok(broker()?.list_audit_events(limit, before.as_deref())?.items)
    }

    fn prune(actor: String) -> Result<PruneReport> {
        broker()?.prune(&actor)
    }

    fn migrate(actor: String) -> Result<MigrationReport> {
        // Not `broker()`: that would upgrade first and leave nothing to report.
        Broker::new(Wasi::open()?).migrate(&actor)
    }
}

crate::bindings::export!(Component with_types_in crate::bindings);

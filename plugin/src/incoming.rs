//! `wasi:http/incoming-handler`: moves bytes between WASI and [`api::handle`].
//! No logic lives here.

use crate::api::{self, MAX_BODY_BYTES, Response};
use crate::bindings::exports::wasi::http0_2_0::incoming_handler::Guest;
use crate::bindings::wasi::http0_2_0::types::{
    Fields, IncomingRequest, Method, OutgoingResponse, ResponseOutparam,
};
use crate::component::{Component, Wasi};
use crate::wasi_body::{self, ReadError};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::borrow::Cow;

impl Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let response = match read_head(&request) {
            Ok(head) => match Wasi::open() {
                Ok(platform) => api::handle(platform, head, || read_body(&request)),
                Err(e) => Response::error(&e),
            },
            Err(refused) => refused,
        };
        send_response(response_out, &response);
    }
}

/// Method, path and headers: the body is read later, after identity.
fn read_head(request: &IncomingRequest) -> Result<api::Request, Response> {
    let method = match request.method() {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Connect => http::Method::CONNECT,
        Method::Options => http::Method::OPTIONS,
        Method::Trace => http::Method::TRACE,
        Method::Patch => http::Method::PATCH,
        Method::Other(other) => http::Method::from_bytes(other.as_bytes())
            .map_err(|_| Response::failure(400, "bad_request", "the method is not valid"))?,
    };
    let target = request.path_with_query().unwrap_or_else(|| "/".to_string());
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (target, None),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in request.headers().entries() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(&value),
        ) {
            headers.append(name, value);
        }
    }
    // HTTP/2 carries the host as the authority: cross-site checks compare with it.
    if !headers.contains_key(http::header::HOST)
        && let Some(host) = request
            .authority()
            .and_then(|a| HeaderValue::from_str(&a).ok())
    {
        headers.insert(http::header::HOST, host);
    }
    Ok(api::Request {
        method,
        path,
        query,
        headers,
        body: Vec::new(),
    })
}

/// The body, refused past [`MAX_BODY_BYTES`].
fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, Response> {
    let unreadable = || Response::failure(400, "bad_request", "the request body is unreadable");
    let body = request.consume().map_err(|()| unreadable())?;
    wasi_body::read(body, MAX_BODY_BYTES).map_err(|e| match e {
        ReadError::TooLarge => Response::failure(
            413,
            "payload_too_large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        ),
        ReadError::Failed(_) => unreadable(),
    })
}

fn send_response(out: ResponseOutparam, response: &Response) {
    let (content_type, body) = match &response.content {
        Some(content) => (content.content_type, Cow::Borrowed(&*content.bytes)),
        None => (
            "application/json",
            Cow::Owned(serde_json::to_vec(&response.body).unwrap_or_default()),
        ),
    };
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("content-type".into(), content_type.as_bytes().to_vec()),
        ("content-length".into(), body.len().to_string().into_bytes()),
        ("x-content-type-options".into(), b"nosniff".to_vec()),
        // A sign-in URL must never leave in a Referer.
        ("referrer-policy".into(), b"no-referrer".to_vec()),
    ];
    if !response
        .headers
        .iter()
        .any(|(name, _)| *name == "cache-control")
    {
        // Grants carry a sign-in token: never cached on the way.
        headers.push(("cache-control".into(), b"no-store".to_vec()));
    }
    for (name, value) in &response.headers {
        headers.push((name.to_string(), value.clone().into_bytes()));
    }
    let Ok(fields) = Fields::from_list(&headers) else {
        return;
    };
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(response.status);
    let Ok(outgoing_body) = outgoing.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(outgoing));
    // The client may have gone; there is nobody left to tell.
    let _ = wasi_body::write(outgoing_body, &body);
}

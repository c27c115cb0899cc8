//! `pam-aws serve`: the component's `wasi:http/incoming-handler` behind
//! hyper. A fresh instance per request from the pre-instantiated component
//! (pooling allocator), a deadline per request, a memory cap per instance,
//! one log line per request, and a graceful stop on SIGTERM or ctrl-c.

use crate::config::Config;
use crate::credentials;
use crate::egress::Egress;
use crate::kv::Backend;
use crate::runtime::{CallContext, Runtime, ServerTuning};
use anyhow::{Context, Result};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// How often the epoch advances; instance deadlines are counted in these.
const EPOCH_TICK: Duration = Duration::from_millis(100);
/// How long in-flight requests may finish after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What every request shares.
struct Shared {
    runtime: Runtime,
    vars: Vec<(String, String)>,
    credentials: Option<SharedCredentialsProvider>,
    backend: Arc<dyn Backend>,
    egress: Egress,
    request_timeout: Duration,
    /// One permit per pooled instance slot: excess requests wait their turn.
    slots: Arc<Semaphore>,
    warned: AtomicBool,
}

pub async fn serve(config: &Config, wasm: &[u8], listen: Option<String>) -> Result<()> {
    let server = &config.server;
    server.check()?;
    let listen = listen
        .or_else(|| server.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen:?} must be HOST:PORT, like 127.0.0.1:8080"))?;
    let ticks = server.request_timeout.as_millis() / EPOCH_TICK.as_millis();
    let runtime = Runtime::for_server(
        wasm,
        ServerTuning {
            max_instances: server.max_concurrency,
            epoch_deadline_ticks: u64::try_from(ticks).unwrap_or(u64::MAX).max(1),
        },
    )?;
    let shared = Arc::new(Shared {
        vars: config.component_vars_with_catalog()?,
        credentials: credentials::provider(config).await,
        backend: crate::kv::open(&config.store.url, &config.base_dir)?,
        egress: Egress::new(
            config.egress_allow_list(),
            config.egress.connect_timeout,
            config.egress.response_timeout,
        ),
        request_timeout: server.request_timeout,
        slots: Arc::new(Semaphore::new(server.max_concurrency as usize)),
        warned: AtomicBool::new(false),
        runtime,
    });
    spawn_epoch_ticker(shared.runtime.engine().clone());

    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "serving the REST API");
    // Scripts wait for this line to know the port (with --listen 127.0.0.1:0).
    eprintln!("pam-aws serving on http://{local}");

    let graceful = GracefulShutdown::new();
    let builder = http1::Builder::new();
    let mut stop = std::pin::pin!(stop_signal());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let shared = shared.clone();
        let service = service_fn(move |request| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(answer(&shared, request, peer).await) }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    tracing::info!("stopping: finishing in-flight requests");
    eprintln!("pam-aws stopping: finishing in-flight requests");
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time");
    }
    Ok(())
}

async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            },
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn spawn_epoch_ticker(engine: wasmtime::Engine) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(EPOCH_TICK);
            engine.increment_epoch();
        }
    });
}

/// One request through a fresh instance, logged in one line.
async fn answer(
    shared: &Shared,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    let started = Instant::now();
    let method = request.method().clone();
    // The path only: queries are left out of the log.
    let path = request.uri().path().to_string();
    let response = match tokio::time::timeout(shared.request_timeout, run(shared, request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            tracing::error!(error = %format!("{e:#}"), "the component failed");
            failure(500, "host", "the component failed; see the server log")
        }
        Err(_) => failure(
            504,
            "timeout",
            format!(
                "the request took longer than {}s",
                shared.request_timeout.as_secs()
            ),
        ),
    };
    tracing::info!(
        target: "pam_aws_host::request",
        %peer,
        %method,
        %path,
        status = response.status().as_u16(),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

async fn run(
    shared: &Shared,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<HyperOutgoingBody>> {
    // Held until the guest is done, body included: one permit, one pool slot.
    let slot = shared.slots.clone().acquire_owned().await?;
    let mut vars = shared.vars.clone();
    if let Some(provider) = &shared.credentials {
        // The provider caches and refreshes (instance and container roles).
        match provider.provide_credentials().await {
            Ok(credentials) => vars.extend(credentials::as_vars(&credentials)),
            // Said once: the component reports them missing on every AWS call.
            Err(e) if !shared.warned.swap(true, Ordering::Relaxed) => {
                tracing::warn!(error = %e, "no base AWS credentials")
            }
            Err(_) => {}
        }
    }
    let (mut store, plugin) = shared
        .runtime
        .instantiate(CallContext {
            vars,
            backend: shared.backend.clone(),
            egress: shared.egress.clone(),
        })
        .await?;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, request)?;
    let outparam = store.data_mut().http().new_response_outparam(sender)?;
    // The guest keeps writing the body after it hands over the response.
    let mut task = AbortOnDrop(Some(tokio::spawn(async move {
        let result = plugin
            .wasi_http_incoming_handler()
            .call_handle(&mut store, incoming, outparam)
            .await;
        drop(slot);
        result
    })));
    match receiver.await {
        Ok(Ok(response)) => {
            task.0 = None;
            Ok(response)
        }
        Ok(Err(code)) => anyhow::bail!("the component answered with an error: {code:?}"),
        // No response was set: the guest trapped (deadline, memory) or returned early.
        Err(_) => {
            let Some(handle) = task.0.take() else {
                anyhow::bail!("the component set no response");
            };
            match handle.await {
                Ok(Err(e)) => Err(anyhow::Error::from(e).context("the component trapped")),
                Ok(Ok(())) => anyhow::bail!("the component set no response"),
                Err(e) => Err(anyhow::Error::from(e).context("the request task failed")),
            }
        }
    }
}

/// Stops the guest when its request is abandoned (the deadline passed, or
/// the client went away) instead of letting it run on in the background.
struct AbortOnDrop<T>(Option<tokio::task::JoinHandle<T>>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

/// An error answered by the host itself, in the API's JSON shape.
fn failure(
    status: u16,
    kind: &str,
    message: impl Into<String>,
) -> hyper::Response<HyperOutgoingBody> {
    let body =
        serde_json::json!({"error": {"kind": kind, "field": null, "message": message.into()}});
    let body = Full::new(Bytes::from(body.to_string()))
        .map_err(|never: Infallible| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

//! `pam-aws serve`: the component's `wasi:http/incoming-handler` behind
//! hyper, on one single-threaded runtime per core, which the accepting
//! thread hands connections to in turn. Instances from the
//! pre-instantiated component (pooling allocator), each kept for up to
//! `instance_reuse` requests it answers cleanly, a deadline per request, a
//! memory cap per instance, one log line per request, and a graceful stop
//! on SIGTERM or ctrl-c.
//!
//! What keeps it serving under abuse: a request's body is read, bounded in
//! size and time, before it may take an instance slot, so slow uploads hold
//! only a connection; requests beyond the slots wait in a bounded queue and
//! then get a 503; and a request that reached the component runs to its end
//! even when its client leaves or `request_timeout` answers a 504, so no
//! grant or revocation is left half-done and unaudited.

use crate::bindings::PluginHost as Plugin;
use crate::config::Config;
use crate::egress::Egress;
use crate::host::{Calls, Host};
use crate::kv::Commits;
use crate::logs;
use crate::runtime::{HostState, Runtime, ServerTuning};
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// How often the epoch advances; instance deadlines are counted in these.
const EPOCH_TICK: Duration = Duration::from_millis(100);
/// How long an instance may wait unused before it is freed: what earlier
/// requests left in its memory does not linger past this.
const IDLE_INSTANCE_LIFETIME: Duration = Duration::from_secs(10);
/// How long in-flight requests may finish after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The component's own limit on request bodies; larger ones are refused
/// before any instance is taken.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long a client may take to send its request line and headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Past its own `access-timeout`, the longest a guest may still be waiting
/// on one AWS answer (connect and response ceilings), plus a margin.
const GUEST_GRACE: Duration = Duration::from_secs(30);

/// What every request shares.
struct Shared {
    runtime: Runtime,
    host: Host,
    request_timeout: Duration,
    body_timeout: Duration,
    /// One permit per pooled instance slot, held until the instance is
    /// freed: excess requests wait their turn.
    slots: Arc<Semaphore>,
    max_concurrency: u32,
    /// Requests waiting for a slot now, and how many may.
    queued: AtomicUsize,
    max_queue: usize,
    /// Instances that answered cleanly, waiting for the next request; each
    /// was used under a slot, so running and idle ones never outnumber them.
    idle: Mutex<Vec<Warm>>,
    instance_reuse: u32,
}

/// On a guest's response, for the log: requests its instance answered before.
#[derive(Clone, Copy)]
struct Reused(u32);

/// An instance, how many requests it has answered, and since when it waits.
struct Warm {
    store: Store<HostState>,
    plugin: Plugin,
    served: u32,
    idle_since: Instant,
}

impl Shared {
    /// The most recently used idle instance, readied for this call (and
    /// `egress`, the calling thread's pools), or a fresh one.
    async fn instance(&self, egress: &Egress) -> Result<Warm> {
        let call = self.host.call(egress).await;
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        if let Some(mut warm) = idle {
            self.runtime.renew(&mut warm.store, call);
            return Ok(warm);
        }
        let (store, plugin) = self.runtime.instantiate(call).await?;
        Ok(Warm {
            store,
            plugin,
            served: 0,
            idle_since: Instant::now(),
        })
    }

    /// Keeps an instance that answered cleanly for another request, up to
    /// `instance_reuse` of them; any other is freed here.
    fn done_with(&self, mut warm: Warm, clean: bool) {
        warm.served += 1;
        let keep = clean && warm.served < self.instance_reuse;
        if keep
            && warm.store.data_mut().ready_for_reuse()
            && let Ok(mut idle) = self.idle.lock()
        {
            warm.idle_since = Instant::now();
            idle.push(warm);
        }
    }

    /// Frees the instances that waited longer than [`IDLE_INSTANCE_LIFETIME`]
    /// (the oldest are first in the list), outside the lock.
    fn free_expired(&self) {
        let expired: Vec<Warm> = match self.idle.lock() {
            Ok(mut idle) => {
                let young = idle
                    .iter()
                    .position(|warm| warm.idle_since.elapsed() < IDLE_INSTANCE_LIFETIME)
                    .unwrap_or(idle.len());
                idle.drain(..young).collect()
            }
            Err(_) => Vec::new(),
        };
        drop(expired);
    }
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
    // The hard stop for a guest that never yields: past the client's deadline
    // and the guest's own, so work that started is never cut short by it.
    let guest_deadline = server.request_timeout.max(config.access_timeout()) + GUEST_GRACE;
    let ticks = guest_deadline.as_millis() / EPOCH_TICK.as_millis();
    let runtime = Runtime::for_server(
        wasm,
        ServerTuning {
            max_instances: server.max_concurrency,
            epoch_deadline_ticks: u64::try_from(ticks).unwrap_or(u64::MAX).max(1),
        },
    )?;
    let shared = Arc::new(Shared {
        host: Host::open(config, Calls::Aws, Commits::EachWrite).await?,
        request_timeout: server.request_timeout,
        body_timeout: server.body_timeout,
        slots: Arc::new(Semaphore::new(server.max_concurrency as usize)),
        max_concurrency: server.max_concurrency,
        queued: AtomicUsize::new(0),
        max_queue: server.max_queue as usize,
        idle: Mutex::new(Vec::new()),
        instance_reuse: server.instance_reuse,
        runtime,
    });
    spawn_epoch_ticker(shared.runtime.engine().clone());
    tokio::spawn(free_expired_forever(shared.clone()));
    if config.store.audit_retention.is_some() || config.store.session_retention.is_some() {
        tokio::spawn(prune_forever(shared.clone(), config.store.prune_interval));
    }

    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "serving the REST API");
    // Scripts wait for this line to know the port (with --listen 127.0.0.1:0).
    eprintln!("pam-aws serving on http://{local}");

    // One thread and single-threaded runtime per core, each serving the
    // connections handed to it in turn, with its own upstream pools: a
    // request, its guest and its AWS exchanges stay on one thread, without
    // the cross-thread wake-ups of a work-stealing runtime.
    let mut workers = Vec::new();
    let mut threads = Vec::new();
    for n in 0..worker_count() {
        let (handoff, connections) = tokio::sync::mpsc::unbounded_channel();
        let worker = Worker {
            shared: shared.clone(),
            egress: shared.host.egress.with_own_pools(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_park(logs::write_held)
            .build()
            .context("starting a serving thread's runtime")?;
        let thread = std::thread::Builder::new()
            .name(format!("pam-aws-serve-{n}"))
            .spawn(move || worker.run(runtime, connections))
            .context("starting a serving thread")?;
        workers.push(handoff);
        threads.push(thread);
    }
    let mut stop = std::pin::pin!(stop_signal());
    for next in workers.iter().cycle() {
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
        match stream.into_std() {
            Ok(stream) => {
                if next.send((stream, peer)).is_err() {
                    tracing::error!("a serving thread has stopped; its connection is dropped");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not hand a connection over"),
        }
    }
    tracing::info!("stopping: finishing in-flight requests");
    eprintln!("pam-aws stopping: finishing in-flight requests");
    let stopping = Instant::now();
    drop(listener);
    // Each thread finishes its connections and the guests still running.
    drop(workers);
    let joined = tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    });
    let _ = joined.await;
    // Then what runs here (retention) gives its slot back, within what
    // is left of the same time.
    let drained = tokio::time::timeout(
        DRAIN_TIMEOUT.saturating_sub(stopping.elapsed()),
        shared.slots.acquire_many(shared.max_concurrency),
    );
    if drained.await.is_err() {
        tracing::warn!("in-flight requests did not finish in time");
    }
    Ok(())
}

/// Serving threads: one per core the process may use.
fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One serving thread: its connections, the guests they start, and the
/// pools their outgoing requests use.
struct Worker {
    shared: Arc<Shared>,
    egress: Egress,
}

impl Worker {
    /// Serves each connection handed over until the handoff closes (the
    /// server stops), then lets them and their guests finish.
    fn run(
        self,
        runtime: tokio::runtime::Runtime,
        mut connections: UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    ) {
        logs::hold_on_this_thread();
        let worker = Arc::new(self);
        runtime.block_on(async move {
            let graceful = GracefulShutdown::new();
            let mut builder = http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            while let Some((stream, peer)) = connections.recv().await {
                let stream = match TcpStream::from_std(stream) {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not take a connection over");
                        continue;
                    }
                };
                // Answers over 8 KiB go out in two writes: without this, Nagle
                // holds the second until the client's delayed ACK (40 ms a request).
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "TCP_NODELAY was refused");
                }
                let worker = worker.clone();
                let service = service_fn(move |request| {
                    let worker = worker.clone();
                    async move { Ok::<_, Infallible>(answer(worker, request, peer).await) }
                });
                let connection =
                    graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            // Connections first, then guests whose clients left: each holds
            // a slot until it is done (the slots are shared by every thread;
            // this one's guests keep running while it waits).
            let shared = &worker.shared;
            let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
                graceful.shutdown().await;
                let _ = shared.slots.acquire_many(shared.max_concurrency).await;
            });
            if drained.await.is_err() {
                tracing::warn!("in-flight requests did not finish in time");
            }
        });
        logs::write_held();
    }
}

/// Idle instances are looked at a few times per lifetime.
async fn free_expired_forever(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(IDLE_INSTANCE_LIFETIME / 5);
    loop {
        ticker.tick().await;
        shared.free_expired();
    }
}

/// Retention in the background: a bounded batch each interval (at once
/// again while more are due), in one of the server's instance slots.
async fn prune_forever(shared: Arc<Shared>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        loop {
            let Ok(_slot) = shared.slots.clone().acquire_owned().await else {
                return;
            };
            match prune_once(&shared).await {
                Ok(report) => {
                    if report.audit_events > 0 || report.sessions > 0 {
                        tracing::info!(
                            audit_events = report.audit_events,
                            sessions = report.sessions,
                            "pruned past retention"
                        );
                    }
                    if !report.more {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "pruning failed; trying again later");
                    break;
                }
            }
        }
    }
}

async fn prune_once(shared: &Shared) -> Result<crate::bindings::types::PruneReport> {
    let mut warm = shared.instance(&shared.host.egress).await?;
    let report = warm
        .plugin
        .pam_aws_console_broker()
        .call_prune(&mut warm.store, "pam-aws serve (retention)")
        .await;
    shared.done_with(warm, report.is_ok());
    report?.map_err(|e| anyhow::anyhow!(crate::output::error_message(&e)))
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

/// One request through an instance, logged in one line.
async fn answer(
    worker: Arc<Worker>,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    let started = Instant::now();
    let method = request.method().clone();
    // The path only: queries are left out of the log.
    let path = request.uri().path().to_string();
    let response = respond(worker, request).await;
    // Requests the instance had answered before this one (0: a fresh one).
    let reused = response.extensions().get::<Reused>().map(|reused| reused.0);
    tracing::info!(
        target: "pam_aws_host::request",
        %peer,
        %method,
        %path,
        status = response.status().as_u16(),
        reused,
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

/// Admission (a host, a whole body, a slot), then the guest.
async fn respond(
    worker: Arc<Worker>,
    request: hyper::Request<Incoming>,
) -> hyper::Response<HyperOutgoingBody> {
    let shared = &worker.shared;
    if request.uri().authority().is_none() && !request.headers().contains_key(http::header::HOST) {
        return failure(400, "bad_request", "the request has no Host header");
    }
    let request = match read_body(request, shared.body_timeout).await {
        Ok(request) => request,
        Err(refused) => return *refused,
    };
    let slot = match take_slot(shared).await {
        Ok(slot) => slot,
        Err(busy) => return *busy,
    };
    match tokio::time::timeout(shared.request_timeout, run(worker.clone(), request, slot)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            tracing::error!(error = %format!("{e:#}"), "the component failed");
            failure(500, "host", "the component failed; see the server log")
        }
        Err(_) => failure(
            504,
            "timeout",
            format!(
                "the request took longer than {}s; anything it started is finished and audited",
                shared.request_timeout.as_secs()
            ),
        ),
    }
}

/// An answer given instead of running the guest (boxed: responses are large).
type Refusal = Box<hyper::Response<HyperOutgoingBody>>;

/// The whole body, at most [`MAX_BODY_BYTES`], within `limit`: a client
/// that sends slowly holds a connection, never an instance.
async fn read_body(
    request: hyper::Request<Incoming>,
    limit: Duration,
) -> Result<hyper::Request<Full<Bytes>>, Refusal> {
    let too_large = || {
        failure(
            413,
            "payload_too_large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(closing(too_large()).into());
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(limit, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Ok(Ok(collected)) => Ok(hyper::Request::from_parts(
            parts,
            Full::new(collected.to_bytes()),
        )),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(closing(too_large()).into())
        }
        Ok(Err(_)) => Err(closing(failure(
            400,
            "bad_request",
            "the request body could not be read",
        ))
        .into()),
        Err(_) => Err(closing(failure(
            408,
            "request_timeout",
            format!(
                "the request body did not arrive within {}s",
                limit.as_secs()
            ),
        ))
        .into()),
    }
}

/// A slot now, or after waiting in a bounded queue; otherwise a 503.
async fn take_slot(shared: &Shared) -> Result<OwnedSemaphorePermit, Refusal> {
    if let Ok(slot) = shared.slots.clone().try_acquire_owned() {
        return Ok(slot);
    }
    let busy = || {
        let mut response = failure(503, "busy", "the server is at capacity; try again shortly");
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
        response
    };
    let waiting = Queued::join(&shared.queued);
    if waiting.position >= shared.max_queue {
        return Err(busy().into());
    }
    match tokio::time::timeout(shared.request_timeout, shared.slots.clone().acquire_owned()).await {
        Ok(Ok(slot)) => Ok(slot),
        _ => Err(busy().into()),
    }
}

/// A place in the queue for a slot, given up when dropped.
struct Queued<'a> {
    count: &'a AtomicUsize,
    position: usize,
}

impl<'a> Queued<'a> {
    fn join(count: &'a AtomicUsize) -> Self {
        let position = count.fetch_add(1, Ordering::SeqCst);
        Queued { count, position }
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn run(
    worker: Arc<Worker>,
    request: hyper::Request<Full<Bytes>>,
    slot: OwnedSemaphorePermit,
) -> Result<hyper::Response<HyperOutgoingBody>> {
    let mut warm = worker.shared.instance(&worker.egress).await?;
    let reused = Reused(warm.served);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let mut http = warm.store.data_mut().http();
    let incoming = http.new_incoming_request(Scheme::Http, request)?;
    let outparam = http.new_response_outparam(sender)?;
    // Detached on purpose: once the guest runs, it may be changing AWS or
    // the store, so it finishes (and audits) even if nobody waits for it.
    // Its slot is given back only after its instance is idle or freed.
    let guest = tokio::spawn(async move {
        let result = warm
            .plugin
            .wasi_http0_2_12_incoming_handler()
            .call_handle(&mut warm.store, incoming, outparam)
            .await;
        worker.shared.done_with(warm, result.is_ok());
        drop(slot);
        result
    });
    match receiver.await {
        Ok(Ok(mut response)) => {
            response.extensions_mut().insert(reused);
            Ok(response)
        }
        Ok(Err(code)) => anyhow::bail!("the component answered with an error: {code:?}"),
        // No response was set: the guest trapped (deadline, memory) or returned early.
        Err(_) => match guest.await {
            Ok(Err(e)) => Err(anyhow::Error::from(e).context("the component trapped")),
            Ok(Ok(())) => anyhow::bail!("the component set no response"),
            Err(e) => Err(anyhow::Error::from(e).context("the request task failed")),
        },
    }
}

/// Asks the client to close the connection: what it sent was not read whole.
fn closing(mut response: hyper::Response<HyperOutgoingBody>) -> hyper::Response<HyperOutgoingBody> {
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
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

//! wasmtime for the component: one engine and pre-linked component per
//! process, a store and instance per call (which `pam-aws serve` may renew
//! for further calls), compiled code cached on disk so a CLI call does not
//! recompile.

use crate::bindings::{PluginHost as Plugin, PluginHostPre as PluginPre};
use crate::egress::{Egress, SendFuture};
use crate::kv::{self, Backend, KvView};
use anyhow::Result;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{Component, Linker, Resource, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::p2::bindings::http::types::RequestOptions;
use wasmtime_wasi_http::{
    Error as HttpError, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

/// Linear memory one instance may grow to.
const MEMORY_LIMIT: usize = 64 << 20;
/// An instance that grew past this is not kept for another call: idle
/// instances would otherwise hold the memory of the largest request each saw.
const REUSE_MEMORY_LIMIT: usize = 8 << 20;
/// Table slots searched for leaked request options after a call.
const LEFTOVER_INDICES: u32 = 64;

/// Everything one instance of the component sees.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outgoing: Outgoing,
    config: Arc<WasiConfigVariables>,
    backend: Arc<dyn Backend>,
    bucket: String,
    limits: Limits,
}

/// The caps on one instance, and the most linear memory it has grown to.
#[derive(Default)]
struct Limits {
    memory_bytes: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MEMORY_LIMIT {
            return Ok(false);
        }
        self.memory_bytes = self.memory_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }

    /// A Rust component instantiates a handful of core modules.
    fn instances(&self) -> usize {
        4
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}

/// Outgoing requests: the store first commits what the call wrote so far
/// (no write lock is held across the network, and nothing reaches AWS
/// after a write that failed), then the egress sends.
struct Outgoing {
    egress: Egress,
    backend: Arc<dyn Backend>,
}

impl WasiHttpHooks for Outgoing {
    fn set_host_header(&mut self) -> bool {
        self.egress.set_host_header()
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        io: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        if let Err(e) = self.backend.commit() {
            tracing::error!("{e:#}");
            let refusal = HttpError::InternalError(Some(
                "the store could not commit this call's writes".to_string(),
            ));
            return Box::new(async { Err(refusal) });
        }
        self.egress.send_request(request, options, io)
    }
}

/// What a call needs besides the component: config keys (shared by the
/// calls that see the same base credentials), its keyvalue bucket, store
/// and egress.
pub struct CallContext {
    pub config: Arc<WasiConfigVariables>,
    pub bucket: String,
    pub backend: Arc<dyn Backend>,
    pub egress: Egress,
}

pub struct Runtime {
    engine: Engine,
    pre: PluginPre<HostState>,
    /// Epoch ticks an instance may run for (serving only).
    epoch_deadline: Option<u64>,
}

/// How `pam-aws serve` runs instances: slots reserved up front in a pooling
/// allocator, and a deadline in epoch ticks for code that never yields.
pub struct ServerTuning {
    pub max_instances: u32,
    pub epoch_deadline_ticks: u64,
}

impl Runtime {
    /// Compiles (or loads from the cache) and links `wasm`, for one CLI call.
    pub fn new(wasm: &[u8]) -> Result<Runtime> {
        Self::build(wasm, None)
    }

    /// The same, tuned for serving many short requests at once.
    pub fn for_server(wasm: &[u8], tuning: ServerTuning) -> Result<Runtime> {
        Self::build(wasm, Some(tuning))
    }

    fn build(wasm: &[u8], server: Option<ServerTuning>) -> Result<Runtime> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        // The component is WASI 0.2 (no component-model async); the state a
        // store keeps for concurrent guests cost ~8 % of a grant's CPU (README).
        config.concurrency_support(false);
        let epoch_deadline = server.as_ref().map(|t| t.epoch_deadline_ticks);
        if let Some(tuning) = &server {
            let mut pool = wasmtime::PoolingAllocationConfig::new();
            pool.total_component_instances(tuning.max_instances)
                // A Rust component instantiates a handful of core modules.
                .total_core_instances(tuning.max_instances * 8)
                .total_memories(tuning.max_instances * 2)
                .total_tables(tuning.max_instances * 8)
                .total_stacks(tuning.max_instances)
                .max_memory_size(MEMORY_LIMIT);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
            config.epoch_interruption(true);
        }
        // `PAM_AWS_PROFILER=perfmap` names the component's functions for `perf`.
        if std::env::var_os("PAM_AWS_PROFILER").is_some_and(|p| p == "perfmap") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        let component = load_component(&engine, wasm)?;

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |state: &mut HostState| {
            WasiConfig::new(&state.config)
        })?;
        kv::add_to_linker(&mut linker, |state: &mut HostState| KvView {
            table: &mut state.table,
            backend: &state.backend,
            allowed_bucket: &state.bucket,
        })?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow::Error::from(e).context("linking the component"))?;
        let pre = PluginPre::new(pre)?;
        Ok(Runtime {
            engine,
            pre,
            epoch_deadline,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A fresh instance for one call.
    pub async fn instantiate(&self, call: CallContext) -> Result<(Store<HostState>, Plugin)> {
        let state = HostState {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outgoing: Outgoing {
                egress: call.egress,
                backend: call.backend.clone(),
            },
            bucket: call.bucket,
            config: call.config,
            backend: call.backend,
            limits: Limits::default(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        self.start_deadline(&mut store);
        let plugin = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow::Error::from(e).context("instantiating the component"))?;
        Ok((store, plugin))
    }

    /// Readies an instance that answered a call for the next one: that
    /// call's config keys (fresh base credentials), egress and deadline.
    pub fn renew(&self, store: &mut Store<HostState>, call: CallContext) {
        let state = store.data_mut();
        state.http = WasiHttpCtx::new();
        state.outgoing = Outgoing {
            egress: call.egress,
            backend: call.backend.clone(),
        };
        state.bucket = call.bucket;
        state.config = call.config;
        state.backend = call.backend;
        self.start_deadline(store);
    }

    fn start_deadline(&self, store: &mut Store<HostState>) {
        if let Some(ticks) = self.epoch_deadline {
            store.set_epoch_deadline(ticks);
            store.epoch_deadline_trap();
        }
    }
}

impl HostState {
    /// Frees the `request-options` the guest passed to `outgoing-handler.handle`:
    /// wasmtime-wasi-http 48 reads them there but never deletes them, so
    /// each outgoing request would leave one behind in the table. Only the
    /// low indices a finished call leaves are looked at; an instance whose
    /// table grew further is not reused.
    fn free_request_options(&mut self) {
        let leaked: Vec<u32> = self
            .table
            .iter_entries((0..LEFTOVER_INDICES).map(|k| (k, k)).collect())
            .filter_map(|(entry, k)| entry.ok()?.is::<RequestOptions>().then_some(k))
            .collect();
        for k in leaked {
            let _ = self.table.delete(Resource::<RequestOptions>::new_own(k));
        }
    }

    /// Whether another call may run in this instance: past the request
    /// options above, the guest let go of everything the host handed it
    /// (requests, streams, buckets), and its memory stayed small.
    pub fn ready_for_reuse(&mut self) -> bool {
        self.free_request_options();
        self.table.is_empty() && self.limits.memory_bytes <= REUSE_MEMORY_LIMIT
    }
}

fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PAM_AWS_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    Some(base.join("pam-aws"))
}

/// The cache key: the component's bytes and the engine's compatibility hash
/// (wasmtime version, target, settings), so a stale artefact is never loaded.
fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = if std::ptr::eq(wasm, crate::PLUGIN_WASM) {
        crate::PLUGIN_WASM_SHA256.to_string()
    } else {
        Sha256::digest(wasm)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let hex = digest.get(..32).unwrap_or(&digest);
    format!("{hex}-{:016x}.cwasm", hasher.finish())
}

fn load_component(engine: &Engine, wasm: &[u8]) -> Result<Component> {
    let Some(dir) = cache_dir() else {
        return Ok(Component::new(engine, wasm)?);
    };
    let path = dir.join(cache_key(engine, wasm));
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of this same
        // engine configuration (the key includes its compatibility hash).
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "ignoring unreadable compiled component")
            }
        }
    }
    let component = Component::new(engine, wasm)
        .map_err(|e| anyhow::Error::from(e).context("compiling the component"))?;
    // The cache is an optimisation: failing to write it is not an error.
    if let Err(e) = write_atomically(&dir, &path, &component.serialize()?) {
        tracing::debug!(error = %e, "not caching the compiled component");
    }
    Ok(component)
}

/// Writes the compiled code where only its owner may read or replace it:
/// loading it runs it, so nobody else may plant a file there.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut dirs = std::fs::DirBuilder::new();
    dirs.recursive(true);
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        dirs.mode(0o700);
        file.mode(0o600);
    }
    dirs.create(dir)?;
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    file.open(&temp)?.write_all(bytes)?;
    std::fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{Commits, Memory, Sqlite};
    use http_body_util::BodyExt;
    use std::time::Duration;

    fn outgoing(backend: Arc<dyn Backend>) -> Outgoing {
        // Nothing is allowed: the request is refused after the commit.
        let egress = Egress::new(Vec::new(), Duration::from_secs(1), Duration::from_secs(1));
        Outgoing { egress, backend }
    }

    async fn send(outgoing: &mut Outgoing) -> HttpError {
        let body = http_body_util::Empty::<bytes::Bytes>::new()
            .map_err(HttpError::from)
            .boxed_unsync();
        let request = http::Request::get("http://sts.example/")
            .body(body)
            .unwrap();
        let sent = outgoing.send_request(request, None, Box::new(async { Ok(()) }));
        match Box::into_pin(sent).await {
            Ok(_) => panic!("the request was not refused"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn a_calls_writes_are_committed_before_a_request_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pam.db");
        let call = Arc::new(Sqlite::open_with(&path, Commits::PerCall).unwrap());
        call.set("b", "session/1", b"s1").unwrap();
        let other = Sqlite::open(&path).unwrap();
        assert_eq!(other.get("b", "session/1").unwrap(), None);

        let refused = send(&mut outgoing(call)).await;
        assert!(
            matches!(refused, HttpError::HttpRequestDenied),
            "{refused:?}"
        );
        assert_eq!(
            other.get("b", "session/1").unwrap().as_deref(),
            Some(&b"s1"[..])
        );
    }

    /// A store whose commits fail (a full disk, say).
    struct FailingCommit(Memory);

    impl Backend for FailingCommit {
        fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
            self.0.get(bucket, key)
        }
        fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<()> {
            self.0.set(bucket, key, value)
        }
        fn delete(&self, bucket: &str, key: &str) -> Result<()> {
            self.0.delete(bucket, key)
        }
        fn keys(&self, bucket: &str) -> Result<Vec<String>> {
            self.0.keys(bucket)
        }
        fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64> {
            self.0.increment(bucket, key, delta)
        }
        fn get_many(&self, bucket: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
            self.0.get_many(bucket, keys)
        }
        fn set_many(&self, bucket: &str, entries: &[(String, Vec<u8>)]) -> Result<()> {
            self.0.set_many(bucket, entries)
        }
        fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<()> {
            self.0.delete_many(bucket, keys)
        }
        fn commit(&self) -> Result<()> {
            anyhow::bail!("database or disk is full")
        }
    }

    #[tokio::test]
    async fn nothing_leaves_after_a_write_that_could_not_be_committed() {
        let mut outgoing = outgoing(Arc::new(FailingCommit(Memory::default())));
        // The allow-list is not even asked: the store's failure comes first.
        let refused = send(&mut outgoing).await;
        assert!(
            matches!(&refused, HttpError::InternalError(Some(why)) if why.contains("commit")),
            "{refused:?}"
        );
    }
}

//! A small host with Spin's interface versions and rules, for the Spin
//! adapter's test (no Spin binary is in our registries): an HTTP server that
//! runs each request in a fresh instance, like Spin's HTTP trigger, with one
//! key-value store shared by all of them. Its rules are Spin's: a store
//! opens only if the manifest allows its label, variable names are
//! `[a-z0-9_]` (any other name reads as unset), `list-keys` takes no cursor,
//! `get-many` answers only the keys found, and `increment` keeps 8
//! little-endian bytes. Outbound HTTP is not restricted here (the flow
//! reaches local moto and the fake sign-in endpoint); `spin.rs` checks the
//! manifest's `allowed_outbound_hosts` instead.

use http_body_util::{BodyExt, Full};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use wasmtime::component::{Component, Linker, Resource, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../adapters/spin/wit",
        world: "pam:spin-adapter/spin-host",
        with: {
            "wasi:keyvalue/store.bucket": super::Label,
            "wasi:keyvalue/atomics.cas": super::Cas,
        },
    });
}
use self::bindings::wasi::config0_2_0_draft_2024_09_27::store as config;
use self::bindings::wasi::keyvalue0_2_0_draft2::{atomics, batch, store};

pub struct Label(String);

pub struct Cas {
    label: String,
    key: String,
    seen: Option<Vec<u8>>,
}

/// What a Spin manifest and runtime config give the component.
pub struct SpinApp {
    pub key_value_stores: Vec<String>,
    pub variables: BTreeMap<String, String>,
}

type Data = Arc<Mutex<HashMap<(String, String), Vec<u8>>>>;

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    app: Arc<SpinApp>,
    data: Data,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

impl State {
    fn label(&self, bucket: &Resource<Label>) -> String {
        self.table.get(bucket).expect("a live bucket").0.clone()
    }

    fn data(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Vec<u8>>> {
        self.data.lock().expect("the store's lock")
    }
}

impl store::Host for State {
    fn open(&mut self, label: String) -> Result<Resource<Label>, store::Error> {
        if !self.app.key_value_stores.contains(&label) {
            return Err(store::Error::AccessDenied);
        }
        Ok(self.table.push(Label(label)).expect("a table slot"))
    }
}

impl store::HostBucket for State {
    fn get(
        &mut self,
        bucket: Resource<Label>,
        key: String,
    ) -> Result<Option<Vec<u8>>, store::Error> {
        let label = self.label(&bucket);
        Ok(self.data().get(&(label, key)).cloned())
    }

    fn set(
        &mut self,
        bucket: Resource<Label>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), store::Error> {
        let label = self.label(&bucket);
        self.data().insert((label, key), value);
        Ok(())
    }

    fn delete(&mut self, bucket: Resource<Label>, key: String) -> Result<(), store::Error> {
        let label = self.label(&bucket);
        self.data().remove(&(label, key));
        Ok(())
    }

    fn exists(&mut self, bucket: Resource<Label>, key: String) -> Result<bool, store::Error> {
        let label = self.label(&bucket);
        Ok(self.data().contains_key(&(label, key)))
    }

    fn list_keys(
        &mut self,
        bucket: Resource<Label>,
        cursor: Option<String>,
    ) -> Result<store::KeyResponse, store::Error> {
        if cursor.is_some() {
            return Err(store::Error::Other(
                "list_keys: cursor not supported".into(),
            ));
        }
        let label = self.label(&bucket);
        let keys = self
            .data()
            .keys()
            .filter(|(l, _)| *l == label)
            .map(|(_, key)| key.clone())
            .collect();
        Ok(store::KeyResponse { keys, cursor: None })
    }

    fn drop(&mut self, bucket: Resource<Label>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for State {
    fn increment(
        &mut self,
        bucket: Resource<Label>,
        key: String,
        delta: i64,
    ) -> Result<i64, store::Error> {
        let label = self.label(&bucket);
        let mut data = self.data();
        let entry = data
            .entry((label, key))
            .or_insert_with(|| 0i64.to_le_bytes().to_vec());
        let current = <[u8; 8]>::try_from(entry.as_slice())
            .map(i64::from_le_bytes)
            .map_err(|_| store::Error::Other("not a counter".into()))?;
        *entry = (current + delta).to_le_bytes().to_vec();
        Ok(current + delta)
    }

    fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> Result<(), atomics::CasError> {
        let Cas { label, key, seen } = self.table.delete(cas).expect("a live cas");
        let mut data = self.data();
        let now = data.get(&(label.clone(), key.clone())).cloned();
        if now != seen {
            drop(data);
            let fresh = self
                .table
                .push(Cas {
                    label,
                    key,
                    seen: now,
                })
                .expect("a table slot");
            return Err(atomics::CasError::CasFailed(fresh));
        }
        data.insert((label, key), value);
        Ok(())
    }
}

impl atomics::HostCas for State {
    fn new(&mut self, bucket: Resource<Label>, key: String) -> Result<Resource<Cas>, store::Error> {
        let label = self.label(&bucket);
        Ok(self
            .table
            .push(Cas {
                label,
                key,
                seen: None,
            })
            .expect("a table slot"))
    }

    fn current(&mut self, cas: Resource<Cas>) -> Result<Option<Vec<u8>>, store::Error> {
        let (label, key) = {
            let cas = self.table.get(&cas).expect("a live cas");
            (cas.label.clone(), cas.key.clone())
        };
        let now = self.data().get(&(label, key)).cloned();
        self.table.get_mut(&cas).expect("a live cas").seen = now.clone();
        Ok(now)
    }

    fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for State {
    fn get_many(
        &mut self,
        bucket: Resource<Label>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, store::Error> {
        let label = self.label(&bucket);
        let data = self.data();
        // Only the keys found, last first: Spin promises no order.
        Ok(keys
            .into_iter()
            .rev()
            .filter_map(|key| Some((key.clone(), Some(data.get(&(label.clone(), key))?.clone()))))
            .collect())
    }

    fn set_many(
        &mut self,
        bucket: Resource<Label>,
        entries: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        let label = self.label(&bucket);
        let mut data = self.data();
        for (key, value) in entries {
            data.insert((label.clone(), key), value);
        }
        Ok(())
    }

    fn delete_many(
        &mut self,
        bucket: Resource<Label>,
        keys: Vec<String>,
    ) -> Result<(), store::Error> {
        let label = self.label(&bucket);
        let mut data = self.data();
        for key in keys {
            data.remove(&(label.clone(), key));
        }
        Ok(())
    }
}

/// Spin's variable names: a lowercase letter, then `[a-z0-9_]`, no `__`,
/// no trailing `_`.
fn spin_accepts(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

impl config::Host for State {
    fn get(&mut self, key: String) -> Result<Option<String>, config::Error> {
        if !spin_accepts(&key) {
            return Ok(None);
        }
        Ok(self.app.variables.get(&key).cloned())
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, config::Error> {
        Ok(self.app.variables.clone().into_iter().collect())
    }
}

/// Serves `wasm` on 127.0.0.1:`port` in a thread of its own, each request
/// in a fresh instance, until the test process ends.
pub fn serve(wasm: &std::path::Path, app: SpinApp, port: u16) {
    let engine = Engine::default();
    let component = Component::from_file(&engine, wasm).unwrap();
    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    bindings::SpinHost::add_to_linker::<_, wasmtime::component::HasSelf<State>>(&mut linker, |s| s)
        .unwrap();
    let pre = ProxyPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    let app = Arc::new(app);
    let data = Data::default();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (engine, pre, app, data) =
                    (engine.clone(), pre.clone(), app.clone(), data.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        handle(
                            engine.clone(),
                            pre.clone(),
                            app.clone(),
                            data.clone(),
                            request,
                        )
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
    });
}

async fn handle(
    engine: Engine,
    pre: ProxyPre<State>,
    app: Arc<SpinApp>,
    data: Data,
    request: hyper::Request<hyper::body::Incoming>,
) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let request = hyper::Request::from_parts(parts, Full::new(body));
    let state = State {
        wasi: WasiCtx::builder().inherit_stderr().build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        app,
        data,
    };
    let mut store = Store::new(&engine, state);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, request)?;
    let outparam = store.data_mut().http().new_response_outparam(sender)?;
    let proxy = pre.instantiate_async(&mut store).await?;
    let guest = tokio::spawn(async move {
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, incoming, outparam)
            .await
    });
    match receiver.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => anyhow::bail!("the component answered with an error: {code:?}"),
        Err(_) => anyhow::bail!("the component set no response: {:?}", guest.await),
    }
}

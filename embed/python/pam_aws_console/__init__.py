"""pam-aws-console for Python: the component, run by wasmtime from PyPI,
one instance per Broker. WASI (outbound HTTP included) is wasmtime's;
wasi:keyvalue and wasi:config are implemented here over the caller's
mapping and dict. Results are dicts in the CONTRACT's snake_case shapes.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping
from importlib import resources
from typing import Any, Optional

import wasmtime
from wasmtime import component as wc

__all__ = ["Broker", "BrokerError"]

_BROKER = "pam:aws-console/broker@0.1.0"
_BUCKET_TYPE = 1
_LIST_PAGE = 1000
_engine = wasmtime.Engine()
_component: Optional[wc.Component] = None
_component_lock = threading.Lock()


def _load_component() -> wc.Component:
    """Compiled once per process; every Broker instantiates it afresh."""
    global _component
    with _component_lock:
        if _component is None:
            wasm = resources.files(__package__).joinpath("pam-aws-console.wasm").read_bytes()
            _component = wc.Component(_engine, wasm)
        return _component


class BrokerError(Exception):
    """The component's error: `kind` is the WIT case (`invalid-input`,
    `aws`, `not-found`, …), `detail` its payload (a dict or a string)."""

    def __init__(self, kind: str, detail: Any) -> None:
        message = detail.get("message") if isinstance(detail, dict) else detail
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.detail = detail


def _to_python(value: Any) -> Any:
    """Records become dicts with snake_case keys, variants dicts with `kind`."""
    if isinstance(value, wc.Record):
        return {key.replace("-", "_"): _to_python(item) for key, item in vars(value).items()}
    if isinstance(value, wc.Variant):
        return {"kind": value.tag, "detail": _to_python(value.payload)}
    if isinstance(value, list):
        return [_to_python(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_to_python(item) for item in value)
    return value


def _record(**fields: Any) -> wc.Record:
    record = wc.Record()
    for name, value in fields.items():
        setattr(record, name.replace("_", "-"), value)
    return record


class _KeyValue:
    """wasi:keyvalue store, atomics and batch over `store`; counters are
    decimal text, as every other host of the component keeps them."""

    def __init__(self, store: MutableMapping[str, bytes], bucket_name: str) -> None:
        self.store = store
        self.bucket_name = bucket_name

    def open(self, _ctx: Any, identifier: str) -> Any:
        if identifier != self.bucket_name:
            return wc.Variant("no-such-store")
        return wc.ResourceHost.own(0, _BUCKET_TYPE)

    def get(self, _ctx: Any, _bucket: Any, key: str) -> Optional[bytes]:
        value = self.store.get(key)
        return None if value is None else bytes(value)

    def set(self, _ctx: Any, _bucket: Any, key: str, value: bytes) -> None:
        self.store[key] = bytes(value)

    def delete(self, _ctx: Any, _bucket: Any, key: str) -> None:
        self.store.pop(key, None)

    def list_keys(self, _ctx: Any, _bucket: Any, cursor: Optional[int]) -> wc.Record:
        keys = sorted(self.store.keys())
        start = cursor or 0
        page = keys[start:start + _LIST_PAGE]
        after = start + len(page)
        return _record(keys=page, cursor=after if after < len(keys) else None)

    def increment(self, _ctx: Any, _bucket: Any, key: str, delta: int) -> int:
        text = bytes(self.store.get(key, b"0")).decode()
        if not text.isdigit():
            raise ValueError(f"{key} does not hold a counter")
        value = int(text) + delta
        self.store[key] = str(value).encode()
        return value

    def get_many(self, ctx: Any, bucket: Any, keys: list) -> list:
        return [None if (value := self.get(ctx, bucket, key)) is None else (key, value) for key in keys]

    def set_many(self, ctx: Any, bucket: Any, pairs: list) -> None:
        for key, value in pairs:
            self.set(ctx, bucket, key, value)

    def delete_many(self, ctx: Any, bucket: Any, keys: list) -> None:
        for key in keys:
            self.delete(ctx, bucket, key)

    @staticmethod
    def _on_bucket(method: Any) -> Any:
        """A method on a borrowed bucket: the borrow is released when it returns."""

        def call(ctx: Any, bucket: Any, *args: Any) -> Any:
            try:
                return method(ctx, bucket, *args)
            finally:
                bucket.drop(ctx)

        return call

    def define(self, linker: wc.Linker) -> None:
        on = self._on_bucket
        with linker.root() as root:
            with root.add_instance("wasi:keyvalue/store@0.2.0-draft") as kv:
                kv.add_resource("bucket", wc.ResourceType.host(_BUCKET_TYPE), lambda _ctx, _rep: None)
                kv.add_func("open", self.open)
                kv.add_func("[method]bucket.get", on(self.get))
                kv.add_func("[method]bucket.set", on(self.set))
                kv.add_func("[method]bucket.delete", on(self.delete))
                kv.add_func("[method]bucket.list-keys", on(self.list_keys))
            with root.add_instance("wasi:keyvalue/atomics@0.2.0-draft") as atomics:
                atomics.add_func("increment", on(self.increment))
            with root.add_instance("wasi:keyvalue/batch@0.2.0-draft") as batch:
                batch.add_func("get-many", on(self.get_many))
                batch.add_func("set-many", on(self.set_many))
                batch.add_func("delete-many", on(self.delete_many))


def _define_config(linker: wc.Linker, config: dict) -> None:
    settings = {str(k): str(v) for k, v in config.items()}
    with linker.root() as root, root.add_instance("wasi:config/store@0.2.0-rc.1") as store:
        store.add_func("get", lambda _ctx, key: settings.get(key))
        store.add_func("get-all", lambda _ctx: list(settings.items()))


class Broker:
    """The broker over `config` (the component's config keys) and `store`
    (where its records live: any MutableMapping[str, bytes])."""

    def __init__(self, config: dict, store: MutableMapping[str, bytes]) -> None:
        linker = wc.Linker(_engine)
        linker.add_wasip2()
        linker.add_wasi_http()
        _KeyValue(store, str(config.get("kv-bucket", ""))).define(linker)
        _define_config(linker, config)
        self._store = wasmtime.Store(_engine)
        wasi = wasmtime.WasiConfig()
        wasi.inherit_stderr()
        self._store.set_wasi(wasi)
        self._store.set_wasi_http()
        self._instance = linker.instantiate(self._store, _load_component())
        self._exports = self._instance.get_export_index(self._store, _BROKER)
        self._lock = threading.Lock()

    def _call(self, name: str, *args: Any) -> Any:
        with self._lock:
            index = self._instance.get_export_index(self._store, name, self._exports)
            func = self._instance.get_func(self._store, index)
            result = func(self._store, *args)
            func.post_return(self._store)
        if isinstance(result, wc.Variant):
            raise BrokerError(result.tag, _to_python(result.payload))
        return _to_python(result)

    def create_resource(self, actor: str, name: str, role_arn: str, external_id: Optional[str] = None,
                        source_identity: bool = False) -> dict:
        return self._call("create-resource", actor, _record(
            name=name, role_arn=role_arn, external_id=external_id, source_identity=source_identity))

    def create_account(self, actor: str, resource: str, name: str, role_arn: str, duration: str,
                       description: Optional[str] = None, region: Optional[str] = None,
                       service: Optional[str] = None, allow: tuple = ()) -> dict:
        return self._call("create-account", actor, _record(
            resource=resource, name=name, role_arn=role_arn, duration=duration, description=description,
            region=region, service=service, allow=list(allow)))

    def access(self, resource: str, account: str, user: str, region: Optional[str] = None,
               service: Optional[str] = None) -> dict:
        return self._call("access", _record(
            resource=resource, account=account, user=user, region=region, service=service))

    def credentials(self, resource: str, account: str, user: str, region: Optional[str] = None,
                    service: Optional[str] = None) -> dict:
        return self._call("credentials", _record(
            resource=resource, account=account, user=user, region=region, service=service))

    def list_resources(self) -> list:
        return self._call("list-resources")

    def list_accounts(self, resource: Optional[str] = None) -> list:
        return self._call("list-accounts", resource)

    def list_sessions(self, active_only: bool = False, user: Optional[str] = None,
                      resource: Optional[str] = None, account: Optional[str] = None,
                      limit: Optional[int] = None, before: Optional[str] = None) -> list:
        return self._call("list-sessions", _record(
            active_only=active_only, user=user, resource=resource, account=account, limit=limit, before=before))

    def revoke_session(self, actor: str, id: str) -> dict:  # noqa: A002 - the API's name
        return self._call("revoke-session", actor, id)

    def list_audit_events(self, limit: Optional[int] = None, before: Optional[str] = None) -> list:
        return self._call("list-audit-events", limit, before)

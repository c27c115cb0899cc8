//! Records in the key-value bucket, one JSON value per key, kept apart by
//! key prefix, and the indexes that list them. Only records go in here:
//! credentials never do.
//!
//! A list is an [`Index`]: a counter (`n/NAME`, advanced with the atomic
//! `increment`, so writers on many hosts never share a slot) and one slot
//! per entry (`i/NAME/N`) holding the id of the record it lists. Names are
//! short: a grant writes four slots, and every byte counts a million times.
//! A record keeps its position in each index that lists it, so `before=ID`
//! is one read, and a page is a few batch reads whatever the store holds.

use crate::error::{Result, invalid, storage};
use crate::platform::KeyValue;
use crate::validate::{self, DEFAULT_PAGE};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A new record's id: UUID v7, so ids sort by time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn resource_key(name: &str) -> String {
    format!("resource/{name}")
}

pub fn account_key(resource: &str, name: &str) -> String {
    format!("account/{resource}/{name}")
}

pub fn session_key(id: &str) -> String {
    format!("session/{id}")
}

pub fn audit_key(id: &str) -> String {
    format!("audit/{id}")
}

/// A record as stored: its value, and its position in each index that
/// lists it (by the index's role, e.g. `all`, `user`).
#[derive(Serialize, Deserialize)]
pub struct Stored<T> {
    #[serde(flatten)]
    pub value: T,
    #[serde(rename = "_index", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub index: BTreeMap<String, u64>,
    /// Extra keys that live and die with the record (a refusal's counter).
    #[serde(rename = "_keys", default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

impl<T> Stored<T> {
    pub fn new(value: T) -> Self {
        Stored {
            value,
            index: BTreeMap::new(),
            keys: Vec::new(),
        }
    }
}

/// An append-only list, newest first: a counter and numbered slots.
#[derive(Clone, Debug, PartialEq)]
pub struct Index {
    name: String,
}

impl Index {
    pub fn named(name: impl Into<String>) -> Self {
        Index { name: name.into() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn counter(&self) -> String {
        format!("n/{}", self.name)
    }

    /// Slot keys end in the position, so no name makes two slots alike.
    pub fn slot(&self, position: u64) -> String {
        format!("i/{}/{position}", self.name)
    }

    /// A new position of its own: no other writer gets it.
    pub fn claim(&self, kv: &dyn KeyValue) -> Result<u64> {
        kv.increment(&self.counter(), 1)
    }

    /// The newest position handed out (0 when empty).
    pub fn top(&self, kv: &dyn KeyValue) -> Result<u64> {
        kv.increment(&self.counter(), 0)
    }
}

/// What a walk does with a record it reads.
pub enum Step {
    Keep,
    Skip,
    /// Nothing older can match (e.g. older sessions are all expired).
    Stop,
}

/// One page of a list, and the id to continue `before`, if there is more.
#[derive(Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T: HasId> Page<T> {
    /// A page of a list read whole (resources, accounts): after `before`.
    pub fn of(items: Vec<T>, limit: Option<u32>, before: Option<&str>) -> Result<Page<T>> {
        let limit = validate::page_limit("limit", limit.unwrap_or(DEFAULT_PAGE))? as usize;
        let start = match before {
            None => 0,
            Some(id) => items
                .iter()
                .position(|item| item.id() == id)
                .map(|at| at + 1)
                .ok_or_else(|| invalid("before", "must be the id of an item of this list"))?,
        };
        let more = items.len() > start + limit;
        let items: Vec<T> = items.into_iter().skip(start).take(limit).collect();
        let next = if more {
            items.last().map(|item| item.id().to_string())
        } else {
            None
        };
        Ok(Page { items, next })
    }
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// A walk reads at most this many slots per request, so a sparse filter
/// costs a bounded time; the page then ends early with a `next`.
const MAX_SCAN: u64 = 20_000;

/// Where a walk starts, how much it returns and which records it keeps.
pub struct Walk<'w, T> {
    pub index: &'w Index,
    /// The index's role in the records' `_index` (to resolve `before`).
    pub role: &'w str,
    pub record_key: fn(&str) -> String,
    pub limit: usize,
    pub before: Option<&'w str>,
    pub keep: &'w mut dyn FnMut(&T) -> Step,
}

pub struct Records<'a> {
    kv: &'a dyn KeyValue,
}

impl<'a> Records<'a> {
    pub fn new(kv: &'a dyn KeyValue) -> Self {
        Records { kv }
    }

    pub fn kv(&self) -> &'a dyn KeyValue {
        self.kv
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.kv.get(key)? {
            None => Ok(None),
            Some(bytes) => decode(key, &bytes).map(Some),
        }
    }

    /// The records at `keys`, in order (`None` where there is none).
    pub fn get_many<T: DeserializeOwned>(&self, keys: &[String]) -> Result<Vec<Option<T>>> {
        let values = self.kv.get_many(keys)?;
        keys.iter()
            .zip(values)
            .map(|(key, value)| value.map(|bytes| decode(key, &bytes)).transpose())
            .collect()
    }

    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.kv.set(key, &encode(value)?)
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        self.kv.delete(key)
    }

    /// Stores `record` at `key` and lists it in each `(role, index)`, in
    /// one batch write: a failure leaves at most unused positions (gaps a
    /// walk steps over), never a slot without its record.
    pub fn insert<T: Serialize>(
        &self,
        key: &str,
        mut record: Stored<T>,
        indexes: &[(&str, &Index)],
        id: &str,
    ) -> Result<Stored<T>> {
        let mut entries = Vec::with_capacity(indexes.len() + 1);
        for (role, index) in indexes {
            let position = index.claim(self.kv)?;
            record.index.insert(role.to_string(), position);
            entries.push((index.slot(position), id.as_bytes().to_vec()));
        }
        entries.push((key.to_string(), encode(&record)?));
        self.kv.set_many(&entries)?;
        Ok(record)
    }

    /// Deletes `record` at `key`, its slots (named by `slots`) and its keys.
    pub fn remove<T>(&self, key: &str, record: &Stored<T>, slots: &[(&str, &Index)]) -> Result<()> {
        let mut keys: Vec<String> = slots
            .iter()
            .filter_map(|(role, index)| record.index.get(*role).map(|&n| index.slot(n)))
            .collect();
        keys.extend(record.keys.iter().cloned());
        keys.push(key.to_string());
        self.kv.delete_many(&keys)
    }

    /// Keys under `prefix`, sorted, from a listing of the whole bucket:
    /// only upgrading an old layout does this.
    pub fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> = self
            .kv
            .keys()?
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// A page of `walk.index`, newest first: slots are read in batches
    /// from below `before`'s position, their records in one batch each.
    pub fn page<T: DeserializeOwned + HasId>(&self, walk: Walk<'_, Stored<T>>) -> Result<Page<T>> {
        let below = match walk.before {
            None => walk.index.top(self.kv)? + 1,
            Some(id) => self.position(walk.role, (walk.record_key)(id))?,
        };
        let chunk = (walk.limit as u64 + 1).clamp(16, 512);
        let floor = below.saturating_sub(MAX_SCAN).max(1);
        let mut items: Vec<T> = Vec::new();
        let mut last_seen = None;
        let mut cursor = below;
        while cursor > floor {
            let start = cursor.saturating_sub(chunk).max(floor);
            let entries = self.entries(walk.index, walk.role, start..cursor, walk.record_key)?;
            cursor = start;
            for Listed {
                position, record, ..
            } in entries
            {
                match (walk.keep)(&record) {
                    Step::Skip => {}
                    Step::Stop => return Ok(Page { items, next: None }),
                    Step::Keep if items.len() == walk.limit => {
                        let next = items.last().map(|item| item.id().to_string());
                        return Ok(Page { items, next });
                    }
                    Step::Keep => items.push(record.value),
                }
                last_seen = Some(position);
            }
        }
        // The scan cap ends a sparse page early; the rest follows `next`.
        let next = match last_seen {
            Some(position) if floor > 1 => self.id_at(walk.index, position)?,
            _ => None,
        };
        Ok(Page { items, next })
    }

    /// The records listed at `positions` of `index`, newest first, with
    /// their position and the id their slot holds.
    pub fn entries<T: DeserializeOwned>(
        &self,
        index: &Index,
        role: &str,
        positions: std::ops::Range<u64>,
        record_key: fn(&str) -> String,
    ) -> Result<Vec<Listed<T>>> {
        let positions: Vec<u64> = positions.rev().collect();
        let slots: Vec<String> = positions.iter().map(|&n| index.slot(n)).collect();
        let listed: Vec<(u64, String)> = positions
            .into_iter()
            .zip(self.kv.get_many(&slots)?)
            .filter_map(|(n, id)| Some((n, String::from_utf8(id?).ok()?)))
            .collect();
        let keys: Vec<String> = listed.iter().map(|(_, id)| record_key(id)).collect();
        let records = self.get_many::<Stored<T>>(&keys)?;
        Ok(listed
            .into_iter()
            .zip(records)
            .filter_map(|((position, id), record)| {
                Some(Listed {
                    position,
                    id,
                    record: record?,
                })
            })
            // A slot whose record now sits elsewhere in the index is stale.
            .filter(|listed| listed.record.index.get(role) == Some(&listed.position))
            .collect())
    }

    fn id_at(&self, index: &Index, position: u64) -> Result<Option<String>> {
        Ok(self
            .kv
            .get(&index.slot(position))?
            .and_then(|id| String::from_utf8(id).ok()))
    }

    /// `key`'s position in its `role` index: where a page `before` it starts.
    fn position(&self, role: &str, key: String) -> Result<u64> {
        let record: Option<Stored<serde_json::Value>> = self.get(&key)?;
        record
            .and_then(|r| r.index.get(role).copied())
            .ok_or_else(|| invalid("before", "must be the id of an item of this list"))
    }
}

/// A record as an index lists it.
pub struct Listed<T> {
    pub position: u64,
    /// What the slot holds: the id (or name) the record is stored under.
    pub id: String,
    pub record: Stored<T>,
}

/// Records that have an id (what `before` names).
pub trait HasId {
    fn id(&self) -> &str;
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| storage(format!("record {key} is not readable: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(storage)
}

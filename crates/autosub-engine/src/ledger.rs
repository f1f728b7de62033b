//! Where the ledger (`autosub_core::ledger`) is kept between passes: a local file (the
//! default), one S3 object, or a DynamoDB table.
//!
//! Guarantees: a file or S3 write replaces the whole document atomically (a reader, or a run
//! after `kill -9`, sees the old or the new ledger, never half of one). Every load reads the
//! stored document afresh, and every save is a read-modify-write of its own target's record
//! (serialised within the process), so a replica never writes back another target's record
//! from a stale copy, and a document that cannot be read is never overwritten. Errors: a ledger
//! that cannot be read fails the target's pass (`reconcile`), so nothing is deleted or saved
//! on a guess.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use autosub_aws::error::ErrorClass;
use autosub_aws::ledger_store::{ItemChange, LedgerTable, ObjectStore, StoredObject, WriteIf};
use autosub_core::ledger::TargetLedger;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::Target;

/// Why the ledger could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A local file could not be read or written.
    #[error("ledger file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The stored document is not a ledger.
    #[error("ledger {location} is not a ledger document ({detail}); fix or remove it")]
    Corrupt {
        /// Where it is stored.
        location: String,
        /// What is wrong.
        detail: String,
    },
    /// Other writers replaced the document before each of our conditional writes.
    #[error(
        "ledger {location}: other processes replaced it before each of {attempts} writes; this pass's record is not saved, and the next pass recomputes it"
    )]
    Contended {
        /// Where it is stored.
        location: String,
        /// Writes tried.
        attempts: usize,
    },
    /// An AWS call failed.
    #[error("ledger {location}: {source}")]
    Aws {
        /// Where it is stored.
        location: String,
        /// The failure.
        source: autosub_aws::AwsError,
    },
}

/// A ledger store: per target, the ledger the last pass left.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// The ledger of `target`; empty when nothing was stored yet.
    async fn load(&self, target: &Target) -> Result<TargetLedger, LedgerError>;
    /// Stores the ledger of `target`.
    async fn save(&self, target: &Target, ledger: &TargetLedger) -> Result<(), LedgerError>;
    /// Where the ledger lives, for logs and errors.
    fn location(&self) -> String;
}

/// The document a file or S3 ledger holds: every target's ledger.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    /// The format version.
    version: u32,
    /// Ledgers by target (`account/region`).
    targets: BTreeMap<String, TargetLedger>,
}

const VERSION: u32 = 1;

fn parse(location: &str, bytes: &[u8]) -> Result<Document, LedgerError> {
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| LedgerError::Corrupt {
        location: location.to_owned(),
        detail: e.to_string(),
    })?;
    if doc.version != VERSION {
        return Err(LedgerError::Corrupt {
            location: location.to_owned(),
            detail: format!(
                "format version {} (this autosub reads {VERSION})",
                doc.version
            ),
        });
    }
    Ok(doc)
}

fn render(doc: &Document) -> Vec<u8> {
    // A map of strings and numbers always serialises.
    serde_json::to_vec_pretty(doc).unwrap_or_default()
}

/// A whole-document store: read afresh on every load, read-modified-written on every save.
struct DocumentStore<B> {
    backend: B,
    /// Serialises this process's read-modify-writes of the document.
    writing: Mutex<()>,
}

/// Reads and replaces a whole ledger document.
#[async_trait]
trait DocumentBackend: Send + Sync {
    /// The document and, where the backend has versions, the version read.
    async fn read(&self) -> Result<Option<StoredObject>, LedgerError>;
    /// Replaces the document if it is still the version `read` gave (`Ok(false)` when another
    /// writer replaced it since); a backend without versions always writes.
    async fn write(&self, bytes: Vec<u8>, read: Option<&StoredObject>)
    -> Result<bool, LedgerError>;
    fn location(&self) -> String;
}

/// Read-modify-writes of a document that another writer keeps overtaking, before the save
/// fails.
const SAVE_ATTEMPTS: usize = 5;

impl<B: DocumentBackend> DocumentStore<B> {
    fn new(backend: B) -> Self {
        Self {
            backend,
            writing: Mutex::new(()),
        }
    }

    /// The stored document (an empty one when nothing is stored yet) and the version read.
    async fn read(&self) -> Result<(Document, Option<StoredObject>), LedgerError> {
        match self.backend.read().await? {
            Some(stored) => Ok((parse(&self.backend.location(), &stored.body)?, Some(stored))),
            None => Ok((Document::default(), None)),
        }
    }
}

#[async_trait]
impl<B: DocumentBackend> LedgerStore for DocumentStore<B> {
    async fn load(&self, target: &Target) -> Result<TargetLedger, LedgerError> {
        let (mut doc, _) = self.read().await?;
        Ok(doc.targets.remove(&target.to_string()).unwrap_or_default())
    }

    async fn save(&self, target: &Target, ledger: &TargetLedger) -> Result<(), LedgerError> {
        let _writing = self.writing.lock().await;
        for _ in 0..SAVE_ATTEMPTS {
            // Unreadable: writing would replace every other target's record with nothing.
            let (mut doc, read) = self.read().await?;
            doc.version = VERSION;
            doc.targets.insert(target.to_string(), ledger.clone());
            // Only over the version read: another process's save in between is merged anew.
            if self.backend.write(render(&doc), read.as_ref()).await? {
                return Ok(());
            }
            tracing::info!(ledger = %self.backend.location(), "another process saved the ledger first; merging again");
        }
        Err(LedgerError::Contended {
            location: self.backend.location(),
            attempts: SAVE_ATTEMPTS,
        })
    }

    fn location(&self) -> String {
        self.backend.location()
    }
}

/// A local JSON file, replaced by write-to-temporary, fsync, rename.
struct FileBackend {
    path: PathBuf,
}

#[async_trait]
impl DocumentBackend for FileBackend {
    async fn read(&self) -> Result<Option<StoredObject>, LedgerError> {
        match tokio::fs::read(&self.path).await {
            Ok(body) => Ok(Some(StoredObject { body, etag: None })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LedgerError::File {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Unconditional: a local file has one writer, the process whose lock serialises saves.
    async fn write(&self, bytes: Vec<u8>, _: Option<&StoredObject>) -> Result<bool, LedgerError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .map_err(|e| LedgerError::File {
                path: self.path.clone(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| LedgerError::File {
                path: self.path.clone(),
                source,
            })?;
        Ok(true)
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// Writes `bytes` to `path` so that a crash at any point leaves the old or the new file whole.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "ledger".into(), |n| n.to_string_lossy().into_owned());
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    // The rename is durable once the directory entry is.
    std::fs::File::open(dir)?.sync_all()?;
    remove_orphans(dir, &name);
    Ok(())
}

/// How old a temporary file of the ledger must be to be an orphan: a save takes milliseconds,
/// so one this old was left by a process killed mid-save.
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the temporary files of ledger `name` in `dir` that killed saves left behind; a
/// file that cannot be read or removed is left for the next save.
fn remove_orphans(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if file_name.starts_with(&prefix)
            && file_name.ends_with(".tmp")
            && age.is_some_and(|a| a > ORPHAN_AGE)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// One S3 object.
struct S3Backend {
    object: Arc<dyn ObjectStore>,
    uri: String,
}

#[async_trait]
impl DocumentBackend for S3Backend {
    async fn read(&self) -> Result<Option<StoredObject>, LedgerError> {
        self.object.get().await.map_err(|source| LedgerError::Aws {
            location: self.uri.clone(),
            source,
        })
    }

    /// With S3's conditional PutObject: `If-Match` the ETag read, or `If-None-Match: *` when
    /// there was nothing to read.
    async fn write(
        &self,
        bytes: Vec<u8>,
        read: Option<&StoredObject>,
    ) -> Result<bool, LedgerError> {
        let condition = match read {
            None => Some(WriteIf::Absent),
            Some(stored) => stored.etag.clone().map(WriteIf::Unchanged),
        };
        match self.object.put(bytes, condition.as_ref()).await {
            Ok(()) => Ok(true),
            Err(e) if e.class == ErrorClass::Conflict => Ok(false),
            Err(source) => Err(LedgerError::Aws {
                location: self.uri.clone(),
                source,
            }),
        }
    }

    fn location(&self) -> String {
        self.uri.clone()
    }
}

/// A DynamoDB table, one item per trigger, verified location and pass record; a save writes
/// only what changed since the load.
struct TableStore {
    table: Arc<dyn LedgerTable>,
    uri: String,
    /// What the table holds per target, as last loaded or saved.
    known: Mutex<BTreeMap<String, TargetLedger>>,
}

#[async_trait]
impl LedgerStore for TableStore {
    async fn load(&self, target: &Target) -> Result<TargetLedger, LedgerError> {
        let partition = target.to_string();
        let triggers = self
            .table
            .entries(&partition)
            .await
            .map_err(|source| LedgerError::Aws {
                location: self.uri.clone(),
                source,
            })?;
        let ledger = TargetLedger::from_items(triggers);
        self.known.lock().await.insert(partition, ledger.clone());
        Ok(ledger)
    }

    async fn save(&self, target: &Target, ledger: &TargetLedger) -> Result<(), LedgerError> {
        let partition = target.to_string();
        let mut known = self.known.lock().await;
        let before = known
            .get(&partition)
            .map(TargetLedger::items)
            .unwrap_or_default();
        let after = ledger.items();
        let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        let changes: Vec<ItemChange> = keys
            .into_iter()
            .filter(|k| before.get(*k) != after.get(*k))
            .map(|k| ItemChange {
                key: k.clone(),
                before: before.get(k).cloned(),
                after: after.get(k).cloned(),
            })
            .collect();
        let overtaken = self
            .table
            .write(&partition, &changes)
            .await
            .map_err(|source| LedgerError::Aws {
                location: self.uri.clone(),
                source,
            })?;
        if !overtaken.is_empty() {
            // Another replica wrote those since our load: its records stand, and what this
            // table holds is no longer what we know; the next load reads it afresh.
            tracing::warn!(ledger = %self.uri, target = %partition, items = ?overtaken, "ledger items changed by another writer since they were read were left as that writer left them");
            known.remove(&partition);
            return Ok(());
        }
        known.insert(partition, ledger.clone());
        Ok(())
    }

    fn location(&self) -> String {
        self.uri.clone()
    }
}

/// No ledger: every pass starts from nothing and nothing is kept.
struct NoStore;

#[async_trait]
impl LedgerStore for NoStore {
    async fn load(&self, _target: &Target) -> Result<TargetLedger, LedgerError> {
        Ok(TargetLedger::default())
    }

    async fn save(&self, _target: &Target, _ledger: &TargetLedger) -> Result<(), LedgerError> {
        Ok(())
    }

    fn location(&self) -> String {
        "none".to_owned()
    }
}

/// The store `config`'s `ledger.location` names; a relative file path is taken relative to
/// `base` (the configuration file's directory). S3 and DynamoDB are reached with the
/// credentials' own account, DynamoDB in `region`.
pub fn open(
    config: &autosub_config::Config,
    base: &Path,
    factory: &autosub_aws::ClientFactory,
    region: &autosub_core::Region,
) -> Arc<dyn LedgerStore> {
    use autosub_config::LedgerLocation;
    match config.ledger.location.clone() {
        LedgerLocation::File(path) => file(base.join(path)),
        LedgerLocation::S3 { bucket, key } => {
            let uri = format!("s3://{bucket}/{key}");
            s3(
                factory.ledger_object(region, &bucket.as_str().into(), &key),
                uri,
            )
        }
        LedgerLocation::DynamoDb { table } => {
            let uri = format!("dynamodb://{table} ({region})");
            dynamodb(factory.ledger_table(region, &table), uri)
        }
        LedgerLocation::None => none(),
    }
}

/// A ledger in a local file.
pub fn file(path: PathBuf) -> Arc<dyn LedgerStore> {
    Arc::new(DocumentStore::new(FileBackend { path }))
}

/// A ledger in one S3 object.
pub fn s3(object: Arc<dyn ObjectStore>, uri: String) -> Arc<dyn LedgerStore> {
    Arc::new(DocumentStore::new(S3Backend { object, uri }))
}

/// A ledger in a DynamoDB table.
pub fn dynamodb(table: Arc<dyn LedgerTable>, uri: String) -> Arc<dyn LedgerStore> {
    Arc::new(TableStore {
        table,
        uri,
        known: Mutex::new(BTreeMap::new()),
    })
}

/// No ledger.
pub fn none() -> Arc<dyn LedgerStore> {
    Arc::new(NoStore)
}

#[cfg(test)]
mod tests {
    use super::*;
    use autosub_core::ledger::{LedgerEntry, Origin};
    use autosub_core::{AccountId, Region};

    fn target(region: &str) -> Target {
        Target {
            account: AccountId::new("111122223333"),
            region: Region::new(region),
        }
    }

    fn ledger(stale: u32) -> TargetLedger {
        let entry = LedgerEntry {
            kind: "subscription-filter".into(),
            location: "log-group:/a".into(),
            origin: Origin::Created,
            stale_passes: stale,
            last_seen: Some(1_700_000_000),
        };
        TargetLedger {
            triggers: [("subscription-filter log-group:/a autosub".to_owned(), entry)].into(),
            verified: [(
                "log-group:/a".to_owned(),
                autosub_core::ledger::Verified {
                    want: "fwd \"\"".into(),
                    seen_at: 1_700_000_000,
                },
            )]
            .into(),
            last_pass_at: Some(1_700_000_000),
            sweep: Default::default(),
        }
    }

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir()
            .join(format!("autosub-ledger-test-{}", std::process::id()))
            .join(name)
    }

    #[tokio::test]
    async fn a_file_ledger_round_trips_per_target_and_survives_a_new_process() {
        let path = temp_path("round-trip.json");
        let _ = std::fs::remove_file(&path);
        let store = file(path.clone());
        assert_eq!(
            store.load(&target("us-east-1")).await.unwrap(),
            TargetLedger::default()
        );
        store.save(&target("us-east-1"), &ledger(1)).await.unwrap();
        store.save(&target("eu-west-1"), &ledger(2)).await.unwrap();

        let reopened = file(path.clone());
        assert_eq!(
            reopened.load(&target("us-east-1")).await.unwrap(),
            ledger(1)
        );
        assert_eq!(
            reopened.load(&target("eu-west-1")).await.unwrap(),
            ledger(2)
        );
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(".round-trip.json.") && name.ends_with(".tmp")
            })
            .collect();
        assert!(leftovers.is_empty(), "no temporary file is left behind");
    }

    #[tokio::test]
    async fn a_save_removes_the_temporary_files_killed_saves_left_and_no_other() {
        let path = temp_path("orphans/orphans.json");
        let dir = path.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(&dir).unwrap();
        let hour_ago =
            std::time::SystemTime::now() - ORPHAN_AGE - std::time::Duration::from_secs(1);
        let orphan = dir.join(".orphans.json.4242.tmp");
        let in_flight = dir.join(".orphans.json.4343.tmp");
        let other = dir.join(".other.json.4242.tmp");
        for file in [&orphan, &in_flight, &other] {
            std::fs::write(file, "{").unwrap();
        }
        for file in [&orphan, &other] {
            std::fs::File::options()
                .write(true)
                .open(file)
                .unwrap()
                .set_modified(hour_ago)
                .unwrap();
        }
        file(path)
            .save(&target("us-east-1"), &ledger(1))
            .await
            .unwrap();
        assert!(
            !orphan.exists(),
            "an hour-old temporary file of this ledger is removed"
        );
        assert!(
            in_flight.exists(),
            "a fresh one may be another process's save in flight"
        );
        assert!(
            other.exists(),
            "another ledger's files are not this ledger's to remove"
        );
    }

    #[tokio::test]
    async fn two_stores_on_one_document_keep_each_other_s_targets() {
        let path = temp_path("two-replicas.json");
        let _ = std::fs::remove_file(&path);
        let (a, b) = (file(path.clone()), file(path.clone()));
        // Both load before either saves, as two replicas starting a pass at once.
        a.load(&target("us-east-1")).await.unwrap();
        b.load(&target("eu-west-1")).await.unwrap();
        a.save(&target("us-east-1"), &ledger(1)).await.unwrap();
        b.save(&target("eu-west-1"), &ledger(2)).await.unwrap();
        let fresh = file(path);
        assert_eq!(fresh.load(&target("us-east-1")).await.unwrap(), ledger(1));
        assert_eq!(fresh.load(&target("eu-west-1")).await.unwrap(), ledger(2));
    }

    #[tokio::test]
    async fn a_document_that_cannot_be_read_is_never_overwritten() {
        let path = temp_path("unreadable.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let corrupt = "{\"version\": 1, \"targets\": {\"111122223333/eu-west-1\": ";
        std::fs::write(&path, corrupt).unwrap();
        let store = file(path.clone());
        assert!(store.load(&target("us-east-1")).await.is_err());
        assert!(store.save(&target("us-east-1"), &ledger(1)).await.is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            corrupt,
            "left as it was"
        );
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_that_names_it() {
        let path = temp_path("corrupt.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"version\": 1, \"targets\": ").unwrap();
        let err = file(path.clone())
            .load(&target("us-east-1"))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&path.display().to_string()) && text.contains("fix or remove it"),
            "{text}"
        );
    }
}

//! The durable ledger stores against moto: a save never writes over another process's save
//! that landed between its read and its write (S3's conditional PutObject, DynamoDB's
//! condition expressions).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use autosub_aws::AwsError;
use autosub_aws::ledger_store::{ObjectStore, StoredObject, WriteIf};
use autosub_core::ledger::TargetLedger;
use autosub_core::{AccountId, BucketName, Region};
use autosub_engine::Target;
use autosub_engine::ledger;
use autosub_testkit::estate;

use crate::support::{Moto, REGION};

const BUCKET: &str = "ops-ledger";
const KEY: &str = "autosub/ledger.json";

fn target(account: &str) -> Target {
    Target {
        account: AccountId::new(account),
        region: Region::new(REGION),
    }
}

fn ledger_at(t: u64) -> TargetLedger {
    TargetLedger {
        last_pass_at: Some(t),
        ..TargetLedger::default()
    }
}

/// The production object store, with another replica's save landing right before our first
/// write: between our read and our write, as two replicas racing would.
struct Overtaken {
    inner: Arc<dyn ObjectStore>,
    raw: aws_sdk_s3::Client,
    theirs: Vec<u8>,
    done: AtomicBool,
}

#[async_trait]
impl ObjectStore for Overtaken {
    async fn get(&self) -> Result<Option<StoredObject>, AwsError> {
        self.inner.get().await
    }

    async fn put(&self, body: Vec<u8>, condition: Option<&WriteIf>) -> Result<(), AwsError> {
        if !self.done.swap(true, Ordering::SeqCst) {
            self.raw
                .put_object()
                .bucket(BUCKET)
                .key(KEY)
                .body(self.theirs.clone().into())
                .send()
                .await
                .expect("the other replica's save");
        }
        self.inner.put(body, condition).await
    }
}

#[tokio::test]
async fn an_s3_ledger_save_overtaken_by_another_replica_merges_again_and_keeps_both() {
    let moto = Moto::start().await;
    estate::create_bucket(&moto.cx, BUCKET).await.unwrap();
    let object = moto
        .factory
        .ledger_object(&moto.region, &BucketName::new(BUCKET), KEY);
    let first = ledger::s3(Arc::clone(&object), format!("s3://{BUCKET}/{KEY}"));
    // A document exists (our earlier save): the next write goes If-Match its ETag.
    first
        .save(&target("111111111111"), &ledger_at(1))
        .await
        .unwrap();

    // The other replica saves its own target (keeping ours) right before our next write.
    let theirs = serde_json::json!({
        "version": 1,
        "targets": {
            "111111111111/us-east-1": ledger_at(1),
            "222222222222/us-east-1": ledger_at(7),
        }
    });
    let raced = ledger::s3(
        Arc::new(Overtaken {
            inner: object,
            raw: moto.cx.s3.clone(),
            theirs: serde_json::to_vec(&theirs).unwrap(),
            done: AtomicBool::new(false),
        }),
        format!("s3://{BUCKET}/{KEY}"),
    );
    raced
        .save(&target("111111111111"), &ledger_at(2))
        .await
        .unwrap();

    let fresh = ledger::s3(
        moto.factory
            .ledger_object(&moto.region, &BucketName::new(BUCKET), KEY),
        format!("s3://{BUCKET}/{KEY}"),
    );
    assert_eq!(
        fresh.load(&target("222222222222")).await.unwrap(),
        ledger_at(7),
        "the other replica's record survives"
    );
    assert_eq!(
        fresh.load(&target("111111111111")).await.unwrap(),
        ledger_at(2),
        "ours is saved, merged into theirs"
    );
}

#[tokio::test]
async fn the_first_s3_ledger_save_never_replaces_a_document_created_meanwhile() {
    let moto = Moto::start().await;
    estate::create_bucket(&moto.cx, BUCKET).await.unwrap();
    let theirs = serde_json::json!({
        "version": 1,
        "targets": { "222222222222/us-east-1": ledger_at(7) }
    });
    // Nothing is stored when we read; the other replica creates the document before our
    // write, which therefore goes If-None-Match and merges again.
    let store = ledger::s3(
        Arc::new(Overtaken {
            inner: moto
                .factory
                .ledger_object(&moto.region, &BucketName::new(BUCKET), KEY),
            raw: moto.cx.s3.clone(),
            theirs: serde_json::to_vec(&theirs).unwrap(),
            done: AtomicBool::new(false),
        }),
        format!("s3://{BUCKET}/{KEY}"),
    );
    store
        .save(&target("111111111111"), &ledger_at(3))
        .await
        .unwrap();
    assert_eq!(
        store.load(&target("222222222222")).await.unwrap(),
        ledger_at(7)
    );
    assert_eq!(
        store.load(&target("111111111111")).await.unwrap(),
        ledger_at(3)
    );
}

fn with_stale(stale_passes: u32) -> TargetLedger {
    let entry = autosub_core::ledger::LedgerEntry {
        kind: "subscription-filter".into(),
        location: "log-group:/a".into(),
        origin: autosub_core::ledger::Origin::Created,
        stale_passes,
        last_seen: Some(1),
    };
    TargetLedger {
        triggers: [("subscription-filter log-group:/a autosub".to_owned(), entry)].into(),
        ..TargetLedger::default()
    }
}

#[tokio::test]
async fn a_dynamodb_ledger_never_pushes_a_stale_count_over_another_replica_s_write() {
    let moto = Moto::start().await;
    crate::lease::create_table_named(&moto.server, "autosub-ledger").await;
    let store = || {
        ledger::dynamodb(
            moto.factory.ledger_table(&moto.region, "autosub-ledger"),
            "dynamodb://autosub-ledger".into(),
        )
    };
    let (a, b) = (store(), store());
    let us = target("111111111111");
    a.load(&us).await.unwrap();
    a.save(&us, &with_stale(3)).await.unwrap();

    // Both replicas read 3. A sees the trigger again and resets it to 0; B, from its stale
    // read, would count it stale once more (4): its write is refused, A's 0 stands.
    assert_eq!(b.load(&us).await.unwrap(), with_stale(3));
    assert_eq!(a.load(&us).await.unwrap(), with_stale(3));
    a.save(&us, &with_stale(0)).await.unwrap();
    b.save(&us, &with_stale(4)).await.unwrap();
    assert_eq!(store().load(&us).await.unwrap(), with_stale(0));

    // A deletes the record; B, still on its read, cannot bring it back.
    b.load(&us).await.unwrap();
    a.save(&us, &TargetLedger::default()).await.unwrap();
    b.save(&us, &with_stale(1)).await.unwrap();
    assert_eq!(store().load(&us).await.unwrap(), TargetLedger::default());

    // After a fresh load, B's next save goes through.
    b.load(&us).await.unwrap();
    b.save(&us, &with_stale(1)).await.unwrap();
    assert_eq!(store().load(&us).await.unwrap(), with_stale(1));
}

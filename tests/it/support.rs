//! Shared set-up for the tests that drive the AWS layer against moto: one `moto_server` per test,
//! the production `ClientFactory` pointed at it, and testkit clients for seeding and raw checks.

use std::sync::Once;

use autosub_aws::{AwsSettings, ClientFactory, TargetApis};
use autosub_core::{AccountId, FunctionArn, Region};
use autosub_testkit::estate::{self, FunctionSpec};
use autosub_testkit::{Clients, MOTO_DEFAULT_ACCOUNT, MotoServer};

/// The region every test works in unless it says otherwise.
pub const REGION: &str = "us-east-1";

/// A second region, for cross-region cases.
pub const EU_REGION: &str = "eu-west-1";

/// A fresh moto, the production factory on it, and seeding clients in [`REGION`].
pub struct Moto {
    /// Kept alive for the test; killed on drop.
    pub server: MotoServer,
    /// The production client factory, pointed at `server`.
    pub factory: ClientFactory,
    /// The production capabilities for moto's default account in [`REGION`].
    pub apis: TargetApis,
    /// Raw SDK clients for seeding and direct checks, in [`REGION`].
    pub cx: Clients,
    /// moto's default account.
    pub account: AccountId,
    /// [`REGION`].
    pub region: Region,
}

impl Moto {
    /// Starts moto and builds the factory with one attempt per call.
    pub async fn start() -> Moto {
        Self::with_attempts(1).await
    }

    /// Starts moto and builds the factory with `max_attempts` attempts per call.
    pub async fn with_attempts(max_attempts: u32) -> Moto {
        let server = tokio::task::spawn_blocking(MotoServer::start)
            .await
            .expect("moto start task")
            .expect("start moto_server");
        let factory = factory(&server, max_attempts).await;
        let account = AccountId::new(MOTO_DEFAULT_ACCOUNT);
        let region = Region::new(REGION);
        let apis = factory.apis(&account, &region);
        let cx = Clients::new(&server.sdk_config(REGION), MOTO_DEFAULT_ACCOUNT, REGION);
        Moto {
            server,
            factory,
            apis,
            cx,
            account,
            region,
        }
    }

    /// Seeding clients for the same account in another region.
    pub fn clients_in(&self, region: &str) -> Clients {
        Clients::new(
            &self.server.sdk_config(region),
            MOTO_DEFAULT_ACCOUNT,
            region,
        )
    }

    /// Creates a function called `name` in [`REGION`] (and the role it needs); its ARN.
    pub async fn function(&self, name: &str) -> FunctionArn {
        let role = estate::create_lambda_role(&self.cx, "autosub-it-role")
            .await
            .expect("create role");
        let arn = estate::create_function(&self.cx, &FunctionSpec::new(name, &role))
            .await
            .expect("create function");
        FunctionArn::parse(&arn).expect("function arn")
    }
}

/// The production factory for `server`. The factory only reads the default credential chain, so
/// dummy keys go into the environment once, before the first factory is built.
pub async fn factory(server: &MotoServer, max_attempts: u32) -> ClientFactory {
    dummy_credentials();
    ClientFactory::new(AwsSettings {
        endpoint_url: Some(server.endpoint()),
        max_attempts,
        region: Some(Region::new(REGION)),
        ..AwsSettings::default()
    })
    .await
}

fn dummy_credentials() {
    static CREDENTIALS: Once = Once::new();
    CREDENTIALS.call_once(|| {
        // SAFETY: every test of this binary writes the same two values, once, through std's env
        // lock; nothing in the binary reads the environment outside std (loopback IPs need no
        // resolver).
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        }
    });
}

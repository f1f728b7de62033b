//! Datadog PrivateLink and telemetry: the deploy templates agree with the site table; the
//! doctor's checks against stub DNS answers and real loopback sockets, and against moto; the
//! telemetry against a local UDP socket, a local HTTP stub and moto's Secrets Manager.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use autosub_aws::endpoints::{AwsService, EndpointOrigin, ServiceEndpoint};
use autosub_config::Config;
use autosub_core::datadog::{DatadogService, Site};
use autosub_core::plan::{Action, Change, ChangeReason, Plan, Trigger};
use autosub_core::{Discovery, InvokePermission, Invoker, LogGroupName, Region, SecretArn};
use autosub_engine::internal_events::{METRICS, RunEvents, RunOutcome};
use autosub_engine::reconcile::{FailureReason, RunReport, TargetFailure};
use autosub_engine::{ChangeOutcome, Outcome, PassReport, Target};
use autosub_ops::doctor::{
    Check, Dialer, DoctorCx, Net, Resolver, Status, TcpDialer, account_checks, endpoint_checks,
    privatelink_checks, render_text,
};
use autosub_ops::telemetry::{ApiKey, ApiKeySource, Telemetry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use yaml_rust2::{Yaml, YamlLoader};

use crate::e2e::{autosub_binary, tempdir};
use crate::support::{Moto, REGION};

const FORWARDER_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `logs_user_intake` → `LogsUserIntake`, the templates' mapping key.
fn camel(service: DatadogService) -> String {
    service
        .as_str()
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

type SiteMap = BTreeMap<String, BTreeMap<String, String>>;

/// The table as the templates must hold it: region → key → value.
fn expected(
    value: impl Fn(Site, DatadogService) -> String,
    key: impl Fn(DatadogService) -> String,
) -> SiteMap {
    Site::ALL
        .into_iter()
        .filter_map(|site| site.privatelink_region().map(|r| (site, r)))
        .map(|(site, region)| {
            let row = DatadogService::ALL
                .into_iter()
                .map(|s| (key(s), value(site, s)))
                .collect();
            (region.to_owned(), row)
        })
        .collect()
}

fn yaml_map(doc: &Yaml, path: &[&str]) -> SiteMap {
    let mut node = doc;
    for key in path {
        node = &node[*key];
    }
    let hash = node
        .as_hash()
        .unwrap_or_else(|| panic!("no mapping at {path:?}"));
    hash.iter()
        .map(|(region, row)| {
            let row = row
                .as_hash()
                .expect("a row per region")
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().expect("string key").to_owned(),
                        v.as_str().expect("string value").to_owned(),
                    )
                })
                .collect();
            (region.as_str().expect("region key").to_owned(), row)
        })
        .collect()
}

/// The CloudFormation templates carry `!Ref`-style tags; yaml-rust2 keeps a tagged scalar as a
/// plain string and ignores tags on collections, so the whole template loads and the (untagged)
/// Mappings read as data.
#[test]
fn template_mappings_equal_the_site_table() {
    let ids = expected(
        |site, s| site.privatelink(s).unwrap().endpoint_service_id.to_owned(),
        camel,
    );
    let mut names = expected(
        |site, s| site.privatelink(s).unwrap().private_dns_name,
        camel,
    );
    for (region, row) in &mut names {
        let site = Site::ALL
            .into_iter()
            .find(|s| s.privatelink_region() == Some(region.as_str()))
            .unwrap();
        row.insert("Site".into(), site.name().into());
    }
    for template in ["privatelink.yaml", "privatelink-cross-region.yaml"] {
        let path = root().join("deploy/cloudformation").join(template);
        let text = std::fs::read_to_string(&path).unwrap();
        let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
        assert_eq!(
            yaml_map(doc, &["Mappings", "DatadogEndpointServices"]),
            ids,
            "{template}"
        );
        assert_eq!(
            yaml_map(doc, &["Mappings", "DatadogPrivateDnsNames"]),
            names,
            "{template}"
        );
        for service in DatadogService::ALL {
            let key = camel(service);
            assert!(
                !doc["Parameters"][key.as_str()].is_badvalue(),
                "{template}: a parameter for {service}"
            );
            assert_eq!(
                doc["Resources"][format!("{key}Endpoint").as_str()]["Type"].as_str(),
                Some("AWS::EC2::VPCEndpoint"),
                "{template}: an endpoint for {service}"
            );
        }
    }
}

/// `sites.tf` is `terraform fmt`-formatted HCL holding only literal maps, so a line reader is
/// enough: `"<region>" = {` opens a row, `key = "value"` fills it, `}` closes it. The test fails
/// loudly if the format drifts (every region and service must be found).
fn terraform_map(text: &str, name: &str) -> SiteMap {
    let start = text
        .find(&format!("{name} = {{"))
        .unwrap_or_else(|| panic!("locals.{name} in sites.tf"));
    let row_re = regex::Regex::new(r#"^\s*"([a-z0-9-]+)"\s*=\s*\{\s*$"#).unwrap();
    let entry_re = regex::Regex::new(r#"^\s*([a-z_]+)\s*=\s*"([^"]*)"\s*$"#).unwrap();
    let mut map = SiteMap::new();
    let mut current: Option<String> = None;
    for line in text[start..].lines().skip(1) {
        if let Some(c) = row_re.captures(line) {
            current = Some(c[1].to_owned());
        } else if let Some(c) = entry_re.captures(line) {
            let region = current.clone().expect("an entry inside a region row");
            map.entry(region)
                .or_default()
                .insert(c[1].to_owned(), c[2].to_owned());
        } else if line.trim() == "}" && current.take().is_none() {
            break;
        }
    }
    map
}

#[test]
fn terraform_locals_equal_the_site_table() {
    let text =
        std::fs::read_to_string(root().join("deploy/terraform/privatelink/sites.tf")).unwrap();
    let key = |s: DatadogService| s.as_str().to_owned();
    assert_eq!(
        terraform_map(&text, "endpoint_services"),
        expected(
            |site, s| site.privatelink(s).unwrap().endpoint_service_id.to_owned(),
            key
        )
    );
    assert_eq!(
        terraform_map(&text, "private_dns_names"),
        expected(|site, s| site.privatelink(s).unwrap().private_dns_name, key)
    );
    let variables =
        std::fs::read_to_string(root().join("deploy/terraform/privatelink/variables.tf")).unwrap();
    for s in DatadogService::ALL {
        assert!(
            variables.contains(&format!("\"{s}\"")),
            "variables.tf validates {s}"
        );
    }
}

/// Stub DNS: fixed answers, NXDOMAIN for the rest.
struct StubResolver(HashMap<String, Vec<IpAddr>>);

impl StubResolver {
    fn new(answers: &[(&str, &str)]) -> Self {
        let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (host, ip) in answers {
            map.entry((*host).to_owned())
                .or_default()
                .push(ip.parse().unwrap());
        }
        Self(map)
    }
}

#[async_trait]
impl Resolver for StubResolver {
    async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        self.0
            .get(host)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "nxdomain (stub)"))
    }
}

/// Refuses every connection without sending anything: stands in for unreachable private
/// addresses, which tests never dial for real.
struct RefusingDialer;

#[async_trait]
impl Dialer for RefusingDialer {
    async fn dial(&self, _addr: SocketAddr) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "connection refused (stub)",
        ))
    }
}

/// Dials a loopback address for real, on `port` whatever port was asked for (443 is not ours to
/// listen on).
struct LoopbackDialer {
    port: u16,
}

#[async_trait]
impl Dialer for LoopbackDialer {
    async fn dial(&self, addr: SocketAddr) -> io::Result<()> {
        assert!(
            addr.ip().is_loopback(),
            "tests only dial loopback, not {addr}"
        );
        TcpDialer::default()
            .dial(SocketAddr::new(addr.ip(), self.port))
            .await
    }
}

/// A port on 127.0.0.1 nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

fn privatelink_config(site: &str, cidrs: &str, services: &str) -> Config {
    let text = format!(
        "[forwarders]\nus-east-1 = \"{FORWARDER_ARN}\"\n[datadog]\nsite = \"{site}\"\n[datadog.privatelink]\nenabled = true\nvpc_cidrs = {cidrs}\nservices = {services}\n"
    );
    Config::parse(&text, "t.toml").unwrap()
}

fn one(checks: &[Check], name: &str) -> Check {
    let found: Vec<&Check> = checks.iter().filter(|c| c.name == name).collect();
    assert_eq!(found.len(), 1, "one {name:?} check in {checks:#?}");
    found[0].clone()
}

#[tokio::test]
async fn privatelink_checks_follow_the_guides_troubleshooting() {
    let config = privatelink_config(
        "datadoghq.com",
        r#"["10.0.0.0/16"]"#,
        r#"["logs_user_intake", "api", "metrics", "traces"]"#,
    );
    let resolver = StubResolver::new(&[
        // the private zone is not associated: the public answer leaks through
        ("http-intake.logs.datadoghq.com", "3.233.146.17"),
        // resolves privately but the endpoint does not accept 443
        ("api.datadoghq.com", "10.0.1.5"),
        // resolves to a private address of another VPC
        ("metrics.agent.datadoghq.com", "172.31.4.4"),
        // traces: no answer at all
    ]);
    let net = Net {
        resolver: &resolver,
        dialer: &RefusingDialer,
    };
    let checks = privatelink_checks(&config, net).await;
    assert_eq!(checks.len(), 4, "{checks:#?}");
    assert!(
        checks
            .iter()
            .all(|c| c.status == Status::Fail && c.fix.is_some())
    );

    let logs = one(&checks, "privatelink logs_user_intake");
    assert!(
        logs.detail.contains("resolves to public address 3.233.146.17: the private hosted zone for http-intake.logs.datadoghq.com is not associated with this VPC, or its A record is missing"),
        "{logs:?}"
    );
    assert!(
        logs.fix
            .as_deref()
            .unwrap()
            .contains("privatelink-cross-region.yaml")
    );
    let api = one(&checks, "privatelink api");
    assert!(
        api.detail
            .contains("resolves to 10.0.1.5 inside 10.0.0.0/16, but TCP 443 fails")
            && api
                .detail
                .contains("peering, routing or the security group is the cause"),
        "{api:?}"
    );
    assert!(api.fix.as_deref().unwrap().contains("security group"));
    let metrics = one(&checks, "privatelink metrics");
    assert!(
        metrics
            .detail
            .contains("outside datadog.privatelink.vpc_cidrs (10.0.0.0/16)"),
        "{metrics:?}"
    );
    let traces = one(&checks, "privatelink traces");
    assert!(
        traces
            .detail
            .contains("trace.agent.datadoghq.com does not resolve"),
        "{traces:?}"
    );
}

#[tokio::test]
async fn privatelink_passes_when_the_name_is_private_and_443_answers_and_fails_on_a_real_refusal() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().port();
    // ap2's logs answer for one shared name; the stub zone points it at loopback.
    let config = privatelink_config(
        "ap2",
        r#"["127.0.0.0/8"]"#,
        r#"["logs_user_intake", "api"]"#,
    );
    let resolver = StubResolver::new(&[
        ("gold.intake.ap2.datadoghq.com", "127.0.0.1"),
        ("orchid.intake.ap2.datadoghq.com", "127.0.0.1"),
    ]);
    let dialer = LoopbackDialer { port: open };
    let checks = privatelink_checks(
        &config,
        Net {
            resolver: &resolver,
            dialer: &dialer,
        },
    )
    .await;
    assert!(
        checks.iter().all(|c| c.status == Status::Pass),
        "{checks:#?}"
    );
    let logs = one(&checks, "privatelink logs_user_intake");
    assert_eq!(
        logs.detail,
        "gold.intake.ap2.datadoghq.com resolves to 127.0.0.1 inside 127.0.0.0/8 and accepts TCP 443 (com.amazonaws.vpce.ap-southeast-2.vpce-svc-06460db30a7cfdace)"
    );

    let dialer = LoopbackDialer {
        port: closed_port().await,
    };
    let checks = privatelink_checks(
        &config,
        Net {
            resolver: &resolver,
            dialer: &dialer,
        },
    )
    .await;
    assert!(
        checks.iter().all(|c| c.status == Status::Fail),
        "{checks:#?}"
    );
    assert!(
        checks[0]
            .detail
            .contains("peering, routing or the security group is the cause")
    );
    drop(listener);

    // Off unless enabled.
    let off = Config::parse(
        &format!("[forwarders]\nus-east-1 = \"{FORWARDER_ARN}\"\n"),
        "t.toml",
    )
    .unwrap();
    assert!(
        privatelink_checks(
            &off,
            Net {
                resolver: &resolver,
                dialer: &dialer
            }
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn endpoint_checks_dial_each_endpoint_once_and_name_the_vpc_endpoint_to_create() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let region = Region::new("eu-west-1");
    let endpoint = |service, url: String, origin| ServiceEndpoint {
        service,
        region: region.clone(),
        url,
        origin,
    };
    let endpoints = vec![
        endpoint(
            AwsService::Lambda,
            format!("http://127.0.0.1:{port}"),
            EndpointOrigin::Config,
        ),
        endpoint(
            AwsService::S3,
            format!("http://127.0.0.1:{port}/"),
            EndpointOrigin::Config,
        ),
        endpoint(
            AwsService::Logs,
            "https://logs.eu-west-1.amazonaws.com".into(),
            EndpointOrigin::Default,
        ),
        endpoint(
            AwsService::StepFunctions,
            format!("http://127.0.0.1:{}", closed_port().await),
            EndpointOrigin::Environment,
        ),
    ];
    let resolver = StubResolver::new(&[]);
    let checks = endpoint_checks(
        Net {
            resolver: &resolver,
            dialer: &TcpDialer::default(),
        },
        &endpoints,
    )
    .await;
    let lambda = one(&checks, "endpoint lambda eu-west-1");
    assert_eq!(lambda.status, Status::Pass);
    assert!(
        lambda
            .detail
            .contains("accepts TCP (127.0.0.1, private; aws.endpoint_url)"),
        "{lambda:?}"
    );
    assert_eq!(one(&checks, "endpoint s3 eu-west-1").status, Status::Pass);
    let logs = one(&checks, "endpoint logs eu-west-1");
    assert_eq!(logs.status, Status::Fail);
    assert!(
        logs.detail
            .contains("logs.eu-west-1.amazonaws.com does not resolve"),
        "{logs:?}"
    );
    assert!(
        logs.fix
            .as_deref()
            .unwrap()
            .contains("com.amazonaws.eu-west-1.logs")
            && logs
                .fix
                .as_deref()
                .unwrap()
                .contains("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"),
        "{logs:?}"
    );
    let sfn = one(&checks, "endpoint states eu-west-1");
    assert_eq!(sfn.status, Status::Fail);
    assert!(sfn.detail.contains("but TCP fails"), "{sfn:?}");
    let text = render_text(&checks);
    assert!(
        text.starts_with("PASS  endpoint lambda eu-west-1: 127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.ends_with("doctor: 4 checks, 2 failed, 0 warnings\n"),
        "{text}"
    );
}

fn moto_config(moto: &Moto, extra: &str) -> Config {
    let text = format!(
        "[aws]\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n[forwarders]\nus-east-1 = \"datadog-forwarder\"\n{extra}",
        moto.server.endpoint()
    );
    Config::parse(&text, "t.toml").unwrap()
}

#[tokio::test]
async fn doctor_finds_the_forwarder_and_reads_its_policy_on_moto() {
    let moto = Moto::start().await;
    let resolver = StubResolver::new(&[]);
    let net = Net {
        resolver: &resolver,
        dialer: &RefusingDialer,
    };
    // No forwarder yet, and eu-west-1 has none configured.
    let mut config = moto_config(&moto, "");
    config.aws.regions = vec![REGION.into(), "eu-west-1".into()];
    let cx = DoctorCx {
        config: &config,
        factory: &moto.factory,
        net,
        api_key: Ok(None),
    };
    let (checks, _) = account_checks(&cx).await;
    assert_eq!(one(&checks, "credentials").status, Status::Pass);
    assert!(
        one(&checks, "account")
            .detail
            .contains("the caller's account 123456789012")
    );
    let fwd = one(&checks, "forwarder us-east-1");
    assert_eq!(fwd.status, Status::Fail);
    assert!(fwd.detail.contains("function arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder does not exist"), "{fwd:?}");
    assert!(fwd.fix.as_deref().unwrap().contains("forwarders.us-east-1"));
    assert_eq!(
        one(&checks, "forwarder eu-west-1").status,
        Status::Warn,
        "no forwarder configured there"
    );

    // The forwarder exists without a policy: autosub will add both statements.
    let arn = moto.function("datadog-forwarder").await;
    let (checks, _) = account_checks(&cx).await;
    assert_eq!(one(&checks, "forwarder us-east-1").status, Status::Pass);
    for invoker in ["logs", "s3"] {
        let c = one(&checks, &format!("forwarder us-east-1 allows {invoker}"));
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.detail.contains(&format!(
                "the next reconcile adds statement autosub-{invoker}-123456789012"
            )),
            "{c:?}"
        );
    }

    // With the account-wide statements in place both pass.
    for invoker in [Invoker::Logs, Invoker::S3] {
        let permission =
            InvokePermission::account_wide("autosub-", invoker, &moto.account, &moto.region);
        moto.apis
            .lambda
            .add_permission(&arn, &permission)
            .await
            .unwrap();
    }
    let (checks, _) = account_checks(&cx).await;
    for invoker in ["logs", "s3"] {
        let c = one(&checks, &format!("forwarder us-east-1 allows {invoker}"));
        assert_eq!(c.status, Status::Pass, "{c:?}");
    }

    // A configured account other than the caller's is reached only through a fleet role.
    let mut other = config.clone();
    other.aws.account_id = Some("111122223333".into());
    let cx = DoctorCx {
        config: &other,
        factory: &moto.factory,
        net,
        api_key: Ok(None),
    };
    let (checks, _) = account_checks(&cx).await;
    let account = one(&checks, "account");
    assert_eq!(account.status, Status::Fail);
    assert!(
        account
            .detail
            .contains("the credentials belong to 123456789012"),
        "{account:?}"
    );
    assert!(
        account
            .fix
            .as_deref()
            .unwrap()
            .contains("[[fleet.accounts]]"),
        "{account:?}"
    );
}

fn report(account: &str, region: &str, changes: usize) -> PassReport {
    let change = |i: usize| Change {
        action: Action::Create,
        trigger: Trigger::SubscriptionFilter {
            log_group: LogGroupName::new(format!("/aws/lambda/app-{i}")),
            filter_name: "autosub".into(),
            pattern: String::new(),
            destination: FORWARDER_ARN.into(),
        },
        reason: ChangeReason::NoSource,
        after: None,
    };
    PassReport {
        target: Target {
            account: account.into(),
            region: region.into(),
        },
        discovery: Discovery::default(),
        plan: Plan {
            changes: (0..changes).map(change).collect(),
            ..Plan::default()
        },
        outcomes: None,
        ledger: Default::default(),
        interrupted: false,
        no_forwarder: None,
        audit: Default::default(),
    }
}

/// A one-request-per-connection HTTP/1.1 stub on 127.0.0.1 that records what it got and
/// answers `status`.
struct HttpStub {
    url: String,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl HttpStub {
    async fn start(status: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break (String::new(), String::new());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break (head.to_owned(), body.to_owned());
                        }
                    }
                };
                seen.lock().unwrap().push((head, body));
                let reply =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.requests.lock().unwrap().clone()
    }
}

fn telemetry_config(extra: &str) -> Config {
    Config::parse(
        &format!("[forwarders]\nus-east-1 = \"{FORWARDER_ARN}\"\n[datadog.telemetry]\ntags = [\"env:test\"]\n{extra}"),
        "t.toml",
    )
    .unwrap()
}

/// Log lines written while `f` runs on this thread.
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
    let writer = Arc::clone(&buf);
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || Captured(Arc::clone(&writer)))
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    (buf, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn dogstatsd_metrics_reach_a_local_udp_listener() {
    let moto_free_secrets = NoSecrets;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let config = telemetry_config(&format!("dogstatsd_addr = \"{addr}\"\n"));
    let telemetry = Telemetry::from_config(&config.datadog, None, &moto_free_secrets)
        .await
        .expect("dogstatsd is configured");
    let mut applied = report("123456789012", "us-east-1", 2);
    applied.outcomes = Some(
        applied
            .plan
            .changes
            .iter()
            .map(|change| ChangeOutcome {
                change: change.clone(),
                outcome: Outcome::Applied,
            })
            .collect(),
    );
    let reports = [applied, report("123456789012", "eu-west-1", 0)];
    telemetry
        .send(&reports, &failures(), &run_events(&reports, &failures()))
        .await;

    let want = [
        "autosub.passes:1|c|#outcome:partial,env:test",
        "autosub.changes:2|c|#action:create,kind:subscription-filter,outcome:applied,env:test",
        "autosub.last_pass_targets:2|g|#outcome:reconciled,env:test",
        "autosub.last_pass_sources:0|g|#env:test",
        "autosub.pass_duration_seconds:1.500|h|#env:test",
        "autosub.last_pass_target_failures:1|g|#account:444455556666,reason:assume_role,env:test",
        "autosub.last_pass_target_failures:1|g|#account:333344445555,region:eu-west-1,reason:no_forwarder,env:test",
    ];
    let mut lines: Vec<String> = Vec::new();
    let mut buf = [0u8; 2048];
    while !want.iter().all(|w| lines.iter().any(|l| l == w)) {
        let Ok(received) =
            tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf)).await
        else {
            panic!("no datagram within 5 s; want {want:#?} in {lines:#?}");
        };
        let n = received.unwrap();
        lines.extend(
            String::from_utf8_lossy(&buf[..n])
                .split('\n')
                .map(str::to_owned),
        );
    }
    let vocabulary: Vec<String> = METRICS.iter().map(|m| m.statsd_name()).collect();
    for line in &lines {
        let name = line.split(':').next().unwrap_or_default();
        assert!(
            vocabulary.iter().any(|v| v == name),
            "{line}: every name is the vocabulary's"
        );
    }
}

/// The events of a run of `reports` and `failures` that took 1.5 s.
fn run_events(reports: &[PassReport], failures: &[TargetFailure]) -> RunEvents {
    let run = RunReport {
        passes: reports.to_vec(),
        failures: failures.to_vec(),
        duration: Duration::from_millis(1500),
        ..RunReport::default()
    };
    RunEvents::of(&run, RunOutcome::of(&run), SystemTime::now())
}

/// A denied role (the whole account) and a region with no forwarder.
fn failures() -> Vec<TargetFailure> {
    vec![
        TargetFailure {
            account: "444455556666".into(),
            region: None,
            reason: FailureReason::AssumeRole,
            message: "cannot assume arn:aws:iam::444455556666:role/autosub: AccessDenied".into(),
        },
        TargetFailure {
            account: "333344445555".into(),
            region: Some("eu-west-1".into()),
            reason: FailureReason::NoForwarder,
            message: "no function datadog-forwarder in 333344445555/eu-west-1".into(),
        },
    ]
}

/// Secrets for tests that must not read any.
struct NoSecrets;

#[async_trait]
impl autosub_aws::SecretsApi for NoSecrets {
    async fn secret_string(&self, secret: &SecretArn) -> Result<String, autosub_aws::AwsError> {
        panic!("no secret may be read here, asked for {secret}");
    }
}

#[tokio::test]
async fn one_event_per_pass_with_changes_goes_to_the_api_with_the_key_never_logged() {
    let stub = HttpStub::start("202 Accepted").await;
    let config = telemetry_config(&format!("events = true\napi_url = \"{}\"\n", stub.url));
    let key = ApiKeySource::Env(ApiKey::new("key-from-env-0123456789"));
    let (logs, _guard) = capture_logs();
    let telemetry = Telemetry::from_config(&config.datadog, Some(&key), &NoSecrets)
        .await
        .expect("events are configured");
    assert!(
        !format!("{telemetry:?}").contains("key-from-env"),
        "Debug redacts the key"
    );
    let reports = [
        report("123456789012", "us-east-1", 3),
        report("123456789012", "eu-west-1", 0),
    ];
    telemetry
        .send(
            &reports,
            &failures()[..1],
            &run_events(&reports, &failures()[..1]),
        )
        .await;

    let requests = stub.requests();
    assert_eq!(
        requests.len(),
        2,
        "one for the pass with changes, one for the failure, none for the pass without changes: {requests:#?}"
    );
    let failure: serde_json::Value = serde_json::from_str(&requests[1].1).unwrap();
    assert_eq!(
        failure["title"],
        "autosub: cannot reconcile 444455556666 (every region) (assume_role)"
    );
    assert_eq!(failure["alert_type"], "error");
    assert!(
        failure["text"].as_str().unwrap().contains("AccessDenied"),
        "{failure}"
    );
    assert_eq!(
        failure["tags"],
        serde_json::json!(["account:444455556666", "reason:assume_role", "env:test"])
    );
    let (head, body) = &requests[0];
    assert!(head.starts_with("POST /api/v1/events HTTP/1.1"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("dd-api-key: key-from-env-0123456789"),
        "{head}"
    );
    let event: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        event["title"],
        "autosub: 3 change(s) planned in 123456789012/us-east-1"
    );
    assert_eq!(event["alert_type"], "info");
    assert!(
        event["text"]
            .as_str()
            .unwrap()
            .contains("create subscription-filter log-group:/aws/lambda/app-0")
    );
    assert_eq!(
        event["tags"],
        serde_json::json!(["account:123456789012", "region:us-east-1", "env:test"])
    );

    // Refused by Datadog, and Datadog unreachable: warnings, the pass goes on, the key stays out.
    let refusing = HttpStub::start("403 Forbidden").await;
    let closed = format!("http://127.0.0.1:{}", closed_port().await);
    for url in [refusing.url.clone(), closed] {
        let config = telemetry_config(&format!("events = true\napi_url = \"{url}\"\n"));
        let telemetry = Telemetry::from_config(&config.datadog, Some(&key), &NoSecrets)
            .await
            .unwrap();
        telemetry
            .send(&reports, &[], &run_events(&reports, &[]))
            .await;
    }
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(logs.contains("datadog refused the pass event"), "{logs}");
    assert!(
        logs.contains("cannot post the pass event to datadog"),
        "{logs}"
    );
    assert!(
        !logs.contains("key-from-env"),
        "the key is never logged: {logs}"
    );
}

#[tokio::test]
async fn the_api_key_is_read_from_a_secret_in_its_own_region_on_moto() {
    let moto = Moto::start().await;
    // The secrets live in eu-west-1; the factory's home region is us-east-1.
    let sm = aws_sdk_secretsmanager::Client::new(&moto.server.sdk_config("eu-west-1"));
    let mut arns = Vec::new();
    for (name, value) in [
        ("dd-plain", "plain-key-0123456789\n"),
        (
            "dd-json",
            r#"{"DD_API_KEY": "json-key-0123456789", "other": "x"}"#,
        ),
        ("dd-wrong-json", r#"{"api_key": "nope"}"#),
    ] {
        let out = sm
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
        arns.push(SecretArn::parse(out.arn().unwrap()).unwrap());
    }
    let secrets = moto.factory.secrets();
    let resolve = |arn: &SecretArn| ApiKeySource::Secret(arn.clone());
    assert_eq!(
        resolve(&arns[0]).resolve(secrets.as_ref()).await.unwrap(),
        ApiKey::new("plain-key-0123456789")
    );
    assert_eq!(
        resolve(&arns[1]).resolve(secrets.as_ref()).await.unwrap(),
        ApiKey::new("json-key-0123456789")
    );
    let err = resolve(&arns[2])
        .resolve(secrets.as_ref())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds no datadog api key") && !err.contains("nope"),
        "{err}"
    );
    let missing =
        SecretArn::parse("arn:aws:secretsmanager:eu-west-1:123456789012:secret:absent-AbCdEf")
            .unwrap();
    let err = resolve(&missing)
        .resolve(secrets.as_ref())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("allow secretsmanager:GetSecretValue"), "{err}");

    // End to end: the event carries the key from the JSON secret.
    let stub = HttpStub::start("202 Accepted").await;
    let config = telemetry_config(&format!("events = true\napi_url = \"{}\"\n", stub.url));
    let telemetry =
        Telemetry::from_config(&config.datadog, Some(&resolve(&arns[1])), secrets.as_ref())
            .await
            .unwrap();
    let reports = [report("123456789012", "us-east-1", 1)];
    telemetry
        .send(&reports, &[], &run_events(&reports, &[]))
        .await;
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0]
            .0
            .to_ascii_lowercase()
            .contains("dd-api-key: json-key-0123456789")
    );
}

#[tokio::test]
async fn autosub_doctor_prints_one_line_per_check_and_exits_1_on_a_failure() {
    let moto = Moto::start().await;
    moto.function("datadog-forwarder").await;
    let sm = aws_sdk_secretsmanager::Client::new(&moto.server.sdk_config("eu-west-1"));
    let secret = sm
        .create_secret()
        .name("dd")
        .secret_string("k-0123456789")
        .send()
        .await
        .unwrap();
    let secret_arn = secret.arn().unwrap().to_owned();
    let stub = HttpStub::start("202 Accepted").await;
    let dir = tempdir::Dir::new();
    let config = dir.0.join("autosub.toml");
    let write = |extra: &str| {
        std::fs::write(
            &config,
            format!(
                "[aws]\nregions = [\"us-east-1\"]\n[forwarders]\nus-east-1 = \"datadog-forwarder\"\n[services.cloudfront]\nenabled = false\n[services.wafv2]\nenabled = false\n[datadog.telemetry]\nevents = true\napi_url = \"{}\"\n{extra}",
                stub.url
            ),
        )
        .unwrap();
    };
    let doctor = |env: &[(&str, String)]| {
        let mut cmd = Command::new(autosub_binary());
        cmd.arg("--config")
            .arg(&config)
            .arg("doctor")
            .env("AWS_ENDPOINT_URL", moto.server.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AUTOSUB_LOG", "warn")
            .env_remove("AWS_PROFILE")
            .env_remove("DD_API_KEY")
            .env_remove("DD_API_KEY_SECRET_ARN");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };

    write("");
    let (code, stdout) = doctor(&[("DD_API_KEY_SECRET_ARN", secret_arn.clone())]);
    assert_eq!(code, Some(0), "{stdout}");
    for line in [
        "PASS  credentials: sts:GetCallerIdentity answers: account 123456789012",
        "PASS  forwarder us-east-1: function arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder exists",
        "WARN  forwarder us-east-1 allows logs: ",
        "PASS  endpoint logs us-east-1: 127.0.0.1:",
        "PASS  endpoint secretsmanager eu-west-1: 127.0.0.1:",
        "PASS  telemetry api key: read from secret arn:aws:secretsmanager:eu-west-1:",
        "PASS  telemetry events api: 127.0.0.1:",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(line)),
            "{line:?} in\n{stdout}"
        );
    }
    assert!(!stdout.contains("k-0123456789"), "the key is never printed");
    assert!(
        stub.requests().is_empty(),
        "doctor sends nothing to datadog"
    );

    // A missing forwarder, a dead CloudWatch Logs endpoint override, no API key: exit 1.
    write("");
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap().replace(
            "us-east-1 = \"datadog-forwarder\"",
            "us-east-1 = \"no-such-forwarder\"",
        ),
    )
    .unwrap();
    let dead = format!("http://127.0.0.1:{}", closed_port().await);
    let (code, stdout) = doctor(&[("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", dead)]);
    assert_eq!(code, Some(1), "{stdout}");
    for line in [
        "FAIL  forwarder us-east-1: function arn:aws:lambda:us-east-1:123456789012:function:no-such-forwarder does not exist; fix: deploy the Datadog Forwarder in us-east-1",
        "FAIL  endpoint logs us-east-1: 127.0.0.1:",
        "FAIL  telemetry api key: datadog.telemetry.events is on but neither DD_API_KEY nor DD_API_KEY_SECRET_ARN is set",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(line)),
            "{line:?} in\n{stdout}"
        );
    }
    let logs_line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL  endpoint logs"))
        .unwrap();
    assert!(
        logs_line.contains("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"),
        "{logs_line}"
    );
    assert!(
        stdout.contains("PASS  endpoint lambda us-east-1"),
        "other services keep AWS_ENDPOINT_URL: {stdout}"
    );

    let mut cmd = Command::new(autosub_binary());
    let out = cmd
        .args(["--config"])
        .arg(&config)
        .args(["doctor", "--output", "json"])
        .env("AWS_ENDPOINT_URL", moto.server.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AUTOSUB_LOG", "warn")
        .env("DD_API_KEY", "k-0123456789")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], false);
    let failed: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["forwarder us-east-1"], "{json:#}");
}

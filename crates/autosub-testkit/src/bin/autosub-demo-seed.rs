//! Seeds the autosub demo estate into a running moto_server and prints a one-line summary.

use anyhow::{Context, bail};
use autosub_testkit::{MOTO_DEFAULT_ACCOUNT, sdk_config_for, seed_demo_estate};

const USAGE: &str = "usage: autosub-demo-seed [--endpoint URL] [--account ID]\n\
    seeds the autosub demo estate into the moto_server at URL (default http://127.0.0.1:5000)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut endpoint = "http://127.0.0.1:5000".to_owned();
    let mut account = MOTO_DEFAULT_ACCOUNT.to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--endpoint" => endpoint = value()?,
            "--account" => account = value()?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }

    let sdk = sdk_config_for(&endpoint, "us-east-1");
    let estate = seed_demo_estate(&sdk, &account)
        .await
        .with_context(|| format!("seed demo estate into {endpoint}"))?;
    println!(
        "seeded demo estate into {endpoint}: account {}, {} functions + eu forwarder, {} log groups, \
         {} logged buckets, {} log buckets, forwarders {} and {}",
        estate.account,
        estate.functions.len(),
        estate.log_groups.len() + 1,
        estate.logged_buckets.len(),
        estate.log_buckets.len(),
        estate.forwarder_arn,
        estate.eu_forwarder_arn,
    );
    Ok(())
}

use clap::Parser;

/// Classifies AI chips under U.S. export controls (ECCN 3A090/4A090) and
/// decides licence requirements and review policy, over gRPC.
///
/// Every flag has an environment twin (shown in brackets); unknown
/// CLASSIFIER_* variables are refused.
#[derive(Debug, Parser)]
#[command(name = "classifier-svc", version)]
struct Cli {
    /// How many bytes of answers to remember: the same ClassifyItem request
    /// on the same day is answered from memory, without deciding it again.
    /// 0 remembers nothing.
    #[arg(long, env = "CLASSIFIER_ANSWER_MEMO_BYTES", default_value_t = classifier_svc::grpc::DEFAULT_MEMO_BYTES)]
    answer_memo_bytes: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (cli, flags) = service_kit::config::parse_service::<Cli>("CLASSIFIER_", "127.0.0.1:50051");
    service_kit::logging::run_service("classifier-svc", flags, |flags| run(cli, flags)).await
}

async fn run(
    cli: Cli,
    flags: service_kit::config::ServerFlags,
) -> Result<(), Box<dyn std::error::Error>> {
    // Parse the embedded rule data before accepting traffic, so a broken
    // build fails at start rather than on the first request.
    let rule_sets = classifier_svc::rules::RuleBook::builtin().rule_sets().len();
    let chips = classifier_svc::catalog::Catalog::builtin().chips().len();
    if let Some(addr) = flags.serve_metrics().await? {
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
    }
    // Before serving: a SIGTERM from here on is a graceful stop.
    let stop = service_kit::server::shutdown_signal();
    let listener = flags.bind().await?;
    let server =
        classifier_svc::serve_with_memo(listener, flags.options, cli.answer_memo_bytes).await?;
    tracing::info!(addr = %server.local_addr, rule_sets, chips, "classifier-svc serving");
    stop.await;
    tracing::info!("shutdown requested: reporting NOT_SERVING, then draining");
    server.shutdown().await?;
    tracing::info!("classifier-svc stopped");
    Ok(())
}

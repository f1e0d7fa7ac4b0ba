//! `wasmano serve`: the orchestrator as a service on a data directory (see
//! [`wasmano::server`]). It prints one line with the address it listens on
//! (and, on first start without a token file, the bootstrap admin token,
//! once), serves until SIGTERM or Ctrl-C, then lets running operations
//! finish (bounded) before it exits; the next start recovers the rest.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args as ClapArgs, ValueEnum};
use serde::Deserialize;
use wasmano::data_dir::DataDirError;
use wasmano::placement::{PlacementOptions, PlacementStrategy};
use wasmano::recording::DEFAULT_MAX_CALLS_PER_SERVICE;
use wasmano::server::egress::AddressRange;
use wasmano::server::tls::{TlsFiles, TlsListener};
use wasmano::server::{self, ServeConfig, ServeError};

use wasmano::service::LegacySettings;

use super::broker::BrokerArgs;
use super::catalogue::DataDir;
use super::{Failure, exit, read_config, tls_failure};

/// Arguments of `wasmano serve`. Flags win over the configuration file;
/// list flags add to its lists.
#[derive(Debug, ClapArgs)]
pub struct ServeArgs {
    /// Read the settings below from this YAML file (see the README).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The address to listen on (port 0: any free port, printed at start;
    /// default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    #[command(flatten)]
    data_dir: DataDir,
    /// On first start, the system admin token: read from this file when it
    /// holds one, else generated and written to it (mode 0600). Without
    /// it, a generated token is printed once.
    #[arg(long, value_name = "FILE")]
    bootstrap_token_file: Option<PathBuf>,
    /// The VIMs from this YAML file instead of the embedded ones.
    #[arg(long, value_name = "FILE")]
    vims: Option<PathBuf>,
    /// Run container units on the local Docker daemon (DOCKER_HOST); its
    /// VIMs must be container VIMs (default: one, docker-local).
    #[arg(long)]
    docker: bool,
    /// How the default placement prefers VIMs (default load-balanced).
    #[arg(long, value_enum)]
    placement_strategy: Option<Strategy>,
    /// Never place on this VIM (repeatable).
    #[arg(long = "blacklist", value_name = "VIM")]
    blacklist: Vec<String>,
    /// Always place the NSD's VNF VNF_ID on VIM (repeatable).
    #[arg(long = "fixed", value_name = "VNF_ID=VIM")]
    fixed: Vec<String>,
    /// PEM certificates that `https` callbacks' certificates must chain to,
    /// instead of the public web's roots.
    #[arg(long, value_name = "FILE")]
    callback_ca: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Let callbacks connect to this address range (ADDRESS/PREFIX;
    /// repeatable); by default they connect to public addresses only.
    #[arg(long = "callback-allow", value_name = "CIDR")]
    callback_allow: Vec<AddressRange>,
    #[command(flatten)]
    broker: BrokerArgs,
    /// Publish the lifecycle events (operations, steps, NS instances) on the
    /// broker's son-kernel exchange, as wasmano.lifecycle.<kind>.<NS id>.
    #[arg(long)]
    publish_events: bool,
    /// How many hook calls each service created with recordHookCalls keeps
    /// for `wasmano sm replay`: its newest (default 1000).
    #[arg(long, value_name = "N")]
    max_recorded_calls: Option<usize>,
}

/// The default placement's strategies.
#[derive(Debug, Clone, Copy, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Strategy {
    /// Spread: the VIM with the most free cores first (5GTANGO's default).
    LoadBalanced,
    /// Pack: the VIM with the fewest free cores that still fits first.
    FillFirst,
}

/// The configuration file: the flags' settings, all optional. Relative
/// paths are relative to the file's directory.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    bootstrap_token_file: Option<PathBuf>,
    vims: Option<PathBuf>,
    callback_ca: Option<PathBuf>,
    #[serde(default)]
    callback_allow: Vec<AddressRange>,
    tls: Option<TlsFile>,
    #[serde(default)]
    docker: bool,
    #[serde(default)]
    placement: PlacementFile,
    broker: Option<String>,
    broker_management: Option<String>,
    #[serde(default)]
    publish_events: bool,
    max_recorded_calls: Option<usize>,
}

/// The configuration file's `tls` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert: PathBuf,
    key: PathBuf,
}

/// The configuration file's `placement` block.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementFile {
    strategy: Option<Strategy>,
    #[serde(default)]
    blacklist: Vec<String>,
    /// NSD `vnf_id` to VIM.
    #[serde(default)]
    fixed: BTreeMap<String, String>,
}

impl ConfigFile {
    /// Reads `path`: a missing file is exit 66, anything unusable exit 78,
    /// both naming the file.
    fn read(path: &Path) -> Result<Self, Failure> {
        let mut file: Self = read_config(path, "configuration file")?;
        let base = path.parent().unwrap_or(Path::new("."));
        for relative in [
            &mut file.data_dir,
            &mut file.bootstrap_token_file,
            &mut file.vims,
            &mut file.callback_ca,
        ]
        .into_iter()
        .flatten()
        {
            *relative = base.join(&*relative);
        }
        if let Some(tls) = &mut file.tls {
            tls.cert = base.join(&tls.cert);
            tls.key = base.join(&tls.key);
        }
        Ok(file)
    }
}

impl ServeArgs {
    fn placement(&self, file: &PlacementFile) -> Result<PlacementOptions, Failure> {
        let mut fixed = file.fixed.clone();
        for mapping in &self.fixed {
            let (vnf_id, vim) = mapping
                .split_once('=')
                .filter(|(vnf_id, vim)| !vnf_id.is_empty() && !vim.is_empty())
                .ok_or_else(|| Failure::new(exit::USAGE, format!("--fixed {mapping:?}: expected VNF_ID=VIM")))?;
            fixed.insert(vnf_id.to_owned(), vim.to_owned());
        }
        let strategy = self
            .placement_strategy
            .or(file.strategy)
            .unwrap_or(Strategy::LoadBalanced);
        Ok(PlacementOptions {
            strategy: match strategy {
                Strategy::LoadBalanced => PlacementStrategy::LoadBalanced,
                Strategy::FillFirst => PlacementStrategy::FillFirst,
            },
            fixed,
            blacklist: file.blacklist.iter().chain(&self.blacklist).cloned().collect(),
            ..PlacementOptions::default()
        })
    }
}

pub fn serve(args: ServeArgs) -> Result<ExitCode, Failure> {
    let file = match &args.config {
        Some(path) => ConfigFile::read(path)?,
        None => ConfigFile::default(),
    };
    let data_dir = match &file.data_dir {
        Some(path) if !args.data_dir.is_explicit() => path.clone(),
        _ => args.data_dir.resolve()?,
    };
    let config = ServeConfig {
        data_dir,
        placement: args.placement(&file.placement)?,
        bootstrap_token_file: args.bootstrap_token_file.or(file.bootstrap_token_file),
        vims_file: args.vims.or(file.vims),
        docker: args.docker || file.docker,
        callback_ca: args.callback_ca.or(file.callback_ca),
        callback_allow: file.callback_allow.into_iter().chain(args.callback_allow).collect(),
        legacy: LegacySettings::new(
            args.broker
                .broker((file.broker.as_deref(), file.broker_management.as_deref()))?,
        ),
        publish_events: args.publish_events || file.publish_events,
        max_recorded_calls: args
            .max_recorded_calls
            .or(file.max_recorded_calls)
            .unwrap_or(DEFAULT_MAX_CALLS_PER_SERVICE),
    };
    let tls = match (args.tls_cert, args.tls_key, file.tls) {
        (Some(cert), Some(key), _) => Some(TlsFiles { cert, key }),
        (_, _, Some(TlsFile { cert, key })) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    // Checked before anything starts: a bad file is a refusal, not a
    // server that cannot answer.
    let tls_config = tls
        .as_ref()
        .map(TlsFiles::server_config)
        .transpose()
        .map_err(|error| tls_failure("TLS", &error))?;
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|error| Failure::new(exit::UNAVAILABLE, format!("cannot listen on {listen}: {error}")))?;
        let address = listener
            .local_addr()
            .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
        let shutdown = shutdown_signal()?;
        let opened = server::open(&config).await.map_err(start_failure)?;
        // A token written to its file is not repeated on the terminal. The
        // server serves on when nobody reads its standard output: what it
        // writes there is not checked.
        let mut stdout = std::io::stdout();
        match (&opened.bootstrap_secret, &config.bootstrap_token_file) {
            (Some(secret), None) => {
                let _ = writeln!(stdout, "bootstrap admin token (shown once): {secret}");
            }
            (Some(_), Some(file)) => {
                let _ = writeln!(stdout, "bootstrap admin token written to {}", file.display());
            }
            (None, _) => {}
        }
        let scheme = if tls_config.is_some() { "https" } else { "http" };
        let _ = writeln!(
            stdout,
            "wasmano serving {scheme}://{address} (data directory {}, {} service(s) recovered)",
            config.data_dir.display(),
            opened.recovered
        );
        let served = match tls_config {
            Some(tls) => {
                let listener =
                    TlsListener::new(listener, tls).map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
                server::serve(listener, opened.state, shutdown).await
            }
            None => server::serve(listener, opened.state, shutdown).await,
        };
        served.map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The exit code of a server that could not start.
pub fn start_failure(error: ServeError) -> Failure {
    let code = match error {
        ServeError::Vims(_) | ServeError::CallbackCa { .. } => exit::DATA,
        ServeError::DataDir { .. } | ServeError::Held(DataDirError::Io { .. }) => exit::CANT_CREATE,
        ServeError::Held(DataDirError::InUse { .. }) => exit::CONFLICT,
        ServeError::Infrastructure(_) => exit::UNAVAILABLE,
        ServeError::Host(_) | ServeError::Recovery(_) => exit::SOFTWARE,
    };
    Failure::new(code, error.to_string())
}

/// SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is
/// called, not when the future is first polled: a signal that arrives once
/// the server has said it serves is never the default action (death).
fn shutdown_signal() -> Result<impl Future<Output = ()>, Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind: SignalKind| {
        signal(kind).map_err(|error| Failure::new(exit::SOFTWARE, format!("cannot watch a shutdown signal: {error}")))
    };
    let (mut terminate, mut interrupt) = (install(SignalKind::terminate())?, install(SignalKind::interrupt())?);
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("shutting down: no new requests; running operations may finish");
    })
}

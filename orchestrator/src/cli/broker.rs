//! The broker flags `serve`, `demo` and `sm test` share: where legacy
//! container managers' broker is, and, for development, command lines that
//! stand in for their images.

use std::collections::BTreeMap;

use clap::Args as ClapArgs;
use wasmano::bus::{Broker, DEFAULT_BROKER_URL};
use wasmano::service::LegacySettings;

use super::{Failure, exit};

/// Where legacy managers' broker is.
#[derive(Debug, Clone, ClapArgs)]
pub struct BrokerArgs {
    /// The RabbitMQ broker legacy 5GTANGO managers talk to
    /// (amqp://user:password@host:port; the user must be an administrator:
    /// it creates one vhost per instance). Contacted only when a legacy
    /// manager runs [default: amqp://guest:guest@127.0.0.1:5672].
    #[arg(long, value_name = "URL")]
    pub broker: Option<String>,
    /// The broker's management API [default: http://<broker host>:15672].
    #[arg(long, value_name = "URL")]
    pub broker_management: Option<String>,
}

impl BrokerArgs {
    /// The broker, from the flags, else from `fallback` (a configuration
    /// file's), else the default.
    pub fn broker(&self, fallback: (Option<&str>, Option<&str>)) -> Result<Broker, Failure> {
        let url = self.broker.as_deref().or(fallback.0).unwrap_or(DEFAULT_BROKER_URL);
        let management = self.broker_management.as_deref().or(fallback.1);
        Broker::new(url, management).map_err(|error| Failure::new(exit::USAGE, error.to_string()))
    }
}

/// The settings of legacy managers on `broker`, with `ID=COMMAND`
/// mappings (a manager id or an image reference) standing in for their
/// images.
pub fn legacy_settings(broker: Broker, commands: &[String]) -> Result<LegacySettings, Failure> {
    let mut mapped = BTreeMap::new();
    for mapping in commands {
        let (id, command) = mapping
            .split_once('=')
            .filter(|(id, command)| !id.is_empty() && !command.is_empty())
            .ok_or_else(|| Failure::new(exit::USAGE, format!("--legacy {mapping:?}: expected ID=COMMAND")))?;
        mapped.insert(id.to_owned(), command.to_owned());
    }
    Ok(LegacySettings {
        commands: mapped,
        ..LegacySettings::new(broker)
    })
}

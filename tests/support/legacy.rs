//! Shared by the legacy manager tests: the local broker, the venv's Python
//! and the Python 5GTANGO manager of `tests/legacy/tango_sm.py`. Each fails
//! loudly, saying how to get what is missing.

#![allow(dead_code, reason = "each test binary uses its own part of the support module")]

use std::path::PathBuf;

use wasmano::bus::{Broker, DEFAULT_BROKER_URL, Launcher, LegacySpec};
use wasmano_host::ManagerKind;

use crate::support::workspace_root;

pub const HOW_TO_START: &str = "the legacy manager tests need RabbitMQ with its management plugin on 127.0.0.1 \
     and the venv target/legacy-venv: run `bash -c 'source scripts/common.sh && ensure_rabbitmq && \
     ensure_legacy_python'` as root from the repository (scripts/test.sh does)";

/// The local broker, checked to answer.
pub fn broker() -> Broker {
    let broker = Broker::new(DEFAULT_BROKER_URL, None).expect("the default broker URL parses");
    if let Err(error) = broker.vhost_exists("wasmano-probe") {
        panic!("{error}; {HOW_TO_START}");
    }
    broker
}

/// The venv's Python, with amqpstorm and PyYAML.
pub fn python() -> PathBuf {
    let python = workspace_root().join("target/legacy-venv/bin/python");
    assert!(python.exists(), "{} is missing; {HOW_TO_START}", python.display());
    python
}

/// The Python manager of this kind, id `legacy-<kind>`, misbehaving as told.
pub fn tango_sm(kind: ManagerKind, behaviour: &str) -> LegacySpec {
    let script = workspace_root().join("tests/legacy/tango_sm.py");
    LegacySpec {
        id: format!("legacy-{}", kind.short_name()),
        launcher: Launcher::Command(format!(
            "exec {} {} --type {} --id legacy-{} --behaviour {behaviour}",
            python().display(),
            script.display(),
            kind.short_name(),
            kind.short_name()
        )),
    }
}

/// Builds the legacy manager images once per test process
/// (`tests/legacy/build-image.sh`, a no-op when they are up to date).
pub fn ensure_images() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let output = std::process::Command::new("bash")
            .arg(workspace_root().join("tests/legacy/build-image.sh"))
            .output()
            .unwrap_or_else(|error| panic!("cannot run bash: {error}"));
        assert!(
            output.status.success(),
            "building the legacy manager images failed ({}): {}; {}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            crate::support::DOCKER_HOW_TO_START
        );
    });
}

/// A queue of its own on `son-kernel` in the vhost of `url`, bound to
/// `routing_key`, consumed without acknowledgements: how a test listens
/// to the bus as any component would. Keep the connection while listening.
pub async fn listen(url: &str, routing_key: &str) -> (lapin::Connection, lapin::Consumer) {
    use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;

    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap_or_else(|error| panic!("connecting to {url}: {error}; {HOW_TO_START}"));
    let channel = connection.create_channel().await.expect("a channel");
    wasmano::bus::wire::declare_exchange(&channel)
        .await
        .expect("the exchange");
    let options = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    let queue = channel
        .queue_declare("".into(), options, FieldTable::default())
        .await
        .expect("a queue");
    channel
        .queue_bind(
            queue.name().clone(),
            wasmano::bus::wire::EXCHANGE.into(),
            routing_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("a binding");
    let options = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let consumer = channel
        .basic_consume(queue.name().clone(), "".into(), options, FieldTable::default())
        .await
        .expect("a consumer");
    (connection, consumer)
}

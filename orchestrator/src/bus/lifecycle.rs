//! Lifecycle events on the bus, for components that follow the
//! orchestrator the way SONATA's plugins followed each other: every event
//! of `GET /wasmano/v1/events` (an operation's START and RESULT, each
//! journaled step, an NS instance CREATED or DELETED), its JSON unchanged,
//! published on the `son-kernel` topic exchange of the broker's default
//! vhost with routing key `wasmano.lifecycle.<kind>.<NS instance id>`:
//! `kind` is `lcm_op_occ`, `step`, `ns_instance` or `reset` (the publisher
//! fell behind and events were lost; `-` stands for the NS instance). Bind
//! `wasmano.lifecycle.#` for everything, `wasmano.lifecycle.*.<id>` for one
//! instance.
//!
//! Delivery is at most once: while the broker is unreachable events are
//! dropped (counted in the log), and the publisher reconnects with a
//! backoff.

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::mpsc;

use super::broker::Broker;
use super::wire;

/// The app id lifecycle events are published with.
pub const APP_ID: &str = "wasmano.lifecycle";

/// The routing key of an event.
pub fn topic(kind: &str, ns_instance_id: Option<&str>) -> String {
    format!("wasmano.lifecycle.{kind}.{}", ns_instance_id.unwrap_or("-"))
}

/// One event to publish: its routing key and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleMessage {
    /// `wasmano.lifecycle.<kind>.<NS instance id>`.
    pub topic: String,
    /// The event's JSON.
    pub body: String,
}

/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Publishes every message `messages` yields until it ends.
pub async fn publish(broker: Broker, mut messages: mpsc::Receiver<LifecycleMessage>) {
    let mut backoff = Duration::from_millis(250);
    // The connection is kept with its channel: dropping it closes both.
    let mut channel: Option<(Connection, Channel)> = None;
    let mut dropped = 0_u64;
    while let Some(message) = messages.recv().await {
        if channel
            .as_ref()
            .is_none_or(|(_, channel)| !channel.status().connected())
        {
            channel = match connect(&broker).await {
                Ok(connected) => {
                    if dropped > 0 {
                        tracing::warn!("{dropped} lifecycle event(s) were not published while the broker was away");
                        dropped = 0;
                    }
                    backoff = Duration::from_millis(250);
                    Some(connected)
                }
                Err(error) => {
                    if dropped == 0 {
                        tracing::warn!("cannot publish lifecycle events: {error}");
                    }
                    dropped += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
        }
        let Some((_, open)) = &channel else { continue };
        let sent = open
            .basic_publish(
                wire::EXCHANGE.into(),
                message.topic.as_str().into(),
                BasicPublishOptions::default(),
                message.body.as_bytes(),
                wire::notification_properties(APP_ID),
            )
            .await;
        if sent.is_err() {
            dropped += 1;
            channel = None;
        }
    }
}

async fn connect(broker: &Broker) -> Result<(Connection, Channel), String> {
    let properties = ConnectionProperties::default().with_connection_name(APP_ID.into());
    let connection = Connection::connect(&broker.default_vhost_url(), properties)
        .await
        .map_err(|error| format!("the broker at {}: {error}", broker.address()))?;
    let channel = connection.create_channel().await.map_err(|error| error.to_string())?;
    wire::declare_exchange(&channel)
        .await
        .map_err(|error| error.to_string())?;
    Ok((connection, channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_name_the_kind_and_the_instance() {
        assert_eq!(topic("step", Some("ns1")), "wasmano.lifecycle.step.ns1");
        assert_eq!(topic("reset", None), "wasmano.lifecycle.reset.-");
    }
}

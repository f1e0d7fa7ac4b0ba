//! The 5GTANGO bus conventions (`LEGACY-BUS.md` §1–§2, §5–§6), written once:
//! the exchange and its flags, topic and vhost names, the properties of a
//! request, of a reply and of a notification, how a reply is told apart from
//! a request, the envelope an event travels in, and bodies (sent as JSON,
//! which 5GTANGO's `yaml.load` reads; read as YAML, which its managers
//! `yaml.dump`).

use lapin::options::{
    BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Consumer, ExchangeKind};
use serde_json::{Map, Value};
use wasmano_host::{Event, ManagerKind};

/// The topic exchange every 5GTANGO component uses: non-durable, not
/// auto-deleted (amqpstorm's defaults, which every peer re-declares; other
/// flags get a 406 from the broker).
pub const EXCHANGE: &str = "son-kernel";

/// The topic managers of both kinds register on (the SMR's constant says
/// `ssm` for FSMs too).
pub const REGISTRATION_TOPIC: &str = "specific.manager.registry.ssm.registration";

/// The topic managers announce themselves on after registering.
pub const STATUS_TOPIC: &str = "specific.manager.registry.ssm.status";

/// The registry's app id, as 5GTANGO's SMR named itself.
pub const REGISTRY_APP_ID: &str = "son-plugin.SpecificManagerRegistry";

/// The largest body read from the bus: a reply or a registration.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Declares [`EXCHANGE`] on `channel` with 5GTANGO's flags, as every
/// 5GTANGO component does before it publishes or subscribes.
pub async fn declare_exchange(channel: &Channel) -> Result<(), lapin::Error> {
    channel
        .exchange_declare(
            EXCHANGE.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// A subscription as 5GTANGO's components make one: a queue per
/// subscription bound to the topic, prefetch 100, acknowledged by hand.
pub async fn subscribe(channel: &Channel, topic: &str) -> Result<Consumer, lapin::Error> {
    let queue = queue_name(topic);
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.as_str().into(),
            EXCHANGE.into(),
            topic.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel.basic_qos(100, BasicQosOptions::default()).await?;
    channel
        .basic_consume(
            queue.as_str().into(),
            queue.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// The app id the orchestrator sends events with: the SLM's for SSMs, the
/// FLM's for FSMs.
pub fn caller_app_id(kind: ManagerKind) -> &'static str {
    match kind {
        ManagerKind::Service => "son-plugin.ServiceLifecycleManager",
        ManagerKind::Function => "son-plugin.FunctionLifecycleManager",
    }
}

/// The vhost of one service or function instance, shared by its managers:
/// `ssm-<uuid>` / `fsm-<uuid>`.
pub fn vhost(kind: ManagerKind, instance: &str) -> String {
    format!("{}-{instance}", kind.short_name())
}

/// The topic an instance's events travel on: `generic.ssm.<uuid>` /
/// `generic.fsm.<uuid>`.
pub fn event_topic(kind: ManagerKind, instance: &str) -> String {
    format!("generic.{}.{instance}", kind.short_name())
}

/// A queue for one subscription, named as 5GTANGO's components name theirs.
pub fn queue_name(topic: &str) -> String {
    format!("q.{topic}.{}", uuid::Uuid::new_v4())
}

fn headers(kind: &str) -> FieldTable {
    let mut headers = FieldTable::default();
    headers.insert("key".into(), AMQPValue::LongString("default".into()));
    headers.insert("type".into(), AMQPValue::LongString(kind.into()));
    headers
}

/// A request (`call_async`): reply expected on the same topic, matched by
/// the correlation id.
pub fn request_properties(app_id: &str, topic: &str, correlation_id: &str) -> BasicProperties {
    BasicProperties::default()
        .with_app_id(app_id.into())
        .with_content_type("application/json".into())
        .with_correlation_id(correlation_id.into())
        .with_reply_to(topic.into())
        .with_headers(headers("request"))
}

/// An endpoint's reply (the SMR answering a registration): the request's
/// correlation id, no `reply_to`, headers `{key: '', type: reply}`.
pub fn reply_properties(app_id: &str, correlation_id: Option<&ShortString>) -> BasicProperties {
    let mut headers = headers("reply");
    headers.insert("key".into(), AMQPValue::LongString("".into()));
    let properties = BasicProperties::default()
        .with_app_id(app_id.into())
        .with_content_type("application/json".into())
        .with_headers(headers);
    match correlation_id {
        Some(id) => properties.with_correlation_id(id.clone()),
        None => properties,
    }
}

/// A one-way message (`notify`): no `reply_to`, no correlation id.
pub fn notification_properties(app_id: &str) -> BasicProperties {
    BasicProperties::default()
        .with_app_id(app_id.into())
        .with_content_type("application/json".into())
        .with_headers(headers("request"))
}

/// Whether a message answers a request: it has a correlation id and no
/// `reply_to` (amqpstorm leaves empty properties off the wire; `headers.type`
/// says `request` on managers' replies, so it is not read).
pub fn reply_correlation(properties: &BasicProperties) -> Option<&str> {
    let reply_to_empty = properties.reply_to().as_ref().is_none_or(|to| to.as_str().is_empty());
    properties
        .correlation_id()
        .as_ref()
        .map(ShortString::as_str)
        .filter(|id| reply_to_empty && !id.is_empty())
}

/// The topic a legacy SSM publishes workflow requests on, unasked
/// (5GTANGO's SLM subscribed to it in the service's vhost).
pub fn monitor_topic(service_id: &str) -> String {
    format!("monitor.ssm.{service_id}")
}

/// The message 5GTANGO's SLM/FLM sent for an event, from the content a
/// WebAssembly manager receives: SSM placement and state carry it under
/// `content`, SSM configure, task and monitor flat beside `ssm_type`, every
/// FSM event under `content`.
pub fn envelope(event: Event, content: Value) -> Value {
    let mut message = Map::new();
    let flat = matches!(
        event,
        Event::Ssm(
            tango_model::ssm::SsmEvent::Configure
                | tango_model::ssm::SsmEvent::Task
                | tango_model::ssm::SsmEvent::Monitor
        )
    );
    match (flat, content) {
        (true, Value::Object(fields)) => message.extend(fields),
        (_, content) => {
            message.insert("content".into(), content);
        }
    }
    let type_key = format!("{}_type", event.kind().short_name());
    message.insert(type_key, Value::String(event.name().to_owned()));
    Value::Object(message)
}

/// The inverse of [`envelope`]: a 5GTANGO message's event name
/// (`ssm_type` / `fsm_type`, whatever its type) and its content, which is the
/// mapping under `content` when the message names its event and has one,
/// and the message's other fields otherwise.
pub fn open_envelope(kind: ManagerKind, mut message: Map<String, Value>) -> (Option<Value>, Value) {
    let named = message.remove(&format!("{}_type", kind.short_name()));
    let content = match message.remove("content") {
        Some(content @ Value::Object(_)) if named.is_some() => content,
        Some(other) => {
            message.insert("content".into(), other);
            Value::Object(message)
        }
        None => Value::Object(message),
    };
    (named, content)
}

/// A body to publish: JSON, which every 5GTANGO receiver's `yaml.load`
/// reads.
pub fn encode(body: &Value) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

/// A body received: YAML (PyYAML's block style) or JSON, under the
/// descriptor parser's budgets.
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(format!(
            "a body of {} bytes exceeds the cap of {MAX_BODY_BYTES}",
            bytes.len()
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "the body is not UTF-8".to_owned())?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|error| format!("the body is not YAML: {error}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tango_model::fsm::FsmEvent;
    use tango_model::ssm::SsmEvent;

    use super::*;

    #[test]
    fn names_follow_5gtango() {
        assert_eq!(vhost(ManagerKind::Function, "u1"), "fsm-u1");
        assert_eq!(event_topic(ManagerKind::Service, "u1"), "generic.ssm.u1");
        assert!(queue_name("generic.ssm.u1").starts_with("q.generic.ssm.u1."));
    }

    #[test]
    fn envelopes_have_the_slm_and_flm_shapes() {
        assert_eq!(
            envelope(Event::Ssm(SsmEvent::Task), json!({"schedule": ["a"]})),
            json!({"ssm_type": "task", "schedule": ["a"]})
        );
        assert_eq!(
            envelope(Event::Ssm(SsmEvent::Placement), json!({"nsd": {}})),
            json!({"ssm_type": "placement", "content": {"nsd": {}}})
        );
        assert_eq!(
            envelope(Event::Fsm(FsmEvent::Start), json!({"vnfr": {}})),
            json!({"fsm_type": "start", "content": {"vnfr": {}}})
        );
    }

    #[test]
    fn an_opened_envelope_gives_back_what_was_enveloped() {
        for (event, content) in [
            (
                Event::Ssm(SsmEvent::Configure),
                json!({"workflow": "instantiation", "content": [1]}),
            ),
            (Event::Ssm(SsmEvent::State), json!({"state": {"a": 1}})),
            (Event::Fsm(FsmEvent::Stop), json!({"vnfr": {}})),
        ] {
            let Value::Object(message) = envelope(event, content.clone()) else {
                panic!("an envelope is a mapping")
            };
            assert_eq!(
                open_envelope(event.kind(), message),
                (Some(Value::String(event.name().into())), content)
            );
        }
        let Value::Object(bare) = json!({"content": {"x": 1}}) else {
            unreachable!()
        };
        assert_eq!(
            open_envelope(ManagerKind::Service, bare),
            (None, json!({"content": {"x": 1}}))
        );
    }

    #[test]
    fn a_reply_is_a_correlated_message_without_reply_to() {
        let request = request_properties("slm", "generic.ssm.u", "c1");
        assert_eq!(reply_correlation(&request), None);
        let reply = BasicProperties::default().with_correlation_id("c1".into());
        assert_eq!(reply_correlation(&reply), Some("c1"));
        let empty_reply_to = reply.clone().with_reply_to("".into());
        assert_eq!(reply_correlation(&empty_reply_to), Some("c1"));
        assert_eq!(reply_correlation(&BasicProperties::default()), None);
        assert_eq!(
            reply_correlation(&reply_properties(REGISTRY_APP_ID, Some(&"c2".into()))),
            Some("c2")
        );
    }

    #[test]
    fn bodies_read_pyyaml_block_style_and_json() {
        let pyyaml = b"envs:\n- cdu_id: cdu01-x\n  envs:\n    A: '1'\nerror: None\nstatus: COMPLETED\n";
        assert_eq!(
            decode(pyyaml).unwrap(),
            json!({"envs": [{"cdu_id": "cdu01-x", "envs": {"A": "1"}}], "error": "None", "status": "COMPLETED"})
        );
        assert_eq!(decode(b"null\n...\n").unwrap(), Value::Null);
        assert_eq!(decode(&encode(&json!({"a": [1]}))).unwrap(), json!({"a": [1]}));
        assert!(decode(&vec![b' '; MAX_BODY_BYTES + 1]).is_err());
        assert!(decode(b"a: [").is_err());
    }
}

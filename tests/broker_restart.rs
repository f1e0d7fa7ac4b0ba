//! A broker restart while a legacy manager is answering: the pending call
//! fails at once (not at its deadline) with a fault naming the broker, and
//! once the broker is back the next call for the same instance succeeds,
//! its managers started again (5GTANGO's managers do not reconnect).
//!
//! It restarts the RabbitMQ application (`rabbitmqctl stop_app` /
//! `start_app`: every connection drops, non-durable queues and exchanges
//! go, as in a restart), so it is a test binary of its own: cargo runs test
//! binaries one after another, and no other test sees the broker go away.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;
#[path = "support/legacy.rs"]
mod support_legacy;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tango_model::fsm::FsmEvent;
use wasmano::bus::{LegacyGroup, LegacyManager};
use wasmano_host::{Cause, Event, ManagerKind, Reply, Request, SpecificManager};

use support_legacy::{HOW_TO_START, broker, tango_sm};

fn rabbitmqctl(command: &str) {
    let output = Command::new("rabbitmqctl")
        .arg(command)
        .output()
        .unwrap_or_else(|error| panic!("cannot run rabbitmqctl ({error}); {HOW_TO_START}"));
    assert!(
        output.status.success(),
        "rabbitmqctl {command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_fails_pending_calls_at_once_and_calls_succeed_once_it_is_back() {
    // The manager answers its first call at once and holds every later one
    // for 60 s, so the second call is still pending however long the
    // restart takes to begin (a manager that answered in 3 s sometimes
    // replied before a loaded machine's `rabbitmqctl stop_app` took effect).
    let group = LegacyGroup::new(
        ManagerKind::Function,
        vec![tango_sm(ManagerKind::Function, "stall-after-first")],
        broker(),
        Duration::from_secs(30),
    );
    let deadline = Duration::from_secs(20);
    let manager = Arc::new(LegacyManager::new("legacy-fsm", Arc::clone(&group), deadline));
    let instance = uuid::Uuid::new_v4().to_string();
    let stop = || {
        Request::new(Event::Fsm(FsmEvent::Stop), &json!({"vnfr": {"id": "x"}}))
            .unwrap()
            .for_instance(&instance)
    };
    // Started and answering.
    assert_eq!(manager.invoke(stop()).await.unwrap(), Reply::Stopped);

    let pending = tokio::spawn({
        let manager = Arc::clone(&manager);
        let request = stop();
        async move {
            let sent = Instant::now();
            (manager.invoke(request).await, sent.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restarted = tokio::task::spawn_blocking(|| {
        rabbitmqctl("stop_app");
        let down = Instant::now();
        std::thread::sleep(Duration::from_secs(1));
        rabbitmqctl("start_app");
        rabbitmqctl("await_startup");
        down
    });
    let (outcome, waited) = pending.await.unwrap();
    let cause = outcome.unwrap_err().cause;
    assert!(
        matches!(&cause, Cause::Host(message) if message.contains("the broker at 127.0.0.1:5672")),
        "{cause}"
    );
    assert!(
        waited < deadline,
        "the call failed at once, not at its deadline: {waited:?}"
    );
    restarted.await.unwrap();

    // The broker is back: the instance's managers start again and answer.
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < Duration::from_secs(60) {
        match manager.invoke(stop()).await {
            Ok(reply) => {
                last = Some(Ok(reply));
                break;
            }
            // The management API may answer before AMQP listens again.
            Err(error) => {
                last = Some(Err(error));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    assert_eq!(last.unwrap().unwrap(), Reply::Stopped);
    manager.release(&instance).await.unwrap();
    assert!(group.running().await.is_empty());
}

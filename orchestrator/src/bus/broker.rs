//! The broker legacy managers talk to: where it is, the credentials the
//! orchestrator and the managers use, and the RabbitMQ management API calls
//! the registry needs (`LEGACY-BUS.md` §3): the managers' user, one vhost per
//! instance with its permissions, the bindings that say a manager has
//! subscribed, and the vhost's removal.
//!
//! The management API is plain blocking HTTP (ureq); every call runs off the
//! async workers through [`wasmano_host::run_blocking`].

use std::time::Duration;

use base64::Engine as _;
use lapin::uri::AMQPUri;
use serde_json::{Value, json};
use ureq::Agent;

/// The broker URL used when none is given: the local RabbitMQ with its
/// default credentials, as 5GTANGO's components defaulted to.
pub const DEFAULT_BROKER_URL: &str = "amqp://guest:guest@127.0.0.1:5672";

/// The user 5GTANGO's SMR created for managers, and its password.
pub const MANAGERS_USER: (&str, &str) = ("specific-management", "sonata");

/// Why the broker could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The URL is not an AMQP URL.
    #[error("broker URL {url:?}: {message}")]
    Url {
        /// The URL, without its password.
        url: String,
        /// Why.
        message: String,
    },
    /// The broker (or its management API) did not answer or refused.
    #[error("the broker at {at}: {message}")]
    Unavailable {
        /// Where (host:port, or the management URL).
        at: String,
        /// Why.
        message: String,
    },
}

/// Where the broker is and how to reach it.
#[derive(Debug, Clone)]
pub struct Broker {
    uri: AMQPUri,
    management: String,
    agent: Agent,
}

impl Broker {
    /// A broker from its AMQP URL (`amqp://user:password@host:port`; a vhost
    /// in it is ignored, each instance gets its own) and the base URL of its
    /// management API (default `http://<host>:15672`). The URL's user must be
    /// a RabbitMQ administrator: it creates vhosts and users.
    pub fn new(url: &str, management: Option<&str>) -> Result<Self, BrokerError> {
        let uri: AMQPUri = url.parse().map_err(|message: String| BrokerError::Url {
            url: redacted(url),
            message,
        })?;
        let management = management
            .map(|base| base.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{}:15672", uri.authority.host));
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Ok(Self { uri, management, agent })
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.uri.authority.host, self.uri.authority.port)
    }

    /// The URL the orchestrator connects to an instance's vhost with.
    pub(crate) fn orchestrator_url(&self, vhost: &str) -> String {
        let user = &self.uri.authority.userinfo;
        self.url_for(&user.username, &user.password, vhost)
    }

    /// The URL of the broker's default vhost (`/`), where lifecycle events
    /// are published.
    pub(crate) fn default_vhost_url(&self) -> String {
        let user = &self.uri.authority.userinfo;
        self.url_for(&user.username, &user.password, "%2f")
    }

    /// The `broker_host` a manager of an instance is given: the managers'
    /// user, in the instance's vhost.
    pub fn manager_url(&self, vhost: &str) -> String {
        self.url_for(MANAGERS_USER.0, MANAGERS_USER.1, vhost)
    }

    fn url_for(&self, user: &str, password: &str, vhost: &str) -> String {
        format!(
            "amqp://{user}:{password}@{}:{}/{vhost}",
            self.uri.authority.host, self.uri.authority.port
        )
    }

    /// Creates the managers' user if missing, the vhost, and grants both the
    /// managers and the orchestrator everything in it.
    pub(crate) fn open_vhost(&self, vhost: &str) -> Result<(), BrokerError> {
        check_name(vhost)?;
        self.put(
            &format!("/api/users/{}", MANAGERS_USER.0),
            &json!({"password": MANAGERS_USER.1, "tags": "son-sm"}),
        )?;
        self.put(&format!("/api/vhosts/{vhost}"), &json!({}))?;
        let everything = json!({"configure": ".*", "write": ".*", "read": ".*"});
        for user in [MANAGERS_USER.0, self.uri.authority.userinfo.username.as_str()] {
            self.put(&format!("/api/permissions/{vhost}/{user}"), &everything)?;
        }
        Ok(())
    }

    /// Deletes a vhost with its queues, exchanges and connections (a
    /// 5GTANGO manager exits when its connection closes). A vhost already
    /// gone is not an error.
    pub fn delete_vhost(&self, vhost: &str) -> Result<(), BrokerError> {
        check_name(vhost)?;
        let status = self.send("DELETE", &format!("/api/vhosts/{vhost}"), None)?.0;
        match status {
            200..=299 | 404 => Ok(()),
            other => Err(self.refused(&format!("deleting vhost {vhost}"), other)),
        }
    }

    /// The names of the broker's vhosts.
    pub fn vhosts(&self) -> Result<Vec<String>, BrokerError> {
        let (status, body) = self.send("GET", "/api/vhosts", None)?;
        if status != 200 {
            return Err(self.refused("listing the vhosts", status));
        }
        let vhosts: Value = serde_json::from_str(&body).map_err(|error| self.unavailable(error.to_string()))?;
        Ok(vhosts
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|vhost| vhost["name"].as_str().map(str::to_owned))
            .collect())
    }

    /// Whether the vhost exists.
    pub fn vhost_exists(&self, vhost: &str) -> Result<bool, BrokerError> {
        check_name(vhost)?;
        match self.send("GET", &format!("/api/vhosts/{vhost}"), None)?.0 {
            200 => Ok(true),
            404 => Ok(false),
            other => Err(self.refused(&format!("reading vhost {vhost}"), other)),
        }
    }

    /// The queues bound to `routing_key` on the exchange in `vhost`.
    pub fn bound_queues(&self, vhost: &str, exchange: &str, routing_key: &str) -> Result<Vec<String>, BrokerError> {
        check_name(vhost)?;
        let (status, body) = self.send(
            "GET",
            &format!("/api/exchanges/{vhost}/{exchange}/bindings/source"),
            None,
        )?;
        match status {
            200 => {}
            // The exchange is declared by whoever publishes or subscribes first.
            404 => return Ok(Vec::new()),
            other => return Err(self.refused(&format!("reading the bindings of {vhost}"), other)),
        }
        let bindings: Value = serde_json::from_str(&body).map_err(|error| self.unavailable(error.to_string()))?;
        Ok(bindings
            .as_array()
            .into_iter()
            .flatten()
            .filter(|binding| binding["routing_key"] == routing_key && binding["destination_type"] == "queue")
            .filter_map(|binding| binding["destination"].as_str().map(str::to_owned))
            .collect())
    }

    /// Deletes the queues in `vhost` that nobody consumes (the broker
    /// checks at the moment of deletion), and returns how many there were.
    pub(crate) fn delete_unused_queues(&self, vhost: &str) -> Result<usize, BrokerError> {
        check_name(vhost)?;
        let (status, body) = self.send("GET", &format!("/api/queues/{vhost}?columns=name"), None)?;
        if status != 200 {
            return Err(self.refused(&format!("listing the queues of {vhost}"), status));
        }
        let queues: Value = serde_json::from_str(&body).map_err(|error| self.unavailable(error.to_string()))?;
        let mut deleted = 0;
        for queue in queues.as_array().into_iter().flatten() {
            let Some(name) = queue["name"].as_str() else {
                continue;
            };
            let path = format!("/api/queues/{vhost}/{}?if-unused=true", percent_encoded(name));
            match self.send("DELETE", &path, None)?.0 {
                200..=299 => deleted += 1,
                // 400: it has consumers; 404: it went meanwhile.
                400 | 404 => {}
                other => return Err(self.refused(&format!("deleting queue {name} of {vhost}"), other)),
            }
        }
        Ok(deleted)
    }

    fn put(&self, path: &str, body: &Value) -> Result<(), BrokerError> {
        match self.send("PUT", path, Some(body))?.0 {
            200..=299 => Ok(()),
            other => Err(self.refused(&format!("PUT {path}"), other)),
        }
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, String), BrokerError> {
        let url = format!("{}{path}", self.management);
        let user = &self.uri.authority.userinfo;
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.username, user.password))
        );
        let sent = match (method, body) {
            ("PUT", Some(body)) => self
                .agent
                .put(&url)
                .header("Authorization", &authorization)
                .send_json(body),
            ("DELETE", _) => self.agent.delete(&url).header("Authorization", &authorization).call(),
            _ => self.agent.get(&url).header("Authorization", &authorization).call(),
        };
        let mut response = sent.map_err(|error| self.unavailable(error.to_string()))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((status, text))
    }

    fn refused(&self, what: &str, status: u16) -> BrokerError {
        self.unavailable(format!("{what}: the management API answered {status}"))
    }

    fn unavailable(&self, message: String) -> BrokerError {
        BrokerError::Unavailable {
            at: self.management.clone(),
            message,
        }
    }
}

/// Vhost names go into URL paths unescaped: only the characters of
/// `<kind>-<uuid>` are allowed.
fn check_name(vhost: &str) -> Result<(), BrokerError> {
    if !vhost.is_empty() && vhost.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(BrokerError::Url {
            url: vhost.to_owned(),
            message: "a vhost name has only letters, digits, '-' and '_'".into(),
        })
    }
}

/// `name` with everything but unreserved URL characters percent-encoded, for
/// a path segment.
fn percent_encoded(name: &str) -> String {
    name.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(byte).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A URL with its password replaced, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_put_each_party_in_the_instance_vhost() {
        let broker = Broker::new("amqp://admin:secret@10.0.0.5:5673/%2f", None).unwrap();
        assert_eq!(broker.address(), "10.0.0.5:5673");
        assert_eq!(
            broker.manager_url("ssm-u1"),
            "amqp://specific-management:sonata@10.0.0.5:5673/ssm-u1"
        );
        assert_eq!(
            broker.orchestrator_url("fsm-u1"),
            "amqp://admin:secret@10.0.0.5:5673/fsm-u1"
        );
        assert_eq!(broker.management, "http://10.0.0.5:15672");
    }

    #[test]
    fn a_bad_url_is_refused_without_showing_its_password() {
        let error = Broker::new("http://admin:secret@host", None).unwrap_err().to_string();
        assert!(error.contains("admin:***@host"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn vhost_names_cannot_escape_their_url_path() {
        assert!(check_name("fsm-0b6f-aa").is_ok());
        for bad in ["", "a/b", "..", "a?b", "%2f"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}

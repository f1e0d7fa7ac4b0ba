//! Container images the Docker daemon does not have yet: pulled from their
//! registry before a container is made of them, as 5GTANGO's registry pulled
//! a manager's image (three tries). A private registry is reached with the
//! credentials `docker login` stored for it (`$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`: the `auths` entry of the image's registry);
//! the daemon's own configuration (mirrors, insecure registries) applies as
//! for `docker pull`. Credential helpers (`credsStore`) are not run: their
//! registries are pulled from anonymously.

use std::path::PathBuf;

use base64::Engine as _;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt as _;
use serde_json::Value;

/// How many times a pull is tried, as 5GTANGO's registry did.
const PULL_TRIES: usize = 3;

/// The registry Docker pulls an image without a registry host from.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// Makes sure the daemon has `image`: present already, or pulled now.
pub async fn ensure_image(docker: &Docker, image: &str) -> Result<(), String> {
    match docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
        Err(error) => return Err(format!("inspecting image {image}: {error}")),
    }
    let registry = registry_of(image);
    let credentials = stored_credentials().and_then(|config| credentials_for(&config, &registry));
    let mut last_error = String::new();
    for attempt in 1..=PULL_TRIES {
        match pull(docker, image, credentials.clone()).await {
            Ok(()) => {
                tracing::info!(image, registry = %registry, "pulled");
                return Ok(());
            }
            Err(error) => {
                tracing::warn!(image, attempt, "pulling failed: {error}");
                last_error = error;
            }
        }
    }
    let login = if credentials.is_some() {
        "with the credentials `docker login` stored for it"
    } else {
        "anonymously: no `docker login` credentials are stored for it"
    };
    Err(format!(
        "image {image} is not present on the Docker daemon and could not be pulled from {registry} ({login}) \
         in {PULL_TRIES} tries: {last_error}"
    ))
}

async fn pull(docker: &Docker, image: &str, credentials: Option<DockerCredentials>) -> Result<(), String> {
    let options = CreateImageOptionsBuilder::default().from_image(image).build();
    let mut progress = docker.create_image(Some(options), None, credentials);
    while let Some(step) = progress.next().await {
        step.map_err(|error| error.to_string())?;
    }
    // A pull that ends without an error but without the image (a tag that
    // is not there on some registries) is a failure too.
    docker
        .inspect_image(image)
        .await
        .map(drop)
        .map_err(|error| format!("the pull ended, but the image is not there: {error}"))
}

/// The registry of an image reference, as Docker reads it: the first path
/// component when it names a host (has a `.` or a `:`, or is `localhost`),
/// else Docker Hub.
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.to_owned(),
        _ => DEFAULT_REGISTRY.to_owned(),
    }
}

/// `docker login`'s stored configuration, if there is one.
fn stored_credentials() -> Option<Value> {
    let directory = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))?;
    let path = directory.join("config.json");
    let text = std::fs::read_to_string(&path).ok()?;
    match serde_json::from_str(&text) {
        Ok(config) => Some(config),
        Err(error) => {
            tracing::warn!(path = %path.display(), "not a Docker client configuration: {error}");
            None
        }
    }
}

/// The credentials a Docker client configuration stores for `registry`
/// (`auths.<registry>.auth`, base64 of `user:password`; Docker Hub's entry
/// is keyed by its v1 index URL).
fn credentials_for(config: &Value, registry: &str) -> Option<DockerCredentials> {
    let auths = config.get("auths")?.as_object()?;
    let keys: Vec<String> = if registry == DEFAULT_REGISTRY {
        vec![
            "https://index.docker.io/v1/".into(),
            "index.docker.io".into(),
            registry.into(),
        ]
    } else {
        vec![
            registry.into(),
            format!("https://{registry}"),
            format!("http://{registry}"),
        ]
    };
    let entry = keys.iter().find_map(|key| auths.get(key))?;
    let encoded = entry.get("auth")?.as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let (username, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(DockerCredentials {
        username: Some(username.to_owned()),
        password: Some(password.to_owned()),
        serveraddress: Some(registry.to_owned()),
        ..DockerCredentials::default()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_registry_is_the_first_component_when_it_names_a_host() {
        assert_eq!(registry_of("sonatanfv/tng-ssm-industry-pilot-ns2:latest"), "docker.io");
        assert_eq!(registry_of("ubuntu"), "docker.io");
        assert_eq!(
            registry_of("registry.sonata-nfv.eu:5000/son-ssm:1"),
            "registry.sonata-nfv.eu:5000"
        );
        assert_eq!(registry_of("127.0.0.1:5000/wasmano/fsm:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("localhost/fsm"), "localhost");
    }

    #[test]
    fn stored_credentials_are_found_by_registry() {
        let auth = |pair: &str| base64::engine::general_purpose::STANDARD.encode(pair);
        let config = json!({"auths": {
            "https://index.docker.io/v1/": {"auth": auth("hub:secret")},
            "127.0.0.1:5000": {"auth": auth("operator:pa:ss")},
        }});
        let hub = credentials_for(&config, "docker.io").unwrap();
        assert_eq!(
            (hub.username.as_deref(), hub.password.as_deref()),
            (Some("hub"), Some("secret"))
        );
        let local = credentials_for(&config, "127.0.0.1:5000").unwrap();
        assert_eq!(local.password.as_deref(), Some("pa:ss"), "only the first ':' separates");
        assert_eq!(local.serveraddress.as_deref(), Some("127.0.0.1:5000"));
        assert!(credentials_for(&config, "quay.io").is_none());
        assert!(credentials_for(&json!({"credsStore": "desktop"}), "docker.io").is_none());
    }
}

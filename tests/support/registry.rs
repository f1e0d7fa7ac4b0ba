//! A container registry speaking just enough of the Docker Registry HTTP
//! API v2 for `docker pull`: it serves one image of the local daemon
//! (`docker save`) under another name, as an OCI image manifest, behind
//! HTTP Basic authentication. The daemon pulls from `127.0.0.1:<port>`
//! over plain HTTP, as it does from any loopback registry.

#![allow(dead_code, reason = "each test binary uses its own part of the support module")]

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode, Uri, header};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// A running registry; it stops with the test process.
pub struct TestRegistry {
    /// `127.0.0.1:<port>`: the registry part of the image references.
    pub address: String,
    served: Arc<Served>,
}

struct Served {
    repository: String,
    tag: String,
    authorization: String,
    manifest: Vec<u8>,
    manifest_digest: String,
    blobs: HashMap<String, Vec<u8>>,
    manifests_sent: AtomicUsize,
}

impl TestRegistry {
    /// Serves the local image `source` as `<repository>:<tag>`, to clients
    /// that log in as `user` with `password`.
    pub fn serve(source: &str, repository: &str, tag: &str, (user, password): (&str, &str)) -> Self {
        let (manifest, blobs) = saved_image(source);
        let manifest_digest = digest(&manifest);
        let served = Arc::new(Served {
            repository: repository.to_owned(),
            tag: tag.to_owned(),
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            manifest,
            manifest_digest,
            blobs,
            manifests_sent: AtomicUsize::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let address = listener.local_addr().expect("its address").to_string();
        let app = Router::new().fallback(answer).with_state(Arc::clone(&served));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                axum::serve(listener, app).await.expect("the registry serves");
            });
        });
        Self { address, served }
    }

    /// The full reference of the image it serves.
    pub fn image(&self) -> String {
        format!("{}/{}:{}", self.address, self.served.repository, self.served.tag)
    }

    /// How many times it has sent the image's manifest. (The daemon
    /// fetches only the blobs it lacks: the layer of an image it has under
    /// another name is not sent again.)
    pub fn manifests_sent(&self) -> usize {
        self.served.manifests_sent.load(Ordering::SeqCst)
    }
}

/// The image as an OCI manifest and its blobs by digest, from `docker save`.
fn saved_image(source: &str) -> (Vec<u8>, HashMap<String, Vec<u8>>) {
    let output = std::process::Command::new("docker")
        .args(["save", source])
        .output()
        .expect("docker runs");
    assert!(
        output.status.success(),
        "docker save {source}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut files = HashMap::new();
    let mut archive = tar::Archive::new(output.stdout.as_slice());
    for entry in archive.entries().expect("a tar archive") {
        let mut entry = entry.expect("a tar entry");
        let path = entry.path().expect("a path").to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("its bytes");
        files.insert(path, bytes);
    }
    let saved: Value = serde_json::from_slice(&files["manifest.json"]).expect("docker save's manifest");
    let config = files[saved[0]["Config"].as_str().expect("its config")].clone();
    let layers: Vec<Vec<u8>> = saved[0]["Layers"]
        .as_array()
        .expect("its layers")
        .iter()
        .map(|layer| files[layer.as_str().expect("a layer path")].clone())
        .collect();
    let descriptor =
        |media_type: &str, bytes: &[u8]| json!({"mediaType": media_type, "size": bytes.len(), "digest": digest(bytes)});
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": layers.iter().map(|layer| descriptor("application/vnd.oci.image.layer.v1.tar", layer)).collect::<Vec<_>>(),
    });
    let mut blobs: HashMap<String, Vec<u8>> = layers.into_iter().map(|layer| (digest(&layer), layer)).collect();
    blobs.insert(digest(&config), config);
    (serde_json::to_vec(&manifest).expect("JSON"), blobs)
}

fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|byte| format!("{byte:02x}")).collect::<String>()
    )
}

async fn answer(State(served): State<Arc<Served>>, uri: Uri, headers: HeaderMap) -> Response<Body> {
    let reply = |status: StatusCode| Response::builder().status(status);
    if headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()) != Some(&served.authorization) {
        return reply(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Basic realm=\"wasmano-test\"")
            .header("Docker-Distribution-API-Version", "registry/2.0")
            .body(Body::from(r#"{"errors":[{"code":"UNAUTHORIZED","message":"log in"}]}"#))
            .expect("a response");
    }
    let path = uri.path();
    if path == "/v2/" {
        return reply(StatusCode::OK)
            .header("Docker-Distribution-API-Version", "registry/2.0")
            .body(Body::from("{}"))
            .expect("a response");
    }
    let unknown = |code: &str| {
        reply(StatusCode::NOT_FOUND)
            .body(Body::from(format!(r#"{{"errors":[{{"code":"{code}"}}]}}"#)))
            .expect("a response")
    };
    let Some(rest) = path.strip_prefix("/v2/") else {
        return unknown("NAME_UNKNOWN");
    };
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        if name != served.repository || (reference != served.tag && reference != served.manifest_digest) {
            return unknown("MANIFEST_UNKNOWN");
        }
        served.manifests_sent.fetch_add(1, Ordering::SeqCst);
        return reply(StatusCode::OK)
            .header(header::CONTENT_TYPE, MANIFEST_TYPE)
            .header("Docker-Content-Digest", &served.manifest_digest)
            .body(Body::from(served.manifest.clone()))
            .expect("a response");
    }
    if let Some((name, blob)) = rest.rsplit_once("/blobs/")
        && name == served.repository
        && let Some(bytes) = served.blobs.get(blob)
    {
        return reply(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header("Docker-Content-Digest", blob)
            .body(Body::from(bytes.clone()))
            .expect("a response");
    }
    unknown("BLOB_UNKNOWN")
}

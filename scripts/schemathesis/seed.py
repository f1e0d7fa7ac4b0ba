"""Seeds a fresh `wasmano serve` for scripts/schemathesis.sh and writes the
schemathesis configuration that points the generated requests at what it
made, so that they reach the handlers' logic instead of 404s.

As the bootstrap admin it creates a project and an operator token; as the
operator it onboards the bundled example package (descriptors from
examples-sm/package, modules built from source, digests pinned here),
creates three NS instances: one instantiated, one not, one whose
instantiation, blacklisting every VIM and pausing on failure, waits in
FAILED_TEMP; and subscribes a callback (answered here, on loopback, while
seeding only: later notifications fail and are dropped). The configuration
binds, with a high probability each, path ids to the resources of their
kind, and the body and query fields that name a project, an NSD, an NS
instance, a VNF profile or instance, a VIM, a manager or a module to real
ones; whatever is not bound stays generated. It also has the coverage
phase repeat query parameters.

Usage: seed.py BASE_URL ADMIN_TOKEN_FILE MODULES_DIR WORKSPACE CONFIG_OUT
"""

import hashlib
import http.server
import io
import json
import re
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

# How often a bound field gets a seeded value rather than a generated one.
PROBABILITY = 0.8


def call(base, token, method, path, body=None, content_type="application/json"):
    """One request; answers (status, headers, parsed JSON body or None)."""
    data = None
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, answered, text = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answered, text = error.code, error.headers, error.read()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return status, answered, parsed


def expect(answer, *statuses):
    status, _, body = answer
    if status not in statuses:
        sys.exit(f"seeding: expected {statuses}, got {status}: {body}")
    return answer


def package_archive(workspace, modules_dir):
    """The bundled package as a .tar.gz: its descriptors with every
    `wasm.module` pinned by a `sha256` line, and the modules they name."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:

        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        modules = set()
        for descriptor in sorted((workspace / "examples-sm/package").glob("*.yml")):
            lines = []
            for line in descriptor.read_text().splitlines():
                lines.append(line)
                named = re.match(r'^(\s*)module:\s*"?(modules/[^"\s]+)"?\s*$', line)
                if named:
                    indent, module = named.groups()
                    digest = hashlib.sha256((modules_dir / Path(module).name).read_bytes()).hexdigest()
                    lines.append(f'{indent}sha256: "{digest}"')
                    modules.add(module)
            add(descriptor.name, ("\n".join(lines) + "\n").encode())
        for module in sorted(modules):
            add(module, (modules_dir / Path(module).name).read_bytes())
    return buffer.getvalue()


def wait(base, token, location):
    deadline = time.monotonic() + 120
    while True:
        _, _, operation = expect(call(base, token, "GET", location), 200)
        if operation["operationState"] not in ("PROCESSING", "ROLLING_BACK"):
            return operation
        if time.monotonic() > deadline:
            sys.exit(f"seeding: {location} is still {operation['operationState']}")
        time.sleep(0.05)


class Callback(http.server.BaseHTTPRequestHandler):
    """A subscription's callback: 204 to everything."""

    def do_GET(self):
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def subscribe(base, token):
    """Subscribes a callback on loopback, answered while this runs."""
    callback = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=callback.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{callback.server_address[1]}/notifications"
        _, _, created = expect(call(base, token, "POST", "/nslcm/v1/subscriptions", {"callbackUri": uri}), 201)
    finally:
        callback.shutdown()
    return created["id"]


def toml_string(text):
    return json.dumps(text)


def main():
    base, admin_file, modules_dir, workspace, config_out = sys.argv[1:]
    admin = Path(admin_file).read_text().strip()
    modules_dir, workspace = Path(modules_dir), Path(workspace)

    _, _, project = expect(call(base, admin, "POST", "/admin/v1/projects", {"name": "fuzz"}), 201)
    _, _, token = expect(
        call(base, admin, "POST", "/admin/v1/tokens", {"role": "operator", "projectId": project["id"]}), 201
    )
    operator = token["token"]
    archive = package_archive(workspace, modules_dir)
    _, _, package = expect(call(base, operator, "POST", "/wasmano/v1/packages", archive, "application/gzip"), 201)

    instances = []
    for name in ("running", "spare", "paused"):
        request = {"nsdId": package["nsdId"], "nsName": name}
        _, _, instance = expect(call(base, operator, "POST", "/nslcm/v1/ns_instances", request), 201)
        instances.append(instance["id"])
    _, _, vims = expect(call(base, operator, "GET", "/wasmano/v1/vims"), 200)
    vim_ids = [vim["id"] for vim in vims]

    def instantiate(instance, request, state):
        path = f"/nslcm/v1/ns_instances/{instance}/instantiate"
        _, started, _ = expect(call(base, operator, "POST", path, request), 202)
        operation = wait(base, operator, started["Location"])
        if operation["operationState"] != state:
            sys.exit(f"seeding: an instantiation ended {operation['operationState']}, not {state}")
        return operation["id"]

    operations = [
        instantiate(instances[0], {}, "COMPLETED"),
        instantiate(
            instances[2],
            {"onFailure": "PAUSE", "additionalParamsForNs": {"placement": {"blacklist": vim_ids}}},
            "FAILED_TEMP",
        ),
    ]
    _, _, instance = expect(call(base, operator, "GET", f"/nslcm/v1/ns_instances/{instances[0]}"), 200)
    _, _, managers = expect(call(base, operator, "GET", f"/nslcm/v1/ns_instances/{instances[0]}/managers"), 200)
    subscription = subscribe(base, operator)

    dictionaries = {
        "projects": [project["id"]],
        "tokens": [token["id"]],
        "packages": [package["id"]],
        "nsds": [package["nsdId"]],
        "instances": instances,
        "operations": operations,
        "subscriptions": [subscription],
        "profiles": sorted({vnf["vnfProfileId"] for vnf in instance["vnfInstance"]}),
        "vnfs": [vnf["id"] for vnf in instance["vnfInstance"]],
        "vims": vim_ids,
        "managers": sorted({manager["managerId"] for manager in managers}),
        "modules": sorted({module["sha256"] for module in package["modules"]}),
    }
    # Path ids by the resource the path names.
    paths = {
        r"^/admin/v1/projects/": "projects",
        r"^/admin/v1/tokens/": "tokens",
        r"^/wasmano/v1/packages/": "packages",
        r"^/nslcm/v1/ns_instances/": "instances",
        r"^/nslcm/v1/ns_lcm_op_occs/": "operations",
        r"^/nslcm/v1/subscriptions/": "subscriptions",
    }
    # Fields named anywhere, by what they name.
    fields = {
        "query.projectId": "projects",
        "body.projectId": "projects",
        "query.nsdId": "nsds",
        "body.nsdId": "nsds",
        "query.nsInstanceId": "instances",
        "body.vnfInstanceId": "vnfs",
        "body.targetVimId": "vims",
        "body.scaleNsData.vnfInstanceToBeAdded[*].vnfProfileId": "profiles",
        "body.scaleNsData.vnfInstanceToBeRemoved[*]": "vnfs",
        "body.changeManagerData.managerId": "managers",
        "body.changeManagerData.vnfProfileId": "profiles",
        "body.changeManagerData.moduleSha256": "modules",
    }

    def binding(dictionary):
        return f"{{ dictionary = {toml_string(dictionary)}, probability = {PROBABILITY} }}"

    lines = ["# Written by scripts/schemathesis/seed.py for one run.", ""]
    lines.append("[phases.coverage]")
    lines.append("generate-duplicate-query-parameters = true")
    lines.append("")
    for name, values in dictionaries.items():
        lines.append(f"[dictionaries.{name}]")
        lines.append(f"values = [{', '.join(toml_string(value) for value in values)}]")
        lines.append("")
    lines.append("[parameters]")
    for field, dictionary in fields.items():
        lines.append(f"{toml_string(field)} = {binding(dictionary)}")
    lines.append("")
    for pattern, dictionary in paths.items():
        lines.append("[[operations]]")
        lines.append(f"include-path-regex = {toml_string(pattern)}")
        lines.append(f'parameters = {{ "path.id" = {binding(dictionary)} }}')
        lines.append("")
    Path(config_out).write_text("\n".join(lines))
    print(
        f"seeded project {project['id']}, package {package['id']}, NS instances {', '.join(instances)}, "
        f"operations {', '.join(operations)}, subscription {subscription}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()

"""Secrets: credentials never appear in output or plan files, never follow a redirect to another host,
and TLS certificates are verified unless the user says otherwise.

Extends test_server_errors.py::test_credentials_never_appear_in_any_output (one emulator, Basic auth, the
main commands) with a Bearer token, the error paths, a saved plan applied and refused, flags and .env as
sources, `watch` in a subprocess, and the encoded forms of the secrets (a leaked Authorization header).
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import queue
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from support import Probe, Recorder, child_env, flow_yaml, free_port, run
from kestrasync.cli import main
from kestrasync.emulator import EmulatorConfig, EmulatorServer

USER = "ci@example.com"
PASSWORD = "Pa55-SECRET-w0rd"
TOKEN = "tok-SECRET-0123456789abcdef"
WRONG_PASSWORD = "Wr0ng-SECRET-pass"
WRONG_TOKEN = "tok-WRONG-SECRET-fedcba"
SECRETS = (PASSWORD, TOKEN, WRONG_PASSWORD, WRONG_TOKEN)


def encoded(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# Anything that would show a secret: itself, or inside a Basic Authorization header.
LEAKS = (*SECRETS, encoded(USER, PASSWORD), encoded(USER, WRONG_PASSWORD))


def leaked(text: str) -> list[str]:
    return [secret for secret in LEAKS if secret in text]





@pytest.fixture(scope="module")
def kestra():
    """An emulator with a known password and a known Bearer token (both accepted)."""
    with EmulatorServer(EmulatorConfig(username=USER, password=PASSWORD, token=TOKEN)) as emulator:
        yield emulator


@pytest.fixture
def secure_repo(repo, kestra):
    """The repository, one retry only (the unreachable-server paths stay quick), and an emptied emulator."""
    repo.config("server:\n  retries: 1\nflows:\n  paths: [flows]\nnamespaces: [company]\n")
    kestra.reset()
    return repo


def watch_output(repo_root: Path, env: dict[str, str], edit: Path | None, timeout: float = 15.0) -> str:
    """Everything `kestra-sync watch` prints while it syncs, sees one edit of `edit`, and is stopped
    with SIGINT (or, when it fails at start, until it exits by itself)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kestrasync", "watch"],
        cwd=repo_root, env=child_env(env=env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    seen: list[str] = []

    def wait_for(text: str) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=0.1))
            except queue.Empty:
                if process.poll() is not None:
                    return False
                continue
            if text in seen[-1]:
                return True
        return False

    try:
        if wait_for("Watching ") and edit is not None:
            edit.write_text(edit.read_text().replace("message: hello", "message: edited in watch"))
            assert wait_for(f"updated company/{edit.stem}"), "".join(seen)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    time.sleep(0.1)  # the reader thread drains what is left
    while not lines.empty():
        seen.append(lines.get())
    return "".join(seen)


# ---------------------------------------------------------------------------------------------
# 1. No command prints or saves a credential


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_no_command_prints_or_saves_a_credential(secure_repo, kestra, auth):
    repo = secure_repo
    good = {"KESTRA_URL": kestra.url}
    good.update({"KESTRA_USERNAME": USER, "KESTRA_PASSWORD": PASSWORD} if auth == "basic" else {"KESTRA_API_TOKEN": TOKEN})
    wrong = {**good, "KESTRA_PASSWORD": WRONG_PASSWORD} if auth == "basic" else {**good, "KESTRA_API_TOKEN": WRONG_TOKEN}
    unreachable = {**good, "KESTRA_URL": f"http://127.0.0.1:{free_port()}"}
    probe = Probe(kestra.url, (USER, PASSWORD))
    probe.create(flow_yaml("company", "keep", message="old"))
    probe.create(flow_yaml("company", "orphan"))
    repo.write("flows/keep.yml", flow_yaml("company", "keep"))
    repo.write("flows/a.yml", flow_yaml("company", "a"))

    outputs: list[tuple[str, str]] = []  # (what ran, what it printed or saved)

    def check(expected_code: int, *args: str, env: dict[str, str], says: str = "") -> None:
        result = run(*args, env=env)
        label = " ".join(args)
        assert result.exit_code == expected_code, (label, result.output)
        assert says in result.output and "Traceback" not in result.output, (label, result.output)
        outputs.append((label, result.stdout + result.stderr))

    check(0, "plan", env=good)
    check(0, "plan", "--format", "json", env=good)
    check(0, "plan", "--format", "markdown", "--diff", env=good)
    check(0, "plan", "--prune", "--out", "pruned.json", env=good)
    check(2, "diff", env=good)
    check(0, "validate", env=good)
    check(0, "apply", "--auto-approve", "--format", "json", env=good)
    repo.write("flows/keep.yml", flow_yaml("company", "keep", message="v2"))
    check(0, "plan", "--out", "saved.json", env=good)
    check(0, "apply", "saved.json", env=good)

    # Error paths: stale plans, the server's 422 (in validation and on a write), wrong credentials, no server.
    repo.write("flows/keep.yml", flow_yaml("company", "keep", message="v3"))
    check(1, "apply", "pruned.json", "--format", "json", env=good, says="The plan is stale")  # made before the apply
    check(0, "plan", "--out", "stale.json", env=good)
    probe.update("company", "keep", flow_yaml("company", "keep", message="edited in the UI"))
    check(1, "apply", "stale.json", env=good, says="The plan is stale")
    repo.write("flows/bad.yml", flow_yaml("company", "bad", extra="labels:\n  system.team: data\n"))
    check(1, "plan", env=good, says="The server refused 1 flow(s) in validation")
    check(1, "plan", "--format", "json", env=good, says="System labels")
    check(0, "plan", "--no-validate", "--out", "refused.json", env=good)
    check(1, "apply", "refused.json", env=good, says="answered 422")
    (repo.root / "flows/bad.yml").unlink()
    for env, says in ((wrong, "401 Unauthorized"), (unreachable, "Cannot reach the Kestra server")):
        check(1, "plan", env=env, says=says)
        check(1, "plan", "--format", "json", env=env, says=says)
        check(1, "diff", env=env, says=says)
        check(1, "validate", env=env, says=says)  # no server: an error (--offline makes the local checks only)
        check(1, "apply", "--auto-approve", env=env, says=says)
        check(1, "apply", "saved.json", env=env, says=says)

    # Credentials given as flags, or in a .env file, are as secret as in the environment.
    if auth == "basic":
        check(0, "plan", "--username", USER, "--password", PASSWORD, env={"KESTRA_URL": kestra.url})
        check(1, "plan", "--username", USER, "--password", WRONG_PASSWORD, env={"KESTRA_URL": kestra.url}, says="401")
        (repo.root / ".env").write_text(f"KESTRA_USERNAME={USER}\nKESTRA_PASSWORD='{PASSWORD}'\n")
    else:
        check(0, "plan", "--token", TOKEN, env={"KESTRA_URL": kestra.url})
        check(1, "plan", "--token", WRONG_TOKEN, env={"KESTRA_URL": kestra.url}, says="401")
        (repo.root / ".env").write_text(f"KESTRA_API_TOKEN={TOKEN}\n")
    check(0, "plan", "--format", "json", env={"KESTRA_URL": kestra.url})
    check(1, "plan", env={"KESTRA_URL": f"http://127.0.0.1:{free_port()}"}, says="Cannot reach")
    (repo.root / ".env").unlink()

    # watch, in its own process: a sync, an edit, Ctrl-C; then with wrong credentials.
    outputs.append(("watch", watch_output(repo.root, good, edit=repo.root / "flows/a.yml")))
    outputs.append(("watch (wrong credentials)", watch_output(repo.root, wrong, edit=None)))
    assert "401 Unauthorized" in outputs[-1][1], outputs[-1][1]

    for name in ("pruned.json", "saved.json", "stale.json", "refused.json"):
        outputs.append((name, (repo.root / name).read_text()))
    assert {label: leaked(text) for label, text in outputs if leaked(text)} == {}


# ---------------------------------------------------------------------------------------------
# 2. Plan files


def test_plan_files_are_private_and_hold_no_credentials(secure_repo, kestra):
    repo = secure_repo
    env = {"KESTRA_URL": kestra.url, "KESTRA_USERNAME": USER, "KESTRA_PASSWORD": PASSWORD}
    repo.write("flows/a.yml", flow_yaml("company", "a"))
    plan_file = repo.root / "plan.json"
    plan_file.write_text("{}")
    plan_file.chmod(0o644)
    previous = os.umask(0)  # even with a permissive umask
    try:
        assert run("plan", "--out", "plan.json", env=env).exit_code == 0
        assert run("plan", "--out", "new.json", env=env).exit_code == 0
    finally:
        os.umask(previous)
    for path in (plan_file, repo.root / "new.json"):
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        text = path.read_text()
        assert leaked(text) == [] and USER not in text
        assert json.loads(text)["server"] == kestra.url

    # A URL holding credentials is refused before anything is written, without echoing them.
    host = kestra.url.removeprefix("http://")
    for url in (f"http://{USER}:{PASSWORD}@{host}", f"http://:{TOKEN}@{host}"):
        result = run("plan", "--out", "userinfo.json", env={"KESTRA_URL": url})
        assert result.exit_code == 1
        assert "the server URL must not hold credentials" in result.stderr
        assert leaked(result.output) == []
        assert not (repo.root / "userinfo.json").exists()

    # A plan that fails leaves neither a plan file nor a temporary file behind.
    before = sorted(p.name for p in repo.root.iterdir())
    result = run("plan", "--out", "failed.json", env={**env, "KESTRA_PASSWORD": WRONG_PASSWORD})
    assert result.exit_code == 1 and "401 Unauthorized" in result.stderr
    assert sorted(p.name for p in repo.root.iterdir()) == before


# ---------------------------------------------------------------------------------------------
# 3. Redirects


def answer_status(status: int, headers: dict[str, str] | None = None):
    def answer(handler):
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def redirect_to(base: str, status: int):
    def answer(handler):
        handler.send_response(status)
        handler.send_header("Location", base + handler.path)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


CREDENTIALS = {
    "basic": {"KESTRA_USERNAME": USER, "KESTRA_PASSWORD": PASSWORD},
    "token": {"KESTRA_API_TOKEN": TOKEN},
}


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("auth", ["basic", "token"])
def test_credentials_are_not_sent_to_another_host_on_a_redirect(secure_repo, status, auth):
    secure_repo.write("flows/a.yml", flow_yaml("company", "a"))
    # The target answers as Kestra does to a request without credentials.
    with Recorder("localhost", answer_status(401, {"WWW-Authenticate": "Basic"})) as target, Recorder(
        "127.0.0.1", answer_status(500)
    ) as first:
        first.answer = redirect_to(f"http://localhost:{target.port}", status)
        url = f"http://127.0.0.1:{first.port}"
        result = run("plan", env={"KESTRA_URL": url, **CREDENTIALS[auth]})
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [verdict] = result.stderr.splitlines()  # one sentence
    assert verdict.startswith("Error: ") and verdict.endswith("."), verdict
    assert first.requests, "the plan never reached the redirecting server"
    assert all("authorization" in r["headers"] for r in first.requests)  # the configured server gets them
    assert [r["headers"].get("authorization") for r in target.requests] == [None] * len(target.requests)
    assert leaked(json.dumps(target.requests)) == []


def test_a_redirect_to_another_host_is_named_in_the_error(secure_repo):
    secure_repo.write("flows/a.yml", flow_yaml("company", "a"))
    with Recorder("localhost", answer_status(401)) as target, Recorder("127.0.0.1", answer_status(500)) as first:
        first.answer = redirect_to(f"http://localhost:{target.port}", 302)
        result = run("plan", env={"KESTRA_URL": f"http://127.0.0.1:{first.port}", **CREDENTIALS["basic"]})
    assert result.exit_code == 1
    assert "redirect" in result.stderr and f"localhost:{target.port}" in result.stderr, result.stderr


def test_a_redirect_loop_is_one_sentence(secure_repo):
    secure_repo.write("flows/a.yml", flow_yaml("company", "a"))
    with Recorder("127.0.0.1", answer_status(500)) as loop:
        loop.answer = redirect_to(f"http://127.0.0.1:{loop.port}", 302)
        result = CliRunner().invoke(main, ["plan"], env={"KESTRA_URL": f"http://127.0.0.1:{loop.port}", **CREDENTIALS["basic"]})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    [verdict] = result.stderr.splitlines()
    assert "redirect" in verdict, verdict


# ---------------------------------------------------------------------------------------------
# 4. TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (cert.pem, key.pem)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    if shutil.which("openssl"):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
        return cert, key
    try:
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
    except ImportError:
        pytest.skip("neither the openssl command nor the cryptography package is available")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    built = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    return cert, key


class TlsServer(http.server.ThreadingHTTPServer):
    """HTTPS on 127.0.0.1 answering 401 to everything; counts the TCP connections it accepts."""

    daemon_threads = True

    def __init__(self, cert: Path, key: Path):
        super().__init__(("127.0.0.1", 0), _Unauthorized)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.connections = 0
        self.url = f"https://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def get_request(self):
        sock, address = self.socket.accept()
        self.connections += 1
        return self.context.wrap_socket(sock, server_side=True), address  # a failed handshake is dropped

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(401)
        self.send_header("WWW-Authenticate", "Basic")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


def test_tls_certificates_are_verified_unless_told_otherwise(secure_repo, certificate):
    cert, key = certificate
    secure_repo.write("flows/a.yml", flow_yaml("company", "a"))
    refused = f"refused user '{USER}' (Basic, from KESTRA_USERNAME and KESTRA_PASSWORD (the environment)) (401 Unauthorized)"
    with TlsServer(cert, key) as tls:
        env = {"KESTRA_URL": tls.url, **CREDENTIALS["basic"]}

        by_default = run("plan", env=env)
        assert by_default.exit_code == 1
        [verdict] = by_default.stderr.splitlines()
        assert "certificate" in verdict and tls.url in verdict, verdict
        assert refused not in by_default.stderr and "Traceback" not in by_default.output

        trusted = run("plan", "--ca-cert", str(cert), env=env)
        assert trusted.exit_code == 1
        [verdict] = trusted.stderr.splitlines()  # the handshake passed: the 401 is the answer
        assert verdict.startswith(f"Error: The Kestra server at {tls.url}") and refused in verdict, verdict

        insecure = run("plan", "--insecure", env=env)
        assert insecure.exit_code == 1
        warning, verdict = insecure.stderr.splitlines()
        assert "TLS certificates are not verified" in warning and not warning.startswith("Error")
        assert verdict == trusted.stderr.splitlines()[0]
        assert leaked(by_default.output + trusted.output + insecure.output) == []


def test_an_untrusted_certificate_is_reported_at_once_with_the_remedy(secure_repo, certificate):
    secure_repo.write("flows/a.yml", flow_yaml("company", "a"))
    with TlsServer(*certificate) as tls:
        result = run("plan", env={"KESTRA_URL": tls.url, **CREDENTIALS["basic"]})
        connections = tls.connections
    assert result.exit_code == 1
    # Not retried: another try cannot change the certificate. Two at once: the server's version is
    # asked while the flows are read.
    assert connections == 2, f"{connections} TLS handshakes"
    assert "--ca-cert" in result.stderr, result.stderr


def test_verification_turned_off_in_the_config_file_also_warns(secure_repo, certificate):
    secure_repo.config("server:\n  retries: 1\n  verify_tls: false\nflows:\n  paths: [flows]\nnamespaces: [company]\n")
    secure_repo.write("flows/a.yml", flow_yaml("company", "a"))
    with TlsServer(*certificate) as tls:
        result = run("plan", env={"KESTRA_URL": tls.url, **CREDENTIALS["basic"]})
    assert result.exit_code == 1 and "401 Unauthorized" in result.stderr  # verification is off indeed
    assert "Warning: TLS certificates are not verified (server.verify_tls: false)." in result.stderr.splitlines()

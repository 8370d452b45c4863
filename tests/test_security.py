"""Security promises: the key (keyring source, never shown), TLS always verified with a
custom CA through SSL_CERT_FILE, no shell anywhere in the package, and the suite-wide
key check itself.

Subprocess runs reach a test keyring through PYTHON_KEYRING_BACKEND, which keyring
resolves by importing `tests.test_security.FileKeyring` (this module, on PYTHONPATH).
"""

from __future__ import annotations

import ast
import datetime
import io
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import pytest

import voicebot
from tests.fakegroq import TEST_API_KEY, FakeGroq
from voicebot.config import keystore
from voicebot.config.loading import describe, load_settings
from voicebot.config.schema import Secret
from voicebot.desktop.clipboard import copy_to_clipboard
from voicebot.errors import UsageError

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
STORE_VAR = "VOICEBOT_TEST_KEYRING"


class FileKeyring(keyring.backend.KeyringBackend):
    """A keyring in a JSON file named by $VOICEBOT_TEST_KEYRING, for subprocess runs."""

    priority = 1  # type: ignore[assignment]
    name = "test file keyring"

    def _load(self) -> dict[str, str]:
        path = Path(os.environ[STORE_VAR])
        return json.loads(path.read_text()) if path.exists() else {}

    def _save(self, data: dict[str, str]) -> None:
        Path(os.environ[STORE_VAR]).write_text(json.dumps(data))

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self._save(self._load() | {f"{service}/{username}": password})

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise keyring.errors.PasswordDeleteError("not there")
        self._save(data)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An in-process keyring; `broken` makes every call fail like a locked Secret Service."""

    priority = 1  # type: ignore[assignment]
    name = "test memory keyring"

    def __init__(self, broken: bool = False) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}
        self.broken = broken

    def _check(self) -> None:
        if self.broken:
            raise keyring.errors.KeyringLocked("collection is locked")

    def get_password(self, service: str, username: str) -> str | None:
        self._check()
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check()
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._check()
        if self.store.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not there")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def fail_keyring() -> Iterator[None]:
    import keyring.backends.fail

    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def run(args: list[str], fake: FakeGroq, home: Path, *, env: dict[str, str] | None = None,
        stdin: str | None = None, key_in_env: bool = False) -> subprocess.CompletedProcess[str]:
    """The installed command with the file keyring; no traceback and no key in its output."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"), "GROQ_BASE_URL": fake.host_url, "LANG": "C.UTF-8",
            "PYTHONPATH": str(REPO), "PYTHON_KEYRING_BACKEND": "tests.test_security.FileKeyring",
            STORE_VAR: str(home / "store.keyring")}
    if key_in_env:
        full["GROQ_API_KEY"] = TEST_API_KEY
    full |= env or {}
    proc = subprocess.run([str(Path(sys.executable).with_name("voicebot")), *args], input=stdin,
                          capture_output=True, text=True, env=full, timeout=60,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert TEST_API_KEY not in proc.stdout + proc.stderr
    return proc


# --------------------------------------------------------------------------- key sources


def test_keyring_is_the_last_source_of_the_key(tmp_path: Path) -> None:
    asked: list[int] = []

    def from_keyring() -> str:
        asked.append(1)
        return "gsk_from_keyring"

    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    settings, _ = load_settings({}, env, keyring_key=from_keyring)
    assert settings.api_key == Secret("gsk_from_keyring") and settings.sources["api_key"] == "keyring"
    assert "gsk_from_keyring" not in repr(settings) + str(describe(settings))

    config = tmp_path / "voicebot" / "config.toml"
    config.parent.mkdir()
    config.write_text('api_key = "gsk_from_file"\n')
    config.chmod(0o600)
    settings, _ = load_settings({}, env, keyring_key=from_keyring)
    assert settings.api_key == Secret("gsk_from_file") and settings.sources["api_key"].startswith("config file")
    settings, _ = load_settings({}, env | {"GROQ_API_KEY": "gsk_from_env"}, keyring_key=from_keyring)
    assert settings.api_key == Secret("gsk_from_env") and settings.sources["api_key"] == "env GROQ_API_KEY"
    assert asked == [1]  # consulted only when nothing else set a key


def test_an_empty_keyring_leaves_the_key_unset(tmp_path: Path) -> None:
    settings, _ = load_settings({}, {"XDG_CONFIG_HOME": str(tmp_path)}, keyring_key=lambda: None)
    assert settings.api_key is None and settings.sources["api_key"] == "default"
    with pytest.raises(UsageError, match="voicebot key set"):
        settings.require_key()


def test_keystore_round_trip_under_service_voicebot(memory_keyring: MemoryKeyring) -> None:
    assert keystore.get_key() is None
    assert keystore.set_key("  gsk_abc123\n") == "test memory keyring"
    assert memory_keyring.store == {("voicebot", "api_key"): "gsk_abc123"}
    assert keystore.get_key() == "gsk_abc123"
    assert keystore.delete_key() is True
    assert keystore.delete_key() is False
    assert keystore.get_key() is None


def test_no_backend_means_no_key_not_a_crash(fail_keyring: None) -> None:
    assert keystore.get_key() is None and keystore.backend_name() is None
    with pytest.raises(UsageError, match="no system keyring"):
        keystore.set_key("gsk_abc123")
    with pytest.raises(UsageError, match="no system keyring"):
        keystore.delete_key()


def test_a_failing_backend_reads_as_no_key_and_errors_never_hold_the_key(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.broken = True
    assert keystore.get_key() is None
    with pytest.raises(UsageError) as info:
        keystore.set_key("gsk_secret_value_1")
    assert "KeyringLocked" in str(info.value) and "gsk_secret_value_1" not in str(info.value)


@pytest.mark.parametrize("text", ["", "   \n", "gsk_abc def", "gsk_\x00abc", "gsk_é"])
def test_unsendable_keys_are_refused_without_echo(text: str) -> None:
    with pytest.raises(UsageError) as info:
        keystore.check_key_text(text)
    assert text.strip() == "" or text.strip() not in str(info.value)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_read_key_uses_getpass_on_a_terminal_and_a_line_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []
    monkeypatch.setattr(keystore.getpass, "getpass", lambda prompt: prompts.append(prompt) or " gsk_typed ")
    assert keystore.read_key(_Tty("gsk_must_not_be_read\n")) == "gsk_typed"
    assert prompts == ["Groq API key: "]
    assert keystore.read_key(io.StringIO("gsk_piped\nsecond line\n")) == "gsk_piped"
    assert prompts == ["Groq API key: "]  # no prompt when stdin is a pipe


# --------------------------------------------------------------------------- end to end


def test_key_set_status_config_use_and_delete(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["key", "status"], fake_groq, tmp_path)
    assert proc.returncode == 0 and proc.stdout.splitlines() == ["API key: not set",
                                                                 "keyring: test file keyring, holds no key"]
    proc = run(["key", "set"], fake_groq, tmp_path, stdin=TEST_API_KEY + "\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "API key stored in the system keyring (test file keyring)\n"
    assert json.loads((tmp_path / "store.keyring").read_text()) == {"voicebot/api_key": TEST_API_KEY}

    proc = run(["key", "status", "--json"], fake_groq, tmp_path)
    assert json.loads(proc.stdout) == {"type": "key", "action": "status", "set": True, "source": "keyring",
                                       "keyring": "test file keyring", "keyring_has_key": True}
    proc = run(["config", "--json"], fake_groq, tmp_path)
    (row,) = [e for e in map(json.loads, proc.stdout.splitlines()) if e.get("name") == "api_key"]
    assert row == {"type": "setting", "name": "api_key", "value": "set (hidden)", "source": "keyring"}

    proc = run(["--debug", "transcribe", str(DATA / "spider.flac")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "How many legs does a spider have?\n" and "voicebot: debug:" in proc.stderr
    assert len(fake_groq.requests) == 1  # the fake server accepted the keyring's key

    proc = run(["key", "set"], fake_groq, tmp_path, stdin="gsk_other\n", key_in_env=True)
    assert "the key from env GROQ_API_KEY takes precedence over the keyring" in proc.stderr

    proc = run(["key", "delete"], fake_groq, tmp_path)
    assert proc.returncode == 0 and proc.stdout == "API key removed from the system keyring\n"
    proc = run(["transcribe", str(DATA / "spider.flac")], fake_groq, tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("voicebot: error: no API key")
    assert len(fake_groq.requests) == 1


def test_without_a_keyring_backend_everything_still_works(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fail = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    proc = run(["transcribe", str(DATA / "spider.flac")], fake_groq, tmp_path, env=fail, key_in_env=True)
    assert proc.returncode == 0, proc.stderr
    proc = run(["config"], fake_groq, tmp_path, env=fail)
    assert proc.returncode == 0 and "api_key" in proc.stdout
    proc = run(["transcribe", str(DATA / "spider.flac")], fake_groq, tmp_path, env=fail)
    assert proc.returncode == 2 and "no API key" in proc.stderr
    proc = run(["key", "set"], fake_groq, tmp_path, env=fail, stdin=TEST_API_KEY + "\n")
    assert proc.returncode == 2
    assert proc.stderr == ("voicebot: error: no system keyring is available (set GROQ_API_KEY, or api_key in "
                           "a config file only you can read)\n")
    proc = run(["key", "status"], fake_groq, tmp_path, env=fail)
    assert proc.returncode == 0 and "keyring: none available" in proc.stdout


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o640, True), (0o600, False)])
def test_a_config_file_with_a_key_that_others_can_read_warns(fake_groq: FakeGroq, tmp_path: Path, mode: int,
                                                            warned: bool) -> None:
    config = tmp_path / "voicebot.toml"
    config.write_text(f'api_key = "{TEST_API_KEY}"\n')
    config.chmod(mode)
    proc = run(["--config", str(config), "transcribe", str(DATA / "spider.flac")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    warning = f"voicebot: warning: {config} holds an API key and is readable by others; run: chmod 600 {config}\n"
    said = "".join(line for line in proc.stderr.splitlines(keepends=True) if " heard in " not in line)  # not timing
    assert said == (warning if warned else "")


# --------------------------------------------------------------------------- TLS


def _certificates(folder: Path) -> dict[str, Path]:
    """A private CA, a server certificate it signs for 127.0.0.1, and one it signs for another name."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("voicebot test CA")).issuer_name(name("voicebot test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    paths = {"ca": folder / "ca.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for label, san in (("ip", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
                       ("other", x509.DNSName("api.example.invalid"))):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name("voicebot test server")).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([san]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        paths[label] = folder / f"{label}.pem"
        paths[label].write_bytes(cert.public_bytes(serialization.Encoding.PEM) + pem_key(key))
    return paths


class _Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "tls-model", "owned_by": "test",
                                                       "context_window": 8192}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tls_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """HTTPS servers on 127.0.0.1: one with a certificate for that address, one for another name."""
    paths = _certificates(tmp_path_factory.mktemp("tls"))
    servers, urls = [], {"ca": str(paths["ca"])}
    for label in ("ip", "other"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(paths[label])
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        urls[label] = f"https://127.0.0.1:{server.server_address[1]}/openai/v1"
    try:
        yield urls
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_a_private_ca_is_trusted_only_through_ssl_cert_file(fake_groq: FakeGroq, tmp_path: Path,
                                                            tls_servers: dict[str, str]) -> None:
    models = ["models", "--api-base", tls_servers["ip"]]
    proc = run(models, fake_groq, tmp_path, key_in_env=True, env={"SSL_CERT_FILE": tls_servers["ca"]})
    assert proc.returncode == 0, proc.stderr
    assert "tls-model" in proc.stdout

    proc = run(models, fake_groq, tmp_path, key_in_env=True)
    assert proc.returncode == 1
    host = tls_servers["ip"].split("/")[2]
    assert proc.stderr == (f"voicebot: error: the TLS certificate of {host} could not be verified (is a proxy "
                           "intercepting HTTPS? point SSL_CERT_FILE at its CA bundle)\n")  # and not retried


def test_the_hostname_is_checked_even_with_a_trusted_ca(fake_groq: FakeGroq, tmp_path: Path,
                                                        tls_servers: dict[str, str]) -> None:
    proc = run(["models", "--api-base", tls_servers["other"]], fake_groq, tmp_path, key_in_env=True,
               env={"SSL_CERT_FILE": tls_servers["ca"]})
    assert proc.returncode == 1 and "TLS certificate" in proc.stderr and len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_an_unusable_ssl_cert_file_is_one_usage_line(fake_groq: FakeGroq, tmp_path: Path,
                                                     content: str | None) -> None:
    bundle = tmp_path / "bundle.pem"
    if content is not None:
        bundle.write_text(content)
    proc = run(["models"], fake_groq, tmp_path, key_in_env=True, env={"SSL_CERT_FILE": str(bundle)})
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith(f"voicebot: error: cannot load CA certificates from SSL_CERT_FILE={bundle}")


# --------------------------------------------------------------------------- no shell, no unverified TLS


FORBIDDEN_CALLS = {("os", "system"), ("os", "popen"), ("os", "execl"), ("os", "execlp"), ("subprocess", "getoutput"),
                   ("subprocess", "getstatusoutput"), ("asyncio", "create_subprocess_shell"),
                   ("ssl", "_create_unverified_context"), ("pty", "spawn")}


def risky_spots(source: str, filename: str) -> list[str]:
    """Where the source runs a shell or weakens TLS: shell=True, os.system/popen, verify=False, CERT_NONE."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.keyword):
            constant = node.value.value if isinstance(node.value, ast.Constant) else ...
            if (node.arg == "shell" and constant is not False) or (node.arg == "verify" and constant is False):
                found.append(f"{where}: {node.arg}={ast.unparse(node.value)}")
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and (node.value.id, node.attr) in FORBIDDEN_CALLS:
                found.append(f"{where}: {node.value.id}.{node.attr}")
            elif node.attr in ("CERT_NONE", "CERT_OPTIONAL"):
                found.append(f"{where}: {node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "subprocess", "asyncio", "ssl", "pty"):
            found += [f"{where}: from {node.module} import {a.name}" for a in node.names
                      if (node.module, a.name) in FORBIDDEN_CALLS]
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "check_hostname"
                                                  for t in node.targets):
            found.append(f"{where}: check_hostname assigned")
    return found


def test_the_package_never_uses_a_shell_or_weakens_tls() -> None:
    package = Path(voicebot.__file__).parent
    files = sorted(package.rglob("*.py"))
    assert package / "desktop" / "dictation.py" in files and len(files) > 15
    found = [spot for path in files for spot in risky_spots(path.read_text(), path.name)]
    assert found == []


@pytest.mark.parametrize("snippet", [
    "subprocess.run(cmd, shell=True)", "subprocess.Popen(c, shell=flag)", "os.system('xclip')",
    "os.popen(text)", "from os import system", "httpx.Client(verify=False)", "ctx.check_hostname = False",
    "ctx.verify_mode = ssl.CERT_NONE", "asyncio.create_subprocess_shell(t)", "ssl._create_unverified_context()",
])
def test_the_scan_catches_each_pattern(snippet: str) -> None:
    assert risky_spots(snippet, "x.py"), snippet
    assert risky_spots("subprocess.run(['xclip', '-in'], input=t, shell=False); httpx.Client(verify=True)",
                       "x.py") == []


def test_clipboard_text_reaches_the_tool_verbatim_on_stdin(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Shell metacharacters in dictated text are data: nothing expands, nothing runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "xclip"
    # a clipboard: -in keeps stdin (and its argv), -out serves it back
    tool.write_text(f'#!/bin/sh\ncase " $* " in *" -out "*) cat {tmp_path}/stdin; exit 0;; esac\n'
                    f'printf "%s\\n" "$@" > {tmp_path}/argv\ncat > {tmp_path}/stdin\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '')}")
    hostile = f"$(touch {tmp_path}/pwned); `touch {tmp_path}/pwned2` ' \" \\ ; rm -rf ~ | cat\n$HOME * ünï"
    copy_to_clipboard(hostile, {})
    assert (tmp_path / "stdin").read_text() == hostile
    assert (tmp_path / "argv").read_text().splitlines() == ["-selection", "clipboard", "-in"]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


# --------------------------------------------------------------------------- the suite-wide key check


def test_the_suite_wide_key_check_fails_leaky_tests(tmp_path: Path) -> None:
    """tests/conftest.py's hooks, run as a plugin in an inner pytest, catch each kind of leak."""
    (tmp_path / "test_leaks.py").write_text(
        "import logging\nfrom tests.fakegroq import TEST_API_KEY\n\n"
        "def test_prints():\n    print('key', TEST_API_KEY)\n\n"
        "def test_stderr():\n    import sys; sys.stderr.write(TEST_API_KEY)\n\n"
        "def test_logs():\n    logging.getLogger('x').warning('k=%s', TEST_API_KEY)\n\n"
        "def test_clean(tmp_path):\n    print('nothing'); (tmp_path / 'config.toml').write_text(TEST_API_KEY)\n\n"
        "def test_writes(tmp_path):\n    (tmp_path / 'voicebot.log').write_text(TEST_API_KEY)\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
                           "-rfE", f"--basetemp={tmp_path / 'inner'}", "test_leaks.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env=os.environ | {"PYTHONPATH": str(REPO)})
    summary = [line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert proc.returncode == 1
    assert [line.split(" - ")[0] for line in summary] == [
        "FAILED test_leaks.py::test_prints", "FAILED test_leaks.py::test_stderr", "FAILED test_leaks.py::test_logs",
        "ERROR test_leaks.py::test_writes"]
    assert "voicebot.log" in proc.stdout and "config.toml" not in proc.stdout.replace("test_clean", "")
    # the inner run wrote the key on purpose; keep this session's own scan quiet
    for path in (tmp_path / "inner").rglob("*"):
        if path.is_file():
            path.unlink()

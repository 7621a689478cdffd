"""Real mail servers on loopback for the Email channel tests.

- `run_dovecot`: a Dovecot IMAP server started in the foreground (``-F``)
  with a temporary configuration, Maildir storage and a static passdb user,
  on a free loopback port; stopped (by its own pid) when the block exits.
  Dovecot is installed by ``.ci/install-dovecot``; tests are skipped with a
  clear reason when it is missing.
- `run_smtp`: an aiosmtpd server that keeps every message it receives.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from aiosmtpd.controller import Controller

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
IMAP_USER = "support@example.com"
IMAP_PASSWORD = "s3cret-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dovecot_available() -> bool:
    return os.path.exists(DOVECOT)


INSTALLER = Path(__file__).resolve().parents[2] / ".ci" / "install-dovecot"


def require_dovecot() -> None:
    """Install Dovecot if we may (root), else skip; fail instead under ``.ci/run``.

    ``OMNICX_REQUIRE_DOVECOT=1`` (set by ``.ci/run``) turns the skip into a
    failure: CI must never pass by skipping the IMAP tests.
    """
    if dovecot_available():
        return
    if os.getuid() == 0 and INSTALLER.exists():
        subprocess.run([str(INSTALLER)], check=False, capture_output=True, timeout=600)
        if dovecot_available():
            return
    reason = "dovecot is not installed: run .ci/install-dovecot"
    if os.environ.get("OMNICX_REQUIRE_DOVECOT") == "1":
        pytest.fail(f"OMNICX_REQUIRE_DOVECOT=1 but {reason}")
    pytest.skip(reason)


@attrs.frozen
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    root: Path
    process: subprocess.Popen[bytes]


def _dovecot_config(root: Path, port: int) -> str:
    if os.getuid() == 0:
        # Dovecot refuses to run its login and mail processes as root.
        internal, login = "dovecot", "dovenull"
        mail_user = pwd.getpwnam("dovecot")
    else:
        internal = login = pwd.getpwuid(os.getuid()).pw_name
        mail_user = pwd.getpwuid(os.getuid())
    group = grp.getgrgid(mail_user.pw_gid).gr_name
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = 0
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = static
  args = password={IMAP_PASSWORD}
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def _wait_for_banner(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {log.read_text() if log.exists() else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as s:
            if s.recv(100).startswith(b"* OK"):
                return
        time.sleep(0.05)
    raise RuntimeError("dovecot did not answer on its port within 15 s")


@contextlib.contextmanager
def run_dovecot() -> Iterator[Dovecot]:
    """Start Dovecot for one test (or module) and stop it afterwards.

    Its files live in a fresh directory under the system temp dir, not in
    pytest's ``tmp_path``: when the tests run as root, Dovecot's mail
    processes run as the unprivileged ``dovecot`` user, which cannot enter
    pytest's private (0700) directories.
    """
    require_dovecot()
    root = Path(tempfile.mkdtemp(prefix="omnicx-dovecot-"))
    try:
        with _dovecot_in(root) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _dovecot_in(root: Path) -> Iterator[Dovecot]:
    port = free_port()
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:
        mail_user = pwd.getpwnam("dovecot")
        for sub in ("mail", "home"):
            os.chown(root / sub, mail_user.pw_uid, mail_user.pw_gid)
        os.chmod(root, 0o755)
    config = root / "dovecot.conf"
    config.write_text(_dovecot_config(root, port))
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_banner(port, process, root / "dovecot.log")
        yield Dovecot("127.0.0.1", port, IMAP_USER, IMAP_PASSWORD, root, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()


@attrs.define
class SMTPServer:
    host: str
    port: int
    messages: list[tuple[str, list[str], bytes]] = attrs.Factory(list)


@contextlib.contextmanager
def run_smtp() -> Iterator[SMTPServer]:
    """An aiosmtpd server on loopback that records (mail from, rcpt tos, data)."""

    server = SMTPServer("127.0.0.1", free_port())

    class Handler:
        async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:
            server.messages.append((
                envelope.mail_from,  # type: ignore[attr-defined]
                list(envelope.rcpt_tos),  # type: ignore[attr-defined]
                bytes(envelope.original_content or envelope.content),  # type: ignore[attr-defined]
            ))
            return "250 Message accepted for delivery"

        async def handle_RCPT(self, _server: object, _session: object, envelope: object,
                              address: str, _options: object) -> str:
            if address.startswith("reject"):
                return "550 5.1.1 No such user"
            envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
            return "250 OK"

    controller = Controller(Handler(), hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()

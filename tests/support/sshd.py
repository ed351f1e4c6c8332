"""A real OpenSSH server on 127.0.0.1 for tests (and for the emulator's SSH endpoint).

``start_sshd(tmp_path)`` generates a host key and a client ed25519 key with ``ssh-keygen`` under
``tmp_path``, writes a minimal ``sshd_config`` that accepts exactly that client key for one user (``ma-user``
by default, the CodeLab login user), starts ``/usr/sbin/sshd -D -e -f <config>`` on a free port and waits
until it greets. The returned :class:`SshdHandle` stops the server with ``stop()`` or when used as a context
manager::

    with start_sshd(tmp_path) as sshd:
        subprocess.run(["ssh", "-i", sshd.client_key_path, "-p", str(sshd.port), f"{sshd.user}@{sshd.host}"])

``start_sshd(tmp_path, work_dir=folder)`` makes every login land in ``folder`` (an emulated instance's work
folder, standing for /home/ma-user/work): a ``ForceCommand`` script changes into it and then runs the
client's command, a login shell, or the SFTP server (whose relative paths then start there too).

Logging in as another user needs root (privilege separation). When the test runs as root and the user
does not exist, it is created (``useradd -m -s /bin/sh``) with a usable but password-less account: sshd
refuses locked accounts (password field ``!...``) when PAM is off, so a locked account is set to ``*``
(no password can ever match; key login works). Without root the user must be the current user; anything
else fails with a message saying what to do (never a skip).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = ["SSHD", "SSH_KEYGEN", "SshdError", "SshdHandle", "ensure_login_user", "start_sshd"]

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
PRIVSEP_DIR = Path("/run/sshd")


class SshdError(RuntimeError):
    """sshd could not be started (the message says why and holds the end of its log)."""


@dataclass
class SshdHandle:
    """A running sshd: where it listens, who may log in, with which key; ``stop()`` ends it."""

    host: str
    port: int
    user: str
    client_key_path: Path
    host_key_path: Path
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    #: directories outside tmp_path that ``stop()`` removes
    cleanup_dirs: list[Path] = field(default_factory=list, repr=False)

    @property
    def client_public_key_path(self) -> Path:
        return self.client_key_path.with_name(self.client_key_path.name + ".pub")

    def log(self) -> str:
        """What sshd wrote so far (``-e``: its log goes to this file)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def ssh_args(self, *options: str) -> list[str]:
        """Client arguments (up to the destination) reaching this server without user or system config.

        ``options`` (e.g. ``"-o", "ConnectTimeout=5"``) go before the destination; append the remote command.
        """
        return [
            *options,
            "-F",
            "none",
            "-i",
            str(self.client_key_path),
            "-p",
            str(self.port),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            f"{self.user}@{self.host}",
        ]

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0, *, cleanup: bool = True) -> None:
        """Terminate sshd (SIGTERM, then SIGKILL after ``timeout``); safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if cleanup:
            for directory in self.cleanup_dirs:
                shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> SshdHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise SshdError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")


def _keygen(path: Path, comment: str) -> Path:
    _run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return path


def _shadow_password(user: str) -> str | None:
    """The password field of ``user`` in /etc/shadow (root only), None when unreadable."""
    try:
        with open("/etc/shadow", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                if name == user:
                    return rest.split(":", 1)[0]
    except OSError:
        return None
    return None


def ensure_login_user(user: str) -> pwd.struct_passwd:
    """Make sure sshd can log ``user`` in with a key; create or unlock it when running as root."""
    is_root = os.geteuid() == 0
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        if not is_root:
            raise SshdError(
                f"the SSH test user {user!r} does not exist and this test is not running as root: "
                f"create it first (sudo useradd -m -s /bin/sh -p '*' {user}) or run the tests as root"
            ) from None
        _run(["useradd", "-m", "-s", "/bin/sh", "-p", "*", user])
        entry = pwd.getpwnam(user)
    if is_root:
        password = _shadow_password(user)
        if password is not None and password.startswith("!"):
            # sshd without PAM refuses locked accounts even for key logins; '*' matches no password.
            _run(["usermod", "-p", "*", user])
    elif entry.pw_uid != os.geteuid():
        raise SshdError(
            f"sshd can only log in {user!r} when started by root or by {user!r} itself; "
            f"this test runs as uid {os.geteuid()}: run it as root or as {user!r}"
        )
    return entry


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _greets(host: str, port: int) -> bool:
    """Whether an SSH server answers on host:port with its ``SSH-2.0`` banner."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.settimeout(1.0)
            return sock.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


SFTP_SERVER = "/usr/lib/openssh/sftp-server"


def _landing_script(folder: Path, work_dir: os.PathLike[str] | str) -> Path:
    """The ForceCommand that lands a login in ``work_dir`` (readable by the login user)."""
    script = folder / "land-in-work"
    quoted = shlex.quote(str(work_dir))
    script.write_text(
        "#!/bin/sh\n"
        f"cd {quoted} || exit 1\n"
        'case "$SSH_ORIGINAL_COMMAND" in\n'
        f'  "") exec "${{SHELL:-/bin/sh}}" -l ;;\n'
        f"  internal-sftp*|*sftp-server*) exec {SFTP_SERVER} ;;\n"
        '  *) exec /bin/sh -c "$SSH_ORIGINAL_COMMAND" ;;\n'
        "esac\n"
    )
    os.chmod(script, 0o755)  # noqa: S103 - run by the login user, holds no secret
    return script


def _write_config(
    directory: Path, port: int, host_key: Path, authorized: Path, user: str, force_command: Path | None = None
) -> Path:
    config = directory / "sshd_config"
    extra = [f"ForceCommand {force_command}"] if force_command is not None else []
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {host_key}",
                f"PidFile {directory / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                f"AllowUsers {user}",
                "StrictModes no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                "UseDNS no",
                "PrintMotd no",
                "LogLevel VERBOSE",
                "Subsystem sftp internal-sftp",
                *extra,
                "",
            ]
        )
    )
    return config


def start_sshd(
    tmp_path: os.PathLike[str] | str,
    *,
    user: str = "ma-user",
    timeout: float = 15.0,
    attempts: int = 3,
    work_dir: os.PathLike[str] | str | None = None,
) -> SshdHandle:
    """Start a real sshd on 127.0.0.1 (a free port) accepting a fresh ed25519 client key for ``user``.

    Everything (keys, config, pid file, log) lives in ``<tmp_path>/sshd``. A port taken between choosing it
    and sshd binding it is retried (``attempts`` times). Raises :class:`SshdError` with sshd's log when it
    does not come up within ``timeout`` seconds.
    """
    if not os.access(SSHD, os.X_OK):
        raise SshdError(f"{SSHD} is missing: install the OpenSSH server (apt-get install openssh-server)")
    ensure_login_user(user)
    directory = Path(tmp_path) / "sshd"
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    host_key = directory / "ssh_host_ed25519_key"
    client_key = directory / "client_ed25519"
    if not host_key.exists():
        _keygen(host_key, "codelab-test-host")
    if not client_key.exists():
        _keygen(client_key, "codelab-test-client")
    # sshd reads authorized_keys as the login user, who cannot enter a root-only tmp_path (pytest's
    # /tmp/pytest-of-root is 0700): the public key goes into its own world-readable directory.
    public_dir = Path(tempfile.mkdtemp(prefix="codelab-sshd-"))
    os.chmod(public_dir, 0o755)  # noqa: S103 - holds only a public key
    authorized = public_dir / "authorized_keys"
    authorized.write_bytes(client_key.with_name(client_key.name + ".pub").read_bytes())
    os.chmod(authorized, 0o644)
    log_path = directory / "sshd.log"
    landing = _landing_script(public_dir, work_dir) if work_dir is not None else None

    last_log = ""
    for _ in range(attempts):
        port = _free_port()
        config = _write_config(directory, port, host_key, authorized, user, landing)
        _run([SSHD, "-t", "-f", str(config)])
        log = open(log_path, "wb")  # the child keeps writing to it
        try:
            process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        handle = SshdHandle(
            host="127.0.0.1",
            port=port,
            user=user,
            client_key_path=client_key,
            host_key_path=host_key,
            config_path=config,
            log_path=log_path,
            process=process,
            cleanup_dirs=[public_dir],
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and handle.running:
            if _greets(handle.host, port):
                return handle
            time.sleep(0.05)
        handle.stop(cleanup=False)
        last_log = handle.log()
        if "Address already in use" not in last_log:
            break
    shutil.rmtree(public_dir, ignore_errors=True)
    raise SshdError(f"sshd did not start on 127.0.0.1 within {timeout:.0f}s; its log:\n{last_log[-2000:]}")

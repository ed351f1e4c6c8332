"""One SSH connection per instance (paramiko), shared by the workspace's SFTP route and the kernels' forward.

Host keys and identity follow :mod:`codelab_ext.ssh`: one known_hosts file per instance
(``~/.ssh/codelab-<instance id>.known_hosts``; the first key is recorded, later ones are checked
against it), and the user's key (``identity_file``, else ``~/.ssh/<key pair>.pem``, else the agent and
the default keys).

:data:`POOL` keeps one :class:`Connection` per instance and endpoint. A user takes a :class:`Lease`
and gives it back; a connection nobody leases is closed after ``linger`` seconds. A connection whose
transport died (network, sshd restart, :meth:`Connection.cut`) is opened again by its next use.
:meth:`Pool.close_instance` (the instance stopped) and :meth:`Pool.close_all` (the server stops)
close at once. Bounded: connecting (TCP, banner and authentication each within ``timeout``), every
channel opened, the number of connections through a forward; a keepalive every ``keepalive`` seconds
finds a dead peer.

:class:`Forward` is a local port forward: a listener on 127.0.0.1 (port from the OS) whose every
connection goes through a ``direct-tcpip`` channel to ``host:port`` as seen from inside the instance.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import CodeLabError
from .i18n import tr
from .ssh import _endpoint, _identity, known_hosts_file

__all__ = ["POOL", "Connection", "Forward", "Lease", "Pool", "SshUnavailable", "parse_address"]

log = logging.getLogger("codelab_ext.ssh")

#: where paramiko logs for our connections (its own ``paramiko.transport`` stays as it is for others)
PARAMIKO_LOG = "codelab_ext.ssh.paramiko"
#: what an SSH server's refusal to open a channel means (RFC 4254 §5.1), said by :func:`_refusal`
_REFUSALS = {
    1: tr("the SSH server does not allow port forwarding (administratively prohibited)"),
    2: tr("nothing accepted the connection there (connect failed)"),
    4: tr("the SSH server is short of resources"),
}


class _NoChannelRefusals(logging.Filter):
    """Drops paramiko's ERROR line for a refused channel: :meth:`Connection.open_channel` reports the
    refusal itself, readably (:meth:`Forward._carry` logs it, once a streak)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        return not (text.startswith("Secsh channel") and "open FAILED" in text)


logging.getLogger(PARAMIKO_LOG).addFilter(_NoChannelRefusals())

#: connections a forward carries at once (REST calls and kernel websockets)
MAX_FORWARDED = 64
#: bytes moved per read in a forward
BLOCK = 256 * 1024


class SshUnavailable(CodeLabError):
    """The instance's SSH endpoint cannot be used (the message says why; never a secret)."""

    status = 502


def open_client(
    instance: Mapping[str, Any],
    *,
    identity_file: str | None = None,
    known_hosts: str | None = None,
    timeout: float = 30.0,
) -> Any:
    """A connected ``paramiko.SSHClient`` to the instance's SSH endpoint (:class:`SshUnavailable` if not)."""
    import paramiko

    host, port, user, key_pairs = _endpoint(instance)
    identity = _identity(key_pairs, identity_file)
    hosts_file = Path(known_hosts_file(instance, known_hosts)).expanduser()
    client = paramiko.SSHClient()
    client.set_log_channel(PARAMIKO_LOG)
    if hosts_file.exists():
        client.load_host_keys(str(hosts_file))
    client.set_missing_host_key_policy(_AcceptNew(hosts_file))
    key_file = str(Path(identity).expanduser()) if identity else None
    try:
        client.connect(
            host,
            port=port or 22,
            username=user,
            key_filename=key_file if key_file and Path(key_file).exists() else None,
            look_for_keys=key_file is None,
            allow_agent=True,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
        )
    except paramiko.BadHostKeyException:
        client.close()
        raise SshUnavailable(
            tr(
                "The instance's SSH host key is not the one recorded in {file}; refusing to connect",
                file=str(hosts_file),
            )
        ) from None
    except (paramiko.SSHException, OSError) as exc:
        client.close()
        raise SshUnavailable(
            tr("The instance's SSH endpoint cannot be used: {error}", error=str(exc)[:300])
        ) from None
    return client


class _AcceptNew:
    """``StrictHostKeyChecking accept-new``: record an unknown host's key in the instance's file."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        client.save_host_keys(str(self.file))
        with contextlib.suppress(OSError):
            self.file.chmod(0o600)


def parse_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) of a forward's target (``c.CodeLab.kernel_ssh_jupyter``);
    ValueError when it is not one."""
    text = value.strip()
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"not host:port: {value!r}")
    return host, int(port)


class Connection:
    """The SSH connection of one instance endpoint, opened again when its transport died."""

    def __init__(
        self,
        pool: Pool,
        key: tuple[str, ...],
        instance: Mapping[str, Any],
        *,
        identity_file: str | None,
        known_hosts: str | None,
        timeout: float,
        keepalive: float,
    ) -> None:
        self.pool = pool
        self.key = key
        self.instance_id = str(instance.get("id") or "")
        self.instance = dict(instance)
        self.identity_file = identity_file
        self.known_hosts = known_hosts
        self.timeout = timeout
        self.keepalive = keepalive
        self.users = 0
        self.connects = 0
        self._lock = threading.Lock()
        self._client: Any = None
        self._forwards: dict[tuple[str, int], Forward] = {}
        self._linger: threading.Timer | None = None
        self.closed = False

    def client(self) -> Any:
        """The connected ``paramiko.SSHClient`` (connecting, or connecting again, within the deadline)."""
        with self._lock:
            if self.closed:
                raise SshUnavailable(tr("The SSH connection to the instance was closed"))
            client = self._client
            transport = client.get_transport() if client is not None else None
            if transport is None or not transport.is_active():
                if client is not None:
                    with contextlib.suppress(Exception):
                        client.close()
                self._client = None
                client = open_client(
                    self.instance,
                    identity_file=self.identity_file,
                    known_hosts=self.known_hosts,
                    timeout=self.timeout,
                )
                transport = client.get_transport()
                if transport is not None and self.keepalive > 0:
                    transport.set_keepalive(max(1, round(self.keepalive)))
                self._client = client
                self.connects += 1
                if self.connects > 1:
                    log.info("SSH connection to instance %s opened again", self.instance_id)
            return client

    def open_channel(self, host: str, port: int) -> Any:
        """A ``direct-tcpip`` channel to ``host:port`` inside the instance (else :class:`SshUnavailable`)."""
        import paramiko

        transport = self.client().get_transport()
        try:
            return transport.open_channel(
                "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=self.timeout
            )
        except paramiko.ChannelException as exc:  # the server answered: it refuses this one
            raise SshUnavailable(
                tr(
                    "The instance's SSH endpoint refused to forward to {address}: {reason}",
                    address=f"{host}:{port}",
                    reason=_REFUSALS.get(exc.code) or str(exc.text or exc.code)[:300],
                )
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SshUnavailable(
                tr(
                    "The instance's SSH endpoint did not forward to {address}: {error}",
                    address=f"{host}:{port}",
                    error=str(exc)[:300] or type(exc).__name__,
                )
            ) from None

    def forward(self, host: str, port: int) -> Forward:
        """The local forward to ``host:port`` inside the instance (one per target, made once)."""
        with self._lock:
            if self.closed:
                raise SshUnavailable(tr("The SSH connection to the instance was closed"))
            found = self._forwards.get((host, port))
            if found is None or found.closed:
                found = Forward(self, host, port)
                self._forwards[(host, port)] = found
            return found

    def cut(self) -> None:
        """Break the transport as a network failure does (tests); the next use connects again."""
        client = self._client
        transport = client.get_transport() if client is not None else None
        if transport is not None:
            transport.close()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            client, self._client = self._client, None
            forwards, self._forwards = list(self._forwards.values()), {}
            if self._linger is not None:
                self._linger.cancel()
                self._linger = None
        for item in forwards:
            item.close()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


class Lease:
    """One user's hold on a :class:`Connection`; :meth:`release` gives it back (safe twice)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.connection.pool._release(self.connection)


class Pool:
    """The SSH connections of this process: one per instance endpoint, identity and known_hosts file."""

    def __init__(self, *, linger: float = 60.0, keepalive: float = 15.0) -> None:
        self.linger = linger
        self.keepalive = keepalive
        self._lock = threading.Lock()
        self._connections: dict[tuple[str, ...], Connection] = {}

    def acquire(
        self,
        instance: Mapping[str, Any],
        *,
        identity_file: str | None = None,
        known_hosts: str | None = None,
        timeout: float = 30.0,
    ) -> Lease:
        """A lease on the instance's connection, connected (:class:`SshUnavailable` if it cannot be)."""
        host, port, user, key_pairs = _endpoint(instance)
        identity = _identity(key_pairs, identity_file) or ""
        hosts_file = known_hosts_file(instance, known_hosts)
        key = (str(instance.get("id") or ""), host, str(port or 22), user, identity, hosts_file)
        with self._lock:
            connection = self._connections.get(key)
            if connection is None or connection.closed:
                connection = Connection(
                    self,
                    key,
                    instance,
                    identity_file=identity_file,
                    known_hosts=known_hosts,
                    timeout=timeout,
                    keepalive=self.keepalive,
                )
                self._connections[key] = connection
            connection.users += 1
            if connection._linger is not None:
                connection._linger.cancel()
                connection._linger = None
        try:
            connection.client()
        except BaseException:
            with self._lock:  # a connection that never opened is not kept for anyone
                connection.users = max(0, connection.users - 1)
                if not connection.users:
                    self._drop(connection)
            raise
        return Lease(connection)

    def _release(self, connection: Connection) -> None:
        with self._lock:
            connection.users = max(0, connection.users - 1)
            if connection.users or connection.closed:
                return
            if self.linger <= 0:
                self._drop(connection)
                return
            timer = threading.Timer(self.linger, self._expire, args=(connection,))
            timer.daemon = True
            connection._linger = timer
            timer.start()
        return

    def _expire(self, connection: Connection) -> None:
        with self._lock:
            if connection.users or connection._linger is None:
                return
            connection._linger = None
            self._drop(connection)

    def _drop(self, connection: Connection) -> None:
        """Forget and close ``connection`` (the pool's lock is held)."""
        if self._connections.get(connection.key) is connection:
            del self._connections[connection.key]
        threading.Thread(target=connection.close, name="codelab-ssh-close", daemon=True).start()

    def connections(self, instance_id: str | None = None) -> list[Connection]:
        with self._lock:
            return [c for c in self._connections.values() if instance_id in (None, c.instance_id)]

    def close_instance(self, instance_id: str) -> int:
        """Close every connection to ``instance_id`` now (it stopped): how many there were."""
        with self._lock:
            found = [c for key, c in self._connections.items() if key[0] == instance_id]
            for connection in found:
                del self._connections[connection.key]
        for connection in found:
            connection.close()
        if found:
            log.info("SSH connection to instance %s closed (the instance is not running)", instance_id)
        return len(found)

    def close_all(self) -> None:
        with self._lock:
            found, self._connections = list(self._connections.values()), {}
        for connection in found:
            connection.close()


class Forward:
    """127.0.0.1:<port from the OS> → ``host:port`` inside the instance, through ``connection``."""

    def __init__(self, connection: Connection, host: str, port: int) -> None:
        self.connection = connection
        self.target = (host, port)
        self.closed = False
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        #: a refusal was logged and no channel opened since: the next ones are not logged again
        self._refused = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name=f"codelab-ssh-forward-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self.closed or len(self._open) >= MAX_FORWARDED:
                    sock.close()
                    if not self.closed:
                        log.warning("SSH forward to %s:%s is full: connection refused", *self.target)
                    continue
                self._open.add(sock)
            threading.Thread(target=self._carry, args=(sock,), name="codelab-ssh-carry", daemon=True).start()

    def _carry(self, sock: socket.socket) -> None:
        channel = None
        try:
            try:
                channel = self.connection.open_channel(*self.target)
            except SshUnavailable as exc:
                # said once a streak (a kernel's every REST call and reconnection would repeat it)
                level = logging.DEBUG if self._refused else logging.WARNING
                self._refused = True
                log.log(level, "SSH forward to %s:%s: %s", self.target[0], self.target[1], exc.message)
                return
            self._refused = False
            _carry_both_ways(sock, channel, self.connection.timeout)
        finally:
            with self._lock:
                self._open.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()
            if channel is not None:
                with contextlib.suppress(Exception):
                    channel.close()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            open_now, self._open = list(self._open), set()
        with contextlib.suppress(OSError):
            # wakes the accept() under way (a close alone leaves the port accepting while it waits)
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


def _copy(source: Any, target: Any, half_close: Any) -> None:
    """``source`` to ``target`` until ``source`` ends, then ``half_close()`` (the far side sees the end)."""
    with contextlib.suppress(OSError, EOFError):
        while data := source.recv(BLOCK):
            target.sendall(data)
    with contextlib.suppress(OSError, EOFError):
        half_close()


def _carry_both_ways(sock: socket.socket, channel: Any, linger: float) -> None:
    """Both directions at once, each in its own thread (one blocked ``sendall`` never stalls the other
    way: two full windows would otherwise wait on each other). After the local side ends, the answer
    has ``linger`` seconds to finish before the channel is closed."""
    back = threading.Thread(
        target=_copy,
        args=(channel, sock, lambda: sock.shutdown(socket.SHUT_WR)),
        name="codelab-ssh-carry-back",
        daemon=True,
    )
    back.start()
    _copy(sock, channel, channel.shutdown_write)
    back.join(linger)


#: the connections of this process (the server's, or a command's)
POOL = Pool()

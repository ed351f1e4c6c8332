"""The bounded transport of every upstream call: a total deadline and a size cap.

Every call codelab_ext makes to ModelArts or IAM (the server, the watcher and the CLI all go
through :class:`~codelab_ext.modelarts.ModelArtsClient` and the IAM token provider) is sent with
:func:`send`:

* **One deadline for the whole exchange.** ``timeout`` seconds cover looking up the host name,
  connecting, the TLS handshake (and a proxy's ``CONNECT``), sending, waiting for the status line
  and headers, and reading the body. The system resolver cannot be interrupted, so a lookup runs in
  a thread of its own (:func:`resolve`, at most :data:`RESOLVER_THREADS` at once) that the call stops
  waiting for at the deadline; the TLS handshake gets the time left as its socket timeout, which the
  ``ssl`` module applies to the whole handshake, not to each read of it. A ``requests`` timeout
  only limits each socket read, so a server sending one byte a second never trips it; here every
  socket read of the exchange (through :class:`_DeadlineSocket`, installed by the sessions of
  :func:`new_session`) is given the time left until the deadline, and none starts after it. The
  body is read in small chunks with the clock checked between them. Past the deadline the
  connection is closed and ``requests.exceptions.ReadTimeout`` is raised, which the callers turn
  into "... did not answer within N s" (504 to the browser).
* **A size cap.** The body is counted while it is read; an answer announcing or sending more than
  ``max_bytes`` (``c.CodeLab.max_response_bytes``, 8 MiB by default: real answers are a few KiB) is
  refused with :class:`ResponseTooLarge` and its connection closed, so memory stays within a small
  multiple of the cap whatever upstream sends.
* **Bounded JSON** lives in :mod:`codelab_ext.json_bounds` (``loads`` for upstream answers, ``dumps``
  for the browser's), so that writing JSON does not import ``requests``.

A call made inside another one (the IAM token fetched while signing a ModelArts request) never
outlives the outer call's deadline.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.connection import allowed_gai_family

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "RESOLVER_THREADS",
    "ResponseTooLarge",
    "deadline",
    "new_session",
    "resolve",
    "send",
]

#: the default size cap of one upstream answer (``c.CodeLab.max_response_bytes``)
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: how much of a body is read between two looks at the clock and the byte count
CHUNK_BYTES = 16 * 1024
#: host name lookups running at once under a deadline (one thread each; a stalled resolver holds at
#: most this many threads, and a call finding none free waits for one within its own deadline)
RESOLVER_THREADS = 4


class ResponseTooLarge(requests.exceptions.RequestException):
    """The answer was larger than the size cap (its connection was closed)."""

    def __init__(self, limit: int, status: int | None = None) -> None:
        super().__init__(f"answer larger than {limit} bytes")
        self.limit = limit
        #: the HTTP status of the refused answer
        self.status = status


# --------------------------------------------------------------------------- the deadline

_local = threading.local()


def _current_deadline() -> float | None:
    return getattr(_local, "deadline", None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every socket read of this thread inside the block ends by ``now + seconds`` (or the
    enclosing block's deadline, if that is sooner). Yields the deadline (``time.monotonic`` time)."""
    outer = _current_deadline()
    mine = time.monotonic() + max(0.0, float(seconds))
    if outer is not None:
        mine = min(mine, outer)
    _local.deadline = mine
    try:
        yield mine
    finally:
        _local.deadline = outer


def _remaining() -> float | None:
    end = _current_deadline()
    return None if end is None else end - time.monotonic()


class _DeadlineSocket:
    """A connected socket whose every read ends by the thread's current deadline.

    Only reads need it (sends of our small request bodies complete at once, and their socket
    timeout still applies). Everything else is the wrapped socket's.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._timeout: float | None = sock.gettimeout()

    def _arm(self) -> None:
        left = _remaining()
        if left is None:
            self._sock.settimeout(self._timeout)
            return
        if left <= 0:
            raise TimeoutError("the deadline of the call has passed")
        self._sock.settimeout(left if self._timeout is None else min(left, self._timeout))

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._arm()
        return self._sock.recv(bufsize, flags)

    def settimeout(self, value: float | None) -> None:
        self._timeout = value
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def makefile(self, mode: str = "r", buffering: int | None = None, **_: Any) -> io.BufferedReader:
        if "w" in mode or "b" not in mode:
            raise ValueError("a deadline socket is only read as binary")
        raw = socket.SocketIO(self, "rb")  # type: ignore[arg-type]
        self._sock._io_refs += 1
        return io.BufferedReader(raw, buffering if buffering and buffering > 0 else io.DEFAULT_BUFFER_SIZE)

    def _decref_socketios(self) -> None:
        self._sock._decref_socketios()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


# --------------------------------------------------------------------------- connecting

_resolver_slots = threading.BoundedSemaphore(RESOLVER_THREADS)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[Any]:
    """``socket.getaddrinfo(host, port, family, SOCK_STREAM)``, ending by the thread's deadline.

    Under a :func:`deadline`, a name (not an address) is looked up in a daemon thread of its own, so
    that the caller stops waiting when its time is up (raising ``TimeoutError``) while a lookup stuck
    in the system resolver ends on its own later without holding up anything, not even the exit. At
    most :data:`RESOLVER_THREADS` lookups run at once.
    """
    left = _remaining()
    if left is None or _is_address(host):
        return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    if left <= 0 or not _resolver_slots.acquire(timeout=left):
        raise TimeoutError(f"looking up {host} did not end within the deadline of the call")
    outcome: list[Any] = []
    done = threading.Event()

    def look_up() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the caller, if it still waits
            outcome.append(exc)
        finally:
            _resolver_slots.release()
            done.set()

    try:
        threading.Thread(target=look_up, name="codelab-resolve", daemon=True).start()
    except BaseException:
        _resolver_slots.release()
        raise
    if not done.wait(max(0.0, _remaining() or 0.0)):
        raise TimeoutError(f"looking up {host} did not end within the deadline of the call")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    addresses: list[Any] = outcome[0]
    return addresses


class _DeadlineConnectMixin:
    """Connect (look up, connect, and hand the TLS handshake a timeout) within the call's deadline.

    The same steps as urllib3's own ``create_connection``, with :func:`resolve` for the lookup and
    each step's timeout cut to the time left.
    """

    _dns_host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    host: str
    sock: Any

    def _within(self) -> float | None:
        """This step's timeout: the connect timeout, cut to the time left (``TimeoutError`` if none)."""
        own = self.timeout if isinstance(self.timeout, (int, float)) else None
        left = _remaining()
        if left is None:
            return own
        if left <= 0:
            raise TimeoutError("the deadline of the call has passed")
        return left if own is None else min(left, own)

    def _new_conn(self) -> socket.socket:
        if _remaining() is None:
            return super()._new_conn()  # type: ignore[misc]
        host = self._dns_host.strip("[]")
        try:
            addresses = resolve(host, self.port, allowed_gai_family())
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Looking up {self.host} timed out") from exc
        error: OSError | None = None
        for family, kind, proto, _name, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.settimeout(self._within())
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(address)
                # the TLS handshake (or a proxy's CONNECT) that follows reads under the time left
                sock.settimeout(self._within())
            except OSError as exc:
                sock.close()
                error = exc
                if isinstance(exc, TimeoutError):
                    break
                continue
            sys.audit("http.client.connect", self, self.host, self.port)  # as urllib3's own connect
            return sock
        if error is None or isinstance(error, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from error
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error  # type: ignore[arg-type]

    def _tunnel(self) -> None:
        # a proxy's answer to CONNECT is read line by line: each read within the deadline too
        raw = self.sock
        self.sock = _DeadlineSocket(raw)
        try:
            super()._tunnel()  # type: ignore[misc]
        finally:
            self.sock = raw


class _BoundedHTTPConnection(_DeadlineConnectMixin, HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)  # type: ignore[assignment,unused-ignore]


class _BoundedHTTPSConnection(_DeadlineConnectMixin, HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)  # type: ignore[assignment,unused-ignore]


class _BoundedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _BoundedHTTPConnection


class _BoundedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _BoundedHTTPSConnection


_POOLS = {"http": _BoundedHTTPPool, "https": _BoundedHTTPSPool}


class _BoundedAdapter(HTTPAdapter):
    """An adapter whose connections read under the deadline and that never re-sends on its own."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def new_session() -> requests.Session:
    """A ``requests.Session`` whose connections honour :func:`deadline` (and urllib3 never retries)."""
    session = requests.Session()
    adapter = _BoundedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --------------------------------------------------------------------------- one exchange


def _close(response: requests.Response) -> None:
    """Close the answer and its connection (it must not go back to the pool half read)."""
    raw = response.raw
    connection = getattr(raw, "connection", None)
    with contextlib.suppress(Exception):
        response.close()
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.close()


def read_body(response: requests.Response, max_bytes: int) -> bytes:
    """The whole body of a streamed answer, at most ``max_bytes``, under the current deadline.

    Raises ``ReadTimeout`` past the deadline, :class:`ResponseTooLarge` past the cap, and the
    ``requests`` exception of a dropped or undecodable body; the connection is closed on any failure.
    """
    try:
        length = int(response.headers.get("Content-Length") or -1)
    except ValueError:
        length = -1
    if length > max_bytes:
        _close(response)
        raise ResponseTooLarge(max_bytes, response.status_code)
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            left = _remaining()
            if left is not None and left <= 0:
                raise requests.exceptions.ReadTimeout("the deadline of the call has passed")
            chunk = response.raw.read(min(CHUNK_BYTES, max_bytes + 1 - size), decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise ResponseTooLarge(max_bytes, response.status_code)
            parts.append(chunk)
    except requests.exceptions.RequestException:  # ours: too large, or the deadline between reads
        _close(response)
        raise
    except (ReadTimeoutError, TimeoutError) as exc:
        _close(response)
        raise requests.exceptions.ReadTimeout(str(exc)) from None
    except ProtocolError as exc:
        _close(response)
        raise requests.exceptions.ChunkedEncodingError(str(exc)) from None
    except DecodeError as exc:
        _close(response)
        raise requests.exceptions.ContentDecodingError(str(exc)) from None
    except SSLError as exc:
        _close(response)
        raise requests.exceptions.SSLError(str(exc)) from None
    except OSError as exc:
        _close(response)
        raise requests.exceptions.ConnectionError(str(exc)) from None
    except BaseException:
        _close(response)
        raise
    content = b"".join(parts)
    # the answer is complete: let requests treat it as read (and .json()/.text work on it)
    response._content = content
    response._content_consumed = True  # type: ignore[attr-defined]
    response.close()  # releases the connection to the pool: the body was read to its end
    return content


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    connect_timeout: float | None = None,
    **kwargs: Any,
) -> tuple[requests.Response, bytes]:
    """Send one request and read its whole answer within ``timeout`` seconds and ``max_bytes``.

    Answers ``(response, body)``; ``response.content`` is the body too. Raises the ``requests``
    exceptions of a failed exchange (``ConnectTimeout``/``ReadTimeout`` past the deadline) and
    :class:`ResponseTooLarge`. ``kwargs`` go to ``session.request`` (``params``, ``data``,
    ``headers``, ``auth``, ...); redirects are not followed.
    """
    kwargs.setdefault("allow_redirects", False)
    with deadline(timeout):
        left = max(0.001, _remaining() or timeout)
        connect = min(left, connect_timeout) if connect_timeout else left
        try:
            response = session.request(method, url, stream=True, timeout=(connect, left), **kwargs)
        except requests.exceptions.ConnectionError as exc:
            # urllib3 reports a read cut by the deadline during the headers as a connection error
            # in a few paths: say what it is
            left_now = _remaining()
            if left_now is not None and left_now <= 0 and not isinstance(exc, requests.exceptions.Timeout):
                raise requests.exceptions.ReadTimeout(str(exc)) from None
            raise
        body = read_body(response, max_bytes)
    return response, body

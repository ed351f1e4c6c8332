"""The server-side service behind the REST handlers: credentials, client, executor, caches, watchers.

The handlers stay thin: they validate, call one coroutine here and answer. Everything
that blocks (``requests``) runs in bounded thread pools, so a stalled upstream only
delays the requests that wait on it:

* the watchers' polls have their own pool (:data:`POLL_WORKERS`), the user's calls another
  (:data:`EXECUTOR_WORKERS`), so neither can starve the other;
* one client method (one kind of route) holds at most :data:`METHOD_SHARE` of the user pool at a
  time; more calls of it wait on the event loop, not in a thread, and other routes still run;
* ``GET status`` never waits on upstream (it reads the configuration and the credentials only).

Opens, starts and stops of one project are serialised (:meth:`CodeLabService.instance_lock`):
the later request re-checks against the state the earlier one left, so a switch confirmed in one
tab cannot be undone by a plain open racing in from another. Identical concurrent opens share one
upstream call. No tornado in this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from . import NAMESPACE
from .config import CodeLab
from .errors import ConflictError, CredentialsError, UpstreamError, ValidationError, add_credentials_hint
from .i18n import tr
from .opening import mark_default_image, plan_open
from .regions import known_regions
from .watcher import WatcherHub

if TYPE_CHECKING:
    from .credentials import Credentials
    from .modelarts import ModelArtsClient
    from .shapes import FreeFlavor, Image, LeaseBounds

T = TypeVar("T")
log = logging.getLogger("codelab_ext")

EXECUTOR_WORKERS = 32
#: how long stop() waits for the executor's threads to end (a call in flight is bounded by its deadline)
STOP_WAIT_SECONDS = 5.0
_service_numbers = itertools.count(1)
#: threads for the watchers' polls (apart from the user's calls)
POLL_WORKERS = 8
#: the most user-pool threads one client method may hold at once
METHOD_SHARE = EXECUTOR_WORKERS // 2


class CodeLabService:
    """State shared by every request of one Jupyter server."""

    def __init__(
        self,
        config: CodeLab,
        *,
        emulator: Any = None,
        logger: logging.Logger | None = None,
        temp_dirs: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.emulator = emulator
        self.log = logger or log
        #: the executor's threads are named after this service, so stop() can wait for exactly them
        self.thread_name_prefix = f"codelab-{next(_service_numbers)}"
        self.executor = ThreadPoolExecutor(
            max_workers=EXECUTOR_WORKERS, thread_name_prefix=self.thread_name_prefix
        )
        self.poll_executor = ThreadPoolExecutor(
            max_workers=POLL_WORKERS, thread_name_prefix=f"{self.thread_name_prefix}-poll"
        )
        self.watchers = WatcherHub(self.poll_instance)
        from .workspace_service import WorkspaceService

        #: links, transfer jobs and the lease guard (design.md §7)
        self.workspace = WorkspaceService(self)
        self._shares: dict[str, asyncio.Semaphore] = {}
        self._instance_locks: dict[int, asyncio.Lock] = {}
        self._opens: dict[tuple[Any, ...], asyncio.Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._client: ModelArtsClient | None = None
        self._client_key: tuple[Any, ...] | None = None
        self._images: tuple[float, list[Image]] | None = None
        self._images_lock = asyncio.Lock()
        self._isolated_home: str | None = None
        self._creds_cache: tuple[tuple[Any, ...], Credentials | CredentialsError | None] | None = None
        #: temporary folders this service owns (the demo's), removed by close()
        self._temp_dirs: list[str] = list(temp_dirs)
        if emulator is not None:
            # the demo never reads or overwrites the user's real credentials
            self._isolated_home = tempfile.mkdtemp(prefix="codelab-emulator-home-")
            self._temp_dirs.append(self._isolated_home)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_config_parent(cls, parent: Any, logger: logging.Logger | None = None) -> CodeLabService:
        """The service of a Jupyter server: ``c.CodeLab.*`` read from ``parent``'s configuration."""
        config = CodeLab(parent=parent)
        logger = logger or log
        if not config.emulator:
            return cls(config, logger=logger)
        emulator, folders = start_embedded_emulator(config, logger)
        return cls(config, emulator=emulator, logger=logger, temp_dirs=folders)

    # ----------------------------------------------------------------- credentials
    def _credentials_fingerprint(self) -> tuple[Any, ...]:
        from .credentials import sources_fingerprint

        if self._isolated_home is not None:
            return sources_fingerprint(self.config.credentials_file, environ={}, home=self._isolated_home)
        return sources_fingerprint(self.config.credentials_file)

    def resolve_credentials(self) -> Credentials | None:
        """The current credentials (or None); re-read only when a source changed (stat and environment)."""
        from .credentials import resolve_credentials

        key = self._credentials_fingerprint()
        cached = self._creds_cache
        if cached is not None and cached[0] == key:
            if isinstance(cached[1], CredentialsError):
                raise cached[1]
            return cached[1]
        try:
            if self._isolated_home is not None:
                found = resolve_credentials(
                    self.config.credentials_file, environ={}, home=self._isolated_home
                )
            else:
                found = resolve_credentials(self.config.credentials_file)
        except CredentialsError as exc:
            self._creds_cache = (key, exc)
            raise
        self._creds_cache = (key, found)
        return found

    def credentials_status(self) -> dict[str, Any]:
        try:
            creds = self.resolve_credentials()
        except CredentialsError as exc:
            return {"configured": False, "source": None, "access_key": None, "error": exc.message}
        if creds is None:
            return {"configured": False, "source": None, "access_key": None}
        return creds.describe()

    def status(self) -> dict[str, Any]:
        from . import __version__

        try:
            creds = self.resolve_credentials()
        except CredentialsError:
            creds = None
        region = (creds.region if creds is not None else None) or self.config.region
        project_id = self.config.project_id or (creds.project_id if creds is not None else None)
        with self._lock:
            client = self._client
        if client is not None and not project_id:
            project_id = getattr(client, "_project_id", None)
        return {
            "version": __version__,
            "region": region,
            "project_id": project_id,
            "modelarts_endpoint": self.config.endpoints_for(region)[0],
            "emulator": self.emulator is not None,
            "demo_account": self._is_demo(creds),
            "credentials": self.credentials_status(),
            # the regions a user may sign in to (the panel lists these; codelab_ext.regions)
            "regions": known_regions([self.config.region]),
            "lease": lease_bounds(),
        }

    def _make_client(self, creds: Credentials) -> ModelArtsClient:
        from .modelarts import ModelArtsClient

        return ModelArtsClient.from_config(self.config, creds)

    def client(self) -> ModelArtsClient:
        """The client for the current credentials (rebuilt when they change)."""
        creds = self.resolve_credentials()
        if creds is None:
            raise CredentialsError.none_configured()
        key = (creds,)
        with self._lock:
            if self._client is None or self._client_key != key:
                if self._client is not None:
                    self._client.close()
                self._client = self._make_client(creds)
                self._client_key = key
                self._images = None
            return self._client

    async def store_credentials(self, values: dict[str, str]) -> dict[str, Any]:
        """Check the keys against the cloud, then store them (mode 0600) and answer like status."""
        from .credentials import Credentials, store_credentials

        creds = Credentials.from_input(values)
        probe = self._make_client(creds)
        try:
            await self.run(probe.verify_new_credentials)
        finally:
            probe.close()
        await self.run(store_credentials, self.config.credentials_file, creds)
        self.log.info("codelab: stored credentials for access key %s", creds.masked_key)
        self._reset_client()
        return self.status()

    def _is_demo(self, creds: Any) -> bool:
        if self.emulator is None or creds is None:
            return False
        from .emulator import DEMO_ACCOUNT

        return bool(creds.access_key == DEMO_ACCOUNT.access_key)

    async def use_demo_account(self) -> dict[str, Any]:
        """Store the embedded emulator's demo account (what the demo starts with); answer like status."""
        from .credentials import store_credentials

        if self.emulator is None:
            raise ValidationError(
                tr(
                    "There is no demo account: this server talks to ModelArts, not to the embedded "
                    "emulator (CODELAB_EMULATOR=1)."
                )
            )
        await self.run(store_credentials, self.config.credentials_file, demo_credentials(self.config.region))
        self._reset_client()
        return self.status()

    async def forget_credentials(self) -> bool:
        from .credentials import forget_credentials

        removed = await self.run(forget_credentials, self.config.credentials_file)
        self._reset_client()
        return removed

    def _reset_client(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None
            self._client_key = None
            self._images = None

    # ----------------------------------------------------------------- running blocking calls
    async def run(
        self, fn: Callable[..., T], *args: Any, executor: ThreadPoolExecutor | None = None, **kwargs: Any
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor or self.executor, functools.partial(fn, *args, **kwargs))

    async def call(self, method: str, *args: Any, poll: bool = False, **kwargs: Any) -> Any:
        """Call a ModelArtsClient method in a thread, with a credential hint on auth errors.

        User calls run in the user pool, at most :data:`METHOD_SHARE` of them per method at once;
        ``poll=True`` (the watchers) runs in the poll pool.
        """
        client = self.client()
        try:
            if poll:
                return await self.run(getattr(client, method), *args, executor=self.poll_executor, **kwargs)
            share = self._shares.get(method)
            if share is None:
                share = self._shares[method] = asyncio.Semaphore(METHOD_SHARE)
            async with share:
                return await self.run(getattr(client, method), *args, **kwargs)
        except UpstreamError as exc:
            add_credentials_hint(exc, client.credentials)
            raise

    def instance_lock(self) -> asyncio.Lock:
        """The lock serialising opens, starts and stops of the current project (one per client)."""
        client = self.client()
        key = id(client)
        lock = self._instance_locks.get(key)
        if lock is None:
            # one client per credential set: forget the locks of clients that are gone
            self._instance_locks = {k: v for k, v in self._instance_locks.items() if v.locked()}
            lock = self._instance_locks[key] = asyncio.Lock()
        return lock

    # ----------------------------------------------------------------- operations
    async def fetch_instance(self, instance_id: str) -> dict[str, Any]:
        return await self.call("get_instance", instance_id)

    async def poll_instance(self, instance_id: str) -> dict[str, Any]:
        """A watcher's poll (the poll pool: never waits behind the user's calls)."""
        return await self.call("get_instance", instance_id, poll=True)

    async def images(self, filters: dict[str, str]) -> list[Image]:
        """The catalogue, the default image marked (``default``, :func:`opening.mark_default_image`), each
        image with the ``free_flavor`` it runs on (:func:`models.free_flavor_for`).

        The free flavors come from ListFlavors, cached with the images; when they cannot be read the
        images are answered without ``free_flavor`` (the panel then says nothing of the flavor).
        """
        async with self._images_lock:
            cached = self._images
            if cached is None or time.monotonic() - cached[0] > self.config.images_cache_seconds:
                images = mark_default_image(await self.call("list_images"))
                try:
                    flavors = await self.call("list_free_flavors")
                except UpstreamError:
                    log.info("The free flavors could not be listed; images are answered without them.")
                else:
                    images = [with_free_flavor(image, flavors) for image in images]
                self._images = cached = (time.monotonic(), images)
        return filter_images(cached[1], filters)

    def _cached_images(self) -> list[Image]:
        """The catalogue as last fetched, however old (only for names in messages), or nothing."""
        return list(self._images[1]) if self._images is not None else []

    async def list_instances(self) -> list[dict[str, Any]]:
        return await self.call("list_instances")

    async def open(
        self, image_id: str | None, share_url: str | None, switch: bool, leave_files: bool = False
    ) -> dict[str, Any]:
        """Open (or reuse, or switch) the free instance; never switches a live one without ``switch``.

        A switch first pulls a linked folder back (:meth:`WorkspaceService.guard`), unless
        ``leave_files``.

        Identical concurrent opens share one upstream call; different ones wait for each other
        (:meth:`instance_lock`), and each re-checks the instance when its turn comes.
        """
        key = (id(self.client()), image_id, share_url, switch, leave_files)
        pending = self._opens.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._opens[key] = future
        try:
            instance = await self._open(image_id, share_url, switch, leave_files)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        else:
            future.set_result(instance)
            return instance
        finally:
            if self._opens.get(key) is future:
                del self._opens[key]

    async def _open(
        self, image_id: str | None, share_url: str | None, switch: bool, leave_files: bool
    ) -> dict[str, Any]:
        from .share_url import normalise_share_url

        async with self.instance_lock():
            # the rule lives in opening.plan_open; the catalogue only when the default image is asked for
            images = await self.images({}) if not image_id else self._cached_images()
            plan = plan_open(await self.list_instances(), image_id, images, confirmed=switch)
            if plan.switch and plan.instance is not None and plan.instance.get("id"):
                # a switch restarts the instance: pull a linked folder back first (or ask)
                await self.workspace.guard(str(plan.instance["id"]), "switch", leave_files=leave_files)
            instance = await self.call("open", image_id=plan.image_id, share_url=share_url)
        if share_url:
            instance = {**instance, "share_url": normalise_share_url(share_url)}
        self.watchers.publish(instance)
        return instance

    async def action(self, instance_id: str, verb: str, leave_files: bool = False) -> dict[str, Any]:
        """Start or stop, serialised with opens; a refusal (already there) carries the current instance.

        A Stop first pulls a linked folder back (:meth:`WorkspaceService.guard`), unless ``leave_files``.
        """
        if verb == "stop":
            await self.workspace.guard(instance_id, "stop", leave_files=leave_files)
        async with self.instance_lock():
            try:
                instance = await self.call(verb, instance_id)
            except ConflictError as exc:
                if "instance" not in exc.details:
                    with contextlib.suppress(UpstreamError):
                        exc.details["instance"] = await self.fetch_instance(instance_id)
                raise
        self.watchers.publish(instance)
        self.watchers.poke(instance_id)
        return instance

    async def get_lease(self, instance_id: str) -> dict[str, Any]:
        await self.call("running_instance", instance_id)  # never the lease of a non-running instance
        return await self.call("get_lease", instance_id)

    async def renew_lease(
        self, instance_id: str, duration_ms: int, *, shorten: bool = False
    ) -> dict[str, Any]:
        """Set the lease (``ModelArtsClient.change_lease``: a 409 with the lease when it would shorten it)."""
        await self.call("running_instance", instance_id)  # never the lease of a non-running instance
        lease = await self.call("change_lease", instance_id, duration_ms, shorten=shorten)
        self.watchers.poke(instance_id)
        return lease

    async def ssh_config(self, instance_id: str, alias: str | None, identity_file: str | None) -> str:
        from .ssh import render_ssh_config

        instance = await self.fetch_instance(instance_id)
        creds = self.resolve_credentials()
        region = (creds.region if creds is not None else None) or self.config.region
        return render_ssh_config(instance, region=region, alias=alias, identity_file=identity_file)

    async def install_ssh_config(
        self, instance_id: str, alias: str | None, identity_file: str | None
    ) -> dict[str, Any]:
        """Render the block as ``ssh_config`` does and install it as ``jupyter codelab ssh-config --install``
        does; answer ``{id, alias, block, installed, command}`` (the CLI's ``--json`` plus the command)."""
        from .ssh import default_alias, render_ssh_config, ssh_command
        from .ssh_install import install_ssh_config

        instance = await self.fetch_instance(instance_id)
        creds = self.resolve_credentials()
        region = (creds.region if creds is not None else None) or self.config.region
        chosen = alias or default_alias(region)
        block = render_ssh_config(instance, region=region, alias=chosen, identity_file=identity_file)
        loop = asyncio.get_running_loop()
        path = await loop.run_in_executor(self.executor, install_ssh_config, block)
        return {
            "id": instance.get("id"),
            "alias": chosen,
            "block": block,
            "installed": str(path),
            "command": ssh_command(instance, alias=chosen),
        }

    async def ssh_command(self, instance_id: str, identity_file: str | None) -> str:
        """The one-line ssh command of the instance, with ``identity_file`` when given."""
        from .ssh import ssh_command

        return ssh_command(await self.fetch_instance(instance_id), identity_file=identity_file)

    def close(self) -> None:
        """Stop watchers, client, executor, embedded emulator; remove temporary folders (safe twice)."""
        self.watchers.close()
        self._reset_client()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.poll_executor.shutdown(wait=False, cancel_futures=True)
        if self.emulator is not None:
            self.emulator.stop()
        for folder in self._temp_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        self._temp_dirs = []

    def executor_threads(self) -> list[threading.Thread]:
        """The live threads of this service's executors (the user pool and the poll pool)."""
        prefixes = (self.thread_name_prefix + "_", self.thread_name_prefix + "-poll_")
        return [t for t in threading.enumerate() if t.name.startswith(prefixes)]

    async def stop(self, wait: float = STOP_WAIT_SECONDS) -> None:
        """:meth:`close`, then wait (at most ``wait`` seconds) for the watcher tasks and executor threads."""
        await self.workspace.close(wait)
        tasks = self.watchers.tasks()
        self.close()
        if tasks:
            await asyncio.wait(tasks, timeout=wait)
        deadline = time.monotonic() + wait
        while self.executor_threads() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        left = self.executor_threads()
        if left:
            self.log.warning("codelab: %d executor thread(s) still busy at shutdown", len(left))


def with_free_flavor(image: Image, flavors: Sequence[FreeFlavor]) -> Image:
    """The image plus ``free_flavor``: the flavor an instance of it runs on, or None."""
    from .models import free_flavor_for

    out = dict(image)
    out["free_flavor"] = free_flavor_for(image, flavors)
    return cast("Image", out)


def lease_bounds() -> LeaseBounds:
    """The lease rule :func:`validation.validate_lease_ms` enforces, for the panel to show."""
    from .validation import DEFAULT_LEASE_MS, MAX_LEASE_MS, MIN_LEASE_MS

    return {"default_ms": DEFAULT_LEASE_MS, "min_ms": MIN_LEASE_MS, "max_ms": MAX_LEASE_MS}


def filter_images(images: Sequence[Image], filters: dict[str, str]) -> list[Image]:
    """Apply the ``GET images`` filters locally (ModelArts has no arch/category filter)."""
    from .models import image_category

    out = []
    name = filters.get("name", "").lower()
    for image in images:
        if "type" in filters and str(image.get("type") or "").upper() != filters["type"]:
            continue
        if "arch" in filters and str(image.get("arch") or "").lower() != filters["arch"]:
            continue
        if "category" in filters and image_category(image) != filters["category"]:
            continue
        if name and name not in str(image.get("name") or "").lower():
            continue
        out.append(image)
    return out


def demo_credentials(region: str) -> Any:
    """The embedded emulator's demo account as stored credentials (the demo starts signed in with it)."""
    from .credentials import Credentials
    from .emulator import DEMO_ACCOUNT

    return Credentials(
        source="stored",
        access_key=DEMO_ACCOUNT.access_key,
        secret_key=DEMO_ACCOUNT.secret_key,
        region=region,
    )


def start_embedded_emulator(config: CodeLab, logger: logging.Logger) -> tuple[Any, list[str]]:
    """Start the emulator in a thread and point the configuration at it with its demo account.

    Answers the emulator and the temporary folders made for it (its credential file's).
    """
    from .credentials import store_credentials
    from .emulator import Emulator

    emulator = Emulator(speed=config.emulator_speed, instance_servers=config.emulator_instance_servers)
    url = emulator.start_in_thread(port=0)
    config.modelarts_endpoint = url
    config.iam_endpoint = url
    # the demo keeps its own credentials: the user's real stored keys are never read or replaced
    folder = tempfile.mkdtemp(prefix="codelab-emulator-")
    config.credentials_file = str(Path(folder) / "credentials.json")
    store_credentials(config.credentials_file, demo_credentials(config.region))
    logger.warning(
        "codelab_ext: the %s/ routes use the embedded ModelArts EMULATOR at %s (demo account, no cloud).",
        NAMESPACE,
        url,
    )
    return emulator, [folder]

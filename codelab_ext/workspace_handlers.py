"""REST routes of the workspace (design.md §7): ``codelab/instances/{id}/workspace``.

Thin, like :mod:`codelab_ext.handlers`: parse, validate, await one coroutine of
:class:`~codelab_ext.workspace_service.WorkspaceService`, answer JSON. The instance token never
leaves the server (the transfers run here); the one URL with a token the browser gets is the
``open_url`` of a push made to open a notebook, which the user opens.
"""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from .errors import ValidationError
from .handlers import ID, CodeLabHandler, codelab_errors
from .i18n import tr
from .workspace_service import KINDS, check_fields, validate_open_path


class WorkspaceHandler(CodeLabHandler):
    """``GET`` the link and what waits on each side, ``PUT`` a link, ``DELETE`` it (no file is touched)."""

    @property
    def root_dir(self) -> str:
        return str(self.settings.get("server_root_dir") or ".")

    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self, instance_id: str) -> None:
        iid = self.instance_id(instance_id)
        query = self.query_args({"waiting"})
        if query.get("waiting", "1") not in ("0", "1"):
            raise ValidationError(tr("Query parameter 'waiting' must be 0 or 1."), field="waiting")
        waiting = query.get("waiting", "1") == "1"
        self.write_json(await self.service.workspace.describe(iid, self.root_dir, waiting=waiting))

    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def put(self, instance_id: str) -> None:
        iid = self.instance_id(instance_id)
        body = self.json_body(allow_empty=False)
        self.write_json(await self.service.workspace.put_link(iid, body, self.root_dir))

    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def delete(self, instance_id: str) -> None:
        iid = self.instance_id(instance_id)
        await self.service.workspace.delete_link(iid)
        self.set_status(204)
        self.finish()


class WorkspaceActionHandler(CodeLabHandler):
    """``POST …/workspace/{push|pull|sync}``: 202 with the job (poll it or follow ``event: workspace``)."""

    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def post(self, instance_id: str, kind: str) -> None:
        iid = self.instance_id(instance_id)
        if kind not in KINDS:
            raise ValidationError(tr("Unknown workspace action."))
        body = self.json_body()
        check_fields(body, {"open"} if kind == "push" else set())
        open_path = validate_open_path(body.get("open"))
        job = await self.service.workspace.start(iid, kind, "user", open_path=open_path)
        self.write_json({"job": job.to_json()}, status=202)


class WorkspaceJobHandler(CodeLabHandler):
    @tornado.web.authenticated
    @authorized
    @codelab_errors
    async def get(self, instance_id: str, job_id: str) -> None:
        iid = self.instance_id(instance_id)
        self.write_json({"job": self.service.workspace.job(iid, job_id)})


def workspace_routes() -> list[tuple[str, type[CodeLabHandler]]]:
    return [
        (f"instances/{ID}/workspace", WorkspaceHandler),
        (f"instances/{ID}/workspace/(?P<kind>push|pull|sync)", WorkspaceActionHandler),
        # any segment reaches the handler: an unknown or malformed job id is a JSON 404, not tornado's page
        (f"instances/{ID}/workspace/jobs/(?P<job_id>[^/]+)", WorkspaceJobHandler),
    ]

"""The shared-notebook URL rule: which URLs are accepted, and the raw address each page URL becomes.

One home for the rule, used by the REST API (``POST open``, ``GET share-url``), the command line
(``open --share-url``) and the client library (:meth:`~codelab_ext.modelarts.ModelArtsClient.open`):

* :func:`validate_share_url`: a plain ``http``/``https`` URL with a host, at most 2048 characters,
  without user name or password, whitespace or control characters (refused with a message that never
  echoes the URL);
* :func:`to_raw_url`: the page URLs of the code hosts people share notebooks from become the raw file
  ModelArts can download (GitHub blob pages, gists, GitLab and Gitee blob pages); any other URL is kept;
* :func:`normalise_share_url`: both, in that order: what is sent to ModelArts;
* :func:`share_url_preview`: what the panel shows before anything is sent ("Will be sent as ...").
"""

from __future__ import annotations

import re
from typing import Any, TypedDict
from urllib.parse import quote, urlsplit

from .errors import ValidationError
from .i18n import tr
from .validation import has_control

__all__ = [
    "MAX_SHARE_URL",
    "SharePreview",
    "normalise_share_url",
    "share_url_preview",
    "to_raw_url",
    "validate_share_url",
]

#: the longest share URL accepted
MAX_SHARE_URL = 2048

_GIST_ID_RE = re.compile(r"[0-9A-Za-z]+")


class SharePreview(TypedDict):
    """The answer of ``GET codelab/share-url``."""

    share_url: str
    converted: bool
    looks_like_notebook: bool


def validate_share_url(value: Any, field: str = "share_url") -> str:
    """The stripped URL if it is a plain http(s) URL of a shared notebook; else :class:`ValidationError`."""
    if not isinstance(value, str):
        raise ValidationError(tr("'{field}' must be a string.", field=field), field=field)
    url = value.strip()
    if not url:
        raise ValidationError(tr("'{field}' is empty.", field=field), field=field)
    if len(url) > MAX_SHARE_URL:
        raise ValidationError(
            tr(
                "'{field}' is longer than {MAX_SHARE_URL} characters.",
                field=field,
                MAX_SHARE_URL=MAX_SHARE_URL,
            ),
            field=field,
        )
    if has_control(url) or any(ch.isspace() for ch in url):
        raise ValidationError(
            tr("'{field}' must not contain spaces or control characters.", field=field), field=field
        )
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise ValidationError(tr("'{field}' is not a valid URL.", field=field), field=field) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError(tr("'{field}' must be an http:// or https:// URL.", field=field), field=field)
    if not parts.hostname:
        raise ValidationError(tr("'{field}' has no host.", field=field), field=field)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValidationError(
            tr("'{field}' must not contain a user name or password.", field=field), field=field
        )
    if port == 0:
        raise ValidationError(tr("'{field}' is not a valid URL.", field=field), field=field)
    return url


def _github(segments: list[str]) -> str | None:
    # ['', user, repo, 'blob' | 'raw', ref, *path]
    if len(segments) >= 6 and segments[3] in ("blob", "raw") and all(segments[1:6]):
        return f"https://raw.githubusercontent.com/{segments[1]}/{segments[2]}/{'/'.join(segments[4:])}"
    return None


def _gist(path: str, fragment: str) -> str | None:
    segments = [segment for segment in path.split("/") if segment]
    if len(segments) != 2 or not _GIST_ID_RE.fullmatch(segments[1]):
        return None
    user, gist_id = segments
    raw = f"https://gist.githubusercontent.com/{user}/{gist_id}/raw/"
    # the fragment names one file of the gist as GitHub's anchor: ``#file-<name>-ipynb``
    if fragment.startswith("file-") and len(fragment) > len("file-"):
        name = fragment[len("file-") :]
        if name.endswith("-ipynb") and len(name) > len("-ipynb"):
            name = name[: -len("-ipynb")] + ".ipynb"
        raw += quote(name, safe="-_.~")
    return raw


def _gitlab(segments: list[str]) -> str | None:
    # ['', *namespace, project, '-', 'blob', ref, *path]: at least one namespace level
    for index in range(3, len(segments) - 3):
        if segments[index] == "-" and segments[index + 1] == "blob":
            owner, rest = segments[1:index], segments[index + 2 :]
            if all(owner) and len(rest) >= 2 and all(rest):
                return f"https://gitlab.com/{'/'.join(owner)}/-/raw/{'/'.join(rest)}"
            return None
    return None


def _gitee(segments: list[str]) -> str | None:
    # ['', owner, repo, 'blob', ref, *path]
    if len(segments) >= 6 and segments[3] == "blob" and all(segments[1:6]):
        return f"https://gitee.com/{segments[1]}/{segments[2]}/raw/{'/'.join(segments[4:])}"
    return None


def to_raw_url(url: str) -> str:
    """The raw-file URL of a notebook page URL; any other URL unchanged (query and fragment dropped).

    * ``github.com/u/r/blob/<ref>/<path>`` (or ``/raw/``) → ``raw.githubusercontent.com/u/r/<ref>/<path>``;
    * ``gist.github.com/u/<id>`` → ``gist.githubusercontent.com/u/<id>/raw/``, plus the file the fragment
      names (``#file-name-ipynb`` → ``name.ipynb``: GitHub's lower-cased anchor, a best effort for
      unusual names);
    * ``gitlab.com/<group>/<project>/-/blob/<ref>/<path>`` →
      ``gitlab.com/<group>/<project>/-/raw/<ref>/<path>``;
    * ``gitee.com/u/r/blob/<ref>/<path>`` → ``gitee.com/u/r/raw/<ref>/<path>``.

    A URL with a user name, a password or an explicit port is never rewritten. The raw URLs are https.
    """
    if not isinstance(url, str):
        return url
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or parts.username or parts.password or port:
        return url
    segments = parts.path.split("/")
    raw: str | None = None
    if host in ("github.com", "www.github.com"):
        raw = _github(segments)
    elif host == "gist.github.com":
        raw = _gist(parts.path, parts.fragment)
    elif host in ("gitlab.com", "www.gitlab.com"):
        raw = _gitlab(segments)
    elif host in ("gitee.com", "www.gitee.com"):
        raw = _gitee(segments)
    return raw if raw is not None else url


def normalise_share_url(value: Any, field: str = "share_url") -> str:
    """What is sent to ModelArts for a share URL: validated (:func:`validate_share_url`), then raw."""
    return to_raw_url(validate_share_url(value, field))


def share_url_preview(value: Any, field: str = "url") -> SharePreview:
    """What :func:`normalise_share_url` makes of ``value``, and whether it looks like a notebook."""
    given = validate_share_url(value, field)
    sent = to_raw_url(given)
    parts = urlsplit(sent)
    looks = parts.path.lower().endswith(".ipynb") or (parts.hostname or "") == "gist.githubusercontent.com"
    return {"share_url": sent, "converted": sent != given, "looks_like_notebook": looks}

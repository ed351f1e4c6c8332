"""Translations of the messages of the server extension and the command line (gettext).

One home for every message: the code that raises or prints it writes it once, in English, as
``tr("Field '{name}' is required.", name=name)``. That English text is the gettext ``msgid``;
``scripts/translations.py`` extracts every ``tr()``/``tr_n()`` call into
``codelab_ext/locale/<lang>/LC_MESSAGES/codelab_ext.po`` (the same catalogue as the panel's strings)
and compiles the ``.mo`` shipped in the package. ``make lint`` fails when one is missing or stale.

A :class:`Message` is a ``str`` (its value is the English text, so logs, comparisons and
``json.dumps`` keep working) that remembers its ``msgid`` and parameters. It is translated at the
edge, where the reader's language is known, and the parameters are put in *after* translation:

* the REST API renders it in the panel's language (``Accept-Language``, or ``?lang=`` for the
  event stream that ``EventSource`` opens without headers): :func:`negotiate`, :func:`localize`;
* the command line renders it in the terminal's language (``LANGUAGE``, ``LC_ALL``,
  ``LC_MESSAGES``, ``LANG``): :func:`env_language`, :func:`use_language`;
* the server's log stays English (``str.__str__`` of a message outside :func:`use_language`).

Text that is not ours (Huawei Cloud's ``error_msg``, file names, ids) goes in as a parameter and is
never translated.
"""

from __future__ import annotations

import contextlib
import gettext
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

DOMAIN = "codelab_ext"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

#: the language messages are rendered in when ``str()`` is called on them (None: English)
_current: ContextVar[str | None] = ContextVar("codelab_ext_language", default=None)


class Message(str):
    """A translatable message: English as a ``str``, translated on :meth:`render`."""

    msgid: str
    plural: str | None
    n: int | None
    params: dict[str, Any]

    def __new__(
        cls, msgid: str, plural: str | None = None, n: int | None = None, params: Mapping[str, Any] = {}
    ) -> Message:
        english = _interpolate(_pick(msgid, plural, n), msgid, params, None)
        self = super().__new__(cls, english)
        self.msgid = msgid
        self.plural = plural
        self.n = n
        self.params = dict(params)
        return self

    def render(self, language: str | None) -> str:
        """This message in ``language`` (a catalogue name such as ``zh_CN``; None: English)."""
        if language is None:
            return _interpolate(_pick(self.msgid, self.plural, self.n), self.msgid, self.params, None)
        catalogue = _translations(language)
        if self.plural is not None:
            text = catalogue.ngettext(self.msgid, self.plural, self.n if self.n is not None else 1)
        else:
            text = catalogue.gettext(self.msgid)
        return _interpolate(text, _pick(self.msgid, self.plural, self.n), self.params, language)

    def __str__(self) -> str:
        return self.render(_current.get())

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Message, (self.msgid, self.plural, self.n, self.params))


def tr(msgid: str, /, **params: Any) -> Message:
    """A message to translate; ``{name}`` placeholders are filled from ``params`` after translation.

    ``msgid`` must be a literal string (the extractor reads it from the source); a literal brace is
    written ``{{`` or ``}}``. Parameters may themselves be messages: they are rendered in the same
    language.
    """
    return Message(msgid, params=params)


def tr_n(singular: str, plural: str, n: int, /, **params: Any) -> Message:
    """A message with a plural form chosen by ``n`` (also available as the ``{n}`` placeholder)."""
    return Message(singular, plural, n, {"n": n, **params})


def _pick(msgid: str, plural: str | None, n: int | None) -> str:
    return plural if plural is not None and n != 1 else msgid


def _interpolate(text: str, fallback: str, params: Mapping[str, Any], language: str | None) -> str:
    values = {
        key: value.render(language) if isinstance(value, Message) else value for key, value in params.items()
    }
    try:
        return text.format_map(values)
    except (KeyError, IndexError, ValueError, AttributeError):
        # a translation with a broken placeholder must never hide the message: use the English one
        try:
            return fallback.format_map(values)
        except (KeyError, IndexError, ValueError, AttributeError):
            return fallback


# ------------------------------------------------------------------------------------ languages


@lru_cache(maxsize=1)
def available() -> frozenset[str]:
    """The languages with a compiled catalogue in the package (``zh_CN``, ...)."""
    if not LOCALE_DIR.is_dir():
        return frozenset()
    return frozenset(
        entry.name for entry in LOCALE_DIR.iterdir() if (entry / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file()
    )


@lru_cache(maxsize=16)
def _translations(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[language], fallback=True)


#: the Chinese variants written in simplified characters (zh_TW/zh_HK are traditional: not these)
_SIMPLIFIED = {"zh", "zh_cn", "zh_sg", "zh_hans", "zh_hans_cn", "zh_hans_sg"}


def normalize(tag: str | None) -> str | None:
    """The catalogue for a language tag (``zh-CN``, ``zh_CN.UTF-8``, ``zh-Hans``): None if there is none.

    English (``en``, ``C``, ``POSIX``) and unknown languages give None: the English text.
    """
    if not tag:
        return None
    base = tag.strip().split(".", 1)[0].split("@", 1)[0].replace("-", "_")
    if not base or base in ("C", "POSIX", "*"):
        return None
    lower = base.lower()
    if lower in _SIMPLIFIED:
        lower = "zh_cn"
    by_lower = {name.lower(): name for name in available()}
    if lower in by_lower:
        return by_lower[lower]
    language = lower.split("_", 1)[0]
    return by_lower.get(language)


def negotiate(header: str | None) -> str | None:
    """The best catalogue for an ``Accept-Language`` header (or a single tag); None: English.

    Tags are tried by quality, then by order; ``en`` (or any language we have no catalogue for
    ranked above the ones we have) stops the search at English only when it ranks first.
    """
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:512].split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip()
        quality = 1.0
        for piece in pieces[1:]:
            name, _, value = piece.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, index, tag))
    for _quality, _index, tag in sorted(ranked):
        if tag.lower() == "en" or tag.lower().startswith("en-"):
            return None
        found = normalize(tag)
        if found:
            return found
    return None


def env_language(environ: Mapping[str, str] | None = None) -> str | None:
    """The catalogue the terminal asks for, as gettext reads it: LANGUAGE, LC_ALL, LC_MESSAGES, LANG."""
    env = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if not value:
            continue
        if name == "LANGUAGE":
            # a priority list; GNU gettext ignores it when the locale itself is C/POSIX
            locale_name = env.get("LC_ALL") or env.get("LC_MESSAGES") or env.get("LANG") or ""
            if locale_name.split(".", 1)[0] in ("C", "POSIX"):
                continue
            for tag in value.split(":"):
                if tag.split("_", 1)[0].lower() == "en":
                    return None
                found = normalize(tag)
                if found:
                    return found
            continue
        return normalize(value)
    return None


def current_language() -> str | None:
    return _current.get()


@contextlib.contextmanager
def use_language(language: str | None) -> Iterator[None]:
    """Render messages in ``language`` when ``str()`` is called on them (the command line's output)."""
    token = _current.set(language)
    try:
        yield
    finally:
        _current.reset(token)


def localize(value: Any, language: str | None) -> Any:
    """``value`` (JSON: dicts, lists, strings) with every :class:`Message` in it rendered in ``language``."""
    if language is None:
        return value  # a message *is* its English text: json.dumps writes it as it is
    if isinstance(value, Message):
        return value.render(language)
    if isinstance(value, dict):
        return {key: localize(item, language) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [localize(item, language) for item in value]
    return value


# ------------------------------------------------------------------------------------ JupyterLab's settings


def serve_settings_translations() -> bool:
    """Let JupyterLab translate our settings schema (titles, descriptions, menu label) with our catalogue.

    JupyterLab's server translates each settings schema before it serves it, in the gettext domain the
    schema names under ``jupyter.lab.internationalization`` (``codelab_ext``), but it looks for that
    domain's ``.mo`` in the installed language pack only: a package's own catalogue, published through
    the ``jupyterlab.locale`` entry point, reaches the panel (``/lab/api/translations``) and not the
    settings editor. This registers, for our domain, a bundle of JupyterLab's own kind that reads the
    package's catalogue first and the language pack's after it. Returns False (and changes nothing)
    without JupyterLab's server, or with one whose translator is not laid out as this expects.
    """
    try:
        from jupyterlab_server.translation_utils import TranslationBundle, translator
    except ImportError:
        return False
    bundles = getattr(translator, "_TRANSLATORS", None)
    if not isinstance(bundles, dict) or not hasattr(TranslationBundle, "update_locale"):
        return False

    class PackageBundle(TranslationBundle):
        def update_locale(self, locale_: str) -> None:
            super().update_locale(locale_)
            if getattr(self, "_translator", None) is None:
                return
            # a fresh copy from gettext's cache: adding a fallback never touches _translations()
            ours = gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[locale_], fallback=True)
            if type(ours) is not gettext.NullTranslations:
                ours.add_fallback(self._translator)
                self._translator = ours

    bundles[translator.normalize_domain(DOMAIN)] = PackageBundle(DOMAIN, getattr(translator, "_LOCALE", "en"))
    return True

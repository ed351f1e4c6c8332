"""``jupyter codelab <verb>``: the CodeLab extension's command line (the README's "Command line").

Verbs: ``login``, ``logout``, ``status``, ``images``, ``open``, ``list``, ``show``, ``start``, ``stop``,
``extend``, ``ssh-config``, ``kernels``, ``emulator`` and ``demo``. They use the same configuration
(:class:`~codelab_ext.config.CodeLab`, environment variables included), credential sources, validation
rules, client and poll policy as the server extension.

Output contract: results on stdout (``--json`` gives machine-readable JSON where it fits); prompts,
progress of ``open --json`` and errors on stderr. An error is **one line** ``error: ...`` on stderr
(no traceback unless ``--debug``) with one of the exit codes below. Everything a person reads
(argparse's own words, table headings and status codes included) is in the terminal's language, the
``error:`` prefix too; scripts read the exit code or ``--json``, or run with ``LC_ALL=C``. The secret
key, security tokens and passwords are never printed or logged; the notebook token is printed only as
part of the instance URL at the end of ``open``, for the user's own terminal.

Start-up stays fast: this module imports only the standard library (and codelab_ext's own text,
translation and display helpers) at import time. ``--help`` and
``status`` (without ``--check``) never import tornado, the Jupyter server or ``requests``; verbs that
talk to the cloud import the client when they run.

``--json`` prints instances as the REST API does (``GET instances/{id}``): the notebook token only
inside ``url``, the ``token`` field null.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from ._cli_progress import status_word
from .text import one_line, pad, printable, width

if TYPE_CHECKING:  # imported lazily at run time (fast start)
    from .config import CodeLab
    from .credentials import Credentials
    from .modelarts import ModelArtsClient
    from .shapes import Image, Instance

from .i18n import Message, current_language, env_language, tr, tr_n, use_language
from .opening import SwitchRequired, image_label, plan_open

log = logging.getLogger("codelab_ext.cli")

PROG = "jupyter codelab"

#: success (for ``open``: the instance is RUNNING)
EXIT_OK = 0
#: a local problem: bad input, configuration, a file that cannot be written, no such image, ...
EXIT_ERROR = 1
#: the cloud (or the emulator) refused or failed: credentials, network, upstream errors
EXIT_UPSTREAM = 2
#: a confirmation was needed and not given (answered no, or stdin is not a terminal and no ``--yes``)
EXIT_NOT_CONFIRMED = 3
#: ``open`` (or ``start --wait``): the instance failed to start (its ``fail_reason`` is printed)
EXIT_INSTANCE_FAILED = 4
#: ``open``: the instance was still starting when ``--max-wait`` ran out (it keeps starting)
EXIT_STILL_STARTING = 5
#: the command line itself is wrong (unknown verb or flag, bad value)
EXIT_USAGE = 64
#: interrupted with Ctrl-C (SIGINT)
EXIT_INTERRUPTED = 130


def exit_codes_help() -> Message:
    """The exit codes, as ``--help`` ends."""
    return tr(
        "exit codes:\n"
        "  0    success (open: the instance is RUNNING)\n"
        "  1    local error (bad input, configuration, files)\n"
        "  2    cloud error (credentials refused, endpoint unreachable, upstream error)\n"
        "  3    confirmation needed and not given (use --yes in scripts)\n"
        "  4    the instance failed to start (its fail_reason is printed)\n"
        "  5    open --max-wait ran out while the instance was still starting\n"
        "  64   wrong command line\n"
        "  130  interrupted (Ctrl-C); an instance being opened is left as it is\n"
    )


HOUR_MS = 3_600_000
#: consecutive failed polls tolerated by ``open`` before giving up (the client retries each one too)
MAX_POLL_FAILURES = 5


class CliError(Exception):
    """A failure of the command line itself, with its exit code (the message is one line)."""

    def __init__(self, message: str | Message, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageError(CliError):
    def __init__(self, message: str | Message) -> None:
        super().__init__(message, EXIT_USAGE)


# ---------------------------------------------------------------------------------------------- parser


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help in the terminal's language: messages (:func:`~codelab_ext.i18n.tr`) render when printed.

    Descriptions are filled after translation (Chinese has no spaces to break at, and each of its
    characters takes two columns).
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return None if action.help is None else str(action.help)

    def _format_text(self, text: str) -> str:
        if isinstance(text, Message):
            rendered = str(text)
            if "\n" not in rendered.strip():
                wide = any(ord(ch) > 0x2E80 for ch in rendered)
                rendered = textwrap.fill(rendered, width=44 if wide else 88) + "\n"
            text = rendered
        return super()._format_text(text)

    def _format_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None) -> str:
        return super()._format_usage(usage, actions, groups, str(tr("usage: ")) if prefix is None else prefix)


#: argparse's own messages that a user can meet (its gettext msgids, %-placeholders filled by argparse),
#: in our catalogue; :meth:`_Parser.parse_known_args` hands them to argparse's gettext hook
_ARGPARSE_MESSAGES = {
    message.msgid: message
    for message in (
        tr("usage: "),
        tr("argument %(argument_name)s: %(message)s"),
        tr("the following arguments are required: %s"),
        tr("one of the arguments %s is required"),
        tr("not allowed with argument %s"),
        tr("ignored explicit argument %r"),
        tr("expected one argument"),
        tr("expected at most one argument"),
        tr("expected at least one argument"),
        tr("ambiguous option: %(option)s could match %(matches)s"),
        tr("unexpected option string: %s"),
        tr("unrecognized arguments: %s"),
        tr("invalid %(type)s value: %(value)r"),
        tr("invalid choice: %(value)r (choose from %(choices)s)"),
        tr("unknown parser %(parser_name)r (choices: %(choices)s)"),
    )
}
_ARGPARSE_PLURALS = {
    message.msgid: message for message in (tr_n("expected %s argument", "expected %s arguments", 1),)
}


def _argparse_gettext(text: str) -> str:
    message = _ARGPARSE_MESSAGES.get(text)
    return text if message is None else str(message)


def _argparse_ngettext(singular: str, plural: str, n: int) -> str:
    message = _ARGPARSE_PLURALS.get(singular)
    if message is None:
        return singular if n == 1 else plural
    return Message(message.msgid, message.plural, n).render(current_language())


@contextlib.contextmanager
def _argparse_in_language() -> Iterator[None]:
    """argparse's messages through its gettext hook (the module's ``_`` and ``ngettext``), in the
    terminal's language, for the time of one parse."""
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._, argparse.ngettext = _argparse_gettext, _argparse_ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 64 instead of usage dumps and exit 2.

    Abbreviated flags are refused: ``demo`` and ``emulator`` pass unknown flags on, and ``--time`` must
    reach JupyterLab rather than become ``--timeout``. argparse's own headings are translated here.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._positionals.title = tr("positional arguments")
        self._optionals.title = tr("options")
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = tr("show this help and exit")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        with _argparse_in_language():
            return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        raise UsageError(tr("{message} (see '{prog} --help')", message=message, prog=self.prog))


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(tr("{text!r} is not a number", text=text)) from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(tr("{text!r} must be a positive number", text=text))
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(tr("{text!r} is not a number", text=text)) from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(tr("{text!r} must be a number >= 0", text=text))
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(tr("{text!r} is not a port number", text=text)) from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(tr("{text!r} is not a port number (0-65535)", text=text))
    return value


def _common_options(*, suppress: bool) -> _Parser:
    """The global flags, accepted before and after the verb.

    The copy attached to each verb uses ``SUPPRESS`` defaults so that a flag given before the verb is
    not overwritten by the verb parser's default.
    """
    default: Any = argparse.SUPPRESS if suppress else None
    parent = _Parser(add_help=False)
    group = parent.add_argument_group(tr("global options"))
    group.add_argument(
        "--region", default=default, help=tr("region id (default: CODELAB_REGION or cn-north-4)")
    )
    group.add_argument(
        "--endpoint",
        default=default,
        metavar="URL",
        help=tr("ModelArts base URL (default: CODELAB_MODELARTS_ENDPOINT or the region's public endpoint)"),
    )
    group.add_argument(
        "--iam-endpoint",
        default=default,
        metavar="URL",
        help=tr("IAM base URL (default: CODELAB_IAM_ENDPOINT or the region's public endpoint)"),
    )
    group.add_argument(
        "--credentials-file",
        default=default,
        metavar="PATH",
        help=tr(
            "where login stores the keys (default: CODELAB_CREDENTIALS_FILE or <jupyter data dir>/codelab/)"
        ),
    )
    group.add_argument(
        "--timeout",
        default=default,
        type=_positive_float,
        metavar="SECONDS",
        help=tr(
            "deadline of each upstream request in seconds: lookup, connect, TLS, headers and body "
            "(default 30)"
        ),
    )
    group.add_argument(
        "-v",
        "--verbose",
        "--debug",
        dest="debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help=tr("DEBUG logging and tracebacks on stderr (secrets are never logged)"),
    )
    return parent


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help=tr("machine-readable JSON on stdout"))


def build_parser() -> _Parser:
    """The argparse tree of every verb."""
    from . import __version__

    parser = _Parser(
        prog=PROG,
        description=tr(
            "Open and manage your free Huawei Cloud ModelArts CodeLab instance from a terminal: sign in, "
            "pick an image, watch it start, extend its lease, connect over SSH."
        ),
        epilog=exit_codes_help(),
        formatter_class=_HelpFormatter,
        parents=[_common_options(suppress=False)],
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"codelab_ext {__version__}",
        help=tr("show the version and exit"),
    )
    verbs = parser.add_subparsers(dest="verb", metavar=tr("<verb>"), parser_class=_Parser)
    common = _common_options(suppress=True)

    def verb(name: str, help_text: Message, description: Message | None = None) -> argparse.ArgumentParser:
        return verbs.add_parser(
            name,
            help=help_text,
            description=description or help_text,
            parents=[common],
            epilog=exit_codes_help(),
            formatter_class=_HelpFormatter,
        )

    p = verb(
        "login",
        tr("store Huawei Cloud keys for the extension (checked against the cloud first)"),
        tr(
            "Prompt for the access key, the secret key (without echo), an optional security token, the "
            "region and the project id, check them against the cloud, then store them (mode 0600) where the "
            "server extension finds them. In scripts: --access-key AK --secret-key-stdin, the secret on "
            "stdin."
        ),
    )
    p.add_argument(
        "--access-key", metavar="AK", help=tr("the access key id (the secret is never an argument)")
    )
    p.add_argument(
        "--secret-key-stdin", action="store_true", help=tr("read the secret key from the first line of stdin")
    )
    p.add_argument(
        "--security-token-stdin",
        action="store_true",
        help=tr("read a security token (temporary keys) from the next line of stdin"),
    )
    p.add_argument("--project-id", metavar="ID", help=tr("project id (default: discovered through IAM)"))
    _json_flag(p)
    p.set_defaults(func=cmd_login)

    p = verb("logout", tr("forget the keys stored by login"))
    _json_flag(p)
    p.set_defaults(func=cmd_logout)

    p = verb(
        "status",
        tr("show the credential source, region, project, endpoint and masked key"),
        tr(
            "Show which credential source is used, the region, the project id, the endpoints and the masked "
            "access key. Offline unless --check. Exit 2 when no usable credentials are configured."
        ),
    )
    p.add_argument("--check", action="store_true", help=tr("also check the credentials against the cloud"))
    _json_flag(p)
    p.set_defaults(func=cmd_status)

    p = verb("images", tr("list the images a CodeLab can open"))
    p.add_argument("--arch", help=tr("x86_64 or aarch64"))
    p.add_argument("--category", help=tr("CPU, GPU or ASCEND"))
    p.add_argument("--name", help=tr("part of the image name"))
    _json_flag(p)
    p.set_defaults(func=cmd_images)

    p = verb(
        "open",
        tr("open (start) your free CodeLab and watch it start"),
        tr(
            "Open the free CodeLab instance (default image: the multi-kernel CPU image), optionally with a "
            "shared notebook, and show its four start-up steps live until it is RUNNING or fails. "
            "Switching a running instance to another image asks first unless --yes."
        ),
    )
    p.add_argument("--image", metavar="ID|NAME", help=tr("image id, name or name:tag (see 'images')"))
    p.add_argument("--share-url", metavar="URL", help=tr("http(s) URL of an .ipynb to open in the instance"))
    p.add_argument("-y", "--yes", action="store_true", help=tr("switch a running instance without asking"))
    p.add_argument("--no-wait", action="store_true", help=tr("return as soon as the open is accepted"))
    p.add_argument(
        "--max-wait",
        type=_positive_float,
        default=1800.0,
        metavar="SECONDS",
        help=tr("stop watching after this long (exit 5; the instance keeps starting). Default 1800"),
    )
    _json_flag(p)
    p.set_defaults(func=cmd_open)

    p = verb("list", tr("list your CodeLab instances"))
    _json_flag(p)
    p.set_defaults(func=cmd_list)

    p = verb(
        "kernels",
        tr("list the kernels of your running instances that this JupyterLab offers"),
        tr(
            "While an instance is RUNNING, the Jupyter server with this extension offers each kernel of "
            "the instance as codelab-<name>, run on the instance. This lists them (asking the instance)."
        ),
    )
    _json_flag(p)
    p.set_defaults(func=cmd_kernels)

    p = verb("show", tr("show one instance"))
    p.add_argument("instance_id", metavar="ID")
    _json_flag(p)
    p.set_defaults(func=cmd_show)

    p = verb("start", tr("start a stopped instance"))
    p.add_argument("instance_id", metavar="ID")
    p.add_argument("--wait", action="store_true", help=tr("show the start-up steps until RUNNING or failure"))
    p.add_argument(
        "--max-wait",
        type=_positive_float,
        default=1800.0,
        metavar="SECONDS",
        help=tr("with --wait: stop watching after this long (exit 5). Default 1800"),
    )
    _json_flag(p)
    p.set_defaults(func=cmd_start)

    p = verb("stop", tr("stop an instance (asks first unless --yes)"))
    p.add_argument("instance_id", metavar="ID")
    p.add_argument("-y", "--yes", action="store_true", help=tr("do not ask"))
    _json_flag(p)
    p.set_defaults(func=cmd_stop)

    p = verb("extend", tr("extend the lease of a running instance (counted from now)"))
    p.add_argument("instance_id", metavar="ID")
    p.add_argument(
        "--hours",
        type=float,
        default=1.0,
        metavar="N",
        help=tr("new lease length from now, 1 to 72 (default 1)"),
    )
    p.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help=tr("also when the new lease ends earlier than the current one"),
    )
    _json_flag(p)
    p.set_defaults(func=cmd_extend)

    p = verb(
        "ssh-config",
        tr("print (or --install) the OpenSSH config block of an instance"),
        tr(
            "Print the OpenSSH 'Host' block of an instance whose image offers SSH. With --install, write it "
            "as a managed block into ~/.ssh/config.d/codelab and add one Include line to ~/.ssh/config."
        ),
    )
    p.add_argument("instance_id", metavar="ID", nargs="?", help=tr("default: your only CodeLab instance"))
    p.add_argument("--alias", metavar="A", help=tr("Host alias (default: codelab-<region>)"))
    p.add_argument(
        "--identity-file", metavar="F", help=tr("private key file (default: ~/.ssh/<key pair>.pem)")
    )
    p.add_argument("--install", action="store_true", help=tr("install the block for 'ssh <alias>'"))
    _json_flag(p)
    p.set_defaults(func=cmd_ssh_config)

    from ._cli_workspace import add_workspace_verbs

    add_workspace_verbs(verb, _json_flag)

    p = verb(
        "emulator",
        tr("run the local ModelArts emulator in the foreground (Ctrl-C to stop)"),
        tr(
            "Run the local ModelArts + IAM emulator (a demo and test double, never the cloud) and print its "
            "URL and its demo account. Every RUNNING instance is served by a real Jupyter server over its "
            "work folder when jupyter_server is installed. Other arguments (--address, --ssh-host, "
            "--ssh-port, --data-dir, --no-instance-servers, --no-lab, --log-level) go to the emulator."
        ),
    )
    p.add_argument(
        "--port", type=_port, default=None, help=tr("port on 127.0.0.1 (default 8765; 0: any free one)")
    )
    p.add_argument(
        "--speed", type=_speed, default=None, help=tr("clock speed factor (default 1; 0 freezes the clock)")
    )
    p.set_defaults(func=cmd_emulator, passthrough=True, own_logging=True)

    p = verb(
        "demo",
        tr("run JupyterLab against the embedded emulator (no cloud account needed)"),
        tr(
            "Start JupyterLab with CODELAB_EMULATOR=1: the server extension embeds the emulator and its demo "
            "account; your own stored keys are neither read nor changed. JupyterLab runs in temporary "
            "config, data and runtime folders with a root folder of sample notebooks, all removed at exit; "
            "it prints one line ending with the URL. Other arguments go to 'jupyter lab'."
        ),
    )
    p.add_argument("--port", type=_port, default=None, help=tr("JupyterLab's port"))
    p.add_argument("--speed", type=_speed, default=None, help=tr("emulator clock speed factor"))
    p.set_defaults(func=cmd_demo, passthrough=True)
    return parser


# ---------------------------------------------------------------------------------------------- context


class Context:
    """What a verb runs with: the parsed flags, the streams, the configuration, the client."""

    def __init__(self, args: argparse.Namespace, *, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> None:
        self.args = args
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._config: CodeLab | None = None
        self._creds: Credentials | None = None
        self._creds_resolved = False
        self._client: ModelArtsClient | None = None

    def flag(self, name: str, default: Any = None) -> Any:
        return getattr(self.args, name, default)

    # ----------------------------------------------------------------- output
    def out(self, text: str = "") -> None:
        """One or more lines on stdout, control characters of upstream text neutralised."""
        text = str(text)  # a message renders in the terminal's language
        self.stdout.write("\n".join(printable(line) for line in text.split("\n")) + "\n")
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(str(text) + "\n")
        self.stderr.flush()

    def json(self, value: Any) -> None:
        """``value`` as indented JSON (json escapes every control character itself)."""
        self.stdout.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")
        self.stdout.flush()

    # ----------------------------------------------------------------- configuration
    @property
    def config(self) -> CodeLab:
        """``CodeLab`` as the server configures it (its Jupyter config files, the environment's defaults),
        with the global flags on top."""
        if self._config is None:
            from traitlets import TraitError

            from .config import CodeLab, jupyter_config_files
            from .regions import check_region
            from .validation import validate_region

            # the server's own config files (c.CodeLab.*) first, then the global flags on top
            config = CodeLab(
                config=jupyter_config_files(lambda text: self.err(tr("warning: {text}", text=one_line(text))))
            )
            try:
                if self.flag("credentials_file"):
                    config.credentials_file = os.path.expanduser(self.flag("credentials_file"))
                if self.flag("region"):
                    region = validate_region(self.flag("region").strip(), "--region")
                    config.region = check_region(region, configured=config.region, field="--region")
                elif os.environ.get("CODELAB_REGION", "").strip():
                    config.region = validate_region(config.region, "CODELAB_REGION")
                if self.flag("endpoint"):
                    config.modelarts_endpoint = self.flag("endpoint")
                if self.flag("iam_endpoint"):
                    config.iam_endpoint = self.flag("iam_endpoint")
                if self.flag("timeout") is not None:
                    config.request_timeout = self.flag("timeout")
            except TraitError as exc:
                raise UsageError(str(exc).splitlines()[0]) from None
            self._config = config
        return self._config

    def credentials(self) -> Credentials | None:
        """The credentials of the first complete source (as the server resolves them)."""
        if not self._creds_resolved:
            from .credentials import resolve_credentials

            self._creds = resolve_credentials(self.config.credentials_file)
            self._creds_resolved = True
        return self._creds

    def region(self, creds: Credentials | None = None) -> str:
        """``--region`` wins; then the region stored with the credentials; then the configuration's."""
        if self.flag("region"):
            return self.config.region
        if creds is not None and creds.region:
            return creds.region
        return self.config.region

    def endpoints(self, region: str) -> tuple[str, str]:
        """(ModelArts, IAM) endpoints: explicit settings, else the public endpoints of ``region``."""
        return self.config.endpoints_for(region)

    def make_client(self, creds: Credentials) -> ModelArtsClient:
        """A client like the server's (``CodeLabService._make_client``), for these credentials."""
        from .modelarts import ModelArtsClient

        return ModelArtsClient.from_config(self.config, creds, region=self.region(creds))

    def client(self) -> ModelArtsClient:
        """The client for the configured credentials; no credentials is a CredentialsError."""
        if self._client is None:
            from .errors import CredentialsError

            creds = self.credentials()
            if creds is None:
                raise CredentialsError.none_configured()
            self._client = self.make_client(creds)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        from .ssh_connection import POOL

        POOL.close_all()  # the instances' SSH connections a command opened (SFTP, kernel forwards)

    # ----------------------------------------------------------------- prompts
    def stdin_is_tty(self) -> bool:
        try:
            return self.stdin.isatty()
        except (AttributeError, ValueError):
            return False

    def confirm(self, question: str | Message, *, assume_yes: bool, refusal: str | Message) -> None:
        """Ask ``question`` [y/N] on stderr; raise CliError(EXIT_NOT_CONFIRMED) unless the answer is yes.

        ``assume_yes`` (``--yes``) skips the question. Without a terminal on stdin nothing can be asked:
        ``refusal`` says why and how to proceed.
        """
        if assume_yes:
            return
        if not self.stdin_is_tty():
            raise CliError(refusal, EXIT_NOT_CONFIRMED)
        self.stderr.write(f"{question} {tr('[y/N]')} ")
        self.stderr.flush()
        answer = self.stdin.readline()
        if answer.strip().lower() not in ("y", "yes", str(tr("y")).lower(), str(tr("yes")).lower()):
            raise CliError(tr("Not confirmed: nothing was changed."), EXIT_NOT_CONFIRMED)


# ---------------------------------------------------------------------------------------------- helpers


def _status(instance: Mapping[str, Any]) -> str:
    return str(instance.get("status") or "UNKNOWN").upper()


def has_ssh(image: Mapping[str, Any] | None) -> bool:
    return any(str(service).upper() == "SSH" for service in (image or {}).get("dev_services") or [])


def lease_text(lease: Mapping[str, Any] | None, *, now_ms: float | None = None) -> str:
    """``ends 14:03 (in 59 min)`` from a normalised lease, ``-`` when unknown."""
    from ._cli_progress import format_duration

    if not isinstance(lease, dict) or not isinstance(lease.get("expires_at"), (int, float)):
        return "-"
    now = time.time() * 1000 if now_ms is None else now_ms
    expires = float(lease["expires_at"])
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(expires / 1000))
    left = expires - now
    if left <= 0:
        return tr("ended {when}", when=when)
    return tr("ends {when} (in {duration})", when=when, duration=format_duration(left / 1000))


def table(rows: list[list[str]], headers: list[str | Message]) -> str:
    """A plain left-aligned text table (two spaces between columns), aligned in terminal columns
    (a Chinese character takes two); messages render in the terminal's language."""
    cells = [[str(value) for value in row] for row in [headers, *rows]]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(pad(value, widths[i]) for i, value in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- verbs


def cmd_login(ctx: Context) -> int:
    """Prompt (or read) the keys, check them against the cloud, then store them."""
    from .credentials import Credentials, store_credentials
    from .validation import validate_credentials

    args = ctx.args
    interactive = args.access_key is None
    if args.secret_key_stdin and interactive:
        raise UsageError(tr("--secret-key-stdin needs --access-key"))
    if args.security_token_stdin and not args.secret_key_stdin:
        raise UsageError(tr("--security-token-stdin needs --secret-key-stdin (the token is the second line)"))
    if interactive and not ctx.stdin_is_tty():
        raise CliError(
            tr(
                "login needs a terminal to prompt; in scripts use --access-key AK "
                "--secret-key-stdin (the secret key on stdin)"
            ),
            EXIT_USAGE,
        )
    config = ctx.config
    default_region = ctx.region(None)
    if interactive:
        import getpass

        access_key = _prompt(ctx, str(tr("Access key (AK): ")))
        secret_key = getpass.getpass(str(tr("Secret key (SK, not shown): ")), stream=ctx.stderr)
        token = getpass.getpass(str(tr("Security token (Enter for permanent keys): ")), stream=ctx.stderr)
        region = (
            ctx.flag("region")
            or _prompt(ctx, str(tr("Region [{region}]: ", region=default_region))).strip()
            or default_region
        )
        project_id = args.project_id or _prompt(ctx, str(tr("Project id (Enter to discover it): "))).strip()
    else:
        access_key = args.access_key
        if args.secret_key_stdin:
            secret_key = ctx.stdin.readline().strip()
            token = ctx.stdin.readline().strip() if args.security_token_stdin else ""
        elif ctx.stdin_is_tty():
            import getpass

            secret_key = getpass.getpass("Secret key (SK, not shown): ", stream=ctx.stderr)
            token = ""
        else:
            raise UsageError(
                tr("give the secret key on stdin with --secret-key-stdin (never as an argument)")
            )
        region = default_region
        project_id = args.project_id or ""
    values = validate_credentials(
        {
            "access_key": access_key.strip(),
            "secret_key": secret_key,
            "security_token": token or None,
            "project_id": project_id or None,
            "region": region,
        }
    )
    creds = Credentials.from_input(values)
    client = ctx.make_client(creds)
    try:
        discovered_project = client.verify_new_credentials(str(tr("; nothing was stored")))
    finally:
        client.close()
    store_credentials(config.credentials_file, creds)
    log.debug("stored credentials for access key %s in %s", creds.masked_key, config.credentials_file)
    shadowed = _shadowing_source(ctx)
    if args.json:
        ctx.json(_status_json(ctx, checked_project=discovered_project))
    else:
        ctx.out(
            tr(
                "Signed in with access key {masked_key} (region {region}, project "
                "{discovered_project}); stored in {credentials_file} (mode 0600).",
                masked_key=creds.masked_key,
                region=creds.region,
                discovered_project=discovered_project,
                credentials_file=config.credentials_file,
            )
        )
    if shadowed:
        ctx.err(
            tr("warning: credentials from {shadowed} take precedence over the stored ones", shadowed=shadowed)
        )
    return EXIT_OK


def _prompt(ctx: Context, text: str) -> str:
    ctx.stderr.write(text)
    ctx.stderr.flush()
    line = ctx.stdin.readline()
    if not line:
        raise CliError(tr("no answer (end of input)"), EXIT_USAGE)
    return line.rstrip("\r\n")


def _shadowing_source(ctx: Context) -> str | None:
    """The source that wins over the stored file right now, if it is not the stored file."""
    from .errors import CredentialsError

    ctx._creds_resolved = False
    try:
        creds = ctx.credentials()
    except CredentialsError:
        return None
    if creds is not None and creds.source != "stored":
        return creds.source
    return None


def cmd_logout(ctx: Context) -> int:
    """Forget the stored keys (other sources are not touched)."""
    from .credentials import forget_credentials, source_word
    from .errors import CredentialsError

    path = ctx.config.credentials_file
    removed = forget_credentials(path)
    ctx._creds_resolved = False
    try:
        remaining = ctx.credentials()
    except CredentialsError:
        remaining = None
    if ctx.args.json:
        ctx.json({"removed": removed, "credentials_file": path, "still_configured": remaining is not None})
        return EXIT_OK
    if removed:
        ctx.out(tr("Removed the stored credentials ({path}).", path=path))
    else:
        ctx.out(tr("No stored credentials in {path}.", path=path))
    if remaining is not None:
        ctx.out(
            tr(
                "Credentials from {source} (key {value}) are still in use.",
                source=source_word(remaining.source),
                value=remaining.masked_key or "-",
            )
        )
    return EXIT_OK


def _status_json(ctx: Context, *, checked_project: str | None = None) -> dict[str, Any]:
    from . import __version__
    from .errors import CredentialsError

    error = None
    try:
        creds = ctx.credentials()
    except CredentialsError as exc:
        creds, error = None, exc.message
    region = ctx.region(creds)
    modelarts_endpoint, iam_endpoint = ctx.endpoints(region)
    project_id = checked_project or ctx.config.project_id or None
    if project_id is None and creds is not None and creds.project_id and creds.region in (None, region):
        project_id = creds.project_id
    credentials: dict[str, Any]
    if creds is not None:
        credentials = creds.describe()
    else:
        credentials = {"configured": False, "source": None, "access_key": None}
        if error:
            credentials["error"] = error
    return {
        "version": __version__,
        "region": region,
        "project_id": project_id,
        "modelarts_endpoint": modelarts_endpoint,
        "iam_endpoint": iam_endpoint,
        "credentials_file": ctx.config.credentials_file,
        "credentials": credentials,
    }


def cmd_status(ctx: Context) -> int:
    """Which credentials, region, project and endpoints are in use (offline unless --check)."""
    status = _status_json(ctx)
    creds_info = status["credentials"]
    if ctx.args.check and creds_info["configured"]:
        client = ctx.client()
        client.check_credentials()
        status["project_id"] = client.project_id
        status["checked"] = True
    if ctx.args.json:
        ctx.json(status)
    else:
        if creds_info["configured"]:
            key = creds_info["access_key"] or tr("(IAM user and password)")
            from .credentials import source_word

            source: Any = tr("{source} (key {key})", source=source_word(creds_info["source"]), key=key)
        else:
            source = tr("none")
        project = status["project_id"] or tr("(discovered through IAM at first use)")
        rows = [
            (tr("credentials"), source),
            (tr("region"), status["region"]),
            (tr("project"), project),
            (tr("endpoint"), status["modelarts_endpoint"]),
            (tr("iam"), status["iam_endpoint"]),
            (tr("stored in"), status["credentials_file"]),
        ]
        if status.get("checked"):
            rows.append((tr("check"), tr("the cloud accepted these credentials")))
        for label, value in rows:
            ctx.out(f"{pad(str(label) + ':', 13)}{value}")
    if not creds_info["configured"]:
        from .errors import CredentialsError

        error = creds_info.get("error")
        reason = (
            tr("{reason}; run 'jupyter codelab login'", reason=error)
            if error
            else CredentialsError.NONE_CONFIGURED
        )
        raise CliError(reason, EXIT_UPSTREAM)
    return EXIT_OK


def cmd_images(ctx: Context) -> int:
    """The image catalogue as a table (or JSON), with the REST API's filters."""
    from .models import image_category
    from .service import filter_images
    from .validation import validate_image_filters

    query = {key: getattr(ctx.args, key) for key in ("arch", "category", "name") if getattr(ctx.args, key)}
    filters = validate_image_filters(query)
    images = filter_images(ctx.client().list_images(), filters)
    if ctx.args.json:
        ctx.json({"images": images})
        return EXIT_OK
    if not images:
        ctx.out(tr("No image matches.") if filters else tr("No images."))
        return EXIT_OK
    rows = [
        [
            str(image.get("name") or "-"),
            str(image.get("tag") or "-"),
            str(image.get("arch") or "-"),
            {"ASCEND": "Ascend"}.get(image_category(image), image_category(image)),
            tr("yes") if has_ssh(image) else tr("no"),
            str(image.get("id") or "-"),
        ]
        for image in images
    ]
    ctx.out(table(rows, [tr("NAME"), tr("TAG"), tr("ARCH"), tr("KIND"), "SSH", "ID"]))
    return EXIT_OK


def resolve_image(images: Sequence[Image], ref: str) -> Image:
    """The image named by ``ref``: an id, an exact name, or ``name:tag``.

    Several images with the same name is an error listing them (use ``name:tag`` or the id); no match is
    an error suggesting close names.
    """
    from .errors import ValidationError

    ref = ref.strip()
    if not ref:
        raise ValidationError(tr("--image is empty"), field="image")
    for image in images:
        if image.get("id") == ref:
            return image
    matches = [image for image in images if image.get("name") == ref]
    if not matches:
        matches = [image for image in images if image_label(image) == ref]
    if len(matches) == 1:
        return matches[0]
    if matches:
        candidates = ", ".join(f"{image_label(image)} ({image.get('id')})" for image in matches)
        raise ValidationError(
            tr(
                "image '{ref}' is ambiguous; use name:tag or an id: {candidates}",
                ref=ref,
                candidates=candidates,
            ),
            field="image",
        )
    import difflib

    names = sorted(
        {image_label(image) for image in images} | {str(i.get("name")) for i in images if i.get("name")}
    )
    close = difflib.get_close_matches(ref, names, n=3, cutoff=0.5)
    hint = (
        tr("; did you mean {names}?", names=", ".join(close))
        if close
        else tr("; see 'jupyter codelab images'")
    )
    raise ValidationError(tr("no image with id or name '{ref}'{hint}", ref=ref, hint=hint), field="image")


def cmd_open(ctx: Context) -> int:
    """Open the free CodeLab and watch it start (exit 0 only once it is RUNNING)."""
    from .share_url import normalise_share_url

    args = ctx.args
    share_url = normalise_share_url(args.share_url, "--share-url") if args.share_url else None
    client = ctx.client()
    images = client.list_images()
    image_id = str(resolve_image(images, args.image)["id"]) if args.image else None
    instances = client.list_instances()
    try:
        plan = plan_open(instances, image_id, images, confirmed=args.yes)
    except SwitchRequired as exc:
        ctx.confirm(
            tr("{message} Switch it?", message=exc.message),
            assume_yes=False,
            refusal=tr("{message} Run again with --yes to switch.", message=exc.message),
        )
        plan = plan_open(instances, image_id, images, confirmed=True)
    image = plan.image if args.image else None  # the title names the image the user named
    stream = ctx.stderr if args.json else ctx.stdout
    title = str(tr("Opening CodeLab {image}", image=image_label(image)) if image else tr("Opening CodeLab"))
    instance: Instance | None = None
    try:
        log.debug("open: image %s, share url %s", plan.image_id, "yes" if share_url else "no")
        instance = client.open(image_id=plan.image_id, share_url=share_url)
        if args.no_wait:
            return _report_opened(ctx, instance, waited=False)
        return _watch(ctx, instance, title=title, stream=stream, max_wait=args.max_wait)
    except KeyboardInterrupt:
        if instance is None:
            raise CliError(
                tr(
                    "interrupted before ModelArts answered; the open may still take effect: check "
                    "with 'jupyter codelab list'"
                ),
                EXIT_INTERRUPTED,
            ) from None
        raise CliError(
            tr(
                "interrupted: instance {instance} was left as it is (still starting); watch it "
                "with 'jupyter codelab show {instance}'",
                instance=instance.get("id"),
            ),
            EXIT_INTERRUPTED,
        ) from None


def _outcome(instance: Mapping[str, Any], steady: int) -> str | None:
    """``running``, ``failed`` or None (keep watching).

    ``steady`` counts the polls in a row that saw the same settled instance: a STOPPED (DELETED, FROZEN)
    instance only counts as failed once it stayed so for three polls, since the answer to ``open`` and
    the first polls of an image switch may still show the old state.
    """
    from .models import FAILED_STATUSES, STOPPED_STATUSES, is_settled
    from .watcher import is_changing

    status = _status(instance)
    if status == "RUNNING":
        return "running"
    if status in FAILED_STATUSES:
        return "failed"
    steps = instance.get("action_progress") or []
    if any(str(step.get("status") or "").upper() == "FAILED" for step in steps) and not is_changing(instance):
        return "failed"
    if status in STOPPED_STATUSES and steady >= 2:
        return "failed"
    if steady >= 2 and is_settled(instance):
        # a status no client knows yet (e.g. SUSPENDED) that stays put: do not wait for RUNNING forever
        return "failed"
    return None


def _watch(ctx: Context, instance: Mapping[str, Any], *, title: str, stream: TextIO, max_wait: float) -> int:
    """Poll with the server's policy (``watcher.next_poll_delay``) and show each change until settled."""
    from ._cli_progress import make_progress
    from .errors import ThrottledError, UpstreamUnavailable
    from .models import public_instance
    from .watcher import fingerprint, is_changing, next_poll_delay

    instance_id = str(instance.get("id"))
    client = ctx.client()
    progress = make_progress(stream, title=title)
    steady = 0
    failures = 0
    retry_after = 0.0
    last = fingerprint(instance)
    outcome = None
    try:
        progress.update(instance)
        while True:
            outcome = _outcome(instance, steady)
            if outcome is not None:
                break
            if progress.clock.elapsed() >= max_wait:
                outcome = "timeout"
                break
            delay = next_poll_delay(instance, steady)
            if failures:
                delay = max(delay, min(30.0, 2.0**failures), retry_after)
            progress.wait(min(delay, max(0.0, max_wait - progress.clock.elapsed()) + 0.01))
            try:
                fresh = client.get_instance(instance_id)
            except (UpstreamUnavailable, ThrottledError) as exc:  # the client retried: say so, keep going
                failures += 1
                if failures > MAX_POLL_FAILURES:
                    raise
                retry_after = getattr(exc, "retry_after", None) or 0.0
                progress.note(str(tr("(polling failed, retrying: {reason})", reason=one_line(exc.message))))
                continue
            if failures:
                progress.note(str(tr("(ModelArts answers again)")))  # replaces the failure note on screen
            failures = 0
            current = fingerprint(fresh)
            steady = 0 if (current != last or is_changing(fresh)) else steady + 1
            last = current
            instance = fresh
            progress.update(instance)
    finally:
        progress.close()
    if outcome == "timeout":
        if ctx.args.json:
            ctx.json(public_instance(instance))
        raise CliError(
            tr(
                "instance {instance_id} is still {instance} after {max_wait:g} s; it keeps "
                "starting: watch it with 'jupyter codelab show {instance_id}'",
                instance_id=instance_id,
                instance=status_word(_status(instance)),
                max_wait=max_wait,
            ),
            EXIT_STILL_STARTING,
        )
    if outcome == "failed":
        if ctx.args.json:
            ctx.json(public_instance(instance))
        reason = instance.get("fail_reason") or _failed_step_text(instance) or tr("no reason given")
        raise CliError(
            tr(
                "instance {instance_id} failed to start ({instance}): {reason}",
                instance_id=instance_id,
                instance=status_word(_status(instance)),
                reason=one_line(reason),
            ),
            EXIT_INSTANCE_FAILED,
        )
    return _report_opened(ctx, instance, waited=True, elapsed=progress.clock.elapsed())


def _failed_step_text(instance: Mapping[str, Any]) -> str | None:
    from ._cli_progress import step_label

    for step in instance.get("action_progress") or []:
        if str(step.get("status") or "").upper() == "FAILED":
            detail = step.get("description")
            if detail:
                return tr(
                    "step {number} ({label}) failed: {detail}",
                    number=step.get("step"),
                    label=step_label(step),
                    detail=detail,
                )
            return tr("step {number} ({label}) failed", number=step.get("step"), label=step_label(step))
    return None


def _ssh_hint(ctx: Context, instance: Mapping[str, Any]) -> list[tuple[str | Message, str | Message]]:
    """Lines telling how to reach the instance over SSH (empty when it has no SSH endpoint)."""
    from .errors import CodeLabError
    from .ssh import NoSshEndpointError, default_alias, ssh_command

    if not instance.get("ssh"):
        return []
    try:
        command = ssh_command(instance)
        alias = default_alias(ctx.region(ctx.credentials()))
    except NoSshEndpointError as exc:  # e.g. "SSH is not reachable from outside for this instance: ..."
        return [(tr("ssh"), one_line(exc.message))]
    except CodeLabError as exc:
        return [(tr("ssh"), tr("unusable SSH endpoint: {reason}", reason=one_line(str(exc.message))))]
    return [
        (tr("ssh"), command),
        (
            tr("ssh alias"),
            tr(
                "jupyter codelab ssh-config {instance_id} --install, then: ssh {alias}",
                instance_id=instance.get("id"),
                alias=alias,
            ),
        ),
    ]


def _report_opened(ctx: Context, instance: Mapping[str, Any], *, waited: bool, elapsed: float = 0.0) -> int:
    from ._cli_progress import format_duration
    from .models import public_instance, url_with_token

    if ctx.args.json:
        ctx.json(public_instance(instance))
        return EXIT_OK
    instance_id = instance.get("id")
    label = image_label(instance.get("image"))
    if waited:
        ctx.out(
            tr(
                "CodeLab {instance_id} is RUNNING ({elapsed}), image {label}.",
                instance_id=instance_id,
                elapsed=format_duration(elapsed),
                label=label,
            )
        )
    else:
        ctx.out(
            tr(
                "CodeLab {instance_id} is {instance}: watch it with '{PROG} show {instance_id}'.",
                instance_id=instance_id,
                instance=status_word(_status(instance)),
                PROG=PROG,
            )
        )
    rows: list[tuple[str | Message, str | Message]] = []
    url = url_with_token(instance)
    if url and waited:
        rows.append((tr("open"), url))
    rows.extend(_ssh_hint(ctx, instance))
    if waited and instance.get("lease"):
        rows.append(
            (
                tr("lease"),
                tr(
                    "{lease}; extend: jupyter codelab extend {instance_id}",
                    lease=lease_text(instance.get("lease")),
                    instance_id=instance_id,
                ),
            )
        )
    for label, value in rows:
        ctx.out(f"  {pad(str(label) + ':', 11)}{value}")
    return EXIT_OK


def cmd_list(ctx: Context) -> int:
    """Every free CodeLab instance."""
    from .models import public_instance

    instances = ctx.client().list_instances()
    if ctx.args.json:
        ctx.json({"instances": [public_instance(instance) for instance in instances]})
        return EXIT_OK
    if not instances:
        ctx.out(tr("No CodeLab instance yet: open one with 'jupyter codelab open'."))
        return EXIT_OK
    rows = [
        [
            str(instance.get("id") or "-"),
            status_word(_status(instance)),
            image_label(instance.get("image")),
            str(instance.get("flavor") or "-"),
            lease_text(instance.get("lease")) if _status(instance) == "RUNNING" else "-",
        ]
        for instance in instances
    ]
    ctx.out(table(rows, ["ID", tr("STATUS"), tr("IMAGE"), tr("FLAVOR"), tr("LEASE")]))
    return EXIT_OK


def cmd_kernels(ctx: Context) -> int:
    """The ``codelab-<name>`` kernelspecs of the RUNNING instances (the server offers the same ones)."""
    import asyncio

    from .kernels.specs import instance_kernelspecs

    kernels: list[dict[str, Any]] = []
    for instance in ctx.client().list_instances():
        if _status(instance) != "RUNNING":
            continue
        specs = asyncio.run(instance_kernelspecs(dict(instance), ctx.config))
        for name, spec in specs.items():
            codelab = spec["metadata"]["codelab"]
            kernels.append(
                {
                    "name": name,
                    "display_name": spec["display_name"],
                    "language": spec["language"],
                    "instance_id": codelab["instance_id"],
                    "instance_name": codelab["instance_name"],
                    "remote_kernel": codelab["remote_kernel"],
                    "transport": codelab["transport"],
                }
            )
    if ctx.args.json:
        ctx.json({"kernels": kernels})
        return EXIT_OK
    if not kernels:
        ctx.out(
            tr("No CodeLab kernel: none of your instances is running ('jupyter codelab open' starts one).")
        )
        return EXIT_OK
    rows = [[k["name"], k["display_name"], k["instance_id"], k["transport"]] for k in kernels]
    ctx.out(table(rows, [tr("NAME"), tr("DISPLAY NAME"), tr("INSTANCE"), tr("TRANSPORT")]))
    return EXIT_OK


def _show_instance(ctx: Context, instance: Mapping[str, Any]) -> None:
    from ._cli_progress import TOTAL_STEPS, step_label

    image = instance.get("image") or {}
    rows: list[tuple[str | Message, Any]] = [
        (tr("id"), instance.get("id")),
        (tr("name"), instance.get("name")),
        (tr("status"), status_word(_status(instance))),
        (tr("image"), f"{image_label(image)} ({image.get('id') or '-'}, {image.get('arch') or '-'})"),
        (tr("flavor"), instance.get("flavor")),
        (tr("url"), instance.get("url")),
        (tr("lease"), lease_text(instance.get("lease"))),
    ]
    if instance.get("fail_reason"):
        rows.append((tr("fail reason"), one_line(instance["fail_reason"])))
    rows.extend(_ssh_hint(ctx, instance))
    steps = instance.get("action_progress") or []
    for index, step in enumerate(steps):
        total = max(TOTAL_STEPS, len(steps))
        number = step.get("step") or index + 1
        step_status = status_word(str(step.get("status") or "-").upper())
        rows.append(
            (tr("step {number}/{total}", number=number, total=total), f"{step_label(step)}: {step_status}")
        )
    for label, value in rows:
        ctx.out(f"{pad(str(label) + ':', 13)}{value if value not in (None, '') else '-'}")


def cmd_show(ctx: Context) -> int:
    """One instance (its URL without the token; ``--json`` as the REST API shows it)."""
    from .models import public_instance
    from .validation import validate_id

    instance = ctx.client().get_instance(validate_id(ctx.args.instance_id, "ID"))
    if ctx.args.json:
        ctx.json(public_instance(instance))
    else:
        _show_instance(ctx, instance)
    return EXIT_OK


def cmd_start(ctx: Context) -> int:
    """Start a stopped instance (``--wait``: watch it like ``open``)."""
    from .models import public_instance
    from .validation import validate_id

    instance_id = validate_id(ctx.args.instance_id, "ID")
    instance = ctx.client().start(instance_id)
    if ctx.args.wait:
        stream = ctx.stderr if ctx.args.json else ctx.stdout
        try:
            return _watch(
                ctx, instance, title=str(tr("Starting CodeLab")), stream=stream, max_wait=ctx.args.max_wait
            )
        except KeyboardInterrupt:
            raise CliError(
                tr(
                    "interrupted: instance {instance_id} was left as it is (still starting); watch "
                    "it with 'jupyter codelab show {instance_id}'",
                    instance_id=instance_id,
                ),
                EXIT_INTERRUPTED,
            ) from None
    if ctx.args.json:
        ctx.json(public_instance(instance))
    else:
        ctx.out(
            tr(
                "Instance {instance_id} is {instance}.",
                instance_id=instance_id,
                instance=status_word(_status(instance)),
            )
        )
    return EXIT_OK


def cmd_stop(ctx: Context) -> int:
    """Stop an instance after asking (unless ``--yes``)."""
    from .models import public_instance
    from .validation import validate_id

    instance_id = validate_id(ctx.args.instance_id, "ID")
    client = ctx.client()
    instance = client.get_instance(instance_id)
    if _status(instance) in ("STOPPED", "STOPPING"):
        if ctx.args.json:
            ctx.json(public_instance(instance))
        else:
            ctx.out(
                tr(
                    "Instance {instance_id} is already {instance}.",
                    instance_id=instance_id,
                    instance=status_word(_status(instance)),
                )
            )
        return EXIT_OK
    ctx.confirm(
        tr(
            "Stop CodeLab instance {instance_id} ({status}, image {image})? Unsaved work in its kernels is "
            "lost.",
            instance_id=instance_id,
            status=status_word(_status(instance)),
            image=image_label(instance.get("image")),
        ),
        assume_yes=ctx.args.yes,
        refusal=tr(
            "stopping instance {instance_id} needs a confirmation: run again with --yes",
            instance_id=instance_id,
        ),
    )
    instance = client.stop(instance_id)
    if ctx.args.json:
        ctx.json(public_instance(instance))
    else:
        ctx.out(
            tr(
                "Instance {instance_id} is {instance}.",
                instance_id=instance_id,
                instance=status_word(_status(instance)),
            )
        )
    return EXIT_OK


def cmd_extend(ctx: Context) -> int:
    """Set the lease to ``--hours`` from now (1 to 72)."""
    from .errors import ValidationError
    from .validation import validate_duration_ms, validate_id

    instance_id = validate_id(ctx.args.instance_id, "ID")
    hours = ctx.args.hours
    if hours != hours or hours in (float("inf"), float("-inf")):
        raise ValidationError(tr("--hours must be a number from 1 to 72"), field="hours")
    duration_ms = round(hours * HOUR_MS)
    try:
        duration_ms = validate_duration_ms(duration_ms, "--hours")
    except ValidationError:
        raise ValidationError(
            tr("--hours must be from 1 to 72, got {hours:g}", hours=hours), field="hours"
        ) from None
    # never shortens the lease unasked (the same rule as the server's PATCH lease): ask, or --yes
    from .errors import ConflictError

    client = ctx.client()
    client.running_instance(instance_id)  # never the lease of a non-running instance
    try:
        lease = client.change_lease(instance_id, duration_ms, shorten=bool(ctx.args.yes))
    except ConflictError as exc:
        if exc.code != "codelab.lease_shorter":
            raise
        current = exc.details.get("lease") or {}
        ctx.confirm(
            f"The lease of instance {instance_id} {lease_text(current)}; {hours:g} h from now "
            "is earlier. Shorten it?",
            assume_yes=False,
            refusal=(
                f"Not changed: {hours:g} h from now would end the lease earlier than now planned "
                f"(it {lease_text(current)}); add --yes to shorten it."
            ),
        )
        lease = client.change_lease(instance_id, duration_ms, shorten=True)
    if ctx.args.json:
        ctx.json({"id": instance_id, "lease": lease})
    else:
        ctx.out(
            tr(
                "Lease of instance {instance_id} extended: {lease}.",
                instance_id=instance_id,
                lease=lease_text(lease),
            )
        )
    return EXIT_OK


def _the_only_instance(ctx: Context) -> Instance:
    instances = [i for i in ctx.client().list_instances() if _status(i) not in ("DELETED", "DELETING")]
    if not instances:
        raise CliError(tr("you have no CodeLab instance: open one with 'jupyter codelab open'"))
    if len(instances) > 1:
        ids = ", ".join(str(instance.get("id")) for instance in instances)
        raise UsageError(tr("you have several instances, name one: {ids}", ids=ids))
    return instances[0]


def cmd_ssh_config(ctx: Context) -> int:
    """Print the OpenSSH block of an instance, or install it as the managed block."""
    from .ssh import default_alias, render_ssh_config
    from .ssh_install import install_ssh_config
    from .validation import validate_id

    args = ctx.args
    if args.instance_id:
        instance = ctx.client().get_instance(validate_id(args.instance_id, "ID"))
    else:
        instance = _the_only_instance(ctx)
    region = ctx.region(ctx.credentials())
    alias = args.alias or default_alias(region)
    block = render_ssh_config(instance, region=region, alias=alias, identity_file=args.identity_file)
    path = None
    if args.install:
        path = install_ssh_config(block)
    if args.json:
        ctx.json(
            {
                "id": instance.get("id"),
                "alias": alias,
                "block": block,
                "installed": str(path) if path else None,
            }
        )
    elif path is not None:
        ctx.out(
            tr(
                "Installed Host {alias} in {path} (included from ~/.ssh/config). Connect with: ssh {alias}",
                alias=alias,
                path=path,
            )
        )
    else:
        ctx.stdout.write(block)
        ctx.stdout.flush()
    return EXIT_OK


def cmd_emulator(ctx: Context) -> int:
    """Run the emulator in the foreground (its own ``main`` prints the URL and the demo account)."""
    from .emulator import main as emulator_main

    argv: list[str] = []
    if ctx.args.port is not None:
        argv += ["--port", str(ctx.args.port)]
    if ctx.args.speed is not None:
        argv += ["--speed", repr(ctx.args.speed)]
    if ctx.flag("debug"):
        argv += ["--log-level", "DEBUG"]
    argv += ctx.args.extra
    result = emulator_main(argv)
    return int(result or 0)


def cmd_demo(ctx: Context) -> int:
    """JupyterLab on the embedded emulator, in temporary folders of its own (see :mod:`codelab_ext.demo`)."""
    from .demo import run_demo

    return run_demo(port=ctx.args.port, speed=ctx.args.speed, extra=ctx.args.extra, say=ctx.out)


# ---------------------------------------------------------------------------------------------- main


def _setup_logging(debug: bool, stream: TextIO) -> None:
    root = logging.getLogger()
    if debug:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
    else:
        # no handler would mean Python's last-resort handler printing warnings: keep stderr to one line
        root.addHandler(logging.NullHandler())


def _error_code(exc: BaseException) -> int:
    from .errors import CredentialsError, UpstreamError, ValidationError

    if isinstance(exc, (UpstreamError, CredentialsError)) or getattr(exc, "status", 0) >= 500:
        return EXIT_UPSTREAM
    if isinstance(exc, ValidationError):
        return EXIT_USAGE
    return EXIT_ERROR


def _with_credentials_hint(ctx: Context, exc: Any) -> str:
    """Like the server: say which credentials were refused (source and masked key)."""
    from .errors import CodeLabError, add_credentials_hint

    if isinstance(exc, CodeLabError):
        add_credentials_hint(exc, ctx._creds)
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jupyter codelab`` with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Messages, help and prompts follow the terminal's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG).
    """
    with use_language(env_language()):
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    stdout, stderr = sys.stdout, sys.stderr
    debug = "--debug" in argv or "-v" in argv or "--verbose" in argv
    ctx: Context | None = None
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "passthrough", False):
            raise UsageError(
                tr(
                    "unrecognized arguments: {arguments} (see '{prog} --help')",
                    arguments=" ".join(extra),
                    prog=PROG,
                )
            )
        args.extra = extra
        debug = bool(getattr(args, "debug", False))
        if not getattr(args, "own_logging", False):
            _setup_logging(debug, stderr)
        if not getattr(args, "func", None):
            parser.print_help(stdout)
            return EXIT_USAGE if argv else EXIT_OK
        ctx = Context(args, stdin=sys.stdin, stdout=stdout, stderr=stderr)
        func: Callable[[Context], int] = args.func
        return func(ctx)
    except CliError as exc:
        _print_error(stderr, exc.message, exc if debug else None)
        return exc.code
    except KeyboardInterrupt:
        _print_error(stderr, tr("interrupted"), None)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`... | head`): exit quietly, and keep Python from complaining at exit
        with _suppress():
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:
        from .errors import CodeLabError

        if isinstance(exc, CodeLabError):
            message = _with_credentials_hint(ctx, exc) if ctx is not None else str(exc)
            _print_error(stderr, message, exc if debug else None)
            return _error_code(exc)
        if isinstance(exc, OSError):
            _print_error(
                stderr,
                f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""),
                exc if debug else None,
            )
            return EXIT_ERROR
        _print_error(
            stderr,
            tr(
                "unexpected {error_type}: {error} (run with --debug for the traceback)",
                error_type=type(exc).__name__,
                error=exc,
            ),
            exc if debug else None,
        )
        return EXIT_ERROR
    finally:
        if ctx is not None:
            ctx.close()


def _suppress() -> Any:
    import contextlib

    return contextlib.suppress(OSError, ValueError)


def _print_error(stream: TextIO, message: str, exc: BaseException | None) -> None:
    if exc is not None:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=stream)
    try:
        # the exit code is what scripts read (LC_ALL=C gives the English "error: ")
        stream.write(str(tr("error: {message}", message=one_line(str(message)))) + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())

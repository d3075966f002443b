"""``python -m aiohttpbase``: a superset of ``python -m http.server``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import logging
import os
import signal
import site
import socket
import ssl
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from . import __version__
from ._cgi import cgi_handler_class
from ._extra_headers import parse_header, with_default_headers
from ._reload import RELOADER_FD_ENV, Reloader, missing_watcher
from .config import ServerConfig
from .server import HTTPServer, ThreadingHTTPServer, inherited_socket, systemd_socket, unix_socket
from .static import SimpleHTTPRequestHandler
from .workers import (
    WORKER_ID_ENV,
    WorkerSupervisor,
    after_requests,
    install_signal_handlers,
    request_limit,
)

__all__ = ["load_handler", "main"]

PROG = "python -m aiohttpbase"
#: What -p accepts: the versions a BaseHTTPRequestHandler answers with.
PROTOCOLS = ("HTTP/1.0", "HTTP/1.1")

EPILOG = """\
examples:
  python -m aiohttpbase                       serve the current directory on :8000
  python -m aiohttpbase -b 127.0.0.1 9000     serve it on 127.0.0.1:9000 only
  python -m aiohttpbase --handler examples/seed.py:S
                                              serve a handler class from a file
  python -m aiohttpbase --handler mypkg.web:Handler -p HTTP/1.1
                                              serve a class from an importable module
  python -m aiohttpbase --uds /run/app.sock   serve on a UNIX socket (curl --unix-socket)

where to listen: -b/port, --uds PATH or --fd N; a socket passed by systemd (LISTEN_FDS)
is served when none of them is given.

environment: every option can be given as AIOHTTPBASE_<OPTION> too, its long name in
capitals with - as _ (AIOHTTPBASE_PORT=9000, AIOHTTPBASE_TIMEOUT_KEEP_ALIVE=75,
AIOHTTPBASE_PROXY_HEADERS=1); the command line wins; an empty value counts as unset.
"""

#: Environment variables name options: AIOHTTPBASE_TIMEOUT_KEEP_ALIVE for --timeout-keep-alive.
ENV_PREFIX = "AIOHTTPBASE_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
#: Which kind of listening socket an option belongs to (see ``_apply_environment``).
_LISTEN_KIND = {"bind": "tcp", "port": "tcp", "uds": "uds", "uds_mode": "uds", "fd": "fd"}


class UsageError(Exception):
    """A command line that cannot be served; the message says why."""


class HandlerLoadError(UsageError):
    """A ``--handler`` value that does not name a usable handler class."""


def load_handler(spec: str) -> Any:
    """Load ``module:Class`` or ``path/to/file.py:Class``."""
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise HandlerLoadError(f"--handler must look like module:Class or file.py:Class, not {spec!r}")
    if target.endswith(".py") or os.sep in target:
        path = Path(target)
        if not path.is_file():
            raise HandlerLoadError(f"--handler: no such file: {target}")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        sys.path.insert(0, str(path.resolve().parent))
        module_spec.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise HandlerLoadError(f"--handler: module not found: {exc.name}") from exc
    try:
        handler = getattr(module, name)
    except AttributeError:
        raise HandlerLoadError(f"--handler: {target} has no attribute {name!r}") from None
    import http.server

    if not (isinstance(handler, type) and issubclass(handler, http.server.BaseHTTPRequestHandler)):
        raise HandlerLoadError(f"--handler: {spec} is not a BaseHTTPRequestHandler subclass")
    return handler


def _handler_reloader(
    spec: str, prepare: Callable[[Any], Any], modules_before: set[str]
) -> Callable[[Any], None]:
    """What a worker started by a reload (SIGHUP to ``--workers``) runs before it serves:
    load ``--handler`` again, as its files are now, and ``prepare`` it as at the start.

    The modules imported since ``modules_before`` are imported afresh -- the handler's own
    and the application modules it brought in, but not the standard library's or installed
    packages' (those keep the copy the supervisor imported: re-importing a library is not
    safe in general, and aiohttpbase itself must stay the one the server was built from).
    """

    def reload(server: Any) -> None:
        installed = _installed_paths()
        for name in set(sys.modules) - modules_before:
            if name == __package__ or name.startswith(f"{__package__}."):
                continue  # imported late, but the server's own (an editable install is not "installed")
            module = sys.modules.get(name)
            origin = getattr(module, "__file__", None)
            if origin and not _is_under(origin, installed):
                del sys.modules[name]
        importlib.invalidate_caches()
        try:
            handler = load_handler(spec)
        except HandlerLoadError as exc:
            print(f"error: reload: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        server.RequestHandlerClass = prepare(handler)

    return reload


def _installed_paths() -> tuple[str, ...]:
    """Where the standard library and installed packages live."""
    paths = set(site.getsitepackages()) | {site.getusersitepackages()}
    paths |= {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(os.path.join(os.path.realpath(path), "") for path in paths if path)


def _is_under(path: str, directories: tuple[str, ...]) -> bool:
    return os.path.realpath(path).startswith(directories)


def _octal(text: str) -> int:
    """A file mode such as ``660`` or ``0o660``."""
    value = int(text.removeprefix("0o"), 8)
    if not 0 <= value <= 0o7777:
        raise ValueError(text)
    return value


_octal.__name__ = "octal mode"  # argparse names the type in its error: "invalid octal mode value"


def _best_family(host: str | None, port: int) -> tuple[socket.AddressFamily, Any]:
    """Like ``http.server._get_best_family``: what getaddrinfo offers first."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:  # the port is a number, so it is the address
        raise UsageError(f"-b {host}: not an address to listen on ({exc.strerror})") from None
    family, _type, _proto, _canon, sockaddr = next(iter(infos))
    return family, sockaddr


class _Parser(argparse.ArgumentParser):
    """One line for a bad command line: the error, not the error under the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _at_least(kind: type[Any], minimum: float) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` (int or float), ``minimum`` or more."""

    def convert(text: str) -> Any:
        value = kind(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum:g} or more, not {text}")
        return value

    convert.__name__ = kind.__name__  # argparse says "invalid int value" for what is no number
    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Serve http.server request handlers on asyncio + uvloop + h11.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "port",
        nargs="?",
        type=int,
        help="port to listen on (default: 8000; as with python -m http.server, a number past 65535 "
        "wraps around)",
    )
    parser.add_argument("--version", action="version", version=f"aiohttpbase {__version__}")
    listen = parser.add_argument_group("where to listen")
    listen.add_argument(
        "-b", "--bind", metavar="ADDRESS", help="bind to this address (default: all interfaces)"
    )
    listen.add_argument(
        "--uds", metavar="PATH", help="listen on a UNIX domain socket at PATH instead of a TCP port"
    )
    listen.add_argument(
        "--uds-mode",
        metavar="MODE",
        type=_octal,
        help="permissions of the --uds socket file, in octal, e.g. 660 (default: from the umask)",
    )
    listen.add_argument(
        "--fd",
        metavar="N",
        type=_at_least(int, 0),
        help="serve the bound (or listening) socket inherited as file descriptor N",
    )
    listen.add_argument(
        "--backlog",
        metavar="N",
        type=_at_least(int, 0),
        default=HTTPServer.request_queue_size,
        help="connections the kernel queues before they are accepted (default: %(default)s)",
    )
    listen.add_argument(
        "--reuse-port", action="store_true", help="with --workers: one SO_REUSEPORT socket per worker"
    )
    listen.add_argument("--tls-cert", metavar="PATH", help="serve HTTPS with this certificate chain (PEM)")
    listen.add_argument(
        "--tls-key", metavar="PATH", help="private key of --tls-cert, if not in the same file"
    )
    listen.add_argument("--tls-password-file", metavar="PATH", help="file holding the password of --tls-key")
    serve = parser.add_argument_group("what to serve")
    serve.add_argument(
        "-d",
        "--directory",
        metavar="PATH",
        default=os.getcwd(),
        help="serve this directory (default: current directory)",
    )
    serve.add_argument(
        "-p",
        "--protocol",
        metavar="VERSION",
        choices=PROTOCOLS,
        help="protocol_version of the handler, HTTP/1.0 or HTTP/1.1 "
        "(default: the handler's own; HTTP/1.0 for static files)",
    )
    serve.add_argument(
        "--handler", metavar="MODULE:CLASS", help="serve this handler class instead of static files"
    )
    serve.add_argument(
        "--cgi",
        action="store_true",
        help="run CGI scripts in cgi-bin/ and htbin/ of --directory (http.server.CGIHTTPRequestHandler, "
        "on the thread pool; Python 3.14 and earlier)",
    )
    serve.add_argument(
        "-H",
        "--header",
        metavar="NAME:VALUE",
        type=parse_header,
        action="append",
        help="send this header field with every response unless the handler sends one of that "
        "name; repeatable (in AIOHTTPBASE_HEADER, one per line)",
    )
    processes = parser.add_argument_group("processes")
    processes.add_argument(
        "--workers",
        type=_at_least(int, 1),
        default=1,
        metavar="N",
        help="serve from N pre-forked worker processes (default: 1, this process)",
    )
    processes.add_argument(
        "--reload",
        action="store_true",
        help="serve from a child process and start a new one when a Python file of --handler "
        "changes (its directory, or its top-level package); needs the reload extra (watchfiles)",
    )
    processes.add_argument(
        "--reload-dir",
        metavar="PATH",
        action="append",
        help="with --reload: watch the Python files under PATH too; repeatable",
    )
    processes.add_argument(
        "--limit-max-requests",
        type=_at_least(int, 1),
        metavar="N",
        help="stop gracefully after N requests; with --workers the supervisor starts a new "
        "worker in its place (default: no limit)",
    )
    processes.add_argument(
        "--limit-max-requests-jitter",
        type=_at_least(int, 0),
        default=0,
        metavar="N",
        help="add a random 0..N to each process's --limit-max-requests, so workers do not all "
        "restart at once (default: 0)",
    )
    settings = parser.add_argument_group(
        "server settings", "limits and timeouts (ServerConfig); --threads N runs handlers on N threads"
    )
    for field in dataclasses.fields(ServerConfig):
        _add_setting(settings, field)
    settings.add_argument(
        "--no-access-log", dest="access_log", action="store_const", const=None, default=argparse.SUPPRESS,
        help="write no access lines",
    )  # fmt: skip
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="level of the aiohttpbase.error and aiohttpbase.workers loggers (default: info)",
    )
    return parser


def _add_setting(group: Any, field: dataclasses.Field[Any]) -> None:
    """The flag of one ``ServerConfig`` field, from its type, default and metadata."""
    flag = "--" + field.name.replace("_", "-")
    meta = field.metadata
    default = field.default
    if isinstance(default, bool):
        group.add_argument(
            flag,
            action=argparse.BooleanOptionalAction,
            default=argparse.SUPPRESS,
            help=f"{meta['help']} (default: {'on' if default else 'off'})",
        )
        return
    shown = meta["unset"] if default is None else default
    options: dict[str, Any] = {
        "default": argparse.SUPPRESS,  # only flags given on the command line override
        "help": f"{meta['help']} (default: {shown})".replace("%", "%%"),  # argparse %-formats help
    }
    kind = int if default is None else type(default)
    if meta["choices"]:
        options["choices"] = meta["choices"]
    elif kind in (int, float):
        options["type"] = _at_least(kind, meta["minimum"])
        options["metavar"] = meta["metavar"] or ("SECONDS" if kind is float else "N")
    else:
        options["metavar"] = meta["metavar"] or "VALUE"
    group.add_argument(flag, **options)


def env_name(action: argparse.Action) -> str | None:
    """``AIOHTTPBASE_<OPTION>`` for an option (``None`` for --help and --version)."""
    if action.dest in ("help", "version"):
        return None
    if not action.option_strings:
        return ENV_PREFIX + action.dest.upper()
    long = next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])
    return ENV_PREFIX + long.lstrip("-").replace("-", "_").upper()


def parse_args(argv: list[str] | None, environ: Any = None) -> argparse.Namespace:
    """The command line, with options it leaves out taken from ``AIOHTTPBASE_*`` variables."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _apply_environment(parser, args, argv, os.environ if environ is None else environ)
    check_args(parser, args)
    return args


def _given_on_command_line(argv: list[str] | None) -> set[str]:
    """The destinations the command line itself sets (its defaults suppressed)."""
    probe = build_parser()
    unset = object()  # not SUPPRESS for all: argparse type-converts a positional's str default
    appended = set()  # repeatable options: argparse appends to their default, which must be None
    for action in probe._actions:
        if isinstance(action, argparse._AppendAction):
            action.default = None
            appended.add(action.dest)
        else:
            action.default = unset
    given = vars(probe.parse_args(argv)).items()
    return {dest for dest, value in given if value is not unset and not (dest in appended and value is None)}


def _apply_environment(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None, environ: Any
) -> None:
    """Set what the command line left out from ``AIOHTTPBASE_<OPTION>`` variables.

    A variable is converted and checked as its option would be, and a bad value is a
    usage error that names the variable.  The listening socket is the command line's
    whole: when it names one (-b/port, --uds or --fd), the environment's variables for the
    other kinds are ignored, so ``AIOHTTPBASE_PORT`` does not clash with ``--uds``.
    """
    given = _given_on_command_line(argv)
    kinds = {_LISTEN_KIND[dest] for dest in given if dest in _LISTEN_KIND}
    known = {WORKER_ID_ENV}
    for action in parser._actions:
        name = env_name(action)
        if name is None:
            continue
        known.add(name)
        raw = environ.get(name, "")
        if not raw or action.dest in given:
            continue
        kind = _LISTEN_KIND.get(action.dest)
        if kind is not None and kinds and kind not in kinds:
            continue
        if action.nargs == 0:  # a switch: --proxy-headers/--no-proxy-headers, --reuse-port
            word = raw.strip().lower()
            if word not in _TRUE | _FALSE:
                parser.error(f"{name}={raw!r}: use 1/true/yes/on or 0/false/no/off")
            on = word in _TRUE
            if isinstance(action, argparse.BooleanOptionalAction):
                setattr(args, action.dest, on)
            elif on:
                setattr(args, action.dest, action.const)
            continue
        convert = action.type if callable(action.type) else str
        value: Any
        try:
            if isinstance(action, argparse._AppendAction):  # repeatable: one value per line
                value = [convert(line) for line in raw.splitlines() if line.strip()]
            else:
                value = convert(raw)
        except argparse.ArgumentTypeError as exc:
            parser.error(f"{name}={raw!r}: {exc}")
        except (ValueError, TypeError):
            what = getattr(action.type, "__name__", "value")
            option = "/".join(action.option_strings) or action.dest
            parser.error(f"{name}={raw!r}: not a valid {what} for {option}")
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(str, action.choices))
            parser.error(f"{name}={raw!r}: choose from {choices}")
        setattr(args, action.dest, value)
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            print(f"warning: {name} is not an aiohttpbase option; ignored", file=sys.stderr)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """A ``ServerConfig`` with every setting flag that was given applied."""
    names = {field.name for field in dataclasses.fields(ServerConfig)}
    return ServerConfig(**{name: value for name, value in vars(args).items() if name in names})


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, as a usage error, values that argparse's types alone cannot judge."""
    if args.cgi and args.handler:
        parser.error("--cgi and --handler name different handlers: give one of them")
    if args.cgi and cgi_handler_class() is None:
        parser.error(
            f"--cgi: Python {sys.version_info.major}.{sys.version_info.minor} has no "
            "http.server.CGIHTTPRequestHandler (removed in 3.15)"
        )
    if args.reload:
        problem = missing_watcher()
        if problem:
            parser.error(problem)
        if args.workers > 1:
            parser.error("--reload serves from one child process: drop --workers")
    elif args.reload_dir:
        parser.error("--reload-dir needs --reload")
    if args.limit_max_requests_jitter and args.limit_max_requests is None:
        parser.error("--limit-max-requests-jitter needs --limit-max-requests")
    if not args.handler and not os.path.isdir(args.directory):
        parser.error(f"argument -d/--directory: no such directory: {args.directory}")


def prepare_handler(args: argparse.Namespace) -> Callable[[Any], Any]:
    """What the command line does to a ``--handler`` class it loads (at start, and again
    on a reload): set ``-p``, and add the ``--header`` headers."""

    def prepare(handler: Any) -> Any:
        if args.protocol:
            handler.protocol_version = args.protocol
        if args.header:
            handler = with_default_headers(handler, args.header)
        return handler

    return prepare


def make_server(args: argparse.Namespace) -> HTTPServer:
    handler: Any
    if args.handler:
        handler = prepare_handler(args)(load_handler(args.handler))
    else:
        static: Any = cgi_handler_class() if args.cgi else SimpleHTTPRequestHandler
        assert static is not None  # check_args refused --cgi where there is no CGI
        static.protocol_version = args.protocol or "HTTP/1.0"
        if args.header:
            static = with_default_headers(static, args.header)
        handler = functools.partial(static, directory=args.directory)
    config = config_from_args(args)
    # CGI scripts run as child processes the handler waits for: on a thread, not the loop.
    base = ThreadingHTTPServer if "threads" in vars(args) or args.cgi else HTTPServer
    tls = _tls_context(args)
    sock = _listening_socket(args)

    class CommandLineServer(base):  # type: ignore[valid-type,misc]
        request_queue_size = args.backlog
        ssl_context = tls

        def server_bind(self) -> None:
            _set_bind_options(self.socket, args.reuse_port)
            super().server_bind()

    if sock is not None:
        try:
            return CommandLineServer.from_socket(sock, handler, config=config)  # type: ignore[no-any-return]
        except BaseException:
            sock.close()
            raise
    family, sockaddr = _best_family(args.bind, 8000 if args.port is None else args.port)
    CommandLineServer.address_family = family
    return CommandLineServer(sockaddr[:2], handler, config=config)


def _set_bind_options(sock: socket.socket, reuse_port: bool) -> None:
    """What the command line sets on a TCP socket before binding it."""
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # As the stdlib's DualStackServer: "::" also accepts IPv4 where it can.
    with contextlib.suppress(Exception):
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)


def _reload_socket(args: argparse.Namespace) -> socket.socket:
    """The listening socket a --reload parent makes once and passes to each child."""
    sock = _listening_socket(args)
    if sock is not None:
        return sock
    family, sockaddr = _best_family(args.bind, 8000 if args.port is None else args.port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as HTTPServer does
        _set_bind_options(sock, args.reuse_port)
        sock.bind(sockaddr[:2])
        sock.listen(args.backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _reload_paths(args: argparse.Namespace) -> list[str]:
    """What --reload watches: the --handler file's directory, or the directory of its
    module's top-level package (found without importing anything), or -d; and --reload-dir."""
    paths = [os.path.abspath(path) for path in args.reload_dir or ()]
    target = args.handler.rpartition(":")[0] if args.handler else ""
    if not target:
        paths.append(os.path.abspath(args.directory))
    elif target.endswith(".py") or os.sep in target:
        paths.append(os.path.dirname(os.path.abspath(target)))
    else:
        sys.path.insert(0, os.getcwd())  # where load_handler looks first
        spec = importlib.util.find_spec(target.partition(".")[0])
        if spec is not None and spec.submodule_search_locations:
            paths.append(next(iter(spec.submodule_search_locations)))
        elif spec is not None and spec.origin:
            paths.append(os.path.dirname(spec.origin))
        else:
            paths.append(os.getcwd())
    return paths


def _listening_socket(args: argparse.Namespace) -> socket.socket | None:
    """The socket of --uds, --fd or systemd socket activation; ``None`` for -b/port.

    Sets ``args.listening`` to what is listened on (for the banner and error messages)
    before trying, and ``args.uds_inode`` to the --uds file made.
    """
    tcp = args.bind is not None or args.port is not None
    choices = (("-b/port", tcp), ("--uds", bool(args.uds)), ("--fd", args.fd is not None))
    named = [name for name, on in choices if on]
    if len(named) > 1:
        raise UsageError(f"{' and '.join(named)} name different sockets: give one of them")
    reloader_fd = os.environ.pop(RELOADER_FD_ENV, None)
    if reloader_fd is not None:  # a --reload child: the parent made the socket already
        args.listening = "the --reload parent's socket"
        return inherited_socket(int(reloader_fd))
    if args.uds_mode is not None and not args.uds:
        raise UsageError("--uds-mode needs --uds")
    if args.reuse_port and (args.uds or args.fd is not None):
        raise UsageError("--reuse-port binds a TCP socket for each worker: it needs -b/port")
    if args.fd is not None:
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)  # not for the processes the handlers start either
        args.listening = f"inherited fd {args.fd}"
        return inherited_socket(args.fd)
    args.listening = "the socket from systemd (LISTEN_FDS)"
    activated = systemd_socket()
    if activated is not None:
        if named or args.reuse_port:
            activated.detach()  # the descriptor stays open, as systemd passed it
            option = named[0] if named else "--reuse-port"
            raise UsageError(f"systemd passed a socket (LISTEN_FDS): drop {option}, or the socket unit")
        return activated
    if args.uds:
        args.listening = f"unix socket {args.uds}"
        sock = unix_socket(args.uds, args.uds_mode)
        if not args.uds.startswith("\0"):
            args.uds_inode = os.stat(args.uds).st_ino
        return sock
    port = 8000 if args.port is None else args.port
    args.listening = f"{args.bind} port {port}" if args.bind else f"port {port}"
    return None


def _remove_uds_file(args: argparse.Namespace) -> None:
    """Remove the --uds socket file this process made, unless it has been replaced."""
    inode = getattr(args, "uds_inode", None)
    if inode is None:
        return
    with contextlib.suppress(OSError):
        if os.stat(args.uds).st_ino == inode:
            os.unlink(args.uds)


def _tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The context for --tls-cert/--tls-key/--tls-password-file (as ``http.server`` 3.14)."""
    if not args.tls_cert:
        if args.tls_key or args.tls_password_file:
            raise UsageError("--tls-key and --tls-password-file need --tls-cert")
        return None
    password = None
    if args.tls_password_file:
        try:  # as http.server 3.14: UTF-8, surrounding whitespace stripped
            password = Path(args.tls_password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read --tls-password-file: {exc}") from exc
    texts = {}
    for option, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path is None:
            continue
        try:
            texts[option] = Path(path).read_text(encoding="latin-1")
        except OSError as exc:
            raise UsageError(f"cannot read {option} {path}: {exc.strerror or exc}") from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.tls_cert, args.tls_key, password)
    except ssl.SSLError as exc:
        raise UsageError(_tls_problem(args, texts, exc)) from None
    context.set_alpn_protocols(["http/1.1"])
    return context


def _tls_problem(args: argparse.Namespace, texts: dict[str, str], exc: ssl.SSLError) -> str:
    """What is wrong with --tls-cert/--tls-key, said better than OpenSSL's "PEM lib"."""
    cert, key = args.tls_cert, args.tls_key
    if "-----BEGIN CERTIFICATE-----" not in texts["--tls-cert"]:
        return f"--tls-cert {cert}: no PEM certificate in it"
    if key is None and "PRIVATE KEY-----" not in texts["--tls-cert"]:
        return f"--tls-cert {cert} holds no private key: give it with --tls-key"
    if key is not None and "PRIVATE KEY-----" not in texts["--tls-key"]:
        return f"--tls-key {key}: no PEM private key in it"
    if exc.reason == "KEY_VALUES_MISMATCH":
        return f"--tls-key {key} is not the private key of --tls-cert {cert}"
    keyed = f" with --tls-key {key}" if key else ""
    return f"cannot load --tls-cert {cert}{keyed}: {exc.reason or exc} (a wrong --tls-password-file?)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("aiohttpbase.error", "aiohttpbase.workers"):
        logging.getLogger(name).setLevel(args.log_level.upper())
    modules_before = set(sys.modules)  # what --handler brings in is imported afresh on reload
    reloader: Reloader | None = None
    try:
        if args.reload and RELOADER_FD_ENV not in os.environ:
            # The child runs this same command line; RELOADER_FD_ENV makes it serve the socket.
            command = [sys.executable, "-m", "aiohttpbase", *(sys.argv[1:] if argv is None else argv)]
            grace = config_from_args(args).timeout_graceful_shutdown
            reloader = Reloader(command, _reload_socket(args), _reload_paths(args), grace)
        else:
            server = make_server(args)
    except (UsageError, ValueError) as exc:
        _remove_uds_file(args)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        _remove_uds_file(args)
        where = getattr(args, "listening", f"port {args.port}")
        print(f"{PROG}: error: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        if reloader is not None:
            with reloader.sock:
                status = reloader.run()
            interrupted = reloader.stop_signal == signal.SIGINT
        else:
            with server:
                print(_banner(server, args), flush=True)
                status, interrupted = _serve(server, args, modules_before)
    finally:
        _remove_uds_file(args)  # workers never get here: they end with os._exit
    if interrupted:  # as python -m http.server says on Ctrl-C
        print("\nKeyboard interrupt received, exiting.", flush=True)
    return status


def _serve(server: HTTPServer, args: argparse.Namespace, modules_before: set[str]) -> tuple[int, bool]:
    """Serve until a signal stops it: ``(exit status, whether it was Ctrl-C)``."""
    if args.workers > 1:
        # SIGHUP starts new workers (importing --handler afresh), then stops the old
        # ones; SIGUSR1 reopens --access-log FILE; workers stop when the supervisor dies.
        on_reload = None
        if args.handler:
            on_reload = _handler_reloader(args.handler, prepare_handler(args), modules_before)
        supervisor = WorkerSupervisor(
            server,
            args.workers,
            reuse_port=args.reuse_port,
            on_reload=on_reload,
            limit_max_requests=args.limit_max_requests,
            limit_max_requests_jitter=args.limit_max_requests_jitter,
        )
        status = supervisor.run()
        return status, supervisor.stop_signal == signal.SIGINT
    limit = request_limit(args.limit_max_requests, args.limit_max_requests_jitter)
    if limit is not None:

        def stop() -> None:
            logging.getLogger("aiohttpbase.workers").info("served %d requests: stopping", limit)
            server.request_shutdown()

        after_requests([server], limit, stop)
    # SIGTERM, Ctrl-C and SIGHUP stop gracefully: in-flight requests finish, then exit 0;
    # SIGUSR1 reopens --access-log FILE.
    restore = install_signal_handlers(server)
    graceful = signal.getsignal(signal.SIGINT)
    assert callable(graceful)  # the handler install_signal_handlers just set
    interrupts: list[int] = []

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        interrupts.append(signum)
        graceful(signum, frame)

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # a second Ctrl-C cuts the graceful wait short
        interrupts.append(signal.SIGINT)
    finally:
        restore()
    return 0, bool(interrupts)


def _banner(server: HTTPServer, args: argparse.Namespace) -> str:
    """``python -m http.server``'s first line, naming the socket when it is not a TCP port."""
    scheme = "HTTPS" if server.ssl_context is not None else "HTTP"
    name = server.socket.getsockname()
    if server.socket.family == socket.AF_UNIX:
        path = name.decode(errors="replace") if isinstance(name, bytes) else name
        return (
            f"Serving {scheme} on unix socket {path} "
            f"(curl --unix-socket {path} {scheme.lower()}://localhost/) ..."
        )
    host, port = name[:2]
    url_host = f"[{host}]" if ":" in host else host
    line = f"Serving {scheme} on {host} port {port} ({scheme.lower()}://{url_host}:{port}/)"
    where = getattr(args, "listening", "")
    if where.startswith(("inherited", "the socket from systemd")):
        line += f", {where}"
    return line + " ..."

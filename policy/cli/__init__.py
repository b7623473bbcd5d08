"""The ``policy`` command: check, fmt, explain, simulate, convert, presets, fetch, demo.

The CLI is a thin shell around the library.  This module wires the arguments (argparse)
and runs one command; each command lives in its own module (``check``, ``fmt``,
``explain``, ``simulate``, ``convert``, ``presets``, ``fetch``, ``demo``), imported only
when it runs, so a cold ``policy check`` loads neither the transport nor the code of the
other commands.  ``_sources`` finds policies where people keep them and prints findings;
``_io`` holds the usage error and the output streams.

Exit codes, as linters use them: 0 clean (warnings allowed), 1 errors (or warnings under
``--strict``; for ``fetch``, a failed fetch), 2 usage errors (bad arguments, an unreadable
file, a missing key).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ._io import Failed, UsageError, err, out, reset_stdin

__all__ = ["UsageError", "main"]


def _formatter(prog: str) -> argparse.HelpFormatter:
    # A fixed width: argparse would otherwise import shutil to ask the terminal's size,
    # a few milliseconds of every cold `policy check`.
    # Raw descriptions: the examples that end each command's help keep their lines.
    return argparse.RawDescriptionHelpFormatter(prog, width=100)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise instead of exiting the interpreter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}")


def version() -> str:
    """``policy (retry-policy) X.Y.Z``: the installed distribution's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        number = installed("retry-policy")
    except PackageNotFoundError:
        number = "unknown (not installed)"
    return f"policy (retry-policy) {number}"


class _Version(argparse.Action):
    """``--version``: looks the version up only when asked (a cold start stays short)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print the version and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(version(), file=out())
        parser.exit()


COMMANDS = ("check", "fmt", "explain", "simulate", "convert", "presets", "fetch", "demo")


def _chosen(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names, or ``None`` if its first non-option word names none."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def _fleet_arguments(s: argparse.ArgumentParser) -> None:
    """The fleet options of ``policy simulate``, read by ``policy.fleet._command``.

    They live here rather than beside the fleet code so that building the parser does not
    import it (with the linter it needs) on every cold ``policy check``.
    """
    s.add_argument("--clients", type=int, help="fleet mode: this many clients share a server")
    s.add_argument("--capacity", help="fleet mode: requests per second the server serves (10/s)")
    s.add_argument("--work", type=int, default=1, help="fleet mode: successes each client needs")
    s.add_argument("--horizon", default="10m", help="fleet mode: simulated time (default 10m)")
    s.add_argument("--fail", type=int, help="fleet mode: refuse with this status (503), no headers")
    s.add_argument("--outage", help="fleet mode: every request fails in START..END (10s..40s)")
    s.add_argument("--plot", metavar="FILE", help="fleet mode: requests/s per policy (.png/.svg)")
    s.add_argument(
        "--refuse",
        action="store_true",
        help="fleet mode: during --outage connections are refused (else 503)",
    )
    s.add_argument(
        "--no-headers",
        action="store_true",
        help="fleet mode: the server's 429s carry no rate-limit header",
    )


def _add_inputs(s: argparse.ArgumentParser) -> None:
    """Where ``check`` and ``fmt`` read policies: arguments, files, keys, standard input."""
    s.add_argument("policies", nargs="*", metavar="POLICY")
    s.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="FILE",
        help="a text file (one policy a line) or a TOML, JSON or YAML file",
    )
    s.add_argument(
        "--key",
        dest="keys",
        action="append",
        default=[],
        help="the dotted path of a policy in a structured file (a.b.0.c, services.*.retry, "
        'tool."my.svc".retry); repeat for more',
    )
    s.add_argument(
        "--stdin-format",
        choices=["text", "toml", "json", "yaml"],
        help="what -f - (standard input) holds (default: text, one policy a line)",
    )
    s.add_argument(
        "--files",
        dest="args_are_files",
        action="store_true",
        help="read every POLICY argument as a FILE, as -f does (how pre-commit passes files)",
    )


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the arguments of the command in ``argv`` are defined.

    The first word of ``argv`` that is not an option names the command (the top level has
    no option that takes a value).  The other commands keep their name and help (all that
    ``policy --help`` shows of them); when no known command is named, every argument is
    defined.  Defining only one command's arguments keeps a cold ``policy check`` short.
    """
    chosen = _chosen(sys.argv[1:] if argv is None else argv)

    def wanted(name: str) -> bool:
        return chosen is None or chosen == name

    def epilog(name: str) -> str | None:
        return _epilog(name) if wanted(name) else None

    top = _Parser(
        prog="policy",
        description="Check, format, explain and try HTTP retry policies.",
        epilog="Run 'policy demo' to see policies at work against a local server.",
    )
    top.add_argument("--version", action=_Version)
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    top.commands = sub.choices  # type: ignore[attr-defined]  # for errors in _parse

    c = sub.add_parser(
        "check", epilog=epilog("check"), help="parse and lint policies (exit 1 on errors)"
    )
    if wanted("check"):
        _add_inputs(c)
        c.add_argument(
            "--format",
            dest="runtime",
            choices=["grpc", "envoy", "istio", "gateway"],
            help="-f FILE is this runtime's retry config: lint what it retries",
        )
        c.add_argument("--json", action="store_true", help="print diagnostics as a JSON list")
        c.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
        c.add_argument("-q", "--quiet", action="store_true", help="leave out info findings (I2xx)")

    f = sub.add_parser(
        "fmt", epilog=epilog("fmt"), help="print (or rewrite) policies in canonical form"
    )
    if wanted("fmt"):
        _add_inputs(f)
        f.add_argument("--write", action="store_true", help="rewrite the file in place")
        f.add_argument("--check", action="store_true", help="exit 1 if not already canonical")

    e = sub.add_parser(
        "explain",
        epilog=epilog("explain"),
        help="per rule: what it decides and how long it waits",
    )
    if wanted("explain"):
        e.add_argument("policy", metavar="POLICY")
        e.add_argument("--json", action="store_true", help="print the explanation as JSON")
        e.add_argument(
            "--plot", metavar="FILE", help="draw the delay envelope per retry (.png/.svg)"
        )

    s = sub.add_parser(
        "simulate",
        epilog=epilog("simulate"),
        help="the decisions for a sequence of outcomes, or a fleet (--clients)",
    )
    if wanted("simulate"):
        s.add_argument("policies", nargs="+", metavar="POLICY")
        s.add_argument("--outcomes", help="e.g. 503,503,timeout,connect,reset,200")
        s.add_argument(
            "--headers",
            action="append",
            default=[],
            metavar="'N:K: V'",
            help="a header of the N-th outcome (1-based), e.g. '1:Retry-After: 2'",
        )
        s.add_argument("--seed", type=int, help="seed for the jitter (random.Random(seed))")
        s.add_argument("--now", type=float, help="start time, epoch seconds (default: now)")
        s.add_argument("--method", default="GET", help="the request method (default GET)")
        s.add_argument(
            "--json", action="store_true", help="print the timeline (or the table) as JSON"
        )
        _fleet_arguments(s)

    v = sub.add_parser(
        "convert", epilog=epilog("convert"), help="seed options or runtime configs <-> policy"
    )
    if wanted("convert"):
        v.add_argument("policy", nargs="?", metavar="POLICY")
        v.add_argument("-f", "--file", help="a JSON (or TOML/YAML) file of seed options")
        v.add_argument("--key", help="the dotted path of the options in the file")
        v.add_argument(
            "--stdin-format",
            choices=["text", "toml", "json", "yaml"],
            help="what -f - (standard input) holds (default: json)",
        )
        v.add_argument(
            "--to",
            choices=["options", "policy", "grpc", "envoy", "istio", "gateway", "urllib3"],
            help="what to write (default: policy with --from, else required)",
        )
        v.add_argument(
            "--from",
            dest="source",
            choices=["grpc", "envoy", "istio", "gateway"],
            help="-f FILE is this runtime's retry config (JSON or YAML)",
        )
        v.add_argument(
            "--format",
            dest="out_format",
            choices=["json", "yaml"],
            default="json",
            help="how a runtime config is written (default json)",
        )
        v.add_argument("--strict", action="store_true", help="exit 1 when anything was lost")
        v.add_argument(
            "--json", action="store_true", help="put the loss report in the output (JSON)"
        )

    p = sub.add_parser("presets", epilog=epilog("presets"), help="list the presets (@name)")
    if wanted("presets"):
        p.add_argument("--names", action="store_true", help="names only")

    g = sub.add_parser(
        "fetch", epilog=epilog("fetch"), help="fetch a URL through the retrying transport"
    )
    if wanted("fetch"):
        g.add_argument("url", metavar="URL")
        g.add_argument("-X", "--method", default=None, help="default GET (POST with -d)")
        g.add_argument(
            "-H", "--header", dest="headers", action="append", default=[], metavar="'K: V'"
        )
        g.add_argument("-d", "--data", help="the request body")
        g.add_argument("--retry", default="", metavar="POLICY", help="the retry policy")
        g.add_argument("--timeout", default=None, help="per-attempt timeout, e.g. 10s")
        g.add_argument(
            "--cache-key",
            dest="key",
            metavar="KEY",
            help="fetch through background_fetch with this stable key",
        )
        g.add_argument("--key", dest="old_key", help=argparse.SUPPRESS)  # the old spelling
        g.add_argument(
            "--store", metavar="FILE", help="with --cache-key: keep results in this SQLite file"
        )

    sub.add_parser(
        "demo", epilog=epilog("demo"), help="policies at work against an embedded local server"
    )
    return top


def _epilog(name: str) -> str | None:
    """The examples that end ``policy NAME --help``."""
    from ._examples import EXAMPLES

    return EXAMPLES.get(name)


def _command(name: str) -> Any:
    """The module of command ``name`` (each command is imported only when it runs)."""
    from importlib import import_module

    return import_module(f"{__name__}.{name}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``policy`` command with ``argv`` (default ``sys.argv[1:]``); the exit code.

    Pipe-safe: when the reader of its output goes away (``policy presets | head``), the
    command stops quietly with exit code 141, as a program killed by SIGPIPE does.
    """
    try:
        code = _run(argv)
        out().flush()
        err().flush()
    except BrokenPipeError:
        _discard_output()
        return EXIT_BROKEN_PIPE
    return code


#: The exit code after the reader of the output went away: 128 + SIGPIPE, as the shell
#: reports a program that SIGPIPE ended.
EXIT_BROKEN_PIPE = 141


def _discard_output() -> None:
    """Point standard output and error at the null device, so that the interpreter's final
    flush of what is still buffered does not fail again on the closed pipe."""
    import os
    import sys

    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            try:
                fd = stream.fileno()
            except (AttributeError, OSError, ValueError):
                continue  # not a real file (tests capture into memory)
            os.dup2(null, fd)
    finally:
        os.close(null)


#: Commands that take one POLICY: a second word is most often a policy with spaces, unquoted.
_ONE_POLICY = ("explain", "convert")


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parse_args``, but arguments left over are reported by the command's own parser
    (its usage, not the top level's), with a hint when a policy was likely not quoted."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        command = getattr(parser, "commands", {}).get(getattr(args, "command", None))
        message = f"unrecognized arguments: {' '.join(extra)}"
        if args.command in _ONE_POLICY and not any(e.startswith("-") for e in extra):
            message += (
                f"\n(policy {args.command} takes one POLICY: quote a policy that has "
                "spaces, e.g. '5xx:backoff(3) 429:headers()')"
            )
        (command or parser).error(message)
    return args


def _run(argv: Sequence[str] | None) -> int:
    reset_stdin()
    parser = _parser(argv)
    try:
        args = _parse(parser, argv)
    except UsageError as exc:
        print(f"policy: error: {exc}", file=err())
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    if args.command is None:
        parser.print_help(out())
        return 2
    if getattr(args, "args_are_files", False):
        args.files = [*args.files, *args.policies]
        args.policies = []
    try:
        return int(_command(args.command).run(args))
    except UsageError as exc:
        print(f"policy {args.command}: error: {exc}", file=err())
        return 2
    except Failed:
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=err())
        return 130

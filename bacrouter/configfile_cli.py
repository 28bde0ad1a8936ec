"""``bacrouter export`` and ``bacrouter import``: the router configuration file (see :mod:`bacrouter.configfile`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .cliutil import EXIT_USAGE, CliError, print_json
from .config import uci
from .configfile import (
    ConfigFileError,
    ImportPlan,
    ImportResult,
    apply_import,
    dumps_document,
    export_router,
    plan_import,
    read_document,
    undo_import,
)
from .paths import Paths

__all__ = ["add_commands"]


def cmd_export(args: argparse.Namespace) -> int:
    paths = Paths.from_arg(args.config_dir)
    notes: list[str] = []
    try:
        document = export_router(paths, with_secrets=args.with_secrets, notes=notes)
    except ConfigFileError as err:
        raise CliError(str(err)) from None
    text = dumps_document(document)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.output and args.output != "-":
        uci.write_atomic(args.output, text, mode=0o600 if args.with_secrets else None)
        summary = {"output": args.output, "sections": len(document["uci"]), "files": len(document["files"]),
                   "secrets": document["secrets"], "notes": notes}
        if args.json:
            print_json(summary)
        else:
            print(f"wrote {args.output}: {summary['sections']} section(s), {summary['files']} file(s)"
                  + ("" if args.with_secrets else ", without secrets (--with-secrets includes them)"))
    else:
        sys.stdout.write(text)
    return 0


def _print_plan(plan: ImportPlan) -> None:
    if plan.migrated_from is not None:
        print(f"format version {plan.migrated_from} migrated to {plan.format_version}")
    for change in plan.changes:
        print(f"  {change}")
    if not plan.changes:
        print("  no difference: this is the configuration already")
    counts = []
    for kind, label in (("section", "sections"), ("slave", "slaves"), ("bus", "buses"), ("points", "points"),
                        ("resource", "resources"), ("file", "files"), ("library", "library")):
        numbers = plan.summary.get(kind)
        if numbers and any(numbers.values()):
            counts.append(f"{label} " + "/".join(f"{numbers[a]} {a}" for a in ("added", "changed", "removed")))
    if counts:
        print("summary: " + "; ".join(counts))
    for note in plan.notes:
        print(f"note: {note}")
    for problem in plan.problems:
        print(problem, file=sys.stderr if problem.severity == "error" else sys.stdout)


def _reload_text(result: ImportResult) -> str:
    state = result.reload.get("state")
    if state == "reloaded":
        return "the router reloaded it"
    if state == "not running":
        return "bacrouter is not running: it uses this configuration when it starts"
    if state == "refused":
        return "the running router refused it and keeps the previous one: " + "; ".join(map(str, result.reload["problems"]))
    if state == "failed":
        return f"reloading the router failed ({result.reload.get('message')}): run bacrouter reload"
    return "not reloaded"


def cmd_import(args: argparse.Namespace) -> int:
    paths = Paths.from_arg(args.config_dir)
    if args.undo:
        if args.file or args.dry_run:
            raise CliError("bacrouter import --undo takes no FILE and no --dry-run", EXIT_USAGE)
        try:
            result = undo_import(paths)
        except ConfigFileError as err:
            raise CliError(str(err)) from None
        if args.json:
            print_json({"undone": True, **result.to_json()})
        else:
            print(f"restored the previous configuration ({len(result.files)} file(s)); {_reload_text(result)}")
        return 0
    if not args.file:
        raise CliError("bacrouter import: give the router file (or --undo)", EXIT_USAGE)
    raw = sys.stdin.buffer.read() if args.file == "-" else open(args.file, "rb").read()  # noqa: SIM115
    source = "<stdin>" if args.file == "-" else args.file
    try:
        document, migrated_from = read_document(raw, source)
        plan = plan_import(paths, document, migrated_from)
    except ConfigFileError as err:
        raise CliError(str(err)) from None
    out: dict[str, Any] = plan.to_json()
    if not args.json:
        _print_plan(plan)
    if not plan.ok:
        if args.json:
            print_json({**out, "imported": False})
        errors = sum(p.severity == "error" for p in plan.problems)
        print(f"not imported: the configuration has {errors} error(s); nothing was changed", file=sys.stderr)
        return 1
    if args.dry_run:
        if args.json:
            print_json({**out, "imported": False, "dry_run": True})
        else:
            print(f"dry run: {len(plan.files)} file(s) would change; nothing was changed")
        return 0
    try:
        result = apply_import(paths, plan)
    except ConfigFileError as err:
        raise CliError(str(err)) from None
    if args.json:
        print_json({**out, "imported": True, **result.to_json()})
    elif not result.files:
        print("nothing to change")
    else:
        print(f"imported: {len(result.files)} file(s) written as one change (bacrouter import --undo goes back); "
              f"{_reload_text(result)}")
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    exp = sub.add_parser("export", parents=[common], help="write the whole configuration as one router file")
    exp.add_argument("-o", "--output", metavar="FILE", help="file to write (default: standard output)")
    exp.add_argument("--with-secrets", action="store_true", help="include the panel's password hash")
    exp.add_argument("--json", action="store_true",
                     help='with -o, machine-readable output: {"output", "sections", "files", "secrets", "notes"}')
    exp.set_defaults(func=cmd_export)
    imp = sub.add_parser("import", parents=[common],
                         help="check a router file, show the difference, and make it the configuration")
    imp.add_argument("file", nargs="?", help="the router file (bacrouter export writes one; - reads standard input)")
    imp.add_argument("--dry-run", action="store_true", help="check and show the difference; change nothing")
    imp.add_argument("--undo", action="store_true", help="put back the configuration the last import replaced")
    imp.add_argument("--json", action="store_true",
                     help='machine-readable output: {"ok", "summary", "changes", "problems", "imported", ...}')
    imp.set_defaults(func=cmd_import)

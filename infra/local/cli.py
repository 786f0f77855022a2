"""`headshot local …` and `headshot demo` (wired into the headshot console script)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = commands.add_parser("local", help="the local stack (moto, functions, container) driven by template.yaml")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser("up", help="start everything in the foreground; Ctrl-C stops it")
    up.add_argument("--port", type=int, default=0, help="HTTP API port (default: any free port)")
    up.add_argument("--inference-failure-rate", type=float, default=0.0, metavar="R",
                    help="share of inference requests that fail on purpose (fault drills)")  # fmt: skip
    up.add_argument("--inference-delay", type=float, default=0.0, metavar="SECONDS",
                    help="stall every inference request this long (fault drills)")  # fmt: skip
    up.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                    help="template parameter override (like sam deploy --parameter-overrides)")  # fmt: skip
    token = local_commands.add_parser("token", help="print a bearer token the local API accepts")
    token.add_argument("--user", required=True)
    retention = local_commands.add_parser("retention", help="apply lifecycle rules and TTL as of an instant")
    retention.add_argument("--at", required=True, type=datetime.fromisoformat, metavar="ISO8601")

    demo = commands.add_parser("demo", help="run one job end to end on the local stack and show the results")
    demo.add_argument("photos", nargs="*", type=Path, metavar="PHOTO", help="default: the astronaut portrait")
    demo.add_argument("--style", action="append", dest="styles", metavar="STYLE")
    demo.add_argument("--out", type=Path, default=Path("out"))


def run(args: argparse.Namespace) -> int:
    from infra.local import stack

    if args.command == "demo":
        from infra.local.demo import run_demo

        return run_demo(args.photos, args.styles or ["studio_gray", "studio_blue"], args.out)
    if args.local_command == "up":
        parameters = dict(item.split("=", 1) for item in args.parameter)
        options = stack.StackOptions(
            port=args.port,
            inference_failure_rate=args.inference_failure_rate,
            inference_delay_s=args.inference_delay,
            parameters=parameters,
        )
        return stack.run_foreground(options)
    state = stack.read_state()
    if state is None:
        print("no local stack is running (start one with: headshot local up)", file=sys.stderr)
        return 2
    if args.local_command == "token":
        print(stack.token(state, args.user))
        return 0
    at = args.at if args.at.tzinfo else args.at.astimezone()
    print(json.dumps(stack.apply_retention(state, at), indent=2))
    return 0

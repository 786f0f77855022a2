"""Container entry point: `docker run IMAGE serve` (SageMaker) or `python -m headshot_inference.serve`.

Runs as PID 1 in the image (exec-form ENTRYPOINT), so SIGTERM from `docker stop` or
SageMaker reaches it directly: the server stops accepting, finishes in-flight
invocations and exits 0. Exit 1: the backend failed to load; 2: bad configuration/usage.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from headshot.settings import ConfigurationError
from headshot_inference.backends import create_backend
from headshot_inference.server import InferenceServer
from headshot_inference.settings import get_settings

log = logging.getLogger("headshot_inference.serve")


def configure_logging(level: str) -> None:
    # One line per event on stdout: SageMaker ships the container's stdout to CloudWatch.
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stdout,
        force=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # SageMaker appends "serve"; it is the only command this image has.
    if args[:1] == ["serve"]:
        args = args[1:]
    if args:
        print("usage: serve  (configuration comes from the environment; see inference_container/README.md)")
        return 2
    try:
        settings = get_settings()
        configure_logging(settings.log_level)
        backend = create_backend(settings.backend, model_dir=settings.model_dir)
        server = InferenceServer(settings, backend)
    except ConfigurationError as error:
        configure_logging("INFO")
        log.error("configuration error: %s", error)
        return 2
    except OSError as error:  # the port is taken or not ours to bind
        log.error("cannot listen: %s", error)
        return 2

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        server.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return server.run()


if __name__ == "__main__":
    raise SystemExit(main())

"""Run PyPI's localstripe on a loopback port, from scratch, keeping its state in memory only.

``localstripe --port N --from-scratch`` listens on every interface and rewrites one shared
``/tmp/localstripe.pickle`` after each change (which parallel test runs would fight over); this
launcher serves the same application on ``127.0.0.1`` only and never touches that file.

    functions/venv/bin/python tools/localstripe_server.py --port 8420
"""

from __future__ import annotations

import argparse
import logging


def main() -> None:
    """Parse ``--port`` and serve localstripe until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    import localstripe_browser  # beside this script (tools/ is sys.path[0])
    import localstripe_events
    import localstripe_idempotency
    from aiohttp import web
    from localstripe import resources, server

    # In memory only: the store is never loaded from (nor saved to) the shared pickle file.
    resources.store.dump_to_disk = lambda: None  # type: ignore[method-assign]
    # What Stripe.js does from a page (card confirmation with the publishable key).
    localstripe_browser.install(server.app)
    # What Stripe sends that localstripe does not: charge.refunded, and disputes.
    localstripe_events.install(server.app)
    # What Stripe does with an Idempotency-Key: one object per key, the same answer again.
    localstripe_idempotency.install(server.app)
    logger = logging.getLogger("aiohttp.access")
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.StreamHandler())
    web.run_app(server.app, host=args.host, port=args.port, access_log=logger)


if __name__ == "__main__":
    main()

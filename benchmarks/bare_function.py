"""The baselines of the catalogue benchmark: an HTTP function that answers 2 KB of JSON, and the
same with one Redis round trip first (the floor of any cache hit that asks Redis)."""

import json
import os
import threading

from firebase_functions import https_fn

BODY = json.dumps(
    {
        "items": [
            {"id": f"p{i:03d}", "name": f"Product {i:03d}", "price": 100 + i} for i in range(38)
        ]
    }
)
#: The key ``bare_redis`` reads (the benchmark stores a page-sized value there).
REDIS_KEY = "bench:bare"
_local = threading.local()


@https_fn.on_request()
def bare(req: https_fn.Request) -> https_fn.Response:
    """Answer a constant JSON body."""
    return https_fn.Response(BODY, mimetype="application/json")


@https_fn.on_request()
def bare_redis(req: https_fn.Request) -> https_fn.Response:
    """GET one value from Redis on this thread's own connection, and answer it."""
    import redis

    conn = getattr(_local, "conn", None)
    if conn is None:
        pool = redis.ConnectionPool.from_url(os.environ["REDIS_URL"])
        conn = _local.conn = pool.connection_class(**pool.connection_kwargs)
    conn.send_command("GET", REDIS_KEY)
    return https_fn.Response(conn.read_response(), mimetype="application/json")

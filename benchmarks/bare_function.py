"""The baseline of the catalogue benchmark: an HTTP function that answers 2 KB of JSON."""

import json

from firebase_functions import https_fn

BODY = json.dumps(
    {
        "items": [
            {"id": f"p{i:03d}", "name": f"Product {i:03d}", "price": 100 + i} for i in range(38)
        ]
    }
)


@https_fn.on_request()
def bare(req: https_fn.Request) -> https_fn.Response:
    """Answer a constant JSON body."""
    return https_fn.Response(BODY, mimetype="application/json")

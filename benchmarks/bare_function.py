"""The baseline of the catalogue benchmark: an HTTP function that does nothing."""

from firebase_functions import https_fn


@https_fn.on_request()
def bare(req: https_fn.Request) -> https_fn.Response:
    """Answer a constant JSON body."""
    return https_fn.Response('{"items":[]}', mimetype="application/json")

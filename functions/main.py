"""Celeste's Cloud Functions registry: global options, then every function; no I/O at import."""

from firebase_functions import firestore_fn, https_fn, options

# Before any handler module is imported (DESIGN.md): the default cpu="gcf_gen1" means a fraction
# of a CPU and concurrency 1.
options.set_global_options(region="us-central1", cpu=1, memory=options.MemoryOption.MB_512)

from celeste_functions.resources import categories as _categories  # noqa: E402
from celeste_functions.triggers import catalog as _catalog  # noqa: E402


@https_fn.on_request()
def categories(req: https_fn.Request) -> https_fn.Response:
    """The catalogue tree (public reads, admin writes)."""
    return _categories.router(req)


@firestore_fn.on_document_written(document="categories/{category_id}")
def on_category_written(event: firestore_fn.Event[firestore_fn.Change]) -> None:  # type: ignore[type-arg]
    """Retire cached categories and products after any category write."""
    _catalog.on_catalog_written(event)

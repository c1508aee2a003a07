"""Where a short, blocking request handler runs: the thread pool, or the event loop itself.

    @router.get("/Observation")
    @short_request
    def search_observations(request: Request) -> FhirResponse: ...

FastAPI runs a plain `def` handler in its thread pool. With one request thread per worker (the
throughput set-up, `serve --threads 1`) that pool is a single thread, and handing each request
to it and back costs about half a millisecond of a 3-4 ms FHIR page (measured in bench/api.py):
the loop could not run a second handler meanwhile anyway. So with one thread, a handler marked
here runs on the loop. Mark only handlers whose work is bounded (a page, one resource), never
an import or an export, which would stall the worker's other connections.

It runs holding the pool's one token, taken in turn with the requests waiting for the thread.
Without the token it jumped that queue: under a steady stream of FHIR pages the loop was never
free, and the web pages waiting for the thread waited tens of seconds (`bench/region.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from anyio import to_thread
from fastapi import Request
from fastapi.concurrency import run_in_threadpool

P = ParamSpec("P")
R = TypeVar("R")


def short_request(handler: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`handler`, which takes the request as `request`, as an async handler FastAPI awaits."""

    @functools.wraps(handler)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        request = kwargs["request"]  # FastAPI passes every parameter by name
        assert isinstance(request, Request)
        if request.app.state.settings.server_threads == 1:
            async with to_thread.current_default_thread_limiter():
                return handler(*args, **kwargs)
        return await run_in_threadpool(handler, *args, **kwargs)

    return run

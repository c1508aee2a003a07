"""A GET request takes its turn once, for all of its work: its dependencies and its handler.

FastAPI runs each plain `def` dependency and handler in the thread pool, each hop waiting again
for one of the pool's tokens (`HEALTHPOD_SERVER_THREADS`, one with `serve --threads 1`). A web
page is two hops (the signed-in person, then the page), so when the server is busy it waits
at the back of the queue twice, behind every request that arrived meanwhile, while a FHIR
page (one hop) waits once. This middleware gives a GET (or HEAD) request one of that many
turns from its start until its response starts, in the order requests arrive; its hops then
find the pool free (only bodies of other methods, which do not wait for turns, may hold it).

A request with a body (an upload) takes no turn: it would hold one while a slow client sends
its body. A streamed response gives its turn back when it starts, not when the client has
read it all.
"""

from __future__ import annotations

from anyio import CapacityLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TURN_METHODS = frozenset({"GET", "HEAD"})


class TakeTurns:
    """Pure ASGI middleware: at most `turns` GET requests at work at once, first come first."""

    def __init__(self, app: ASGIApp, turns: int) -> None:
        self.app = app
        self.turns = turns
        self._limiter: CapacityLimiter | None = None  # made in the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in TURN_METHODS:
            await self.app(scope, receive, send)
            return
        if self._limiter is None:
            self._limiter = CapacityLimiter(self.turns)
        limiter = self._limiter
        # Held on behalf of the request, not of a task: a streamed response sends from a
        # task of its own.
        borrower = object()
        await limiter.acquire_on_behalf_of(borrower)
        held = True

        async def send_and_give_back(message: Message) -> None:
            nonlocal held
            if held and message["type"] == "http.response.start":
                held = False
                limiter.release_on_behalf_of(borrower)
            await send(message)

        try:
            await self.app(scope, receive, send_and_give_back)
        finally:
            if held:
                limiter.release_on_behalf_of(borrower)

"""One module per page of the web app; each has a `router`."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from healthpod.web.pages import (
        access_log,
        all_data,
        consent_page,
        corrections,
        delegates,
        export_page,
        imports,
        inbox,
        operator,
        overview,
        records,
        research,
        settings_page,
        share_links,
        sharing,
        type_page,
        your_data,
    )

    return [
        overview.router,
        type_page.router,
        all_data.router,
        imports.router,
        sharing.router,
        delegates.router,
        share_links.router,
        consent_page.router,
        access_log.router,
        inbox.router,
        your_data.router,
        export_page.router,
        records.router,
        settings_page.router,
        corrections.router,
        research.router,
        operator.router,
    ]

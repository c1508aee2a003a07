"""The ids a share link's document gives its resources: a pseudonym per link, never the pod's.

    ids = pseudonyms.for_link(pod.settings, link)
    ids.of("Patient/7")        # "3f0c…-…": the same for this link on every request

The pod's own ids (the person's id, a sample's row id, a record's id from healthcare) would
let anyone holding two files, or a file and anything else that shows such an id, tell that
they are of one person, even when the link does not share who the person is. So every id in
the document is a keyed hash (HMAC-SHA256) of the person, the link and the pod's reference,
shaped as a UUID (RFC 9562 version 8) so that each entry's fullUrl is a `urn:uuid:`.

The key is derived from the pod's secret key (`healthpod.keys.secret_key`), under a label of
its own, so nothing new has to be kept and a recipient, who holds the link and its file but
never the pod's key, cannot go from a pseudonym back to an id. A hash rather than a random id
stored with the link: a long-term (`L`) link's file, made anew on each request, keeps the same
ids for as long as the pod keeps its key, with no new column and no state to lose; a new
secret key (which also signs everyone out) gives such a link new ids, which its `can-change`
status allows.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from healthpod.config import Settings
from healthpod.keys import secret_key
from healthpod.store.share_links import ShareLink

LABEL = b"healthpod.share-link.ids.v1"


@dataclass(frozen=True, slots=True)
class LinkIds:
    """The pseudonyms of one link's document."""

    key: bytes  # derived from the pod's secret key, for link ids only
    person_id: int
    link_id: int

    def of(self, ref: str) -> str:
        """The id the document gives the pod's resource `ref` ("Type/id"): a UUID."""
        message = f"{self.person_id}:{self.link_id}:{ref}".encode()
        raw = bytearray(hmac.new(self.key, message, hashlib.sha256).digest()[:16])
        raw[6] = (raw[6] & 0x0F) | 0x80  # version 8: custom
        raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 9562 variant
        return str(uuid.UUID(bytes=bytes(raw)))


def link_key(settings: Settings) -> bytes:
    """The key of link pseudonyms: the pod's secret key under a label of its own.

    Raises:
        ConfigError: the secret key file cannot be made or read.
    """
    return hmac.new(secret_key(settings.home), LABEL, hashlib.sha256).digest()


def for_link(settings: Settings, link: ShareLink) -> LinkIds:
    """The pseudonyms of `link`'s document."""
    return LinkIds(link_key(settings), link.person_id, link.id)

"""Reading a reference image behind a link (a member's attachment, an earlier result).

The link is fetched through the one download path and the bytes through the one guarded
image entry, so a reference is held to the same rules as a result; anything wrong is an
InvalidRequest naming the problem and what is allowed, told to the member before anything
is charged.
"""

from __future__ import annotations

from bot.errors import InvalidRequest, ProviderError, ProviderFault
from bot.images import ALLOWED_IMAGES, ImageInfo, ImageRefused, probe
from bot.models import MAX_REFERENCE_BYTES
from bot.providers.http import HttpClient

ALLOWED_REFERENCE = f"{ALLOWED_IMAGES}, up to {MAX_REFERENCE_BYTES // (1024 * 1024)} MiB"


async def read_reference(
    http: HttpClient, url: str, *, declared: str | None = None
) -> tuple[bytes, ImageInfo]:
    """The reference's bytes and what they are; InvalidRequest(field="reference") if unusable.

    ``declared`` is the type the member's upload came with, checked against the bytes as
    well as the type the server answers with.
    """
    try:
        data, served = await http.download(url, provider="reference")
    except ProviderFault as exc:
        raise _refused(f"its link was not followed: {exc.reason}") from exc
    except ProviderError as exc:
        raise _refused("it could not be downloaded") from exc
    if len(data) > MAX_REFERENCE_BYTES:
        raise _refused(f"it is {len(data) / 2**20:.1f} MiB")
    try:
        info = probe(data, declared=declared)
        if served != declared:
            probe(data, declared=served)
    except ImageRefused as exc:
        raise _refused(str(exc)) from None
    return data, info


def _refused(why: str) -> InvalidRequest:
    return InvalidRequest(why, field="reference", allowed=ALLOWED_REFERENCE)

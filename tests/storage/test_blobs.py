import hashlib

import pytest

from infinity_matrix.errors import InvalidInput, NotFound
from infinity_matrix.hub import Hub

pytestmark = pytest.mark.anyio


async def test_blob_put_is_content_addressed_and_stored_once(hub: Hub) -> None:
    content = b"attachment bytes" * 1000
    first = await hub.blobs.put(content, "text/plain")
    second = await hub.blobs.put(content, "text/plain")

    assert first.sha256 == second.sha256 == hashlib.sha256(content).hexdigest()
    assert await hub.blobs.get(first.sha256) == content
    info = await hub.blobs.info(first.sha256)
    assert (info.size, info.media_type) == (len(content), "text/plain")
    files = [p for p in hub.settings.blob_dir.rglob("*") if p.is_file()]
    assert len(files) == 1


async def test_unknown_and_malformed_blob_addresses_are_refused(hub: Hub) -> None:
    with pytest.raises(NotFound) as missing:
        await hub.blobs.get("0" * 64)
    assert missing.value.code == "blob.not_found"
    with pytest.raises(InvalidInput) as bad:
        await hub.blobs.get("../../etc/passwd")
    assert bad.value.code == "blob.invalid_id"

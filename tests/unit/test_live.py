"""The live domain's rules without a database: the tier table (and that docs/live.md shows the
same one), which tier a refusal names, and what an uploaded asset is."""

from __future__ import annotations

import io
import wave
from pathlib import Path

from PIL import Image

from models.core.quotas import Tier
from models.live.media import check_asset
from models.live.tiers import TIER_RULES, lowest_tier, more_needed

DOC = Path(__file__).resolve().parents[2] / "docs" / "live.md"
ROWS = {
    "active sessions at once (per organisation)": "concurrent_sessions",
    "overlay links live per session": "overlays_per_session",
    "effect uploads": "effect_uploads",
    "brand kits (making, changing, starting a session with one)": "brand_kits",
}


def _shown(value: object) -> str:
    if value is None:
        return "unlimited"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def test_the_docs_show_the_tier_table_the_code_applies() -> None:
    lines = DOC.read_text().splitlines()
    table = {}
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in ROWS:
            table[ROWS[cells[0]]] = cells[1:]
    assert set(table) == set(ROWS.values())
    for feature, shown in table.items():
        assert shown == [_shown(getattr(TIER_RULES[t], feature)) for t in Tier], feature


def test_a_refusal_names_the_lowest_tier_that_has_the_feature() -> None:
    assert lowest_tier("effect_uploads") == Tier.CREATOR
    assert lowest_tier("brand_kits") == Tier.PROFESSIONAL
    assert (
        more_needed(
            feature="concurrent_sessions", what="sessions", tier=Tier.FREE, count=1
        ).details["tier_required"]
        == "creator"
    )
    top = more_needed(feature="overlays_per_session", what="links", tier=Tier.ENTERPRISE, count=25)
    assert top.details["tier_required"] is None


def _png(width: int, height: int, kind: str = "PNG") -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (width, height)).save(out, kind)
    out.seek(0)
    return out


def test_an_asset_is_known_by_its_bytes() -> None:
    problem, details = check_asset(_png(10, 10), size_bytes=100, max_bytes=1000)
    assert problem is None and details["format"] == "PNG"
    problem, _ = check_asset(_png(10, 10, "BMP"), size_bytes=100, max_bytes=1000)
    assert problem == "images must be PNG, GIF, WebP or JPEG, not BMP"
    problem, _ = check_asset(_png(4000, 3000), size_bytes=100, max_bytes=10**9)
    assert problem is not None and "pixels" in problem
    problem, _ = check_asset(io.BytesIO(b"hello"), size_bytes=5, max_bytes=1000)
    assert problem is not None and problem.startswith("upload an image")
    problem, _ = check_asset(_png(10, 10), size_bytes=2000, max_bytes=1000)
    assert problem is not None and "limit" in problem

    long_sound = io.BytesIO()
    with wave.open(long_sound, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * 8000 * 31)
    long_sound.seek(0)
    problem, details = check_asset(long_sound, size_bytes=1, max_bytes=10**9)
    assert problem == "sounds may last 30 seconds at most"
    assert details["duration_ms"] == 31_000

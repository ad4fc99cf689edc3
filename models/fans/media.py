"""What a release's file is, read from its bytes: artwork with Pillow, audio with mutagen.

Each check answers (problem, details): problem None when the file passes.
"""

from __future__ import annotations

import warnings
from typing import IO, Any

import mutagen
from mutagen.flac import FLAC
from mutagen.wave import WAVE
from PIL import Image, UnidentifiedImageError

from models.fans.release_files import ARTWORK_FORMATS, MIN_ARTWORK_PX

# Artwork past this many pixels is refused unread (a decompression bomb is a small file that
# decodes to gigabytes); 8000×8000 is well above any store's cover size.
MAX_ARTWORK_PIXELS = 8000 * 8000

Check = tuple[str | None, dict[str, Any]]


def check_artwork(f: IO[bytes]) -> Check:
    """JPEG or PNG, square, at least MIN_ARTWORK_PX on a side, RGB."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(f)
            width, height = image.size
            if width * height > MAX_ARTWORK_PIXELS:
                return f"the image is larger than {MAX_ARTWORK_PIXELS} pixels", {}
            image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        return "not an image: upload a JPEG or PNG", {}
    except (OSError, SyntaxError, ValueError):
        return "the image is damaged or cut short", {}
    details = {"format": image.format, "width": width, "height": height, "mode": image.mode}
    if image.format not in ARTWORK_FORMATS:
        return f"artwork must be JPEG or PNG, not {image.format}", details
    if width != height:
        return f"artwork must be square; this one is {width}×{height}", details
    if width < MIN_ARTWORK_PX:
        return (
            f"artwork must be at least {MIN_ARTWORK_PX} pixels square; "
            f"this one is {width}×{height}",
            details,
        )
    if image.mode != "RGB":
        return f"artwork must be RGB; this one is {image.mode}", details
    return None, details


def check_audio(f: IO[bytes]) -> Check:
    """WAV or FLAC, with a duration."""
    try:
        audio = mutagen.File(f)  # type: ignore[attr-defined]
    except mutagen.MutagenError:
        audio = None
    if not isinstance(audio, WAVE | FLAC):
        return "audio must be a WAV or FLAC file", {}
    info: Any = audio.info
    details = {
        "format": "wav" if isinstance(audio, WAVE) else "flac",
        "duration_s": round(float(info.length), 3),
        "sample_rate": info.sample_rate,
        "channels": info.channels,
        "bits_per_sample": info.bits_per_sample,
    }
    if info.length <= 0:
        return "the audio has no length", details
    return None, details

"""What an uploaded effect's asset is, read from its bytes: an image (Pillow) or a sound
(mutagen). The name and content type the client sent are not believed.

`check_asset` answers (problem, details): problem None when the asset passes.
"""

from __future__ import annotations

import warnings
from typing import IO, Any

import mutagen
from mutagen.mp3 import MP3
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE
from PIL import Image, UnidentifiedImageError

from models.live.effects import IMAGE_FORMATS, MAX_SOUND_MS

# An overlay is at most 4K: larger images are refused unread (a decompression bomb).
MAX_IMAGE_PIXELS = 3840 * 2160
_SOUNDS = {MP3: "mp3", OggVorbis: "ogg", WAVE: "wav"}

Check = tuple[str | None, dict[str, Any]]


def check_asset(f: IO[bytes], *, size_bytes: int, max_bytes: int) -> Check:
    """An image (PNG, GIF, WebP, JPEG) of at most 3840×2160, or a sound (MP3, Ogg Vorbis,
    WAV) of at most MAX_SOUND_MS; either no larger than `max_bytes`."""
    if size_bytes > max_bytes:
        return f"the file is larger than the {max_bytes:,}-byte limit", {"size_bytes": size_bytes}
    image = _check_image(f)
    if image is not None:
        return image
    f.seek(0)
    return _check_sound(f)


def _check_image(f: IO[bytes]) -> Check | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(f)
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                return f"the image is larger than {MAX_IMAGE_PIXELS:,} pixels", {}
            image.verify()
    except UnidentifiedImageError:
        return None  # not an image: perhaps a sound
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        return f"the image is larger than {MAX_IMAGE_PIXELS:,} pixels", {}
    except (OSError, SyntaxError, ValueError):
        return "the image is damaged or cut short", {}
    details = {"kind": "image", "format": image.format, "width": width, "height": height}
    if image.format not in IMAGE_FORMATS:
        return f"images must be PNG, GIF, WebP or JPEG, not {image.format}", details
    return None, details


def _check_sound(f: IO[bytes]) -> Check:
    try:
        sound = mutagen.File(f)  # type: ignore[attr-defined]
    except mutagen.MutagenError:
        sound = None
    kind = next((name for cls, name in _SOUNDS.items() if isinstance(sound, cls)), None)
    if sound is None or kind is None:
        return "upload an image (PNG, GIF, WebP, JPEG) or a sound (MP3, Ogg Vorbis, WAV)", {}
    length_ms = round(float(sound.info.length) * 1000)
    details = {"kind": "sound", "format": kind, "duration_ms": length_ms}
    if length_ms <= 0:
        return "the sound has no length", details
    if length_ms > MAX_SOUND_MS:
        return f"sounds may last {MAX_SOUND_MS // 1000} seconds at most", details
    return None, details

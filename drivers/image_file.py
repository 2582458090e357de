"""An image file as a grayscale array for `ticketgate decode`, in bounded time and memory.

A file's header may claim any size: a 200 KB PNG of 13,000 × 13,000 white pixels cost the decoder chain 2 minutes
and 3 GB. So the size is read first (Pillow reads only the header), a JPEG is decoded already scaled down by libjpeg
(`draft`: 1/2 to 1/8, no full-size bitmap), anything still over `MAX_PIXELS` is refused before it is decoded, and what
is over `DECODE_PIXELS` or `MAX_SIDE` is scaled down before the chain sees it (a 12 Mpx phone photo is read as it is;
a 48 Mpx one at 12 Mpx, where its QR code is still hundreds of pixels wide).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from agent.errors import TicketgateError

DECODE_PIXELS = 16_000_000     # what the chain reads at most (~5 s on a blank image of that size)
MAX_SIDE = 16_384              # px, the longer side the chain reads (zxing-cpp refuses over 65,535: a 10 KB PNG
                               # of 200,000 x 50 pixels ended `ticketgate decode` on its ValueError)
MAX_PIXELS = 50_000_000        # what is decoded at all (a PNG's pixels must be decoded before they can be scaled)


class ImageUnreadable(TicketgateError):
    """The image cannot be read: the message says why (not an image, damaged, too many pixels)."""


def _too_large(width: int, height: int) -> ImageUnreadable:
    return ImageUnreadable(f"{width} x {height} pixels ({width * height / 1e6:.0f} Mpx) is over the "
                           f"{MAX_PIXELS // 1_000_000} Mpx ticketgate decode reads (a damaged or hostile file?): "
                           "send a screenshot, or the photo resized")


def read_gray(path: Path) -> np.ndarray:
    """The image as a grayscale uint8 array of at most DECODE_PIXELS. Raises ImageUnreadable."""
    from PIL import Image, UnidentifiedImageError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)    # sizes are judged below
            with Image.open(path) as im:
                width, height = im.size
                if im.format == "JPEG" and width * height > DECODE_PIXELS:
                    scale = math.sqrt(DECODE_PIXELS / (width * height))
                    im.draft("L", (max(1, int(width * scale)), max(1, int(height * scale))))
                if im.size[0] * im.size[1] > MAX_PIXELS:
                    raise _too_large(width, height)
                gray = im.convert("L")
    except Image.DecompressionBombError:          # Pillow's own limit, checked as the header is read
        raise ImageUnreadable("the image claims more pixels than Pillow opens (a damaged or hostile file?): send "
                              "a screenshot, or the photo resized") from None
    except FileNotFoundError:
        raise ImageUnreadable("no such file") from None
    except UnidentifiedImageError:
        raise ImageUnreadable("not an image Pillow reads (PNG, JPEG, WebP…) nor a PDF") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:     # truncated, damaged (Pillow's own words)
        raise ImageUnreadable(f"damaged image ({type(exc).__name__}: {exc})") from None
    pixels = gray.size[0] * gray.size[1]
    scale = min(1.0, math.sqrt(DECODE_PIXELS / pixels), MAX_SIDE / max(gray.size))
    if scale < 1.0:
        gray = gray.resize((max(1, int(gray.size[0] * scale)), max(1, int(gray.size[1] * scale))), Image.Resampling.BOX)
    return np.asarray(gray)

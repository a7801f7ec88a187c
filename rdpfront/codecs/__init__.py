"""Bitmap updates for pixels the RDP server draws itself (``bitmap``: the login form).

The legacy RDP bitmap codecs are pure functions in ``compositor/encoders/`` (``planar``,
``interleaved``, ``bitmap_raw``, ``bitmap_pixels``, and ``bitmap``, the host's stream of
ready-to-frame TS_BITMAP_DATA); they are re-exported here for the RDP side's use.
See ``docs/rdp-bitmap-codecs.md``.
"""

from compositor.encoders.bitmap_raw import decode_raw, encode_raw
from compositor.encoders.interleaved import decode_interleaved, encode_interleaved, encode_interleaved_batch
from compositor.encoders.planar import decode_planar, encode_planar, encode_planar_batch
from rdpfront.codecs.bitmap import build_bitmap_data, compressed_data_header, pack_bitmap_updates

__all__ = [
    "build_bitmap_data",
    "compressed_data_header",
    "decode_interleaved",
    "decode_planar",
    "decode_raw",
    "encode_interleaved",
    "encode_interleaved_batch",
    "encode_planar",
    "encode_planar_batch",
    "encode_raw",
    "pack_bitmap_updates",
]

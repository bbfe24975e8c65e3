"""H.264 bitstream facts needed to package frames by copy, without decoding.

Pure functions over bytes: split an Annex B access unit into NAL units, tell a
keyframe, read width/height/profile/level from a sequence parameter set (SPS), and
turn an access unit into an MP4 sample (4-byte length prefixes, parameter sets
removed because they travel in the ``avcC`` box of the init segment).

Malformed input raises :class:`~streamer.errors.BitstreamError`; nothing here
ever decodes a picture.
"""

from __future__ import annotations

from dataclasses import dataclass

from livecart.streamer.errors import BitstreamError

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9

_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def split_annexb(data: bytes) -> list[bytes]:
    """Return the NAL units of an Annex B byte stream, start codes removed.

    Bytes before the first start code (a partial unit, e.g. a lost first
    fragment) are dropped. Empty units are skipped.
    """
    units: list[bytes] = []
    start = -1
    i = 0
    n = len(data)
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        if start >= 0:
            end = j
            # a 4-byte start code leaves one zero byte at the end of the unit
            while end > start and data[end - 1] == 0:
                end -= 1
            if end > start:
                units.append(data[start:end])
        start = j + 3
        i = start
    if 0 <= start < n:
        end = n
        while end > start and data[end - 1] == 0:  # trailing_zero_8bits
            end -= 1
        if end > start:
            units.append(data[start:end])
    return units


def nal_type(unit: bytes) -> int:
    """Return the ``nal_unit_type`` of one NAL unit."""
    return unit[0] & 0x1F


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One encoded picture as MP4 wants it.

    ``sample`` is the length-prefixed payload without SPS/PPS/AUD units;
    ``sps``/``pps`` are the parameter sets carried in this access unit, if any.
    """

    sample: bytes
    keyframe: bool
    sps: bytes | None
    pps: bytes | None


def parse_access_unit(data: bytes) -> AccessUnit:
    """Turn an Annex B access unit into an :class:`AccessUnit`.

    Raises :class:`BitstreamError` when no picture data is present.
    """
    parts: list[bytes] = []
    keyframe = False
    sps: bytes | None = None
    pps: bytes | None = None
    has_slice = False
    for unit in split_annexb(data):
        kind = nal_type(unit)
        if kind == NAL_SPS:
            sps = unit
            continue
        if kind == NAL_PPS:
            pps = unit
            continue
        if kind == NAL_AUD:
            continue
        if kind == NAL_IDR:
            keyframe = True
        if kind in (NAL_SLICE, NAL_IDR):
            has_slice = True
        parts.append(len(unit).to_bytes(4, "big"))
        parts.append(unit)
    if not has_slice:
        raise BitstreamError("access unit has no slice")
    return AccessUnit(sample=b"".join(parts), keyframe=keyframe, sps=sps, pps=pps)


class _Bits:
    """MSB-first bit reader over an RBSP (emulation prevention removed)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def bit(self) -> int:
        byte = self._pos >> 3
        if byte >= len(self._data):
            raise BitstreamError("SPS is truncated")
        value = (self._data[byte] >> (7 - (self._pos & 7))) & 1
        self._pos += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise BitstreamError("exp-Golomb code too long")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def _rbsp(unit: bytes) -> bytes:
    """Remove emulation prevention bytes (00 00 03 -> 00 00)."""
    return unit.replace(b"\x00\x00\x03", b"\x00\x00")


@dataclass(frozen=True, slots=True)
class SpsInfo:
    """What the packager needs from an SPS: picture size and the codec string."""

    width: int
    height: int
    profile_idc: int
    constraint_flags: int
    level_idc: int
    chroma_format_idc: int = 1
    bit_depth_luma: int = 8
    bit_depth_chroma: int = 8

    @property
    def codec(self) -> str:
        """RFC 6381 codec string for MSE ``addSourceBuffer`` and HLS ``CODECS``."""
        return f"avc1.{self.profile_idc:02x}{self.constraint_flags:02x}{self.level_idc:02x}"


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = 8
    nxt = 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + bits.se() + 256) % 256
        last = last if nxt == 0 else nxt


def parse_sps(unit: bytes) -> SpsInfo:
    """Read the picture size and profile/level from an SPS NAL unit.

    Raises :class:`BitstreamError` for anything that is not a well-formed SPS.
    """
    if len(unit) < 4 or nal_type(unit) != NAL_SPS:
        raise BitstreamError("not an SPS")
    data = _rbsp(unit[1:])
    if len(data) < 4:
        raise BitstreamError("SPS is truncated")
    profile_idc, constraint_flags, level_idc = data[0], data[1], data[2]
    bits = _Bits(data[3:])
    bits.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    separate_colour_plane = 0
    depth_luma = depth_chroma = 8
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = bits.ue()
        if chroma_format_idc == 3:
            separate_colour_plane = bits.bit()
        depth_luma = bits.ue() + 8
        depth_chroma = bits.ue() + 8
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if bits.bit():
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.bit()
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_map_units = bits.ue() + 1
    frame_mbs_only = bits.bit()
    if not frame_mbs_only:
        bits.bit()  # mb_adaptive_frame_field_flag
    bits.bit()  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = height_map_units * 16 * (2 - frame_mbs_only)
    if bits.bit():  # frame_cropping_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        if chroma_format_idc == 0 or separate_colour_plane:
            crop_x, crop_y = 1, 2 - frame_mbs_only
        else:
            sub_w = 1 if chroma_format_idc == 3 else 2
            sub_h = 2 if chroma_format_idc == 1 else 1
            crop_x, crop_y = sub_w, sub_h * (2 - frame_mbs_only)
        width -= (left + right) * crop_x
        height -= (top + bottom) * crop_y
    if width <= 0 or height <= 0 or width > 16384 or height > 16384:
        raise BitstreamError(f"implausible picture size {width}x{height}")
    return SpsInfo(
        width,
        height,
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc,
        depth_luma,
        depth_chroma,
    )


def is_high_profile(profile_idc: int) -> bool:
    """True when the ``avcC`` box must carry the chroma/bit-depth extension."""
    return profile_idc in _HIGH_PROFILES

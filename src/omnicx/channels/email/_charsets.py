"""Charset labels of mail to Python codecs, as the WHATWG Encoding Standard maps them.

Mail declares its charsets with the labels of thirty years of clients:
``gb2312`` for text that is really GBK, ``iso-8859-1`` for windows-1252
(curly quotes and the euro sign in 0x80-0x9F), ``ks_c_5601-1987`` for the
Korean UHC, ``shift_jis`` for Microsoft's windows-31j. Browsers settled this
in the WHATWG Encoding Standard (https://encoding.spec.whatwg.org/): each
label names one encoding whose decoder is the superset real text needs.
`_WHATWG` below is its whole label table (``encodings.json``), written once
as data, each encoding with the Python codec(s) that decode it.

Where mail differs from the web, on purpose:

- the standard maps ``iso-2022-kr``, ``hz-gb-2312`` and ``iso-2022-cn`` to
  "replacement" (one U+FFFD, so that a browser cannot be tricked by them);
  old Korean and Chinese mail really is in the first two, so they are
  decoded with Python's codecs; ``iso-2022-cn`` (no Python codec) falls
  back like an unknown label;
- a label the table does not know (``utf-7``, ``cp850``, ``iso-2022-jp-2``)
  is looked up in Python's codecs, text codecs only (never
  ``unicode_escape`` or ``base64``); anything else (``x-unknown``,
  ``unknown-8bit``, junk) is "undeclared".

`decode_bytes` turns bytes and a declared label into text without ever
failing:

1. a byte order mark decides, as in the standard;
2. a declared charset that decodes the bytes is used, except that a
   single-byte label on text that is valid, non-ASCII UTF-8 is a client
   that lied (the bytes are UTF-8: multi-byte UTF-8 sequences do not occur
   by chance in legacy text);
3. a declared charset with a few invalid bytes still decodes in that
   charset, the bad bytes becoming U+FFFD: one broken byte must not turn a
   whole Japanese or German text into windows-1252 mojibake. Only a
   declared UTF-8 whose bytes hold no UTF-8 sequence at all is read as
   windows-1252 (a label that lies, not a damaged text);
4. undeclared bytes are UTF-8 when they are (a few damaged sequences
   allowed), otherwise windows-1252, the standard's legacy default.

An HTML part without a MIME charset is asked for its own, as the HTML
standard's prescan does: `html_meta_charset` reads ``<meta charset=...>``
or ``<meta http-equiv="Content-Type" content="...; charset=...">`` in the
first 1024 bytes.
"""

from __future__ import annotations

import codecs
import functools
import re

__all__ = ["codec_for", "decode_bytes", "html_meta_charset", "whatwg_encoding"]

# WHATWG encoding name -> (Python codecs tried in order, labels). From
# https://encoding.spec.whatwg.org/encodings.json; "replacement" is split in
# two, see the module docstring.
_WHATWG: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "UTF-8": (("utf-8",), (
        "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8",
        "x-unicode20utf8")),
    "IBM866": (("cp866",), ("866", "cp866", "csibm866", "ibm866")),
    "ISO-8859-2": (("iso8859_2",), (
        "csisolatin2", "iso-8859-2", "iso-ir-101", "iso8859-2", "iso88592", "iso_8859-2",
        "iso_8859-2:1987", "l2", "latin2")),
    "ISO-8859-3": (("iso8859_3",), (
        "csisolatin3", "iso-8859-3", "iso-ir-109", "iso8859-3", "iso88593", "iso_8859-3",
        "iso_8859-3:1988", "l3", "latin3")),
    "ISO-8859-4": (("iso8859_4",), (
        "csisolatin4", "iso-8859-4", "iso-ir-110", "iso8859-4", "iso88594", "iso_8859-4",
        "iso_8859-4:1988", "l4", "latin4")),
    "ISO-8859-5": (("iso8859_5",), (
        "csisolatincyrillic", "cyrillic", "iso-8859-5", "iso-ir-144", "iso8859-5", "iso88595",
        "iso_8859-5", "iso_8859-5:1988")),
    "ISO-8859-6": (("iso8859_6",), (
        "arabic", "asmo-708", "csiso88596e", "csiso88596i", "csisolatinarabic", "ecma-114",
        "iso-8859-6", "iso-8859-6-e", "iso-8859-6-i", "iso-ir-127", "iso8859-6", "iso88596",
        "iso_8859-6", "iso_8859-6:1987")),
    "ISO-8859-7": (("iso8859_7",), (
        "csisolatingreek", "ecma-118", "elot_928", "greek", "greek8", "iso-8859-7",
        "iso-ir-126", "iso8859-7", "iso88597", "iso_8859-7", "iso_8859-7:1987",
        "sun_eu_greek")),
    "ISO-8859-8": (("iso8859_8",), (
        "csiso88598e", "csisolatinhebrew", "hebrew", "iso-8859-8", "iso-8859-8-e",
        "iso-ir-138", "iso8859-8", "iso88598", "iso_8859-8", "iso_8859-8:1988", "visual")),
    "ISO-8859-8-I": (("iso8859_8",), ("csiso88598i", "iso-8859-8-i", "logical")),
    "ISO-8859-10": (("iso8859_10",), (
        "csisolatin6", "iso-8859-10", "iso-ir-157", "iso8859-10", "iso885910", "l6",
        "latin6")),
    "ISO-8859-13": (("iso8859_13",), ("iso-8859-13", "iso8859-13", "iso885913")),
    "ISO-8859-14": (("iso8859_14",), ("iso-8859-14", "iso8859-14", "iso885914")),
    "ISO-8859-15": (("iso8859_15",), (
        "csisolatin9", "iso-8859-15", "iso8859-15", "iso885915", "iso_8859-15", "l9")),
    "ISO-8859-16": (("iso8859_16",), ("iso-8859-16",)),
    "KOI8-R": (("koi8_r",), ("cskoi8r", "koi", "koi8", "koi8-r", "koi8_r")),
    "KOI8-U": (("koi8_u",), ("koi8-ru", "koi8-u")),
    "macintosh": (("mac_roman",), ("csmacintosh", "mac", "macintosh", "x-mac-roman")),
    "windows-874": (("cp874",), (
        "dos-874", "iso-8859-11", "iso8859-11", "iso885911", "tis-620", "windows-874")),
    "windows-1250": (("cp1250",), ("cp1250", "windows-1250", "x-cp1250")),
    "windows-1251": (("cp1251",), ("cp1251", "windows-1251", "x-cp1251")),
    "windows-1252": (("cp1252",), (
        "ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1",
        "iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1",
        "latin1", "us-ascii", "windows-1252", "x-cp1252")),
    "windows-1253": (("cp1253",), ("cp1253", "windows-1253", "x-cp1253")),
    "windows-1254": (("cp1254",), (
        "cp1254", "csisolatin5", "iso-8859-9", "iso-ir-148", "iso8859-9", "iso88599",
        "iso_8859-9", "iso_8859-9:1989", "l5", "latin5", "windows-1254", "x-cp1254")),
    "windows-1255": (("cp1255",), ("cp1255", "windows-1255", "x-cp1255")),
    "windows-1256": (("cp1256",), ("cp1256", "windows-1256", "x-cp1256")),
    "windows-1257": (("cp1257",), ("cp1257", "windows-1257", "x-cp1257")),
    "windows-1258": (("cp1258",), ("cp1258", "windows-1258", "x-cp1258")),
    "x-mac-cyrillic": (("mac_cyrillic",), ("x-mac-cyrillic", "x-mac-ukrainian")),
    "GBK": (("gb18030",), (
        "chinese", "csgb2312", "csiso58gb231280", "gb2312", "gb_2312", "gb_2312-80", "gbk",
        "iso-ir-58", "x-gbk")),
    "gb18030": (("gb18030",), ("gb18030",)),
    "Big5": (("big5hkscs",), ("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5")),
    "EUC-JP": (("euc_jp",), ("cseucpkdfmtjapanese", "euc-jp", "x-euc-jp")),
    "ISO-2022-JP": (("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_2004"), (
        "csiso2022jp", "iso-2022-jp")),
    "Shift_JIS": (("cp932",), (
        "csshiftjis", "ms932", "ms_kanji", "shift-jis", "shift_jis", "sjis", "windows-31j",
        "x-sjis")),
    "EUC-KR": (("cp949",), (
        "cseuckr", "csksc56011987", "euc-kr", "iso-ir-149", "korean", "ks_c_5601-1987",
        "ks_c_5601-1989", "ksc5601", "ksc_5601", "windows-949")),
    # "replacement" in the standard: decoded where Python can (see the docstring).
    "ISO-2022-KR": (("iso2022_kr",), ("csiso2022kr", "iso-2022-kr")),
    "HZ-GB-2312": (("hz",), ("hz-gb-2312",)),
    "replacement": ((), ("iso-2022-cn", "iso-2022-cn-ext", "replacement")),
    "UTF-16BE": (("utf-16-be",), ("unicodefffe", "utf-16be")),
    "UTF-16LE": (("utf-16-le",), (
        "csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16",
        "utf-16le")),
    "x-user-defined": (("x-user-defined",), ("x-user-defined",)),
}

_LABELS: dict[str, str] = {
    label: name for name, (_, labels) in _WHATWG.items() for label in labels}
_SINGLE_BYTE = frozenset({
    name for name in _WHATWG
    if name.startswith(("ISO-8859", "windows-", "KOI8", "IBM", "mac", "x-mac"))})
_NOT_CHARSETS = frozenset({
    "unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined", "mbcs", "oem"})
_ASCII_WHITESPACE = "\t\n\f\r \"'"
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))
# bytes 0x80-0xFF of x-user-defined map to U+F780-U+F7FF
_USER_DEFINED = {byte: 0xF700 + byte for byte in range(0x80, 0x100)}


def _c1_fallback(error: UnicodeError) -> tuple[str, int]:
    """windows-1252's five undefined bytes are the C1 controls of the same value (WHATWG)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start:error.end]
    return bad.decode("latin-1"), error.end


codecs.register_error("omnicx-c1", _c1_fallback)


_META_CHARSET = re.compile(
    rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]{1,40})", re.IGNORECASE)


def html_meta_charset(data: bytes) -> str | None:
    """The charset an HTML document declares in its first 1024 bytes, if any.

    UTF-16 labels mean UTF-8 here, as in the HTML standard: a document
    whose bytes could be read to find the label is not UTF-16.
    """
    match = _META_CHARSET.search(data, 0, 1024)
    if match is None:
        return None
    label = match.group(1).decode("ascii")
    return "utf-8" if whatwg_encoding(label) in ("UTF-16LE", "UTF-16BE") else label


def whatwg_encoding(label: str) -> str | None:
    """The WHATWG encoding name for ``label`` (``"gbk"`` -> ``"GBK"``), ``None`` if unknown."""
    return _LABELS.get(label.strip(_ASCII_WHITESPACE).lower())


@functools.lru_cache(maxsize=512)
def codec_for(label: str) -> tuple[str | None, tuple[str, ...]]:
    """``(WHATWG name or None, Python codecs)`` for a declared charset label.

    An empty codec tuple means "undeclared": the label is unknown or names no
    text encoding. RFC 2231 language suffixes (``utf-8*de``) are ignored.
    """
    text = label.strip(_ASCII_WHITESPACE).lower().split("*", 1)[0]
    name = _LABELS.get(text)
    if name is not None:
        return name, _WHATWG[name][0]
    try:
        info = codecs.lookup(text)
    except (LookupError, ValueError, TypeError):  # unknown, or junk such as NUL bytes
        return None, ()
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("-", "_") in _NOT_CHARSETS:
        return None, ()
    return None, (info.name,)


def _decode(data: bytes, codec: str, errors: str) -> str:
    if codec == "x-user-defined":
        return data.decode("latin-1").translate(_USER_DEFINED)
    if codec == "cp1252":
        return data.decode("cp1252", "omnicx-c1" if errors == "strict" else errors)
    return data.decode(codec, errors)


def _legacy(data: bytes) -> str:
    return data.decode("cp1252", "omnicx-c1")


def _utf8_with_damage(data: bytes, *, declared: bool) -> str | None:
    """``data`` as UTF-8 with U+FFFD for damaged sequences, if it holds real UTF-8.

    Declared UTF-8 needs one valid multi-byte sequence; undeclared bytes need
    at least as many valid sequences as damaged ones.
    """
    text = data.decode("utf-8", "replace")
    damaged = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    valid = sum(1 for char in text if char > "\x7f") - text.count("\ufffd")
    if valid > 0 and (declared or valid >= damaged):
        return text
    return None


def _ascii_safe(codec: str) -> bool:
    """Whether ASCII bytes mean ASCII text in ``codec`` (not so in ISO-2022, HZ, UTF-7/16/32)."""
    return not codec.startswith(("iso2022", "hz", "utf-7", "utf_7", "utf-16", "utf_16",
                                 "utf-32", "utf_32"))


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` declared as ``charset`` (never fails; see the module docstring)."""
    name, declared = codec_for(charset) if charset else (None, ())
    if data.isascii() and (not declared or _ascii_safe(declared[0])):
        return data.decode("ascii")
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(codec, "replace")
    if not declared:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        return _utf8_with_damage(data, declared=False) or _legacy(data)
    if name in _SINGLE_BYTE:
        try:
            return data.decode("utf-8")  # a single-byte label on UTF-8 text: the label lied
        except UnicodeDecodeError:
            pass
    for codec in declared:
        try:
            return _decode(data, codec, "strict")
        except (UnicodeDecodeError, LookupError):
            continue
    if declared[0] == "utf-8":
        return _utf8_with_damage(data, declared=True) or _legacy(data)
    try:
        return data.decode("utf-8")  # a multi-byte label on UTF-8 text
    except UnicodeDecodeError:
        pass
    try:
        return _decode(data, declared[0], "replace")
    except LookupError:
        return _utf8_with_damage(data, declared=False) or _legacy(data)

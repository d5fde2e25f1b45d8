"""Content codings and gzip files undone in bounded steps: stacked codings in reverse order of
application, zlib-wrapped or raw deflate, concatenated gzip members; no layer may produce more
than the body's size cap, checked while inflating, never after."""

import zlib

from .records import SitemapProblem

GZIP_MAGIC = b"\x1f\x8b"
PIECE_SIZE = 256 * 1024  # the most one inflate step may produce: the bound on a bomb's burst
KNOWN_CODINGS = {"gzip", "x-gzip", "deflate", "x-deflate"}
MAX_FILE_LAYERS = 3  # gzip inside gzip seen on real sites; deeper is no sitemap anyone serves


class BodyError(Exception):
    """The body stopped early (cap, deadline, truncated gzip); what was read before stays valid.
    `code` is the SitemapProblem it stands for."""

    def __init__(self, message, code=SitemapProblem.CONNECTION):
        super().__init__(message)
        self.code = code


def decode_content_codings(chunks, content_encoding, check_size):
    """(decoded chunks, whether any coding applied) for a Content-Encoding header value;
    an unknown coding raises BodyError before a byte is read."""
    codings = [c.strip() for c in content_encoding.lower().split(",") if c.strip() not in ("", "identity")]
    unknown = [c for c in codings if c not in KNOWN_CODINGS]
    if unknown:
        raise BodyError(f"unsupported Content-Encoding {unknown[0]!r}", SitemapProblem.COMPRESSION_ERROR)
    for coding in reversed(codings):  # the last coding listed was applied last
        chunks = _decode_declared(chunks, coding, check_size)
    return chunks, bool(codings)


def inflate_gzip_file(chunks, check_size):
    """(chunks, whether they were a gzip file): a gzip file is recognised by its magic bytes,
    whatever the name or Content-Type says, and inflated; a file gzipped again (a .gz.gz, or a
    generator's .gz compressed once more before upload) is inflated again, up to
    MAX_FILE_LAYERS. Each layer is bounded by the size cap on its own."""
    gzipped = False
    for _ in range(MAX_FILE_LAYERS):
        first = next(chunks, b"")
        chunks = _chain_first(first, chunks)
        if first[:2] != GZIP_MAGIC:
            break
        chunks, gzipped = inflate(chunks, 16 + zlib.MAX_WBITS, check_size), True
    return chunks, gzipped


def cap_message(limit):
    return f"larger than the {limit:,} byte limit (after decompression)"


def _chain_first(first, rest):
    yield first
    yield from rest


def _decode_declared(chunks, coding, check_size):
    """Undo one Content-Encoding. Servers get it wrong in both directions: a body declared gzip
    may be plain (passed through), and "deflate" may be zlib-wrapped or raw."""
    first = b""
    for first in chunks:
        if first:
            break
    if not first:
        return iter(())
    if coding in ("deflate", "x-deflate"):
        zlib_header = len(first) > 1 and (first[0] & 0x0F) == 8 and ((first[0] << 8) | first[1]) % 31 == 0
        wbits = zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS
    elif first[:2] == GZIP_MAGIC:
        wbits = 16 + zlib.MAX_WBITS
    else:
        return _chain_first(first, chunks)
    return inflate(_chain_first(first, chunks), wbits, check_size)


def inflate(chunks, wbits, check_size):
    """Inflate in steps of at most PIECE_SIZE output bytes, so a bomb is stopped at the size
    cap (checked by the caller between steps) with bounded memory. Concatenated gzip members
    are one file by the gzip format; bytes after the last member are ignored."""
    inflater = zlib.decompressobj(wbits)
    produced = 0
    for data in chunks:
        if inflater.eof:
            if wbits < 16 + zlib.MAX_WBITS or data[:2] != GZIP_MAGIC:
                continue
            inflater = zlib.decompressobj(wbits)
        while data:
            try:
                piece = inflater.decompress(data, PIECE_SIZE)
            except zlib.error as exc:
                raise BodyError(f"invalid compressed data: {exc}", SitemapProblem.COMPRESSION_ERROR) from None
            produced += len(piece)
            check_size(produced)
            if piece:
                yield piece
            data = inflater.unconsumed_tail
            if inflater.eof:
                data = inflater.unused_data
                if data[:2] == GZIP_MAGIC and wbits == 16 + zlib.MAX_WBITS:
                    inflater = zlib.decompressobj(wbits)
                else:
                    break
    if not inflater.eof:
        message = "truncated gzip stream" if wbits > zlib.MAX_WBITS else "truncated deflate stream"
        raise BodyError(message, SitemapProblem.COMPRESSION_ERROR)

"""Independent reference for test/integration/potential-reference.test.ts.

Reads the units (files, in the order given by a list file) and computes, with PyPI pyfastcdc
(FastCDC 2020, Cython), hashlib, zstandard, lz4 and zlib — none of dedup-lab's code:
  cuts      FastCDC cut points (chunk end offsets) of every unit for each (avg, min, max, nc)
  fixed     distinct bytes of fixed blocks per block size (plain hash-and-count)
  cdc       distinct bytes of FastCDC chunks per average size
  unit      distinct bytes of whole units
  compress  compressed bytes of the distinct units, concatenated, in independent segments
usage: python potential_reference.py LISTFILE CONFIG_JSON  → JSON on stdout
"""
import hashlib
import json
import sys
import zlib

import lz4.frame
import pyfastcdc
import zstandard


def main():
    paths = [l for l in open(sys.argv[1]).read().split("\n") if l]
    cfg = json.loads(sys.argv[2])
    units = [open(p, "rb").read() for p in paths]
    out = {"cuts": {}, "fixed": {}, "cdc": {}, "compress": {}}

    for c in cfg.get("cuts", []):
        ch = pyfastcdc.FastCDC(c["avg"], min_size=c.get("min"), max_size=c.get("max"), normalized_chunking=c.get("nc", 1))
        key = f'{c["avg"]}/{c.get("min")}/{c.get("max")}/{c.get("nc", 1)}'
        out["cuts"][key] = [[k.offset + k.length for k in ch.cut_buf(u)] for u in units]

    for size in cfg.get("fixed", []):
        seen, uniq = set(), 0
        for u in units:
            for i in range(0, len(u), size):
                b = u[i:i + size]
                d = hashlib.sha256(b).digest()
                if d not in seen:
                    seen.add(d)
                    uniq += len(b)
        out["fixed"][str(size)] = uniq

    for avg in cfg.get("cdc", []):
        ch = pyfastcdc.FastCDC(avg)
        seen, uniq = set(), 0
        for u in units:
            for k in ch.cut_buf(u):
                d = hashlib.sha256(k.data).digest()
                if d not in seen:
                    seen.add(d)
                    uniq += k.length
        out["cdc"][str(avg)] = uniq

    seen, distinct = set(), []
    for u in units:
        d = hashlib.sha256(u).digest()
        if d not in seen:
            seen.add(d)
            distinct.append(u)
    out["unit"] = sum(len(u) for u in distinct)

    seg = cfg.get("segment")
    if seg:
        stream = b"".join(distinct)
        segments = [stream[i:i + seg] for i in range(0, len(stream), seg)]
        z3 = zstandard.ZstdCompressor(level=3)
        z19 = zstandard.ZstdCompressor(level=19)

        def lz4size(s):
            # An LZ4 frame of independent 64 KiB blocks, default (fast) compressor, no checksums.
            # (lz4.block.compress is not LZ4_compress_default below 64 KiB: it hashes 5 bytes.)
            return len(lz4.frame.compress(s, block_size=lz4.frame.BLOCKSIZE_MAX64KB, block_linked=False,
                                          content_checksum=False, store_size=False, compression_level=0))

        def deflate6(s):
            # raw DEFLATE, level 6, windowBits 15, memLevel 8 (zlib's defaults)
            c = zlib.compressobj(6, zlib.DEFLATED, -15, 8)
            return len(c.compress(s) + c.flush())

        out["compress"] = {
            "input": len(stream),
            "zstd-3": sum(len(z3.compress(s)) for s in segments),
            "zstd-19": sum(len(z19.compress(s)) for s in segments),
            "lz4": sum(lz4size(s) for s in segments),
            "gzip-6": sum(deflate6(s) for s in segments),
        }
    json.dump(out, sys.stdout)


main()

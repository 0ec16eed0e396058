// FastCDC, the 2020 variant (Xia et al., "The Design of Fast Content-Defined Chunking for Data
// Deduplication Based Storage Systems", IEEE TPDS 2020): a rolling gear hash over two bytes per
// step (the "rolling two bytes" optimisation, gear table and its left shift), normalized chunking
// (a stricter mask before the average size, a looser one after), cut-point skipping below the
// minimum size. Parameters and cut rule are those of pyfastcdc 0.3.1 / fastcdc-rs v2020, so
// cut points are identical for the same bytes (test/integration/potential-reference.test.ts):
// gear table = the destor C reference's, masks indexed by round(log2(avg)) ± NC, NC = 1,
// min = avg/4, max = 4·avg, the hash starts at 0 at the (even) minimum size.
//
// The hot loop is WebAssembly (lib/metrics/fastcdc.wat, embedded as fastcdc-wasm.ts): the hash
// is one i64 there, eight bytes per iteration read by one i64 load (table indexes are shifts and
// masks of that word: measured ~10 % faster than a byte load per index; the loop is near one
// shift, one add and one table load per byte). Bytes written into a
// `cdcBuffer` (a view of a WebAssembly memory of its own) are cut where they are; any other
// buffer is copied into the shared instance's memory in windows of ≥ 16 MiB (a cut never looks
// past `max` bytes, so a window boundary cannot move a cut point). Chunk bytes for hashing are
// read from the caller's buffer in place. `cutJs` is the same rule in plain JavaScript
// (two int32 halves, every mask lies below bit 49), kept as an independent cross-check.
import { FASTCDC_WASM_BASE64 } from "./fastcdc-wasm.js";

/** Low and high 32 bits of the 256 64-bit gear values (destor, fascdc_chunking.c). */
const GEAR_LO = new Int32Array([
  0x207e37dc, 0x91123086, 0x882e7298, 0x19fdcca7, 0xfbd1632b, 0x1e25abe6, 0x3c9ad991, 0x6e9b7649,
  0xe08eb499, 0x1e577d58, 0xda2acf6b, 0xc73c2226, 0x6ed312b7, 0x851d7c7e, 0x0013d81b, 0x452cec14,
  0x648e248f, 0xcd92b9b4, 0x3c187856, 0x821c00b6, 0x750f6f8a, 0xc1cb0b6f, 0x9743a7f1, 0x404807eb,
  0x07b83a5d, 0x8adb9a0f, 0x1baa62be, 0x815f7d98, 0x1ea9dcd3, 0x442bf22c, 0xc55631d9, 0xc6545c99,
  0xc64e92a5, 0x65696a24, 0x4822f0b7, 0xf3525e01, 0x85974ff5, 0xace9e3e9, 0xeb35e98e, 0xdc11680f,
  0xe9cf12f1, 0x2ea56471, 0x24e392a9, 0x04cb8915, 0xc9fe7451, 0x945f2195, 0x3443efd8, 0x63e1e2d2,
  0x8d5642cf, 0x257ac804, 0x789a27d3, 0xe77af565, 0x3d87febb, 0xf93db72f, 0xaa1ff9d6, 0x25af7968,
  0xd90d0a4a, 0x63bfbdae, 0x16eb0414, 0x6b35a116, 0xaaaffed6, 0xe90cfd48, 0xb294f08b, 0xffd399b2,
  0x2435f302, 0x65bc2d27, 0xffca99de, 0x7115c040, 0xfc660e41, 0xdc92128d, 0x7063ed97, 0x09e016e3,
  0x5d8a4397, 0x41d403f7, 0x8e52603f, 0x58e2d651, 0x4be170af, 0x4df6a940, 0x51123314, 0x73ba92cc,
  0x5ed57760, 0xdfca8525, 0x6c20624b, 0x17e2d666, 0xab5a83cb, 0x360f6132, 0xdbb40123, 0xea089ab3,
  0xa56bd6b6, 0xcab6d98d, 0x1be7ad4f, 0x189fd163, 0x703988f6, 0x2c691884, 0x80d99bfe, 0x07593ec6,
  0x5d7c5805, 0x80b57149, 0x5a828688, 0xd79b18f0, 0xfbd2f2f0, 0x1f0cd82c, 0x16d8c063, 0xbd951bba,
  0xfb385cad, 0xaf1f7d30, 0xdf03bfdf, 0xb8188ff9, 0xb01c39bb, 0xfe086a1f, 0x1f6b3ff9, 0xbf4ffe55,
  0x93c54fc7, 0x764552cb, 0x8a8520cb, 0x2935bd52, 0xdc4fefaf, 0x55969bb6, 0x85c0b56a, 0x560f2bda,
  0xd892b2d5, 0x4e28d2d7, 0xd9d6c263, 0xb52ba65e, 0xda84a752, 0xb91b20b6, 0xf4634806, 0x5458339a,
  0x89336346, 0x089b40d8, 0xbc6d9592, 0xe94970ba, 0xb1c8bb50, 0xf1791070, 0xc9028605, 0xc930e748,
  0xca2ab5a1, 0x34a4d575, 0x047e7473, 0x6c61591e, 0x7c444e06, 0xd3e97dd7, 0xd81bc57b, 0x5b9bda69,
  0xe532d9bb, 0x8b2179e5, 0x2f8d71d8, 0xb2d23fc0, 0xbdc98d86, 0x99b26ca2, 0x84c0bfc3, 0xf0aa362b,
  0x878d458d, 0x9607c519, 0xdf8cbfa9, 0xcac574e5, 0x68f4cd53, 0x6f1ce522, 0x48868cc8, 0xb2464362,
  0xb3cc1ed8, 0x25541577, 0xd5ae1ac0, 0x269bf845, 0x53aca74b, 0xff2e7e3c, 0x3b6fccdb, 0xd28c09b2,
  0x5ae8aa93, 0x3c3d1a8c, 0x35338c5b, 0x6cad3c71, 0x01f8d8a6, 0xe7e93c67, 0x27acaa29, 0x2075895f,
  0x014a805c, 0xf9c8c032, 0x27eb91f3, 0x82c16fbd, 0x745aaa8c, 0x98d965b9, 0x6c803b15, 0x4e0f0e78,
  0x0c0a3032, 0x436c7874, 0x6a8a40c9, 0x263fd2fa, 0xf984e583, 0x2d7619d3, 0xe8d5dd1e, 0xd66684e2,
  0xe668a8e5, 0x68b044e6, 0x8bd02c11, 0x78c5f482, 0x7f6a51ad, 0x34eff8dd, 0x356e17cd, 0x43c95627,
  0x3e41d49a, 0x652513d3, 0x8a1b49b2, 0x1bcb4c1b, 0xb1f5b70f, 0x2338d92f, 0x064df420, 0x5f0bcebe,
  0xae855efc, 0x12eb109c, 0x6bafeea5, 0xe0ad0e87, 0x27c4bb8e, 0x6421cc44, 0xcc36ee39, 0x818b2a81,
  0xd161abdc, 0x5f8d5eb5, 0x4a6c89a2, 0x266a211e, 0x2bb69e90, 0xf8b5fc3c, 0xbedcdac9, 0x61166dea,
  0x39797e9c, 0xc0e6ae9a, 0x9a878db0, 0x1cc108c2, 0x35914d51, 0x11d36469, 0xfba9741a, 0x7436dc06,
  0x604c2a27, 0x6e93f3d5, 0x97838d19, 0x0aaad40c, 0x1668b35d, 0x97f730a7, 0x7379dd4d, 0x71827042,
  0x8f32625f, 0xdfafbdff, 0x8490b2a4, 0x268609f6, 0xfe46173e, 0x3e824f11, 0x5ea4cca8, 0x558faebb,
  0xe08a03b3, 0xa3698dd0, 0x28503a5c, 0x6fd5d780, 0xd3614413, 0x6bf1a22c, 0xf16c5ddb, 0x451504e1,
]);
const GEAR_HI = new Int32Array([
  0x3b5d3c7d, 0x784d68ba, 0xcd52880f, 0xeacf8e4e, 0xc31f385d, 0x1d5f2700, 0x83130bde, 0xc4b22567,
  0xaa329b29, 0xb67fcbd2, 0x0027baaa, 0xe3ef2d5a, 0x0890f24d, 0xa809e036, 0xf0a6fe5e, 0x1d026304,
  0x03864632, 0xcdaacf3d, 0xf5e012e6, 0x8862f9d3, 0xa82f7338, 0x1e583dc6, 0x7a3145b6, 0xabb20fee,
  0xb14b3cfe, 0xb9dc2789, 0x3703f5e9, 0xcf0bb866, 0x3d9867c4, 0x1be1fa65, 0x14300da4, 0xe698e9cb,
  0x4763107e, 0xc65821fc, 0x76196c06, 0x485be841, 0xf652bc9c, 0xcad8352f, 0x2a6ed1dc, 0xc6f483ba,
  0x3cfd8c17, 0x89b83c5e, 0xae665cfd, 0xec33c4e5, 0x3fb9b15f, 0xd7fd1fd1, 0x31ade085, 0x255efc98,
  0x10eab600, 0x46f04863, 0xa52dc42a, 0xdaaadf9c, 0x6b479cd5, 0x6309e2d3, 0xc5738ffb, 0x6bd57f3f,
  0x67605486, 0xe14d0b96, 0xb7bbd8d8, 0xdef8a4f1, 0xe7932d85, 0x08161cba, 0x855507be, 0x91234ea6,
  0xad70cf4b, 0xd289a975, 0x8e558437, 0x96d2704b, 0x0889bbcd, 0x5e0d4e67, 0x72a9f891, 0x438b69d4,
  0xdf4fed8a, 0x00f41dcf, 0x4814eb03, 0x9dafbacc, 0xfe2f458e, 0x4457ec41, 0x06e62f14, 0xbd1014d1,
  0xdef318e2, 0x9fea0de9, 0x459de1e7, 0xaeec1896, 0x126a2c06, 0xb1321532, 0x65421503, 0x2d67c287,
  0x6c93bff5, 0x4ffb2036, 0xce7b785b, 0xedb42ef6, 0xdc905288, 0x365f9c1d, 0xc6405836, 0x3cd4624c,
  0x7f1ea8d8, 0x014842d4, 0x0b649bcb, 0xbcd5708e, 0xe987c862, 0x98273167, 0xbaf13e8b, 0x8ea3109c,
  0xd141045b, 0x2acbc1a0, 0xe6444d89, 0xa18cc771, 0x9834429d, 0x214add07, 0x8f07c19b, 0x56a297b1,
  0x94d558e4, 0x40bfc24c, 0x931a706f, 0x32229d32, 0x2560d0f5, 0x9dbcc483, 0x0fd81c39, 0xe03817e1,
  0xc1bb4f81, 0xb0c4864f, 0x3ecc49f9, 0x51307e99, 0x8af2b688, 0xf5d72523, 0x6d95ff1f, 0x562f2155,
  0xc0ce47f8, 0x487823e5, 0xe4727c7e, 0x5a8f7277, 0xfca2f406, 0x5b1f8a95, 0xd304af9f, 0x5440ab7f,
  0x312d25fb, 0x10f4a4b2, 0x90301d55, 0x3b637288, 0x293402b7, 0x451f34a4, 0x3158d814, 0x03494242,
  0xe2032ff9, 0x62ae066b, 0x9545e10c, 0x7ff7483e, 0x00945fce, 0x8764bbbe, 0x1b1ec622, 0x58e0fcc4,
  0x5f4abefa, 0xfd74ac2f, 0xa4e3fb37, 0xbf697e43, 0x86f14a3f, 0x24a23d07, 0xe725cd80, 0xbf3c729e,
  0xd8f6cd57, 0x6329e524, 0x62aa688a, 0x0a242566, 0x168b1a47, 0xf789afef, 0x6c336209, 0x4ce8f50b,
  0x006a2db9, 0x975b0d62, 0x18605d39, 0x5bb6f613, 0x0f53a207, 0xab8c5ad2, 0x40b5ac51, 0x8c7bf63c,
  0x78bd9f7e, 0xb2c9e9f4, 0xefd60498, 0x2be459f4, 0xd92ce0c5, 0x0aaa8fb2, 0x2b37f92c, 0x8c54a5e9,
  0x95f9b6e9, 0xe7939faa, 0xd16bfe8f, 0x44982b86, 0xe285fb39, 0x779a8df7, 0xf2d79a8d, 0xd1037354,
  0x004c82a4, 0x31d40a76, 0xd7057853, 0xdb454310, 0x977121bb, 0x73d5ccbd, 0xe437a07d, 0x47b27820,
  0x9fb25141, 0xccd70b60, 0x1c95b31e, 0xcae73dfd, 0x34d98331, 0x784e39f2, 0x18613d4a, 0xf1d8dae2,
  0x33f77c15, 0x3c88b3b9, 0x956a2ec9, 0x1aa005b5, 0x5500d705, 0xe36c5719, 0x13c4d286, 0x5654a23d,
  0x77b1dc13, 0x734f44de, 0x60717e17, 0xd47d9649, 0x5b13a432, 0xf7669609, 0x21e6ac55, 0x9b56b62b,
  0xf48f66b9, 0x35f332f9, 0xcc733f6a, 0x3da161e4, 0xb7d74ae5, 0x4d493b0b, 0xce264d1d, 0xa9d1f2dc,
  0x70738016, 0x231d36e9, 0x76668811, 0x4a2a8309, 0xf1e76159, 0x73632364, 0x301080e3, 0x502dea29,
  0xc2c5eb85, 0x786afb9e, 0xdaee0d86, 0x617366b3, 0xae0e35a0, 0xd1a07de9, 0x079b8b11, 0x93a99274,
  0xfb1e6e22, 0xea635fdb, 0xcf536593, 0xcde3b31e, 0x8e3e4221, 0xef14d0d8, 0xe1d830d3, 0xaabd2b2a,
]);
/** Masks by bit count (index = round(log2(avg)) ± normalization level); low/high 32 bits. */
const MASK_LO = new Uint32Array([0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x01804110, 0x01803110, 0x18035100, 0x00035300, 0x00353000, 0x03530000, 0x03530000, 0x03530000, 0x03530000, 0x13530000, 0x03530000, 0x03537000, 0x03537000, 0x07537000, 0x07537000, 0x47537000, 0x67537000, 0x67537000, 0x77537000, 0x77577000, 0x77577000]);
const MASK_HI = new Uint32Array([0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000018, 0x00000190, 0x00005900, 0x0000d900, 0x0000d901, 0x0000d903, 0x0000d903, 0x0000d90f, 0x0000d903, 0x0000d907, 0x0000d907, 0x0000d917, 0x0000d917, 0x0000d917, 0x0000d937, 0x0000d937, 0x0000d937, 0x0000db37]);

/** Gear values shifted left by one (the table for the first byte of each two-byte step). */
const GEAR_LS_LO = new Int32Array(256);
const GEAR_LS_HI = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  GEAR_LS_LO[i] = GEAR_LO[i]! << 1;
  GEAR_LS_HI[i] = (GEAR_HI[i]! << 1) | (GEAR_LO[i]! >>> 31);
}

export type NormalizationLevel = 0 | 1 | 2 | 3;

export interface FastCdcParams {
  /** Target average chunk size (bytes); the mask has round(log2(avg)) bits. */
  avg: number;
  /** Minimum chunk size; default avg / 4. */
  min: number;
  /** Maximum chunk size; default 4 · avg. */
  max: number;
  /** Normalized chunking level NC (0–3); default 1 (fastcdc-rs, pyfastcdc). */
  normalization: NormalizationLevel;
}

/** pyfastcdc's / fastcdc-rs' defaults for an average size: min = avg/4, max = 4·avg, NC 1. */
export function fastCdcParams(avg: number, over: Partial<Omit<FastCdcParams, "avg">> = {}): FastCdcParams {
  const p: FastCdcParams = { avg, min: over.min ?? Math.floor(avg / 4), max: over.max ?? avg * 4, normalization: over.normalization ?? 1 };
  if (!(avg >= 256 && avg <= 4 << 20)) throw new RangeError(`FastCDC average size ${avg} is outside [256, 4 MiB]`);
  if (!(p.min >= 64 && p.min <= 1 << 20)) throw new RangeError(`FastCDC minimum size ${p.min} is outside [64, 1 MiB]`);
  if (!(p.max >= 1024 && p.max <= 16 << 20)) throw new RangeError(`FastCDC maximum size ${p.max} is outside [1 KiB, 16 MiB]`);
  if (!(p.min <= avg && avg <= p.max)) throw new RangeError(`FastCDC average size ${avg} is outside [min ${p.min}, max ${p.max}]`);
  return p;
}

/** Chunk lengths written by the WebAssembly `cuts` (up to OUT_CAP per call), then the data. */
const OUT = 4096;
const OUT_CAP = 65536;
const DATA = OUT + 4 * OUT_CAP;
const MIN_WINDOW = 16 << 20;
const PAGE = 65536;

interface CdcExports {
  memory: WebAssembly.Memory;
  cut(start: number, end: number, min: number, avg: number, max: number, msl: number, msh: number, mll: number, mlh: number): number;
  cuts(start: number, end: number, min: number, avg: number, max: number, msl: number, msh: number, mll: number, mlh: number, out: number, cap: number, final: number): number;
}

/** One instance of the cutter: its exports and views of its memory (renewed after a grow). */
/** @internal */
export interface CdcWasm {
  x: CdcExports;
  bytes: Uint8Array;
  lengths: Int32Array;
}

let cdcModule: WebAssembly.Module | undefined;

/** A new instance of the module, its gear tables written, with at least `data` bytes of data room. */
function instantiate(data: number): CdcWasm {
  cdcModule ??= new WebAssembly.Module(Buffer.from(FASTCDC_WASM_BASE64, "base64"));
  const x = new WebAssembly.Instance(cdcModule).exports as unknown as CdcExports;
  const dv = new DataView(x.memory.buffer);
  for (let i = 0; i < 256; i++) {
    dv.setUint32(i * 8, GEAR_LO[i]! >>> 0, true);
    dv.setUint32(i * 8 + 4, GEAR_HI[i]! >>> 0, true);
    dv.setUint32(2048 + i * 8, GEAR_LS_LO[i]! >>> 0, true);
    dv.setUint32(2048 + i * 8 + 4, GEAR_LS_HI[i]! >>> 0, true);
  }
  const w: CdcWasm = { x, bytes: new Uint8Array(0), lengths: new Int32Array(0) };
  grow(w, data);
  return w;
}

function grow(w: CdcWasm, data: number): void {
  const need = DATA + data;
  const have = w.x.memory.buffer.byteLength;
  if (have < need) w.x.memory.grow(Math.ceil((need - have) / PAGE));
  if (w.bytes.buffer !== w.x.memory.buffer) {
    w.bytes = new Uint8Array(w.x.memory.buffer);
    w.lengths = new Int32Array(w.x.memory.buffer, OUT, OUT_CAP);
  }
}

/** The shared cutter for bytes that live outside WebAssembly memory (copied in, window by window). */
let shared: CdcWasm | undefined;
function sharedWasm(window: number): CdcWasm {
  if (!shared) shared = instantiate(window);
  else grow(shared, window);
  return shared;
}

/** Instances that own a caller's buffer (cdcBuffer), by the ArrayBuffer of their memory. */
const owners = new WeakMap<ArrayBufferLike, CdcWasm>();

/**
 * `size` zeroed bytes inside a WebAssembly memory of their own (never grown, so the view stays
 * valid): bytes written here — and any subarray of them — are cut in place by `FastCdc.chunks`
 * and `chunksAll`, without the copy into WebAssembly memory that every other Uint8Array needs.
 * At most 4 GiB − 260 KiB (wasm32).
 */
export function cdcBuffer(size: number): Uint8Array {
  if (!(Number.isInteger(size) && size >= 0 && DATA + size <= 65536 * PAGE)) throw new RangeError(`cdcBuffer size ${size} is outside [0, 4 GiB − ${DATA} B]`);
  const w = instantiate(size);
  owners.set(w.x.memory.buffer, w);
  return new Uint8Array(w.x.memory.buffer, DATA, size);
}

/** The instance whose memory holds `buf` (cut in place), or undefined. */
function ownerOf(buf: Uint8Array): CdcWasm | undefined {
  const w = owners.get(buf.buffer);
  return w && w.x.memory.buffer === buf.buffer ? w : undefined;
}

/** A prepared chunker: masks resolved once. */
export class FastCdc {
  readonly params: FastCdcParams;
  private readonly msLo: number;
  private readonly msHi: number;
  private readonly mlLo: number;
  private readonly mlHi: number;
  private readonly msLsLo: number;
  private readonly msLsHi: number;
  private readonly mlLsLo: number;
  private readonly mlLsHi: number;

  constructor(avgOrParams: number | FastCdcParams) {
    this.params = typeof avgOrParams === "number" ? fastCdcParams(avgOrParams) : avgOrParams;
    const bits = Math.floor(Math.log2(this.params.avg) + 0.5);
    const nc = this.params.normalization;
    this.msLo = MASK_LO[bits + nc]! | 0;
    this.msHi = MASK_HI[bits + nc]! | 0;
    this.mlLo = MASK_LO[bits - nc]! | 0;
    this.mlHi = MASK_HI[bits - nc]! | 0;
    this.msLsLo = this.msLo << 1;
    this.msLsHi = (this.msHi << 1) | (this.msLo >>> 31);
    this.mlLsLo = this.mlLo << 1;
    this.mlLsHi = (this.mlHi << 1) | (this.mlLo >>> 31);
  }

  /**
   * Every chunk of `buf` in order: onChunk(offset, length). The WebAssembly path; no
   * allocation per chunk. A view into a `cdcBuffer` is cut in place; any other buffer is
   * copied into WebAssembly memory in windows of ≥ 16 MiB.
   */
  chunks(buf: Uint8Array, onChunk: (offset: number, length: number) => void): void {
    const own = ownerOf(buf);
    if (own) {
      this.cutWindow(own, buf.byteOffset, 0, buf.length, true, onChunk);
      return;
    }
    const window = Math.max(MIN_WINDOW, 2 * this.params.max);
    const w = sharedWasm(window);
    const len = buf.length;
    let off = 0;
    while (off < len) {
      const wEnd = Math.min(len, off + window);
      w.bytes.set(buf.subarray(off, wEnd), DATA);
      off += this.cutWindow(w, DATA, off, wEnd - off, wEnd === len, onChunk);
    }
  }

  /**
   * Cut the `avail` bytes at address `at` of `w`'s memory (buffer offset `base`); returns the
   * bytes consumed (all when `final`, else up to the last cut that leaves fewer than `max` bytes).
   */
  /** @internal */
  cutWindow(w: CdcWasm, at: number, base: number, avail: number, final: boolean, onChunk: (offset: number, length: number) => void): number {
    const { min, avg, max } = this.params;
    const x = w.x;
    let p = 0;
    for (;;) {
      // All cut points of the window in one call (no JS↔wasm transition per chunk).
      const count = x.cuts(at + p, at + avail, min, avg, max, this.msLo, this.msHi, this.mlLo, this.mlHi, OUT, OUT_CAP, final ? 1 : 0);
      const lengths = w.lengths;
      for (let k = 0; k < count; k++) {
        const n = lengths[k]!;
        onChunk(base + p, n);
        p += n;
      }
      if (count < OUT_CAP) return p;
    }
  }

  /** Cut points (chunk end offsets, relative to the buffer) of a whole buffer (WebAssembly). */
  cutPoints(buf: Uint8Array): number[] {
    const out: number[] = [];
    this.chunks(buf, (o, n) => out.push(o + n));
    return out;
  }

  /** Cut points by the plain-JavaScript rule (`cutJs`), for cross-checks. */
  cutPointsJs(buf: Uint8Array): number[] {
    const out: number[] = [];
    let off = 0;
    while (off < buf.length) {
      off += this.cutJs(buf, off, buf.length);
      out.push(off);
    }
    return out;
  }

  /**
   * Length of the next chunk of buf[start, end) in plain JavaScript: the FastCDC 2020 cut
   * point. The chunk is buf[start, start + length). Never 0 for a non-empty range.
   */
  cutJs(buf: Uint8Array, start: number, end: number): number {
    let remaining = end - start;
    const { min, avg, max } = this.params;
    if (remaining <= min) return remaining;
    let center = avg;
    if (remaining > max) remaining = max;
    else if (remaining < center) center = remaining;
    const gl = GEAR_LO;
    const gh = GEAR_HI;
    const gll = GEAR_LS_LO;
    const glh = GEAR_LS_HI;
    // Signed int32 halves; the carry out of the low half is computed without a branch (a
    // data-dependent branch taken half the time costs more than the whole step):
    // carry(x + a = s) = ((x & a) | ((x | a) & ~s)) >>> 31.
    let lo = 0;
    let hi = 0;
    let s = 0;
    let a = 0;
    let b = 0;
    let x = 0;
    const midPos = start + (center & ~1);
    const endPos = start + (remaining & ~1);
    let pos = start + (min & ~1);
    // Normalized chunking: the hard masks (ms) up to the average size, the easy ones (ml) after.
    const phases = [
      [midPos, this.msLo, this.msHi, this.msLsLo, this.msLsHi],
      [endPos, this.mlLo, this.mlHi, this.mlLsLo, this.mlLsHi],
    ] as const;
    for (const [until, mLo, mHi, mLsLo, mLsHi] of phases) {
      for (; pos < until; pos += 2) {
        b = buf[pos]!;
        a = gll[b]!;
        x = lo << 2;
        s = (x + a) | 0;
        hi = (((hi << 2) | (lo >>> 30)) + glh[b]! + (((x & a) | ((x | a) & ~s)) >>> 31)) | 0;
        lo = s;
        if ((lo & mLsLo) === 0 && (hi & mLsHi) === 0) return pos - start;
        b = buf[pos + 1]!;
        a = gl[b]!;
        s = (lo + a) | 0;
        hi = (hi + gh[b]! + (((lo & a) | ((lo | a) & ~s)) >>> 31)) | 0;
        lo = s;
        if ((lo & mLo) === 0 && (hi & mHi) === 0) return pos + 1 - start;
      }
    }
    return remaining;
  }
}

/**
 * Every chunk of `buf` for several chunkers: onChunk(k, offset, length) in order per chunker
 * k. A buffer that fits one window is copied into WebAssembly memory once for all of them
 * (the potential analysis cuts each unit at four average sizes); a view into a `cdcBuffer` is
 * not copied at all.
 */
export function chunksAll(chunkers: readonly FastCdc[], buf: Uint8Array, onChunk: (k: number, offset: number, length: number) => void): void {
  const own = ownerOf(buf);
  if (own) {
    chunkers.forEach((c, k) => c.cutWindow(own, buf.byteOffset, 0, buf.length, true, (o, n) => onChunk(k, o, n)));
    return;
  }
  const window = Math.max(MIN_WINDOW, ...chunkers.map((c) => 2 * c.params.max));
  if (buf.length > window) {
    chunkers.forEach((c, k) => c.chunks(buf, (o, n) => onChunk(k, o, n)));
    return;
  }
  const w = sharedWasm(window);
  w.bytes.set(buf, DATA);
  chunkers.forEach((c, k) => c.cutWindow(w, DATA, 0, buf.length, true, (o, n) => onChunk(k, o, n)));
}

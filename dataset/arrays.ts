// Named typed arrays plus a JSON header in one buffer: how pipeline steps hand feature matrices to each other
// through S3 (workflow history carries only the key). Layout: "FOARR1\n", a 4-byte little-endian header
// length, the JSON header, then each array's bytes at an 8-byte-aligned offset.
import { InvalidInputError } from '../ml/errors';

const MAGIC = Buffer.from('FOARR1\n');

const TYPES = {
  Float64Array,
  Float32Array,
  Uint32Array,
  Uint16Array,
  Uint8Array,
  Int8Array,
} as const;
type TypeName = keyof typeof TYPES;
export type StoredArray =
  | Float64Array<ArrayBufferLike>
  | Float32Array<ArrayBufferLike>
  | Uint32Array<ArrayBufferLike>
  | Uint16Array<ArrayBufferLike>
  | Uint8Array<ArrayBufferLike>
  | Int8Array<ArrayBufferLike>;

interface Header {
  meta: unknown;
  arrays: Array<{ name: string; type: TypeName; length: number; offset: number }>;
}

const align = (n: number) => Math.ceil(n / 8) * 8;

export function encodeArrays(arrays: Record<string, StoredArray>, meta: unknown = null): Buffer {
  const entries: Header['arrays'] = [];
  let offset = 0;
  for (const [name, array] of Object.entries(arrays)) {
    const type = array.constructor.name as TypeName;
    if (!(type in TYPES)) throw new InvalidInputError(`array ${name}: ${type} cannot be stored`);
    entries.push({ name, type, length: array.length, offset });
    offset = align(offset + array.byteLength);
  }
  const header = Buffer.from(JSON.stringify({ meta, arrays: entries } satisfies Header));
  const start = align(MAGIC.length + 4 + header.length);
  const out = Buffer.alloc(start + offset);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(header.length, MAGIC.length);
  header.copy(out, MAGIC.length + 4);
  for (const { name, offset: at } of entries) {
    const array = arrays[name];
    out.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), start + at);
  }
  return out;
}

export function decodeArrays<M = unknown>(bytes: Uint8Array): { meta: M; arrays: Record<string, StoredArray> } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < MAGIC.length + 4 || !buffer.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new InvalidInputError('not a fraudops array file (bad magic)');
  }
  const headerLength = buffer.readUInt32LE(MAGIC.length);
  const header = JSON.parse(buffer.subarray(MAGIC.length + 4, MAGIC.length + 4 + headerLength).toString('utf8')) as Header;
  const start = align(MAGIC.length + 4 + headerLength);
  const arrays: Record<string, StoredArray> = {};
  for (const { name, type, length, offset } of header.arrays) {
    const Type = TYPES[type];
    const byteLength = length * Type.BYTES_PER_ELEMENT;
    if (start + offset + byteLength > buffer.length) throw new InvalidInputError(`array ${name} runs past the end of the file`);
    // Copy into a fresh, aligned buffer: the source may sit at any byte offset.
    const copy = new Uint8Array(byteLength);
    copy.set(buffer.subarray(start + offset, start + offset + byteLength));
    arrays[name] = new Type(copy.buffer);
  }
  return { meta: header.meta as M, arrays };
}

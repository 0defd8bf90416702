// A cryptographically secure random stream: the AES-256-CTR keystream of a key, read as 32-bit words. The key comes
// from crypto.randomBytes; only tests may pass a seed, which makes the key a hash of (seed, stream name) and so the
// whole stream public (see TrainerOptions.insecureNoiseSeed). The position (bytes read) is the whole state besides
// the key, so a seeded stream resumes exactly where a checkpoint left it.
import { type Cipher, createCipheriv, createHash, randomBytes } from 'node:crypto';

const BLOCK = 16;
const CHUNK = 64 * 1024;
const ZEROS = Buffer.alloc(CHUNK);
const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;

function seededKey(seed: number, stream: string): Buffer {
  return createHash('sha256').update(`fraudops/dpsgd/${stream}/${seed}`).digest();
}

/** The CTR initial counter block for keystream block `block` (a 128-bit big-endian counter starting at 0). */
function counterBlock(block: number): Buffer {
  const iv = Buffer.alloc(BLOCK);
  iv.writeBigUInt64BE(BigInt(block), 8);
  return iv;
}

export class CryptoStream {
  private readonly cipher: Cipher;
  private words = new Uint32Array(0);
  private index = 0;
  /** Keystream bytes before `words`. */
  private chunkStart: number;

  /**
   * The stream named `stream` under a fresh random key, or (tests only) under a key derived from `seed`, starting
   * `position` bytes in (a multiple of 4, as every position this class reports).
   */
  constructor(seed: number | undefined, stream: string, position = 0) {
    if (!(Number.isSafeInteger(position) && position >= 0 && position % 4 === 0)) {
      throw new RangeError(`stream position must be a whole multiple of 4; got ${position}`);
    }
    const key = seed === undefined ? randomBytes(32) : seededKey(seed, stream);
    const block = Math.floor(position / BLOCK);
    this.cipher = createCipheriv('aes-256-ctr', key, counterBlock(block));
    this.chunkStart = block * BLOCK;
    for (let skip = (position - this.chunkStart) / 4; skip > 0; skip--) this.uint32();
  }

  /** Bytes read so far. */
  get position(): number {
    return this.chunkStart + 4 * this.index;
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    if (this.index === this.words.length) this.refill();
    return this.words[this.index++];
  }

  /** U[0, 1) with 53 random bits (every double k·2⁻⁵³ equally likely); reads 8 bytes. */
  uniform(): number {
    const high = this.uint32() >>> 5; // 27 bits
    const low = this.uint32() >>> 6; // 26 bits
    return (high * TWO_POW_26 + low) / TWO_POW_53;
  }

  /** A uniform integer in [0, 2⁵³), exactly; reads 8 bytes. */
  uint53(): number {
    const high = this.uint32() >>> 11; // 21 bits
    return high * 4294967296 + this.uint32();
  }

  private refill(): void {
    this.chunkStart += 4 * this.words.length;
    const bytes = this.cipher.update(ZEROS);
    // Little-endian words of the keystream; a copy only when Node hands back an unaligned slice.
    this.words =
      bytes.byteOffset % 4 === 0
        ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
        : new Uint32Array(Uint8Array.from(bytes).buffer);
    this.index = 0;
  }
}

// A cryptographically secure random stream: the AES-256-CTR keystream of a key. With a seed the key is a hash of
// (seed, stream name), so a run repeats; without one it comes from crypto.randomBytes. The position (bytes read) is
// the whole state besides the key, so a seeded stream resumes exactly where a checkpoint left it.
import { type Cipher, createCipheriv, createHash, randomBytes } from 'node:crypto';

const BLOCK = 16;
const CHUNK = 64 * 1024; // a multiple of 8: a uniform (8 bytes) never straddles two chunks
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
  private view = new DataView(new ArrayBuffer(0));
  private offset = 0;
  private consumed: number;

  /**
   * The stream named `stream` of `seed`, or under a fresh random key when seed is undefined, starting `position`
   * bytes in (a multiple of 8, as every position this class reports).
   */
  constructor(seed: number | undefined, stream: string, position = 0) {
    if (!(Number.isSafeInteger(position) && position >= 0 && position % 8 === 0)) {
      throw new RangeError(`stream position must be a whole multiple of 8; got ${position}`);
    }
    const key = seed === undefined ? randomBytes(32) : seededKey(seed, stream);
    const block = Math.floor(position / BLOCK);
    this.cipher = createCipheriv('aes-256-ctr', key, counterBlock(block));
    this.consumed = block * BLOCK;
    if (position > this.consumed) this.uniform();
  }

  /** Bytes read so far. */
  get position(): number {
    return this.consumed;
  }

  /** U[0, 1) with 53 random bits (every double k·2⁻⁵³ equally likely); reads 8 bytes. */
  uniform(): number {
    if (this.offset === this.view.byteLength) {
      const chunk = this.cipher.update(ZEROS);
      this.view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      this.offset = 0;
    }
    const high = this.view.getUint32(this.offset) >>> 5; // 27 bits
    const low = this.view.getUint32(this.offset + 4) >>> 6; // 26 bits
    this.offset += 8;
    this.consumed += 8;
    return (high * TWO_POW_26 + low) / TWO_POW_53;
  }
}

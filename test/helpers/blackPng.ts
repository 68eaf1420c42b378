import { constants as zlibConstants, crc32, deflateRawSync } from "node:zlib";

/**
 * A valid all-black 1-bit greyscale PNG of any size, built without encoding its pixels: the zeros
 * are compressed once with a full flush (which resets the dictionary, so the same bytes can be
 * repeated) and the Adler-32 of n zero bytes is simply (n mod 65521) << 16 | 1.
 */
export function blackPng(width: number, height: number): Buffer {
  const rowBytes = 1 + Math.ceil(width / 8);
  const blockRows = Math.min(height, 1000);
  const block = deflateRawSync(Buffer.alloc(rowBytes * blockRows), { finishFlush: zlibConstants.Z_FULL_FLUSH });
  const parts: Buffer[] = [Buffer.from([0x78, 0x01])];
  for (let r = 0; r + blockRows <= height; r += blockRows) parts.push(block);
  const rest = height % blockRows;
  if (rest > 0) parts.push(deflateRawSync(Buffer.alloc(rowBytes * rest), { finishFlush: zlibConstants.Z_FULL_FLUSH }));
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((rowBytes * height) % 65521) * 65536 + 1) >>> 0);
  parts.push(Buffer.from([0x03, 0x00]), adler); // empty final block, then the checksum
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, no filter, no interlace
  const chunk = (type: string, body: Buffer): Buffer => {
    const typed = Buffer.concat([Buffer.from(type, "latin1"), body]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([head, typed, crc]);
  };
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", Buffer.concat(parts)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

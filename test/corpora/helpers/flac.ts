/**
 * A minimal FLAC encoder for test fixtures: mono or multi-channel 16-bit PCM stored in VERBATIM
 * subframes (no prediction), fixed 4096-sample blocks, STREAMINFO with an unset MD5. Every
 * conforming decoder reads it; it is about as large as the WAV.
 */

function crc8(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x8005) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** FLAC's UTF-8-like coding of the frame number. */
function utf8Number(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  let bytes = 2;
  while (n >= 2 ** (5 * bytes + 1)) bytes++;
  for (let i = bytes - 1; i > 0; i--) {
    out.unshift(0x80 | (n & 0x3f));
    n = Math.floor(n / 64);
  }
  const lead = (0xff << (8 - bytes)) & 0xff;
  out.unshift(lead | n);
  return out;
}

class BitWriter {
  private bytes: number[] = [];
  private cur = 0;
  private nbits = 0;
  write(value: number, bits: number): void {
    for (let i = bits - 1; i >= 0; i--) {
      const bit = Math.floor(value / 2 ** i) % 2;
      this.cur = (this.cur << 1) | bit;
      this.nbits++;
      if (this.nbits === 8) {
        this.bytes.push(this.cur);
        this.cur = 0;
        this.nbits = 0;
      }
    }
  }
  toBytes(): Uint8Array {
    if (this.nbits !== 0) throw new Error('not byte aligned');
    return Uint8Array.from(this.bytes);
  }
}

const int16 = (x: number) => Math.max(-32768, Math.min(32767, Math.round(x * 32768)));

/** Encode float channels in [-1, 1) as a 16-bit FLAC file. */
export function encodeFlac16(channels: Float32Array[], sampleRateHz: number): Uint8Array {
  const nch = channels.length;
  const total = channels[0].length;
  const block = 4096;
  const parts: Uint8Array[] = [new TextEncoder().encode('fLaC')];
  const si = new BitWriter();
  si.write(1, 1); // last metadata block
  si.write(0, 7); // STREAMINFO
  si.write(34, 24);
  const minBlock = Math.max(16, Math.min(block, total));
  si.write(minBlock, 16);
  si.write(Math.max(minBlock, Math.min(block, total)), 16);
  si.write(0, 24); // min frame size unknown
  si.write(0, 24); // max frame size unknown
  si.write(sampleRateHz, 20);
  si.write(nch - 1, 3);
  si.write(15, 5); // 16 bits per sample
  si.write(total, 36);
  for (let i = 0; i < 16; i++) si.write(0, 8); // MD5 unset
  parts.push(si.toBytes());
  for (let f = 0, start = 0; start < total; f++, start += block) {
    const n = Math.min(block, total - start);
    const h = new BitWriter();
    h.write(0b11111111111110, 14);
    h.write(0, 1); // reserved
    h.write(0, 1); // fixed block size
    h.write(0b0111, 4); // block size: 16 bits (n-1) at the end of the header
    h.write(0b0000, 4); // sample rate from STREAMINFO
    h.write(nch - 1, 4); // independent channels
    h.write(0b100, 3); // 16 bits per sample
    h.write(0, 1);
    for (const b of utf8Number(f)) h.write(b, 8);
    h.write(n - 1, 16);
    const header = h.toBytes();
    const frame = new BitWriter();
    for (const b of header) frame.write(b, 8);
    frame.write(crc8(header), 8);
    for (let c = 0; c < nch; c++) {
      frame.write(0b00000010, 8); // VERBATIM subframe, no wasted bits
      for (let i = 0; i < n; i++) frame.write((int16(channels[c][start + i]) + 65536) % 65536, 16);
    }
    const body = frame.toBytes();
    const crc = crc16(body);
    const out = new Uint8Array(body.length + 2);
    out.set(body);
    out[body.length] = crc >> 8;
    out[body.length + 1] = crc & 0xff;
    parts.push(out);
  }
  const size = parts.reduce((a, p) => a + p.length, 0);
  const all = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return all;
}

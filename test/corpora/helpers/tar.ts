/**
 * A minimal ustar writer for test archives, including members a safe extractor must refuse
 * (absolute paths, '..', escaping links), which ordinary tar writers sanitise away.
 */
import { gzipSync } from 'node:zlib';

export interface TarMember {
  path: string;
  /** '0' file (default), '5' directory, '2' symbolic link, '1' hard link. */
  type?: '0' | '1' | '2' | '5';
  data?: Uint8Array | string;
  linkpath?: string;
}

function field(buf: Uint8Array, offset: number, length: number, value: string): void {
  const b = new TextEncoder().encode(value);
  if (b.length > length) throw new Error(`tar field too long: ${value}`);
  buf.set(b, offset);
}

function octal(n: number, length: number): string {
  return n.toString(8).padStart(length - 1, '0') + '\0';
}

function header(m: TarMember, size: number): Uint8Array {
  const h = new Uint8Array(512);
  let name = m.path;
  let prefix = '';
  if (name.length > 100) {
    const cut = name.lastIndexOf('/', name.length - 101 >= 0 ? 155 : name.length);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  field(h, 0, 100, name);
  field(h, 100, 8, octal(m.type === '5' ? 0o755 : 0o644, 8));
  field(h, 108, 8, octal(0, 8));
  field(h, 116, 8, octal(0, 8));
  field(h, 124, 12, octal(size, 12));
  field(h, 136, 12, octal(1700000000, 12));
  field(h, 148, 8, '        ');
  field(h, 156, 1, m.type ?? '0');
  if (m.linkpath) field(h, 157, 100, m.linkpath);
  field(h, 257, 6, 'ustar\0');
  field(h, 263, 2, '00');
  field(h, 345, 155, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  field(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** Build a .tar.gz from members (in order). */
export function makeTarGz(members: TarMember[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const m of members) {
    const data = typeof m.data === 'string' ? new TextEncoder().encode(m.data) : (m.data ?? new Uint8Array(0));
    const size = m.type === '0' || m.type === undefined ? data.length : 0;
    chunks.push(header(m, size));
    if (size > 0) {
      chunks.push(data);
      if (size % 512) chunks.push(new Uint8Array(512 - (size % 512)));
    }
  }
  chunks.push(new Uint8Array(1024));
  return gzipSync(Buffer.concat(chunks));
}

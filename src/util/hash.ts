/** Stable hashing of configs and files, for the runner's "skip unchanged stage" logic. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** JSON with object keys sorted recursively, so equal configs hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of the canonical JSON of a value. */
export function hashConfig(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/** Streaming hash of a file's bytes. */
export async function hashFile(path: string, algorithm: 'sha256' | 'md5' = 'sha256'): Promise<string> {
  const h = createHash(algorithm);
  await new Promise<void>((resolve, reject) => {
    createReadStream(path)
      .on('data', (chunk) => h.update(chunk))
      .on('end', () => resolve())
      .on('error', reject);
  });
  return h.digest('hex');
}

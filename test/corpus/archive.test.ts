import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extractTarSafe, unsafeMemberReason } from '../../src/corpus/archive.ts';
import { DownloadError } from '../../src/util/errors.ts';
import { makeTarGz, type TarMember } from '../corpora/helpers/tar.ts';
import { tmp } from './helpers.ts';

function archive(members: TarMember[]): { dir: string; file: string } {
  const dir = tmp();
  const file = join(dir, 'a.tar.gz');
  writeFileSync(file, makeTarGz(members));
  return { dir, file };
}

const ok: TarMember[] = [
  { path: 'top/', type: '5' },
  { path: 'top/a.txt', data: 'alpha\n' },
  { path: 'top/sub/b.txt', data: 'beta\n' },
  { path: 'top/link', type: '2', linkpath: 'sub/b.txt' },
];

describe('extractTarSafe', () => {
  it('extracts a well-formed archive, including links that stay inside', async () => {
    const { dir, file } = archive(ok);
    const out = join(dir, 'out');
    const files: string[] = [];
    await extractTarSafe(file, out, { onFile: (p) => files.push(p) });
    expect(readFileSync(join(out, 'top/a.txt'), 'utf8')).toBe('alpha\n');
    expect(readFileSync(join(out, 'top/link'), 'utf8')).toBe('beta\n');
    expect(files).toEqual(['top/a.txt', 'top/sub/b.txt']);
  });

  for (const [what, member, reason] of [
    ['a .. path', { path: 'top/../../evil.txt', data: 'x' }, "path with a '..' component"],
    ['an absolute path', { path: '/tmp/evil.txt', data: 'x' }, 'absolute path'],
    [
      'a symlink escaping the destination',
      { path: 'top/esc', type: '2', linkpath: '../../../etc/passwd' },
      "symbolic link to '../../../etc/passwd', outside the destination",
    ],
    [
      'an absolute symlink',
      { path: 'top/abs', type: '2', linkpath: '/etc/passwd' },
      "symbolic link to the absolute path '/etc/passwd'",
    ],
    [
      'a hard link escaping the destination',
      { path: 'top/hard', type: '1', linkpath: '../outside' },
      "hard link to '../outside', outside the destination",
    ],
  ] as [string, TarMember, string][]) {
    it(`rejects ${what} with a DownloadError naming the member, and writes nothing`, async () => {
      const { dir, file } = archive([...ok, member]);
      const out = join(dir, 'out');
      const err = await extractTarSafe(file, out).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DownloadError);
      expect((err as Error).message).toContain(`unsafe archive member '${member.path}': ${reason}`);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir)).toEqual(['a.tar.gz']);
    });
  }

  it('fails on a truncated archive and removes the partial output', async () => {
    const { dir, file } = archive(ok);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const out = join(dir, 'out');
    await expect(extractTarSafe(file, out)).rejects.toBeInstanceOf(DownloadError);
    expect(existsSync(out)).toBe(false);
  });

  it('classifies members without touching the file system', () => {
    expect(unsafeMemberReason('/d', 'a/b', 'File')).toBeNull();
    expect(unsafeMemberReason('/d', 'a/b', 'CharacterDevice')).toBe('unsupported member type CharacterDevice');
    expect(unsafeMemberReason('/d', 'a/l', 'SymbolicLink', '../b')).toBeNull();
    expect(unsafeMemberReason('/d', 'l', 'SymbolicLink', '../b')).toMatch(/outside/);
    expect(unsafeMemberReason('/d', 'C:/x', 'File')).toBe('absolute path');
  });
});

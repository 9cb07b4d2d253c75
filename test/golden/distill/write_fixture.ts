// node bin/run-ts.js test/golden/distill/write_fixture.ts <out-dir>: writes <layout>.arrow for each golden layout.
import { join } from 'node:path';
import { GOLDEN_LAYOUTS, writeGoldenFixture } from './fixture.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: write_fixture.ts <out-dir>');
for (const layout of Object.keys(GOLDEN_LAYOUTS)) await writeGoldenFixture(join(dir, `${layout}.arrow`), layout);

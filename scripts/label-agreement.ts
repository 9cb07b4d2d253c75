/**
 * Agreement of the ensemble's soft targets with the alignment labels, for the real recordings and
 * each VTLP warp's copies (src/distill/label-agreement.ts):
 *
 *   node bin/run-ts.js scripts/label-agreement.ts exp/fsdd-ivtlp-chw0 [--set main] [--json]
 *
 * Reads <expDir>/targets/targets.json (the set's file: the training split's targets) and
 * <expDir>/align/train.arrow.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSoftTargetFile } from '../src/distill/store.ts';
import { readAlignmentFile } from '../src/align/store.ts';
import { labelAgreement } from '../src/distill/label-agreement.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : dflt;
};
const json = args.includes('--json');
const setName = opt('--set', 'main');
const expDir = args.filter((a) => a !== '--json')[0];
if (!expDir) {
  console.error('usage: node bin/run-ts.js scripts/label-agreement.ts <expDir> [--set main] [--json]');
  process.exit(2);
}
const targetsJson = join(expDir, 'targets', 'targets.json');
const tj = JSON.parse(readFileSync(targetsJson, 'utf8')) as { sets: { name: string; file: string }[] };
const set = tj.sets.find((s) => s.name === setName);
if (!set) {
  console.error(`${targetsJson}: no target set '${setName}'; found ${tj.sets.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const file = join(expDir, 'targets', set.file);
const alignFile = join(expDir, 'align', 'train.arrow');
const senonesJson = join(expDir, 'align', 'senones.json');
const senones = JSON.parse(readFileSync(senonesJson, 'utf8')) as { senones: { id: number; phone: string }[] };
const senonePhones: string[] = [];
for (const s of senones.senones) senonePhones[s.id] = s.phone;
const counter = await labelAgreement(
  readSoftTargetFile(file),
  readAlignmentFile(alignFile),
  `${file} / ${alignFile}`,
  senonePhones,
);
const groups = counter.result();
const phones = counter.byPhone();
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
if (json) console.log(JSON.stringify({ targets: file, alignment: alignFile, groups, phones }, null, 2));
else {
  console.log(`targets ${file}, alignment ${alignFile}`);
  console.log("| group | utterances | frames | top-1 = label | top-1 in label's phone | label mass |");
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const g of groups)
    console.log(
      `| ${g.group} | ${g.utterances} | ${g.frames} | ${pct(g.top1Agreement)} | ${pct(g.phoneAgreement!)} | ${g.meanLabelMass.toFixed(3)} |`,
    );
  const names = groups.map((g) => g.group);
  console.log(
    `\nper label phone (top-1 in label's phone; the other phone preferred most often):\n| phone | ${names.join(' | ')} |\n|---|${names.map(() => '---').join('|')}|`,
  );
  for (const ph of [...new Set(phones.map((p) => p.phone))]) {
    const cells = names.map((g) => {
      const p = phones.find((x) => x.group === g && x.phone === ph);
      return p ? `${pct(p.phoneAgreement)} (${p.frames}; ${p.topOtherPhone ?? '-'} ${pct(p.topOtherShare)})` : '';
    });
    console.log(`| ${ph} | ${cells.join(' | ')} |`);
  }
}

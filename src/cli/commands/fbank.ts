/**
 * `am-distill fbank <audio> [--num-mel-bins N] [--dither D] [--sample-frequency Hz] [--json] ...`
 * Prints one file's log-mel filterbank like Kaldi's `compute-fbank-feats ... ark,t:-`
 * (text archive "utt  [ rows ]"), or with --json
 * {"sampleRateHz", "numFrames", "numMelBins", "frames": [[...], ...]}.
 */
import { basename, extname } from 'node:path';
import { Command, Option } from 'commander';
import { Rng } from '../../util/rng.ts';
import { log } from '../../util/log.ts';
import { FbankComputer } from '../../features/fbank.ts';
import { formatKaldiTextMatrix } from '../../features/kaldi-text.ts';
import { toRows } from '../../features/matrix.ts';
import { WINDOW_TYPES, type FbankOptions, type WindowType } from '../../features/options.ts';
import { booleanArg, numberArg } from './flags.ts';

interface FbankFlags {
  numMelBins?: number;
  dither?: number;
  sampleFrequency?: number;
  frameShift?: number;
  frameLength?: number;
  windowType?: WindowType;
  lowFreq?: number;
  highFreq?: number;
  preemphasisCoefficient?: number;
  removeDcOffset?: boolean;
  snipEdges?: boolean;
  useEnergy?: boolean;
  seed?: number;
  channel?: number;
  uttId?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('fbank')
    .description("one file's log-mel filterbank, as Kaldi's compute-fbank-feats (defaults: 23 bins, dither 0)")
    .argument('<audio>', 'audio file (WAV, FLAC, NIST SPHERE)')
    .option('--num-mel-bins <n>', 'number of triangular mel bins (default: 23)', numberArg('--num-mel-bins'))
    .option('--dither <d>', 'Gaussian dither in int16 units (default: 0)', numberArg('--dither'))
    .option('--seed <n>', 'seed of the dither noise (default: 0)', numberArg('--seed'))
    .option(
      '--sample-frequency <hz>',
      "expected sample rate; a file at another rate is an error (default: the file's)",
      numberArg('--sample-frequency'),
    )
    .option('--frame-shift <ms>', 'frame shift in ms (default: 10)', numberArg('--frame-shift'))
    .option('--frame-length <ms>', 'frame length in ms (default: 25)', numberArg('--frame-length'))
    .addOption(new Option('--window-type <type>', 'window function (default: povey)').choices(WINDOW_TYPES as string[]))
    .option('--low-freq <hz>', 'low cutoff of the mel bins (default: 20)', numberArg('--low-freq'))
    .option('--high-freq <hz>', 'high cutoff; <= 0 is an offset from Nyquist (default: 0)', numberArg('--high-freq'))
    .option('--preemphasis-coefficient <c>', 'pre-emphasis (default: 0.97)', numberArg('--preemphasis-coefficient'))
    .option('--remove-dc-offset <bool>', "subtract each frame's mean (default: true)", booleanArg('--remove-dc-offset'))
    .option('--snip-edges <bool>', 'only whole frames (default: true)', booleanArg('--snip-edges'))
    .option('--use-energy <bool>', 'prepend the log energy (default: false)', booleanArg('--use-energy'))
    .option('--channel <n>', '0-based channel (default: 0)', numberArg('--channel'))
    .option('--utt-id <id>', 'key of the text archive (default: the file name without extension)')
    .option(
      '--json',
      'print JSON {"sampleRateHz","numFrames","numMelBins","frames"} instead of a Kaldi text archive',
      false,
    )
    .action(async (audio: string, o: FbankFlags) => {
      const options: Partial<FbankOptions> = {};
      if (o.numMelBins !== undefined) options.numMelBins = o.numMelBins;
      if (o.dither !== undefined) options.dither = o.dither;
      if (o.seed !== undefined) options.ditherSeed = o.seed;
      if (o.sampleFrequency !== undefined) options.sampleRateHz = o.sampleFrequency;
      if (o.frameShift !== undefined) options.frameShiftMs = o.frameShift;
      if (o.frameLength !== undefined) options.frameLengthMs = o.frameLength;
      if (o.windowType !== undefined) options.windowType = o.windowType;
      if (o.lowFreq !== undefined) options.lowFreqHz = o.lowFreq;
      if (o.highFreq !== undefined) options.highFreqHz = o.highFreq;
      if (o.preemphasisCoefficient !== undefined) options.preemphCoeff = o.preemphasisCoefficient;
      if (o.removeDcOffset !== undefined) options.removeDcOffset = o.removeDcOffset;
      if (o.snipEdges !== undefined) options.snipEdges = o.snipEdges;
      if (o.useEnergy !== undefined) options.useEnergy = o.useEnergy;
      const { readAudioChannel, checkSamples } = await import('../../audio/index.ts');
      const { sampleRateHz, samples } = await readAudioChannel(audio, { channel: o.channel ?? 0 });
      const { warning } = checkSamples(samples, sampleRateHz, audio);
      if (warning) log.warn(warning);
      const computer = new FbankComputer(options, sampleRateHz);
      const uttId = o.uttId ?? basename(audio, extname(audio));
      const rng = computer.options.dither !== 0 ? new Rng(computer.options.ditherSeed) : undefined;
      const feats = computer.compute(samples, { rng, uttId });
      if (o.json) {
        process.stdout.write(
          JSON.stringify({
            sampleRateHz,
            numFrames: feats.numFrames,
            numMelBins: computer.options.numMelBins,
            frames: toRows(feats),
          }) + '\n',
        );
      } else {
        process.stdout.write(formatKaldiTextMatrix(uttId, feats));
      }
    });
}

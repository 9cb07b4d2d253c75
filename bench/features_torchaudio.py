#!/usr/bin/env python3
"""Peer of bench/features.ts: frames/s of torchaudio.compliance.kaldi.fbank on one thread.

    python3 bench/features_torchaudio.py AUDIO.s16le SAMPLE_RATE_HZ NUM_MEL_BINS RUNS

AUDIO.s16le: raw little-endian int16 samples (the same audio as our side). Kaldi defaults with
dither 0 and energy_floor 0. Prints one JSON line: {"frames", "fps", "torch", "torchaudio"}.
"""
import json
import sys
import time

import numpy as np
import torch
import torchaudio
from torchaudio.compliance import kaldi


def main():
    path, rate, bins, runs = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(1)
    raw = np.fromfile(path, dtype='<i2').astype(np.float32)
    wav = torch.from_numpy(raw).unsqueeze(0)

    def run():
        return kaldi.fbank(wav, num_mel_bins=bins, dither=0.0, energy_floor=0.0, sample_frequency=rate)

    for _ in range(2):
        out = run()
    best = float('inf')
    for _ in range(runs):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    print(json.dumps({'frames': int(out.shape[0]), 'fps': out.shape[0] / best,
                      'torch': torch.__version__, 'torchaudio': torchaudio.__version__}))


if __name__ == '__main__':
    main()

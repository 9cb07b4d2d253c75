#!/usr/bin/env python3
"""Peer of bench/features.ts: frames/s of torchaudio.compliance.kaldi.fbank on one thread.

    python3 bench/features_torchaudio.py AUDIO.s16le SAMPLE_RATE_HZ NUM_MEL_BINS

AUDIO.s16le: raw little-endian int16 samples (the same audio as our side), passed to
kaldi.fbank as float32 in the int16 range, as Kaldi reads WAV files. Kaldi defaults with dither 0
and energy_floor 0 (used only with use_energy), torch.set_num_threads(1). Each call of
kaldi.fbank is timed on its own (the tensor is built once, outside the timing), so the numbers
cover the same work as our side's computeFbank call: window and mel banks built per call, framing,
FFT, mel (a torch.mm, so the BLAS torch loaded matters), log.

Protocol (so that bench/features.ts can interleave rounds of both sides under the same load):
after two warm-up calls it prints one JSON line {"ready": true, "frames", "torch", "torchaudio",
"blas"}; then for every line "RUNS" read from stdin it times RUNS calls and prints one JSON line
{"seconds": [...]}; an empty line or EOF ends it.

"blas" says which BLAS the process actually uses: the BLAS / LAPACK / MKL libraries mapped into
it (/proc/self/maps), torch's build-time BLAS_INFO, and for OpenBLAS its core (kernel) name and
build configuration, and the OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE it was started with.
"""
import json
import os
import re
import sys
import time

import numpy as np
import torch
import torchaudio
from torchaudio.compliance import kaldi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nnet_torch import mapped_blas, openblas_info  # noqa: E402

BLAS_OR_LAPACK = re.compile(r'^lib.*(blas|lapack|mkl)', re.IGNORECASE)


def blas_info():
    libs = mapped_blas(BLAS_OR_LAPACK)
    info = {'libraries': libs, 'threads': torch.get_num_threads()}
    m = re.search(r'BLAS_INFO=([^,\s]+)', torch.__config__.show())
    info['torch_blas_info'] = m.group(1) if m else None
    core, _threads, config = openblas_info(libs)
    if core is not None:
        info['openblas_core'] = core
        info['openblas_config'] = config
    info['env'] = {k: os.environ.get(k) for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE', 'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS')}
    return info


def main():
    path, rate, bins = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    raw = np.fromfile(path, dtype='<i2').astype(np.float32)
    wav = torch.from_numpy(raw).unsqueeze(0)

    def run():
        return kaldi.fbank(wav, num_mel_bins=bins, dither=0.0, energy_floor=0.0, sample_frequency=rate)

    for _ in range(2):
        out = run()
    print(json.dumps({'ready': True, 'frames': int(out.shape[0]), 'torch': torch.__version__,
                      'torchaudio': torchaudio.__version__, 'blas': blas_info()}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            break
        times = []
        for _ in range(int(line)):
            t = time.perf_counter()
            run()
            times.append(time.perf_counter() - t)
        print(json.dumps({'seconds': times}), flush=True)


if __name__ == '__main__':
    main()

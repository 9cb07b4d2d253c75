"""GEMM floor probe for bench:nnet: times the exact GEMM sequence of one training step and of one
inference pass of the MLP input-(hidden x layers)-output through a BLAS's cblas_sgemm (ctypes; the
per-call overhead is microseconds against milliseconds of GEMM), and prints one JSON line with the
frames/s those GEMMs alone allow. A cross-check for the C-loop floor of issue 28 item 6 (c), and a
quick way to see which BLAS and kernel a process gets and whether both cores are really available.

  /usr/bin/python3 bench/blas_probe.py [--lib libblas.so.3] [--threads 0] [--processes 1] \\
      [--input 440 --hidden 1024 --layers 3 --output 2000 --batch 256 --infer-batch 1024 --seconds 3]

--lib      the library to dlopen; default libblas.so.3, which is what Debian's python3-torch links (the
           alternatives link picks OpenBLAS once libopenblas0-pthread is installed).
--threads  openblas_set_num_threads(N) when N > 0 (OpenBLAS only); 0 keeps OPENBLAS_NUM_THREADS/default.
--processes P > 1 runs P copies (--processes 1) whose timed phases start together; frames/s are summed.

Step sequence, with torch's layouts (W is [out, in]): forward Y = X W^T per layer; backward
dW = dY^T X per layer and dX = dY W for every layer but the first. Inference: the forward GEMMs at
--infer-batch rows. Elementwise work (bias, ReLU, softmax, optimizer) is not included: this is a floor.
Set the benchmark environment in the command, as for nnet_torch.py (env -u OPENBLAS_CORETYPE ...).
"""
import argparse
import ctypes
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nnet_torch import ENV_KEYS, RESULT, mapped_blas, openblas_info, run_children, timed_phase  # noqa: E402

ROW, NT, T = 101, 111, 112


def parse_args(argv):
    p = argparse.ArgumentParser(description='GEMM floor of the bench:nnet MLP through a BLAS (one JSON line)')
    p.add_argument('--lib', default='libblas.so.3')
    p.add_argument('--threads', type=int, default=0)
    for k, v in dict(input=440, hidden=1024, layers=3, output=2000, batch=256).items():
        p.add_argument('--' + k, type=int, default=v)
    p.add_argument('--infer-batch', type=int, default=1024)
    p.add_argument('--seconds', type=float, default=3.0)
    p.add_argument('--processes', type=int, default=1)
    p.add_argument('--barrier', action='store_true', help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_one(a):
    lib = ctypes.CDLL(a.lib)
    sgemm = lib.cblas_sgemm
    sgemm.restype = None
    fp = ctypes.POINTER(ctypes.c_float)
    sgemm.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, fp, ctypes.c_int, fp, ctypes.c_int, ctypes.c_float, fp,
                                            ctypes.c_int]
    if a.threads > 0 and hasattr(lib, 'openblas_set_num_threads'):
        lib.openblas_set_num_threads(a.threads)
    dims = [a.input] + [a.hidden] * a.layers + [a.output]
    rng = np.random.default_rng(0)

    def mat(r, c):
        return rng.standard_normal((r, c), dtype=np.float32) * 0.05

    def ptr(m):
        return m.ctypes.data_as(fp)

    def gemm(ta, tb, m, n, k, A, lda, B, ldb, C):  # C[m,n] = op(A) op(B), row-major
        sgemm(ROW, ta, tb, m, n, k, 1.0, ptr(A), lda, ptr(B), ldb, 0.0, ptr(C), n)

    W = [mat(dims[i + 1], dims[i]) for i in range(len(dims) - 1)]
    dW = [np.empty_like(w) for w in W]

    def buffers(b):
        acts = [mat(b, d) for d in dims]
        grads = [mat(b, d) for d in dims]
        return acts, grads

    def forward(acts, b):
        for i, w in enumerate(W):
            gemm(NT, T, b, dims[i + 1], dims[i], acts[i], dims[i], w, dims[i], acts[i + 1])

    tr_acts, tr_grads = buffers(a.batch)
    in_acts, _ = buffers(a.infer_batch)

    def train_step():
        forward(tr_acts, a.batch)
        for i in reversed(range(len(W))):
            o, n = dims[i + 1], dims[i]
            gemm(T, NT, o, n, a.batch, tr_grads[i + 1], o, tr_acts[i], n, dW[i])  # dW = dY^T X
            if i > 0:
                gemm(NT, NT, a.batch, n, o, tr_grads[i + 1], o, W[i], n, tr_grads[i])  # dX = dY W

    def infer_step():
        forward(in_acts, a.infer_batch)

    def timed(fn, phase):
        return timed_phase(fn, phase, a.seconds, 3, a.barrier)

    tn, tt = timed(train_step, 'train')
    inn, it = timed(infer_step, 'infer')
    fwd_flops = sum(2 * dims[i] * dims[i + 1] for i in range(len(W)))
    train_flops = a.batch * (3 * fwd_flops - 2 * dims[0] * dims[1])
    blas = mapped_blas()
    core, ob_threads, ob_config = openblas_info(blas)
    return {
        'lib': a.lib, 'blas': blas, 'openblasCoretype': core, 'openblasThreads': ob_threads,
        'openblasConfig': ob_config, 'processes': 1,
        'model': f'{a.input}-{a.hidden}x{a.layers}-{a.output}', 'batch': a.batch, 'inferBatch': a.infer_batch,
        'floorTrainFps': tn * a.batch / tt, 'floorInferFps': inn * a.infer_batch / it,
        'trainGflops': tn * train_flops / tt / 1e9, 'inferGflops': inn * a.infer_batch * fwd_flops / it / 1e9,
        'trainSteps': tn, 'inferSteps': inn,
        'env': {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
    }


def run_many(a, argv):
    per = run_children(__file__, argv, a.processes)
    out = dict(per[0])
    for key in ('floorTrainFps', 'floorInferFps', 'trainGflops', 'inferGflops', 'trainSteps', 'inferSteps'):
        out[key] = sum(r[key] for r in per)
    out['processes'] = a.processes
    out['perProcess'] = per
    return out


def main():
    argv = sys.argv[1:]
    a = parse_args(argv)
    res = run_many(a, argv) if a.processes > 1 else run_one(a)
    line = json.dumps(res)
    print(RESULT + line if a.barrier else line, flush=True)


if __name__ == '__main__':
    main()

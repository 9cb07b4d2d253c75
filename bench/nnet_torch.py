"""PyTorch CPU peer of bench/nnet.ts: the same MLP, batch, loss and optimizer, timed for a fixed
number of seconds. Prints ONE JSON line on stdout (everything else goes to stderr).

Model: input -> (hidden, ReLU) x layers -> output, float32, e.g. 440-1024x3-2000. Training step:
zero_grad (set_to_none), forward, cross-entropy on fixed random int labels, backward, optimizer step
(torch.optim.Adam lr 1e-3, or SGD lr 0.05 momentum 0.9 as src/nnet/optim.ts; foreach=True where the
installed torch supports it). Inference: forward + softmax on --infer-batch rows (default 1024) under
torch.inference_mode(), one element of the result read back. Inputs are random normal, seed 0. Each
phase is warmed up (--warmup steps) and then timed for --seconds.

Usage (Debian's python3-torch is installed for /usr/bin/python3, not for a pyenv python3):
  /usr/bin/python3 bench/nnet_torch.py --threads N --input 440 --hidden 1024 --layers 3 \\
      --output 2000 --batch 256 --seconds S [--infer-batch 1024] [--optimizer adam|sgd] \\
      [--processes P] [--pin] [--warmup 3] [--lr X] [--momentum 0.9]

  --threads N     torch.set_num_threads(N) when N > 0. N == 0 leaves torch's default: what a plain
                  user gets. Note that with BLAS_INFO=generic (Debian) torch does not pass its thread
                  count on to OpenBLAS: OpenBLAS takes OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS, else
                  all cores). The JSON reports both counts ("threads", "openblasThreads").
  --processes P   P > 1: run P copies of this script (same args, --processes 1) that each build and warm
                  up their model, then start every timed phase together (a barrier over the children's
                  stdin/stdout), and print one JSON line with the summed frames/s, "processes": P and
                  the per-process results in "perProcess".
  --pin           with --processes: pin child i to CPU i mod cpu_count (sched_setaffinity).

Peer configurations of issue 28 item 6 (the caller sets the environment, in the benchmark command only):
  (a) default, what `apt-get install python3-torch libopenblas0-pthread` gives:
        /usr/bin/python3 bench/nnet_torch.py --threads 0 ...
  (b) tuned, 1 process with 2 threads, and 2 processes with 1 thread each:
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
            MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_TOP_PAD_=268435456 \\
            /usr/bin/python3 bench/nnet_torch.py --threads 2 ...
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \\
            MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_TOP_PAD_=268435456 \\
            /usr/bin/python3 bench/nnet_torch.py --threads 1 --processes 2 ...
      OPENBLAS_NUM_THREADS=1 for single-thread processes; the glibc malloc settings keep the step's large
      temporaries out of mmap/munmap and page faults; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset so
      that OpenBLAS picks its own kernel for this CPU ("openblasCoretype" says which one ran).
      Caution for "1 process, 2 threads": torch's 2 OpenMP threads (libgomp) spin-wait between parallel
      regions while OpenBLAS's own 2 pthreads run the GEMMs, and on 2 cores --threads 2 then trains several
      times slower than --threads 1 (measured 2-7x). Add OMP_WAIT_POLICY=PASSIVE to that command, or use
      --threads 1 and let OpenBLAS keep its 2 threads (torch's default on a 2-vCPU VM is often 1 thread:
      "threads" reports what it was).

JSON fields: torch, threads (torch.get_num_threads()), processes, blas (realpaths of the BLAS shared
libraries mapped into the process, from /proc/self/maps: libopenblas*, libblas*, libmkl*, libblis*,
libflexiblas*), blasInfo (BLAS_INFO from torch.__config__.show()), openblasCoretype
(openblas_get_corename() of the mapped OpenBLAS, null if none), openblasThreads, openblasConfig,
trainFramesPerSec, inferFramesPerSec, trainSteps, inferSteps, trainSeconds, inferSeconds, model, batch,
inferBatch, optimizer, foreach, cpus, env (the BLAS/OpenMP/malloc variables this process saw).
"""
import argparse
import ctypes
import json
import os
import re
import subprocess
import sys
import time

READY = '@@nnet_torch ready '
RESULT = '@@nnet_torch result '
ENV_KEYS = ('OPENBLAS_NUM_THREADS', 'OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE', 'OPENBLAS_VERBOSE', 'OMP_NUM_THREADS', 'OMP_WAIT_POLICY',
            'MKL_NUM_THREADS', 'GOTO_NUM_THREADS', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_',
            'MALLOC_ARENA_MAX', 'LD_PRELOAD', 'LD_LIBRARY_PATH')
BLAS_NAME = re.compile(r'^lib(openblas|blas|mkl|blis|flexiblas)')


def parse_args(argv):
    p = argparse.ArgumentParser(description='PyTorch CPU peer of bench/nnet.ts (one JSON line on stdout)')
    p.add_argument('--threads', type=int, default=0, help='torch.set_num_threads(N) if N > 0; 0 = torch default')
    for k, v in dict(input=440, hidden=1024, layers=3, output=2000, batch=256).items():
        p.add_argument('--' + k, type=int, default=v)
    p.add_argument('--infer-batch', type=int, default=1024)
    p.add_argument('--seconds', type=float, default=3.0)
    p.add_argument('--warmup', type=int, default=3, help='untimed steps before each timed phase')
    p.add_argument('--optimizer', choices=('adam', 'sgd'), default='adam')
    p.add_argument('--lr', type=float, default=None, help='default 1e-3 for adam, 0.05 for sgd')
    p.add_argument('--momentum', type=float, default=0.9, help='SGD momentum')
    p.add_argument('--processes', type=int, default=1)
    p.add_argument('--pin', action='store_true', help='with --processes: pin child i to CPU i mod cpus')
    p.add_argument('--barrier', action='store_true', help=argparse.SUPPRESS)  # set by the parent in children
    a = p.parse_args(argv)
    if a.processes < 1 or a.layers < 0 or min(a.input, a.output, a.batch, a.infer_batch) < 1 or a.seconds <= 0:
        p.error('bad sizes or counts')
    if a.layers > 0 and a.hidden < 1:
        p.error('--hidden must be >= 1')
    return a


def mapped_blas(pattern=BLAS_NAME):
    """Realpaths of the libraries mapped into this process whose file name matches `pattern` (the
    BLAS libraries by default), in order of first appearance."""
    seen = []
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 6:
                    continue
                path = parts[5].strip()
                if not path.startswith('/') or not pattern.match(os.path.basename(path)):
                    continue
                real = os.path.realpath(path)
                if real not in seen:
                    seen.append(real)
    except OSError:
        pass
    return seen


def openblas_info(paths):
    """(corename, num_threads, config) of the OpenBLAS among the mapped libraries, else Nones.
    Opens the already mapped library (RTLD_NOLOAD), so it queries the instance torch uses."""
    for path in paths:
        lib = None
        for mode in (getattr(os, 'RTLD_NOLOAD', 0) | getattr(os, 'RTLD_NOW', 2), ctypes.DEFAULT_MODE):
            try:
                lib = ctypes.CDLL(path, mode=mode)
                break
            except OSError:
                continue
        if lib is None:
            continue
        try:
            corename = lib.openblas_get_corename
        except AttributeError:
            continue
        corename.restype = ctypes.c_char_p
        core = corename()
        threads = config = None
        try:
            threads = int(lib.openblas_get_num_threads())
        except AttributeError:
            pass
        try:
            f = lib.openblas_get_config
            f.restype = ctypes.c_char_p
            config = f().decode(errors='replace').strip()
        except AttributeError:
            pass
        return (core.decode(errors='replace').strip() if core else None), threads, config
    return None, None, None


def timed_phase(fn, phase, seconds, warmup, barrier):
    """Call fn `warmup` times, wait at the parent's barrier (children of run_children), then call
    it for `seconds`; returns (calls, seconds)."""
    for _ in range(max(warmup, 1)):
        fn()
    if barrier:
        sys.stdout.write(READY + phase + '\n')
        sys.stdout.flush()
        if sys.stdin.readline().strip() != 'go':
            raise SystemExit(f'{os.path.basename(sys.argv[0])} child: barrier aborted')
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        t = time.perf_counter() - t0
        if t >= seconds:
            return n, t


def run_children(script, argv, processes, pin=False):
    """`processes` copies of `script` with the same argv (--processes 1 --barrier instead of
    --processes/--pin), each warmed up, every timed phase ('train', then 'infer') released together;
    returns their result dicts. pin: child i on CPU i mod cpus."""
    name = os.path.basename(script)
    child_argv = []
    skip = False
    for tok in argv:  # drop --processes/--pin (either form), add --processes 1 --barrier
        if skip:
            skip = False
            continue
        if tok == '--processes':
            skip = True
            continue
        if tok.startswith('--processes=') or tok == '--pin':
            continue
        child_argv.append(tok)
    cmd = [sys.executable, os.path.abspath(script)] + child_argv + ['--processes', '1', '--barrier']
    cpus = os.cpu_count() or 1
    kids = []
    try:
        for i in range(processes):
            pre = (lambda c=i % cpus: os.sched_setaffinity(0, {c})) if pin else None
            kids.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                         bufsize=1, preexec_fn=pre))

        def read_marked(k, prefix):
            while True:
                line = k.stdout.readline()
                if not line:
                    raise SystemExit(f'{name}: child {k.pid} exited early (rc {k.wait()})')
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
                sys.stderr.write(line)

        for phase in ('train', 'infer'):
            for k in kids:
                got = read_marked(k, READY)
                if got != phase:
                    raise SystemExit(f'{name}: child {k.pid} at {got!r}, expected {phase!r}')
            for k in kids:  # all are warm and waiting: release them together
                k.stdin.write('go\n')
                k.stdin.flush()
        per = []
        for k in kids:
            per.append(json.loads(read_marked(k, RESULT)))
            k.stdin.close()
            if k.wait() != 0:
                raise SystemExit(f'{name}: child {k.pid} failed (rc {k.returncode})')
    finally:
        for k in kids:
            if k.poll() is None:
                k.kill()
                k.wait()
    return per


def run_one(a):
    """Build, warm up and time one model in this process; returns the result dict."""
    import inspect
    import torch

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    layers, d = [], a.input
    for _ in range(a.layers):
        layers += [torch.nn.Linear(d, a.hidden), torch.nn.ReLU()]
        d = a.hidden
    layers.append(torch.nn.Linear(d, a.output))
    model = torch.nn.Sequential(*layers)
    lr = a.lr if a.lr is not None else (1e-3 if a.optimizer == 'adam' else 0.05)
    cls = torch.optim.Adam if a.optimizer == 'adam' else torch.optim.SGD
    kw = dict(lr=lr) if a.optimizer == 'adam' else dict(lr=lr, momentum=a.momentum)
    foreach = 'foreach' in inspect.signature(cls.__init__).parameters
    if foreach:
        kw['foreach'] = True
    opt = cls(model.parameters(), **kw)
    x = torch.randn(a.batch, a.input)
    y = torch.randint(0, a.output, (a.batch,))
    xi = torch.randn(a.infer_batch, a.input)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    def infer_step():
        with torch.inference_mode():
            p = torch.softmax(model(xi), dim=1)
            float(p[0, 0])  # CPU ops are eager: p is complete; read it back anyway

    def timed(fn, phase):
        return timed_phase(fn, phase, a.seconds, a.warmup, a.barrier)

    tn, tt = timed(train_step, 'train')
    inn, it = timed(infer_step, 'infer')
    blas = mapped_blas()
    m = re.search(r'BLAS_INFO=([^,\s]+)', torch.__config__.show())
    core, ob_threads, ob_config = openblas_info(blas)
    return {
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'processes': 1,
        'blas': blas, 'blasInfo': m.group(1) if m else None,
        'openblasCoretype': core, 'openblasThreads': ob_threads, 'openblasConfig': ob_config,
        'trainFramesPerSec': tn * a.batch / tt, 'inferFramesPerSec': inn * a.infer_batch / it,
        'trainSteps': tn, 'inferSteps': inn, 'trainSeconds': tt, 'inferSeconds': it,
        'model': f'{a.input}-{a.hidden}x{a.layers}-{a.output}', 'batch': a.batch, 'inferBatch': a.infer_batch,
        'optimizer': a.optimizer, 'lr': lr, 'foreach': foreach, 'cpus': os.cpu_count(),
        'affinity': sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None,
        'env': {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
    }


def run_many(a, argv):
    """--processes P > 1: P children of this script, phases started together; returns the summed dict."""
    per = run_children(__file__, argv, a.processes, a.pin)
    cpus = os.cpu_count() or 1
    out = dict(per[0])
    for key in ('trainFramesPerSec', 'inferFramesPerSec', 'trainSteps', 'inferSteps'):
        out[key] = sum(r[key] for r in per)
    out['trainSeconds'] = max(r['trainSeconds'] for r in per)
    out['inferSeconds'] = max(r['inferSeconds'] for r in per)
    out['processes'] = a.processes
    out['pinned'] = bool(a.pin)
    out['affinity'] = None
    out['perProcess'] = per
    busy = sum(max(r['threads'], r['openblasThreads'] or 1) for r in per)
    if busy > cpus:
        sys.stderr.write(f'nnet_torch: warning: {a.processes} processes x up to {busy // a.processes} threads on {cpus} '
                         'CPUs (oversubscribed; set OPENBLAS_NUM_THREADS=1 for single-thread processes)\n')
    return out


def main():
    argv = sys.argv[1:]
    a = parse_args(argv)
    if a.processes > 1:
        res = run_many(a, argv)
    else:
        res = run_one(a)
    if a.barrier:
        sys.stdout.write(RESULT + json.dumps(res) + '\n')
    else:
        print(json.dumps(res))
    sys.stdout.flush()


if __name__ == '__main__':
    main()

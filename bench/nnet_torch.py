"""PyTorch CPU reference for bench/nnet.ts: the same MLP, batch, loss and optimizer (Adam),
timed for a fixed number of seconds. Prints one JSON line. Usage:
  python3 bench/nnet_torch.py --threads 1 --input 440 --hidden 1024 --layers 3 --output 2000 --batch 256 --seconds 3
"""
import argparse, json, time
import torch

p = argparse.ArgumentParser()
for k, v in dict(threads=1, input=440, hidden=1024, layers=3, output=2000, batch=256).items():
    p.add_argument('--' + k, type=int, default=v)
p.add_argument('--seconds', type=float, default=3.0)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
layers, d = [], a.input
for _ in range(a.layers):
    layers += [torch.nn.Linear(d, a.hidden), torch.nn.ReLU()]
    d = a.hidden
layers.append(torch.nn.Linear(d, a.output))
model = torch.nn.Sequential(*layers)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.randn(a.batch, a.input)
y = torch.randint(0, a.output, (a.batch,))
loss_fn = torch.nn.CrossEntropyLoss()

def train_step():
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()

def timed(fn):
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < a.seconds:
        fn()
        n += 1
    return n * a.batch / (time.perf_counter() - t0)

train_fps = timed(train_step)
with torch.no_grad():
    infer_fps = timed(lambda: model(x).sum().item())
print(json.dumps({'torch': torch.__version__, 'threads': a.threads, 'trainFramesPerSec': train_fps, 'inferFramesPerSec': infer_fps}))

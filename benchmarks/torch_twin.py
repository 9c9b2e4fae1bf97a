"""The PyTorch twin of the training step, for the throughput benchmark's comparison: the same architecture
(layer shapes, initialisers, batch norm), the same loss and the same Adam, timed in steady state.

    PYTHON_WITH_TORCH -m benchmarks.torch_twin --architecture burgess --img_shape 64,64,1 --filters 32,32,64,64 ...

It imports nothing of the project's (it runs in an interpreter that has PyTorch and no TensorFlow) and prints
one JSON line: the images per second, the median step seconds and the window of steps they come from.
`benchmarks.throughput` installs PyTorch on demand in a virtualenv of its own and runs this there.
"""
import argparse
import json
import os
import statistics
import time

import torch
from torch import nn


def conv_same(in_channels, out_channels, kernel, stride):
    """TensorFlow's SAME padding for an even stride-2 kernel (4x4): PyTorch's padding 1 gives the same size."""
    return nn.Conv2d(in_channels, out_channels, kernel, stride, padding=(kernel - stride + 1) // 2)


def deconv_same(in_channels, out_channels, kernel, stride):
    """A transposed conv whose output is `stride` times its input, as TensorFlow's SAME conv2d_transpose."""
    padding = (kernel - stride + 1) // 2
    output_padding = stride + 2 * padding - kernel
    return nn.ConvTranspose2d(in_channels, out_channels, kernel, stride, padding=padding,
                              output_padding=output_padding)


def init_like_the_project(module):
    """He normal on the encoder convs, Glorot uniform on transposed convs and dense layers, zero biases."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity='relu')
        elif isinstance(layer, (nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.zeros_(layer.bias)


class Original(nn.Module):
    """The original CelebA net: 5x5 stride-2 VALID convs + BN + ReLU, BN'd dense heads; its mirror decoder."""

    def __init__(self, img_shape, filters, latent_dim, momentum, epsilon):
        super(Original, self).__init__()
        height, width, channels = img_shape
        bn = dict(momentum=1.0 - momentum, eps=epsilon)
        layers, size_h, size_w, previous = [], height, width, channels
        for count in filters:
            layers += [nn.Conv2d(previous, count, 5, 2), nn.BatchNorm2d(count, **bn), nn.ReLU()]
            size_h, size_w, previous = (size_h - 5) // 2 + 1, (size_w - 5) // 2 + 1, count
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        flat = size_h * size_w * previous
        self.z_mean = nn.Sequential(nn.Linear(flat, latent_dim), nn.BatchNorm1d(latent_dim, **bn))
        self.z_logvar = nn.Sequential(nn.Linear(flat, latent_dim), nn.BatchNorm1d(latent_dim, **bn))
        self.start = (filters[-1], height // 2 ** len(filters), width // 2 ** len(filters))
        units = self.start[0] * self.start[1] * self.start[2]
        self.dense = nn.Sequential(nn.Linear(latent_dim, units), nn.BatchNorm1d(units, **bn))
        layers, previous = [], filters[-1]
        for count in reversed(filters):
            layers += [deconv_same(previous, count, 5, 2), nn.BatchNorm2d(count, **bn), nn.ReLU()]
            previous = count
        self.decoder = nn.Sequential(*layers, deconv_same(previous, channels, 5, 1))

    def encode(self, x):
        h = self.encoder(x)
        return self.z_mean(h), self.z_logvar(h)

    def decode(self, z):
        return self.decoder(self.dense(z).view(-1, *self.start))


class Burgess(nn.Module):
    """Burgess et al. 2018: 4x4 stride-2 convs, dense layers, one head for mean and log-variance; its mirror."""

    def __init__(self, img_shape, filters, hidden_units, latent_dim):
        super(Burgess, self).__init__()
        height, width, channels = img_shape
        layers, previous = [], channels
        for count in filters:
            layers += [conv_same(previous, count, 4, 2), nn.ReLU()]
            previous = count
        self.start = (filters[-1], height // 2 ** len(filters), width // 2 ** len(filters))
        previous = self.start[0] * self.start[1] * self.start[2]
        layers.append(nn.Flatten())
        for units in hidden_units:
            layers += [nn.Linear(previous, units), nn.ReLU()]
            previous = units
        self.encoder = nn.Sequential(*layers, nn.Linear(previous, 2 * latent_dim))
        layers, previous = [], latent_dim
        for units in reversed(hidden_units):
            layers += [nn.Linear(previous, units), nn.ReLU()]
            previous = units
        layers += [nn.Linear(previous, self.start[0] * self.start[1] * self.start[2]), nn.ReLU()]
        self.dense = nn.Sequential(*layers)
        layers, previous = [], filters[-1]
        for count in reversed(filters[:-1]):
            layers += [deconv_same(previous, count, 4, 2), nn.ReLU()]
            previous = count
        self.decoder = nn.Sequential(*layers, deconv_same(previous, channels, 4, 2))

    def encode(self, x):
        return self.encoder(x).chunk(2, dim=1)

    def decode(self, z):
        return self.decoder(self.dense(z).view(-1, *self.start))


def loss_of(net, images, likelihood, kl_weight):
    """The project's beta loss per pixel: mean pixel error + kl_weight / 32 * mean KL over dims."""
    z_mean, z_logvar = net.encode(images)
    z = z_mean + torch.exp(0.5 * z_logvar) * torch.randn_like(z_mean)
    logits = net.decode(z).float()
    if likelihood == 'bernoulli':
        pixels = nn.functional.binary_cross_entropy_with_logits(logits, images, reduction='none')
    else:
        pixels = (images - torch.sigmoid(logits)) ** 2
    kl = 0.5 * (z_mean.float() ** 2 + torch.exp(z_logvar.float()) - z_logvar.float() - 1.0)
    return (pixels.mean(dim=(1, 2, 3)) + kl_weight / 32.0 * kl.mean(dim=1)).mean()


def steady_rate(step, batch_size, warmup, steps):
    """(images/s, median step seconds) over `steps` timed steps after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return batch_size / median, median


def profiled_ops(step, steps):
    """{op name: its own CPU milliseconds per step} over `steps` steps under PyTorch's profiler: the time in
    each op itself, its callees' excluded, so that the ops' times add up to the step's."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            step()
    return dict((event.key, event.self_cpu_time_total / 1000.0 / steps) for event in profiler.key_averages()
                if event.self_cpu_time_total > 0)


def parse(argv=None):
    ints = lambda text: [int(v) for v in text.split(',') if v]   # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--architecture', choices=['original', 'burgess'], required=True)
    parser.add_argument('--img_shape', type=ints, required=True)
    parser.add_argument('--filters', type=ints, required=True)
    parser.add_argument('--hidden_units', type=ints, default=[])
    parser.add_argument('--latent_dim', type=int, required=True)
    parser.add_argument('--batch_size', type=int, required=True)
    parser.add_argument('--likelihood', choices=['gaussian', 'bernoulli'], required=True)
    parser.add_argument('--kl_weight', type=float, required=True)
    parser.add_argument('--learning_rate', type=float, required=True)
    parser.add_argument('--beta1', type=float, required=True)
    parser.add_argument('--beta2', type=float, required=True)
    parser.add_argument('--momentum', type=float, default=0.99)
    parser.add_argument('--epsilon', type=float, default=1e-5)
    parser.add_argument('--precision', choices=['float32', 'bfloat16'], default='float32')
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--steps', type=int, default=50)
    parser.add_argument('--profile', type=int, default=0, help='then this many steps under the profiler')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    torch.manual_seed(0)
    # as hardware.usable_cores, which this interpreter (PyTorch's own) does not import
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1)
    if args.architecture == 'original':
        net = Original(args.img_shape, args.filters, args.latent_dim, args.momentum, args.epsilon)
    else:
        net = Burgess(args.img_shape, args.filters, args.hidden_units, args.latent_dim)
    init_like_the_project(net)
    net = net.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=args.learning_rate, betas=(args.beta1, args.beta2))
    height, width, channels = args.img_shape
    images = torch.rand(args.batch_size, channels, height, width).contiguous(memory_format=torch.channels_last)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=args.precision == 'bfloat16'):
            loss = loss_of(net, images, args.likelihood, args.kl_weight)
        loss.backward()
        optimizer.step()

    rate, median = steady_rate(step, args.batch_size, args.warmup, args.steps)
    report = {'images_per_s': rate, 'median_step_seconds': median, 'warmup_steps': args.warmup,
              'timed_steps': args.steps, 'torch': torch.__version__, 'threads': torch.get_num_threads(),
              'parameters': sum(p.numel() for p in net.parameters())}
    if args.profile:
        report['ops_ms'] = profiled_ops(step, args.profile)
    print(json.dumps(report))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())

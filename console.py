"""What the training loop says and hears: its start-up lines, its status line, and stop signals."""
import signal
import sys
import time

import hardware


def describe_data(dataset, split, num_images):
    """The start-up line that names the dataset read and its images."""
    if split is None:
        return '{}: {} images'.format(dataset, num_images)
    text = '{}: {} training, {} held-out images{}'.format(
        dataset, len(split.train), len(split.holdout), ' (also trained on: train_images all)' if split.holdout_seen
        else '')
    if split.skipped:
        examples = ', '.join('{} ({})'.format(name, why) for name, why in split.skipped[:3])
        text += '; skipped {} unusable files: {}{}'.format(
            len(split.skipped), examples, ', ...' if len(split.skipped) > 3 else '')
    return text


def bfloat16_hint(device):
    """For a float32 run on a CPU that computes bfloat16 natively: the line that says how much faster
    --precision bfloat16 trains there. None on a GPU, or where bfloat16 would be emulated."""
    native = hardware.native_bfloat16(hardware.cpu()[1], hardware.tensorflow_version())
    if device is not None or native is None:
        return None
    return ('hint: this CPU computes bfloat16 natively ({}): --precision bfloat16 trains faster here, with the loss '
            'within float32\'s noise (docs/results/performance.md gives the speed-ups measured)'.format(native))


def describe_precision(precision, device):
    text = 'precision: {} convolutions and matmuls; float32 weights, losses and updates'.format(precision)
    if precision == 'float16':
        text += ', dynamic loss scaling'
        if device is None:
            text += ' (no GPU: CPUs emulate float16 slowly; bfloat16 is the fast choice on a CPU)'
    elif device is None and not hardware.fast_cpu_bfloat16():
        text += (' (slow here: fast CPU bfloat16 needs TensorFlow >= 2.9 and a CPU with AVX-512 BF16 or AMX; '
                 'older TensorFlow emulates it, far slower than float32)')
    return text


class Progress(object):
    """One status line: step, losses, images/s and ETA; redrawn in place on a terminal."""

    def __init__(self, start_step, max_steps, batch_size):
        self.start_step, self.max_steps, self.batch_size = start_step, max_steps, batch_size
        self.stream = sys.stdout
        self.started = time.time()
        self.last_draw = 0.0
        self.interactive = self.stream.isatty()

    def update(self, step, total, reconstruction, kl, force=False):
        now = time.time()
        if not force and now - self.last_draw < (0.5 if self.interactive else 30.0):
            return
        self.last_draw = now
        rate = (step - self.start_step) * self.batch_size / max(now - self.started, 1e-9)
        eta = (self.max_steps - step) * self.batch_size / rate if rate > 0 else 0.0
        line = 'step {}/{} | loss {:.5f} (rec {:.5f}, kl {:.4f}) | {:.1f} img/s | ETA {}'.format(
            step, self.max_steps, total, reconstruction, kl, rate, time.strftime('%H:%M:%S', time.gmtime(eta)))
        self.stream.write(('\r' + line) if self.interactive else (line + '\n'))
        self.stream.flush()

    def close(self):
        if self.interactive:
            self.stream.write('\n')


class StopSignals(object):
    """SIGINT and SIGTERM ask a long-running command to stop in order: `received` says which came first.
    Installed even where the shell started the process with SIGINT ignored (a background job).

    For the training loop (abort_on_second), which checkpoints and stops after the current step, a
    second signal aborts at once (KeyboardInterrupt), losing only the steps since the last checkpoint.
    Otherwise (the explorer's bounded stop) a second signal is noted and changes nothing, where the
    default handler would kill the process mid-way.
    """

    def __init__(self, abort_on_second=True):
        self.received = None
        self.abort_on_second = abort_on_second
        self._previous = {}

    def install(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc_info):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def ignore_from_now(self):
        """From here to the process's exit SIGINT and SIGTERM change nothing. Python's exit puts back the
        default handlers, which kill, in place of any handler of its own, but leaves an ignored signal ignored."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)

    def _handle(self, signum, frame):
        if self.received is not None:
            if self.abort_on_second:
                raise KeyboardInterrupt
            return
        self.received = signum
        if not self.abort_on_second:
            return
        sys.stderr.write('\n{} received: saving a checkpoint after this step (send it again to abort)\n'.format(
            signal.Signals(signum).name))
        sys.stderr.flush()


def describe_labels(cfg, labelled):
    """The start-up line of an objective that reads labels: the labelled set and what its labels hold."""
    return 'labelled set: {} images (label_seed {}), {} labels of {}'.format(
        len(labelled.labels), cfg.label_seed, cfg.labeller, ', '.join(
            '{} ({} values)'.format(name, size) for name, size in zip(labelled.names, labelled.sizes)))

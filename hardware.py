"""The machine as TensorFlow sees it: a quiet import, the training device, fast bfloat16, session threads;
and the record of the machine and commit that every result file carries.

Import TensorFlow through `import_tensorflow()` first thing in an entry point: TensorFlow 2.x writes
its start-up chatter to the process's stderr before its own log settings apply, so it can only be
kept out by filtering the file descriptor while it starts.
"""
import contextlib
import ctypes
import os
import platform
import re
import sys
import tempfile

# Lines TensorFlow 2.x writes at every start on a machine without a GPU; anything else is kept.
STARTUP_CHATTER = re.compile(
    r'WARNING: All log messages before absl::InitializeLog\(\) is called'
    r'|\] oneDNN custom operations are on'
    r'|\] Could not find cuda drivers on your machine'
    r'|cuda_platform\.cc:\d+\] failed call to cuInit'
    r'|\] This TensorFlow binary is optimized to use available CPU instructions'
    r'|^To enable the following instructions: .* in other operations, rebuild TensorFlow')


@contextlib.contextmanager
def stderr_without_chatter():
    """Captures file descriptor 2 (C++ writes too) for the block, then writes back every line that is
    not STARTUP_CHATTER, so real errors and warnings still show."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode('utf-8', 'replace').splitlines(True)
                    if not STARTUP_CHATTER.search(line)]
            sys.stderr.write(''.join(kept))
            sys.stderr.flush()


# glibc's mallopt parameters (malloc.h) and the values keep_freed_memory sets.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -2, -3, -8
MMAP_THRESHOLD = 32 << 20      # bytes: glibc's largest; a dSprites step's tensors stay below it
TRIM_THRESHOLD = 1 << 30       # bytes of free heap kept before any is given back
TOP_PAD = 256 << 20            # bytes the heap grows by at once


def keep_freed_memory():
    """Has glibc keep the memory TensorFlow frees each step, instead of handing it back to the kernel.

    By default, glibc maps each big tensor's buffer afresh and unmaps it when freed, so every step
    faults its working set back in, page by page; on a VM whose kernel also pages cold memory out,
    that was most of a dSprites step's time (README, Performance). A no-op without glibc, or with
    GLIBC_MALLOC_DEFAULTS=1 in the environment (benchmarks/page_faults.py compares the two).
    """
    if os.environ.get('GLIBC_MALLOC_DEFAULTS') == '1':
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(option, value) == 1 for option, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD),
        (M_ARENA_MAX, 1)))


# Importing TensorFlow 2.x imports Keras, and Keras imports scikit-learn when it is installed (as it is, for
# the metrics): about 3 of the 6.5 s of every command's start here, for libraries the graph code never
# uses. They are hidden while TensorFlow loads (it goes on without them) and importable again after.
HIDDEN_WHILE_IMPORTING = ('keras', 'sklearn')


@contextlib.contextmanager
def hidden_modules(names):
    """Makes `import NAME` fail inside the block for each NAME not imported yet."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def import_tensorflow():
    """tensorflow.compat.v1 in graph mode, imported and its devices probed without start-up chatter."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')   # TensorFlow's own info and warning lines
    keep_freed_memory()
    with stderr_without_chatter(), hidden_modules(HIDDEN_WHILE_IMPORTING):
        import tensorflow.compat.v1 as tf
        tf.logging.set_verbosity(tf.logging.ERROR)       # e.g. disable_v2_behavior's deprecation notes
        tf.disable_v2_behavior()
        tf.config.experimental.list_physical_devices('GPU')   # the CUDA probe runs once, in here
    return tf


def training_device():
    """'/gpu:0' when TensorFlow sees a GPU, else None (the batches stay on the host)."""
    import tensorflow.compat.v1 as tf
    return '/gpu:0' if tf.config.experimental.list_physical_devices('GPU') else None


# CPU flags of instructions that compute bfloat16 natively, best first, with their names
# (docs/results/performance.md measures what each gives).
NATIVE_BFLOAT16 = (('amx_bf16', 'AMX'), ('avx512_bf16', 'AVX-512 BF16'))


def native_bfloat16(flags, tensorflow_version):
    """The name of the fastest native bfloat16 instruction set that oneDNN uses with these CPU flags and
    this TensorFlow (2.9 or newer); None where bfloat16 would be emulated."""
    major, minor = (int(part) for part in (tensorflow_version or '0.0').split('.')[:2])
    if (major, minor) < (2, 9):
        return None
    return next((name for flag, name in NATIVE_BFLOAT16 if flag in flags), None)


def fast_cpu_bfloat16():
    """Whether oneDNN's bfloat16 kernels can run here: TensorFlow >= 2.9 on a CPU with BF16 instructions."""
    return native_bfloat16(cpu()[1], tensorflow_version()) is not None


def core_ids():
    """The CPU ids this process may run on (its affinity: taskset, Slurm's task binding, a container's
    cpuset), or None where the system has no CPU affinity."""
    return os.sched_getaffinity(0) if hasattr(os, 'sched_getaffinity') else None


def usable_cores():
    """How many cores this process may run on: threads beyond them only take turns."""
    ids = core_ids()
    return len(ids) if ids else os.cpu_count() or 1


def session_config(xla_jit=False):
    """Session options: one op thread per usable core, GPU memory on demand; optionally XLA JIT of the graph."""
    import tensorflow.compat.v1 as tf
    cores = usable_cores()
    proto = tf.ConfigProto(allow_soft_placement=True, intra_op_parallelism_threads=cores,
                           inter_op_parallelism_threads=cores)
    proto.gpu_options.allow_growth = True
    if xla_jit:
        # On CPU TensorFlow clusters ops for XLA only with this flag; read when the session starts.
        os.environ['TF_XLA_FLAGS'] = (os.environ.get('TF_XLA_FLAGS', '') + ' --tf_xla_cpu_global_jit').strip()
        proto.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    return proto


# ---- the CPU and TensorFlow, as read without running them ----

# CPU flags that decide which kernels TensorFlow runs, recorded with every result (provenance.py).
CPU_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512_bf16', 'avx512_vnni', 'amx_bf16', 'amx_tile')


def cpu():
    """(model name, [flags of CPU_FLAGS it has]) from /proc/cpuinfo; the platform's words elsewhere."""
    try:
        with open('/proc/cpuinfo') as f:
            info = f.read()
    except OSError:
        return platform.processor() or platform.machine(), []
    fields = dict(line.split(':', 1) for line in info.splitlines() if ':' in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    name = fields.get('model name') or fields.get('Model') or platform.machine()
    flags = set(fields.get('flags', fields.get('Features', '')).split())
    return name, [flag for flag in CPU_FLAGS if flag in flags]


def tensorflow_version():
    """The installed TensorFlow's version, without importing it where it is not imported yet."""
    if 'tensorflow' in sys.modules:
        return sys.modules['tensorflow'].__version__
    try:
        from importlib import metadata
    except ImportError:   # Python 3.7
        import pkg_resources
        try:
            return pkg_resources.get_distribution('tensorflow').version
        except pkg_resources.DistributionNotFound:
            return None
    try:
        return metadata.version('tensorflow')
    except metadata.PackageNotFoundError:
        return None

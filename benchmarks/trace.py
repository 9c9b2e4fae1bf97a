"""Where a training step's time goes: TensorFlow's own trace of steps of the bare graph (the training op on
a constant batch) and of the project's loop graph (the real input pipeline, fetched as --train fetches an
ordinary step), for the CelebA and the dSprites model; the ops the loop runs that the bare graph does
not, with their time; and the bare graph's op families (convolutions, batch norm, casts) beside the PyTorch
twin's, from its own profiler, which shows whether a gap between the two lies in the kernels or around them.

    python -m benchmarks.trace [--precision float32] [--warmup 3] [--steps 3] [--json results/trace.json]
                               [--torch_python PATH | --no_torch]

Also writes each graph's last traced step as a Chrome trace, results/trace_{dataset}_{bare,loop}.json, for
chrome://tracing or Perfetto. Op times are TensorFlow's own (RunMetadata step stats): on a CPU the ops of
one step overlap on the cores, so their sum exceeds the step's wall time.
"""
import argparse
import collections
import os
import re
import shutil
import sys
import tempfile

from hardware import import_tensorflow

tf = import_tensorflow()

import numpy as np  # noqa: E402
from tensorflow.python.client import timeline  # noqa: E402

import data  # noqa: E402
import hardware  # noqa: E402
import objectives  # noqa: E402
import settings  # noqa: E402
import training  # noqa: E402
import vae  # noqa: E402
from benchmarks import harness, throughput  # noqa: E402
from kit.graphs import random_images, training_batch  # noqa: E402

OP_TYPE = re.compile(r' = (\w+)\(')     # a node's timeline label: "name = OpType(inputs)"


def traced_steps(sess, fetches, warmup, steps):
    """[(step wall ms, {node: (op type, ms)})] of `steps` traced runs of `fetches` after `warmup` plain ones,
    and the last run's Chrome trace."""
    for _ in range(warmup):
        sess.run(fetches)
    options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
    traced = []
    for _ in range(steps):
        metadata = tf.RunMetadata()
        sess.run(fetches, options=options, run_metadata=metadata)
        nodes, starts, ends = {}, [], []
        for device in metadata.step_stats.dev_stats:
            for node in device.node_stats:
                kind = OP_TYPE.search(node.timeline_label)
                milliseconds = node.all_end_rel_micros / 1000.0
                previous = nodes.get(node.node_name, (None, 0.0))[1]
                nodes[node.node_name] = (kind.group(1) if kind else node.node_name, previous + milliseconds)
                starts.append(node.all_start_micros)
                ends.append(node.all_start_micros + node.all_end_rel_micros)
        traced.append(((max(ends) - min(starts)) / 1000.0, nodes))
    return traced, timeline.Timeline(metadata.step_stats).generate_chrome_trace_format()


def bare_graph(cfg, num_images):
    """A session of the training op alone on a constant batch, and that op."""
    graph = tf.Graph()
    with graph.as_default():
        step = training.build_training(training_batch(cfg, random_images(cfg), count=num_images), cfg)
        sess = tf.Session(graph=graph, config=hardware.session_config(cfg.xla_jit))
        sess.run(tf.global_variables_initializer())
    return sess, step.train_op


def loop_graph(cfg):
    """A session of the graph --train builds and what it fetches on an ordinary step (no summary, no
    snapshot, not the first)."""
    graph = tf.Graph()
    with graph.as_default():
        inputs = data.training_input(cfg, objectives.get(cfg.objective).reads)
        built = vae.build_training_graph(cfg, inputs)
        sess = tf.Session(graph=graph, config=hardware.session_config(cfg.xla_jit))
        sess.run(tf.global_variables_initializer())
    ordinary = next(step for step in range(1, 10 ** 6) if (step + 1) % cfg.summary_freq
                    and (step + 1) % cfg.image_snapshot_freq)
    return sess, vae.step_fetches(built, cfg, ordinary, 10 ** 9), inputs.count


def op_family(name):
    """The family of a TensorFlow op type or a PyTorch op name, the same for both frameworks' spellings."""
    plain = name.lower().replace('_', '')
    if 'conv' in plain:
        return 'convolutions, backward' if 'backprop' in plain or 'backward' in plain else 'convolutions, forward'
    if 'batchnorm' in plain:
        return 'batch norm'
    if plain in ('cast', 'aten::tocopy', 'aten::copy'):
        return 'casts and copies'
    return 'everything else'


FAMILIES = ('convolutions, forward', 'convolutions, backward', 'batch norm', 'casts and copies', 'everything else')


def family_ms(op_ms):
    """{family: ms per step} of [(op type or name, ms per step)]."""
    totals = dict((family, 0.0) for family in FAMILIES)
    for name, ms in op_ms:
        totals[op_family(name)] += ms
    return totals


def family_rows(name, bare, twin):
    """Table rows: each family's ms per step and share of all op time, in the bare graph and in PyTorch's twin;
    then each framework's median step."""
    ours = family_ms(bare['ops_ms'].values())
    theirs = family_ms(twin['ops_ms'].items())
    rows = [[name, family, '{:.1f}'.format(ours[family]), '{:.1%}'.format(ours[family] / sum(ours.values())),
             '{:.1f}'.format(theirs[family]), '{:.1%}'.format(theirs[family] / sum(theirs.values()))]
            for family in FAMILIES]
    return rows + [[name, 'the step (wall)', '{:.1f}'.format(bare['step_ms']), '',
                    '{:.1f}'.format(1000.0 * twin['median_step_seconds']), '']]


def profile(name, cfg, args):
    """Both graphs of one model: their step times and op sums, and the loop's extra ops."""
    loop_sess, loop_fetches, num_images = loop_graph(cfg)
    bare_sess, bare_fetches = bare_graph(cfg, num_images)
    result = {}
    for graph_name, sess, fetches in (('bare', bare_sess, bare_fetches), ('loop', loop_sess, loop_fetches)):
        with sess:
            traced, chrome = traced_steps(sess, fetches, args.warmup, args.steps)
        with open(os.path.join(os.path.dirname(args.json) or '.', 'trace_{}_{}.json'.format(name, graph_name)),
                  'w') as f:
            f.write(chrome)
        node_ms = collections.defaultdict(list)
        for _, nodes in traced:
            for node, (kind, ms) in nodes.items():
                node_ms[(node, kind)].append(ms)
        result[graph_name] = {'step_ms': float(np.median([wall for wall, _ in traced])),
                              'ops_ms': {node: (kind, float(np.median(ms))) for (node, kind), ms in node_ms.items()}}
    bare_ops = set(result['bare']['ops_ms'])
    extra = sorted(((node, kind, ms) for node, (kind, ms) in result['loop']['ops_ms'].items() if node not in bare_ops),
                   key=lambda item: -item[2])
    return result, extra


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--precision', default='float32')
    parser.add_argument('--warmup', type=int, default=3, help='untraced steps first')
    parser.add_argument('--steps', type=int, default=3, help='traced steps; the median is reported')
    parser.add_argument('--top', type=int, default=10, help='the loop\'s extra ops listed per model')
    parser.add_argument('--json', default=harness.default_path('trace'))
    parser.add_argument('--torch_python', help='an interpreter with PyTorch (default: .torch-venv/, made on demand)')
    parser.add_argument('--no_torch', action='store_true', help='leave out the PyTorch comparison')
    args = parser.parse_args(argv)
    torch = None if args.no_torch else throughput.torch_python(args.torch_python)
    os.makedirs(os.path.dirname(args.json) or '.', exist_ok=True)
    work = tempfile.mkdtemp(prefix='beta_vae_trace_')
    summary = {'columns': ['model', 'graph', 'step ms (median)', 'sum of op ms', 'ops'], 'rows': []}
    extras = {'columns': ['model', 'op only in the loop', 'type', 'ms per step'], 'rows': []}
    frameworks = {'columns': ['model', 'op family', 'TensorFlow ms', 'TensorFlow share', 'PyTorch ms',
                              'PyTorch share'], 'rows': []}
    try:
        folder = os.path.join(work, 'img_align_celeba')
        harness.write_celeba_folder(folder, 256)
        for name, overrides in (('celeba', [('data_dir_path', folder), ('holdout_percent', '10')]), ('dsprites', [])):
            cfg = settings.resolve(name, overrides + [('precision', args.precision)] + [
                (key, os.path.join(work, name, key)) for key in ('checkpoint_dir', 'results_dir', 'summary_dir')])
            os.makedirs(cfg.checkpoint_dir)
            result, extra = profile(name, cfg, args)
            for graph_name in ('bare', 'loop'):
                ops = result[graph_name]['ops_ms']
                summary['rows'].append([name, graph_name, '{:.1f}'.format(result[graph_name]['step_ms']),
                                        '{:.1f}'.format(sum(ms for _, ms in ops.values())), len(ops)])
            extras['rows'] += [[name, node, kind, '{:.2f}'.format(ms)] for node, kind, ms in extra[:args.top]]
            if torch:
                twin = throughput.run_twin(cfg, torch, args.warmup, args.steps, '--profile', str(args.steps))
                frameworks['rows'] += family_rows(name, result['bare'], twin)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tables = {'steps': summary, 'extra_ops': extras}
    if torch:
        tables['frameworks'] = frameworks
    for table in tables.values():
        print('\n'.join(' | '.join(str(cell) for cell in row) for row in [table['columns']] + table['rows']) + '\n')
    harness.write_result({'precision': args.precision, 'tables': tables}, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""A run's event files as TensorBoard itself reads them: its own loader, not the project's reader."""
import glob
import os

from tensorboard.backend.event_processing import event_accumulator

import vae
from conftest import TINY_DSPRITES
from kit.runs import folder_flags

TINY = TINY_DSPRITES + ['--summary_freq', '5', '--image_snapshot_freq', '10']


def tensorboard_view(summary_dir):
    """What TensorBoard shows of a run: every event kept, killed runs' leftovers purged."""
    accumulator = event_accumulator.EventAccumulator(summary_dir, size_guidance={
        event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0, event_accumulator.IMAGES: 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_shows_every_tag_at_every_step_once_across_a_resume(tmp_path):
    dirs = folder_flags(tmp_path)
    # checkpoint_every 0 saves after every step; the last 3 are kept.
    assert vae.main(['--train', '--steps', '20', '--checkpoint_every', '0', '--objective', 'capacity']
                    + TINY + dirs) == 0
    # Killed after step 20's summaries were written but before its checkpoint was complete:
    for path in glob.glob(str(tmp_path / 'ck' / 'model.ckpt-20.*')):
        os.remove(path)
    assert vae.main(['--train', '--steps', '30', '--objective', 'capacity'] + TINY + dirs) == 0

    view = tensorboard_view(str(tmp_path / 'sum'))
    tags = view.Tags()
    scalars = {'loss/total', 'loss/reconstruction', 'loss/kl', 'loss/capacity'}
    scalars |= {'kl_per_dim/{:02d}'.format(d) for d in range(10)}
    assert set(tags['scalars']) == scalars
    assert set(tags['histograms']) == {'z_mean', 'z_logvar'}
    assert {tag.split('/')[0] for tag in tags['images']} == {'reals', 'reconstructions', 'fakes'}
    for tag in scalars:
        assert [event.step for event in view.Scalars(tag)] == [5, 10, 15, 20, 25, 30], tag
    assert [event.step for event in view.Histograms('z_mean')] == [5, 10, 15, 20, 25, 30]
    # Snapshots every 10 steps and at the end of each run: step 20 twice, once from each run, kept once.
    assert [event.step for event in view.Images('fakes/image/0')] == [10, 20, 30]

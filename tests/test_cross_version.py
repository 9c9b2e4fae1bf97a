"""A checkpoint written by this TensorFlow restores under the other stack's and decodes the same images.

Runs when OTHER_PYTHON names the other stack's interpreter (.ci/run sets it); skipped otherwise.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import vae
from conftest import ROOT

OTHER_PYTHON = os.environ.get('OTHER_PYTHON')

DECODE = '''
import sys
import numpy as np
sys.path.insert(0, {root!r})
import inference, settings
cfg = settings.resolve('celeba', [('checkpoint_dir', {ck!r})])
z = np.random.RandomState(7).standard_normal((6, 3))
np.save({out!r}, inference.Restored(cfg).decode(z))
'''


def decode_with(python, ck, out):
    script = DECODE.format(root=ROOT, ck=ck, out=out)
    result = subprocess.run([python, '-c', script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return np.load(out)


@pytest.mark.skipif(not OTHER_PYTHON, reason='set OTHER_PYTHON to the other stack\'s python (.ci/run does)')
def test_checkpoint_restores_under_the_other_tensorflow(celeba_dir, tiny_overrides, tmp_path):
    assert vae.main(['--train', '--steps', '3'] + tiny_overrides + ['--data_dir_path', str(celeba_dir)]) == 0
    ck = str(tmp_path / 'ck')
    here = decode_with(sys.executable, ck, str(tmp_path / 'here.npy'))
    there = decode_with(OTHER_PYTHON, ck, str(tmp_path / 'there.npy'))
    assert here.shape == there.shape == (6, 128, 128, 3)
    assert np.abs(here - there).mean() < 2 / 255.0

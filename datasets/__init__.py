"""The datasets with known factors, by the name --dataset gives: one module each, behind the interface of
datasets/groundtruth.py. To add one, see docs/design.md."""
from datasets.cars3d import Cars3D
from datasets.dsprites import DSprites
from datasets.dsprites_variants import ColorDSprites, NoisyDSprites, ScreamDSprites
from datasets.mpi3d import MPI3DReal, MPI3DRealistic, MPI3DToy
from datasets.shapes3d import Shapes3D
from datasets.smallnorb import SmallNORB

GROUND_TRUTH = {
    'dsprites': DSprites,
    'color_dsprites': ColorDSprites,
    'noisy_dsprites': NoisyDSprites,
    'scream_dsprites': ScreamDSprites,
    'shapes3d': Shapes3D,
    'mpi3d_toy': MPI3DToy,
    'mpi3d_realistic': MPI3DRealistic,
    'mpi3d_real': MPI3DReal,
    'smallnorb': SmallNORB,
    'cars3d': Cars3D,
}


def open_ground_truth(cfg, seed=0):
    """The dataset cfg.dataset names, its files read and checked; `seed` seeds the random appearance that its
    images() draw (the procedural dSprites')."""
    return GROUND_TRUTH[cfg.dataset](cfg, seed)

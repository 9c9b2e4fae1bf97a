"""What every objective is: the Objective base class the training step asks its loss of, the Forward record it
reads, and the Published record of a paper's scores."""
import collections

import data
from common import SettingsError

# A published result: where it is from, the images its runs trained on (steps x batch), {metric: score}.
Published = collections.namedtuple('Published', 'source images scores')
# Lin et al. 2020 (InfoGAN-CR), Table 1: dSprites figures of ~300,000-step runs, from Locatello et al. 2019.
LIN_2020 = 'Lin et al. 2020, Table 1 (from Locatello et al. 2019)'

# What an objective's loss and step see of one training step: its data.Batch and the model's forward pass
# (`encoded`: the encoder's means, before the objective's posterior() made them z_mean).
Forward = collections.namedtuple('Forward', 'batch logits encoded z z_mean z_logvar reconstruction kl_per_dim '
                                            'global_step')


class Objective(object):
    """One objective. A subclass sets the class attributes and defines loss(); the training step asks
    nothing else of it."""
    name = None              # its --objective value
    title = None             # the method's name in its paper
    paper = None             # who published it
    nonnegative = ()         # config.py settings it reads that must be >= 0
    reads = data.ONE_BATCH   # what one training step reads: a kind of data.READS, the fields of data.Batch it fills
    variational = True       # z is sampled from the posterior, whose KL to N(0, I) is logged; else z is its mean
    quantized = False        # trains quantized latents (latent_values > 0), and only those
    scopes = ()              # variable scopes of its own that the model's Adam trains beside the encoder and decoder
    # The paper's own settings, in config.py's units: {dataset: {setting: value}}. config.py's defaults
    # for that dataset hold them (a test checks it).
    paper_settings = {}
    # Scores published for this objective: {dataset: Published}. The study's tables and the learning
    # curves set each run against them.
    published_scores = {}

    def check_settings(self, cfg):
        """Raises SettingsError on a value of this objective's own settings that is out of range. Run for
        every objective, whichever one trains: a wrong value is a mistake even where it is not used."""
        for name in self.nonnegative:
            if getattr(cfg, name) < 0:
                raise SettingsError('{} must be >= 0, got {}'.format(name, getattr(cfg, name)))

    def check_run(self, cfg):
        """Raises SettingsError where the run's other settings do not fit this objective, when it trains."""
        del cfg

    def describe(self, cfg):
        """The start-up line that says what is minimised."""
        raise NotImplementedError

    def weight_decay(self, cfg):
        """AdamW's decoupled decay of the kernels per unit step size (training.minimize_with_weight_decay)."""
        del cfg
        return 0.0

    def posterior(self, z_mean, z_logvar, batch, cfg):
        """(mean, log-variance, {tag: scalar}) of the posterior the step samples and regularises, from the
        encoder's on the step's data.Batch. Most objectives keep the encoder's."""
        del batch, cfg
        return z_mean, z_logvar, {}

    def loss(self, forward, cfg):
        """(the training loss, {TensorBoard tag: scalar} of its own terms) on one step's Forward."""
        raise NotImplementedError

    def step(self, model_step, forward, cfg):
        """(the op of the whole step, {tag: scalar}) around the model's own Adam step; most objectives
        have nothing to add."""
        del forward, cfg
        return model_step, {}

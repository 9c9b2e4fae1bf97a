"""Every setting of a run, as plain constants.

Edit them here, or override one for a single run on the command line, typed from the default
(lists and tuples as comma-separated values):

    python vae.py --train --kl_weight 2.0 --filters 32,64,128,256

`--dataset NAME` replaces the CelebA defaults below with those in DATASET_DEFAULTS.
The resolved settings are saved beside every checkpoint; --generate and --traverse rebuild the
model from that saved copy, not from this file.
"""

# ---- data: CelebA (aligned 218x178 images) ----
dataset = 'celeba'                          # 'celeba', 'folder' or a dataset with factors (--dataset picks the defaults below)
data_dir_path = 'CelebA/img_align_celeba/'  # folder of img_align_celeba .jpg files
data_crop = [57, 21, 128, 128]              # [top, left, height, width] in pixels inside the 218x178 image,
                                            # resized to img_shape when that is smaller (e.g. 64,64,3)
img_shape = (128, 128, 3)                   # (height, width, channels) the model sees, pixels in [0, 1]
holdout_percent = 5.0                       # % of images held out when list_eval_partition.txt is absent
train_images = 'split'                      # 'split': partition 0 of list_eval_partition.txt (else all but the
                                            # held-out %); 'all': every image, as the original trained
dsprites_npz_path = 'dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz'  # DeepMind's file, used if present

# ---- model ----
architecture = 'original'    # 'original': the project's CelebA net (5x5 convs, batch norm); 'burgess': Burgess et al. 2018
likelihood = 'gaussian'      # 'gaussian': squared error of sigmoid outputs; 'bernoulli': cross-entropy on logits
latent_dim = 32              # number of latent dimensions
latent_values = 0            # 0: continuous latents; n >= 2: each dim takes one of n learnable values (qlae, qlvae)
filters = [64, 128, 256, 512]  # encoder conv channels; the decoder mirrors them
hidden_units = [256, 256]    # dense layers between convs and latents ('burgess' only)
momentum = 0.99              # batch-norm moving-average decay per step ('original' only)
epsilon = 1e-5               # batch-norm variance epsilon ('original' only)

# ---- objective ----
# loss per image = mean over pixels of the reconstruction error
#                + (kl_weight / 32) * mean over latent dims of KL(q(z|x) || N(0, I))
# kl_weight is the original project's beta_norm (Higgins et al. 2017, beta_norm = beta*M/N) as its
# code applied it: against the reconstruction error summed over a 32-image batch. So 0.7 reproduces
# the original's published traversals at any batch_size. In the usual units (summed error per image
# against summed KL) beta = kl_weight / 32 * N / M, N = pixels*channels, M = latent_dim: 33.6 here.
kl_weight = 0.7
objective = 'beta'            # 'beta': the loss above; 'capacity', 'tcvae', 'factor', 'dip_i', 'dip_ii', the quantized
                              # 'qlae' and 'qlvae', and the weakly supervised 'ada_gvae', 'ada_mlvae', 'gvae_labels',
                              # 'mlvae_labels': below
# capacity: loss per image = mean pixel error + capacity_gamma / N * |sum of KL over dims - C|,
# with the KL target C raised linearly from 0 to capacity_max nats over capacity_steps steps.
capacity_gamma = 1000.0       # gamma in the usual units (against the summed error), Burgess et al.'s
capacity_max = 25.0           # nats per image: the final KL target C
capacity_steps = 100000       # steps over which C rises from 0 to capacity_max
# tcvae (beta-TCVAE, Chen et al. 2018): loss per image = mean pixel error
#   + (alpha * index-code MI + beta * total correlation + gamma * dimension-wise KL) / N,
# weights in the usual units; q(z) is estimated on each minibatch (minibatch-stratified sampling), or on
# a bank of the last tcvae_bank_size training images' posteriors as well.
tcvae_alpha = 33.6            # weight of the index-code mutual information: the original's beta (see kl_weight)
tcvae_beta = 201.6            # weight of the total correlation: 6x the original's beta, as 6 on dSprites
tcvae_gamma = 33.6            # weight of the dimension-wise KL: the original's beta
tcvae_estimator = 'minibatch' # 'minibatch': Chen et al.'s estimate of q(z); 'bank': also the stored codes below
tcvae_bank_size = 16384       # codes (mean, log-variance) the bank keeps: enough that ~10 nats of KL do not
                              # saturate the estimate at log(batch size)
# factor (FactorVAE, Kim & Mnih 2018): loss per image = mean pixel error
#   + (factor_kl_weight * KL + factor_gamma * total correlation) / N, weights in the usual units;
# the TC is read off a discriminator that tells q(z) from dimension-permuted codes of a second batch.
factor_kl_weight = 33.6       # KL weight: the original's beta (the paper's 1 on dSprites)
factor_gamma = 215.0          # TC weight: the paper's 6.4 for CelebA, scaled by the same 33.6
discriminator_units = [1000, 1000, 1000, 1000, 1000, 1000]  # the paper's MLP: hidden units per layer
discriminator_learning_rate = 1e-4  # the discriminator's own Adam step size
discriminator_beta1 = 0.5     # its Adam first-moment decay
discriminator_beta2 = 0.9     # its Adam second-moment decay
# dip_i, dip_ii (DIP-VAE-I and -II, Kumar et al. 2018): loss per image = mean pixel error
#   + (dip_kl_weight * KL + lambda_od * sum_{i!=j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2) / N, where C is
# the batch covariance of the means (I), or of the means plus the mean posterior variance (II), and
# lambda_d = dip_lambda_od * the objective's factor, as in disentanglement_lib's study.
dip_kl_weight = 33.6          # KL weight: the original's beta (the paper's 1, the ELBO, on dSprites)
dip_lambda_od = 336.0         # off-diagonal weight: 10 as on dSprites, scaled by the same 33.6
dip_i_lambda_d_factor = 10.0  # DIP-VAE-I: lambda_d = 10 lambda_od
dip_ii_lambda_d_factor = 1.0  # DIP-VAE-II: lambda_d = lambda_od
# qlae, qlvae (latent quantization, Hsu et al. 2023): each latent dim is rounded to the nearest of its
# latent_values learnable values, the encoder trained through the rounding (straight-through). Loss per image =
# mean pixel error + quantization_weight * mean_dims (sg(z) - q)^2 + commitment_weight * mean_dims (z - sg(q))^2,
# and for qlvae, whose z is sampled around the rounded mean, + qlvae_kl_weight * KL / N. The encoder's and
# decoder's kernels decay as in AdamW: each step subtracts learning_rate * weight_decay * w.
quantization_weight = 0.01    # pulls the values to the codes (the paper's 0.01)
commitment_weight = 0.01      # pulls the codes to the values (the paper's 0.01)
weight_decay = 0.1            # AdamW's decoupled decay per unit step size, qlae and qlvae only (the paper's 0.1)
qlvae_kl_weight = 1.0         # qlvae's KL weight in the usual units (the authors' VAE: 1)
# s2_beta, s2_tcvae, s2_factor, s2_dip_i, s2_dip_ii, supervised (a few labels, Locatello et al. 2020; datasets with
# factors only): the unsupervised objective of the same name plus gamma_sup / N * a supervised loss, summed over a
# batch of the labelled set and its K labels, that ties latent k to label k; 'supervised' trains the encoder on
# that loss alone (weight 1) and the decoder on the codes it gives. A step reads batch_size labelled images too.
labelled_images = 1000        # images in the labelled set: a fixed sample of the grid, never a held-out image
labeller = 'perfect'          # 'perfect'; 'binned' (at most label_bins values); 'noisy' (label_noise); 'partial'
label_bins = 5                # binned: values a factor's label keeps at most (disentanglement_lib's 5)
label_noise = 0.1             # noisy: probability that a label is redrawn uniformly (disentanglement_lib's 0.1)
label_factors = ['shape', 'scale']  # partial: the factors whose labels are kept, by name
label_seed = 0                # seeds the labelled sample and the labeller
supervised_loss = 'xent'      # 'xent', 'l2', 'cov' or 'embed', disentanglement_lib's supervised losses
gamma_sup = 4.0               # weight of the supervised loss in the usual units (against the summed error)
gamma_sup_schedule = 'fixed'  # 'fixed'; 'anneal': from 0 up to gamma_sup over gamma_sup_steps; 'fine_tune': 0 until then
gamma_sup_steps = 1000        # steps of the schedule
embed_sigma = 1.0             # embed: the softmax's temperature
# ada_gvae, ada_mlvae, gvae_labels, mlvae_labels (weak supervision, Locatello et al. 2020; datasets with factors
# only): a step reads batch_size pairs of images that share all their factors but a few. Loss per image of a
# pair = mean pixel error + weak_beta * KL / N, where the dims judged shared take one averaged posterior.
weak_beta = 2.0               # KL weight in the usual units, chosen on dSprites from the paper's grid 1, 2, 4, 6, 8, 16
weak_k = 0                    # factors drawn anew in a pair: 1 or k, each half the time; k = 0 draws k for
                              # each pair from 1 .. (factors - 1), the paper's "k = rnd"

# ---- optimisation ----
learning_rate = 1e-4          # Adam step size, constant
beta1 = 0.5                   # Adam first-moment decay
beta2 = 0.999                 # Adam second-moment decay
batch_size = 32               # images per step
num_epochs = 30               # passes over the training images (unless --steps is given)
seed = 0                      # seeds weight init, shuffling and sampling

# ---- speed switches (measured in docs/results/performance.md) ----
xla_jit = False               # XLA-compile the training graph
precision = 'float32'         # math of convs and matmuls: 'float32'; 'bfloat16' (CPUs with AVX-512 BF16 or AMX,
                              # recent GPUs); 'float16' (GPUs, dynamic loss scaling).
                              # Weights, losses and updates stay float32.

# ---- evaluation (--evaluate): sample sizes of Locatello et al. 2019, with a fixed seed ----
eval_seed = 0                 # seeds every sample the metrics draw
eval_batch_size = 64          # images per BetaVAE / FactorVAE point (pairs for BetaVAE)
eval_num_train = 10000        # points the BetaVAE / FactorVAE classifiers are fitted on
eval_num_eval = 5000          # held-out points they are scored on
eval_num_points = 10000       # images for MIG, KL per dim and FactorVAE's latent variances
mig_bins = 20                 # equal-width bins per latent for the metrics' mutual information (MIG, modularity, MI score)
# What --evaluate computes (docs/evaluation.md): 'all', or metrics of scores.METRICS, or the scores they print
# (explicitness selects modularity's computation); on CelebA and folders only the scores without labels apply.
# Downstream's boosted trees on 10,000 codes are the slow part.
eval_metrics = ['all']
downstream_sizes = [10, 100, 1000, 10000]   # training codes of each downstream classifier; sample efficiency is
                                            # the accuracy at 100 over that at 10,000
fairness_points = 100         # factor settings fairness intervenes on, per value of the sensitive factor
task_codes = 1000             # training codes of the reduced and strong downstream tasks (and the strong one's test)
strong_experiments = 10       # interventions per factor in the strong downstream task
selection_labels = [100, 1000]   # label budgets of the few-label model choice: MIG, DCI, SAP and modularity scored
                                 # on a labelled set of that many images alone (its labeller's labels); [] for none
representation = 'mean'       # the code the metrics score: 'mean' of the posterior, or a 'sampled' one (seeded)
eval_attribute_images = 5000  # held-out CelebA images that name the dims by their attributes
udr_images = 1000             # images whose mean codes UDR compares across seeds (dSprites: drawn with eval_seed;
                              # CelebA, folder: the first held-out ones), saved in results/codes.npz

# ---- traversals (--traverse) ----
traverse_from = 'prior'       # 'prior': the original's 5 seed vectors; 'data': means of 5 held-out images
traverse_kl_images = 1000     # held-out images whose mean KL per dim orders the overview
inactive_kl = 0.05            # nats: dims with less mean KL (a quantized dim: less entropy) are listed as inactive
explore_images = 64           # held-out images --explore offers as start points

# ---- outputs ----
image_snapshot_freq = 500     # steps between fixed-z `fakes` grids
summary_freq = 50             # steps between TensorBoard summaries
checkpoint_every = 300        # seconds of training between checkpoints (also saved at the end and on Ctrl-C)
num_gen_imgs = 32             # images in a --generate grid and in each `fakes` grid
grid_size = (4, 8)            # (rows, columns) of image grids
results_dir = 'results/'      # image grids
checkpoint_dir = 'checkpoints/'  # checkpoints, each with the settings it was trained with
summary_dir = 'summaries/'    # TensorBoard event files

# folder: your own pictures (JPEG or PNG, any size, nested folders), centre-cropped to img_shape's aspect
# ratio and resized to it; the CelebA architecture at that img_shape. --data_dir_path names the folder.
# The datasets with known factors (docs/datasets.md) share Burgess et al. 2018's architecture and
# disentanglement_lib's training settings; beta = 4 in the usual units on dSprites.
FACTOR_MODEL = {
    'architecture': 'burgess',
    'likelihood': 'bernoulli',
    'latent_dim': 10,
    'filters': [32, 32, 64, 64],
    'kl_weight': 0.3125,            # beta 4 = 0.3125 / 32 * 4096 / 10
    'learning_rate': 5e-4,
    'beta1': 0.9,
    'batch_size': 64,
    'tcvae_alpha': 1.0,             # Chen et al. 2018's dSprites weights
    'tcvae_beta': 6.0,
    'tcvae_gamma': 1.0,
    'factor_kl_weight': 1.0,        # Kim & Mnih 2018: the ELBO plus gamma * TC
    'factor_gamma': 35.0,
    'dip_kl_weight': 1.0,           # Kumar et al. 2018: the ELBO plus the covariance penalty
    'dip_lambda_od': 10.0,          # inside disentanglement_lib's sweep 1-50, with (10, 100) for DIP-VAE-I
}
# Each one's image shape, the folder of its files (data_dir_path) and its passes over the data for about
# 300k steps of 64 images, as in Locatello et al. 2019.
FACTOR_DATASETS = {   # name: (img_shape, data_dir_path, num_epochs)
    'dsprites': ((64, 64, 1), 'dsprites/', 26),
    'color_dsprites': ((64, 64, 3), 'dsprites/', 26),
    'noisy_dsprites': ((64, 64, 3), 'dsprites/', 26),
    'scream_dsprites': ((64, 64, 3), 'dsprites/', 26),      # scream.jpg goes in data_dir_path
    'shapes3d': ((64, 64, 3), 'shapes3d/', 40),
    'mpi3d_toy': ((64, 64, 3), 'mpi3d/', 19),   # 19 passes of the 1,036,800-image file; of the 460,800-image one, 42
    'mpi3d_realistic': ((64, 64, 3), 'mpi3d/', 19),
    'mpi3d_real': ((64, 64, 3), 'mpi3d/', 19),
    'smallnorb': ((64, 64, 1), 'smallnorb/', 395),
    'cars3d': ((64, 64, 3), 'cars/', 1093),
}
DATASET_DEFAULTS = {
    'celeba': {},
    'folder': {
        'data_dir_path': 'images/',
        'results_dir': 'results/folder/',
        'checkpoint_dir': 'checkpoints/folder/',
        'summary_dir': 'summaries/folder/',
    },
}
for _name, (_shape, _folder, _epochs) in FACTOR_DATASETS.items():
    DATASET_DEFAULTS[_name] = dict(FACTOR_MODEL, img_shape=_shape, data_dir_path=_folder, num_epochs=_epochs,
                                   results_dir='results/{}/'.format(_name), checkpoint_dir='checkpoints/{}/'.format(_name),
                                   summary_dir='summaries/{}/'.format(_name))

# --objective NAME lays these over the dataset's defaults (command-line settings still win).
OBJECTIVE_DEFAULTS = {
    'qlae': {'latent_values': 10},     # Hsu et al. 2023: ten values per dim
    'qlvae': {'latent_values': 10},
}

# ---- studies (study.py) ----
# The studies the project reports, by name: `study.py FOLDER --preset NAME` starts one (its grids, dataset
# and budget; each grid is NAME=VALUES words, as --grid takes them).
STUDY_PRESETS = {
    # Which objective disentangles dSprites best at a fixed budget: 24,000 steps x 64 images, about two
    # passes. The capacity objective reaches its final KL target at 5/6 of it.
    'disentanglement': {'dataset': 'dsprites', 'steps': 24000, 'grids': [
        ['objective=tcvae', 'seed=0-2'], ['objective=factor', 'seed=0-2'], ['objective=beta', 'seed=0'],
        ['objective=capacity', 'capacity_steps=20000', 'seed=0'], ['objective=dip_i', 'seed=0-2'],
        ['objective=dip_ii', 'seed=0-2']]},
    # Weak supervision on the same budget and steps: 24,000 steps x 32 pairs, the same 64 images a step.
    # Ada-GVAE tries the paper's β grid on seed 0 (16 aside), then its two best β on seeds 1 and 2.
    'weak': {'dataset': 'dsprites', 'steps': 24000, 'grids': [
        ['objective=ada_gvae', 'weak_beta=1,2,4,6,8', 'batch_size=32', 'seed=0'],
        ['objective=ada_gvae', 'weak_beta=1,2', 'batch_size=32', 'seed=1-2'],
        ['objective=ada_mlvae', 'weak_beta=1', 'batch_size=32', 'seed=0-2']]},
    # Latent quantization on the same budget: QLAE and QLVAE with the paper's settings, 3 seeds each; and QLAE with
    # the decay whose product with the step size and the steps is the paper's (1.67 x 5e-4 x 24,000 = 1e-3 x 0.1 x
    # 200,000 = 20), for the decay is the paper's inductive bias.
    'quantized': {'dataset': 'dsprites', 'steps': 24000, 'grids': [
        ['objective=qlae', 'seed=0-2'], ['objective=qlvae', 'seed=0-2'],
        ['objective=qlae', 'weight_decay=1.67', 'seed=0-2']]},
    # A few labels on the same budget: 24,000 steps x 32 images and 32 labelled ones, the same 64 images a step;
    # S²-β-TCVAE and S²-FactorVAE with 100 and 1,000 perfect labels, the supervised model with 1,000, 3 seeds each.
    'few_labels': {'dataset': 'dsprites', 'steps': 24000, 'grids': [
        ['objective=s2_tcvae', 'labelled_images=100,1000', 'batch_size=32', 'seed=0-2'],
        ['objective=s2_factor', 'labelled_images=100,1000', 'batch_size=32', 'seed=0-2'],
        ['objective=supervised', 'labelled_images=1000', 'batch_size=32', 'seed=0-2']]},
    # How the scores grow with the images seen, up to near the published runs' ~19 M images.
    'learning_curves': {'dataset': 'dsprites', 'images': [0.25, 0.5, 1, 2, 4, 8, 16], 'grids': [
        ['objective=factor', 'seed=0-1'], ['objective=tcvae', 'seed=0-1']]},
}

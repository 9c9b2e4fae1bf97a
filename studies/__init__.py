"""The study's library, which `study.py` drives: `grid` (the definition, run folders and commands), `here`
(running on this machine), `slurm` (job arrays), `gather` and `plots` (a study with a step budget), `curves`
(learning curves). It runs vae.py as processes and imports no model."""

"""A study's figures (matplotlib): each metric against the swept settings, UDR against MIG, the metrics'
rank correlations."""
import collections

import numpy as np

import figures
import scores


def plot_metrics(rows, path):
    """Locatello et al.'s view: each metric (a row of panels) against the swept settings, one column per
    objective, each seed a point and each setting's median a bar."""
    plt = figures.pyplot()
    keys = [key for key in scores.SHOWN_KEYS + ('udr',)
            if rows and all(r.get(key) is not None for r in rows)] or ['udr']
    objectives = list(collections.OrderedDict((r['objective'], None) for r in rows))
    figure, axes = plt.subplots(len(keys), len(objectives), squeeze=False,
                                figsize=(3.2 * len(objectives) + 1, 2.2 * len(keys) + 0.6))
    for column, objective in enumerate(objectives):
        mine = [r for r in rows if r['objective'] == objective]
        settings_of = list(collections.OrderedDict((setting_label(r), None) for r in mine))
        for line, key in enumerate(keys):
            ax = axes[line][column]
            for x, setting in enumerate(settings_of):
                values = [r[key] for r in mine if setting_label(r) == setting and r.get(key) is not None]
                if values:
                    ax.scatter(x + np.linspace(-0.12, 0.12, len(values)), values, s=14, color='C{}'.format(column))
                    ax.plot([x - 0.25, x + 0.25], [np.median(values)] * 2, color='k', linewidth=1)
            ax.set_xticks(range(len(settings_of)))
            ax.set_xticklabels(settings_of if line == len(keys) - 1 else [], rotation=30, fontsize=7, ha='right')
            ax.grid(axis='y', alpha=0.3)
            if column == 0:
                ax.set_ylabel(key, fontsize=8)
            if line == 0:
                ax.set_title(objective, fontsize=9)
    figure.tight_layout()
    figures.save_figure(figure, path)


def setting_label(r):
    return ' '.join('{}={}'.format(name, text) for name, text in sorted(r['grid'].items())
                    if name not in ('objective', 'seed')) or r['objective']


def plot_udr_against_mig(rows, path):
    plt = figures.pyplot()
    figure, ax = plt.subplots(figsize=(4.5, 3.6))
    for k, objective in enumerate(collections.OrderedDict((r['objective'], None) for r in rows)):
        mine = [r for r in rows if r['objective'] == objective and r['udr'] is not None]
        ax.scatter([r['udr'] for r in mine], [r['mig'] for r in mine], s=16, color='C{}'.format(k), label=objective)
    ax.set_xlabel('UDR (no labels)')
    ax.set_ylabel('MIG (labels)')
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    figures.save_figure(figure, path)


def plot_correlations(correlations, path):
    plt = figures.pyplot()
    keys = correlations['keys']
    matrix = np.array([[np.nan if rho is None else rho for rho in line] for line in correlations['spearman']])
    figure, ax = plt.subplots(figsize=(0.55 * len(keys) + 3.4, 0.55 * len(keys) + 1.8))
    image = ax.imshow(matrix, cmap='RdBu_r', vmin=-1, vmax=1)
    for i in range(len(keys)):
        for j in range(len(keys)):
            if not np.isnan(matrix[i, j]):
                ax.text(j, i, '{:.0f}'.format(100 * matrix[i, j]), ha='center', va='center', fontsize=7,
                        color='white' if abs(matrix[i, j]) > 0.6 else 'black')
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(keys, rotation=60, fontsize=7, ha='right')
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels(keys, fontsize=7)
    figure.colorbar(image, ax=ax, fraction=0.046, label="Spearman's rank correlation")
    figure.tight_layout()
    figures.save_figure(figure, path)

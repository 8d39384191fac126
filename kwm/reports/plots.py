"""Figures that go beside every report (matplotlib, headless)."""

import numpy as np


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (figures are written to files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_watermark_inputs(key, path, count=8):
    """Saves a grid of verification watermarks above their trigger-free references.

    Args:
        key: WatermarkKey with image inputs `(n, h, w, c)`.
        path: str. PNG path.
        count: int. Number of examples shown.

    Returns:
        `path`, or None when the inputs are not images.
    """
    inputs = np.asarray(key.verify_inputs)
    if inputs.ndim != 4 or not np.issubdtype(inputs.dtype, np.floating):
        return None
    plt = pyplot()
    count = min(count, len(inputs))
    rows = [("watermark", inputs[:count])]
    if key.reference_inputs is not None:
        rows.append(("without trigger", np.asarray(key.reference_inputs)[:count]))
    fig, axes = plt.subplots(
        len(rows), count, figsize=(1.3 * count, 1.5 * len(rows)), squeeze=False
    )
    for r, (label, images) in enumerate(rows):
        for c in range(count):
            ax = axes[r][c]
            image = images[c]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(
        f"{key.method} watermark: class {key.source_class} of {key.source_dataset}"
        f" -> {key.target_class} (key {key.short_fingerprint})",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_accuracy_bars(summary, path, title=""):
    """Saves task and watermark accuracy per model, mean +- std over seeds.

    Args:
        summary: dict. Model name to `{"accuracy": {"mean", "std"},
            "watermark_accuracy": {"mean", "std"}}` in [0, 1].
        path: str. PNG path.
        title: str. Figure title.

    Returns:
        `path`.
    """
    plt = pyplot()
    models = list(summary)
    metrics = [("accuracy", "task accuracy"), ("watermark_accuracy", "watermark accuracy")]
    x = np.arange(len(models))
    width = 0.38
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(models), 3.4))
    for i, (metric, label) in enumerate(metrics):
        means = [100 * summary[m][metric]["mean"] for m in models]
        stds = [100 * summary[m][metric]["std"] for m in models]
        bars = ax.bar(x + (i - 0.5) * width, means, width, yerr=stds, capsize=3, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set_xticks(x, models)
    ax.set_ylim(0, 125)
    ax.set_ylabel("%")
    ax.legend(fontsize=8, loc="upper center", ncols=2, frameon=False)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_representations(model, data, key, layers, path, count=300):
    """Activation patterns and a 2-D projection of task data vs watermarks (EWE Figs. 2-4).

    Top row, per layer: how often each unit fires on target-class test
    inputs and on the key's verification watermarks (EWE Figs. 2-3:
    similar patterns mean entangled representations). Bottom: the last
    layer's representations of source-class inputs, target-class inputs
    and watermarks on their first two principal components (EWE Fig. 4).

    Args:
        model: keras.Model. The watermarked classifier.
        data: TaskDataset. Task data (test split used).
        key: WatermarkKey.
        layers: sequence of str. Layer names (e.g. the entangled layers).
        path: str. PNG path.
        count: int. Inputs per group.

    Returns:
        `path`, or None if `model` lacks one of `layers`.
    """
    from kwm.analysis import activation_frequency, layer_outputs, project_2d

    names = {layer.name for layer in model.layers}
    if not layers or any(name not in names for name in layers):
        return None
    plt = pyplot()
    target = data.test.x[data.test.indices_of(key.target_class)][:count]
    marks = np.asarray(key.verify_inputs)[:count]
    groups = [("target class", target), ("watermarks", marks)]
    if key.reference_inputs is not None:
        groups.insert(0, ("source class", np.asarray(key.reference_inputs)[:count]))
    fig = plt.figure(figsize=(3.2 * len(layers), 6.4))
    grid = fig.add_gridspec(2, len(layers))
    for i, layer in enumerate(layers):
        ax = fig.add_subplot(grid[0, i])
        frequencies = [activation_frequency(layer_outputs(model, layer, x)) for _, x in groups[-2:]]
        order = np.argsort(-frequencies[0])
        ax.imshow(np.stack([f[order] for f in frequencies]), aspect="auto", cmap="gray", vmin=0, vmax=1)
        ax.set_yticks([0, 1], [g[0] for g in groups[-2:]], fontsize=7)
        ax.set_xlabel(f"{layer} units (by target-class frequency)", fontsize=7)
        ax.set_title(f"activation frequency: {layer}", fontsize=8)
    ax = fig.add_subplot(grid[1, :])
    features = [layer_outputs(model, layers[-1], x) for _, x in groups]
    points = project_2d(np.concatenate(features))
    start = 0
    for (label, _), feature in zip(groups, features):
        ax.scatter(*points[start : start + len(feature)].T, s=6, alpha=0.6, label=label)
        start += len(feature)
    ax.legend(fontsize=8, markerscale=2)
    ax.set_title(f"{layers[-1]}: first two principal components", fontsize=8)
    fig.suptitle(f"{key.method} victim, key {key.short_fingerprint}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_attack_curves(attack_summary, path, title=""):
    """Saves the stolen model's task and watermark accuracy under each swept attack.

    One panel per attack with numeric settings (neuron pruning and
    fine-pruning ratio, magnitude sparsity, quantisation levels on a log
    axis; EWE Figs. 13/15, feature sharing Figs. 5-7), mean +- std over
    seeds.

    Args:
        attack_summary: dict. `summarize_attacks` output.
        path: str. PNG path.
        title: str. Figure title.

    Returns:
        `path`, or None when no attack has a numeric sweep.
    """
    swept = {
        name: rows
        for name, rows in attack_summary.items()
        if len(rows) > 1 and all(isinstance(r["setting"], (int, float)) for r in rows)
    }
    if not swept:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(swept), figsize=(3.4 * len(swept), 3.1), squeeze=False)
    for ax, (name, rows) in zip(axes[0], swept.items()):
        settings = [r["setting"] for r in rows]
        for metric, label in (("accuracy", "task accuracy"), ("watermark_accuracy", "watermark")):
            means = np.array([100 * r[metric]["mean"] for r in rows])
            stds = np.array([100 * r[metric]["std"] for r in rows])
            ax.errorbar(settings, means, yerr=stds, marker="o", ms=3, capsize=2, label=label)
        if name == "quantization":
            ax.set_xscale("log")
            ax.set_xlabel("posterior levels", fontsize=8)
        else:
            ax.set_xlabel("fraction pruned", fontsize=8)
        ax.set_ylim(-5, 105)
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("%")
    axes[0][0].legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""The timeline picture of a comparison (matplotlib, imported when drawn).

Draws on a :class:`matplotlib.figure.Figure` with the Agg canvas: no pyplot,
no global backend switch, so it is safe in a web server's threads and leaves
a notebook's backend alone.
"""

COLOURS = {"same": "#2ca02c", "similar": "#ff7f0e", "not_found": "#9e9e9e"}
HEIGHT_IN = 3.6            # inches; the width follows the longer file: 4 s per inch, 8 to 24 inches
DPI = 100                  # pixels per inch


def plot_timeline(result, out):
    """Draw the recording's and the original's sentences on two timelines,
    joined by lines for matched sentences (green: same, orange: similar;
    not-found sentences in grey, uncovered original sentences hatched).

    Parameters
    ----------
    result : dict
        From :func:`~recognizers.speech.compare_files`.
    out : str, path-like or binary file object
        Where the PNG goes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    length = max(result.get("recording_seconds", 0), result.get("original_seconds", 0), 1.0)   # s
    fig = Figure(figsize=(max(8.0, min(24.0, length / 4.0)), HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    uncovered = {u["index"] for u in result.get("uncovered", [])}
    _draw_sentences(ax, result, uncovered)
    ax.set_xlim(0, length)
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel("time (s)")
    counts = result.get("counts", {})
    ax.set_title(f"same {counts.get('same', 0)}, similar {counts.get('similar', 0)}, "
                 f"not found {counts.get('not_found', 0)}; uncovered in original {len(uncovered)}", fontsize=9)
    _legend(ax)
    fig.tight_layout()
    fig.savefig(out, format="png")


def _draw_sentences(ax, result, uncovered):
    """Original sentences on the lower line, the recording's on the upper,
    a line from each placed sentence to its place."""
    from matplotlib.patches import Rectangle

    y_rec, y_orig, h = 1.0, 0.0, 0.35          # axis units: the two timelines and their bars' height
    for o in result.get("original_sentences", []):
        ax.add_patch(Rectangle((o["start"], y_orig - h / 2), o["end"] - o["start"], h, facecolor="#c6dbef",
                               edgecolor="#3182bd", hatch="//" if o["index"] in uncovered else None))
        ax.text((o["start"] + o["end"]) / 2, y_orig, str(o["index"]), ha="center", va="center", fontsize=7)
    for s in result.get("sentences", []):
        colour = COLOURS.get(s["verdict"], COLOURS["not_found"])
        ax.add_patch(Rectangle((s["start"], y_rec - h / 2), s["end"] - s["start"], h, facecolor=colour,
                               edgecolor="black", linewidth=0.5, alpha=0.8))
        ax.text((s["start"] + s["end"]) / 2, y_rec, str(s["index"]), ha="center", va="center", fontsize=7)
        if s.get("original_start") is not None and s["verdict"] != "not_found":
            mid_rec = (s["start"] + s["end"]) / 2
            mid_orig = (s["original_start"] + s["original_end"]) / 2
            ax.plot([mid_rec, mid_orig], [y_rec - h / 2, y_orig + h / 2], color=colour, linewidth=1.2,
                    linestyle="-" if s["verdict"] == "same" else "--")
    ax.set_yticks([y_orig, y_rec], ["original", "recording"])


def _legend(ax):
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=c, linewidth=4, label=v.replace("_", " ")) for v, c in COLOURS.items()]
    ax.legend(handles=handles, loc="upper right", fontsize=7, ncol=3, frameon=False)

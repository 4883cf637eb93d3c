"""Draw the scale curve of ``bench/scale.py measure`` reports: query latency
(median and p95) and rows read per query against the library's hours, one
line per report and backend.

    python bench/plot_scale.py bench/results/scale-A.json [LABEL=]bench/results/scale-B.json -o docs/scale.png

A report may be named ``LABEL=PATH`` (e.g. ``pairs=...``, ``large=...``);
otherwise its preset names it.
"""
import argparse
import json
import sys


def series(report):
    """{backend: [(hours, median ms, p95 ms, rows median)]}, by size."""
    out = {}
    for key, summary in report["summary"].items():
        backend, _ = key.split(" ", 1)
        library = report["measured"][key]["library"]
        out.setdefault(backend, []).append((library["hours"], summary["latency"]["median_ms"],
                                            summary["latency"]["p95_ms"], summary["rows_read"]["median"]))
    return {b: sorted(points) for b, points in out.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+", metavar="[LABEL=]REPORT.json")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    import matplotlib
    from matplotlib.figure import Figure
    matplotlib.rcParams["font.size"] = 9
    fig = Figure(figsize=(9, 3.6), dpi=110)
    ax_ms, ax_rows = fig.subplots(1, 2)
    for item in args.reports:
        label, _, path = item.rpartition("=")
        with open(path) as f:
            report = json.load(f)
        label = label or report["settings"].get("preset") or "defaults"
        for backend, points in series(report).items():
            hours = [p[0] for p in points]
            name = f"{label}, {'SQLite' if backend == 'sqlite' else 'MariaDB'}"
            line, = ax_ms.plot(hours, [p[1] for p in points], marker="o", label=f"{name} median")
            ax_ms.plot(hours, [p[2] for p in points], marker="^", linestyle="--", color=line.get_color(),
                       label=f"{name} p95")
            ax_rows.plot(hours, [p[3] for p in points], marker="o", color=line.get_color(), label=name)
    from matplotlib.ticker import FormatStrFormatter, NullFormatter
    for ax in (ax_ms, ax_rows):
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("library (hours of audio)")
        ax.grid(True, which="both", alpha=0.3)
    ax_ms.set_yticks([10, 20, 30, 50, 100, 200, 300, 500, 1000])
    ax_ms.axhline(30, color="grey", linewidth=0.8)
    ax_ms.axhline(100, color="grey", linewidth=0.8, linestyle="--")
    ax_ms.set_ylabel("query latency (ms): median, p95 (dashed)")
    ax_rows.set_ylabel("index rows read per query (median)")
    ax_ms.legend(fontsize=7)
    ax_rows.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a condition's clips lose their answer as the library grows: for each
clip of ``bench/scale.py``'s plan, matched on each built library (SQLite),
the answer, how it was decided, and whether the true song was among the
candidates the hashes handed to the sketch check.

    python bench/sketch_candidates.py --condition speed2 --sizes 1x,10x --preset large --work /work/scale

Needs the libraries built by ``bench/scale.py build`` with the same ``--work``
and ``--preset``. Prints, for the clips named right on the first size and
not on a later one, how they were decided and why they were lost.
"""
import argparse
import collections
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import scale  # noqa: E402
from dejavu_cn import Dejavu  # noqa: E402


def match_clips(args, corpus, specs, size):
    """[{truth, match, by, checked (song ids the sketch checked)}] per clip, on one library."""
    rows = []
    with Dejavu(scale.library_config(args, "sqlite", size)) as engine:
        ids = scale.path_ids(engine)
        checked = []
        check = engine.check_sketches

        def recording(candidates, query):
            checked[:] = [c.song_id for c in candidates]
            check(candidates, query)
        engine.check_sketches = recording
        for spec in specs:
            checked.clear()
            result = engine.match_samples(engine.decode(spec.path))
            match = result["match"]
            rows.append({"truth": ids.get(os.path.abspath(corpus.tracks[spec.track])) if spec.known else None,
                         "match": match["song_id"] if match else None,
                         "by": match["decided_by"] if match else None, "checked": list(checked)})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--condition", default="speed2", choices=scale.CONDITIONS)
    ap.add_argument("--sizes", default="1x,10x")
    ap.add_argument("--preset", default=None)
    ap.add_argument("--work", default=os.path.join(HERE, "work-scale"))
    ap.add_argument("--clips", type=int, default=30)
    ap.add_argument("--unknown-clips", type=int, default=10)
    ap.add_argument("--seed", type=int, default=30)
    args = ap.parse_args(argv)
    args.work, args.quick, args.recent_rows = os.path.abspath(args.work), False, None
    corpus = scale.Corpus(args.work, False)
    specs = [s for s in scale.clip_set(args, corpus) if s.condition == args.condition and s.known]
    sizes = args.sizes.split(",")
    found = {size: match_clips(args, corpus, specs, size) for size in sizes}
    for size in sizes:
        right = sum(r["match"] == r["truth"] for r in found[size])
        print(f"{size}: {right} of {len(specs)} {args.condition} clips named right")
    first = found[sizes[0]]
    for size in sizes[1:]:
        lost = collections.Counter()
        for before, after in zip(first, found[size]):
            if before["match"] == before["truth"] and after["match"] != after["truth"]:
                why = ("named another song" if after["match"] else
                       "true song checked by the sketch, below the threshold" if after["truth"] in after["checked"] else
                       "true song not among the sketch's candidates" if after["checked"] else "no sketch check")
                lost[(before["by"], why)] += 1
        for (by, why), n in lost.most_common():
            print(f"lost at {size}: {n} decided by the {by} at {sizes[0]}; at {size}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

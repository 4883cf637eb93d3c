"""``list``, ``delete``, ``stats``, ``optimize``, ``failures`` and ``config``."""
import json

from ..formatting import format_duration
from . import add_json_flag


class ListCommand:
    name = "list"
    help = "list registered songs"

    def configure(self, p):
        p.add_argument("--search", metavar="TEXT", help="only songs whose name or path contains TEXT")
        p.add_argument("--limit", type=int, default=None, metavar="N")
        p.add_argument("--offset", type=int, default=0, metavar="N")
        add_json_flag(p)

    def run(self, args, ctx):
        songs, total = ctx.engine().list_songs(search=args.search, limit=args.limit, offset=args.offset)
        if ctx.json:
            ctx.emit_json({"total": total, "songs": songs})
            return 0
        if not songs:
            ctx.out("no songs registered" if not args.search else "no song matches")
            return 0
        width = max(len(str(s["song_id"])) for s in songs)
        for s, depth in copies_under_originals(songs):
            if depth:
                ctx.out(f"{'':>{width}}  \u2514 {s['song_id']}  {format_duration(s['duration_seconds']):>10}  "
                        f"copy from {format_duration(s['copy_offset_seconds'])}: {s['song_name']}")
            elif s["copy_of"] is not None:
                ctx.out(f"{s['song_id']:>{width}}  {format_duration(s['duration_seconds']):>10}  "
                        f"copy of song {s['copy_of']} from {format_duration(s['copy_offset_seconds'])}: "
                        f"{s['song_name']}")
            else:
                ctx.out(f"{s['song_id']:>{width}}  {format_duration(s['duration_seconds']):>10}  "
                        f"{s['total_hashes']:>8} hashes  {s['song_name']}")
        if total > len(songs):
            ctx.out(f"({len(songs)} of {total} shown)")
        return 0


def copies_under_originals(songs):
    """``songs`` in order, each copy moved under its original when that is
    among them: (song, 0 for an original or a copy shown alone, 1 under its original)."""
    shown = {s["song_id"] for s in songs if s["copy_of"] is None}
    under = {}
    for s in songs:
        if s["copy_of"] in shown:
            under.setdefault(s["copy_of"], []).append(s)
    out = []
    for s in songs:
        if s["copy_of"] in shown:
            continue
        out.append((s, 0))
        out.extend((c, 1) for c in under.get(s["song_id"], ()))
    return out


class DeleteCommand:
    name = "delete"
    help = "delete songs (and their fingerprints) by id"

    def configure(self, p):
        p.add_argument("ids", nargs="+", type=int, metavar="ID")
        p.add_argument("--with-copies", action="store_true",
                       help="delete an original's copies with it (default: its first copy becomes the original, "
                            "fingerprinted from its file)")
        add_json_flag(p)

    def run(self, args, ctx):
        done = ctx.engine().delete(args.ids, with_copies=args.with_copies)
        deleted, promoted = done["deleted"], done["promoted"]
        missing = sorted(set(args.ids) - set(deleted))
        if ctx.json:
            ctx.emit_json({"deleted": deleted, "not_found": missing,
                           "promoted": {str(k): v for k, v in promoted.items()}})
        else:
            ctx.out(f"deleted {len(deleted)} song(s)" + (f": {', '.join(map(str, deleted))}" if deleted else ""))
            for original, copy in sorted(promoted.items()):
                ctx.out(f"song {copy}, a copy of song {original}, is the original now")
        if missing:
            ctx.error(f"no song with id {', '.join(map(str, missing))}")
            return 1
        return 0


class StatsCommand:
    name = "stats"
    help = "songs, fingerprints, hours of audio and bytes used"

    def configure(self, p):
        add_json_flag(p)

    def run(self, args, ctx):
        engine = ctx.engine()
        stats = engine.stats()
        stats["database"] = engine.storage.description
        if ctx.json:
            ctx.emit_json(stats)
        else:
            per_hour = stats["bytes"] / stats["hours"] / 1e6 if stats["hours"] else 0.0
            copies = f" ({stats['copies']} of them copies linked to an original)" if stats["copies"] else ""
            ctx.out(f"database:     {stats['database']}\n"
                    f"songs:        {stats['songs']}{copies}\n"
                    f"fingerprints: {stats['fingerprints']}\n"
                    f"audio:        {stats['hours']:.2f} h\n"
                    f"size:         {stats['bytes'] / 1e6:.1f} MB ({per_hour:.1f} MB per hour of audio)")
            waiting = stats.get("recent_fingerprints", 0) + stats.get("pending_fingerprints", 0)
            if waiting:                                     # the index's levels: rows not yet moved into it
                ctx.out(f"levels:       {stats['recent_fingerprints']} recent and {stats['pending_fingerprints']} "
                        f"pending fingerprints (moved into the index by later runs, or 'dejavu-cn optimize')")
            for shard in stats.get("shards", []):           # a Spider cluster: where the index lives
                share = shard["fingerprints"] / stats["fingerprints"] if stats["fingerprints"] else 0.0
                ctx.out(f"shard:        {shard['node']}  {shard['fingerprints']} fingerprints ({share:.0%})")
            for node in stats.get("nodes", []):             # a Galera cluster: each node's state
                ctx.out(f"node:         {node['node']}  {node['state']}")
        return 0


class OptimizeCommand:
    name = "optimize"
    help = "pack the database after bulk registrations: smaller on disk, every row in the index"

    def configure(self, p):
        add_json_flag(p)

    def run(self, args, ctx):
        done = ctx.engine().optimize()
        if ctx.json:
            ctx.emit_json(done)
        else:
            before, after = done["bytes_before"] / 1e6, done["bytes_after"] / 1e6
            change = f" ({after / before - 1:+.0%})" if before else ""
            ctx.out(f"optimized in {format_duration(done['seconds'])}: {before:.1f} MB -> {after:.1f} MB{change}"
                    + ("" if done["rewritten"] else " (the index lives on the data nodes: optimize it there)"))
        return 0


class FailuresCommand:
    name = "failures"
    help = "list the files that failed to register (skipped by later runs while unchanged)"

    def configure(self, p):
        add_json_flag(p)

    def run(self, args, ctx):
        failures = ctx.engine().storage.register_failures()
        if ctx.json:
            ctx.emit_json({"failures": failures})
            return 0
        if not failures:
            ctx.out("no failed files")
            return 0
        for f in failures:
            ctx.out(f"{f['path']}: {f['reason']} (failed {f['date_failed']})")
        ctx.out(f"({len(failures)} file(s); 'dejavu-cn register --retry-failed PATH' tries them again)")
        return 0


class ConfigCommand:
    name = "config"
    help = "print the effective configuration as JSON (password hidden)"

    def configure(self, p):
        p.add_argument("--json", action="store_true", help="accepted for symmetry: the output is always JSON")

    def run(self, args, ctx):
        ctx.out(json.dumps(ctx.config.redacted(), indent=2))
        return 0


COMMANDS = [ListCommand(), DeleteCommand(), StatsCommand(), OptimizeCommand(), FailuresCommand(), ConfigCommand()]

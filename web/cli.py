"""``dejavu-cn serve [--host 127.0.0.1] [--port 8000] [--threads 8]``: the web
page under waitress (a production WSGI server; never Flask's debug server)."""
import logging

log = logging.getLogger(__name__)


def _web_keys():
    from .settings import DEFAULTS
    return DEFAULTS


CONFIG_SECTIONS = {"web": _web_keys}       # see dejavu_cn.plugins


class ServeCommand:
    name = "serve"
    help = "serve the web page and JSON API (waitress)"

    def configure(self, p):
        p.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
        p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
        p.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")

    def run(self, args, ctx):
        if not 0 < args.port < 65536:
            ctx.error("--port must be in 1..65535")
            return 2
        if args.threads < 1:
            ctx.error("--threads must be >= 1")
            return 2
        import waitress

        from . import create_app
        app = create_app(ctx.config)
        web = app.config["WEB"]
        ctx.out(f"serving on http://{args.host}:{args.port}/ "
                f"(library {'writable with the token' if web.writable else 'read-only: no web token configured'};"
                " Ctrl-C stops)")
        waitress.serve(app, host=args.host, port=args.port, threads=args.threads,
                       max_request_body_size=web.max_upload_bytes + 1024 * 1024, ident="dejavu-cn")
        return 0


COMMANDS = [ServeCommand()]

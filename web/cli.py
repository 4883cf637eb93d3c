"""``dejavu-cn serve [--host 127.0.0.1] [--port 8000] [--threads 8]``: the web
page under waitress (a production WSGI server; never Flask's debug server)."""
import errno
import logging

log = logging.getLogger(__name__)


def _web_section():
    from .settings import WebSettings
    return WebSettings


CONFIG_SECTIONS = {"web": _web_section}       # see dejavu_cn.plugins


class ServeCommand:
    name = "serve"
    help = "serve the web page and JSON API (waitress)"

    def configure(self, p):
        p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
        p.add_argument("--port", type=int, default=8000, help="TCP port")
        p.add_argument("--threads", type=int, default=8, help="worker threads")

    def run(self, args, ctx):
        if not 0 < args.port < 65536:
            ctx.error("--port must be in 1..65535")
            return 2
        if args.threads < 1:
            ctx.error("--threads must be >= 1")
            return 2
        try:
            import flask  # noqa: F401
            import waitress
        except ImportError as exc:
            ctx.error(f"the web page needs Flask and waitress ({exc.name} is missing): pip install 'dejavu-cn[web]'")
            return 1

        from . import create_app
        app = create_app(ctx.config)
        web = app.config["WEB"]
        try:       # binds the port now: a busy one is an error before anything says "serving"
            server = waitress.create_server(app, host=args.host, port=args.port, threads=args.threads,
                                            max_request_body_size=web.max_upload_bytes + 1024 * 1024,
                                            ident="dejavu-cn")
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                ctx.error(f"port {args.port} is in use ({exc.strerror}: another program listens on "
                          f"{args.host}:{args.port}); choose another with --port")
            else:
                ctx.error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
            return 1
        ctx.out(f"serving on http://{args.host}:{args.port}/ "
                f"(library {'writable with the token' if web.writable else 'read-only: no web token configured'};"
                " Ctrl-C stops)")
        server.run()             # returns only when stopped (waitress handles Ctrl-C itself)
        raise KeyboardInterrupt


COMMANDS = [ServeCommand()]

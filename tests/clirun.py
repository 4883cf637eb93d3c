"""The CLI run in-process, as the tests call it."""
import io

from dejavu_cn.cli import main


def run(*argv):
    """(exit code, stdout, stderr) of ``dejavu-cn ARGV...``."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()

"""TLS to MariaDB for real: a private server with its own CA and certificate.

The shared server on 127.0.0.1:3306 has TLS off, so these tests start a
second ``mariadbd`` (a throw-away data directory, a free port, a
certificate for 127.0.0.1 signed by a CA made here with openssl) and check
what each ``database.tls`` mode does against it. With CI=true missing server
binaries fail the tests; elsewhere they are skipped.
"""
import shutil
import socket
import subprocess
import time

import pytest

from conftest import IN_CI
from dejavu_cn.config import Config
from dejavu_cn.errors import StorageError
from dejavu_cn.storage import open_storage

pytestmark = pytest.mark.mysql

TOOLS = ("mariadbd", "mariadb-install-db", "openssl")


def _tool(name):
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_certificates(folder):
    """A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA."""
    for name in ("ca", "other"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", f"{name}.key",
                 "-out", f"{name}.pem", "-subj", f"/CN=dejavu-cn test {name}", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-out", "server.pem", "-extfile", "san.cnf", cwd=folder)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    missing = [t for t in TOOLS if not _tool(t)]
    if missing:
        message = f"cannot start a TLS MariaDB: {', '.join(missing)} not installed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    import pymysql
    root = tmp_path_factory.mktemp("tls_mariadb")
    certs = root / "certs"
    certs.mkdir()
    _make_certificates(certs)
    subprocess.run([_tool("mariadb-install-db"), "--no-defaults", f"--datadir={root / 'data'}", "--user=root",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True)
    port = _free_port()
    log = open(root / "server.log", "wb")
    server = subprocess.Popen([_tool("mariadbd"), "--no-defaults", f"--datadir={root / 'data'}", "--user=root",
                               f"--port={port}", "--bind-address=127.0.0.1", f"--socket={root / 'sock'}",
                               f"--pid-file={root / 'pid'}", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
                               f"--ssl-ca={certs / 'ca.pem'}", f"--ssl-cert={certs / 'server.pem'}",
                               f"--ssl-key={certs / 'server.key'}"],
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = pymysql.connect(host="127.0.0.1", port=port, user="root", password="", connect_timeout=2,
                                       ssl_disabled=True)
                break
            except pymysql.err.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the TLS MariaDB did not start: " + (root / "server.log").read_text()[-2000:])
                time.sleep(0.2)
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE dejavu_tls")
        conn.close()
        yield {"host": "127.0.0.1", "port": port, "user": "root", "password": "", "database": "dejavu_tls",
               "ca": str(certs / "ca.pem"), "other_ca": str(certs / "other.pem")}
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def _cipher(settings, **tls):
    database = {k: settings[k] for k in ("host", "port", "user", "password", "database")}
    store = open_storage(Config.from_dict({"database_type": "mysql", "database": {**database, **tls}}))
    try:
        return store._run("tls check", lambda cur: (cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'"),
                                                    cur.fetchone())[1][1])
    finally:
        store.close()


@pytest.mark.parametrize("tls, encrypted", [("auto", False), ("disabled", False),
                                            ("preferred", True), ("required", True)])
def test_each_mode_against_a_server_that_offers_tls(tls_server, tls, encrypted):
    assert bool(_cipher(tls_server, tls=tls)) == encrypted


def test_the_servers_own_ca_gives_a_verified_encrypted_connection(tls_server):
    assert _cipher(tls_server, tls_ca=tls_server["ca"])


def test_a_certificate_from_another_ca_is_refused_with_a_clear_message(tls_server):
    with pytest.raises(StorageError, match="database.tls_ca") as caught:
        _cipher(tls_server, tls_ca=tls_server["other_ca"])
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)

#!/usr/bin/env python3
"""A small HTTP(S) server for pg_idp's integration tests, on loopback only.

  http_fixture.py DIR PORT [CERT KEY]
  http_fixture.py --connect-proxy PORT TARGET_PORT [USER:PASSWORD]

Serves the files of DIR; when DIR has a folder named like the request's Host (say
`stytch.com`), the files of that folder, so one server stands in for several providers. Special
paths: /slow/NAME answers NAME after 3 seconds; /maxage/N/NAME answers NAME with
`Cache-Control: max-age=N` (after /slow/ too: /slow/maxage/1/NAME); /redirect/NAME answers 302
to another loopback host; /status/CODE answers CODE. Every GET is written to standard output as
one line, "UNIX-TIME PATH" (the path with its query string), so a test can count the requests.

With --connect-proxy it is an HTTP CONNECT proxy on loopback that tunnels every CONNECT, whatever
host it names, to 127.0.0.1:TARGET_PORT (the HTTPS server above): the provider guides' real URLs
(https://stytch.com/...) reach local fixtures, with TLS checked against the test's own CA. Given
USER:PASSWORD, it tunnels only a CONNECT that carries them (Proxy-Authorization: Basic) and
answers 407 otherwise.
"""
import base64
import http.server
import select
import socket
import socketserver
import ssl
import sys
import threading
import time
from pathlib import Path


class Tunnel(socketserver.StreamRequestHandler):
    """CONNECT host:port -> 127.0.0.1:TARGET, then bytes both ways."""

    def handle(self):
        line = self.rfile.readline(65536).decode("latin-1")
        authorization = None
        while True:
            header = self.rfile.readline(65536)
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            if name.strip().lower() == "proxy-authorization":
                authorization = value.strip()
        if not line.startswith("CONNECT "):
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        if CREDENTIALS is not None:
            scheme, _, encoded = (authorization or "").partition(" ")
            try:
                given = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except ValueError:
                given = None
            if scheme.lower() != "basic" or given != CREDENTIALS:
                self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                 b"Proxy-Authenticate: Basic realm=\"pg_idp tests\"\r\nContent-Length: 0\r\n\r\n")
                print("refused a CONNECT without the proxy's credentials", flush=True)
                return
            print("tunnelled a CONNECT with the proxy's credentials", flush=True)
        upstream = socket.create_connection(("127.0.0.1", TARGET))
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        sockets = [self.connection, upstream]
        try:
            while True:
                ready, _, _ = select.select(sockets, [], [], 30)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()


if sys.argv[1] == "--connect-proxy":
    TARGET = int(sys.argv[3])
    CREDENTIALS = sys.argv[4] if len(sys.argv) > 4 else None
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[2])), Tunnel).serve_forever()

ROOT = Path(sys.argv[1])
PORT = int(sys.argv[2])
LOG_LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send_body(self, code, body, ctype="application/json", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOG_LOCK:  # one whole line per request, whatever the threads do
            sys.stdout.write(f"{time.time():.3f} {self.path}\n")
            sys.stdout.flush()
        path = self.path.split("?")[0]
        headers = {}
        if path.startswith("/slow/"):
            time.sleep(3)
            path = "/" + path[len("/slow/"):]
        if path.startswith("/maxage/"):
            seconds, _, rest = path[len("/maxage/"):].partition("/")
            headers["Cache-Control"] = f"max-age={int(seconds)}"
            path = "/" + rest
        if path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.2:{PORT}/{path[len('/redirect/'):]}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif path.startswith("/status/"):
            self.send_body(int(path[len("/status/"):]), b"{}")
            return
        host = (self.headers.get("Host") or "").split(":")[0]
        base = ROOT / host if host and (ROOT / host).is_dir() else ROOT
        file = (base / path.lstrip("/")).resolve()
        if ROOT.resolve() not in file.parents or not file.is_file():
            self.send_body(404, b'{"error":"not found"}')
            return
        self.send_body(200, file.read_bytes(), headers=headers)


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
if len(sys.argv) > 4:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()

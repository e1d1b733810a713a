#!/usr/bin/env python3
"""A small HTTP(S) server for pg_idp's integration tests, on loopback only.

  http_fixture.py DIR PORT [CERT KEY]

Serves the files of DIR. Special paths: /slow/NAME answers NAME after 3 seconds;
/redirect/NAME answers 302 to another loopback host; /status/CODE answers CODE.
"""
import http.server
import ssl
import sys
import time
from pathlib import Path

ROOT = Path(sys.argv[1])
PORT = int(sys.argv[2])


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send_body(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path.startswith("/slow/"):
            time.sleep(3)
            path = "/" + path[len("/slow/"):]
        elif path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.2:{PORT}/{path[len('/redirect/'):]}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif path.startswith("/status/"):
            self.send_body(int(path[len("/status/"):]), b"{}")
            return
        file = (ROOT / path.lstrip("/")).resolve()
        if ROOT.resolve() not in file.parents or not file.is_file():
            self.send_body(404, b'{"error":"not found"}')
            return
        self.send_body(200, file.read_bytes())


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
if len(sys.argv) > 4:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()

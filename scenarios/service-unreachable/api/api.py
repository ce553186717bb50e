"""orders-api status service: answers /status with a small JSON document.

Settings (bind address and port) come from /etc/statusapi/api.conf.
"""
import configparser
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

config = configparser.ConfigParser()
config.read_string("[api]\n" + open("/etc/statusapi/api.conf").read())
bind = config.get("api", "bind")
port = config.getint("api", "port")

STATUS = {"service": "orders-api", "status": "ok", "version": "2.4.1"}


class Api(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/status":
            code, body = 200, json.dumps(STATUS) + "\n"
        elif self.path == "/":
            code, body = 200, "orders-api: GET /status\n"
        else:
            code, body = 404, "not found\n"
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json" if code == 200 and self.path == "/status" else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


print(f"orders-api listening on {bind}:{port}", flush=True)
ThreadingHTTPServer((bind, port), Api).serve_forever()

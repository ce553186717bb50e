"""The shop's app server: answers /checkout on the port set in /etc/shop/app.conf."""
import configparser
import hashlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

config = configparser.ConfigParser()
config.read_string("[app]\n" + open("/etc/shop/app.conf").read())
port = config.getint("app", "port")


class Shop(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"checkout ok" if self.path == "/checkout" else b"shop"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        # Monitoring asks with a probe and expects its digest back: proof that the app
        # answered, not a cache or an error page in front of it.
        probe = self.headers.get("X-Shop-Probe")
        if probe:
            self.send_header("X-Shop-Probe", hashlib.sha256(probe.encode()).hexdigest())
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("127.0.0.1", port), Shop).serve_forever()

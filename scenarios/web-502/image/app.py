"""The shop's app server: answers /checkout on the port set in /etc/shop/app.conf."""
import configparser
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
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("127.0.0.1", port), Shop).serve_forever()

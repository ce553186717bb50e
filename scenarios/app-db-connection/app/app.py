"""Inventory web app: a small JSON front end to the inventory database.

Reads its settings from /etc/inventory/app.ini at start; connects to PostgreSQL for
each request (the app is tiny, a pool would be overkill).
"""
import configparser
import json
import logging
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

config = configparser.ConfigParser()
config.read("/etc/inventory/app.ini")
db = config["database"]
listen = config["http"]

logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                    format="%(asctime)s inventory-web %(levelname)s %(message)s")
log = logging.getLogger()


def connect():
    return psycopg2.connect(host=db.get("host"), port=db.getint("port", 5432),
                            dbname=db.get("name"), user=db.get("user"),
                            password=db.get("password"), connect_timeout=3,
                            application_name="inventory-web")


class Inventory(BaseHTTPRequestHandler):
    def reply(self, code, body, kind="text/plain"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        item = re.fullmatch(r"/items/(\d{1,9})", self.path)
        if self.path not in ("/", "/health") and not item:
            return self.reply(404, "not found\n")
        if self.path == "/":
            return self.reply(200, "inventory-web: see /health and /items/<id>\n")
        try:
            with connect() as conn, conn.cursor() as cur:
                if item:
                    cur.execute("SELECT id, sku, name, qty FROM items WHERE id = %s", (int(item[1]),))
                    row = cur.fetchone()
                else:
                    cur.execute("SELECT count(*) FROM items")
                    count = cur.fetchone()[0]
            conn.close()
        except psycopg2.Error as e:
            log.error("database error: %s", str(e).strip().replace("\n", " "))
            return self.reply(500, "database unavailable\n")
        if not item:
            return self.reply(200, f"ok: {count} items\n")
        if row is None:
            return self.reply(404, "no such item\n")
        keys = ("id", "sku", "name", "qty")
        return self.reply(200, json.dumps(dict(zip(keys, row))) + "\n", "application/json")

    def log_message(self, fmt, *args):
        log.info("%s %s", self.address_string(), fmt % args)


log.info("listening on %s:%s, database %s@%s:%s/%s", listen.get("address"), listen.get("port"),
         db.get("user"), db.get("host"), db.get("port"), db.get("name"))
ThreadingHTTPServer((listen.get("address"), listen.getint("port")), Inventory).serve_forever()

"""notesd: the team's little notes service.

GET  /notes          list of notes (JSON)
GET  /notes/<name>   a note's text
POST /notes/<name>   create or replace a note (request body = text)
"""
import json
import os
import re
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

settings = {}
with open("/etc/notes/notesd.conf") as conf:
    for line in conf:
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            settings[key] = value

DATA = settings.get("data_dir", "/var/lib/notes")
PORT = int(settings.get("port", "8000"))
NOTES = os.path.join(DATA, "notes")
JOURNAL = os.path.join(DATA, "journal.log")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def log(message):
    print(time.strftime("%Y-%m-%d %H:%M:%S"), message, file=sys.stderr, flush=True)


def list_notes():
    notes = []
    for entry in sorted(os.listdir(NOTES)):
        if entry.endswith(".txt"):
            try:
                info = os.stat(os.path.join(NOTES, entry))
            except FileNotFoundError:  # deleted meanwhile
                continue
            notes.append({"name": entry[:-4], "bytes": info.st_size,
                          "updated": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(info.st_mtime))})
    return notes


def save_note(name, text, client):
    # Write the note in place (keeps its inode, so hard links and open readers see the
    # change), then record the change in the journal the nightly export reads.
    with open(os.path.join(NOTES, name + ".txt"), "w") as note:
        note.write(text)
    with open(JOURNAL, "a") as journal:
        journal.write("%s saved %s (%d bytes) from %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), name, len(text), client))


class Handler(BaseHTTPRequestHandler):
    server_version = "notesd/1.4"

    def reply(self, code, body, content_type="text/plain; charset=utf-8"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def note_name(self):
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) == 2 and parts[0] == "notes" and NAME.match(parts[1]):
            return parts[1]
        return None

    def do_GET(self):
        if self.path.split("?", 1)[0].rstrip("/") == "/notes":
            return self.reply(200, json.dumps(list_notes(), indent=1) + "\n", "application/json")
        name = self.note_name()
        if name is None:
            return self.reply(404, "not found\n")
        try:
            with open(os.path.join(NOTES, name + ".txt")) as note:
                return self.reply(200, note.read())
        except FileNotFoundError:
            return self.reply(404, "no such note\n")

    def do_POST(self):
        name = self.note_name()
        if name is None:
            return self.reply(404, "not found\n")
        length = int(self.headers.get("Content-Length") or 0)
        text = self.rfile.read(length).decode("utf-8", "replace")
        try:
            save_note(name, text, self.client_address[0])
        except OSError:
            log("could not save note %r:\n%s" % (name, traceback.format_exc()))
            return self.reply(500, "could not save the note, please try again later\n")
        return self.reply(201, "saved\n")

    def log_message(self, format, *args):
        log("%s %s" % (self.address_string(), format % args))


log("notesd starting on port %d, data in %s" % (PORT, DATA))
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()

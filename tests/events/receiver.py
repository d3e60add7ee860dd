"""A local webhook receiver on 127.0.0.1 for tests: verifies signatures, fails on demand."""

import json
import threading
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from billing.events import signing


class Receiver:
    """Answers 500 to the first ``failures`` requests of each event, then 200.

    Records every request: ``valid`` (signature checked with ``secret``), ``attempts`` per event
    id, ``successes`` (2xx answers) per event id, and the bodies.
    """

    def __init__(self, secret: str = "", failures: int = 0) -> None:
        self.secret = secret
        self.failures = failures
        self.attempts: Counter = Counter()
        self.successes: Counter = Counter()
        self.bodies: dict[str, dict] = {}
        self.headers: dict[str, dict] = defaultdict(dict)
        self.invalid = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                signature = self.headers.get(signing.HEADER, "")
                with receiver.lock:
                    if not signing.verify(body, signature, receiver.secret):
                        receiver.invalid += 1
                        self.send_response(400)
                        self.end_headers()
                        return
                    event = json.loads(body)
                    receiver.attempts[event["id"]] += 1
                    receiver.headers[event["id"]] = dict(self.headers)
                    status = 500 if receiver.attempts[event["id"]] <= receiver.failures else 200
                    if status == 200:
                        receiver.successes[event["id"]] += 1
                        receiver.bodies[event["id"]] = event
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try again")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

"""A local HTTP server on 127.0.0.1 standing in for the live intensity APIs in tests."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeAPI:
    """routes: path prefix -> (status, body bytes, delay_s). Records (path, headers) of each request."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                api.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                # The loop variables are the route found, used after the break.
                for prefix, (status, body, delay_s) in api.routes.items():  # noqa: B007
                    if self.path.startswith(prefix):
                        break
                else:
                    status, body, delay_s = 404, b'{"error": "not found"}', 0
                time.sleep(delay_s)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def route(self, prefix, body, status=200, delay_s=0.0):
        self.routes[prefix] = (
            status,
            body if isinstance(body, bytes) else json.dumps(body).encode(),
            delay_s,
        )

    def close(self):
        self.server.shutdown()
        self.server.server_close()

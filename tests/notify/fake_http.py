"""What every fake HTTP server of these tests shares: a quiet HTTP/1.1 keep-alive handler that answers in one write."""
from http.server import BaseHTTPRequestHandler


class OneWriteHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1, nothing logged, and each answer sent in one write (buffered, flushed by
    `handle_one_request`) with no Nagle delay: written as headers and then body, the body would wait for the client's
    delayed ACK, about 40 ms more per request than the fake means to take."""

    protocol_version = "HTTP/1.1"
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:
        pass  # keep test output clean

    def read_body(self) -> bytes:
        """The request's body, by its Content-Length (none: empty)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

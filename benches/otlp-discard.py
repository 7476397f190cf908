# An OTLP/HTTP receiver that reads each request body and answers 200 without decoding it: the cheapest collector
# there is, outside hub's process, for measuring what export costs hub itself (BENCHMARKS.md, issue 19), e.g.
#   python3 benches/otlp-discard.py 4999 &
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4999 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf benches/gateway-cpu.sh
# usage: otlp-discard.py PORT
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()

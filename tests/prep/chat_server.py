"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol, with scripted answers
and scripted faults, for the augment-texts tests.

    with ChatServer(faults=["429", "500", "malformed", "slow", "drop"]) as server:
        server.url      # http://127.0.0.1:PORT/v1
        server.posts    # every request body received, in order

Faults are used one per request, in order: "429" (with Retry-After: 0), "500", "503", "malformed"
(200 with a body that is not JSON), "slow" (answers after `slow_s`), "drop" (closes the connection
without a response). `hold_after=N`: only the first N answers are sent; later requests wait until
`release` (a threading.Event) is set.
"""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHOLECYSTECTOMY_STEPS = [
    "Place the trocars and inspect the abdominal cavity",
    "Dissect Calot's triangle to expose the cystic duct and the cystic artery",
    "Clip and cut the cystic duct and the cystic artery",
    "Detach the gallbladder from the liver bed with the hook",
    "Put the gallbladder into a retrieval bag",
    "Coagulate bleeding vessels and irrigate the liver bed",
    "Extract the specimen bag and remove the trocars",
]
HYSTERECTOMY_STEPS = [
    "Place the trocars and position the uterine manipulator",
    "Divide the round ligaments and open the broad ligament",
    "Coagulate and cut the uterine arteries",
    "Open the vagina around the cervix and detach the uterus",
    "Extract the uterus through the vagina",
    "Close the vaginal cuff with sutures",
]


def scripted_answer(messages) -> str:
    """What a helpful LLM would answer to our three prompts."""
    user = messages[-1]["content"]
    if m := re.search(r"Keystep title: (.+)", user):
        return f"During {m[1].strip().lower()}, the surgeon works on the target anatomy with the laparoscopic instruments."
    if m := re.search(r"Lecture title: (.+)", user):
        steps = HYSTERECTOMY_STEPS if "hysterectomy" in m[1].lower() else CHOLECYSTECTOMY_STEPS
        return "\n".join(f"{k + 1}. {s}" for k, s in enumerate(steps))
    if m := re.search(r"Abstract: (.+?)(?:\n|$)", user):
        kind = "hysterectomy" if "hysterectomy" in m[1].lower() else "cholecystectomy"
        return f"Laparoscopic {kind}; key anatomy and the main steps of the procedure."
    return "?"


class ChatServer:
    def __init__(self, model: str = "tiny-llm", api_key: str | None = None, faults=(), answer=scripted_answer,
                 slow_s: float = 1.0, hold_after: int | None = None):
        self.model, self.api_key, self.faults, self.answer, self.slow_s = model, api_key, list(faults), answer, slow_s
        self.posts, self.answered, self.started, self.hold_after = [], 0, 0, hold_after
        self.release = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, payload, headers=()):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.posts.append(body)
                    fault = server.faults.pop(0) if server.faults else None
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._send(401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}})
                if body.get("model") != server.model:
                    return self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault in ("429", "500", "503"):
                    return self._send(int(fault), {"error": {"message": f"scripted {fault}"}},
                                      [("Retry-After", "0")] if fault == "429" else [])
                if fault == "malformed":
                    return self._send(200, b'{"choices": [{"message": ')
                if fault == "slow":
                    time.sleep(server.slow_s)
                with server.lock:
                    held = server.hold_after is not None and server.started >= server.hold_after
                    server.started += 1
                if held:
                    server.release.wait()
                content = server.answer(body["messages"])
                try:
                    self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "model": server.model,
                                     "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": content}}]})
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    return
                with server.lock:
                    server.answered += 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

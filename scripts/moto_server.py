"""moto's server for Mercado's local S3, DynamoDB and IAM, on 127.0.0.1.

Same app as `moto_server`, with one difference: each request is handled under one lock.
moto's in-memory DynamoDB checks a transaction's conditions and then applies its writes without a
lock, so two threads can both pass `version = :v` on the same cart. Real DynamoDB makes
TransactWriteItems atomic; serialising requests gives the emulator the same guarantee, which the
"50 concurrent checkouts make exactly one transaction" test depends on.
"""

import argparse
import os
import threading

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class SerializedApp:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Materialise the body inside the lock: the response is built lazily by some backends.
            return list(self.app(environ, start_response))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOTO_PORT", "55000")))
    args = parser.parse_args()
    os.environ["MOTO_PORT"] = str(args.port)
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, SerializedApp(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

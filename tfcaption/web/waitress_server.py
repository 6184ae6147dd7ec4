"""The production WSGI server the web demo runs on (waitress), with its limits."""


def create_server(wsgi_app, host="127.0.0.1", port=8000, threads=16, max_upload_mb=10.0):
    """A waitress server for ``wsgi_app`` (not started: call ``run()``, stop with
    ``close()``; ``port=0`` takes a free port, see ``effective_port``).

    Request bodies stay in memory up to the upload limit plus 64 KB of form overhead
    (waitress's ``inbuf_overflow``, so nothing is spooled to a temporary file); larger
    ones are refused by waitress with 413 as soon as their ``Content-Length`` is read.
    """
    import waitress

    slack = 2 ** 16
    limit = int(max_upload_mb * 2 ** 20)
    return waitress.create_server(wsgi_app, host=host, port=int(port), threads=int(threads),
                                  max_request_body_size=limit + slack,
                                  inbuf_overflow=limit + slack, ident="tfcaption",
                                  clear_untrusted_proxy_headers=True)
